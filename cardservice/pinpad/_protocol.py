"""The PIN pad's messages, sans-I/O: what the frames of :mod:`._frames` carry. Every code and layout here
is OUR CHOICE (no public EPP command set to follow; the commands are the ones a payment terminal needs, as
SZZT's — load an encrypted key, start PIN input with a PAN, get the PIN block — and the codes are letters
so that a line trace reads).

Host → pad, commands (upper-case CODE). The pad answers each with a response frame of the same CODE and the
command's SEQ (so a late answer to an earlier command is never taken for this one's), DATA = STATUS (1) ‖
the result::

    code  command      DATA                                          result (STATUS 00)
    53 S  status       —                                             state (00 idle, 01 entry) ‖ digits
                                                                     ‖ key slots (bit n = slot n) ‖ master 0/1
    56 V  version      —                                             model 00 firmware 00 serial (ASCII)
    4B K  load key     slot ‖ TPK under the master key (16 / 24)     key check value (3)
    50 P  start entry  slot ‖ min ‖ max ‖ timeout (s) ‖ PAN (ASCII)  —
    41 A  abort        —                                             01: an entry ran (its "e" 04 follows)
                                                                     00: none ran

Pad → host during an entry, unsolicited (lower-case CODE, the pad's own SEQ)::

    6B k  key          change (01 added, 02 removed, 03 cleared) ‖ digits            — never the digit
    65 e  end          outcome (01 entered, 02 cancelled, 03 timeout, 04 aborted) ‖ digits
                       [‖ PIN block (8): ISO 9564 format 0, 3DES-ECB under the slot's TPK; entered only]

A key event carries the count, not a difference, so a lost one is repaired by the next. The timeout counts
from the last key press (or the start). The PAN goes to the pad whole (13-19 digits); the pad takes the 12
rightmost digits but the check digit, as format 0 says. The working key is 3DES (16 or 24 bytes)
encrypted under the pad's master key in ECB; its check value is the first 3 bytes of 3DES(key, 00×8).
STATUS values are the table :data:`STATUS`; :func:`check` turns one into its error.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from cardservice.keys import BlockCipher, encrypt_ecb
from cardservice.pinpad._errors import (
    PinPadBadFrame,
    PinPadBusy,
    PinPadDeviceError,
    PinPadError,
    PinPadKeyError,
)
from cardservice.pinpad._frames import Frame
from cardservice.pinpad._pinpad import (
    EntryStatus,
    KeyChange,
    KeyEvent,
    PinEntry,
    PinPadInfo,
    PinPadStatus,
    mask_pan,
)

__all__ = [
    "ABORT",
    "COMMAND_NAMES",
    "END",
    "ENTRY_OUTCOMES",
    "KEY",
    "KEY_CHANGES",
    "LOAD_KEY",
    "MAX_TIMEOUT",
    "OK",
    "PIN_LENGTHS",
    "SLOTS",
    "START_ENTRY",
    "STATUS",
    "STATUS_REQUEST",
    "VERSION",
    "EntryRequest",
    "KeyLoad",
    "Status",
    "check",
    "decode_event",
    "decode_status",
    "decode_version",
    "encode_end",
    "encode_key_event",
    "encode_status",
    "encode_version",
    "key_check_value",
    "response",
    "status_of",
]

# Commands (host → pad) and events (pad → host): the CODE byte.
STATUS_REQUEST, VERSION, LOAD_KEY, START_ENTRY, ABORT = 0x53, 0x56, 0x4B, 0x50, 0x41
KEY, END = 0x6B, 0x65
COMMAND_NAMES = MappingProxyType(
    {STATUS_REQUEST: "status", VERSION: "version", LOAD_KEY: "load key", START_ENTRY: "start entry",
     ABORT: "abort"}
)  # fmt: skip

SLOTS = range(8)  # working-key slots
PIN_LENGTHS = range(4, 13)  # ISO 9564 format 0: 4..12 digits
MAX_TIMEOUT = 255  # seconds: one byte
OK = 0x00

KEY_CHANGES = MappingProxyType({0x01: KeyChange.ADDED, 0x02: KeyChange.REMOVED, 0x03: KeyChange.CLEARED})
ENTRY_OUTCOMES = MappingProxyType(
    {0x01: EntryStatus.ENTERED, 0x02: EntryStatus.CANCELLED, 0x03: EntryStatus.TIMEOUT,
     0x04: EntryStatus.ABORTED}
)  # fmt: skip
_CHANGE_CODES = {change: code for code, change in KEY_CHANGES.items()}
_OUTCOME_CODES = {outcome: code for code, outcome in ENTRY_OUTCOMES.items()}


@dataclass(frozen=True)
class Status:
    """One STATUS byte: its meaning, and the error it is (None: success)."""

    code: int
    meaning: str
    meaning_zh: str
    error: type[PinPadError] | None


_ROWS = (
    Status(OK, "OK", "成功", None),
    Status(0x01, "unknown command", "命令不支持", PinPadBadFrame),
    Status(0x02, "bad parameter", "参数错误", PinPadDeviceError),
    Status(0x03, "busy: a PIN entry is running", "正在输入密码", PinPadBusy),
    Status(0x04, "no working key in the slot", "工作密钥未装载", PinPadKeyError),
    Status(0x05, "key error: no master key, or the key does not decrypt", "密钥错误", PinPadKeyError),
    Status(0x06, "device fault (self-test, tamper)", "设备故障", PinPadDeviceError),
)
STATUS: MappingProxyType[int, Status] = MappingProxyType({row.code: row for row in _ROWS})


def status_of(code: int) -> Status:
    """The table's row for *code*; one not in the table is a device error's row."""
    return STATUS.get(code) or Status(code, "unknown status", "未知状态", PinPadDeviceError)


def response(status: int, data: bytes = b"") -> bytes:
    """A response frame's DATA."""
    return bytes([status]) + data


