"""The hospital services a kiosk offers over the card: registration (挂号) today; payments and printing
join here. The HIS is the hospital's (:mod:`cardservice.his`); the daemon relays for the card holder.

**The patient is the card in the reader.** Every patient-specific call names a reader (and may name
the ``card_id`` the kiosk saw); the daemon takes the card number and name it read from that card.
No endpoint takes an ID number typed into the kiosk, so nobody books or pays for someone else.

Mutating calls need an ``Idempotency-Key`` header (1-64 of ``A-Za-z0-9._:-``): the same key again
returns the first result and changes nothing; keys are per API client. HIS calls block (database or
HTTPS), so they run on a worker thread, never on the event loop. Every call is audited with the
masked card number.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cardservice.api._deps import (
    ApiClient,
    CardIdHeader,
    Kiosk,
    Services,
    audit_access,
    card_view,
    services_of,
)
from cardservice.api._errors import responses
from cardservice.errors import CodedError
from cardservice.his import HisConnector, Patient
from cardservice.payments import PaymentError
from cardservice.readers import CardView, ServiceError

__all__ = [
    "HIS_ERRORS",
    "PATIENT_ERRORS",
    "IdempotencyKey",
    "ReaderQuery",
    "call_service",
    "hospital_router",
    "patient_of",
    "scoped_key",
    "service_error",
]

T = TypeVar("T")

hospital_router = APIRouter(prefix="/v1")

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        description="a key of the client's choosing for this request; repeating it never books twice",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
    ),
]
ReaderQuery = Annotated[
    str, Query(description="reader of the patient's card (`default`: the first)", max_length=128)
]
HIS_ERRORS = ("his_unavailable", "his_timeout", "his_protocol", "his_rejected", "his_not_found")
PATIENT_ERRORS = ("reader_not_found", "no_card", "card_not_ready", "card_removed", "card_changed",
                   "card_blacklisted", "card_unsupported")  # fmt: skip


# -- schemas ---------------------------------------------------------------------------------------------


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


# -- plumbing --------------------------------------------------------------------------------------------


def _his(services: Services) -> HisConnector:
    if services.his is None:
        raise ServiceError("his_unavailable", "no HIS is configured for this daemon")
    return services.his


def service_error(exc: CodedError) -> ServiceError:
    """A hospital service's error as the API's (the code table in cardservice.api._errors); the generic
    ``not_found`` gets the service's own name: his_not_found, order_not_found."""
    code = exc.code
    if code == "not_found":
        code = "order_not_found" if isinstance(exc, PaymentError) else "his_not_found"
    return ServiceError(code, exc.message, **exc.details)


async def call_service(operation: Callable[[], T]) -> T:
    """Run a blocking HIS or payments call on a worker thread; their errors become API errors."""
    try:
        return await anyio.to_thread.run_sync(operation)
    except CodedError as exc:
        raise service_error(exc) from None


async def patient_of(services: Services, reader: str, card_id: str | None) -> tuple[CardView, Patient]:
    """The patient of the card in *reader* (its identity, read at insertion)."""
    view = await card_view(services, reader, card_id)
    number = view.identity.issuer.card_number if view.identity.issuer else None
    name = view.identity.cardholder.name if view.identity.cardholder else None
    try:
        return view, Patient(number or "", (name or "").strip())
    except ValueError:
        raise ServiceError("invalid_card_data", "the card carries no usable card number and name") from None


def scoped_key(client: ApiClient, key: str) -> str:
    """Idempotency keys are per client: two kiosks choosing the same key never collide."""
    return f"{client.name}:{key}"[:128]


async def _audited(
    request: Request,
    client: ApiClient,
    action: str,
    operation: Callable[[], Any],
    *,
    card: str | None,
    target: str | None,
    detail: Callable[[Any], dict[str, Any]] | None = None,
) -> Any:
    try:
        result = await call_service(operation)
    except ServiceError as exc:
        await audit_access(request, client, action, exc.code, card=card, target=target)
        raise
    await audit_access(
        request, client, action, "ok", card=card, target=target, detail=detail(result) if detail else None
    )
    return result


# -- registration (挂号) ----------------------------------------------------------------------------------


@hospital_router.get(
    "/registration/departments",
    response_model=DepartmentsOut,
    tags=["registration"],
    summary="Departments (科室)",
    responses=responses(*HIS_ERRORS),
)
async def list_departments(request: Request, client: Kiosk) -> DepartmentsOut:
    his = _his(services_of(request))
    departments = await call_service(his.departments)
    return DepartmentsOut(departments=[DepartmentOut.model_validate(d) for d in departments])


