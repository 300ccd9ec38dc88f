"""The JSON of docs/his-contract.md as pydantic models, shared by HttpHis (validating replies) and the
reference server (its response models): the contract is one set of types, proven both ways."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from cardservice.his._values import (
    Bill,
    BillItem,
    BirthRecord,
    Department,
    Doctor,
    LabItem,
    LabReport,
    Patient,
    Registration,
    Slot,
)

__all__ = [
    "BillOut",
    "BillsOut",
    "BookIn",
    "CancelIn",
    "DepartmentsOut",
    "DoctorsOut",
    "ErrorBody",
    "ErrorOut",
    "LabReportsOut",
    "PatientIn",
    "PatientQueryIn",
    "RegistrationOut",
    "RegistrationsOut",
    "SettleIn",
    "SlotsOut",
    "wire",
]

# Money and counts must be JSON integers: "1000" or 1000.5 is a broken HIS, not something to round.
Fen = Annotated[StrictInt, Field(ge=0)]
Count = Annotated[StrictInt, Field(ge=0)]
Id = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PatientIn(_Model):
    card_number: StrictStr
    name: StrictStr

    def value(self) -> Patient:
        return Patient(self.card_number, self.name)


class _Department(_Model):
    id: Id
    name: StrictStr
    location: StrictStr = ""


class DepartmentsOut(_Model):
    departments: list[_Department]

    def value(self) -> list[Department]:
        return [Department(d.id, d.name, d.location) for d in self.departments]


class _Doctor(_Model):
    id: Id
    department_id: Id
    name: StrictStr
    title: StrictStr
    specialty: StrictStr | None = None


class DoctorsOut(_Model):
    doctors: list[_Doctor]

    def value(self) -> list[Doctor]:
        return [Doctor(**d.model_dump()) for d in self.doctors]


class _Slot(_Model):
    id: Id
    department_id: Id
    doctor_id: Id | None = None
    doctor_name: StrictStr | None = None
    doctor_title: StrictStr | None = None
    start: AwareDatetime
    end: AwareDatetime
    session: StrictStr
    fee_fen: Fen
    capacity: Count
    remaining: Count


class SlotsOut(_Model):
    slots: list[_Slot]

    def value(self) -> list[Slot]:
        return [Slot(**s.model_dump()) for s in self.slots]


class _Registration(_Model):
    id: Id
    queue_number: Count
    slot_id: Id
    department_id: Id
    department_name: StrictStr
    doctor_id: Id | None = None
    doctor_name: StrictStr | None = None
    start: AwareDatetime
    end: AwareDatetime
    fee_fen: Fen
    status: StrictStr
    bill_id: Id


class RegistrationOut(_Model):
    registration: _Registration

    def value(self) -> Registration:
        return Registration(**self.registration.model_dump())


class RegistrationsOut(_Model):
    registrations: list[_Registration]

    def value(self) -> list[Registration]:
        return [Registration(**r.model_dump()) for r in self.registrations]


class _BillItem(_Model):
    name: StrictStr
    unit: StrictStr | None = None
    quantity: Count
    unit_price_fen: Fen
    amount_fen: Fen


class _Bill(_Model):
    id: Id
    title: StrictStr
    department: StrictStr | None = None
    items: list[_BillItem]
    total_fen: Fen
    status: StrictStr
    created_at: AwareDatetime
    settled_at: AwareDatetime | None = None
    payment_reference: StrictStr | None = None

    def value(self) -> Bill:
        fields = self.model_dump(exclude={"items"})
        return Bill(**fields, items=tuple(BillItem(**i.model_dump()) for i in self.items))


class BillsOut(_Model):
    bills: list[_Bill]

    def value(self) -> list[Bill]:
        return [b.value() for b in self.bills]


class BillOut(_Model):
    bill: _Bill

    def value(self) -> Bill:
        return self.bill.value()


class _LabItem(_Model):
    code: StrictStr
    name: StrictStr
    result: StrictStr
    unit: StrictStr | None = None
    reference_low: StrictStr | None = None
    reference_high: StrictStr | None = None
    reference_text: StrictStr | None = None
    abnormal: StrictStr = ""  # informative: the daemon computes the flag from the range itself


class _LabReport(_Model):
    id: Id
    title: StrictStr
    specimen: StrictStr
    department: StrictStr | None = None
    doctor_name: StrictStr | None = None
    collected_at: AwareDatetime
    reported_at: AwareDatetime
    items: list[_LabItem]


class _Birth(_Model):
    birth_certificate: Annotated[StrictStr, Field(pattern=r"^[A-Z][0-9]{9}$")]
    name: Annotated[StrictStr, Field(min_length=1, max_length=30)]
    sex: Literal["1", "2"]
    birth_date: _dt.date
    relation: Literal["51", "52"]


class BirthOut(_Model):
    birth: _Birth

    def value(self) -> BirthRecord:
        return BirthRecord(**self.birth.model_dump())


class LabReportsOut(_Model):
    lab_reports: list[_LabReport]

    def value(self) -> list[LabReport]:
        return [
            LabReport(
                **r.model_dump(exclude={"items"}),
                items=tuple(LabItem(**i.model_dump(exclude={"abnormal"})) for i in r.items),
            )
            for r in self.lab_reports
        ]


class PatientQueryIn(_Model):
    patient: PatientIn


class BookIn(_Model):
    patient: PatientIn
    slot_id: Id


class CancelIn(_Model):
    patient: PatientIn


class SettleIn(_Model):
    patient: PatientIn
    payment_reference: StrictStr
    amount_fen: Fen


class ErrorBody(_Model):
    code: StrictStr
    message: StrictStr = ""
    message_zh: StrictStr = ""
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorOut(_Model):
    error: ErrorBody


def wire(value: Any) -> Any:
    """A connector value (or a list of them) as JSON-ready data: dataclasses become dicts, datetimes
    ISO 8601 with their offset; a lab item also says its computed ``abnormal`` flag."""
    if isinstance(value, list | tuple):
        return [wire(v) for v in value]
    if isinstance(value, LabItem):
        return {
            **{f.name: getattr(value, f.name) for f in dataclasses.fields(value)},
            "abnormal": value.abnormal,
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
