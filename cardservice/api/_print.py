"""/v1/print: print the card holder's registration slip (挂号单), payment receipt (缴费收据) or lab report
(检验报告单) on the kiosk's receipt printer, through the persistent print queue
(:class:`cardservice.printing.PrintQueue`).

**What is printed comes from the records, for the card in the reader.** A kiosk names a registration,
an order or a lab report; the daemon fetches it for the card holder (another patient's record is "not
found") and lays out the ticket itself, so no client can print arbitrary text as a hospital document.

**A job is accepted, then printed.** ``POST /v1/print/jobs`` answers ``202`` with the job at once;
``GET /v1/print/jobs/{job_ref}?wait=10`` waits until it is ``printed``, ``held`` (the printer has a
problem: ``error.message_zh`` says which, e.g. 打印机缺纸; it prints by itself once the printer is
ready), ``failed`` or ``cancelled``. A patient who gives up on a held job cancels it, so it does not
print later for the next person. A failed job (interrupted, outcome unknown) is never resent by itself:
``reprint`` prints a copy marked 【补打】, for the same card only.

Jobs belong to the API client that made them; an admin key sees all of this station's jobs.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cardservice.api._deps import ApiClient, CardIdHeader, Kiosk, Services, audit_access, services_of
from cardservice.api._errors import responses
from cardservice.api._hospital import (
    HIS_ERRORS,
    PATIENT_ERRORS,
    IdempotencyKey,
    ReaderQuery,
    call_service,
    patient_of,
    scoped_key,
)
from cardservice.api._security import scope_allows
from cardservice.readers import CardView, ServiceError

__all__ = ["print_router"]

T = TypeVar("T")

print_router = APIRouter(prefix="/v1/print", tags=["printing"])

JobRef = Annotated[str, Path(max_length=32, description="the job's reference, from POST /v1/print/jobs")]

_QUEUE_ERRORS = ("print_unavailable", "unknown_printer", "idempotency_conflict")
# The queue's codes as the API's (cardservice.api._errors): its own names are generic.
_CODES = {"job_not_found": "print_job_not_found", "queue_unavailable": "print_unavailable",
          "invalid_job": "not_printable"}  # fmt: skip


# -- schemas ---------------------------------------------------------------------------------------------


class JobErrorOut(BaseModel):
    code: str = Field(examples=["paper_out"])
    message: str
    message_zh: str = Field(examples=["打印机缺纸，请联系工作人员更换纸卷"])


class JobOut(BaseModel):
    job_ref: str = Field(examples=["pj_3f9a1c2b7d4e5f60"])
    kind: str = Field(description="registration_slip / payment_receipt / lab_report")
    printer: str
    status: str = Field(
        description="queued, printing, printed; held (the printer has a problem, see `error`: it prints by "
        "itself once the printer is ready); failed (see `error`: reprint on request); cancelled"
    )
    finished: bool = Field(description="printed, failed or cancelled: nothing more happens by itself")
    attempts: int
    error: JobErrorOut | None
    reprint_of: str | None = Field(description="the job this one copies (补打)")
    card: str | None = Field(description="the card holder, masked")
    created_at: _dt.datetime
    updated_at: _dt.datetime
    printed_at: _dt.datetime | None


class JobsOut(BaseModel):
    jobs: list[JobOut]


class PreviewOut(BaseModel):
    job_ref: str
    pages: list[str] = Field(description="each ticket as text, line by line as it prints")


class PrinterOut(BaseModel):
    name: str
    default: bool
    ready: bool = Field(description="false while the printer reports a problem (then `problem` says which)")
    problem: JobErrorOut | None


class PrintersOut(BaseModel):
    printers: list[PrinterOut]


class _PrintIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reader: str = Field(default="default", max_length=128, description="reader of the patient's card")
    printer: str | None = Field(default=None, max_length=64, description="default: the first configured")


class SlipIn(_PrintIn):
    kind: Literal["registration_slip"]
    registration_id: str = Field(min_length=1, max_length=64, description="from /v1/registration/bookings")


class ReceiptIn(_PrintIn):
    kind: Literal["payment_receipt"]
    order_reference: str = Field(min_length=1, max_length=64, description="a paid order of /v1/payments")


class LabReportIn(_PrintIn):
    kind: Literal["lab_report"]
    report_id: str = Field(min_length=1, max_length=64, description="from /v1/print/lab-reports")


PrintIn = Annotated[SlipIn | ReceiptIn | LabReportIn, Field(discriminator="kind")]


class ReprintIn(_PrintIn):
    pass


class LabReportSummaryOut(BaseModel):
    id: str
    title: str = Field(examples=["血常规"])
    specimen: str
    department: str | None
    doctor_name: str | None
    collected_at: _dt.datetime
    reported_at: _dt.datetime
    items: int = Field(description="number of result lines")
    abnormal: int = Field(description="results outside their reference range (↑ ↓ *)")


class LabReportsOut(BaseModel):
    card: str = Field(description="the card holder, masked")
    lab_reports: list[LabReportSummaryOut]


# -- plumbing --------------------------------------------------------------------------------------------


def _queue(services: Services) -> Any:
    if services.print_queue is None:
        raise ServiceError("print_unavailable", "no printer is configured for this daemon")
    return services.print_queue


def _service_error(exc: Any) -> ServiceError:
    return ServiceError(_CODES.get(exc.code, exc.code), exc.message, **exc.details)


async def _call(operation: Callable[[], T]) -> T:
    """Run a blocking call (queue, HIS, payments) on a worker thread; its errors become API errors."""
    from cardservice.printing import NotPrintable, PrintQueueError

    try:
        return await call_service(operation)
    except PrintQueueError as exc:
        raise _service_error(exc) from None
    except NotPrintable as exc:
        raise ServiceError("not_printable", exc.message, reason_zh=exc.message_zh) from None


def _job_out(job: Any) -> JobOut:
    error = None if job.error is None else JobErrorOut(**vars(job.error))
    fields = {name: getattr(job, name) for name in JobOut.model_fields if name not in ("error", "finished")}
    return JobOut(**fields, error=error, finished=job.finished)


def _own_job(queue: Any, client: ApiClient, job_ref: str) -> Any:
    """The job, if this client made it (an admin sees every job); otherwise "not found"."""
    from cardservice.printing import PrintQueueError

    job = queue.get(job_ref)
    if job.client_id != client.name and not scope_allows(client.scopes, "admin"):
        raise PrintQueueError("job_not_found", f"no print job {job_ref}")
    return job


def _document(
    services: Services, body: SlipIn | ReceiptIn | LabReportIn, view: CardView, patient: Any
) -> Any:
    """The ticket's input, from the card holder's own records (blocking: HIS and database calls)."""
    from cardservice.his import NotFound
    from cardservice.printing import lab_report_of, payment_receipt_of, registration_slip_of

    his = services.his
    if his is None:
        raise ServiceError("his_unavailable", "no HIS is configured for this daemon")
    hospital = services.hospital_name
    if isinstance(body, SlipIn):
        found = [r for r in his.registrations(patient) if r.id == body.registration_id]
        if not found:
            raise NotFound(f"no registration {body.registration_id!r} of this patient")
        return registration_slip_of(found[0], patient.name, hospital=hospital)
    if isinstance(body, ReceiptIn):
        if services.payments is None:
            raise ServiceError("payment_unavailable", "payments are not configured on this daemon")
        order = services.payments.get_order(body.order_reference, patient=patient)
        bill = his.bill(patient, order.bill_id) if order.kind == "bill" and order.bill_id else None
        return payment_receipt_of(order, bill, patient.name, hospital=hospital)
    reports = [r for r in his.lab_reports(patient) if r.id == body.report_id]
    if not reports:
        raise NotFound(f"no lab report {body.report_id!r} of this patient")
    holder = view.identity.cardholder
    return lab_report_of(reports[0], patient.name, sex=holder.sex, birth_date=holder.birth_date,
                         hospital=hospital)  # fmt: skip


def _target(body: SlipIn | ReceiptIn | LabReportIn) -> str:
    if isinstance(body, SlipIn):
        return body.registration_id
    return body.order_reference if isinstance(body, ReceiptIn) else body.report_id


# -- routes ----------------------------------------------------------------------------------------------


@print_router.get(
    "/printers", response_model=PrintersOut, summary="The receipt printers and whether they can print now",
    description="A kiosk asks before it offers printing: `ready: false` with `problem.message_zh` "
    "(打印机缺纸, 打印机盖未关好, ...) is what to show instead.",
    responses=responses("print_unavailable"),
)  # fmt: skip
async def printers(request: Request, client: Kiosk) -> PrintersOut:
    queue = _queue(services_of(request))
    problems = queue.printer_problems()
    names = queue.printers
    return PrintersOut(
        printers=[
            PrinterOut(
                name=name,
                default=index == 0,
                ready=name not in problems,
                problem=JobErrorOut(**vars(problems[name])) if name in problems else None,
            )
            for index, name in enumerate(names)
        ]
    )


@print_router.post(
    "/jobs", response_model=JobOut, status_code=202,
    summary="Print the card holder's registration slip, payment receipt or lab report",
    description="Body by `kind`: `registration_slip` + `registration_id`, `payment_receipt` + "
    "`order_reference` (a paid order), `lab_report` + `report_id`. The daemon fetches the record for the "
    "card in `reader` and lays the ticket out. Answers at once with the queued job; follow it with "
    "`GET /v1/print/jobs/{job_ref}?wait=10`. The same Idempotency-Key again returns the same job.",
    responses=responses(*PATIENT_ERRORS, *HIS_ERRORS, *_QUEUE_ERRORS, "order_not_found", "not_printable",
                        "payment_unavailable"),
)  # fmt: skip
async def submit(
    request: Request, client: Kiosk, body: PrintIn, idempotency_key: IdempotencyKey,
    x_card_id: CardIdHeader = None,
) -> JobOut:  # fmt: skip
    services = services_of(request)
    queue = _queue(services)
    services.limiter.take(client.name)
    view, patient = await patient_of(services, body.reader, x_card_id)
    action = f"print.{body.kind}"
    try:
        document = await _call(lambda: _document(services, body, view, patient))
        job = await _call(
            lambda: queue.submit(client.name, scoped_key(client, idempotency_key), body.kind, document,
                                 body.printer, card=patient.card_number)
        )  # fmt: skip
    except ServiceError as exc:
        await audit_access(request, client, action, exc.code, card=view.masked_card_number,
                           target=_target(body))  # fmt: skip
        raise
    await audit_access(request, client, action, "queued", card=view.masked_card_number, target=_target(body),
                       detail={"job": job.job_ref, "printer": job.printer})  # fmt: skip
    return _job_out(job)


@print_router.get(
    "/jobs", response_model=JobsOut, summary="This client's print jobs, newest first",
    responses=responses("print_unavailable"),
)  # fmt: skip
async def list_jobs(
    request: Request,
    client: Kiosk,
    status: Annotated[
        Literal["queued", "printing", "printed", "held", "failed", "cancelled"] | None, Query()
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JobsOut:
    queue = _queue(services_of(request))
    everyone = scope_allows(client.scopes, "admin")
    jobs = await _call(
        lambda: queue.list(client_id=None if everyone else client.name, status=status, limit=limit)
    )
    return JobsOut(jobs=[_job_out(job) for job in jobs])


@print_router.get(
    "/jobs/{job_ref}", response_model=JobOut, summary="One print job; `wait` for it to finish",
    description="`wait` (seconds, up to 30): answer once the job is no longer queued or printing.",
    responses=responses("print_unavailable", "print_job_not_found"),
)  # fmt: skip
async def get_job(
    request: Request,
    client: Kiosk,
    job_ref: JobRef,
    wait: Annotated[float, Query(ge=0, le=30, description="seconds to wait for the job to finish")] = 0,
) -> JobOut:
    queue = _queue(services_of(request))
    job = await _call(lambda: _own_job(queue, client, job_ref))
    if wait > 0 and not job.finished and job.status != "held":
        job = await _call(lambda: queue.wait(job_ref, timeout=wait))
    return _job_out(job)


@print_router.get(
    "/jobs/{job_ref}/preview", response_model=PreviewOut, summary="The job's ticket as text",
    description="What the printer prints, line by line, one string per ticket (a lab report may have "
    "several): for a kiosk's screen, or to check a job without paper.",
    responses=responses("print_unavailable", "print_job_not_found"),
)  # fmt: skip
async def preview(request: Request, client: Kiosk, job_ref: JobRef) -> PreviewOut:
    queue = _queue(services_of(request))

    def pages() -> tuple[str, ...]:
        _own_job(queue, client, job_ref)
        return tuple(queue.preview(job_ref))

    return PreviewOut(job_ref=job_ref, pages=list(await _call(pages)))


@print_router.post(
    "/jobs/{job_ref}/cancel", response_model=JobOut, summary="Cancel a queued or held job",
    description="For a patient who leaves while the printer is out of paper: the held job must not print "
    "later for the next person. A job already printing or finished cannot be cancelled (409).",
    responses=responses("print_unavailable", "print_job_not_found", "job_not_cancellable"),
)  # fmt: skip
async def cancel(request: Request, client: Kiosk, job_ref: JobRef) -> JobOut:
    queue = _queue(services_of(request))

    def do() -> Any:
        _own_job(queue, client, job_ref)
        return queue.cancel(job_ref, actor=client.name)

    return _job_out(await _call(do))


@print_router.post(
    "/jobs/{job_ref}/reprint", response_model=JobOut, status_code=202,
    summary="Print a finished job again (补打), for the same card holder",
    description="A new job, marked 【补打】 on the ticket. Only for a finished job (a queued or held one "
    "still prints by itself) and only with the card it was printed for in `reader` (403 card_mismatch).",
    responses=responses(*PATIENT_ERRORS, *_QUEUE_ERRORS, "print_job_not_found", "job_not_finished",
                        "card_mismatch"),
)  # fmt: skip
async def reprint(
    request: Request, client: Kiosk, job_ref: JobRef, body: ReprintIn, idempotency_key: IdempotencyKey,
    x_card_id: CardIdHeader = None,
) -> JobOut:  # fmt: skip
    services = services_of(request)
    queue = _queue(services)
    services.limiter.take(client.name)
    view, patient = await patient_of(services, body.reader, x_card_id)

    def do() -> Any:
        _own_job(queue, client, job_ref)
        key = scoped_key(client, idempotency_key)
        return queue.reprint(job_ref, client_id=client.name, idempotency_key=key, printer=body.printer,
                             card=patient.card_number)  # fmt: skip

    try:
        job = await _call(do)
    except ServiceError as exc:
        await audit_access(request, client, "print.reprint", exc.code, card=view.masked_card_number,
                           target=job_ref)  # fmt: skip
        raise
    await audit_access(request, client, "print.reprint", "queued", card=view.masked_card_number,
                       target=job_ref, detail={"job": job.job_ref, "printer": job.printer})  # fmt: skip
    return _job_out(job)


@print_router.get(
    "/lab-reports", response_model=LabReportsOut, summary="The card holder's lab reports (检验报告)",
    description="Newest first; print one with `POST /v1/print/jobs` `{\"kind\": \"lab_report\", "
    "\"report_id\": ...}`. The results themselves are only ever printed, never returned here.",
    responses=responses(*PATIENT_ERRORS, *HIS_ERRORS, "print_unavailable"),
)  # fmt: skip
async def lab_reports(
    request: Request, client: Kiosk, reader: ReaderQuery = "default", x_card_id: CardIdHeader = None
) -> LabReportsOut:
    services = services_of(request)
    _queue(services)  # a list of reports that cannot be printed here is no use to a kiosk
    his = services.his
    if his is None:
        raise ServiceError("his_unavailable", "no HIS is configured for this daemon")
    view, patient = await patient_of(services, reader, x_card_id)
    reports = await call_service(lambda: his.lab_reports(patient))
    await audit_access(request, client, "print.lab_reports", "ok", card=view.masked_card_number, target=None,
                       detail={"reports": len(reports)})  # fmt: skip
    return LabReportsOut(
        card=view.masked_card_number,
        lab_reports=[
            LabReportSummaryOut(
                id=r.id,
                title=r.title,
                specimen=r.specimen,
                department=r.department,
                doctor_name=r.doctor_name,
                collected_at=r.collected_at,
                reported_at=r.reported_at,
                items=len(r.items),
                abnormal=sum(1 for item in r.items if item.abnormal),
            )
            for r in reports
        ],
    )
