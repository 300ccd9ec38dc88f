"""The request side of the print queue: submit, reprint, get, list, preview, cancel, wait. These block on
the database only (never on a printer) and raise :class:`PrintQueueError` (or
:class:`~cardservice.errors.IdempotencyConflict`); the workers (:mod:`._workers`) do the printing."""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cardservice.errors import IdempotencyConflict
from cardservice.healthcard import mask_id_number
from cardservice.printing._device import ReceiptPrinter
from cardservice.printing._errors import (
    CardMismatch,
    InvalidJob,
    JobNotCancellable,
    JobNotFinished,
    JobNotFound,
    QueueUnavailable,
    UnknownPrinter,
)
from cardservice.printing._jobs import (
    JOB_KINDS,
    Job,
    JobStatus,
    Template,
    job_of,
    move,
    payload_json,
    render,
    reprint_payload,
)
from cardservice.printing._layout import preview_pages
from cardservice.printing._table import JobTable, rowcount
from cardservice.printing._ticket import PaperWidth
from cardservice.store import PrintJobRow, check_key, once, request_hash

__all__ = ["Requests"]

_CLIENT = re.compile(r"\S.{0,127}", re.DOTALL)
_CONFLICT_ZH = "请求标识已用于其他打印请求"


class Requests:
    """The requests to the jobs of ``table`` printed on ``printers`` (name → printer; ``default``: the
    printer of jobs that name none). ``holder_key`` keys the card-holder digests that tie a job to its
    card; ``wake(name)`` tells printer ``name``'s worker that a job is waiting."""

    def __init__(
        self,
        table: JobTable,
        printers: Mapping[str, ReceiptPrinter],
        *,
        default: str | None,
        holder_key: bytes,
        wake: Callable[[str], None],
    ) -> None:
        self._table = table
        self._printers = dict(printers)
        self._default = default
        self._holder_key = holder_key
        self._wake = wake

    def submit(
        self,
        client_id: str,
        idempotency_key: str | None,
        kind: str,
        payload: Template | Mapping[str, Any],
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
        if kind not in JOB_KINDS:
            raise InvalidJob(f"kind must be one of {', '.join(JOB_KINDS)}")
        name = self._printer(printer)
        now = self._table.clock()
        stored, given = payload_json(kind, payload, now)
        masked = mask_id_number(card) if card else None
        holder = self._holder(card)
        request = request_hash("submit", kind, name, given, holder)
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
        payload, holder = self._payload_and_holder(job_ref)
        self._same_holder(job_ref, holder, card)
        if not source.finished:
            raise JobNotFinished(f"job {job_ref} is {source.status}", details={"status": source.status})
        if printer is None and source.printer in self._printers:
            printer = source.printer
        name = self._printer(printer)
        now = self._table.clock()
        request = request_hash("reprint", job_ref, name)
        return self._insert(
            client_id,
            idempotency_key,
            request,
            source.kind,
            name,
            reprint_payload(payload, now),
            source.card,
            holder,
            job_ref,
            now,
        )

    def get(self, job_ref: str) -> Job:
        """The job ``job_ref`` of this station (``job_not_found``, also for another station's job: its
        printers are not ours)."""
        with self._table.read() as session:
            row = session.scalar(
                select(PrintJobRow).where(
                    PrintJobRow.job_ref == job_ref, PrintJobRow.station == self._table.station
                )
            )
            if row is None:
                raise JobNotFound(f"no print job {job_ref}")
            return job_of(row)

    def list(
        self,
        *,
        client_id: str | None = None,
        status: str | None = None,
        printer: str | None = None,
        limit: int = 50,
    ) -> list[Job]:
        """This station's jobs, newest first, optionally of one client, status or printer."""
        query = select(PrintJobRow).where(PrintJobRow.station == self._table.station)
        if client_id is not None:
            query = query.where(PrintJobRow.client_id == client_id)
        if status is not None:
            query = query.where(PrintJobRow.status == status)
        if printer is not None:
            query = query.where(PrintJobRow.printer == printer)
        query = query.order_by(PrintJobRow.id.desc()).limit(max(1, min(limit, 1000)))
        with self._table.read() as session:
            return [job_of(row) for row in session.scalars(query)]

    def check_holder(self, job_ref: str, card: str | None) -> None:
        """Nothing, if *card* (the card number of the card presented now) is the one the job was made
        for, or the job was made for no card; else ``card_mismatch``. A ticket's text is the patient's:
        shown again only to the same card."""
        self.get(job_ref)
        self._same_holder(job_ref, self._payload_and_holder(job_ref)[1], card)

    def preview(self, job_ref: str) -> tuple[str, ...]:
        """The job's ticket as text, one string per page, as the printer will print it (80 mm or 58 mm
        as its printer is configured). Whom to show it to is the caller's: see :meth:`check_holder`."""
        job = self.get(job_ref)
        payload, _ = self._payload_and_holder(job_ref)
        printer = self._printers.get(job.printer)
        ticket = render(job.kind, payload or "{}", reprint=job.reprint_of is not None)
        return preview_pages(ticket, printer.paper if printer else PaperWidth.MM80)

    def cancel(self, job_ref: str, *, actor: str) -> Job:
        """Cancel a queued or held job (``job_not_cancellable`` once it is printing or finished)."""
        now = self._table.clock()
        with self._table.write() as session:
            result = session.execute(
                move(JobStatus.CANCELLED)
                .where(PrintJobRow.job_ref == job_ref, PrintJobRow.station == self._table.station)
                .values(updated_at=now)
            )
            changed = rowcount(result)
        job = self.get(job_ref)
        if not changed:
            raise JobNotCancellable(f"job {job_ref} is {job.status}", details={"status": job.status})
        self._table.record(actor, "print.cancel", "cancelled", job.card, job.job_ref, job.kind, job.printer)
        self._table.notify()
        return job

    def wait(self, job_ref: str, timeout: float = 10.0) -> Job:
        """The job once it is printed, held, failed or cancelled, or as it is after ``timeout`` seconds."""
        deadline = _dt.datetime.now(_dt.UTC) + _dt.timedelta(seconds=timeout)
        while True:
            job = self.get(job_ref)
            left = (deadline - _dt.datetime.now(_dt.UTC)).total_seconds()
            if job.status not in (JobStatus.QUEUED, JobStatus.PRINTING) or left <= 0:
                return job
            self._table.wait_changed(min(left, 0.2))  # woken by this process's workers; polls for others

    # -- helpers ---------------------------------------------------------------------------------------

    def _payload_and_holder(self, job_ref: str) -> tuple[str, str | None]:
        with self._table.read() as session:
            row = session.execute(
                select(PrintJobRow.payload, PrintJobRow.holder).where(PrintJobRow.job_ref == job_ref)
            ).first()
        if row is None:  # pragma: no cover - get() found it a moment ago; jobs are never deleted
            raise JobNotFound(f"no print job {job_ref}")
        return row[0], row[1]

    def _same_holder(self, job_ref: str, holder: str | None, card: str | None) -> None:
        if holder is not None and not (card and hmac.compare_digest(holder, self._holder(card) or "")):
            raise CardMismatch(f"job {job_ref} was printed for another card")

    def _holder(self, card: str | None) -> str | None:
        if not card:
            return None
        return hmac.new(self._holder_key, card.encode(), hashlib.sha256).hexdigest()

    def _printer(self, printer: str | None) -> str:
        name = printer if printer is not None else self._default
        if name is None or name not in self._printers:
            raise UnknownPrinter(
                f"no printer {name!r} is configured" if name else "no printer is configured",
                details={"printers": list(self._printers)},
            )
        return name

    @staticmethod
    def _check_client(client_id: str, idempotency_key: str | None) -> None:
        if not isinstance(client_id, str) or not _CLIENT.fullmatch(client_id):
            raise InvalidJob("client id: 1-128 characters")
        if idempotency_key is not None:
            check_key(idempotency_key, InvalidJob)

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
        """The new job, or the one stored under ``(client_id, key)`` for the same request."""

        def find(session: Session) -> PrintJobRow | None:
            if key is None:
                return None
            mine = (PrintJobRow.client_id == client_id, PrintJobRow.idempotency_key == key)
            return session.scalar(select(PrintJobRow).where(*mine))

        def create(session: Session) -> Job:
            row = PrintJobRow(
                job_ref=f"pj_{secrets.token_hex(8)}",
                station=self._table.station,
                client_id=client_id,
                idempotency_key=key,
                request_hash=request,
                kind=kind,
                printer=printer,
                payload=payload,
                status=JobStatus.QUEUED.value,
                attempts=0,
                reprint_of=reprint_of,
                card=card,
                holder=holder,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            return job_of(row)

        def conflict(row: PrintJobRow) -> Exception:
            return IdempotencyConflict(
                "idempotency key already used for another print request",
                message_zh=_CONFLICT_ZH,
                details={"job_ref": row.job_ref},
            )

        job, created = once(
            self._table.db,
            find=find,
            request=request,
            create=create,
            replay=lambda session, row: job_of(row),
            conflict=conflict,
            unavailable=lambda text: QueueUnavailable(f"print queue database: {text}"),
        )
        if created:
            action = "print.reprint" if reprint_of else "print.submit"
            extra: dict[str, object] = {"reprint_of": reprint_of} if reprint_of else {}
            self._table.record(client_id, action, "queued", card, job.job_ref, kind, printer, **extra)
            self._wake(printer)
        return job
