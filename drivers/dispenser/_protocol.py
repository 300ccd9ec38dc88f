"""The serial protocol of TTCE K720 / K730 / K750 card dispensers (深圳市天腾实业 TTCE), sans I/O: one
table of commands, one table of status bits, the frame codec. The driver (:mod:`drivers.dispenser._k720`)
and the simulator (:mod:`simulators.dispenser`) both speak it from here, so another dispenser's protocol
is a change of these tables (and of the codec where its frame differs).

Sources (read for their facts; no code taken from them):

[P] "K720/K730/k750 Communication Protocol", the vendor's document (19 pages): as text in
    github.com/Arungopal142/k750-card-dispenser, ``reference documents/Communication Protocol of
    K750.txt``; as PDF in github.com/jenschr/k750, ``datasheets/Communication Protocol of
    K720&k730&k750.pdf``.
[G] "K720/K750 Function Interface Operation Guide" (the vendor's DLL guide, 2021-04-21) and "K7X0
    Development Reference Process", github.com/Arungopal142/k750-card-dispenser, ``reference
    documents/K7X0 DLL Interface Function Operation Guide.txt`` and ``... Development Reference
    Process.txt``; the K750 user manual beside them (recycle box: 18 cards).
[A] github.com/jenschr/k750, ``RFID-card-delivery/RFID-card-delivery.ino``: an independent program
    driving a K750, with the bytes it saw: sent ``02 30 30 00 02 41 50 03 12`` (AP), received ``06 30
    30`` (ACK), answered ``05 30 30`` (ENQ), received ``02 30 30 00 06 53 46 30 30 31 31 03 12``.
[C] github.com/catzhou2002/K750Demo, ``Tz.CardRS/Usb.cs`` and ``Tz.CardRS.ICardRS/ICardRS.cs``: an
    independent C# program (a K750 on USB, same frames) naming the status bits in Chinese.

Confirmed by at least two of them:

- the frame ``STX(02) ADDH ADDL LEN_H LEN_L CM PM [DATA] ETX(03) BCC``; LEN counts CM PM DATA; BCC is the
  XOR of every byte from STX to ETX, both included [P, A, C]; a reply is the same frame [P, A];
- the address: the DIP switch value 0..15 as two ASCII decimal digits, ``00`` .. ``15`` [P's table, A, C];
- the exchange: host frame → device ``ACK(06) ADDH ADDL`` (``NAK(15)`` for a malformed frame) → host
  ``ENQ(05) ADDH ADDL`` → the device acts, and answers a frame only to queries: motion commands ("command
  list 2") have no reply, the host polls the status instead [P, A, C, G];
- ``AP`` answers ``"SF"`` and four status bytes, each ``0x30`` + 4 status bits ([G]'s example: ``0x3F`` =
  1111; [C] subtracts 48) [P, A, C, G]; the bits are :data:`STATUS_BITS` [P, C, G];
- the commands of :data:`COMMANDS`: ``FC7`` card to the read/write position, ``FC4`` card to the mouth
  and held there (the person pulls it out), ``CP`` card into the recycle box (our reject bin), ``RS``
  reset [P, G; C uses AP, RS, FC7, FC4].

Our choices (no source says them):

- which sensor is which position. [C] names sensor 1 the mouth (取卡口) and sensor 2 the read/write
  position (a card there shows sensors 1 and 2); the TypeScript driver of the [P] repository puts the
  reader at sensor 3. We decode "at the read position" = sensor 2 or 3, "at the mouth" = sensor 1 alone,
  right under both readings; the simulator shows sensors 1+2 for the read position;
- bit 0x1000 means "preparing a card" on a K720 and "stack nearly full" on a K750 [P, C]: reported, not
  acted on;
- the device's reset setting ([G]: FD2 leaves a card in the card path, FD3 returns it to the stack, FD4
  recycles it) is assumed to be FD2: the issuer settles a card left at the read position itself;
- times (the driver's options): a reply within 1 s, a motion within 15 s ([G]: ``SendCard_Time``
  15000 ms), status polls at least 0.2 s apart ([P]: "two check states must interval 200ms").

The K720's own contactless commands (``3B``, ``3C``, ``47``...) are not used: the card at the read
position is talked to through a PC/SC reader there.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from typing import Literal

from cardservice.issuance import DispenserError, DispenserStatus

__all__ = [
    "ACK",
    "COMMANDS",
    "ENQ",
    "ETX",
    "MAX_LENGTH",
    "NAK",
    "STATUS_BITS",
    "STX",
    "Command",
    "Message",
    "StatusBit",
    "address_bytes",
    "bcc",
    "command_named",
    "control",
    "decode_frame",
    "decode_status",
    "encode_frame",
    "encode_status",
    "frame_length",
    "read_messages",
    "status_of",
]

STX, ETX, ENQ, ACK, NAK = 0x02, 0x03, 0x05, 0x06, 0x15
MAX_LENGTH = 300  # [P]: "Package length at max: 300 bytes"
_HEADER = 5  # STX ADDH ADDL LEN_H LEN_L


@dataclass(frozen=True)
class Command:
    code: bytes  # CM PM [DATA]
    replies: bool  # a reply frame follows the ENQ
    meaning: str


#: The one table of commands the driver sends (name → command).
COMMANDS: dict[str, Command] = {
    "status": Command(b"AP", True, "check states: 'SF' + 4 status bytes"),
    "to_read_position": Command(b"FC7", False, "dispense a card to the read/write position"),
    "present": Command(b"FC4", False, "card to the mouth, held there (the person pulls it out)"),
    "capture": Command(b"CP", False, "card into the recycle box"),
    "reset": Command(b"RS", False, "reset the mechanism"),
}

Effect = Literal["stack_empty", "stack_low", "jam", "busy", "fault", "sensor", "info"]


@dataclass(frozen=True)
class StatusBit:
    mask: int  # in the 16-bit word of the four status bytes' low nibbles, the first byte highest
    name: str
    effect: Effect  # what it means to DispenserStatus
    meaning: str  # [P]'s words ([C]'s Chinese)


#: The one table of status bits, as [P] lists them.
STATUS_BITS: tuple[StatusBit, ...] = (
    StatusBit(0x8000, "reject_bin_full", "fault", "recycling box full (回收箱卡满)"),
    StatusBit(0x4000, "command_refused", "fault", "could not implement command (命令不能执行)"),
    StatusBit(0x2000, "prepare_failed", "fault", "failed to prepare card, K720 (准备卡失败)"),
    StatusBit(0x1000, "preparing", "info", "preparing card (K720) / card hopper pre-full (K750)"),
    StatusBit(0x0800, "dispensing", "busy", "sending card (正在发卡)"),
    StatusBit(0x0400, "capturing", "busy", "collecting card (正在收卡)"),
    StatusBit(0x0200, "dispense_error", "fault", "error of issuing card (发卡出错)"),
    StatusBit(0x0100, "capture_error", "fault", "error of recycling card (收卡出错)"),
    StatusBit(0x0080, "stack_full", "info", "card hopper full, K750 (卡箱满)"),
    StatusBit(0x0040, "overlap", "fault", "card overlap (重叠卡)"),
    StatusBit(0x0020, "jam", "jam", "card jam (堵塞卡)"),
    StatusBit(0x0010, "stack_low", "stack_low", "card pre-empty (卡预空)"),
    StatusBit(0x0008, "stack_empty", "stack_empty", "card empty (卡空)"),
    StatusBit(0x0004, "sensor_3", "sensor", "card at sensor 3 position"),
    StatusBit(0x0002, "sensor_2", "sensor", "card at sensor 2 position"),
    StatusBit(0x0001, "sensor_1", "sensor", "card at sensor 1 position (取卡口)"),
)
_MOUTH, _INNER = 0x0001, 0x0006  # our choice: see the module docstring


def _protocol(detail: str) -> DispenserError:
    return DispenserError("dispenser_protocol", detail)


def command_named(code: bytes) -> str | None:
    """The name of the command whose code is *code*, or None."""
    return next((name for name, command in COMMANDS.items() if command.code == code), None)


# -- frames ------------------------------------------------------------------------------------------


def bcc(data: bytes) -> int:
    """XOR of every byte of *data*."""
    return functools.reduce(operator.xor, data, 0)


def address_bytes(address: int) -> bytes:
    """ADDH ADDL: the address 0..15 as two ASCII decimal digits."""
    if not 0 <= address <= 15:
        raise ValueError(f"a dispenser address is 0..15, not {address}")
    return b"%02d" % address


def _address(two: bytes) -> int:
    if len(two) != 2 or not two.isdigit() or int(two) > 15:
        raise _protocol(f"address bytes {two.hex(' ')} are not 00..15")
    return int(two)


def control(code: int, address: int) -> bytes:
    """ACK / NAK / ENQ with the address."""
    return bytes([code]) + address_bytes(address)


def encode_frame(address: int, payload: bytes) -> bytes:
    """STX ADDH ADDL LEN_H LEN_L payload ETX BCC."""
    if not 1 <= len(payload) <= MAX_LENGTH:
        raise ValueError(f"a frame carries 1..{MAX_LENGTH} bytes, not {len(payload)}")
    body = bytes([STX]) + address_bytes(address) + len(payload).to_bytes(2, "big") + payload + bytes([ETX])
    return body + bytes([bcc(body)])


def frame_length(header: bytes) -> int:
    """The whole frame's length from its first five bytes (to read the rest off the line)."""
    if len(header) < _HEADER or header[0] != STX:
        raise _protocol(f"a frame starts with STX 02 and five header bytes, not {header.hex(' ')}")
    length = int.from_bytes(header[3:5], "big")
    if not 1 <= length <= MAX_LENGTH:
        raise _protocol(f"frame length {length} is not 1..{MAX_LENGTH}")
    return _HEADER + length + 2


