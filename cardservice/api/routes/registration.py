"""/v1/registration (挂号): departments, doctors and slots of the HIS, and the bookings of the card holder
in a reader — booking (``Idempotency-Key``), 我的挂号, 退号. The HIS is the hospital's
(:mod:`cardservice.his`); the daemon relays for the card holder.

**The patient is the card in the reader.** Every patient-specific call names a reader (and may name
the ``card_id`` the kiosk saw); the daemon takes the card number and name it read from that card. No
endpoint takes an ID number typed into the kiosk, so nobody books or pays for someone else. Every call
is audited with the masked card number.
"""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from cardservice.api._deps import (
    HIS_ERRORS,
    PATIENT_ERRORS,
    CardIdHeader,
    HisService,
    IdempotencyKey,
    Kiosk,
    ReaderQuery,
    audited,
    call_service,
    patient_of,
    services_of,
)
from cardservice.api._errors import responses
from cardservice.api.schemas.registration import (
    BookingIn,
    DepartmentOut,
    DepartmentsOut,
    DoctorOut,
    DoctorsOut,
    RegistrationOut,
    RegistrationsOut,
    SlotOut,
    SlotsOut,
)
from cardservice.errors import ServiceError
from cardservice.his import CHINA_TZ
from cardservice.readers import CardView
from cardservice.store import scoped_key

__all__ = ["router"]

router = APIRouter(prefix="/v1/registration", tags=["registration"])


@router.get(
    "/departments",
    response_model=DepartmentsOut,
    summary="Departments (科室)",
    responses=responses(*HIS_ERRORS),
)
async def list_departments(client: Kiosk, his: HisService) -> DepartmentsOut:
    departments = await call_service(his.departments)
    return DepartmentsOut(departments=[DepartmentOut.model_validate(d) for d in departments])


@router.get(
    "/departments/{department_id}/doctors",
    response_model=DoctorsOut,
    summary="Doctors of a department",
    responses=responses(*HIS_ERRORS),
)
async def list_doctors(client: Kiosk, his: HisService, department_id: str) -> DoctorsOut:
    doctors = await call_service(lambda: his.doctors(department_id))
    return DoctorsOut(doctors=[DoctorOut.model_validate(d) for d in doctors])


@router.get(
    "/slots",
    response_model=SlotsOut,
    summary="Bookable slots (号源) of a department, optionally one doctor, in a date range",
    responses=responses(*HIS_ERRORS),
)
async def list_slots(
    client: Kiosk,
    his: HisService,
    department: Annotated[str, Query(max_length=64)],
    doctor: Annotated[str | None, Query(max_length=64)] = None,
    date_from: Annotated[_dt.date | None, Query(description="default: today")] = None,
    date_to: Annotated[_dt.date | None, Query(description="default: date_from + 6 days")] = None,
) -> SlotsOut:
    start = date_from or _dt.datetime.now(_dt.UTC).astimezone(CHINA_TZ).date()
    end = date_to or start + _dt.timedelta(days=6)
    if end < start:
        raise ServiceError("invalid_request", "date_to is before date_from")
    slots = await call_service(lambda: his.slots(department, doctor_id=doctor, date_from=start, date_to=end))
    return SlotsOut(slots=[SlotOut.model_validate(s) for s in slots])


def _registration_out(registration: Any, view: CardView) -> RegistrationOut:
    return RegistrationOut.model_validate({**registration.__dict__, "patient": view.masked_card_number})


@router.post(
    "/bookings",
    response_model=RegistrationOut,
    status_code=201,
    summary="Book a slot for the card holder in the reader (挂号)",
    description="Creates the registration and its registration-fee bill (pay it at /v1/payments). "
    "Repeating the request with the same Idempotency-Key returns the same registration.",
    responses=responses("rate_limited", *PATIENT_ERRORS, *HIS_ERRORS, "slot_full"),
)
async def book(
    request: Request,
    client: Kiosk,
    his: HisService,
    body: BookingIn,
    idempotency_key: IdempotencyKey,
    x_card_id: CardIdHeader = None,
) -> RegistrationOut:
    services = services_of(request)
    services.limiter.take(client.name)
    view, patient = await patient_of(services, body.reader, x_card_id, client=client)
    registration = await audited(
        request, client, "registration.book",
        lambda: his.book(patient, body.slot_id, idempotency_key=scoped_key(client.name, idempotency_key)),
        card=view.masked_card_number, target=body.slot_id,
        detail=lambda r: {"registration": r.id, "queue_number": r.queue_number, "fee_fen": r.fee_fen},
    )  # fmt: skip
    return _registration_out(registration, view)


@router.get(
    "/bookings",
    response_model=RegistrationsOut,
    summary="The card holder's registrations (我的挂号), newest visit first",
    description="Booked, paid and cancelled; print a slip with `POST /v1/print/jobs`.",
    responses=responses("rate_limited", *PATIENT_ERRORS, *HIS_ERRORS),
)
async def list_bookings(
    request: Request, client: Kiosk, his: HisService, reader: ReaderQuery = "default",
    x_card_id: CardIdHeader = None,
) -> RegistrationsOut:  # fmt: skip
    services = services_of(request)
    services.limiter.take(client.name)  # a read of the patient's data, like a card read
    view, patient = await patient_of(services, reader, x_card_id, client=client)
    registrations = await audited(
        request, client, "registration.list", lambda: his.registrations(patient),
        card=view.masked_card_number, target=None, detail=lambda found: {"registrations": len(found)},
    )  # fmt: skip
    return RegistrationsOut(
        card=view.masked_card_number, registrations=[_registration_out(r, view) for r in registrations]
    )


@router.post(
    "/bookings/{registration_id}/cancel",
    response_model=RegistrationOut,
    summary="Cancel the card holder's registration (退号), before it is paid",
    responses=responses("rate_limited", *PATIENT_ERRORS, *HIS_ERRORS, "already_cancelled"),
)
async def cancel_booking(
    request: Request,
    client: Kiosk,
    his: HisService,
    registration_id: str,
    idempotency_key: IdempotencyKey,
    reader: ReaderQuery = "default",
    x_card_id: CardIdHeader = None,
) -> RegistrationOut:
    services = services_of(request)
    services.limiter.take(client.name)
    view, patient = await patient_of(services, reader, x_card_id, client=client)
    registration = await audited(
        request, client, "registration.cancel",
        lambda: his.cancel_registration(patient, registration_id,
                                        idempotency_key=scoped_key(client.name, idempotency_key)),
        card=view.masked_card_number, target=registration_id,
    )  # fmt: skip
    return _registration_out(registration, view)
