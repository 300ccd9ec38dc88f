"""Test helpers shipped with the library: a scripted ``transmit`` that replays card answers.

::

    card = ScriptedTransmit([
        ("00 A4 00 00 02 DD F1", "61 12"),
        ("00 C0 00 00 12", "6F 10 84 0C 57 53 2E 53 59 53 2E 44 44 46 30 31 A5 00 90 00"),
    ])
    response = transceive(card, select_by_fid(0xDDF1))
    card.assert_done()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

from cardservice.apdu._command import CommandApdu
from cardservice.apdu._response import ResponseApdu

__all__ = ["Expected", "Reply", "ScriptError", "ScriptedTransmit", "hex_bytes"]

Expected: TypeAlias = "str | bytes | CommandApdu | None"
"""What the next command must be: hex text, bytes, a value, or None for "anything"."""

Reply: TypeAlias = "str | bytes | ResponseApdu | BaseException"
"""What the card answers: hex text or bytes (data || SW), a value, or an exception to raise."""


class ScriptError(AssertionError):
    """The code under test sent a command the script did not expect (or too many / too few)."""


def hex_bytes(text: str) -> bytes:
    """``"00 A4 04 00"`` -> bytes; whitespace is ignored."""
    return bytes.fromhex("".join(text.split()))


def _expected_bytes(expected: str | bytes | CommandApdu) -> bytes:
    if isinstance(expected, CommandApdu):
        return expected.encode()
    if isinstance(expected, str):
        return hex_bytes(expected)
    return bytes(expected)


def _describe(raw: bytes) -> str:
    # Header and lengths only: a script may carry test PINs, and messages end up in CI logs.
    try:
        return str(CommandApdu.decode(raw))
    except ValueError:
        return f"<{len(raw)} undecodable bytes>"


class ScriptedTransmit:
    """A ``transmit(bytes) -> bytes`` callable that checks each command against a script and
    replays the scripted answer. Every command received is recorded in :attr:`requests`."""

    def __init__(self, script: Iterable[tuple[Expected, Reply]] = ()) -> None:
        self._script: list[tuple[bytes | None, Reply]] = []
        self._position = 0
        self.requests: list[bytes] = []
        for expected, reply in script:
            self.expect(expected, reply)

    def expect(self, expected: Expected, reply: Reply) -> ScriptedTransmit:
        """Append one step; returns self for chaining."""
        self._script.append((None if expected is None else _expected_bytes(expected), reply))
        return self

    @property
    def remaining(self) -> int:
        """Steps not yet consumed."""
        return len(self._script) - self._position

    @property
    def commands(self) -> list[CommandApdu]:
        """The recorded requests decoded as values."""
        return [CommandApdu.decode(raw) for raw in self.requests]

    def __call__(self, apdu: bytes) -> bytes:
        raw = bytes(apdu)
        self.requests.append(raw)
        step = self._position
        if step >= len(self._script):
            raise ScriptError(f"unexpected command #{step + 1} after the end of the script: {_describe(raw)}")
        expected, reply = self._script[step]
        if expected is not None and raw != expected:
            first = next(
                (i for i, (a, b) in enumerate(zip(raw, expected, strict=False)) if a != b),
                min(len(raw), len(expected)),
            )
            raise ScriptError(
                f"command #{step + 1}: expected {_describe(expected)}, got {_describe(raw)} "
                f"(first difference at byte {first})"
            )
        self._position += 1
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, ResponseApdu):
            return reply.encode()
        if isinstance(reply, str):
            return hex_bytes(reply)
        return bytes(reply)

    def assert_done(self) -> None:
        """Raise :class:`ScriptError` if scripted steps were not used."""
        if self.remaining:
            raise ScriptError(f"{self.remaining} scripted command(s) never sent")
