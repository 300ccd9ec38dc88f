"""Bodies of /v1/issuance: a card issued at this kiosk to the person on its ID-card reader."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["IssuanceIn", "IssuanceOut", "IssuanceTermsOut", "Photo"]

# Base64 as a pattern the document states (a client generating from it never sends what is refused as
# malformed); what it decodes to is checked as a picture by the route (422 invalid_data).
Photo = Annotated[
    str,
    Field(
        pattern=r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$", max_length=240_000,
        description="照片 (optional): a JPEG or PNG, base64; fitted to the card's 3,072 bytes",
    ),
]  # fmt: skip


class IssuanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reader: str = Field(
        default="idcard",
        pattern=r"^idcard(:[A-Za-z0-9][A-Za-z0-9._-]{0,63})?$",
        description="the ID-card reader the applicant's ID card lies on: idcard (the first) or idcard:NAME; "
        "send its card_id (GET /v1/idcard) as X-Card-Id",
        examples=["idcard"],
    )
    phone: str = Field(
        pattern=r"^[0-9]{5,20}$", description="本人电话 written on the card (the patient typed it)",
        examples=["13800000001"],
    )  # fmt: skip
    consent: Literal[True] = Field(
        description="the patient agreed to what is written on the card (the consent screen): must be true"
    )
    photo: Photo | None = None


class IssuanceOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card: str = Field(description="the card number (the ID number), masked", examples=["1101************30"])
    status: Literal["active", "issued"] = Field(description="the card's status in the registry")
    issuance_serial: str = Field(description="发卡序列号 XPXLH: which card of this number it is")


class IssuanceTermsOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issuer_name: str = Field(description="发卡机构: who issues the card", examples=["演示发卡机构DEMO"])
    card_fee_fen: int = Field(ge=0, description="the card's fee in fen (0: free)", examples=[0])
    bank_application: bool = Field(description="the card also carries the bank application (借记卡功能)")
    items: list[str] = Field(
        description="what is written on the card about the person, as the consent screen lists it",
        examples=[["姓名", "性别", "民族", "出生日期", "身份证号码", "本人电话", "地址"]],
    )
