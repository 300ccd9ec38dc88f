"""The workers of the print queue: one thread per printer claims the oldest waiting job with one
conditional UPDATE, prints it (:mod:`._send`) and records the outcome; while it has no job it looks at
its printer now and then, so a problem is known before a job meets it. A heartbeat thread renews the
lease of the jobs in flight and fails the ones whose worker is gone. Every state change is a move of the
job lifecycle (:func:`cardservice.printing._jobs.move`).

**In flight** is a job from just before this worker's claim until its outcome is recorded: its
heartbeat is renewed, and this queue's own lease check never takes it. Right before its ticket is sent
the worker renews the heartbeat once more with a conditional UPDATE that also says whether the job is
still ``printing`` under its claim (another daemon's lease check may have taken it): if not, nothing is
sent. So a job is never both failed as ``interrupted`` and printed.

**Printer state.** Each look (:meth:`ReceiptPrinter.probe`) updates the printer's problem and publishes
a change as an event: ``printer.problem`` when a problem appears or becomes another,
``printer.ready`` when it clears. A worker looks when it starts; while the printer has a problem,
every ``poll_interval`` seconds doubling up to ``max_poll_interval``; while it is idle (no job waiting),
likewise: ``poll_interval`` after it went idle (after a job, or after a problem cleared), doubling up to
``max_poll_interval`` (10 s by default: one short connection and two status queries). A printer whose
link cannot answer status (:attr:`ReceiptPrinter.reads_status` false) is not looked at while idle: it
counts as ready until a job for it fails."""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import or_, select, update

from cardservice.printing._device import ReceiptPrinter
from cardservice.printing._errors import PrinterError
from cardservice.printing._jobs import (
    EXPIRED,
    INTERRUPTED,
    UNCONFIRMED,
    UNCONFIRMED_ZH,
    UNRENDERABLE,
    JobError,
    JobStatus,
    move,
    render,
    sources,
)
from cardservice.printing._send import Outcome, probe, send
from cardservice.printing._table import JobTable, rowcount
from cardservice.store import PrintJobRow

__all__ = ["Claimed", "EventSink", "Workers"]

_log = logging.getLogger("cardservice.printing")

#: What receives the printers' events (plain dicts; see the module docstring).
EventSink = Callable[[dict[str, Any]], None]

# What a worker's outcome makes of the job, and the audit action of that change.
_ACTIONS = {
    JobStatus.PRINTED: "print.printed",
    JobStatus.HELD: "print.held",
    JobStatus.QUEUED: "print.retry",
    JobStatus.FAILED: "print.failed",
}


@dataclass(frozen=True)
class Claimed:
    """A job a worker moved to ``printing``: what it needs to print it."""

    id: int
    job_ref: str
    client_id: str
    kind: str
    printer: str
    payload: str
    attempts: int
    reprint_of: str | None
    card: str | None