def decode_frame(frame: bytes) -> tuple[int, bytes]:
    """(address, payload) of one whole frame; anything else is a ``dispenser_protocol`` error."""
    if len(frame) != frame_length(frame[:_HEADER]):
        raise _protocol(f"frame of {len(frame)} bytes, its header says {frame_length(frame[:_HEADER])}")
    if frame[-2] != ETX:
        raise _protocol(f"no ETX 03 before the BCC (found {frame[-2]:02x})")
    if bcc(frame[:-1]) != frame[-1]:
        raise _protocol(f"BCC {frame[-1]:02x}, computed {bcc(frame[:-1]):02x}")
    return _address(frame[1:3]), frame[_HEADER:-2]


# -- status ------------------------------------------------------------------------------------------


def encode_status(word: int) -> bytes:
    """The AP reply's payload: ``SF`` and four bytes ``0x30`` + a nibble of *word*, the highest first."""
    if not 0 <= word <= 0xFFFF:
        raise ValueError("a status word is 16 bits")
    return b"SF" + bytes(0x30 | (word >> shift) & 0xF for shift in (12, 8, 4, 0))


def decode_status(payload: bytes) -> int:
    """The 16-bit status word of an AP reply's payload."""
    if len(payload) != 6 or payload[:2] != b"SF" or any(not 0x30 <= b <= 0x3F for b in payload[2:]):
        raise _protocol(f"a status reply is 'SF' and four bytes 30..3F, not {payload.hex(' ')}")
    return functools.reduce(lambda word, b: word << 4 | (b & 0xF), payload[2:], 0)


