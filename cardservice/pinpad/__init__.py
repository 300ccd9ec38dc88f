"""The encrypting PIN pad (EPP, 密码键盘) on a serial line: a sans-I/O codec of its frames and messages, the
link rules (ACK/NAK, resends), and the contract a driver implements. The patient types the online PIN of
the card's bank application on the pad; the PIN never leaves it in clear: the host gets key events that
count digits, then an ISO 9564 format-0 PIN block encrypted under the pad's working key (TPK).

    Frame(seq, code, data).encode()       02 | SEQ | LEN | CODE | DATA | 03 | CRC-16     (._frames)
    FrameParser().parse(chunk) -> Frame | Ack | Nak | BadFrame     incremental, never raises
    Link(peer="pad")                      stop-and-wait: ACK/NAK, resends, duplicates  (._link)
    EntryRequest / KeyLoad / check / decode_event ...   the messages: one table        (._protocol)
    PinPad                                what drivers provide (drivers.pinpad: serial), found by kind
    read_pin(pan, ...) -> PinEntry(status, pin_block, digits)     KeyEvent(change, digits) on the way
    testing.FakePinPad / SimulatedEntry   a pad in memory; the pad's side of an entry

The wire protocol is OUR design (no public EPP protocol to follow); ``_frames`` and ``_protocol`` draw its
tables and say which details are choices, ``docs/pinpad.md`` sums them up.

Errors, one subtree of :class:`~cardservice.errors.CodedError` (``code`` is the API's)::

    PinPadError               pinpad_error
    ├── PinPadNotConnected    pinpad_offline        the port cannot be opened, or failed (unplugged)
    ├── PinPadNoAnswer        pinpad_timeout        no ACK after every resend; no answer / end in time
    ├── PinPadBadFrame        pinpad_protocol       broken frames after every resend, our frame NAKed,
    │                                               a message that does not decode (also a ValueError)
    └── PinPadDeviceError     pinpad_device_error   the pad answered an error status
        ├── PinPadKeyError    pinpad_key_error      no working / master key, a check value mismatch
        └── PinPadBusy        pinpad_busy           an entry is running

Nothing here logs or shows a key, a PIN block, a digit or a whole PAN (reprs print lengths and masks).
"""

from cardservice.pinpad._errors import (
    PinPadBadFrame,
    PinPadBusy,
    PinPadDeviceError,
    PinPadError,
    PinPadKeyError,
    PinPadNoAnswer,
    PinPadNotConnected,
)
from cardservice.pinpad._frames import (
    ACK,
    ETX,
    MAX_DATA,
    NAK,
    STX,
    Ack,
    BadFrame,
    Frame,
    FrameParser,
    Nak,
    Token,
    crc16,
)
from cardservice.pinpad._link import Link
from cardservice.pinpad._pinpad import (
    EntryStatus,
    KeyChange,
    KeyEvent,
    PinEntry,
    PinPad,
    PinPadInfo,
    PinPadStatus,
    mask_pan,
)
from cardservice.pinpad._protocol import (
    ABORT,
    COMMAND_NAMES,
    END,
    ENTRY_OUTCOMES,
    KEY,
    KEY_CHANGES,
    LOAD_KEY,
    MAX_TIMEOUT,
    OK,
    PIN_LENGTHS,
    SLOTS,
    START_ENTRY,
    STATUS,
    STATUS_REQUEST,
    VERSION,
    EntryRequest,
    KeyLoad,
    Status,
    check,
    decode_event,
    decode_status,
    decode_version,
    encode_end,
    encode_key_event,
    encode_status,
    encode_version,
    key_check_value,
    response,
    status_of,
)

__all__ = [
    "ABORT",
    "ACK",
    "COMMAND_NAMES",
    "END",
    "ENTRY_OUTCOMES",
    "ETX",
    "KEY",
    "KEY_CHANGES",
    "LOAD_KEY",
    "MAX_DATA",
    "MAX_TIMEOUT",
    "NAK",
    "OK",
    "PIN_LENGTHS",
    "SLOTS",
    "START_ENTRY",
    "STATUS",
    "STATUS_REQUEST",
    "STX",
    "VERSION",
    "Ack",
    "BadFrame",
    "EntryRequest",
    "EntryStatus",
    "Frame",
    "FrameParser",
    "KeyChange",
    "KeyEvent",
    "KeyLoad",
    "Link",
    "Nak",
    "PinEntry",
    "PinPad",
    "PinPadBadFrame",
    "PinPadBusy",
    "PinPadDeviceError",
    "PinPadError",
    "PinPadInfo",
    "PinPadKeyError",
    "PinPadNoAnswer",
    "PinPadNotConnected",
    "PinPadStatus",
    "Status",
    "Token",
    "check",
    "crc16",
    "decode_event",
    "decode_status",
    "decode_version",
    "encode_end",
    "encode_key_event",
    "encode_status",
    "encode_version",
    "key_check_value",
    "mask_pan",
    "response",
    "status_of",
]
