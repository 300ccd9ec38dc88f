"""Bodies of /v1/idcard: the person on an ID card, masked (kiosk) or in full (issuer)."""

from __future__ import annotations

import datetime as _dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["IdCardOut", "IdCardTypeName"]

IdCardTypeName = Literal["resident", "hmt_residence_permit", "foreign_permanent", "foreign_permanent_2023"]


class IdCardOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reader: str = Field(description="the ID-card reader's configured name", examples=["desk"])
    card_id: str = Field(
        description="this placing of the card: send it as X-Card-Id with reader=idcard[:NAME] to act for its "
        "holder (a patient without a health card); another card on the reader is refused",
        examples=["i_3f9a1c2b7d4e5f60"],
    )
    masked: bool = Field(
        description="true unless full=true with the issuer scope: numbers masked (first 4 and last 2 "
        "characters), the address cut to its first 6 characters, the birth year only, no photo"
    )
    card_type: IdCardTypeName = Field(
        description="居民身份证 (flag ' '), 港澳台居民居住证 ('J'), 外国人永久居留证 ('I'), "
        "外国人永久居留身份证 2023 ('Y')"
    )
    card_type_label: str = Field(examples=["居民身份证"])
    name: str = Field(description="姓名 (Chinese; may be empty on a foreign permanent-resident card)")
    sex: str = Field(description="GB/T 2261.1 code", examples=["1"])
    sex_label: str | None = Field(examples=["男性"])
    ethnicity: str | None = Field(description="民族, GB 3304 code (resident ID cards only)", examples=["01"])
    ethnicity_label: str | None = Field(examples=["汉族"])
    birth_date: _dt.date | None = Field(description="出生日期 (full record only)")
    birth_year: int = Field(examples=[2000])
    address: str | None = Field(description="住址 (masked: the first 6 characters and ***)")
    id_number: str = Field(description="公民身份号码 / 证件号码 (masked unless full)")
    authority: str = Field(description="签发机关 (old foreign card: its authority code)")
    valid_from: _dt.date
    valid_to: str = Field(description="YYYY-MM-DD, or 长期 (permanent)", examples=["2040-01-01", "长期"])
    english_name: str | None = Field(description="foreign permanent-resident cards")
    nationality: str | None = Field(description="foreign permanent-resident cards: GB/T 2659 alpha-3 code")
    permit_number: str | None = Field(description="港澳台居民居住证: 通行证号码 (masked unless full)")
    issue_count: str | None = Field(description="港澳台居民居住证: 签发次数")
    card_version: str | None = Field(description="old foreign permanent-resident card: 证件版本号")
    renewal_count: str | None = Field(description="2023 foreign permanent-resident ID: 换证次数")
    photo_wlt_base64: str | None = Field(
        default=None,
        description="full record only: the card's photo as the reader gave it — 1024 bytes of a vendor's "
        "proprietary WLT compression, never decoded here (a licensed vendor decoder turns it into an image)",
    )
    fingerprint_base64: str | None = Field(
        default=None,
        description="full record only, when the reader is configured to read fingerprints and the card has "
        "them: opaque bytes",
    )
