"""APDU tracing: a callback base class and a logging tracer that masks per :class:`MaskingPolicy`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from cardservice.apdu._command import CommandApdu
from cardservice.apdu._masking import (
    DEFAULT_MASKING_POLICY,
    MaskingPolicy,
    Visibility,
    decode_text,
    mask_personal,
)
from cardservice.apdu._response import ResponseApdu
from cardservice.apdu._status import describe_sw

__all__ = ["ApduTracer", "LoggingTracer"]

_GET_RESPONSE = 0xC0


class ApduTracer:
    """Receives every physical exchange made by :func:`transceive` (GET RESPONSE and ``6Cxx``
    re-issues included). Subclass and override what you need; the defaults do nothing.

    ``elapsed`` is in seconds, measured around the transmit call.
    """

    def on_command(self, command: CommandApdu) -> None:
        """Called just before ``command`` is transmitted."""

    def on_response(self, response: ResponseApdu, elapsed: float) -> None:
        """Called with the card's answer to the last command."""

    def on_error(self, error: BaseException, elapsed: float) -> None:
        """Called when transmitting the last command raised ``error`` (which then propagates)."""


class LoggingTracer(ApduTracer):
    """Logs one line per exchange: header, Lc, (masked) data, SW, (masked) response data, time.

    ``00 A4 00 00 Lc=2 [DD F1] -> 9000 <0 bytes> 0.41 ms``

    Command data are shown per ``policy`` (SELECT identifiers yes; PINs, cryptograms, SM and
    proprietary-class data never). Response data are masked (``<N bytes>``) except for SELECT and
    GET CHALLENGE, because responses carry names and ID numbers. Inside :meth:`non_personal` the
    caller vouches that the exchanges carry no personal data: data are then shown, yet still
    checked with :func:`mask_personal` — if that finds an ID number or a Chinese name, only the
    masked text is logged, never the hex.
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        level: int = logging.DEBUG,
        policy: MaskingPolicy = DEFAULT_MASKING_POLICY,
    ) -> None:
        self._logger = logger
        self._level = level
        self._policy = policy
        self._pending: CommandApdu | None = None
        self._origin: CommandApdu | None = None  # command that started a GET RESPONSE chain
        self._non_personal = 0

    @contextmanager
    def non_personal(self) -> Iterator[None]:
        """Within this block, PERSONAL data (not SECRET ones) are shown, after :func:`mask_personal`."""
        self._non_personal += 1
        try:
            yield
        finally:
            self._non_personal -= 1

    def on_command(self, command: CommandApdu) -> None:
        self._pending = command
        if command.ins != _GET_RESPONSE or self._origin is None:
            self._origin = command

    def on_response(self, response: ResponseApdu, elapsed: float) -> None:
        command, self._pending = self._pending, None
        if command is None or not self._logger.isEnabledFor(self._level):
            return
        origin = self._origin or command
        visibility = self._policy.response_visibility(origin.cla, origin.ins)
        if response.sw >> 8 != 0x61:  # chain complete
            self._origin = None
        self._logger.log(
            self._level,
            "%s -> %04X %s %.2f ms (%s)",
            self._command_text(command),
            response.sw,
            self._data_text(response.data, visibility),
            elapsed * 1000.0,
            describe_sw(response.sw),
        )

    def on_error(self, error: BaseException, elapsed: float) -> None:
        command, self._pending = self._pending, None
        self._origin = None
        if command is None or not self._logger.isEnabledFor(self._level):
            return
        # The error's class only: transport messages are ours, but keep the line uniform.
        self._logger.log(
            self._level,
            "%s -> %s %.2f ms",
            self._command_text(command),
            type(error).__name__,
            elapsed * 1000.0,
        )

    # -- rendering ------------------------------------------------------------------------------

    def _command_text(self, command: CommandApdu) -> str:
        parts = [command.header.hex(" ").upper()]
        if command.data:
            visibility = self._policy.command_visibility(command.cla, command.ins)
            parts.append(f"Lc={len(command.data)}")
            parts.append(self._data_text(command.data, visibility))
        if command.ne is not None:
            parts.append(f"Le={command.ne}")
        return " ".join(parts)

    def _data_text(self, data: bytes, visibility: Visibility) -> str:
        if not data:
            return "<0 bytes>"
        if visibility is Visibility.PUBLIC:  # identifiers, FCIs, challenges: hex as is
            return f"[{data.hex(' ').upper()}]"
        if visibility is Visibility.SECRET or not self._non_personal:
            return f"<{len(data)} bytes>"
        plain = decode_text(data)
        text = mask_personal(plain)
        if text != plain:
            # Personal data detected despite the caller's word: log the masked text only.
            return f"<{len(data)} bytes, personal data masked> '{text}'"
        return f"[{data.hex(' ').upper()}]"
