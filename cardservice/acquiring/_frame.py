"""Framing of a CUP-style POS message, sans-I/O:

    length (2 bytes, binary, big-endian: the bytes after it) ‖ TPDU (5) ‖ header (6) ‖ MTI (2, BCD) ‖
    bitmap (8) ‖ fields ‖ [field 64: MAC]

(facts sheet A5: ``01 AA | 60 0006 0000 | 60 31 00 31 10 03 | 02 00 | 70 24 06 C0 20 C1 9A 31 | ...``).
The TPDU is ``60 ‖ destination (2) ‖ source (2)``; an answer swaps the two addresses (:func:`reply_tpdu`).
The header is carried as given (``60 31 00 31 10 03``: application type 60, version 31, terminal status and
processing requirement 00, software version 311003) and returned in :attr:`Frame.header`.

pyiso8583 codes MTI, bitmap and fields from :data:`PYISO8583_SPEC`; everything else is here: lengths,
TPDU, header, the MAC, values typed by the field table (digits, track 2, text, bytes), and one
:class:`Iso8583Error` for anything malformed, whatever the library or the slicing would have raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import iso8583

from cardservice.acquiring._errors import Iso8583Error, MacError
from cardservice.acquiring._mac import cup_pos_mac, verify_cup_pos_mac
from cardservice.acquiring._spec import FIELDS, PYISO8583_SPEC, FieldDef, Kind
from cardservice.errors import CryptoError

__all__ = [
    "DEFAULT_HEADER",
    "DEFAULT_TPDU",
    "LENGTH_PREFIX",
    "FieldValue",
    "Frame",
    "body_length",
    "check_mac",
    "decode_frame",
    "encode_frame",
    "mask_pan",
    "reply_tpdu",
]

DEFAULT_TPDU = bytes.fromhex("6000060000")
DEFAULT_HEADER = bytes.fromhex("603100311003")
LENGTH_PREFIX = 2
_TPDU_ID = 0x60
_MTI_AND_BITMAP = 2 + 8

FieldValue = str | bytes


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits; everything else starred (short values wholly)."""
    if len(pan) < 13:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def reply_tpdu(tpdu: bytes) -> bytes:
    """The TPDU of the answer: the same id, destination and source swapped."""
    if len(tpdu) != 5:
        raise Iso8583Error("TPDU: 5 bytes")
    return tpdu[:1] + tpdu[3:5] + tpdu[1:3]


def body_length(prefix: bytes) -> int:
    """How many bytes follow a frame's 2-byte length prefix (for readers of a stream)."""
    if len(prefix) != LENGTH_PREFIX:
        raise Iso8583Error(f"length prefix: {LENGTH_PREFIX} bytes, got {len(prefix)}")
    return int.from_bytes(prefix, "big")


def _shown(row: FieldDef, value: FieldValue) -> str:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if row.number == 2:
        return mask_pan(value)
    if row.number == 35:
        return mask_pan(value.split("D", 1)[0]) + "D…"
    return value


@dataclass(frozen=True)
class Frame:
    """One message: MTI, fields by number (``str`` digits/text, ``bytes`` for binary fields), TPDU and
    header. Its repr masks the PAN and hides track 2, PIN block and ICC data."""

    mti: str
    fields: Mapping[int, FieldValue]
    tpdu: bytes = DEFAULT_TPDU
    header: bytes = DEFAULT_HEADER
    #: The MAC element block as received (MTI to the end of field 63); empty for a frame built here.
    mab: bytes = field(default=b"", compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{n}={_shown(FIELDS[n], v)!r}" if n in FIELDS else f"{n}=?"
            for n, v in sorted(self.fields.items())
        )
        return f"Frame(mti={self.mti!r}, {{{shown}}})"

    def text(self, number: int) -> str | None:
        """A digits/track/text field's value, ``None`` when absent."""
        value = self.fields.get(number)
        if value is not None and not isinstance(value, str):
            raise Iso8583Error(f"field {number}: expected text")
        return value

    def binary(self, number: int) -> bytes | None:
        value = self.fields.get(number)
        if value is not None and not isinstance(value, bytes):
            raise Iso8583Error(f"field {number}: expected bytes")
        return value


def _allowed(row: FieldDef, value: str) -> bool:
    """The characters the table allows (an empty value only in a variable-length field)."""
    if not value:
        return row.prefix > 0
    if row.kind is Kind.NUMERIC:
        return value.isascii() and value.isdigit()
    if row.kind is Kind.TRACK:
        return all(c in "0123456789D" for c in value)
    return value.isascii() and value.isprintable()


_EXPECTED = {
    Kind.NUMERIC: "decimal digits",
    Kind.TRACK: "track 2 digits and 'D'",
    Kind.TEXT: "printable ASCII",
}


