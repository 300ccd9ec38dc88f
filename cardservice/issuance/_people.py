"""Batch input: people to issue cards to, as CSV (UTF-8 or GB18030) or JSON, checked in full first.

CSV columns (header row required; order free; names as below; empty = absent):

==================  ========  =====================================================================
column              required  meaning (card item)
==================  ========  =====================================================================
id_number           yes       居民身份证号码 SFZH, 18 characters, GB 11643 check character; also the
                              card number KH
name                yes       姓名 XM (≤ 30 bytes on the card: 15 common Chinese characters)
sex                 no        性别 XB: 1 / 2 or 男 / 女; default and check: the ID number's sex digit
ethnicity           no        民族 MZ, GB 3304 two-digit code (01 汉族, 05 维吾尔族 …); default 01
phone               no        本人电话1 BRDH1
address             no        地址1 DZ1 (type 1, 户籍地址)
city_code           no        应用城市代码 YYCSDM (6 digits, GB/T 2260); default: the ID number's first 6
contact_name        no        联系人姓名1 LXRXM1
contact_relation    no        联系人关系1 LXRGX1 (code)
contact_phone       no        联系人电话1 LXRDH1
photo               no        a JPEG file (path relative to the CSV); resized/recompressed to fit EF07
==================  ========  =====================================================================

JSON: a list of objects with the same keys (or ``{"people": [...]}``).

:func:`load_people` reads and validates the whole file and returns the good rows and every bad row
with its reasons (ID check digit, lengths, codes, duplicates…) before any card is touched. Errors
name the row and the item, never the value: the file holds personal data.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cardservice.errors import CodecError
from cardservice.healthcard import (
    PHOTO_CAPACITY,
    HolderError,
    id_birth_date,
    id_sex_code,
    load_holder,
    mask_id_number,
    validate_id_number,
)

__all__ = ["COLUMNS", "IssuerProfile", "Person", "RowError", "holder_document", "load_people"]

COLUMNS = (
    "id_number", "name", "sex", "ethnicity", "phone", "address", "city_code",
    "contact_name", "contact_relation", "contact_phone", "photo",
)  # fmt: skip
_REQUIRED = ("id_number", "name")
_SEXES = {"1": 1, "2": 2, "男": 1, "女": 2}


@dataclass(frozen=True)
class Person:
    """One validated row. ``row``: 1-based data row number in the input (for reports)."""

    row: int
    id_number: str = field(repr=False)  # KH: the ID number, or a child's birth certificate number
    values: Mapping[str, str] = field(repr=False)
    photo: bytes | None = field(default=None, repr=False)
    guardian: str | None = field(default=None, repr=False)  # a child's card: the guardian's ID number

    @property
    def has_id_number(self) -> bool:
        """Whether the card number is an ID number (not a child's birth certificate number, ._newborn)."""
        return self.guardian is None

    @property
    def masked(self) -> str:
        return mask_id_number(self.id_number)

    def __repr__(self) -> str:
        return f"Person(row={self.row}, id={self.masked})"


@dataclass(frozen=True)
class RowError:
    row: int
    problems: tuple[str, ...]

    def __str__(self) -> str:
        return f"row {self.row}: " + "; ".join(self.problems)


@dataclass(frozen=True)
class IssuerProfile:
    """What the issuer writes on every card of a batch (DDF1/EF05, EF08)."""

    issuer_name: str = "演示发卡机构DEMO"
    issuer_code: str = "11000000001"
    card_category: str = "1"
    spec_version: str = "V1.1"
    validity_years: int = 10


def _decode(raw: bytes, encoding: str | None) -> str:
    if encoding:
        return raw.decode(encoding)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030")  # the other encoding Chinese office software writes


def _rows(path: Path, encoding: str | None) -> list[dict[str, str]]:
    raw = path.read_bytes()
    try:
        text = _decode(raw, encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise CodecError(f"{path}: not UTF-8 or GB18030 text ({exc.__class__.__name__})") from None
    if path.suffix.lower() == ".json":
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise CodecError(f"{path}: not JSON ({exc})") from None
        if isinstance(document, dict):
            document = document.get("people")
        if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
            raise CodecError(f"{path}: expected a JSON list of people (objects)")
        return [{k: "" if v is None else str(v) for k, v in item.items()} for item in document]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None:
        raise CodecError(f"{path}: empty CSV (a header row is required)")
    unknown = [name for name in reader.fieldnames if name not in COLUMNS]
    missing = [name for name in _REQUIRED if name not in reader.fieldnames]
    if unknown or missing:
        parts = ([f"unknown column(s) {', '.join(unknown)}"] if unknown else []) + (
            [f"missing column(s) {', '.join(missing)}"] if missing else []
        )
        raise CodecError(f"{path}: " + "; ".join(parts) + f" (columns: {', '.join(COLUMNS)})")
    rows = []
    for row in reader:
        if None in row:
            row = {**row, "_extra": "x"}
        rows.append({k: (v or "").strip() for k, v in row.items() if k is not None})
    return rows


def load_people(
    path: str | Path, *, encoding: str | None = None, today: _dt.date | None = None
) -> tuple[list[Person], list[RowError]]:
    """Every person in *path*, validated; bad rows come back as :class:`RowError` (all of them)."""
    source = Path(path)
    today = today or _dt.date.today()
    people: list[Person] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(_rows(source, encoding), start=1):
        problems: list[str] = []
        if row.pop("_extra", None):
            problems.append("more fields than columns")
        unknown = sorted(set(row) - set(COLUMNS))
        if unknown:
            problems.append(f"unknown field(s) {', '.join(unknown)}")
        for name in _REQUIRED:
            if not row.get(name):
                problems.append(f"{name} is required")
        id_number = row.get("id_number", "").upper()
        if id_number:
            try:
                id_number = validate_id_number(id_number, today=today, field="id_number (SFZH)")
            except CodecError as exc:
                problems.append(str(exc))
            else:
                if id_number in seen:
                    problems.append(f"id_number duplicates row {seen[id_number]}")
                else:
                    seen[id_number] = number
        photo = None
        if row.get("photo"):
            try:
                photo = fit_photo((source.parent / row["photo"]).read_bytes())
            except OSError as exc:
                problems.append(f"photo: cannot read ({exc.strerror or exc.__class__.__name__})")
            except CodecError as exc:
                problems.append(f"photo: {exc}")
        values = {k: v for k, v in row.items() if v}
        if not problems:
            person = Person(number, id_number, values, photo)
            try:
                load_holder(holder_document(person, IssuerProfile(), issuance_serial="0", issue_date=today))
            except (HolderError, CodecError) as exc:
                problems.append(str(exc).removeprefix("holder "))
            else:
                people.append(person)
                continue
        errors.append(RowError(number, tuple(problems)))
    return people, errors


def holder_document(
    person: Person,
    issuer: IssuerProfile,
    *,
    issuance_serial: str,
    issue_date: _dt.date,
    security_code: str = "000",
) -> dict[str, Any]:
    """The card contents for *person* in the holder format (``cardservice.health-holder/1``)."""
    v = person.values
    number = person.id_number if person.has_id_number else None  # SFZH: a child may have none yet
    sex = _SEXES.get(v.get("sex", "")) if v.get("sex") else number and id_sex_code(number)
    if sex is None:
        raise CodecError("sex must be 1, 2, 男 or 女")
    if number is not None and sex != id_sex_code(number):
        raise CodecError("sex differs from the ID number's sex digit")
    birth_date = id_birth_date(number) if number is not None else _dt.date.fromisoformat(v["birth_date"])
    try:
        expiry = issue_date.replace(year=issue_date.year + issuer.validity_years)
    except ValueError:  # 29 February
        expiry = issue_date.replace(year=issue_date.year + issuer.validity_years, day=28)
    document: dict[str, Any] = {
        "format": "cardservice.health-holder/1",
        "DDF1/EF05": {
            "card_category": issuer.card_category,
            "spec_version": issuer.spec_version,
            "issuer_name": issuer.issuer_name,
            "issuer_code": issuer.issuer_code,
            "issue_date": issue_date.isoformat(),
            "card_number": person.id_number,
            "security_code": security_code,
            "issuance_serial": issuance_serial,
            "city_code": v.get("city_code") or person.id_number[:6],
        },
        "DDF1/EF06": {
            "name": v["name"],
            "sex": sex,
            "ethnicity": v.get("ethnicity", "01"),
            "birth_date": birth_date.isoformat(),
            **({"id_number": number} if number is not None else {}),
        },
        "DDF1/EF08": {"expiry_date": expiry.isoformat(), **({"phone1": v["phone"]} if "phone" in v else {})},
        "DDF1/DF01/EF08": {
            "document_type": v.get("document_type", "1"),
            "document_number": v.get("document_number", person.id_number),
        },
    }
    if "address" in v:
        document["DDF1/DF01/EF05"] = {"address_type1": "1", "address1": v["address"]}
    contact = {
        f"contact1_{name}": v[f"contact_{name}"]
        for name in ("name", "relation", "phone")
        if f"contact_{name}" in v
    }
    if contact:
        document["DDF1/DF01/EF06"] = contact
    if person.photo is not None:
        import base64

        document["DDF1/EF07"] = {"image_base64": base64.b64encode(person.photo).decode("ascii")}
    return document


_MAX_PHOTO_PIXELS = 5_000 * 5_000  # a kiosk camera gives a few megapixels; a bigger "photo" is refused unread


def fit_photo(image: bytes) -> bytes:
    """A JPEG of at most :data:`PHOTO_CAPACITY` bytes: *image* as is when it is a JPEG that fits,
    otherwise decoded, shrunk and recompressed (quality first, then size) until it fits."""
    if image[:3] == b"\xff\xd8\xff" and len(image) <= PHOTO_CAPACITY:
        return image
    from PIL import Image, UnidentifiedImageError

    picture: Image.Image
    try:
        with Image.open(io.BytesIO(image)) as opened:
            if opened.width * opened.height > _MAX_PHOTO_PIXELS:  # known before decoding: no bomb decoded
                raise CodecError(f"{opened.width}×{opened.height} pixels: not a camera's photo")
            opened.load()
            picture = opened.copy()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise CodecError("not an image Pillow can read") from None
    picture = picture.convert("L") if picture.mode not in ("L", "RGB") else picture
    width = min(picture.width, 240)
    while width >= 32:
        height = max(1, round(picture.height * width / picture.width))
        scaled = picture.resize((width, height))
        for quality in (75, 60, 45, 30, 20):
            out = io.BytesIO()
            scaled.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= PHOTO_CAPACITY:
                return out.getvalue()
        width = int(width * 0.8)
    raise CodecError(f"cannot compress the photo below {PHOTO_CAPACITY} bytes")