@hospital_router.get(
    "/registration/departments/{department_id}/doctors",
    response_model=DoctorsOut,
    tags=["registration"],
    summary="Doctors of a department",
    responses=responses(*HIS_ERRORS),
)
async def list_doctors(request: Request, client: Kiosk, department_id: str) -> DoctorsOut:
    his = _his(services_of(request))
    doctors = await call_service(lambda: his.doctors(department_id))
    return DoctorsOut(doctors=[DoctorOut.model_validate(d) for d in doctors])


@hospital_router.get(
    "/registration/slots",
    response_model=SlotsOut,
    tags=["registration"],
    summary="Bookable slots (号源) of a department, optionally one doctor, in a date range",
    responses=responses(*HIS_ERRORS),
)
async def list_slots(
    request: Request,
    client: Kiosk,
    department: Annotated[str, Query(max_length=64)],
    doctor: Annotated[str | None, Query(max_length=64)] = None,
    date_from: Annotated[_dt.date | None, Query(description="default: today")] = None,
    date_to: Annotated[_dt.date | None, Query(description="default: date_from + 6 days")] = None,
) -> SlotsOut:
    his = _his(services_of(request))
    start = date_from or _dt.datetime.now(_dt.UTC).astimezone(_CHINA).date()
    end = date_to or start + _dt.timedelta(days=6)
    if end < start:
        raise ServiceError("invalid_request", "date_to is before date_from")
    slots = await call_service(lambda: his.slots(department, doctor_id=doctor, date_from=start, date_to=end))
    return SlotsOut(slots=[SlotOut.model_validate(s) for s in slots])


_CHINA = _dt.timezone(_dt.timedelta(hours=8), "CST")


def _registration_out(registration: Any, view: CardView) -> RegistrationOut:
    return RegistrationOut.model_validate({**registration.__dict__, "patient": view.masked_card_number})


@hospital_router.post(
    "/registration/bookings",
    response_model=RegistrationOut,
    status_code=201,
    tags=["registration"],
    summary="Book a slot for the card holder in the reader (挂号)",
    description="Creates the registration and its registration-fee bill (pay it at /v1/payments). "
    "Repeating the request with the same Idempotency-Key returns the same registration.",
    responses=responses(*PATIENT_ERRORS, *HIS_ERRORS, "slot_full"),
)
async def book(
    request: Request,
    client: Kiosk,
    body: BookingIn,
    idempotency_key: IdempotencyKey,
    x_card_id: CardIdHeader = None,
) -> RegistrationOut:
    services = services_of(request)
    his = _his(services)
    services.limiter.take(client.name)
    view, patient = await patient_of(services, body.reader, x_card_id)
    registration = await _audited(
        request, client, "registration.book",
        lambda: his.book(patient, body.slot_id, idempotency_key=scoped_key(client, idempotency_key)),
        card=view.masked_card_number, target=body.slot_id,
        detail=lambda r: {"registration": r.id, "queue_number": r.queue_number, "fee_fen": r.fee_fen},
    )  # fmt: skip
    return _registration_out(registration, view)


@hospital_router.get(
    "/registration/bookings",
    response_model=RegistrationsOut,
    tags=["registration"],
    summary="The card holder's registrations (我的挂号), newest visit first",
    description="Booked, paid and cancelled; print a slip with `POST /v1/print/jobs`.",
    responses=responses(*PATIENT_ERRORS, *HIS_ERRORS),
)
async def list_bookings(
    request: Request, client: Kiosk, reader: ReaderQuery = "default", x_card_id: CardIdHeader = None
) -> RegistrationsOut:
    services = services_of(request)
    his = _his(services)
    view, patient = await patient_of(services, reader, x_card_id)
    registrations = await call_service(lambda: his.registrations(patient))
    return RegistrationsOut(
        card=view.masked_card_number, registrations=[_registration_out(r, view) for r in registrations]
    )


@hospital_router.post(
    "/registration/bookings/{registration_id}/cancel",
    response_model=RegistrationOut,
    tags=["registration"],
    summary="Cancel the card holder's registration (退号), before it is paid",
    responses=responses(*PATIENT_ERRORS, *HIS_ERRORS, "already_cancelled"),
)
async def cancel_booking(
    request: Request,
    client: Kiosk,
    registration_id: str,
    idempotency_key: IdempotencyKey,
    reader: ReaderQuery = "default",
    x_card_id: CardIdHeader = None,
) -> RegistrationOut:
    services = services_of(request)
    his = _his(services)
    services.limiter.take(client.name)
    view, patient = await patient_of(services, reader, x_card_id)
    registration = await _audited(
        request, client, "registration.cancel",
        lambda: his.cancel_registration(patient, registration_id,
                                        idempotency_key=scoped_key(client, idempotency_key)),
        card=view.masked_card_number, target=registration_id,
    )  # fmt: skip
    return _registration_out(registration, view)
