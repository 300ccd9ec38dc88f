"""Value codecs of the health card's data formats AN, CN and B (fact sheet §0).

Every data item of the card has a fixed length and one of three formats:

* **AN** text. We encode with GB18030, the superset of GB2312/GBK that the sheet observed, so that rare
  characters (𠮷 U+20BB7 takes 4 bytes) still fit by their true byte length. Right-padded with ``00``.
* **CN** packed BCD, left-aligned, unused nibbles ``F``. One real issuer code contains a hex ``A``, so CN is
  a *hex-digit string* (0-9, A-E; F is padding), not strict BCD.
* **B** raw bytes at exactly the field length.

On top of the three wire formats each item has a :class:`Kind`, its Python representation (text, digit
string, integer, date, date-time, single byte, bytes). :func:`encode_value` / :func:`decode_value` pick the
codec from an item's format and kind; errors are :class:`~cardservice.errors.CodecError` naming the item
(abbreviation and Chinese label) and never contain the value itself (it may be personal data).

Absent values: an AN field that is all ``00`` or all ``FF``, a CN field that is all ``F``, a B field that is
all ``FF`` and a date of all zeros decode to ``None``. Unwritten EEPROM reads as ``FF`` on the traced cards,
some issuers zero-fill instead.
"""

from __future__ import annotations

import datetime as _dt
from enum import StrEnum
from typing import Protocol

from cardservice.errors import CodecError

__all__ = [
    "Format",
    "Kind",
    "ValueSpec",
    "decode_an",
    "decode_cn",
    "decode_value",
    "encode_an",
    "encode_b",
    "encode_cn",
    "encode_value",
]

TEXT_ENCODING = "gb18030"
_HEX_DIGITS = frozenset("0123456789ABCDE")  # F is the padding nibble, never a value digit


class Format(StrEnum):
    """Wire format of a data item (fact sheet §0)."""

    AN = "AN"
    CN = "CN"
    B = "B"


class Kind(StrEnum):
    """Python representation of a data item's value."""

    TEXT = "text"  # AN -> str
    DIGITS = "digits"  # CN -> str of hex digits (codes, quantities)
    NUMBER = "number"  # CN -> int (counts, amounts)
    DATE = "date"  # CN 4 YYYYMMDD -> datetime.date
    DATETIME = "datetime"  # CN 7 YYYYMMDDhhmmss -> datetime.datetime (naive, card local time)
    BYTE = "byte"  # B 1 -> int 0..254 (FF = absent)
    BYTES = "bytes"  # B n -> bytes


class ValueSpec(Protocol):
    """What a codec needs to know about a field; data items and layout fields both provide it."""

    @property
    def format(self) -> Format: ...

    @property
    def kind(self) -> Kind: ...

    @property
    def length(self) -> int: ...

    @property
    def display_name(self) -> str: ...


# --- the three wire formats ------------------------------------------------------------------


def encode_an(text: str, length: int, *, field: str = "value") -> bytes:
    """Encode ``text`` as GB18030, right-padded with ``00`` to ``length`` bytes.

    A value wider than the field raises :class:`CodecError`: the card must never hold a silently
    truncated name or address.
    """
    if "\x00" in text:
        raise CodecError(f"{field}: text contains NUL at position {text.index(chr(0))}")
    try:
        raw = text.encode(TEXT_ENCODING)
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        raise CodecError(
            f"{field}: character U+{ord(char):04X} at position {exc.start} is not encodable in GB18030"
        ) from None
    if len(raw) > length:
        raise CodecError(f"{field}: text needs {len(raw)} bytes in GB18030, the field holds {length}")
    return raw.ljust(length, b"\x00")


def decode_an(raw: bytes, *, field: str = "value") -> str:
    """Decode a fixed-length AN field; padding (``00`` and beyond, or trailing ``FF``) is stripped.

    Text ends at the first ``00`` as in the vendor DLLs (C strings). ``FF`` is never a GB18030 byte, so
    trailing ``FF`` is unwritten memory.
    """
    text = bytes(raw).split(b"\x00", 1)[0].rstrip(b"\xff")
    try:
        return text.decode(TEXT_ENCODING)
    except UnicodeDecodeError as exc:
        raise CodecError(f"{field}: byte {exc.start} is not valid GB18030 text") from None


def encode_cn(digits: str, length: int, *, field: str = "value") -> bytes:
    """Pack a hex-digit string left-aligned into ``length`` bytes, padding with ``F`` nibbles."""
    upper = digits.upper()
    bad = next((i for i, c in enumerate(upper) if c not in _HEX_DIGITS), None)
    if bad is not None:
        raise CodecError(f"{field}: character at position {bad} is not a CN digit (0-9, A-E)")
    if len(upper) > 2 * length:
        raise CodecError(f"{field}: {len(upper)} digits do not fit CN {length} ({2 * length} digits)")
    return bytes.fromhex(upper.ljust(2 * length, "F"))


