"""The relay protocol between a kiosk and the issuance service: small typed JSON frames over one WebSocket
per issuance (``/v1/issuances/relay``), so that the issuer's keys stay with the service and the kiosk only
moves cards and relays APDUs.

The kiosk opens with :class:`Opening` — the card at its dispenser's read position (its ATR, or none) and,
to issue, the person — and then answers each operation the service sends, in order, one answer each::

    service → kiosk                                 kiosk → service
    {"op": "dispense"}                              {"atr": "3B..."}      the card now at the read position
    {"op": "apdu", "c": "00A40000023F00"}           {"r": "9000"}         the card's answer, status word last
    {"op": "present"} / {"op": "capture"}           {"ok": true}          to the mouth / into the reject bin
    {"op": "stage", "stage": "writing"}             (none: a notice for the patient's screen)
    {"op": "done", "card": {...}}                   (none: the end)
    {"op": "failed", "code", "message", "message_zh"}

Any operation may be answered ``{"error": code, "message": ...}`` (:data:`KIOSK_ERRORS`). The kiosk never
learns more than the APDUs: key values go under secure messaging keyed by the card's own challenge
(:mod:`._personalise`). A frame that is not the protocol ends the issuance.
"""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Literal

from pydantic import (
    Base64Bytes,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
)

from cardservice.healthcard import PHOTO_CAPACITY

__all__ = [
    "KIOSK_ERRORS",
    "MAX_FRAME",
    "PROTOCOL",
    "STAGES",
    "Answer",
    "Apdu",
    "Capture",
    "ChildIn",
    "Dispense",
    "Done",
    "Failed",
    "IssuedCardInfo",
    "Opening",
    "PersonIn",
    "Present",
    "ServiceFrame",
    "Stage",
    "parse_service_frame",
]

PROTOCOL = 1
MAX_FRAME = 64 * 1024  # bytes of one frame; the largest is a READ BINARY answer of a few KiB, in hex
_MAX_APDU_HEX = 2 * (7 + 4096 + 3)
Hex = Annotated[str, StringConstraints(pattern=r"^(?:[0-9A-Fa-f]{2})+$", max_length=_MAX_APDU_HEX)]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Text = Annotated[str, StringConstraints(max_length=300)]

#: The stages the service announces, in order (a spoiled card: ``capturing`` instead of ``presenting``).
STAGES = ("settling", "dispensing", "writing", "verifying", "presenting", "capturing")
#: What a kiosk answers when an operation fails: the card left (or never answered), a dispenser's coded
#: error (:class:`~cardservice.issuance.DispenserError`), no card where one is needed, anything else.
KIOSK_ERRORS = (
    "card_absent", "card_error", "no_card", "dispenser_empty", "dispenser_jam", "dispenser_timeout",
    "dispenser_protocol", "dispenser_fault", "kiosk_error",
)  # fmt: skip


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChildIn(_Frame):
    """A child without an ID number yet (新生儿/儿童), from the birth certificate (出生医学证明): the card is
    the child's, its number the certificate's, linked to the guardian who applied (:mod:`._newborn`)."""

    birth_certificate: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][0-9]{9}$")] = Field(repr=False)
    name: Annotated[str, StringConstraints(min_length=1, max_length=30)] = Field(repr=False)
    sex: Literal["1", "2"]
    birth_date: _dt.date = Field(repr=False)
    relation: Literal["51", "52", "97"]  # the guardian is the child's 父亲 / 母亲 / 其他监护人 (._newborn)
    ethnicity: Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")] | None = None


class PersonIn(_Frame):
    """The person a card is issued to, as the kiosk read them from their ID card (and asked: phone,
    consent). The service checks everything again (ID number, lengths) before any card moves. With *child*,
    the ID card is the guardian's and the card is the child's."""

    id_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{17}[0-9Xx]$")] = Field(repr=False)
    name: Annotated[str, StringConstraints(min_length=1, max_length=30)] = Field(repr=False)
    sex: Literal["1", "2"] | None = None
    ethnicity: Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")] | None = None
    address: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = Field(None, repr=False)
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9+-]{3,20}$")] | None = Field(None, repr=False)
    consent: bool = False  # the person agreed to what is written on the card
    child: ChildIn | None = None
    # 照片 for EF07: a JPEG the kiosk already fitted to the file (≤ 3,072 bytes); the child's with *child*
    photo: Base64Bytes | None = Field(None, repr=False)

    @field_validator("photo")
    @classmethod
    def _jpeg_that_fits(cls, value: bytes | None) -> bytes | None:
        if value is not None and (value[:3] != b"\xff\xd8\xff" or len(value) > PHOTO_CAPACITY):
            raise ValueError(f"photo: a JPEG of at most {PHOTO_CAPACITY} bytes")
        return value


class Opening(_Frame):
    """The kiosk's first frame: *atr* of the card at the read position (None: none there), and to issue a
    card, the *person* (None: only settle what the read position holds)."""

    protocol: Literal[1] = 1  # PROTOCOL
    atr: Hex | None = None
    person: PersonIn | None = None


class Answer(_Frame):
    """The kiosk's answer to one operation: exactly one of ``atr``, ``r``, ``ok``, ``error``."""

    atr: Hex | None = None
    r: Hex | None = None
    ok: Literal[True] | None = None
    error: Code | None = None
    message: Text | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Answer:
        given = [name for name in ("atr", "r", "ok", "error") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("an answer has exactly one of atr, r, ok, error")
        return self


class Dispense(_Frame):
    op: Literal["dispense"] = "dispense"


class Apdu(_Frame):
    op: Literal["apdu"] = "apdu"
    c: Hex


class Present(_Frame):
    op: Literal["present"] = "present"


class Capture(_Frame):
    op: Literal["capture"] = "capture"


class Stage(_Frame):
    op: Literal["stage"] = "stage"
    stage: Literal["settling", "dispensing", "writing", "verifying", "presenting", "capturing"]


class IssuedCardInfo(_Frame):
    """The card issued: its number masked, its registry status and issuance serial (XPXLH)."""

    masked: Annotated[str, StringConstraints(max_length=32)]
    status: Annotated[str, StringConstraints(max_length=16)]
    serial: Annotated[str, StringConstraints(max_length=16)]


class Done(_Frame):
    op: Literal["done"] = "done"
    card: IssuedCardInfo | None = None  # None: a settling only, nothing issued
    notes: list[Text] = Field(default_factory=list, max_length=20)


class Failed(_Frame):
    op: Literal["failed"] = "failed"
    code: Code
    message: Text
    message_zh: Text


ServiceFrame = Annotated[
    Dispense | Apdu | Present | Capture | Stage | Done | Failed, Field(discriminator="op")
]
_SERVICE_FRAME: TypeAdapter[ServiceFrame] = TypeAdapter(ServiceFrame)


def parse_service_frame(text: str | bytes) -> ServiceFrame:
    """A frame from the service (``pydantic.ValidationError`` when it is not one)."""
    return _SERVICE_FRAME.validate_json(text)
