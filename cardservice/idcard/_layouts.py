"""The 256-byte text of an ID card, by card type: one layout table per type, then one decoder and one
encoder over the tables.

The text is UCS-2 little-endian, each field padded with spaces; the card type's flag is the character at
byte offset 248 (/work/shared/spec/idcard-reader-facts.md B3, B4). Each table lists its fields in order
as (field, bytes); offsets follow. Where the sheet gives a field's size but not its place, the place is
our choice, marked UNCONFIRMED — change the table, nothing else.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cardservice.idcard._errors import IdCardProtocolError, IdCardUnsupported
from cardservice.idcard._person import LONG_TERM, IdCardPerson, IdCardType

__all__ = [
    "CARD_TYPES",
    "TYPE_FLAG_OFFSET",
    "CardTypeSpec",
    "Field",
    "decode_text",
    "encode_text",
    "fields_of",
    "type_flag_of",
]

TEXT_SIZE = 256
TYPE_FLAG_OFFSET = 248  # B4


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    size: int  # bytes: two per UCS-2 character


def _layout(*fields: tuple[str, int]) -> tuple[Field, ...]:
    """Fields in order, their offsets summed; the whole is 256 bytes with the type flag at 248."""
    placed, offset = [], 0
    for name, size in fields:
        placed.append(Field(name, offset, size))
        offset += size
    flag = next(f for f in placed if f.name == "type")
    if offset != TEXT_SIZE or flag.offset != TYPE_FLAG_OFFSET or flag.size != 2:
        raise AssertionError(f"a layout is {TEXT_SIZE} bytes with the type flag at {TYPE_FLAG_OFFSET}")
    return tuple(placed)


# ' ' resident ID card: B3 (IdInfo.java, SAMSerial.ExtractIdentityCard). The 36 reserved bytes hold the
# type flag at 248 (B4): 28 before it, 6 after.
RESIDENT = _layout(
    ("name", 30), ("sex", 2), ("ethnicity", 4), ("birth", 16), ("address", 70), ("id_number", 36),
    ("authority", 30), ("valid_from", 16), ("valid_to", 16), ("reserved", 28), ("type", 2), ("reserved2", 6),
)  # fmt: skip

# 'J' Hong Kong / Macao / Taiwan residence permit: the resident layout plus permit number (18) and issue
# count (4) (B4, PCSCGetData.h) — no ethnicity (its 4 bytes reserved). UNCONFIRMED: that the two extras
# open the reserved area (offset 220) and 6 reserved bytes sit before the flag.
HMT_RESIDENCE_PERMIT = _layout(
    ("name", 30), ("sex", 2), ("reserved", 4), ("birth", 16), ("address", 70), ("id_number", 36),
    ("authority", 30), ("valid_from", 16), ("valid_to", 16), ("permit_number", 18), ("issue_count", 4),
    ("reserved2", 6), ("type", 2), ("reserved3", 6),
)  # fmt: skip

# 'I' old foreign permanent-resident card: the fields and sizes in B4's order — English name (120), sex,
# number (30), nationality (6), Chinese name (30), validity (from, to), birth, version (4), authority
# code (8). UNCONFIRMED: sex 2 bytes, validity and birth 16 each, 6 reserved bytes after the flag.
FOREIGN_PERMANENT = _layout(
    ("english_name", 120), ("sex", 2), ("id_number", 30), ("nationality", 6), ("name", 30),
    ("valid_from", 16), ("valid_to", 16), ("birth", 16), ("card_version", 4), ("authority", 8),
    ("type", 2), ("reserved", 6),
)  # fmt: skip

# 'Y' 2023 foreign permanent-resident ID: "Chinese-style layout with foreign name (70) and nationality
# (6)" (B4). UNCONFIRMED, our reading of it: the resident layout with a renewal count (4) where the
# ethnicity was, the English name (70) where the address was, its continuation (22) after the validity,
# then nationality (6), the flag, and 6 reserved bytes (a link to the old card's number, not decoded).
FOREIGN_PERMANENT_2023 = _layout(
    ("name", 30), ("sex", 2), ("renewal_count", 4), ("birth", 16), ("english_name", 70), ("id_number", 36),
    ("authority", 30), ("valid_from", 16), ("valid_to", 16), ("english_name_more", 22), ("nationality", 6),
    ("type", 2), ("reserved", 6),
)  # fmt: skip


@dataclass(frozen=True)
class CardTypeSpec:
    card_type: IdCardType
    flag: str
    label_zh: str
    layout: tuple[Field, ...]


CARD_TYPES: Mapping[str, CardTypeSpec] = MappingProxyType({
    spec.flag: spec
    for spec in (
        CardTypeSpec(IdCardType.RESIDENT, " ", "居民身份证", RESIDENT),
        CardTypeSpec(IdCardType.HMT_RESIDENCE_PERMIT, "J", "港澳台居民居住证", HMT_RESIDENCE_PERMIT),
        CardTypeSpec(IdCardType.FOREIGN_PERMANENT, "I", "外国人永久居留证", FOREIGN_PERMANENT),
        CardTypeSpec(IdCardType.FOREIGN_PERMANENT_2023, "Y", "外国人永久居留身份证", FOREIGN_PERMANENT_2023),
    )
})  # fmt: skip
_BY_TYPE = {spec.card_type: spec for spec in CARD_TYPES.values()}
_SKIPPED = frozenset({"type", "reserved", "reserved2", "reserved3"})  # never decoded: a vendor's bytes there
_NOT_FIELDS = _SKIPPED | {"english_name_more"}


def _text(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-16-le").strip(" \x00")
    except UnicodeDecodeError:
        raise IdCardProtocolError(f"{where} is not UCS-2 text") from None


def _date(value: str, where: str) -> _dt.date:
    if len(value) != 8 or not (value.isascii() and value.isdigit()):
        raise IdCardProtocolError(f"{where} is not a date (YYYYMMDD)")
    try:
        return _dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise IdCardProtocolError(f"{where} is not a valid date") from None


def type_flag_of(text: bytes) -> str:
    """The card type's flag: the UCS-2 character at offset 248."""
    if len(text) != TEXT_SIZE:
        raise IdCardProtocolError(f"the card text is {len(text)} bytes, not {TEXT_SIZE}")
    try:
        return text[TYPE_FLAG_OFFSET : TYPE_FLAG_OFFSET + 2].decode("utf-16-le")
    except UnicodeDecodeError:
        raise IdCardProtocolError("the card type flag is not UCS-2 text") from None


