"""Bodies of /v1/registration (挂号): departments, doctors, slots, bookings."""

from __future__ import annotations

import datetime as _dt

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BookingIn",
    "DepartmentOut",
    "DepartmentsOut",
    "DoctorOut",
    "DoctorsOut",
    "RegistrationOut",
    "RegistrationsOut",
    "SlotOut",
    "SlotsOut",
]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class DepartmentOut(_Out):
    id: str = Field(examples=["NK"])
    name: str = Field(examples=["内科"])
    location: str = Field(examples=["门诊楼2层A区"])


class DepartmentsOut(BaseModel):
    departments: list[DepartmentOut]


class DoctorOut(_Out):
    id: str
    department_id: str
    name: str
    title: str = Field(examples=["主任医师"])
    specialty: str | None = None


class DoctorsOut(BaseModel):
    doctors: list[DoctorOut]


class SlotOut(_Out):
    id: str
    department_id: str
    doctor_id: str | None = Field(description="None: the department's general clinic (普通门诊)")
    doctor_name: str | None
    doctor_title: str | None
    start: _dt.datetime
    end: _dt.datetime
    session: str = Field(examples=["上午"])
    fee_fen: int = Field(description="registration fee in fen (分)", examples=[1000])
    capacity: int
    remaining: int


class SlotsOut(BaseModel):
    slots: list[SlotOut]


class RegistrationsOut(BaseModel):
    card: str = Field(description="the card holder, masked")
    registrations: list[RegistrationOut]


class BookingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reader: str = Field(default="default", max_length=128, description="reader of the patient's card")
    slot_id: str = Field(min_length=1, max_length=64)


class RegistrationOut(_Out):
    id: str
    queue_number: int = Field(description="就诊序号")
    slot_id: str
    department_id: str
    department_name: str
    doctor_id: str | None
    doctor_name: str | None
    start: _dt.datetime
    end: _dt.datetime
    fee_fen: int
    status: str = Field(examples=["booked"])
    bill_id: str = Field(description="the registration-fee bill (挂号费), to pay at /v1/payments")
    patient: str = Field(description="the card holder, masked card number")