class Workers:
    """The workers of ``printers`` (name → printer) over the jobs of ``table``. ``instance`` names this
    process's workers in the rows they claim; ``on_event`` receives the printers' events. See
    :class:`~cardservice.printing.PrintQueue` for the other settings."""

    def __init__(
        self,
        table: JobTable,
        printers: Mapping[str, ReceiptPrinter],
        *,
        instance: str,
        max_attempts: int,
        poll_interval: float,
        max_poll_interval: float,
        lease: float,
        max_hold: float | None,
        on_event: EventSink | None = None,
    ) -> None:
        self._table = table
        self._printers = dict(printers)
        self._instance = instance
        self._max_attempts = max_attempts
        self._poll = poll_interval
        self._max_poll = max_poll_interval
        self._lease = _dt.timedelta(seconds=lease)
        self._max_hold = None if max_hold is None else _dt.timedelta(seconds=max_hold)
        self._heartbeat = min(1.0, lease / 4)
        self._stopping = threading.Event()
        self._wake = {name: threading.Event() for name in self._printers}
        self._lock = threading.Lock()
        self._inflight: set[int] = set()  # see the module docstring
        self._problems: dict[str, PrinterError] = {}
        self._on_event = on_event

    @property
    def _actor(self) -> str:
        return f"print-queue@{self._table.station}"

    def problems(self) -> dict[str, PrinterError]:
        """The problem each printer's worker last found, by name."""
        with self._lock:
            return dict(self._problems)

    def wake(self, name: str) -> None:
        """A job for printer ``name`` is waiting."""
        self._wake[name].set()

    def start(self) -> None:
        """Fail the jobs left in ``printing`` by a worker that is gone, then start one worker thread per
        printer and the heartbeat thread. Idempotent."""
        threads = self._table.workers
        if threads:
            return
        self._stopping.clear()
        self.recover()
        for name in self._printers:
            worker = threading.Thread(target=self._work, args=(name,), name=f"print-{name}", daemon=True)
            threads.append(worker)
        threads.append(threading.Thread(target=self._keep, name="print-heartbeat", daemon=True))
        for thread in threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers: a job being sent is finished first (bounded by the printer's timeouts)."""
        self._stopping.set()
        for wake in self._wake.values():
            wake.set()
        for thread in self._table.workers:
            thread.join(timeout)
        self._table.workers.clear()

    # -- one printer -----------------------------------------------------------------------------------

    def _work(self, name: str) -> None:
        printer = self._printers[name]
        wake = self._wake[name]
        looks_when_idle = printer.reads_status
        blocked = True  # look at the printer first: a problem holds the waiting jobs at once
        delay = idle = self._poll  # between looks while blocked, and while idle
        next_look = time.monotonic() + idle
        while not self._stopping.is_set():
            try:
                if blocked:
                    self._expire_held(name)
                    if self._look(name, printer):
                        self._stopping.wait(delay)
                        delay = min(delay * 2, self._max_poll)
                        continue
                    blocked, delay = False, self._poll
                    idle, next_look = self._poll, time.monotonic() + self._poll
                job = self.claim(name)
                if job is None:
                    if looks_when_idle and time.monotonic() >= next_look:
                        blocked = self._look(name, printer)
                        idle = min(idle * 2, self._max_poll)
                        next_look = time.monotonic() + idle
                    wake.wait(self._poll)
                    wake.clear()
                    continue
                outcome = self._print(printer, job)
                idle, next_look = self._poll, time.monotonic() + self._poll
                if outcome in ("held", "retry"):
                    blocked = outcome == "held"
                    self._stopping.wait(self._poll)
            except Exception:  # a database outage must not end the worker
                _log.exception("print worker %s", name)
                self._stopping.wait(self._poll)

    def _look(self, name: str, printer: ReceiptPrinter) -> bool:
        """Probe printer ``name``: its problem is recorded (a change published), and a problem holds the
        jobs waiting for it. Whether it has one."""
        problem = probe(printer)
        self._set_problem(name, problem)
        if problem is None:
            return False
        self._hold_waiting(name, problem)
        return True

    def _print(self, printer: ReceiptPrinter, job: Claimed) -> Outcome | Literal["failed"]:
        """Print the claimed ``job`` (in flight since its claim) and record the outcome; it is in flight
        no more once that is recorded."""
        try:
            try:
                ticket = render(job.kind, job.payload, reprint=job.reprint_of is not None)
            except (ValidationError, ValueError, TypeError) as bad:
                _log.error("job %s cannot be rendered: %s", job.job_ref, type(bad).__name__)
                self._finish(job, JobStatus.FAILED, UNRENDERABLE)
                return "failed"
            outcome, exc, near_end = send(printer, ticket, ours=lambda: self._still_ours(job))
            if outcome == "taken":
                _log.error("job %s was taken as interrupted before it was sent: not sent", job.job_ref)
                return outcome
            return self._outcome(job, outcome, exc, near_end)
        finally:
            self._release(job.id)

    def _outcome(
        self, job: Claimed, outcome: Outcome, exc: PrinterError | None, near_end: bool
    ) -> Outcome | Literal["failed"]:
        """Record what :func:`send` said of ``job``."""
        if exc is None:  # printed: send() gives the printer's error with every other outcome
            self._set_problem(job.printer, None)
            self._finish(job, JobStatus.PRINTED, None, near_end=near_end)
            return "printed"
        _log.warning("job %s on %s: %s (%s)", job.job_ref, job.printer, exc.code, exc.detail)
        reason = JobError(exc.code, exc.message, exc.message_zh)
        if outcome == "held":
            self._set_problem(job.printer, exc)
            self._finish(job, JobStatus.HELD, reason)
        elif outcome == "retry" and job.attempts < self._max_attempts:
            self._finish(job, JobStatus.QUEUED, reason)
        elif outcome == "retry":
            self._finish(job, JobStatus.FAILED, reason)
            return "failed"
        else:
            self._finish(job, JobStatus.FAILED, JobError(exc.code, UNCONFIRMED, UNCONFIRMED_ZH))
            return "failed"
        return outcome

    # -- the moves -------------------------------------------------------------------------------------

    def claim(self, name: str) -> Claimed | None:
        """Take the oldest waiting job of printer ``name`` with one conditional UPDATE: a job another
        worker took in between matches no row, and the next one is tried. The job is in flight from
        before the UPDATE (so no lease check of this queue can take it between the claim and the send)
        until :meth:`_print` has recorded its outcome."""
        station = self._table.station
        waiting = (
            PrintJobRow.station == station,
            PrintJobRow.printer == name,
            PrintJobRow.status.in_([state.value for state in sources(JobStatus.PRINTING)]),
        )
        # Looked for in a reading session first: an idle worker must not take SQLite's write lock
        # every poll.
        with self._table.db.session(readonly=True) as session:
            if session.scalar(select(PrintJobRow.id).where(*waiting)) is None:
                return None
        claiming: int | None = None
        try:
            with self._table.db.session() as session:
                for _ in range(10):
                    candidate = session.scalar(
                        select(PrintJobRow.id).where(*waiting).order_by(PrintJobRow.id).limit(1)
                    )
                    if candidate is None:
                        return None
                    # In flight first, then the heartbeat: a lease check that did not see it in flight
                    # read the clock before this claim did, so finds the heartbeat fresh.
                    with self._lock:
                        self._inflight.add(candidate)
                    claiming = candidate
                    now = self._table.clock()
                    row = session.execute(
                        move(JobStatus.PRINTING)
                        .where(PrintJobRow.id == candidate)
                        .values(
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
                    ).first()
                    if row is not None:
                        break
                    self._release(candidate)
                    claiming = None
                else:
                    return None
        except BaseException:
            if claiming is not None:
                self._release(claiming)
            raise
        job = Claimed(*row)
        self._table.record(
            self._actor, "print.start", "printing", job.card, job.job_ref, job.kind, job.printer,
            attempts=job.attempts,
        )  # fmt: skip
        self._table.notify()
        return job

    def _finish(
        self, job: Claimed, status: JobStatus, error: JobError | None, *, near_end: bool = False
    ) -> None:
        """The claimed ``job`` moves from ``printing`` to ``status``, if it is still this worker's."""
        now = self._table.clock()
        with self._table.db.session() as session:
            result = session.execute(
                move(status, source=JobStatus.PRINTING)
                .where(PrintJobRow.id == job.id, PrintJobRow.claimed_by == self._instance)
                .values(
                    error_code=error.code if error else None,
                    error_message=error.message if error else None,
                    error_message_zh=error.message_zh if error else None,
                    heartbeat_at=None,
                    updated_at=now,
                    printed_at=now if status is JobStatus.PRINTED else None,
                )
            )
            changed = rowcount(result)
        if not changed:
            # Taken as interrupted meanwhile (no heartbeat for longer than the lease): it stays failed.
            _log.error("job %s was no longer ours when it ended %s", job.job_ref, status)
            return
        detail: dict[str, object] = {"attempts": job.attempts}
        if error:
            detail["code"] = error.code
        if near_end:
            detail["paper_near_end"] = True
        self._table.record(
            self._actor, _ACTIONS[status], status, job.card, job.job_ref, job.kind, job.printer, **detail
        )
        self._table.notify()

    def _expire_held(self, name: str) -> None:
        """Held jobs older than ``max_hold`` fail as ``expired``: the patient has gone, and a lab report
        must not come out hours later for whoever stands at the kiosk then."""
        if self._max_hold is None:
            return
        now = self._table.clock()
        old = (
            PrintJobRow.station == self._table.station,
            PrintJobRow.printer == name,
            PrintJobRow.status == JobStatus.HELD.value,
            PrintJobRow.created_at < now - self._max_hold,
        )
        with self._table.db.session(readonly=True) as session:
            if session.scalar(select(PrintJobRow.id).where(*old).limit(1)) is None:
                return
        with self._table.db.session() as session:
            rows = session.execute(
                move(JobStatus.FAILED, source=JobStatus.HELD)
                .where(*old)
                .values(error_code=EXPIRED.code, error_message=EXPIRED.message,
                        error_message_zh=EXPIRED.message_zh, updated_at=now)
                .returning(PrintJobRow.job_ref, PrintJobRow.kind, PrintJobRow.card, PrintJobRow.attempts)
            ).all()  # fmt: skip
        for job_ref, kind, card, attempts in rows:
            self._table.record(self._actor, "print.failed", "expired", card, job_ref, kind, name,
                               attempts=attempts, code=EXPIRED.code)  # fmt: skip
        if rows:
            self._table.notify()

    def _hold_waiting(self, name: str, problem: PrinterError) -> None:
        """Jobs queued for a printer that has a problem are held with it (the kiosk learns at once)."""
        now = self._table.clock()
        with self._table.db.session() as session:
            rows = session.execute(
                move(JobStatus.HELD, source=JobStatus.QUEUED)
                .where(PrintJobRow.station == self._table.station, PrintJobRow.printer == name)
                .values(
                    error_code=problem.code,
                    error_message=problem.message,
                    error_message_zh=problem.message_zh,
                    updated_at=now,
                )
                .returning(PrintJobRow.job_ref, PrintJobRow.kind, PrintJobRow.card, PrintJobRow.attempts)
            ).all()
        for job_ref, kind, card, attempts in rows:
            self._table.record(self._actor, "print.held", "held", card, job_ref, kind, name,
                               attempts=attempts, code=problem.code)  # fmt: skip
        if rows:
            self._table.notify()

    # -- the lease -------------------------------------------------------------------------------------

    def _keep(self) -> None:
        """Renew the heartbeat of the jobs in flight; fail the ones whose worker is gone."""
        while not self._stopping.wait(self._heartbeat):
            try:
                with self._lock:
                    inflight = sorted(self._inflight)
                if inflight:
                    self._renew(inflight)
                self.recover()
            except Exception:
                _log.exception("print queue heartbeat")

    def _renew(self, ids: Iterable[int]) -> int:
        """Renew the heartbeat of the jobs ``ids`` that are ``printing`` under this worker's claim; how
        many are."""
        with self._table.db.session() as session:
            result = session.execute(
                update(PrintJobRow)  # not a move: the status stays what it is
                .where(
                    PrintJobRow.id.in_(list(ids)),
                    PrintJobRow.status == JobStatus.PRINTING.value,
                    PrintJobRow.claimed_by == self._instance,
                )
                .values(heartbeat_at=self._table.clock())
                .execution_options(synchronize_session=False)
            )
            return rowcount(result)

    def _still_ours(self, job: Claimed) -> bool:
        """Asked right before ``job``'s ticket is sent: whether it is still ``printing`` under this
        worker's claim. One conditional UPDATE that also renews its heartbeat (as the heartbeat thread
        goes on doing while it is sent): a lease check takes it only once nothing renews it any more."""
        return self._renew([job.id]) == 1

    def _release(self, job_id: int) -> None:
        """The job is in flight no more (its outcome is recorded, or it was not claimed after all)."""
        with self._lock:
            self._inflight.discard(job_id)

    def recover(self) -> None:
        """``printing`` jobs of this station without a heartbeat for longer than the lease: ``failed``,
        ``interrupted``. Never sent again by themselves (they may be on paper, whole or in part). Jobs
        in flight here are not looked at: their worker is alive."""
        now = self._table.clock()
        with self._lock:
            mine = sorted(self._inflight)
        stale = (
            PrintJobRow.station == self._table.station,
            PrintJobRow.status == JobStatus.PRINTING.value,
            or_(PrintJobRow.heartbeat_at.is_(None), PrintJobRow.heartbeat_at < now - self._lease),
            PrintJobRow.id.not_in(mine),
        )
        with self._table.db.session(readonly=True) as session:  # the usual case, without a write lock
            if session.scalar(select(PrintJobRow.id).where(*stale).limit(1)) is None:
                return
        with self._table.db.session() as session:
            rows = session.execute(
                move(JobStatus.FAILED, source=JobStatus.PRINTING)
                .where(*stale)
                .values(
                    error_code=INTERRUPTED.code,
                    error_message=INTERRUPTED.message,
                    error_message_zh=INTERRUPTED.message_zh,
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
            ).all()
        for job_ref, kind, printer, card, attempts in rows:
            _log.warning("job %s was interrupted while printing: failed, reprint on request", job_ref)
            self._table.record(self._actor, "print.failed", "interrupted", card, job_ref, kind, printer,
                               attempts=attempts, code=INTERRUPTED.code)  # fmt: skip
        if rows:
            self._table.notify()

    # -- printer state -------------------------------------------------------------------------------

    def _set_problem(self, name: str, problem: PrinterError | None) -> None:
        """Printer ``name`` has ``problem`` now (``None``: none); a change is published. Called by that
        printer's worker only, so its events come in order."""
        with self._lock:
            before = self._problems.get(name)
            if problem is None:
                self._problems.pop(name, None)
            else:
                self._problems[name] = problem
        if problem is None:
            if before is not None:
                self._emit({"type": "printer.ready", "printer": name})
        elif before is None or before.code != problem.code:
            self._emit(
                {"type": "printer.problem", "printer": name, "code": problem.code,
                 "message_zh": problem.message_zh}
            )  # fmt: skip

    def _emit(self, event: dict[str, Any]) -> None:
        if self._on_event is None:
            return
        event["at"] = time.time()
        try:
            self._on_event(event)
        except Exception:  # a subscriber's bug must not stop the worker
            _log.exception("printer event subscriber failed")
