"""The persistent print queue: jobs in the database (table ``print_jobs``), one worker thread per printer.

    queue = PrintQueue(database, {"front": printer}, audit=audit_log.record,   # printer: a ReceiptPrinter
                       on_event=hub.publish)           # printer.problem / printer.ready
    queue.start()                                      # the workers; the daemon calls stop() at shutdown
    job = queue.submit("kiosk-1", "key-1", "registration_slip", {...}, card=card_number)
    job = queue.wait(job.job_ref, timeout=10)          # printed / held / failed (or still queued)
    queue.reprint(job.job_ref, client_id="kiosk-1")    # a new job; 补打 on the ticket
    queue.cancel(job.job_ref, actor="kiosk-1")         # queued or held jobs only

A job's life is the lifecycle :data:`cardservice.printing.JOB` (drawn in :mod:`._jobs`); the request side
is :mod:`._requests`, the workers :mod:`._workers`, one attempt at a printer :mod:`._send`.

**Exactly once.** A job is printed only by the worker that moved it to ``printing`` with one conditional
UPDATE (``... WHERE status IN ('queued', 'held')``, the states the lifecycle lets move to ``printing``):
two workers, or two daemons on one database, never both win. It is sent again automatically only when
the printer itself said the ticket was not finished: its status before the job said it could not print
(nothing was sent), the link broke or the printer stopped taking data while sending, or its status right
after sending says paper out or cover open (the ticket stopped at paper end: the torn part is torn off
and the whole job prints again). When the outcome is unknown, nothing is resent: a job found in
``printing`` whose worker no longer renews its heartbeat (the daemon was killed or lost power mid-send,
so part or all of it may be on paper) becomes ``failed`` with ``interrupted`` ("interrupted; reprint on
request"); this is checked when the queue starts and then every second, for jobs whose heartbeat is
older than ``lease`` seconds. A job whose bytes were all sent but whose printer did not answer the
status query after it fails the same way. A person decides, and :meth:`PrintQueue.reprint` prints a copy
marked 补打.

A job is never both failed as interrupted and printed. It is in flight for its worker from its claim
until its outcome is recorded, however long the printer takes to connect: its heartbeat is renewed, and
this queue's own lease check leaves it alone. Right before the ticket is sent, the worker checks with
another conditional UPDATE (which renews the heartbeat too) that the job is still ``printing`` under its
claim; a job another daemon's lease check took meanwhile is not sent.

**Held jobs.** While a printer has a problem its worker polls it (:meth:`ReceiptPrinter.probe`, every
``poll_interval`` seconds, doubling up to ``max_poll_interval``), marks new jobs for it ``held`` with the
problem (so a kiosk can say 打印机缺纸 at once), and prints them in order once the printer answers that it
is ready. A job held longer than ``max_hold`` fails as ``expired`` instead: its patient has left.

**Idle printers.** A worker without a job probes its printer too: ``poll_interval`` seconds after it went
idle, doubling up to ``max_poll_interval`` (with the defaults 1, 2, 4, 8, then every 10 s: one short
connection and two status queries). So :meth:`PrintQueue.printer_problems` says paper out or cover open
before a job is tried, and a job submitted then is held at once. A printer whose link cannot answer
status (:attr:`ReceiptPrinter.reads_status` false: a file, ``status = false`` for a print server that
only forwards bytes) is probed when the queue starts and while its jobs are held, never while idle: it
counts as ready until a job for it fails.

**Events.** ``on_event`` receives a plain dict (no personal data) from a worker thread when a printer's
problem appears or changes, ``{"type": "printer.problem", "printer": name, "code": "paper_out",
"message_zh": "打印机缺纸，请联系工作人员更换纸卷", "at": unix time}``, and when it clears,
``{"type": "printer.ready", "printer": name, "at": ...}``. What it raises is logged, never raised.

**What is stored.** ``payload`` is the template's input as JSON, with the patient's name already masked
as the ticket prints it (:func:`mask_name` is idempotent, so the ticket comes out the same); a card
number is only ever stored masked (``card``, for the audit). Jobs belong to a ``station`` (the host name
unless configured): a daemon's workers only take its own station's jobs, as printer names are local.
Idempotency keys go through :func:`cardservice.store.once`: the same key and request give the same job,
another request under the key :class:`~cardservice.errors.IdempotencyConflict`.

Every state change is audited through the injected callable, with the keywords of
:meth:`cardservice.access.AuditLog.record`: ``actor``, ``action="print.<change>"``, ``result``, ``card``,
``target`` (the job reference) and ``detail`` (kind, printer, attempts, error code; no personal data).
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets
import socket
from collections.abc import Callable, Mapping

from cardservice.printing._device import ReceiptPrinter
from cardservice.printing._jobs import AuditRecorder, JobError
from cardservice.printing._requests import Requests
from cardservice.printing._table import JobTable
from cardservice.printing._workers import EventSink, Workers
from cardservice.store import Database

__all__ = ["PrintQueue"]


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class PrintQueue(Requests):
    """Print jobs of this station in ``database``, printed on ``printers`` (name → :class:`ReceiptPrinter`).

    ``audit``: called for every state change (see the module docstring). ``default_printer``: the
    printer of jobs that name none (default: the first). ``station``: whose jobs these are (default: the
    host name; daemons sharing a PostgreSQL database need different ones). ``max_attempts``: claims
    before a job that keeps meeting ``printer_error`` fails. ``lease``: seconds without a heartbeat after
    which a ``printing`` job counts as interrupted. ``max_hold``: seconds after its submission a job still
    held fails as ``expired`` (default: never). ``clock`` gives the current UTC time. ``holder_key``:
    the key of the card-holder digests that tie a job to its card (a reprint needs the same card;
    default: random, so only within this queue's life). ``poll_interval`` … ``max_poll_interval``: the
    seconds between probes of a printer that has a problem or is idle. ``on_event``: called with each
    ``printer.problem`` / ``printer.ready`` event (see the module docstring; default: none).

    Thread-safe; the request methods (:class:`~cardservice.printing._requests.Requests`) block on the
    database only (never on a printer) and raise :class:`PrintQueueError` or
    :class:`~cardservice.errors.IdempotencyConflict`.
    """

    def __init__(
        self,
        database: Database,
        printers: Mapping[str, ReceiptPrinter],
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
        on_event: EventSink | None = None,
    ) -> None:
        if default_printer is not None and default_printer not in printers:
            raise ValueError(f"default printer {default_printer!r} is not configured")
        if max_attempts < 1 or poll_interval <= 0 or max_poll_interval < poll_interval or lease <= 0:
            raise ValueError("max_attempts >= 1, 0 < poll_interval <= max_poll_interval, lease > 0")
        self.station = (station or socket.gethostname())[:128]
        self._table = JobTable(database, station=self.station, audit=audit, clock=clock)
        self._workers = Workers(
            self._table,
            printers,
            instance=f"{self.station}/{os.getpid()}/{secrets.token_hex(4)}"[:200],
            max_attempts=max_attempts,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            lease=lease,
            max_hold=max_hold,
            on_event=on_event,
        )
        super().__init__(
            self._table,
            printers,
            default=default_printer or next(iter(printers), None),
            holder_key=holder_key or secrets.token_bytes(32),
            wake=self._workers.wake,
        )

    def __repr__(self) -> str:
        printers = list(self._printers)
        return f"PrintQueue({self._table.db.url!r}, station={self.station!r}, printers={printers})"

    @property
    def printers(self) -> tuple[str, ...]:
        """The configured printer names; the default first."""
        names = list(self._printers)
        if self._default is not None:
            names.remove(self._default)
            names.insert(0, self._default)
        return tuple(names)

    def printer_problems(self) -> dict[str, JobError]:
        """Printers whose worker last found a problem that holds jobs (paper out, cover open, offline,
        unreachable), by name: what a kiosk shows before it offers printing. Kept current while idle
        (see the module docstring), except for printers that cannot answer status. Empty when all
        printed or answered fine."""
        problems = self._workers.problems()
        return {name: JobError(e.code, e.message, e.message_zh) for name, e in problems.items()}

    def start(self) -> None:
        """Fail the jobs left in ``printing`` by a worker that is gone (see the module docstring), then
        start one worker thread per printer and the heartbeat thread. Idempotent."""
        self._workers.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers: a job being sent is finished first (bounded by the printer's timeouts)."""
        self._workers.stop(timeout)

    def __enter__(self) -> PrintQueue:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
