"""The lease and exactly once: a job is never both failed as ``interrupted`` and printed. A worker that is
held up between claiming a job and sending it (a slow audit write, a printer slow to connect) keeps the
job as long as it is alive, however long that takes; and when another daemon's lease check did take
the job meanwhile, the worker finds it is no longer its own right before sending, and sends nothing.

The worker is held at two points: in the audit of ``print.start`` (right after the claim is committed)
and in the printer's ``open()`` (inside the attempt, before the status query and the ticket)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping

import pytest

from cardservice.printing import PaperWidth, PrinterError, PrintQueue, registration_slip
from cardservice.store import Database
from drivers.printers import DummyLink, DummyPrinter, encode_ticket
from tests.printing.conftest import AuditSpy, make_queue, wait_for
from tests.printing.samples import make_slip


class Pause:
    """A point where the worker thread waits until the test lets it go on."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.go = threading.Event()

    def __call__(self) -> None:
        self.reached.set()
        if not self.go.wait(30):
            raise TimeoutError("the test never let the worker go on")


class PausingAudit(AuditSpy):
    """An audit whose ``print.start`` (written right after a claim) waits for the test."""

    def __init__(self, pause: Pause) -> None:
        super().__init__()
        self._pause = pause

    def __call__(
        self,
        *,
        actor: str,
        action: str,
        result: str,
        card: str | None = None,
        target: str | None = None,
        detail: Mapping[str, object] | None = None,
    ) -> object:
        super().__call__(actor=actor, action=action, result=result, card=card, target=target, detail=detail)
        if action == "print.start":
            self._pause()
        return None


class SlowToConnect(DummyPrinter):
    """A DummyPrinter whose ``open()`` for a job waits for the test (its status probes do not)."""

    def __init__(self, pause: Pause) -> None:
        super().__init__()
        self._pause = pause
        self._probing = threading.local()

    def probe(self) -> PrinterError | None:
        self._probing.active = True
        try:
            return super().probe()
        finally:
            self._probing.active = False

    def open(self) -> DummyLink:
        if not getattr(self._probing, "active", False):
            self._pause()
        return super().open()


class Clock:
    """The queue's clock, moved forward by the test (``ahead``)."""

    def __init__(self, ahead: dt.timedelta = dt.timedelta(0)) -> None:
        self.ahead = ahead

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.ahead


class Recoveries:
    """Counts the lease checks a queue finished (the heartbeat thread's, every ``min(1, lease / 4)`` s)."""

    def __init__(self, queue: PrintQueue, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        recover: Callable[[], None] = queue._workers.recover

        def counted() -> None:
            recover()
            self.count += 1

        monkeypatch.setattr(queue._workers, "recover", counted)


@pytest.fixture(params=["after_claim", "connecting"])
def paused(request: pytest.FixtureRequest) -> tuple[DummyPrinter, AuditSpy, Pause]:
    """(printer, audit, pause): the worker stops right after its claim, or while connecting to print."""
    pause = Pause()
    if request.param == "after_claim":
        return DummyPrinter(), PausingAudit(pause), pause
    return SlowToConnect(pause), AuditSpy(), pause


SLIP = encode_ticket(registration_slip(make_slip()), PaperWidth.MM80)


def test_a_job_held_up_past_its_lease_before_sending_is_printed_once(
    database: Database, paused: tuple[DummyPrinter, AuditSpy, Pause], monkeypatch: pytest.MonkeyPatch
) -> None:
    printer, audit, pause = paused
    clock = Clock()
    with make_queue(database, printer, audit, lease=0.2, clock=clock) as queue:
        recoveries = Recoveries(queue, monkeypatch)
        job = queue.submit("kiosk-1", "l1", "registration_slip", make_slip())
        assert pause.reached.wait(15)
        assert queue.get(job.job_ref).status == "printing"
        # By the queue's clock the claim is an hour old: far past the lease. The heartbeat thread's lease
        # check runs (twice, so once wholly after the jump) while the worker is held up.
        clock.ahead = dt.timedelta(hours=1)
        seen = recoveries.count
        wait_for(lambda: recoveries.count >= seen + 2)
        assert queue.get(job.job_ref).status == "printing"  # its worker is alive: not interrupted
        pause.go.set()
        done = queue.wait(job.job_ref)
    assert (done.status, done.error, done.attempts) == ("printed", None, 1)
    assert printer.tickets == [SLIP]
    assert audit.actions(job.job_ref) == ["print.submit", "print.start", "print.printed"]


def test_a_job_the_lease_check_took_before_it_was_sent_is_not_sent(
    database: Database, paused: tuple[DummyPrinter, AuditSpy, Pause]
) -> None:
    printer, audit, pause = paused
    with make_queue(database, printer, audit) as queue:
        job = queue.submit("kiosk-1", "l2", "registration_slip", make_slip())
        assert pause.reached.wait(15)
        # Another daemon of this station starts (the first one looked dead: its clock says the job's
        # heartbeat is an hour old) and fails the job as interrupted ...
        restarted = AuditSpy()
        with make_queue(database, DummyPrinter(), restarted, clock=Clock(dt.timedelta(hours=1))):
            pass
        failed = queue.get(job.job_ref)
        assert failed.status == "failed"
        assert failed.error is not None
        assert failed.error.code == "interrupted"
        assert restarted.actions(job.job_ref) == ["print.failed"]
        # ... then the first worker goes on: the job is no longer its own, so it sends nothing.
        pause.go.set()
    assert printer.tickets == []
    assert queue.get(job.job_ref) == failed
    assert audit.actions(job.job_ref) == ["print.submit", "print.start"]
