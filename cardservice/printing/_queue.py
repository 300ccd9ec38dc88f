"""The persistent print queue: jobs in the database (table ``print_jobs``), one worker thread per printer.

    queue = PrintQueue(database, {"front": PrinterConfig(...)}, audit=audit_log.record)
    queue.start()                                      # the workers; the daemon calls stop() at shutdown
    job = queue.submit("kiosk-1", "key-1", "registration_slip", {...}, card=card_number)
    job = queue.wait(job.job_ref, timeout=10)          # printed / held / failed (or still queued)
    queue.reprint(job.job_ref, client_id="kiosk-1")    # a new job; 补打 on the ticket
    queue.cancel(job.job_ref, actor="kiosk-1")         # queued or held jobs only

A job's life::

    submit ─> queued ──claim──> printing ──────────────────────────────> printed
               │  ^                 │ printer_error (error bits, a reply that is no status byte):
               │  └──── retry ──────┤   queued again, failed after ``max_attempts`` claims
               │                    │ paper_out / cover_open / printer_offline / printer_unreachable,
               │                    v   before or while sending: nothing or a torn part printed
               └─ printer has ─> held ──(status poll says the printer is OK again)──> printing
                  a problem         │
    queued, held ──cancel──> cancelled
    printing ──(its worker stopped renewing the lease: the daemon died mid-send)──> failed "interrupted"
    printing ──(all sent, but the printer did not confirm it printed)──> failed (outcome unknown)

**Exactly once.** A job is printed only by the worker that moved it to ``printing`` with one conditional
UPDATE (``... WHERE status IN ('queued', 'held')``): two workers, or two daemons on one database, never
both win. It is sent again automatically only when the printer itself said the ticket was not finished:
its status before the job said it could not print (nothing was sent), the link broke or the printer
stopped taking data while sending, or its status right after sending says paper out or cover open (the
ticket stopped at paper end: the torn part is torn off and the whole job prints again). When the outcome
is unknown, nothing is resent: a job found in ``printing`` whose worker no longer renews its heartbeat
(the daemon was killed or lost power mid-send, so part or all of it may be on paper) becomes ``failed``
with ``interrupted`` ("interrupted; reprint on request"); this is checked when the queue starts and then
every second, for jobs whose heartbeat is older than ``lease`` seconds. A job whose bytes were all sent
but whose printer did not answer the status query after it fails the same way. A person decides, and
:meth:`PrintQueue.reprint` prints a copy marked 补打.

**Held jobs.** While a printer has a problem its worker polls the status (every ``poll_interval``
seconds, doubling up to ``max_poll_interval``), marks new jobs for it ``held`` with the problem (so a
kiosk can say 打印机缺纸 at once), and prints them in order once the printer answers that it is ready.
A job held longer than ``max_hold`` fails as ``expired`` instead: its patient has left the kiosk.

**What is stored.** ``payload`` is the template's input as JSON, with the patient's name already masked
as the ticket prints it (:func:`mask_name` is idempotent, so the ticket comes out the same); a card
number is only ever stored masked (``card``, for the audit). Jobs belong to a ``station`` (the host name
unless configured): a daemon's workers only take its own station's jobs, as printer names are local.

Every state change is audited through the injected callable, with the keywords of
:meth:`cardservice.audit.AuditLog.record`: ``actor``, ``action="print.<change>"``, ``result``, ``card``,
``target`` (the job reference) and ``detail`` (kind, printer, attempts, error code; no personal data).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, cast, get_args

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import CursorResult, Result, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from cardservice.healthcard import mask_id_number
from cardservice.printing._layout import preview_pages
from cardservice.printing._templates import (
    LabReport,
    PaymentReceipt,
    RegistrationSlip,
    lab_report,
    mask_name,
    payment_receipt,
    registration_slip,
)
from cardservice.printing._ticket import Align, PaperWidth, Rule, Text, Ticket
from cardservice.store import Database, PrintJobRow, describe
from drivers.printers import (
    PrinterConfig,
    PrinterError,
    can_read_status,
    open_printer,
    print_ticket,
    read_status,
)

__all__ = [
    "JOB_KINDS",
    "AuditRecorder",
    "Job",
    "JobError",
    "JobKind",
    "JobStatus",
    "PrintQueue",
    "PrintQueueError",
]

_log = logging.getLogger("cardservice.printing")

JobKind = Literal["registration_slip", "payment_receipt", "lab_report"]
JobStatus = Literal["queued", "printing", "printed", "held", "failed", "cancelled"]
JOB_KINDS: tuple[str, ...] = get_args(JobKind)
_FINISHED = ("printed", "failed", "cancelled")
_WAITING = ("queued", "held")
# The printer said it cannot print now: keep the job, print it when the printer is ready.
_HOLD_CODES = ("paper_out", "cover_open", "printer_offline", "printer_unreachable")
_CHINA = _dt.timezone(_dt.timedelta(hours=8))
_KEY = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_CLIENT = re.compile(r"\S.{0,127}", re.DOTALL)
_NAME_FIELD = "patient_name"
_REPRINT_MARK = Text("【补打】", Align.CENTER, bold=True)

_Template = RegistrationSlip | PaymentReceipt | LabReport
_TEMPLATES: dict[str, tuple[type[Any], Callable[[Any], Ticket]]] = {
    "registration_slip": (RegistrationSlip, registration_slip),
    "payment_receipt": (PaymentReceipt, payment_receipt),
    "lab_report": (LabReport, lab_report),
}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {kind: TypeAdapter(cls) for kind, (cls, _) in _TEMPLATES.items()}

# Errors of a job that are not the printer's (the printer's are PrinterError codes).
_EXPIRED = (
    "expired",
    "The printer was not ready for too long; the job was dropped (reprint on request).",
    "打印机长时间未就绪，打印任务已取消，如需要请补打",
)
_INTERRUPTED = (
    "interrupted",
    "Printing was interrupted (the service stopped mid-job); reprint on request.",
    "打印中断（服务在打印时停止），如需要请补打",
)
_UNCONFIRMED = "The job was sent but the printer did not confirm it; check the paper, reprint on request."
_UNCONFIRMED_ZH = "打印结果未确认，请检查出纸，如需要请补打"


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


# -- errors and values ---------------------------------------------------------------------------------

# code: (English, 中文). Suggested HTTP statuses for the route layer in PrintQueueError's docstring.
_QUEUE_ERRORS: dict[str, str] = {
    "job_not_found": "未找到该打印任务",
    "invalid_job": "打印内容不正确",
    "unknown_printer": "未配置该打印机",
    "idempotency_conflict": "请求标识已用于其他打印请求",
    "job_not_cancellable": "该打印任务已在打印或已结束，无法取消",
    "job_not_finished": "该打印任务尚未结束，无需补打",
    "card_mismatch": "只能由持卡人本人补打",
    "queue_unavailable": "打印队列暂时不可用，请稍后再试",
}


class PrintQueueError(Exception):
    """A request to the queue that cannot be done. ``code`` (suggested HTTP status): ``job_not_found``
    (404), ``invalid_job`` (422), ``unknown_printer`` (422), ``idempotency_conflict`` (409),
    ``job_not_cancellable`` (409), ``job_not_finished`` (409), ``card_mismatch`` (403, a reprint without
    the card the job was printed for), ``queue_unavailable`` (503, the
    database). ``message`` English, ``message_zh`` Chinese, ``details`` facts (never personal data).
    Printer problems are never raised here: they are a job's :attr:`Job.error`."""

    def __init__(self, code: str, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.message_zh = _QUEUE_ERRORS[code]
        self.details: dict[str, Any] = dict(details or {})


@dataclass(frozen=True)
class JobError:
    """Why a job is held or failed: a :class:`~drivers.printers.PrinterError` code (``paper_out``, ...)
    or ``interrupted`` / ``invalid_job``, with the message a kiosk shows (``message_zh``)."""

    code: str
    message: str
    message_zh: str


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
        return self.status in _FINISHED


class AuditRecorder(Protocol):
    """The audit callable: :meth:`cardservice.audit.AuditLog.record` fits."""

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


def _job(row: PrintJobRow) -> Job:
    error = None
    if row.error_code:
        error = JobError(row.error_code, row.error_message or "", row.error_message_zh or "")
    return Job(
        job_ref=row.job_ref,
        client_id=row.client_id,
        idempotency_key=row.idempotency_key,
        kind=row.kind,  # type: ignore[arg-type]  # the CHECKed values of JobKind
        printer=row.printer,
        status=row.status,  # type: ignore[arg-type]
        attempts=row.attempts,
        error=error,
        reprint_of=row.reprint_of,
        card=row.card,
        created_at=row.created_at,
        updated_at=row.updated_at,
        printed_at=row.printed_at,
    )


# -- payloads and tickets ------------------------------------------------------------------------------


def _payload_json(kind: str, payload: _Template | Mapping[str, Any], now: _dt.datetime) -> tuple[str, str]:
    """(the payload as stored, the part of the request hash it gives): validated as the template's input,
    the patient's name masked. A mapping may leave out ``printed_at`` (then: ``now``, Beijing time)."""
    cls, _render = _TEMPLATES[kind]
    adapter = _ADAPTERS[kind]
    if isinstance(payload, Mapping):
        data = dict(payload)
        names = set(cls.__dataclass_fields__)
        unknown = sorted(str(key) for key in data if key not in names)
        if unknown:
            raise PrintQueueError("invalid_job", f"unknown fields for {kind}: {', '.join(unknown)}")
    elif isinstance(payload, cls):
        data = adapter.dump_python(payload, mode="json")
    else:
        raise PrintQueueError("invalid_job", f"a {kind} job takes a {cls.__name__} or a JSON object")
    if isinstance(data.get(_NAME_FIELD), str):
        data[_NAME_FIELD] = mask_name(data[_NAME_FIELD])
    # The print time is not part of the request: the same request retried later is the same job.
    asked = {key: value for key, value in data.items() if key != "printed_at"}
    given = json.dumps(asked, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    if data.get("printed_at") is None:
        data["printed_at"] = now.astimezone(_CHINA).isoformat(timespec="seconds")
    try:
        value = adapter.validate_json(json.dumps(data, ensure_ascii=False, default=str), strict=True)
        _render(value)  # a template's own checks (fen, lengths) fail here, not in the worker
        stored = adapter.dump_json(value).decode()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or kind}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise PrintQueueError("invalid_job", f"invalid {kind}: {problems}") from None
    except (ValueError, TypeError) as exc:
        raise PrintQueueError("invalid_job", f"invalid {kind}: {exc}") from None
    return stored, given


def _mark_reprint(ticket: Ticket) -> Ticket:
    """The same ticket with 【补打】 on every page, under the title (before the page's first rule)."""
    ops: list[Any] = []
    for page in ticket.pages:
        page_ops = list(page.ops)
        at = next((i for i, op in enumerate(page_ops) if isinstance(op, Rule)), 0)
        page_ops.insert(at, _REPRINT_MARK)
        ops += page_ops
    return Ticket(tuple(ops))


def _render(kind: str, payload: str, *, reprint: bool) -> Ticket:
    _cls, template = _TEMPLATES[kind]
    ticket = template(_ADAPTERS[kind].validate_json(payload, strict=True))
    return _mark_reprint(ticket) if reprint else ticket


def _rowcount(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


def _hash(*parts: object) -> str:
    text = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# -- one attempt at the printer ------------------------------------------------------------------------

_Outcome = Literal["printed", "held", "retry", "unknown"]


def _not_ready(exc: PrinterError) -> _Outcome:
    return "retry" if exc.code == "printer_error" else "held"


def _send(config: PrinterConfig, ticket: Ticket) -> tuple[_Outcome, PrinterError | None, bool]:
    """Print ``ticket`` once: (outcome, the printer's error, paper near end). The phases matter: an error
    before anything was sent or while sending means the ticket is not complete (print it again later);
    after everything was sent, only paper out / cover open say so, anything else leaves it unknown."""
    try:
        printer = open_printer(config)
    except PrinterError as exc:
        return _not_ready(exc), exc, False
    with closing(printer):
        ask = config.status and can_read_status(printer)
        if ask:
            try:
                before = read_status(printer)
            except PrinterError as exc:
                return _not_ready(exc), exc, False
            if before.problem:
                problem = PrinterError(before.problem, "before printing")
                return _not_ready(problem), problem, False
        try:
            print_ticket(printer, ticket, paper=config.paper, check_status=False)
        except PrinterError as exc:  # printer_offline (stopped taking data), printer_unreachable
            return "held", exc, False
        if not ask:
            return "printed", None, False
        try:
            after = read_status(printer)
        except PrinterError as exc:
            return "unknown", exc, False
        if after.problem in ("paper_out", "cover_open"):
            return "held", PrinterError(after.problem, "during printing"), False
        if after.problem:
            return "unknown", PrinterError(after.problem, "after printing"), False
        return "printed", None, after.paper_near_end


def _probe(config: PrinterConfig) -> PrinterError | None:
    """The printer's problem that holds jobs (paper out, cover open, offline, unreachable) now, or
    ``None`` when it can print as far as the link tells."""
    if config.kind == "file":
        # Opening a file printer truncates a regular file: look, do not open.
        path = Path(config.path or "")
        reachable = path.exists() or path.parent.is_dir()
        return None if reachable else PrinterError("printer_unreachable", "no such file or folder")
    try:
        with closing(open_printer(config)) as printer:
            if config.status and can_read_status(printer):
                problem = read_status(printer).problem
                if problem in _HOLD_CODES:
                    return PrinterError(problem, "status poll")
    except PrinterError as exc:
        # printer_error (error bits, garbage) does not hold jobs: they are tried, and fail after
        # max_attempts, rather than wait for a printer that may never answer sensibly.
        return exc if exc.code in _HOLD_CODES else None
    return None


@dataclass(frozen=True)
class _Claimed:
    id: int
    job_ref: str
    client_id: str
    kind: str
    printer: str
    payload: str
    attempts: int
    reprint_of: str | None
    card: str | None


# -- the queue -----------------------------------------------------------------------------------------


class PrintQueue:
    """Print jobs of this station in ``database``, printed on ``printers`` (name → config).

    ``audit``: called for every state change (see the module docstring). ``default_printer``: the
    printer of jobs that name none (default: the first). ``station``: whose jobs these are (default: the
    host name; daemons sharing a PostgreSQL database need different ones). ``max_attempts``: claims
    before a job that keeps meeting ``printer_error`` fails. ``lease``: seconds without a heartbeat after
    which a ``printing`` job counts as interrupted. ``max_hold``: seconds after its submission a job still
    held fails as ``expired`` (default: never). ``clock`` gives the current UTC time. ``holder_key``:
    the key of the card-holder digests that tie a job to its card (a reprint needs the same card;
    default: random, so only within this queue's life).

    Thread-safe; the request methods block on the database only (never on a printer) and raise
    :class:`PrintQueueError`.
    """

    def __init__(
        self,
        database: Database,
        printers: Mapping[str, PrinterConfig],
        *,
        audit: AuditRecorder,
        default_printer: str | None = None,
        station: str | None = None,
        max_attempts: int = 3,
        poll_interval: float = 1.0,
        max_poll_interval: float = 10.0,
        lease: float = 5.0,
        max_hold: float | None = None,
        clock: Callable[[], _dt.datetime] = _utcnow,
        holder_key: bytes | None = None,
    ) -> None:
        if default_printer is not None and default_printer not in printers:
            raise ValueError(f"default printer {default_printer!r} is not configured")
        if max_attempts < 1 or poll_interval <= 0 or max_poll_interval < poll_interval or lease <= 0:
            raise ValueError("max_attempts >= 1, 0 < poll_interval <= max_poll_interval, lease > 0")
        self._db = database
        self._printers = dict(printers)
        self._audit = audit
        self._default = default_printer or next(iter(self._printers), None)
        self.station = (station or socket.gethostname())[:128]
        self._instance = f"{self.station}/{os.getpid()}/{secrets.token_hex(4)}"[:200]
        self._max_attempts = max_attempts
        self._poll = poll_interval
        self._max_poll = max_poll_interval
        self._lease = _dt.timedelta(seconds=lease)
        self._max_hold = None if max_hold is None else _dt.timedelta(seconds=max_hold)
        self._heartbeat = min(1.0, lease / 4)
        self._clock = clock
        self._holder_key = holder_key or secrets.token_bytes(32)
        self._stopping = threading.Event()
        self._wake = {name: threading.Event() for name in self._printers}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._inflight: set[int] = set()
        self._problems: dict[str, PrinterError] = {}
        self._changed = threading.Condition()

    def __repr__(self) -> str:
        return f"PrintQueue({self._db.url!r}, station={self.station!r}, printers={list(self._printers)})"

    @property
    def printers(self) -> tuple[str, ...]:
        """The configured printer names; the default first."""
        names = list(self._printers)
        if self._default is not None:
            names.remove(self._default)
            names.insert(0, self._default)
        return tuple(names)

    def printer_problems(self) -> dict[str, JobError]:
        """Printers whose worker last found a problem (paper out, ...), by name: what a kiosk shows before
        it offers printing. Empty when all printed or answered fine."""
        with self._lock:
            return {name: JobError(e.code, e.message, e.message_zh) for name, e in self._problems.items()}

    # -- requests --------------------------------------------------------------------------------------

    def submit(
        self,
        client_id: str,
        idempotency_key: str | None,
        kind: str,
        payload: _Template | Mapping[str, Any],
        printer: str | None = None,
        *,
        card: str | None = None,
    ) -> Job:
        """Queue a ticket: ``kind`` is ``registration_slip``, ``payment_receipt`` or ``lab_report``;
        ``payload`` its template's input (the dataclass, or its JSON form as a mapping: dates and times
        ISO 8601, money in fen; ``printed_at`` may be left out). ``card``: the patient's card number,
        stored and audited masked. The same ``(client_id, idempotency_key)`` with the same request gives
        the same job (whatever its state); with another request, ``idempotency_conflict``."""
        self._check_client(client_id, idempotency_key)
        if kind not in _TEMPLATES:
            raise PrintQueueError("invalid_job", f"kind must be one of {', '.join(JOB_KINDS)}")
        name = self._printer(printer)
        now = self._clock()
        stored, given = _payload_json(kind, payload, now)
        masked = mask_id_number(card) if card else None
        holder = self._holder(card)
        request = _hash("submit", kind, name, given, holder)
        return self._insert(
            client_id, idempotency_key, request, kind, name, stored, masked, holder, None, now
        )

    def reprint(
        self,
        job_ref: str,
        *,
        client_id: str,
        idempotency_key: str | None = None,
        printer: str | None = None,
        card: str | None = None,
    ) -> Job:
        """A new job printing ``job_ref``'s ticket again, marked 【补打】, with this print time. Only for
        finished jobs (printed, failed, cancelled): a queued or held job still prints by itself
        (``job_not_finished``). ``printer``: default the original's when configured here. ``card``: the
        card number of the card now presented; a job printed for a card reprints only for that card
        (``card_mismatch``)."""
        self._check_client(client_id, idempotency_key)
        source = self.get(job_ref)
        with self._read() as session:
            row = session.execute(
                select(PrintJobRow.payload, PrintJobRow.holder).where(PrintJobRow.job_ref == job_ref)
            ).first()
        if row is None:  # pragma: no cover - get() found it a moment ago; jobs are never deleted
            raise PrintQueueError("job_not_found", f"no print job {job_ref}")
        payload, holder = row
        if holder is not None and not (card and hmac.compare_digest(holder, self._holder(card) or "")):
            raise PrintQueueError("card_mismatch", f"job {job_ref} was printed for another card")
        if not source.finished:
            raise PrintQueueError(
                "job_not_finished", f"job {job_ref} is {source.status}", details={"status": source.status}
            )
        if printer is None and source.printer in self._printers:
            printer = source.printer
        name = self._printer(printer)
        now = self._clock()
        data = json.loads(payload)
        data["printed_at"] = now.astimezone(_CHINA).isoformat(timespec="seconds")
        stored = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        request = _hash("reprint", job_ref, name)
        return self._insert(
            client_id, idempotency_key, request, source.kind, name, stored, source.card, holder, job_ref, now
        )

    def get(self, job_ref: str) -> Job:
        """The job ``job_ref`` of this station (``job_not_found``, also for another station's job: its
        printers are not ours)."""
        with self._read() as session:
            row = session.scalar(
                select(PrintJobRow).where(PrintJobRow.job_ref == job_ref, PrintJobRow.station == self.station)
            )
            if row is None:
                raise PrintQueueError("job_not_found", f"no print job {job_ref}")
            return _job(row)

    def list(
        self,
        *,
        client_id: str | None = None,
        status: str | None = None,
        printer: str | None = None,
        limit: int = 50,
    ) -> list[Job]:
        """This station's jobs, newest first, optionally of one client, status or printer."""
        query = select(PrintJobRow).where(PrintJobRow.station == self.station)
        if client_id is not None:
            query = query.where(PrintJobRow.client_id == client_id)
        if status is not None:
            query = query.where(PrintJobRow.status == status)
        if printer is not None:
            query = query.where(PrintJobRow.printer == printer)
        query = query.order_by(PrintJobRow.id.desc()).limit(max(1, min(limit, 1000)))
        with self._read() as session:
            return [_job(row) for row in session.scalars(query)]

    def preview(self, job_ref: str) -> tuple[str, ...]:
        """The job's ticket as text, one string per page, as the printer will print it (80 mm or 58 mm
        as its printer is configured)."""
        job = self.get(job_ref)
        with self._read() as session:
            payload = session.scalar(select(PrintJobRow.payload).where(PrintJobRow.job_ref == job_ref))
        config = self._printers.get(job.printer)
        ticket = _render(job.kind, payload or "{}", reprint=job.reprint_of is not None)
        return preview_pages(ticket, config.paper if config else PaperWidth.MM80)

    def cancel(self, job_ref: str, *, actor: str) -> Job:
        """Cancel a queued or held job (``job_not_cancellable`` once it is printing or finished)."""
        now = self._clock()
        try:
            with self._db.session() as session:
                result = session.execute(
                    update(PrintJobRow)
                    .where(
                        PrintJobRow.job_ref == job_ref,
                        PrintJobRow.station == self.station,
                        PrintJobRow.status.in_(_WAITING),
                    )
                    .values(status="cancelled", updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                changed = _rowcount(result)
        except SQLAlchemyError as exc:
            raise PrintQueueError("queue_unavailable", f"print queue database: {describe(exc)}") from None
        job = self.get(job_ref)
        if not changed:
            raise PrintQueueError(
                "job_not_cancellable", f"job {job_ref} is {job.status}", details={"status": job.status}
            )
        self._record(actor, "print.cancel", "cancelled", job.card, job.job_ref, job.kind, job.printer)
        self._notify()
        return job

    def wait(self, job_ref: str, timeout: float = 10.0) -> Job:
        """The job once it is printed, held, failed or cancelled, or as it is after ``timeout`` seconds."""
        deadline = _dt.datetime.now(_dt.UTC) + _dt.timedelta(seconds=timeout)
        while True:
            job = self.get(job_ref)
            left = (deadline - _dt.datetime.now(_dt.UTC)).total_seconds()
            if job.status not in ("queued", "printing") or left <= 0:
                return job
            with self._changed:
                self._changed.wait(min(left, 0.2))  # woken by this process's workers; polls for others

    # -- workers ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Fail the jobs left in ``printing`` by a worker that is gone (see the module docstring), then
        start one worker thread per printer and the heartbeat thread. Idempotent."""
        if self._threads:
            return
        self._stopping.clear()
        self._recover()
        for name in self._printers:
            thread = threading.Thread(target=self._work, args=(name,), name=f"print-{name}", daemon=True)
            self._threads.append(thread)
        self._threads.append(threading.Thread(target=self._keep, name="print-heartbeat", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers: a job being sent is finished first (bounded by the printer's timeouts)."""
        self._stopping.set()
        for wake in self._wake.values():
            wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def __enter__(self) -> PrintQueue:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _work(self, name: str) -> None:
        config = self._printers[name]
        wake = self._wake[name]
        blocked = True  # look at the printer first: a problem holds the waiting jobs at once
        delay = self._poll
        while not self._stopping.is_set():
            try:
                if blocked:
                    self._expire_held(name)
                    problem = _probe(config)
                    if problem is not None:
                        self._set_problem(name, problem)
                        self._hold_waiting(name, problem)
                        self._stopping.wait(delay)
                        delay = min(delay * 2, self._max_poll)
                        continue
                    blocked, delay = False, self._poll
                    self._set_problem(name, None)
                job = self._claim(name)
                if job is None:
                    wake.wait(self._poll)
                    wake.clear()
                    continue
                outcome = self._print(config, job)
                if outcome in ("held", "retry"):
                    blocked = outcome == "held"
                    self._stopping.wait(self._poll)
            except Exception:  # a database outage must not end the worker
                _log.exception("print worker %s", name)
                self._stopping.wait(self._poll)

    def _print(self, config: PrinterConfig, job: _Claimed) -> _Outcome | Literal["failed"]:
        with self._lock:
            self._inflight.add(job.id)
        try:
            try:
                ticket = _render(job.kind, job.payload, reprint=job.reprint_of is not None)
            except (ValidationError, ValueError, TypeError) as bad:
                _log.error("job %s cannot be rendered: %s", job.job_ref, type(bad).__name__)
                error = ("invalid_job", "The stored job cannot be printed.", "打印内容有误，无法打印")
                self._finish(job, "failed", error)
                return "failed"
            outcome, exc, near_end = _send(config, ticket)
        finally:
            with self._lock:
                self._inflight.discard(job.id)
        if outcome == "printed":
            self._set_problem(job.printer, None)
            self._finish(job, "printed", None, near_end=near_end)
            return outcome
        assert exc is not None
        _log.warning("job %s on %s: %s (%s)", job.job_ref, job.printer, exc.code, exc.detail)
        reason = (exc.code, exc.message, exc.message_zh)
        if outcome == "held":
            self._set_problem(job.printer, exc)
            self._finish(job, "held", reason)
        elif outcome == "retry" and job.attempts < self._max_attempts:
            self._finish(job, "queued", reason)
        elif outcome == "retry":
            self._finish(job, "failed", reason)
            return "failed"
        else:
            self._finish(job, "failed", (exc.code, _UNCONFIRMED, _UNCONFIRMED_ZH))
            return "failed"
        return outcome

    def _claim(self, name: str) -> _Claimed | None:
        """Take the oldest waiting job of printer ``name`` with one conditional UPDATE: a job another
        worker took in between matches no row, and the next one is tried."""
        waiting = (PrintJobRow.station == self.station, PrintJobRow.printer == name)
        # Looked for in a reading session first: an idle worker must not take SQLite's write lock
        # every poll.
        with self._db.session(readonly=True) as session:
            if (
                session.scalar(select(PrintJobRow.id).where(*waiting, PrintJobRow.status.in_(_WAITING)))
                is None
            ):
                return None
        with self._db.session() as session:
            for _ in range(10):
                candidate = session.scalar(
                    select(PrintJobRow.id)
                    .where(*waiting, PrintJobRow.status.in_(_WAITING))
                    .order_by(PrintJobRow.id)
                    .limit(1)
                )
                if candidate is None:
                    return None
                now = self._clock()
                row = session.execute(
                    update(PrintJobRow)
                    .where(PrintJobRow.id == candidate, PrintJobRow.status.in_(_WAITING))
                    .values(
                        status="printing",
                        attempts=PrintJobRow.attempts + 1,
                        claimed_by=self._instance,
                        heartbeat_at=now,
                        updated_at=now,
                    )
                    .returning(
                        PrintJobRow.id,
                        PrintJobRow.job_ref,
                        PrintJobRow.client_id,
                        PrintJobRow.kind,
                        PrintJobRow.printer,
                        PrintJobRow.payload,
                        PrintJobRow.attempts,
                        PrintJobRow.reprint_of,
                        PrintJobRow.card,
                    )
                    .execution_options(synchronize_session=False)
                ).first()
                if row is not None:
                    break
            else:
                return None
        job = _Claimed(*row)
        self._record(
            self._actor,
            "print.start",
            "printing",
            job.card,
            job.job_ref,
            job.kind,
            job.printer,
            attempts=job.attempts,
        )
        self._notify()
        return job

    def _finish(
        self, job: _Claimed, status: str, error: tuple[str, str, str] | None, *, near_end: bool = False
    ) -> None:
        now = self._clock()
        code, message, message_zh = error or (None, None, None)
        with self._db.session() as session:
            result = session.execute(
                update(PrintJobRow)
                .where(
                    PrintJobRow.id == job.id,
                    PrintJobRow.status == "printing",
                    PrintJobRow.claimed_by == self._instance,
                )
                .values(
                    status=status,
                    error_code=code,
                    error_message=message,
                    error_message_zh=message_zh,
                    heartbeat_at=None,
                    updated_at=now,
                    printed_at=now if status == "printed" else None,
                )
                .execution_options(synchronize_session=False)
            )
            changed = _rowcount(result)
        if not changed:
            # Taken as interrupted meanwhile (no heartbeat for longer than the lease): it stays failed.
            _log.error("job %s was no longer ours when it ended %s", job.job_ref, status)
            return
        action = {"printed": "print.printed", "held": "print.held", "queued": "print.retry"}
        detail: dict[str, object] = {"attempts": job.attempts}
        if code:
            detail["code"] = code
        if near_end:
            detail["paper_near_end"] = True
        self._record(
            self._actor,
            action.get(status, "print.failed"),
            status,
            job.card,
            job.job_ref,
            job.kind,
            job.printer,
            **detail,
        )
        self._notify()

    def _expire_held(self, name: str) -> None:
        """Held jobs older than ``max_hold`` fail as ``expired``: the patient has gone, and a lab report
        must not come out hours later for whoever stands at the kiosk then."""
        if self._max_hold is None:
            return
        now = self._clock()
        old = (
            PrintJobRow.station == self.station,
            PrintJobRow.printer == name,
            PrintJobRow.status == "held",
            PrintJobRow.created_at < now - self._max_hold,
        )
        with self._db.session(readonly=True) as session:
            if session.scalar(select(PrintJobRow.id).where(*old).limit(1)) is None:
                return
        code, message, message_zh = _EXPIRED
        with self._db.session() as session:
            rows = session.execute(
                update(PrintJobRow)
                .where(*old)
                .values(status="failed", error_code=code, error_message=message, error_message_zh=message_zh,
                        updated_at=now)
                .returning(PrintJobRow.job_ref, PrintJobRow.kind, PrintJobRow.card, PrintJobRow.attempts)
                .execution_options(synchronize_session=False)
            ).all()  # fmt: skip
        for job_ref, kind, card, attempts in rows:
            self._record(self._actor, "print.failed", "expired", card, job_ref, kind, name,
                         attempts=attempts, code=code)  # fmt: skip
        if rows:
            self._notify()

    def _hold_waiting(self, name: str, problem: PrinterError) -> None:
        """Jobs queued for a printer that has a problem are held with it (the kiosk learns at once)."""
        now = self._clock()
        with self._db.session() as session:
            rows = session.execute(
                update(PrintJobRow)
                .where(
                    PrintJobRow.station == self.station,
                    PrintJobRow.printer == name,
                    PrintJobRow.status == "queued",
                )
                .values(
                    status="held",
                    error_code=problem.code,
                    error_message=problem.message,
                    error_message_zh=problem.message_zh,
                    updated_at=now,
                )
                .returning(PrintJobRow.job_ref, PrintJobRow.kind, PrintJobRow.card, PrintJobRow.attempts)
                .execution_options(synchronize_session=False)
            ).all()
        for job_ref, kind, card, attempts in rows:
            self._record(
                self._actor,
                "print.held",
                "held",
                card,
                job_ref,
                kind,
                name,
                attempts=attempts,
                code=problem.code,
            )
        if rows:
            self._notify()

    def _keep(self) -> None:
        """Renew the heartbeat of the jobs being sent; fail the ones whose worker is gone."""
        while not self._stopping.wait(self._heartbeat):
            try:
                with self._lock:
                    inflight = sorted(self._inflight)
                if inflight:
                    with self._db.session() as session:
                        session.execute(
                            update(PrintJobRow)
                            .where(PrintJobRow.id.in_(inflight), PrintJobRow.claimed_by == self._instance)
                            .values(heartbeat_at=self._clock())
                            .execution_options(synchronize_session=False)
                        )
                self._recover()
            except Exception:
                _log.exception("print queue heartbeat")

    def _recover(self) -> None:
        """``printing`` jobs of this station without a heartbeat for longer than the lease: ``failed``,
        ``interrupted``. Never sent again by themselves (they may be on paper, whole or in part)."""
        now = self._clock()
        with self._lock:
            mine = sorted(self._inflight)
        code, message, message_zh = _INTERRUPTED
        stale = (
            PrintJobRow.station == self.station,
            PrintJobRow.status == "printing",
            or_(PrintJobRow.heartbeat_at.is_(None), PrintJobRow.heartbeat_at < now - self._lease),
            PrintJobRow.id.not_in(mine),
        )
        with self._db.session(readonly=True) as session:  # the usual case, without a write lock
            if session.scalar(select(PrintJobRow.id).where(*stale).limit(1)) is None:
                return
        with self._db.session() as session:
            query = (
                update(PrintJobRow)
                .where(*stale)
                .values(
                    status="failed",
                    error_code=code,
                    error_message=message,
                    error_message_zh=message_zh,
                    heartbeat_at=None,
                    updated_at=now,
                )
                .returning(
                    PrintJobRow.job_ref,
                    PrintJobRow.kind,
                    PrintJobRow.printer,
                    PrintJobRow.card,
                    PrintJobRow.attempts,
                )
                .execution_options(synchronize_session=False)
            )
            rows = session.execute(query).all()
        for job_ref, kind, printer, card, attempts in rows:
            _log.warning("job %s was interrupted while printing: failed, reprint on request", job_ref)
            self._record(
                self._actor,
                "print.failed",
                "interrupted",
                card,
                job_ref,
                kind,
                printer,
                attempts=attempts,
                code=code,
            )
        if rows:
            self._notify()

    # -- helpers ---------------------------------------------------------------------------------------

    def _holder(self, card: str | None) -> str | None:
        if not card:
            return None
        return hmac.new(self._holder_key, card.encode(), hashlib.sha256).hexdigest()

    @property
    def _actor(self) -> str:
        return f"print-queue@{self.station}"

    def _printer(self, printer: str | None) -> str:
        name = printer if printer is not None else self._default
        if name is None or name not in self._printers:
            raise PrintQueueError(
                "unknown_printer",
                f"no printer {name!r} is configured" if name else "no printer is configured",
                details={"printers": list(self._printers)},
            )
        return name

    @staticmethod
    def _check_client(client_id: str, idempotency_key: str | None) -> None:
        if not isinstance(client_id, str) or not _CLIENT.fullmatch(client_id):
            raise PrintQueueError("invalid_job", "client id: 1-128 characters")
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str) or not _KEY.fullmatch(idempotency_key)
        ):
            raise PrintQueueError("invalid_job", "idempotency key: 1-128 characters of A-Za-z0-9._:-")

    def _insert(
        self,
        client_id: str,
        key: str | None,
        request: str,
        kind: str,
        printer: str,
        payload: str,
        card: str | None,
        holder: str | None,
        reprint_of: str | None,
        now: _dt.datetime,
    ) -> Job:
        for attempt in (1, 2):
            try:
                with self._db.session() as session:
                    if key is not None:
                        existing = session.scalar(
                            select(PrintJobRow).where(
                                PrintJobRow.client_id == client_id, PrintJobRow.idempotency_key == key
                            )
                        )
                        if existing is not None:
                            if existing.request_hash != request:
                                raise PrintQueueError(
                                    "idempotency_conflict",
                                    "idempotency key already used for another print request",
                                    details={"job_ref": existing.job_ref},
                                )
                            return _job(existing)
                    row = PrintJobRow(
                        job_ref=f"pj_{secrets.token_hex(8)}",
                        station=self.station,
                        client_id=client_id,
                        idempotency_key=key,
                        request_hash=request,
                        kind=kind,
                        printer=printer,
                        payload=payload,
                        status="queued",
                        attempts=0,
                        reprint_of=reprint_of,
                        card=card,
                        holder=holder,
                        created_at=now,
                        updated_at=now,
                    )
                    session.add(row)
                    session.flush()
                    job = _job(row)
                break
            except IntegrityError as exc:
                # The same key, inserted by a concurrent request that committed first: replay it.
                if attempt == 2:
                    raise PrintQueueError("queue_unavailable", f"print queue: {describe(exc)}") from None
            except SQLAlchemyError as exc:
                raise PrintQueueError("queue_unavailable", f"print queue database: {describe(exc)}") from None
        action, result = ("print.reprint", "queued") if reprint_of else ("print.submit", "queued")
        extra: dict[str, object] = {"reprint_of": reprint_of} if reprint_of else {}
        self._record(client_id, action, result, card, job.job_ref, kind, printer, **extra)
        self._wake[printer].set()
        return job

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A reading session; database errors become ``queue_unavailable``."""
        try:
            with self._db.session(readonly=True) as session:
                yield session
        except SQLAlchemyError as exc:
            raise PrintQueueError("queue_unavailable", f"print queue database: {describe(exc)}") from None

    def _record(
        self,
        actor: str,
        action: str,
        result: str,
        card: str | None,
        job_ref: str,
        kind: str,
        printer: str,
        **detail: object,
    ) -> None:
        try:
            self._audit(
                actor=actor,
                action=action,
                result=result,
                card=card,
                target=job_ref,
                detail={"kind": kind, "printer": printer, **detail},
            )
        except Exception:
            # The job's state is already committed; a worker must go on. Logged loudly.
            _log.exception("audit of %s %s failed", action, job_ref)
            if threading.current_thread() not in self._threads:
                raise

    def _set_problem(self, name: str, problem: PrinterError | None) -> None:
        with self._lock:
            if problem is None:
                self._problems.pop(name, None)
            else:
                self._problems[name] = problem

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()
