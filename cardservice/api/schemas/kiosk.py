"""Bodies of /v1/kiosk: the kiosk page's launch and what it is told about its kiosk."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["KioskSessionOut", "LaunchTokenIn", "LaunchTokenOut"]


class LaunchTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    readers: list[str] = Field(
        default_factory=list,
        max_length=4,
        description="the readers the kiosk page may use, by id or PC/SC name (none: the first card reader)",
    )
    lifetime: float = Field(default=30.0, ge=5, le=600, description="seconds the token stays good")


class LaunchTokenOut(BaseModel):
    token: str = Field(description="good once: open `url` in the kiosk's browser")
    url: str = Field(examples=["/kiosk/launch?token=ckl_..."])
    expires_in: float


class KioskSessionOut(BaseModel):
    readers: list[str] = Field(description="the readers this kiosk uses (`default`: the first card reader)")
    hospital_name: str
    help_desk: str = Field(description="where the 人工窗口 (staff counter) is")
    card_entry: str = Field(description="insert (contact slot) or tap (contactless)")
    idle_seconds: int = Field(description="a screen waits this long for a touch before asking")
    warning_seconds: int = Field(description="then this long for 继续办理 before it clears everything")
    top_up_amounts_fen: list[int] = Field(description="the top-up (充值) amounts offered, in fen")