def decode_cn(raw: bytes, *, field: str = "value") -> str:
    """Unpack a CN field to its hex-digit string; the value ends at the first ``F`` nibble.

    A digit after the padding has started means the field is corrupt, not merely short.
    """
    nibbles = bytes(raw).hex().upper()
    end = nibbles.find("F")
    if end < 0:
        return nibbles
    if nibbles[end:].strip("F"):
        raise CodecError(f"{field}: CN digits follow the F padding")
    return nibbles[:end]


def encode_b(data: bytes, length: int, *, field: str = "value") -> bytes:
    """B fields are raw bytes of exactly the field length (no implicit padding)."""
    if len(data) != length:
        raise CodecError(f"{field}: B value has {len(data)} bytes, the field needs exactly {length}")
    return bytes(data)


# --- typed values ----------------------------------------------------------------------------


def _date_digits(value: _dt.date) -> str:
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def encode_value(spec: ValueSpec, value: object) -> bytes:
    """Encode ``value`` at the full fixed length of ``spec``; ``None`` gives the absent filler."""
    name = spec.display_name
    if value is None:
        return _absent(spec)
    kind = spec.kind
    if kind is Kind.TEXT and isinstance(value, str):
        return encode_an(value, spec.length, field=name)
    if kind is Kind.DIGITS and isinstance(value, str):
        return encode_cn(value, spec.length, field=name)
    if kind is Kind.NUMBER and isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise CodecError(f"{name}: negative numbers cannot be stored in CN")
        return encode_cn(str(value), spec.length, field=name)
    if kind is Kind.DATE and isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return encode_cn(_date_digits(value), spec.length, field=name)
    if kind is Kind.DATETIME and isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            raise CodecError(f"{name}: the card stores local time; pass a naive datetime")
        # The card's resolution is one second; microseconds are dropped by design.
        digits = _date_digits(value) + f"{value.hour:02d}{value.minute:02d}{value.second:02d}"
        return encode_cn(digits, spec.length, field=name)
    if kind is Kind.BYTE and isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 0xFE:
            raise CodecError(f"{name}: byte value must be 0..254 (FF marks an absent value)")
        return encode_b(bytes([value]), spec.length, field=name)
    if kind is Kind.BYTES and isinstance(value, bytes | bytearray):
        return encode_b(bytes(value), spec.length, field=name)
    raise CodecError(f"{name}: a {type(value).__name__} cannot be stored as {kind.value} ({spec.format})")


def _absent(spec: ValueSpec) -> bytes:
    # AN pads with 00; CN and B use FF, which is also what unwritten memory reads as.
    return bytes(spec.length) if spec.format is Format.AN else b"\xff" * spec.length


def decode_value(spec: ValueSpec, raw: bytes) -> object | None:
    """Decode one fixed-length field; ``None`` when the field holds its absent filler."""
    name = spec.display_name
    if len(raw) != spec.length:
        raise CodecError(f"{name}: field is {len(raw)} bytes, expected {spec.length}")
    kind = spec.kind
    if kind is Kind.TEXT:
        return decode_an(raw, field=name) or None
    if kind is Kind.BYTE:
        return None if raw[0] == 0xFF else raw[0]
    if kind is Kind.BYTES:
        return None if raw.count(0xFF) == len(raw) else bytes(raw)
    digits = decode_cn(raw, field=name)
    if not digits:
        return None
    if kind is Kind.DIGITS:
        return digits
    if not digits.isdecimal():
        raise CodecError(f"{name}: {kind.value} field contains a non-decimal CN digit")
    if kind is Kind.NUMBER:
        return int(digits)
    if digits.count("0") == len(digits):  # zero-filled date: treated as not recorded
        return None
    return _parse_date(name, kind, digits)


def _parse_date(name: str, kind: Kind, digits: str) -> _dt.date | _dt.datetime:
    width = 8 if kind is Kind.DATE else 14
    if len(digits) != width:
        raise CodecError(f"{name}: {kind.value} needs {width} digits, found {len(digits)}")
    try:
        day = _dt.date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
        if kind is Kind.DATE:
            return day
        return _dt.datetime(
            day.year, day.month, day.day, int(digits[8:10]), int(digits[10:12]), int(digits[12:14])
        )
    except ValueError:
        raise CodecError(f"{name}: not a valid calendar {kind.value}") from None