def check(command: int, frame: Frame) -> bytes:
    """The result of *frame*, the response to *command*, when its STATUS is OK; else the table's error
    (``details``: status, command)."""
    if frame.code != command or not frame.data:
        raise PinPadBadFrame(
            f"a {frame.code:02X} frame of {len(frame.data)} bytes is no answer to command {command:02X}"
        )
    if frame.data[0] == OK:
        return frame.data[1:]
    status = status_of(frame.data[0])
    error = status.error or PinPadDeviceError
    raise error(
        f"{COMMAND_NAMES.get(command, f'{command:02X}')}: status {status.code:02X} {status.meaning}",
        message_zh=f"{error.default_zh}（{status.meaning_zh}）",
        details={"status": f"{status.code:02X}", "command": f"{command:02X}"},
    )


# -- commands ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class EntryRequest:
    """Start entry (``P``): a ValueError names what is wrong (the pad answers it with status 02)."""

    pan: str
    min_len: int = 4
    max_len: int = 6
    timeout: int = 30
    slot: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not (self.pan.isascii() and self.pan.isdigit() and 13 <= len(self.pan) <= 19):
            problems.append("pan: 13 to 19 digits")
        if not (self.min_len in PIN_LENGTHS and self.max_len in PIN_LENGTHS and self.min_len <= self.max_len):
            problems.append(f"min_len {self.min_len}, max_len {self.max_len}: 4 <= min_len <= max_len <= 12")
        if (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, int)
            or not 1 <= self.timeout <= 255
        ):
            problems.append(f"timeout: whole seconds, 1 to {MAX_TIMEOUT}, not {self.timeout!r}")
        if self.slot not in SLOTS:
            problems.append(f"slot: 0 to {len(SLOTS) - 1}, not {self.slot!r}")
        if problems:
            raise ValueError("PIN entry: " + "; ".join(problems))

    def encode(self) -> bytes:
        return bytes([self.slot, self.min_len, self.max_len, self.timeout]) + self.pan.encode("ascii")

    @classmethod
    def decode(cls, data: bytes) -> EntryRequest:
        if len(data) < 4:
            raise ValueError(f"PIN entry: {len(data)} bytes, not slot, lengths, timeout and PAN")
        slot, min_len, max_len, timeout = data[:4]
        return cls(data[4:].decode("ascii", "replace"), min_len, max_len, timeout, slot)

    def __repr__(self) -> str:
        return (f"EntryRequest({mask_pan(self.pan)}, {self.min_len}..{self.max_len} digits, "
                f"{self.timeout} s, slot {self.slot})")  # fmt: skip