def decode_text(text: bytes, *, photo_wlt: bytes = b"", fingerprint: bytes | None = None) -> IdCardPerson:
    """The person of a 256-byte card text (the type by its flag), with the photo and fingerprint bytes
    as they came. Raises :class:`IdCardUnsupported` for an unknown flag, :class:`IdCardProtocolError`
    for text that does not decode. Errors name fields, never their values."""
    flag = type_flag_of(text)
    spec = CARD_TYPES.get(flag)
    if spec is None:
        raise IdCardUnsupported(f"unknown card type flag {flag!r}", details={"type_flag": flag})
    raw = {f.name: text[f.offset : f.offset + f.size] for f in spec.layout if f.name not in _SKIPPED}
    if "english_name_more" in raw:  # one name in two fields: joined before the padding is stripped
        raw["english_name"] += raw.pop("english_name_more")
    values = {name: _text(value, name) for name, value in raw.items()}
    valid_to = values["valid_to"]
    if not values["id_number"]:
        raise IdCardProtocolError("the card text has no number")
    return IdCardPerson(
        card_type=spec.card_type,
        name=values["name"],
        sex_code=values["sex"],
        birth_date=_date(values["birth"], "birth"),
        id_number=values["id_number"],
        authority=values["authority"],
        valid_from=_date(values["valid_from"], "valid_from"),
        valid_to=None if valid_to == LONG_TERM else _date(valid_to, "valid_to"),
        address=values.get("address"),
        ethnicity_code=values.get("ethnicity"),
        english_name=values.get("english_name"),
        nationality=values.get("nationality"),
        permit_number=values.get("permit_number"),
        issue_count=values.get("issue_count"),
        card_version=values.get("card_version"),
        renewal_count=values.get("renewal_count"),
        photo_wlt=photo_wlt,
        fingerprint=fingerprint,
    )


def _values_of(person: IdCardPerson, spec: CardTypeSpec) -> dict[str, str]:
    english = person.english_name or ""
    sizes = {f.name: f.size // 2 for f in spec.layout}
    first = sizes.get("english_name", 0) if "english_name_more" in sizes else len(english)
    values = {
        "name": person.name,
        "sex": person.sex_code,
        "ethnicity": person.ethnicity_code or "",
        "birth": person.birth_date.strftime("%Y%m%d"),
        "address": person.address or "",
        "id_number": person.id_number,
        "authority": person.authority,
        "valid_from": person.valid_from.strftime("%Y%m%d"),
        "valid_to": LONG_TERM if person.valid_to is None else person.valid_to.strftime("%Y%m%d"),
        "english_name": english[:first],
        "english_name_more": english[first:],
        "nationality": person.nationality or "",
        "permit_number": person.permit_number or "",
        "issue_count": person.issue_count or "",
        "card_version": person.card_version or "",
        "renewal_count": person.renewal_count or "",
        "type": spec.flag,
    }
    return {f.name: values.get(f.name, "") for f in spec.layout}


def encode_text(person: IdCardPerson) -> bytes:
    """The 256-byte text a card of *person*'s type carries (the simulator's, and tests'). A value too long
    for its field is an :class:`IdCardProtocolError` naming the field."""
    spec = _BY_TYPE[person.card_type]
    out = bytearray(" ".encode("utf-16-le") * (TEXT_SIZE // 2))
    values = _values_of(person, spec)
    for f in spec.layout:
        value = values[f.name].encode("utf-16-le")
        if len(value) > f.size:
            raise IdCardProtocolError(f"{f.name} is longer than its {f.size} bytes")
        out[f.offset : f.offset + len(value)] = value
    return bytes(out)


def fields_of(card_type: IdCardType) -> tuple[str, ...]:
    """The person's fields a card type's text carries (for documentation and tests)."""
    return tuple(f.name for f in _BY_TYPE[card_type].layout if f.name not in _NOT_FIELDS)
