"""Bodies of /v1/issuance: a card issued at this kiosk to the person on its ID-card reader."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["IssuanceIn", "IssuanceOut"]


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


class IssuanceOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card: str = Field(description="the card number (the ID number), masked", examples=["1101************30"])
    status: Literal["active", "issued"] = Field(description="the card's status in the registry")
    issuance_serial: str = Field(description="发卡序列号 XPXLH: which card of this number it is")
