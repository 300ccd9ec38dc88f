"""The SAM_V frame (GA/T 467; /work/shared/spec/idcard-reader-facts.md B1), sans-I/O::

    host → reader   AA AA AA 96 69 | Len (2, big-endian) | CMD PARA     | data | CHK
    reader → host   AA AA AA 96 69 | Len (2, big-endian) | SW1 SW2 SW3  | data | CHK

Len counts everything after itself, CHK included; CHK is the XOR of every byte after the preamble (Len
included). :class:`Command` and :class:`Reply` are the values with ``encode()``; :class:`CommandParser`
and :class:`ReplyParser` turn a byte stream into them, incrementally.
"""

from __future__ import annotations

import functools
import operator
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from cardservice.idcard._errors import IdCardProtocolError

__all__ = [
    "MAX_LENGTH",
    "PREAMBLE",
    "Command",
    "CommandParser",
    "FrameParser",
    "Reply",
    "ReplyParser",
    "checksum",
    "frame",
]

PREAMBLE = bytes.fromhex("AA AA AA 96 69")
# The longest frame the protocol has: the 30 10 reply, Len 09 0A (2321 bytes). A Len beyond this bound is
# garbage (or a lost preamble), not a frame to wait 64 KiB for.
MAX_LENGTH = 0x0A00


def checksum(body: bytes) -> int:
    """XOR of *body*: everything after the preamble but the CHK byte itself."""
    return functools.reduce(operator.xor, body, 0)


def frame(payload: bytes) -> bytes:
    """``PREAMBLE | Len | payload | CHK`` for *payload* (CMD PARA data, or SW1 SW2 SW3 data)."""
    length = len(payload) + 1
    if length > MAX_LENGTH:
        raise IdCardProtocolError(f"a frame carries at most {MAX_LENGTH - 1} bytes, not {len(payload)}")
    body = length.to_bytes(2, "big") + payload
    return PREAMBLE + body + bytes([checksum(body)])


@dataclass(frozen=True)
class Command:
    """A command from the host: ``cmd``, ``para`` and optional data (the table: ``_protocol.COMMANDS``)."""

    cmd: int
    para: int
    data: bytes = b""

    def encode(self) -> bytes:
        return frame(bytes([self.cmd, self.para]) + self.data)

    @property
    def code(self) -> tuple[int, int]:
        return self.cmd, self.para

    def __repr__(self) -> str:
        return f"Command({self.cmd:02X} {self.para:02X}, {len(self.data)} data bytes)"


@dataclass(frozen=True)
class Reply:
    """A reply from the reader: status bytes SW1 SW2 SW3 (SW3 is the meaningful one) and data."""

    sw3: int
    data: bytes = b""
    sw1: int = 0
    sw2: int = 0

    def encode(self) -> bytes:
        return frame(bytes([self.sw1, self.sw2, self.sw3]) + self.data)

    def __repr__(self) -> str:  # never the data: it is a person's
        return f"Reply(SW {self.sw1:02X} {self.sw2:02X} {self.sw3:02X}, {len(self.data)} data bytes)"


F = TypeVar("F", Command, Reply)


class FrameParser(ABC, Generic[F]):
    """Bytes in, frames out. Bytes before a preamble are skipped (counted in :attr:`skipped`); a frame
    whose Len is out of bounds or whose CHK is wrong raises :class:`IdCardProtocolError` once
    (``details["problem"]``: ``length`` or ``checksum``), and the parser resynchronises on the next
    preamble after that frame's first byte — so a stream with garbage and broken frames in it still yields
    every good frame, each error reported where it occurred::

        parser = ReplyParser()
        for reply in parser.parse(chunk):   # more bytes, more replies; a partial frame waits
            ...
    """

    header: ClassVar[int]  # payload bytes before the data: CMD PARA (2) or SW1 SW2 SW3 (3)

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.skipped = 0  # bytes thrown away looking for a preamble

    @abstractmethod
    def _make(self, payload: bytes) -> F:
        """The frame of *payload* (the bytes between Len and CHK)."""

    @property
    def pending(self) -> int:
        """Bytes held: the start of a frame not complete yet (or a partial preamble)."""
        return len(self._buffer)

    def clear(self) -> None:
        self._buffer.clear()

    def feed(self, data: bytes) -> None:
        """Take *data*; :meth:`next_frame` gives what it completes."""
        self._buffer += data

    def parse(self, data: bytes = b"") -> Iterator[F]:
        """Take *data*, then yield every frame complete so far. A bad frame raises mid-way; the frames
        after it wait in the buffer for the next call."""
        self._buffer += data
        while (found := self.next_frame()) is not None:
            yield found

    def next_frame(self) -> F | None:
        """The next complete frame in the buffer, or None (the rest needs more bytes)."""
        buffer = self._buffer
        start = buffer.find(PREAMBLE)
        if start < 0:
            # Keep what could be the beginning of a preamble split across reads.
            keep = next((n for n in range(len(PREAMBLE) - 1, 0, -1) if buffer.endswith(PREAMBLE[:n])), 0)
            self.skipped += len(buffer) - keep
            del buffer[: len(buffer) - keep]
            return None
        self.skipped += start
        del buffer[:start]
        head = len(PREAMBLE)
        if len(buffer) < head + 2:
            return None
        length = int.from_bytes(buffer[head : head + 2], "big")
        if not self.header + 1 <= length <= MAX_LENGTH:
            del buffer[:1]
            raise IdCardProtocolError(
                f"frame length {length} is out of bounds ({self.header + 1}..{MAX_LENGTH})",
                details={"problem": "length", "length": length},
            )
        end = head + 2 + length
        if len(buffer) < end:
            return None
        body = bytes(buffer[head : end - 1])
        expected, got = checksum(body), buffer[end - 1]
        if expected != got:
            del buffer[:1]
            raise IdCardProtocolError(
                f"frame checksum {got:02X} is wrong (XOR of the frame is {expected:02X})",
                details={"problem": "checksum", "length": length},
            )
        del buffer[:end]
        return self._make(body[2:])


class CommandParser(FrameParser[Command]):
    """What a reader (the simulator) reads: host commands."""

    header = 2

    def _make(self, payload: bytes) -> Command:
        return Command(payload[0], payload[1], payload[2:])


class ReplyParser(FrameParser[Reply]):
    """What a host (the driver) reads: the reader's replies."""

    header = 3

    def _make(self, payload: bytes) -> Reply:
        return Reply(payload[2], payload[3:], sw1=payload[0], sw2=payload[1])