def _check_value(row: FieldDef, value: object) -> str:
    """The pyiso8583 string of a typed value; wrong types and characters raise here, by field number."""
    n = row.number
    if row.kind is Kind.BINARY:
        if not isinstance(value, bytes | bytearray):
            raise Iso8583Error(f"field {n}: bytes expected")
        return bytes(value).hex().upper()
    if not isinstance(value, str):
        raise Iso8583Error(f"field {n}: str expected")
    if not _allowed(row, value):
        raise Iso8583Error(f"field {n}: {_EXPECTED[row.kind]} expected")
    return value


def encode_frame(frame: Frame, *, mac_key: bytes | None = None) -> bytes:
    """The bytes on the wire, length prefix included. With *mac_key*, field 64 is computed (any given
    field 64 is replaced); without, field 64 is sent as given (or absent)."""
    if len(frame.mti) != 4 or not frame.mti.isdigit() or not frame.mti.isascii():
        raise Iso8583Error("MTI: 4 digits")
    if len(frame.tpdu) != 5 or frame.tpdu[0] != _TPDU_ID:
        raise Iso8583Error("TPDU: 5 bytes starting 60")
    doc: dict[str, str] = {"t": frame.mti}
    for number, value in frame.fields.items():
        row = FIELDS.get(number)
        if row is None:
            raise Iso8583Error(f"field {number} is not in this spec")
        doc[str(number)] = _check_value(row, value)
    if mac_key is not None:
        doc["64"] = "00" * 8
    try:
        encoded, _ = iso8583.encode(doc, PYISO8583_SPEC)
    except (iso8583.EncodeError, ValueError, TypeError) as exc:
        raise Iso8583Error(str(exc)) from None
    body = bytes(encoded)
    if mac_key is not None:
        try:
            body = body[:-8] + cup_pos_mac(mac_key, body[:-8])
        except CryptoError:
            raise Iso8583Error("MAC key: 16 bytes") from None
    message = bytes(frame.tpdu) + bytes(frame.header) + body
    if len(message) > 0xFFFF:
        raise Iso8583Error(f"frame too long: {len(message)} bytes")
    return len(message).to_bytes(LENGTH_PREFIX, "big") + message


def _fields_in(bitmap: bytes) -> list[int]:
    return [8 * i + bit + 1 for i, byte in enumerate(bitmap) for bit in range(8) if byte & (0x80 >> bit)]


def _typed(row: FieldDef, value: str) -> FieldValue:
    if row.kind is Kind.BINARY:
        return bytes.fromhex(value)
    if not _allowed(row, value):
        raise Iso8583Error(f"field {row.number}: not {_EXPECTED[row.kind]}")
    return value


def decode_frame(data: bytes, *, mac_key: bytes | None = None, header_length: int = 6) -> Frame:
    """The frame in *data* (length prefix included). With *mac_key*, field 64 must be present and right
    (:class:`MacError` otherwise)."""
    data = bytes(data)
    if len(data) < LENGTH_PREFIX:
        raise Iso8583Error("frame shorter than its length prefix")
    declared = body_length(data[:LENGTH_PREFIX])
    if declared != len(data) - LENGTH_PREFIX:
        raise Iso8583Error(f"length prefix says {declared} bytes, {len(data) - LENGTH_PREFIX} follow")
    start = LENGTH_PREFIX + 5 + header_length
    if len(data) < start + _MTI_AND_BITMAP:
        raise Iso8583Error("frame too short for TPDU, header, MTI and bitmap")
    tpdu, header, body = (
        data[LENGTH_PREFIX : LENGTH_PREFIX + 5],
        data[LENGTH_PREFIX + 5 : start],
        data[start:],
    )
    if tpdu[0] != _TPDU_ID:
        raise Iso8583Error(f"TPDU id {tpdu[0]:02X}, expected 60")
    numbers = _fields_in(body[2:10])
    if 1 in numbers:
        raise Iso8583Error("secondary bitmap (field 1) is not used by this spec")
    unknown = [n for n in numbers if n not in FIELDS]
    if unknown:
        raise Iso8583Error(f"field {unknown[0]} is not in this spec")
    try:
        decoded, _ = iso8583.decode(body, PYISO8583_SPEC)
    except (iso8583.DecodeError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise Iso8583Error(str(exc)) from None
    mti = decoded["t"]
    if not mti.isdigit():
        raise Iso8583Error("MTI: not BCD digits")
    fields = {n: _typed(FIELDS[n], decoded[str(n)]) for n in numbers}
    frame = Frame(mti, fields, tpdu, header, mab=body[:-8] if 64 in fields else body)
    if mac_key is not None:
        check_mac(frame, mac_key)
    return frame


def check_mac(frame: Frame, mac_key: bytes) -> None:
    """Raise :class:`MacError` unless the received *frame*'s field 64 verifies under *mac_key*."""
    mac = frame.fields.get(64)
    if not isinstance(mac, bytes):
        raise MacError(f"{frame.mti} carries no MAC (field 64)")
    try:
        ok = verify_cup_pos_mac(mac_key, frame.mab, mac)
    except CryptoError:
        raise MacError("MAC key: 16 bytes") from None
    if not ok:
        raise MacError(f"the MAC (field 64) of this {frame.mti} does not verify")
