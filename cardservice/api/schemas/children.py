"""Bodies of /v1/issuance/child and /v1/issuance/id-number: a child's card issued to the guardian on the
ID-card reader, and the child's ID number recorded later."""

from __future__ import annotations

import datetime as _dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cardservice.api.schemas.issuance import Photo

__all__ = ["BirthRecordIn", "ChildIssuanceIn", "ChildOut", "IdNumberIn", "IdNumberOut"]

_IDCARD_READER = r"^idcard(:[A-Za-z0-9][A-Za-z0-9._-]{0,63})?$"


class ChildOut(BaseModel):
    """The child, as the birth certificate (出生医学证明) says."""

    model_config = ConfigDict(extra="forbid")

    birth_certificate: str = Field(
        pattern=r"^[A-Za-z][0-9]{9}$", description="出生医学证明编号 (a letter, 9 digits): the card number",
        examples=["O110000001"],
    )  # fmt: skip
    name: str = Field(min_length=1, max_length=15, description="姓名 (≤ 15 Chinese characters)")
    sex: Literal["1", "2"] = Field(description="性别: 1 男, 2 女")
    birth_date: _dt.date = Field(description="出生日期")
    relation: Literal["51", "52", "97"] = Field(
        description="the guardian is the child's: 51 父亲, 52 母亲, 97 其他监护人"
    )
    ethnicity: str | None = Field(None, pattern=r"^[0-9]{2}$", description="民族 (GB 3304), default 01")


class BirthRecordIn(BaseModel):
    """In the body, not the URL: a certificate number is personal data, and URLs end up in access logs."""

    model_config = ConfigDict(extra="forbid")

    reader: str = Field(
        default="idcard", pattern=_IDCARD_READER,
        description="the ID-card reader the parent's ID card lies on; send its card_id as X-Card-Id",
    )  # fmt: skip
    birth_certificate: str = Field(pattern=r"^[A-Za-z][0-9]{9}$", description="出生医学证明编号")


class ChildIssuanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reader: str = Field(
        default="idcard", pattern=_IDCARD_READER,
        description="the ID-card reader the guardian's ID card lies on; send its card_id as X-Card-Id",
    )  # fmt: skip
    phone: str = Field(pattern=r"^[0-9]{5,20}$", description="the guardian's phone, written on the card")
    consent: Literal[True] = Field(description="the guardian agreed to what is written on the card")
    child: ChildOut
    photo: Photo | None = None


class IdNumberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_number: str = Field(pattern=r"^[0-9]{17}[0-9Xx]$", description="the child's new 居民身份证号码")
    guardian_reader: str = Field(
        default="idcard", pattern=_IDCARD_READER,
        description="the ID-card reader the guardian's ID card lies on (the guardian the card is linked to)",
    )  # fmt: skip
    guardian_card_id: str | None = Field(
        None,
        max_length=64,
        description="that ID card's card_id (GET /v1/idcard): refused if another lies there",
    )


class IdNumberOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card: str = Field(description="the card number (the birth certificate's), masked")
    id_number: str = Field(description="the ID number recorded, masked")
    written: str = Field(description="the file written on the card", examples=["DDF1/DF01/EF08"])