@dataclass(frozen=True, repr=False)
class KeyLoad:
    """Load key (``K``): a working key encrypted under the master key, for *slot*."""

    cryptogram: bytes
    slot: int = 0

    def __post_init__(self) -> None:
        problems = []
        if len(self.cryptogram) not in BlockCipher.TDES.key_sizes:
            problems.append(f"the encrypted key is {len(self.cryptogram)} bytes, not 16 or 24 (3DES)")
        if self.slot not in SLOTS:
            problems.append(f"slot: 0 to {len(SLOTS) - 1}, not {self.slot!r}")
        if problems:
            raise ValueError("load key: " + "; ".join(problems))

    def encode(self) -> bytes:
        return bytes([self.slot]) + self.cryptogram

    @classmethod
    def decode(cls, data: bytes) -> KeyLoad:
        if not data:
            raise ValueError("load key: no slot")
        return cls(data[1:], data[0])

    def __repr__(self) -> str:
        return f"KeyLoad(slot {self.slot}, {len(self.cryptogram)}-byte key)"


def key_check_value(key: bytes) -> bytes:
    """The first 3 bytes of 3DES-ECB(*key*, 00×8): what proves a key arrived without showing it."""
    return encrypt_ecb(BlockCipher.TDES, key, bytes(8))[:3]


# -- results ----------------------------------------------------------------------------------------------


def encode_status(status: PinPadStatus) -> bytes:
    slots = sum(1 << slot for slot in status.keys)
    return bytes([int(status.entering), status.digits, slots, int(status.master_key)])


def decode_status(data: bytes) -> PinPadStatus:
    if len(data) != 4 or data[0] > 1 or data[3] > 1:
        raise PinPadBadFrame(f"a status of {len(data)} bytes that does not decode")
    return PinPadStatus(
        entering=bool(data[0]),
        digits=data[1],
        keys=frozenset(slot for slot in SLOTS if data[2] >> slot & 1),
        master_key=bool(data[3]),
    )


def encode_version(info: PinPadInfo) -> bytes:
    return b"\x00".join(part.encode("ascii") for part in (info.model, info.firmware, info.serial))


def decode_version(data: bytes) -> PinPadInfo:
    parts = data.decode("ascii", "replace").split("\x00")
    if len(parts) != 3:
        raise PinPadBadFrame(f"a version of {len(parts)} parts, not model, firmware and serial")
    return PinPadInfo(*parts)


# -- events -----------------------------------------------------------------------------------------------


def encode_key_event(event: KeyEvent) -> tuple[int, bytes]:
    """CODE and DATA of a key event."""
    return KEY, bytes([_CHANGE_CODES[event.change], event.digits])


def encode_end(entry: PinEntry) -> tuple[int, bytes]:
    """CODE and DATA of an end event."""
    block = entry.pin_block or b""
    return END, bytes([_OUTCOME_CODES[entry.status], entry.digits]) + block


def decode_event(frame: Frame) -> KeyEvent | PinEntry:
    """A key event, or the end of the entry; anything else is a :class:`PinPadBadFrame`."""
    data = frame.data
    if frame.code == KEY and len(data) == 2 and data[0] in KEY_CHANGES:
        return KeyEvent(KEY_CHANGES[data[0]], data[1])
    if frame.code == END and len(data) >= 2 and data[0] in ENTRY_OUTCOMES:
        outcome = ENTRY_OUTCOMES[data[0]]
        entered = outcome is EntryStatus.ENTERED
        if len(data) == (10 if entered else 2):
            return PinEntry(outcome, data[2:] if entered else None, data[1])
    raise PinPadBadFrame(
        f"event {frame.code:02X} of {len(data)} bytes does not decode", details={"code": f"{frame.code:02X}"}
    )
