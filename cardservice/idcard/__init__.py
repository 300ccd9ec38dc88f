"""The resident ID-card reader (身份证阅读器, GA/T 467 SAM_V): a pure, sans-I/O codec from bytes to the
person, the contract a driver implements, and the daemon's monitor of its readers. The facts behind every
table are /work/shared/spec/idcard-reader-facts.md.

    Command(0x20, 0x01).encode()          AA AA AA 96 69 00 03 20 01 22   (frame: Len, XOR checksum)
    ReplyParser().parse(chunk) -> Reply   incremental; resynchronises on the preamble
    check(FIND, reply)                    SW3 -> success, or the error of the STATUS table
    decode_card_data(reply.data, with_fingerprint=False) -> CardData(text, photo, fingerprint)
    decode_text(text, photo_wlt=...) -> IdCardPerson   the four card types by the flag at offset 248
    person.masked() -> MaskedIdCard       what a kiosk sees; repr() never shows a full number
    IdCardReader                          what drivers provide (drivers.idcard: serial), found by kind
    Presence                              the must-remove rule, as the state machine drivers share
    IdCardMonitor({name: reader}, on_event=hub.publish)   polls, publishes, holds the person while it lies

The photo stays opaque WLT bytes (``photo_wlt``): :class:`PhotoDecoder` is where a vendor's licensed
decoder would plug in; none ships.

Errors, one subtree of :class:`~cardservice.errors.CodedError` (``code`` is the API's)::

    IdCardError               idcard_error
    ├── IdCardNoCard          idcard_no_card          nothing found (SW3 80)
    ├── IdCardReadFailed      idcard_read_failed      select / read / authentication failed (81, 41, 3x, 47)
    ├── IdCardUnsupported     idcard_unsupported      unknown card type (40, or the text's flag)
    ├── IdCardSamUnavailable  idcard_sam_unavailable  the reader's SAM failed or is not authorised (60, 66)
    ├── IdCardProtocolError   idcard_protocol         bad frame, checksum, length, text; our frame refused
    ├── IdCardTimeout         idcard_timeout          no (whole) answer in time
    ├── IdCardReaderOffline   idcard_reader_offline   the port cannot be opened or failed
    └── IdCardUnknownReader   reader_not_found        no reader of that name configured
"""

from cardservice.idcard._errors import (
    IdCardError,
    IdCardNoCard,
    IdCardProtocolError,
    IdCardReaderOffline,
    IdCardReadFailed,
    IdCardSamUnavailable,
    IdCardTimeout,
    IdCardUnknownReader,
    IdCardUnsupported,
)
from cardservice.idcard._frames import (
    MAX_LENGTH,
    PREAMBLE,
    Command,
    CommandParser,
    FrameParser,
    Reply,
    ReplyParser,
    checksum,
    frame,
)
from cardservice.idcard._layouts import CARD_TYPES, TYPE_FLAG_OFFSET, decode_text, encode_text, fields_of
from cardservice.idcard._monitor import DEFAULT_READER, IdCardMonitor, IdCardReaderStatus
from cardservice.idcard._person import (
    LONG_TERM,
    IdCardPerson,
    IdCardType,
    MaskedIdCard,
    PhotoDecoder,
    mask_address,
)
from cardservice.idcard._protocol import (
    COMMANDS,
    FIND,
    PHOTO_SIZE,
    READ,
    READ_WITH_FINGERPRINT,
    RESET_SAM,
    SAM_ID,
    SAM_STATUS,
    SELECT,
    STATUS,
    TEXT_SIZE,
    CardData,
    CommandSpec,
    Status,
    check,
    decode_card_data,
    encode_card_data,
    status_of,
)
from cardservice.idcard._reader import CardOperations, IdCardEvent, IdCardReader, Placed, Presence, Removed

__all__ = [
    "CARD_TYPES",
    "COMMANDS",
    "DEFAULT_READER",
    "FIND",
    "LONG_TERM",
    "MAX_LENGTH",
    "PHOTO_SIZE",
    "PREAMBLE",
    "READ",
    "READ_WITH_FINGERPRINT",
    "RESET_SAM",
    "SAM_ID",
    "SAM_STATUS",
    "SELECT",
    "STATUS",
    "TEXT_SIZE",
    "TYPE_FLAG_OFFSET",
    "CardData",
    "CardOperations",
    "Command",
    "CommandParser",
    "CommandSpec",
    "FrameParser",
    "IdCardError",
    "IdCardEvent",
    "IdCardMonitor",
    "IdCardNoCard",
    "IdCardPerson",
    "IdCardProtocolError",
    "IdCardReadFailed",
    "IdCardReader",
    "IdCardReaderOffline",
    "IdCardReaderStatus",
    "IdCardSamUnavailable",
    "IdCardTimeout",
    "IdCardType",
    "IdCardUnknownReader",
    "IdCardUnsupported",
    "MaskedIdCard",
    "PhotoDecoder",
    "Placed",
    "Presence",
    "Removed",
    "Reply",
    "ReplyParser",
    "Status",
    "check",
    "checksum",
    "decode_card_data",
    "decode_text",
    "encode_card_data",
    "encode_text",
    "fields_of",
    "frame",
    "mask_address",
    "status_of",
]
