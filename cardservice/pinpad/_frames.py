"""The PIN pad's line, sans-I/O: the frame, the two link bytes, and a parser that turns a byte stream into
them. The messages inside the frames are :mod:`._protocol`; acknowledgement and resends are :mod:`._link`.

    frame   STX 02 | SEQ | LEN | CODE | DATA (LEN - 1 bytes) | ETX 03 | CRC (2, big-endian)
    ACK     06 | SEQ        "frame SEQ arrived whole"
    NAK     15              "the frame that just came was broken: send it again"

SEQ is the sender's number for the frame (mod 256): new for every frame, the same for a resend. LEN counts
CODE and DATA (1..255). CRC is CRC-16/CCITT-FALSE (polynomial 1021, initial FFFF: ``binascii.crc_hqx``;
check value 29B1) over SEQ..ETX. Bytes between frames that are none of STX, ACK, NAK are line noise,
skipped and counted.

Every detail is OUR CHOICE. Real encrypting PIN pads (SZZT ZT5xx, KMY, ...) speak proprietary protocols;
the one public trace of such a command set (smartkiosk/smartware, ``drivers/common/szzt_connection.rb``:
``STX | 3 ASCII length digits | text | ETX | 2 hex digits of an XOR``, 4 resends after a 1 s silence) only
gave the shape. What we changed, and why:

- binary fields instead of ASCII hex: half the bytes, no second encoding to get wrong;
- a CRC-16 instead of an XOR: the line carries PIN blocks, and a corrupted block that passes an XOR goes to
  the issuer as a wrong PIN and costs the patient a try (an XOR misses any two flips in one bit column);
- the ACK names its frame's SEQ: a late ACK of a resent frame cannot acknowledge the next one;
- a broken frame (bad ETX or CRC, LEN 0, or cut short: :meth:`FrameParser.expire`) makes the parser drop
  everything it holds, not rescan the rest byte by byte: one broken frame costs one NAK, and no byte of
  its data is mistaken for an ACK or a frame start. Whatever else was lost with it is resent (the link is
  stop-and-wait, every frame is acknowledged).
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "ACK",
    "ETX",
    "MAX_DATA",
    "NAK",
    "STX",
    "Ack",
    "BadFrame",
    "Frame",
    "FrameParser",
    "Nak",
    "Token",
    "crc16",
]

STX, ETX, ACK, NAK = 0x02, 0x03, 0x06, 0x15
MAX_DATA = 254  # LEN is one byte and counts CODE as well
_OVERHEAD = 6  # STX SEQ LEN ... ETX CRC CRC


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of *data* (the frame's SEQ..ETX)."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True)
class Frame:
    """A frame: the sender's ``seq``, a message ``code`` and its ``data`` (:mod:`._protocol`)."""

    seq: int
    code: int
    data: bytes = b""

    def __post_init__(self) -> None:
        if not (0 <= self.seq <= 0xFF and 0 <= self.code <= 0xFF) or len(self.data) > MAX_DATA:
            raise ValueError(f"a frame has a SEQ and a CODE of one byte and at most {MAX_DATA} data bytes")

    def encode(self) -> bytes:
        body = bytes([self.seq, len(self.data) + 1, self.code]) + self.data + bytes([ETX])
        return bytes([STX]) + body + crc16(body).to_bytes(2, "big")

    def __repr__(self) -> str:  # never the data: it may be a PIN block or a key
        return f"Frame(seq {self.seq:02X}, code {self.code:02X}, {len(self.data)} data bytes)"


@dataclass(frozen=True)
class Ack:
    """The receiver has frame ``seq``, whole."""

    seq: int

    def encode(self) -> bytes:
        return bytes([ACK, self.seq])


@dataclass(frozen=True)
class Nak:
    """The frame just received was broken; the sender resends the frame it has in flight."""

    def encode(self) -> bytes:
        return bytes([NAK])


@dataclass(frozen=True)
class BadFrame:
    """A frame start whose frame is broken: ``problem`` is ``length`` (LEN 0), ``etx``, ``crc`` or
    ``incomplete`` (cut short). The receiver answers it with a NAK."""

    problem: str


Token: TypeAlias = Frame | Ack | Nak | BadFrame


class FrameParser:
    """Bytes in, tokens out, incrementally::

        parser = FrameParser()
        for token in parser.parse(chunk):   # Frame, Ack, Nak or BadFrame; a partial frame waits
            ...

    Never raises: a broken frame is a :class:`BadFrame` token (and everything held is dropped)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.skipped = 0  # noise bytes thrown away between frames

    @property
    def pending(self) -> int:
        """Bytes held: the start of a frame (or of an ACK) not complete yet."""
        return len(self._buffer)

    @property
    def in_frame(self) -> bool:
        """Whether the bytes held start a frame (what :meth:`expire` gives up)."""
        return bool(self._buffer) and self._buffer[0] == STX

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def parse(self, data: bytes = b"") -> Iterator[Token]:
        """Take *data*, then yield every token complete so far."""
        self._buffer += data
        while (token := self.next_token()) is not None:
            yield token

    def expire(self) -> BadFrame | None:
        """Give up the partial frame held (its sender went quiet mid-frame): a :class:`BadFrame` to NAK,
        or None when no frame was started (a lone ACK byte is just dropped)."""
        started = self.in_frame
        self._buffer.clear()
        return BadFrame("incomplete") if started else None

    def _drop(self, problem: str) -> BadFrame:
        self._buffer.clear()
        return BadFrame(problem)

    def next_token(self) -> Token | None:
        """The next complete token, or None (the rest needs more bytes)."""
        buffer = self._buffer
        while buffer and buffer[0] not in (STX, ACK, NAK):
            del buffer[:1]
            self.skipped += 1
        if not buffer:
            return None
        if buffer[0] == NAK:
            del buffer[:1]
            return Nak()
        if buffer[0] == ACK:
            if len(buffer) < 2:
                return None
            seq = buffer[1]
            del buffer[:2]
            return Ack(seq)
        if len(buffer) < 3:
            return None
        length = buffer[2]
        if length == 0:
            return self._drop("length")
        end = length + _OVERHEAD
        if len(buffer) < end:
            return None
        body = bytes(buffer[1 : end - 2])
        if body[-1] != ETX:
            return self._drop("etx")
        if crc16(body) != int.from_bytes(buffer[end - 2 : end], "big"):
            return self._drop("crc")
        del buffer[:end]
        return Frame(body[0], body[2], body[3:-1])
