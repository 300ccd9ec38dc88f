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

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request

from cardservice.api._deps import (
    HIS_ERRORS,
    PATIENT_ERRORS,
    ApiClient,
    CardIdHeader,
    HisService,
    IdempotencyKey,
    Kiosk,
    PrintService,
    ReaderQuery,
    Services,
    audited,
    call_service,
    patient_of,
    services_of,
)
from cardservice.api._errors import responses
from cardservice.api._security import scope_allows
from cardservice.api.schemas.printing import (
    JobErrorOut,
    JobOut,
    JobsOut,
    LabReportIn,
    LabReportsOut,
    LabReportSummaryOut,
    PreviewOut,
    PrinterOut,
    PrintersOut,
    PrintIn,
    ReceiptIn,
    ReprintIn,
    SlipIn,
)
from cardservice.errors import ServiceError
from cardservice.his import HisConnector, NotFound, Patient
from cardservice.printing import (
    Job,
    JobNotFound,
    PrintQueue,
    lab_report_of,
    payment_receipt_of,
    registration_slip_of,
)
from cardservice.readers import CardView
from cardservice.store import scoped_key

__all__ = ["router"]

router = APIRouter(prefix="/v1/print", tags=["printing"])

JobRef = Annotated[str, Path(max_length=32, description="the job's reference, from POST /v1/print/jobs")]

_QUEUE_ERRORS = ("print_unavailable", "unknown_printer", "idempotency_conflict")


# -- plumbing --------------------------------------------------------------------------------------------


def _job_out(job: Job) -> JobOut:
    error = None if job.error is None else JobErrorOut(**vars(job.error))
    fields = {name: getattr(job, name) for name in JobOut.model_fields if name not in ("error", "finished")}
    return JobOut(**fields, error=error, finished=job.finished)


def _own_job(queue: PrintQueue, client: ApiClient, job_ref: str) -> Job:
    """The job, if this client made it (an admin sees every job); otherwise "not found"."""
    job = queue.get(job_ref)
    if job.client_id != client.name and not scope_allows(client.scopes, "admin"):
        raise JobNotFound(f"no print job {job_ref}")
    return job


def _document(
    services: Services, his: HisConnector, body: SlipIn | ReceiptIn | LabReportIn, view: CardView,
    patient: Patient,
) -> Any:  # fmt: skip
    """The ticket's input, from the card holder's own records (blocking: HIS and database calls)."""
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


def _queued(job: Job) -> dict[str, Any]:
    return {"job": job.job_ref, "printer": job.printer}


# -- routes ----------------------------------------------------------------------------------------------


@router.get(
    "/printers", response_model=PrintersOut, summary="The receipt printers and whether they can print now",
    description="A kiosk asks before it offers printing: `ready: false` with `problem.message_zh` "
    "(打印机缺纸, 打印机盖未关好, ...) is what to show instead.",
    responses=responses("print_unavailable"),
)  # fmt: skip
async def printers(client: Kiosk, queue: PrintService) -> PrintersOut:
    problems = queue.printer_problems()
    return PrintersOut(
        printers=[
            PrinterOut(
                name=name,
                default=index == 0,
                ready=name not in problems,
                problem=JobErrorOut(**vars(problems[name])) if name in problems else None,
            )
            for index, name in enumerate(queue.printers)
        ]
    )


@router.post(
    "/jobs", response_model=JobOut, status_code=202,
    summary="Print the card holder's registration slip, payment receipt or lab report",
    description="Body by `kind`: `registration_slip` + `registration_id`, `payment_receipt` + "
    "`order_reference` (a paid order), `lab_report` + `report_id`. The daemon fetches the record for the "
    "card in `reader` and lays the ticket out. Answers at once with the queued job; follow it with "
    "`GET /v1/print/jobs/{job_ref}?wait=10`. The same Idempotency-Key again returns the same job.",
    responses=responses("rate_limited", *PATIENT_ERRORS, *HIS_ERRORS, *_QUEUE_ERRORS, "order_not_found",
                        "not_printable", "payment_unavailable"),
)  # fmt: skip
async def submit(
    request: Request, client: Kiosk, queue: PrintService, his: HisService, body: PrintIn,
    idempotency_key: IdempotencyKey, x_card_id: CardIdHeader = None,
) -> JobOut:  # fmt: skip
    services = services_of(request)
    services.limiter.take(client.name)
    view, patient = await patient_of(services, body.reader, x_card_id, client=client)
    key = scoped_key(client.name, idempotency_key)

    def queue_it() -> Job:
        document = _document(services, his, body, view, patient)
        return queue.submit(client.name, key, body.kind, document, body.printer, card=patient.card_number)

    job = await audited(
        request, client, f"print.{body.kind}", queue_it, card=view.masked_card_number, target=_target(body),
        result=lambda job: "queued", detail=_queued,
    )  # fmt: skip
    return _job_out(job)


