"""What an ID card says about its holder: :class:`IdCardPerson` (everything, for the issuing flow) and
:class:`MaskedIdCard` (what a kiosk sees). Neither's ``repr`` shows more than the masked number: they end
up in logs and tracebacks.

The photo is the card's 1024 bytes of WLT data, kept opaque: it is a vendor's proprietary compression
and no open decoder exists (facts sheet B5). :class:`PhotoDecoder` is the hook a licensed vendor library
(libwlt2bmp, WltRS.dll) would plug into; none ships, and nothing decodes in the cloud (B7).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from cardservice.healthcard import ETHNICITY, SEX, mask_id_number

__all__ = ["LONG_TERM", "IdCardPerson", "IdCardType", "MaskedIdCard", "PhotoDecoder", "mask_address"]

LONG_TERM = "长期"  # valid to: permanent (the card's text, and the API's)


class IdCardType(StrEnum):
    """The four card types a SAM_V reader reads, by the flag at text offset 248 (facts sheet B4)."""

    RESIDENT = "resident"  # ' '  居民身份证
    HMT_RESIDENCE_PERMIT = "hmt_residence_permit"  # 'J'  港澳台居民居住证
    FOREIGN_PERMANENT = "foreign_permanent"  # 'I'  外国人永久居留证 (the old card)
    FOREIGN_PERMANENT_2023 = "foreign_permanent_2023"  # 'Y'  外国人永久居留身份证 (2023)


def mask_address(address: str | None) -> str | None:
    """The address a kiosk sees: its first 6 characters (province and city, at most a district), then
    ``***``."""
    if not address:
        return address
    return address[:6] + "***"


def _masked(number: str | None) -> str | None:
    return None if number is None else mask_id_number(number)


@dataclass(frozen=True, repr=False)
class IdCardPerson:
    """One card's text, decoded, with the photo (opaque WLT bytes) and the fingerprint (opaque, or None
    when not read or not on the card). Fields a card type does not have are None."""

    card_type: IdCardType
    name: str  # 姓名 (Chinese; I: the Chinese name, may be empty)
    sex_code: str  # GB/T 2261.1: "1" male, "2" female
    birth_date: _dt.date
    id_number: str  # 公民身份号码 / 居住证号码 / 永久居留证号码
    authority: str  # 签发机关 (I: 受理机关代码)
    valid_from: _dt.date
    valid_to: _dt.date | None  # None: 长期 (permanent)
    address: str | None = None  # 住址 (resident, J)
    ethnicity_code: str | None = None  # GB 3304, resident only
    english_name: str | None = None  # I, Y
    nationality: str | None = None  # I, Y: GB/T 2659 (ISO 3166-1 alpha-3)
    permit_number: str | None = None  # J: 通行证号码
    issue_count: str | None = None  # J: 签发次数
    card_version: str | None = None  # I: 证件版本号
    renewal_count: str | None = None  # Y: 换证次数
    photo_wlt: bytes = field(default=b"", compare=False)
    fingerprint: bytes | None = field(default=None, compare=False)

    @property
    def sex_label(self) -> str | None:
        return SEX.label(self.sex_code)

    @property
    def ethnicity_label(self) -> str | None:
        return None if self.ethnicity_code is None else ETHNICITY.label(self.ethnicity_code)

    @property
    def valid_to_text(self) -> str:
        return LONG_TERM if self.valid_to is None else self.valid_to.isoformat()

    @property
    def masked_number(self) -> str:
        """The ID / permit number as it may appear in logs and audit records."""
        return mask_id_number(self.id_number)

    def masked(self) -> MaskedIdCard:
        """What a kiosk may see: numbers masked, the address cut short, the birth year only, no photo and
        no fingerprint."""
        return MaskedIdCard(
            card_type=self.card_type,
            name=self.name,
            sex_code=self.sex_code,
            birth_year=self.birth_date.year,
            id_number=self.masked_number,
            authority=self.authority,
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            address=mask_address(self.address),
            ethnicity_code=self.ethnicity_code,
            english_name=self.english_name,
            nationality=self.nationality,
            permit_number=_masked(self.permit_number),
            issue_count=self.issue_count,
            card_version=self.card_version,
            renewal_count=self.renewal_count,
        )

    def __repr__(self) -> str:
        return f"IdCardPerson({self.card_type.value}, {self.masked_number})"


@dataclass(frozen=True, repr=False)
class MaskedIdCard:
    """:meth:`IdCardPerson.masked`: nothing that identifies the holder beyond what the kiosk shows."""

    card_type: IdCardType
    name: str
    sex_code: str
    birth_year: int
    id_number: str  # masked: first 4 and last 2 characters
    authority: str
    valid_from: _dt.date
    valid_to: _dt.date | None
    address: str | None
    ethnicity_code: str | None
    english_name: str | None
    nationality: str | None
    permit_number: str | None  # masked as the ID number
    issue_count: str | None
    card_version: str | None
    renewal_count: str | None

    @property
    def sex_label(self) -> str | None:
        return SEX.label(self.sex_code)

    @property
    def ethnicity_label(self) -> str | None:
        return None if self.ethnicity_code is None else ETHNICITY.label(self.ethnicity_code)

    def __repr__(self) -> str:
        return f"MaskedIdCard({self.card_type.value}, {self.id_number})"


class PhotoDecoder(Protocol):
    """Turns the card's WLT photo into an image. A vendor's licensed library goes behind this (libwlt2bmp
    gives 102×126 BGR; ``wltGetBMP(wlt, licence)``; WltRS.dll on Windows — facts sheet B5); cardservice
    ships no implementation and never decodes the photo itself."""

    def decode(self, wlt: bytes) -> bytes:
        """The photo as an image file (BMP or JPEG bytes); raises when it cannot."""
        ...
