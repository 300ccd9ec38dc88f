"""Print jobs as values: their states and the moves between them, what the API shows of a job, and the
stored payload that becomes a ticket.

A job's life (:data:`JOB`; the queue changes a job's state only through :func:`move`)::

    submit ─> queued ──claim──> printing ──────────────────────────────> printed
               │  ^                 │ printer_error (error bits, a reply that is no status byte):
               │  └──── retry ──────┤   queued again, failed after ``max_attempts`` claims
               │                    │ paper_out / cover_open / printer_offline / printer_unreachable,
               │                    v   before or while sending: nothing or a torn part printed
               └─ printer has ─> held ──(status poll says the printer is OK again)──> printing
                  a problem         │ ──(held longer than max_hold)──> failed "expired"
    queued, held ──cancel──> cancelled
    printing ──(its worker stopped renewing the lease: the daemon died mid-send)──> failed "interrupted"
               (a worker that was only slow then finds the job no longer its own and sends nothing)
    printing ──(all sent, but the printer did not confirm it printed)──> failed (outcome unknown)
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol, get_args

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Update, update

from cardservice.printing._errors import InvalidJob
from cardservice.printing._templates import (
    LabReport,
    PaymentReceipt,
    RegistrationSlip,
    lab_report,
    mask_name,
    payment_receipt,
    registration_slip,
)
from cardservice.printing._ticket import Align, Rule, Text, Ticket
from cardservice.store import Lifecycle, PrintJobRow

__all__ = [
    "JOB",
    "JOB_KINDS",
    "AuditRecorder",
    "Job",
    "JobError",
    "JobKind",
    "JobStatus",
    "Template",
    "job_of",
    "move",
    "payload_json",
    "render",
    "reprint_payload",
    "sources",
]

JobKind = Literal["registration_slip", "payment_receipt", "lab_report"]
JOB_KINDS: tuple[str, ...] = get_args(JobKind)


class JobStatus(StrEnum):
    """Where a job is (the values stored in ``print_jobs.status``)."""

    QUEUED = "queued"
    PRINTING = "printing"
    PRINTED = "printed"
    HELD = "held"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: The moves of a job; printed, failed and cancelled are final (a reprint is a new job).
JOB: Lifecycle[JobStatus] = Lifecycle(
    "print job",
    JobStatus,
    {
        JobStatus.QUEUED: {JobStatus.PRINTING, JobStatus.HELD, JobStatus.CANCELLED},
        JobStatus.PRINTING: {JobStatus.PRINTED, JobStatus.HELD, JobStatus.QUEUED, JobStatus.FAILED},
        JobStatus.HELD: {JobStatus.PRINTING, JobStatus.FAILED, JobStatus.CANCELLED},
    },
)


def sources(target: JobStatus) -> list[JobStatus]:
    """The states from which :data:`JOB` lets a job move to ``target``, in the order of :class:`JobStatus`."""
    return [state for state in JobStatus if JOB.can(state, target)]


def move(target: JobStatus, *, source: JobStatus | None = None) -> Update:
    """``UPDATE print_jobs SET status = target WHERE status IN (...)``: the one way the queue changes a
    job's state. The states it moves from are ``source`` (refused with
    :class:`~cardservice.store.IllegalTransition` unless :data:`JOB` has that move), or else every state
    from which :data:`JOB` goes to ``target``. Callers add their own conditions and values; a job that
    moved meanwhile matches no row."""
    if source is None:
        starts = sources(target)
    else:
        starts = [JOB.state(source)]
        JOB.check(source, target)
    return (
        update(PrintJobRow)
        .where(PrintJobRow.status.in_([state.value for state in starts]))
        .values(status=JOB.state(target).value)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class JobError:
    """Why a job is held or failed: a :class:`~cardservice.printing.PrinterError` code (``paper_out``,
    ...) or ``interrupted`` / ``expired`` / ``invalid_job``, with the message a kiosk shows
    (``message_zh``)."""

    code: str
    message: str
    message_zh: str


# Errors of a job that are not the printer's.
EXPIRED = JobError(
    "expired",
    "The printer was not ready for too long; the job was dropped (reprint on request).",
    "打印机长时间未就绪，打印任务已取消，如需要请补打",
)
INTERRUPTED = JobError(
    "interrupted",
    "Printing was interrupted (the service stopped mid-job); reprint on request.",
    "打印中断（服务在打印时停止），如需要请补打",
)
UNRENDERABLE = JobError("invalid_job", "The stored job cannot be printed.", "打印内容有误，无法打印")
UNCONFIRMED = "The job was sent but the printer did not confirm it; check the paper, reprint on request."
UNCONFIRMED_ZH = "打印结果未确认，请检查出纸，如需要请补打"


@dataclass(frozen=True)
class Job:
    """A print job as the API shows it. ``job_ref`` is its public id; ``reprint_of`` the job it copies."""

    job_ref: str
    client_id: str
    idempotency_key: str | None
    kind: JobKind
    printer: str
    status: JobStatus
    attempts: int
    error: JobError | None
    reprint_of: str | None
    card: str | None  # masked
    created_at: _dt.datetime
    updated_at: _dt.datetime
    printed_at: _dt.datetime | None

    @property
    def finished(self) -> bool:
        """Printed, failed or cancelled: nothing more happens to it by itself."""
        return JOB.is_final(self.status)


def job_of(row: PrintJobRow) -> Job:
    error = None
    if row.error_code:
        error = JobError(row.error_code, row.error_message or "", row.error_message_zh or "")
    return Job(
        job_ref=row.job_ref,
        client_id=row.client_id,
        idempotency_key=row.idempotency_key,
        kind=row.kind,  # type: ignore[arg-type]  # the values of JobKind, checked at submit
        printer=row.printer,
        status=JOB.state(row.status),
        attempts=row.attempts,
        error=error,
        reprint_of=row.reprint_of,
        card=row.card,
        created_at=row.created_at,
        updated_at=row.updated_at,
        printed_at=row.printed_at,
    )


class AuditRecorder(Protocol):
    """The audit callable: :meth:`cardservice.access.AuditLog.record` fits."""

    def __call__(
        self,
        *,
        actor: str,
        action: str,
        result: str,
        card: str | None = None,
        target: str | None = None,
        detail: Mapping[str, object] | None = None,
    ) -> object: ...


# -- payloads and tickets ------------------------------------------------------------------------------

CHINA = _dt.timezone(_dt.timedelta(hours=8))
_NAME_FIELD = "patient_name"
_REPRINT_MARK = Text("【补打】", Align.CENTER, bold=True)

Template = RegistrationSlip | PaymentReceipt | LabReport
_TEMPLATES: dict[str, tuple[type[Any], Callable[[Any], Ticket]]] = {
    "registration_slip": (RegistrationSlip, registration_slip),
    "payment_receipt": (PaymentReceipt, payment_receipt),
    "lab_report": (LabReport, lab_report),
}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {kind: TypeAdapter(cls) for kind, (cls, _) in _TEMPLATES.items()}


def payload_json(kind: str, payload: Template | Mapping[str, Any], now: _dt.datetime) -> tuple[str, str]:
    """(the payload as stored, the part of the request hash it gives): validated as the template's input,
    the patient's name masked. A mapping may leave out ``printed_at`` (then: ``now``, Beijing time)."""
    cls, template = _TEMPLATES[kind]
    adapter = _ADAPTERS[kind]
    if isinstance(payload, Mapping):
        data = dict(payload)
        names = set(cls.__dataclass_fields__)
        unknown = sorted(str(key) for key in data if key not in names)
        if unknown:
            raise InvalidJob(f"unknown fields for {kind}: {', '.join(unknown)}")
    elif isinstance(payload, cls):
        data = adapter.dump_python(payload, mode="json")
    else:
        raise InvalidJob(f"a {kind} job takes a {cls.__name__} or a JSON object")
    if isinstance(data.get(_NAME_FIELD), str):
        data[_NAME_FIELD] = mask_name(data[_NAME_FIELD])
    # The print time is not part of the request: the same request retried later is the same job.
    asked = {key: value for key, value in data.items() if key != "printed_at"}
    given = json.dumps(asked, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    if data.get("printed_at") is None:
        data["printed_at"] = now.astimezone(CHINA).isoformat(timespec="seconds")
    try:
        value = adapter.validate_json(json.dumps(data, ensure_ascii=False, default=str), strict=True)
        template(value)  # a template's own checks (fen, lengths) fail here, not in the worker
        stored = adapter.dump_json(value).decode()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or kind}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise InvalidJob(f"invalid {kind}: {problems}") from None
    except (ValueError, TypeError) as exc:
        raise InvalidJob(f"invalid {kind}: {exc}") from None
    return stored, given


def reprint_payload(payload: str, now: _dt.datetime) -> str:
    """A stored payload with this print time: what a reprint stores."""
    data = json.loads(payload)
    data["printed_at"] = now.astimezone(CHINA).isoformat(timespec="seconds")
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _mark_reprint(ticket: Ticket) -> Ticket:
    """The same ticket with 【补打】 on every page, under the title (before the page's first rule)."""
    ops: list[Any] = []
    for page in ticket.pages:
        page_ops = list(page.ops)
        at = next((i for i, op in enumerate(page_ops) if isinstance(op, Rule)), 0)
        page_ops.insert(at, _REPRINT_MARK)
        ops += page_ops
    return Ticket(tuple(ops))


def render(kind: str, payload: str, *, reprint: bool) -> Ticket:
    """The ticket of a stored payload (marked 【补打】 for a reprint)."""
    _cls, template = _TEMPLATES[kind]
    ticket = template(_ADAPTERS[kind].validate_json(payload, strict=True))
    return _mark_reprint(ticket) if reprint else ticket