@router.get(
    "/jobs", response_model=JobsOut, summary="This client's print jobs, newest first",
    responses=responses("print_unavailable"),
)  # fmt: skip
async def list_jobs(
    client: Kiosk,
    queue: PrintService,
    status: Annotated[
        Literal["queued", "printing", "printed", "held", "failed", "cancelled"] | None, Query()
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JobsOut:
    everyone = scope_allows(client.scopes, "admin")
    jobs = await call_service(
        lambda: queue.list(client_id=None if everyone else client.name, status=status, limit=limit)
    )
    return JobsOut(jobs=[_job_out(job) for job in jobs])


@router.get(
    "/jobs/{job_ref}", response_model=JobOut, summary="One print job; `wait` for it to finish",
    description="`wait` (seconds, up to 30): answer once the job is no longer queued or printing.",
    responses=responses("print_unavailable", "print_job_not_found"),
)  # fmt: skip
async def get_job(
    client: Kiosk,
    queue: PrintService,
    job_ref: JobRef,
    wait: Annotated[float, Query(ge=0, le=30, description="seconds to wait for the job to finish")] = 0,
) -> JobOut:
    job = await call_service(lambda: _own_job(queue, client, job_ref))
    if wait > 0 and not job.finished and job.status != "held":
        job = await call_service(lambda: queue.wait(job_ref, timeout=wait))
    return _job_out(job)


@router.get(
    "/jobs/{job_ref}/preview", response_model=PreviewOut, summary="The job's ticket as text",
    description="What the printer prints, line by line, one string per ticket (a lab report may have "
    "several): for a kiosk's screen, or to check a job without paper. Only while the card the job was made "
    "for is in `reader` (403 card_mismatch; 409 no_card / card_removed once the patient has left).",
    responses=responses(*PATIENT_ERRORS, "print_unavailable", "print_job_not_found", "card_mismatch"),
)  # fmt: skip
async def preview(
    request: Request, client: Kiosk, queue: PrintService, job_ref: JobRef, reader: ReaderQuery = "default",
    x_card_id: CardIdHeader = None,
) -> PreviewOut:  # fmt: skip
    _, patient = await patient_of(services_of(request), reader, x_card_id, client=client)

    def pages() -> tuple[str, ...]:
        _own_job(queue, client, job_ref)
        queue.check_holder(job_ref, patient.card_number)  # a lab report's text is the patient's
        return tuple(queue.preview(job_ref))

    return PreviewOut(job_ref=job_ref, pages=list(await call_service(pages)))


@router.post(
    "/jobs/{job_ref}/cancel", response_model=JobOut, summary="Cancel a queued or held job",
    description="For a patient who leaves while the printer is out of paper: the held job must not print "
    "later for the next person. A job already printing or finished cannot be cancelled (409).",
    responses=responses("print_unavailable", "print_job_not_found", "job_not_cancellable"),
)  # fmt: skip
async def cancel(client: Kiosk, queue: PrintService, job_ref: JobRef) -> JobOut:
    def do() -> Job:
        _own_job(queue, client, job_ref)
        return queue.cancel(job_ref, actor=client.name)

    return _job_out(await call_service(do))


@router.post(
    "/jobs/{job_ref}/reprint", response_model=JobOut, status_code=202,
    summary="Print a finished job again (补打), for the same card holder",
    description="A new job, marked 【补打】 on the ticket. Only for a finished job (a queued or held one "
    "still prints by itself) and only with the card it was printed for in `reader` (403 card_mismatch).",
    responses=responses("rate_limited", *PATIENT_ERRORS, *_QUEUE_ERRORS, "print_job_not_found",
                        "job_not_finished", "card_mismatch"),
)  # fmt: skip
async def reprint(
    request: Request, client: Kiosk, queue: PrintService, job_ref: JobRef, body: ReprintIn,
    idempotency_key: IdempotencyKey, x_card_id: CardIdHeader = None,
) -> JobOut:  # fmt: skip
    services = services_of(request)
    services.limiter.take(client.name)
    view, patient = await patient_of(services, body.reader, x_card_id, client=client)
    key = scoped_key(client.name, idempotency_key)

    def do() -> Job:
        _own_job(queue, client, job_ref)
        return queue.reprint(job_ref, client_id=client.name, idempotency_key=key, printer=body.printer,
                             card=patient.card_number)  # fmt: skip

    job = await audited(
        request, client, "print.reprint", do, card=view.masked_card_number, target=job_ref,
        result=lambda job: "queued", detail=_queued,
    )  # fmt: skip
    return _job_out(job)


@router.get(
    "/lab-reports", response_model=LabReportsOut, summary="The card holder's lab reports (检验报告)",
    description="Newest first; print one with `POST /v1/print/jobs` `{\"kind\": \"lab_report\", "
    "\"report_id\": ...}`. The results themselves are only ever printed, never returned here.",
    responses=responses("rate_limited", *PATIENT_ERRORS, *HIS_ERRORS, "print_unavailable"),
)  # fmt: skip
async def lab_reports(
    request: Request, client: Kiosk, queue: PrintService, his: HisService, reader: ReaderQuery = "default",
    x_card_id: CardIdHeader = None,
) -> LabReportsOut:  # fmt: skip
    # The queue is asked for only so that a kiosk without a printer is told 503: a list of reports that
    # cannot be printed here is no use to it.
    services = services_of(request)
    services.limiter.take(client.name)  # a read of the patient's data, like a card read
    view, patient = await patient_of(services, reader, x_card_id, client=client)
    reports = await audited(
        request, client, "print.lab_reports", lambda: his.lab_reports(patient), card=view.masked_card_number,
        target=None, detail=lambda found: {"reports": len(found)},
    )  # fmt: skip
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