def status_of(word: int) -> DispenserStatus:
    """The library's view of a status word (positions decoded as the module docstring says)."""
    on = [bit for bit in STATUS_BITS if word & bit.mask]
    effects = {bit.effect for bit in on}
    return DispenserStatus(
        stack_empty="stack_empty" in effects,
        stack_low="stack_low" in effects,
        card_at_read_position=bool(word & _INNER),
        card_at_mouth=bool(word & _MOUTH) and not word & _INNER,
        jam="jam" in effects,
        busy="busy" in effects,
        faults=tuple(bit.name for bit in on if bit.effect == "fault"),
        raw=f"{word:04X}",
    )


# -- the device's side: a stream of host bytes ------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One thing a host sent: a ``frame`` (address, payload), an ``enq``, or a ``bad`` frame (wrong
    BCC, ETX or length: the device answers NAK)."""

    kind: Literal["frame", "enq", "bad"]
    address: int
    payload: bytes = b""


def read_messages(buffer: bytearray) -> list[Message]:
    """Take every complete message out of *buffer* (an incomplete one stays). Bytes that start no
    message (line noise, a stray ACK) are dropped."""
    messages: list[Message] = []
    while buffer:
        if buffer[0] == ENQ:
            if len(buffer) < 3:
                break
            digits = bytes(buffer[1:3])
            del buffer[:3]
            if digits.isdigit() and int(digits) <= 15:
                messages.append(Message("enq", int(digits)))
            continue
        if buffer[0] != STX:
            del buffer[0]
            continue
        if len(buffer) < _HEADER:
            break
        try:
            size = frame_length(bytes(buffer[:_HEADER]))
        except DispenserError:
            del buffer[0]
            continue
        if len(buffer) < size:
            break
        frame = bytes(buffer[:size])
        del buffer[:size]
        try:
            address, payload = decode_frame(frame)
        except DispenserError:
            digits = frame[1:3]
            address = int(digits) if digits.isdigit() and int(digits) <= 15 else -1
            messages.append(Message("bad", address))
            continue
        messages.append(Message("frame", address, payload))
    return messages
