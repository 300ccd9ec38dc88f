"""What the queue knows of an idle printer: a worker without a job looks at its printer now and then
(every ``poll_interval`` doubling up to ``max_poll_interval`` seconds), so ``printer_problems()`` says
paper out before a job is tried, and each change is published on ``on_event``
(``printer.problem`` / ``printer.ready``). A printer whose link cannot answer status is not looked at
while idle: it is ready until a job for it fails."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from cardservice.printing import PrinterError, PrintQueue
from cardservice.store import Database
from drivers.printers import DummyPrinter, NetworkPrinter
from simulators.escpos import PrinterHandle
from tests.printing.conftest import HOLDER_KEY, AuditSpy, EventSpy, make_queue, wait_for, wait_status
from tests.printing.samples import make_slip

PAPER_OUT_ZH = "打印机缺纸，请联系工作人员更换纸卷"
# Idle looks come every 0.05 s doubling to 0.2 s in these tests (make_queue): a change is seen within
# a few of them. Generous, for a loaded machine; a pass never waits for it.
SEEN_WITHIN = 5.0


class CountingDummy(DummyPrinter):
    """A DummyPrinter that counts the status probes it answers."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.probes = 0

    def probe(self) -> PrinterError | None:
        self.probes += 1
        return super().probe()


def test_an_idle_printer_out_of_paper_is_a_problem_at_once_and_an_event(database: Database) -> None:
    printer, events = CountingDummy(), EventSpy()
    with make_queue(database, printer, on_event=events) as queue:
        wait_for(lambda: printer.probes >= 4)  # looked at while idle, again and again ...
        assert queue.printer_problems() == {}
        assert events.events == []  # ... and nothing said while nothing changes

        printer.set_state("paper_out")  # the roll ran out (or was taken out) between jobs
        wait_for(lambda: "front" in queue.printer_problems(), SEEN_WITHIN)
        problem = queue.printer_problems()["front"]
        assert (problem.code, problem.message_zh) == ("paper_out", PAPER_OUT_ZH)
        wait_for(lambda: len(events.events) == 1)
        assert events.events == [
            {"type": "printer.problem", "printer": "front", "code": "paper_out", "message_zh": PAPER_OUT_ZH}
        ]

        printer.set_state("cover_open")  # changing the roll: another problem, another event
        wait_for(lambda: len(events.events) == 2, SEEN_WITHIN)
        assert events.events[1] == {
            "type": "printer.problem",
            "printer": "front",
            "code": "cover_open",
            "message_zh": "打印机盖未关好，请联系工作人员",
        }
        assert queue.printer_problems()["front"].code == "cover_open"

        printer.set_state("ready")
        wait_for(lambda: queue.printer_problems() == {}, SEEN_WITHIN)
        wait_for(lambda: len(events.events) == 3)
        assert events.events[2] == {"type": "printer.ready", "printer": "front"}
        seen = printer.probes
        wait_for(lambda: printer.probes >= seen + 3)
        assert len(events.events) == 3  # ready stays ready, quietly

        job = queue.submit("kiosk-1", "s1", "registration_slip", make_slip())
        assert queue.wait(job.job_ref).status == "printed"
    assert all(isinstance(at, float) for at in events.times)
    assert len(printer.tickets) == 1


def test_a_job_submitted_while_an_idle_look_found_paper_out_is_held_at_once(database: Database) -> None:
    printer, events = CountingDummy(), EventSpy()
    with make_queue(database, printer, on_event=events) as queue:
        printer.set_state("paper_out")
        wait_for(lambda: "front" in queue.printer_problems(), SEEN_WITHIN)
        job = queue.submit("kiosk-1", "s2", "registration_slip", make_slip())
        held = wait_status(queue, job, "held")
        assert held.error is not None
        assert (held.error.code, held.attempts) == ("paper_out", 0)  # held by the look: never claimed
        printer.set_state("ready")
        wait_status(queue, job, "printed")
    assert [e["type"] for e in events.events] == ["printer.problem", "printer.ready"]
    assert len(printer.tickets) == 1


def test_a_failing_event_subscriber_is_logged_not_raised(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("subscriber bug")

    printer = CountingDummy()
    with (
        caplog.at_level(logging.ERROR, "cardservice.printing"),
        make_queue(database, printer, on_event=broken) as queue,
    ):
        printer.set_state("paper_out")
        wait_for(lambda: "front" in queue.printer_problems(), SEEN_WITHIN)
        wait_for(lambda: any("printer event" in r.message for r in caplog.records))
        printer.set_state("ready")
        job = queue.submit("kiosk-1", "s3", "registration_slip", make_slip())
        assert wait_status(queue, job, "printed").attempts == 1  # the worker went on
        assert queue.printer_problems() == {}


def test_a_printer_whose_link_cannot_answer_status_is_not_probed_while_idle(database: Database) -> None:
    one_way = CountingDummy(reads_status=False)  # status = false: a print server that only forwards bytes
    two_way = CountingDummy()
    events = EventSpy()
    queue = PrintQueue(
        database, {"front": one_way, "back": two_way}, audit=AuditSpy(), station="kiosk-1",
        poll_interval=0.05, max_poll_interval=0.2, holder_key=HOLDER_KEY, on_event=events,
    )  # fmt: skip
    with queue:
        wait_for(lambda: one_way.probes == 1 and two_way.probes >= 2)
        one_way.set_state("unreachable")  # a probe would say so; nobody asks
        seen = two_way.probes
        wait_for(lambda: two_way.probes >= seen + 5)  # the other printer's worker looked again and again
        assert one_way.probes == 1  # its look when the queue started, no other
        assert queue.printer_problems() == {}  # "ready" ...
        assert events.events == []

        job = queue.submit("kiosk-1", "s4", "registration_slip", make_slip(), printer="front")
        held = wait_status(queue, job, "held")  # ... until a job for it fails
        assert held.error is not None
        assert (held.error.code, held.attempts) == ("printer_unreachable", 1)
        assert queue.printer_problems()["front"].code == "printer_unreachable"
        one_way.set_state("ready")  # looked at again while its jobs wait, as before
        wait_status(queue, job, "printed")
        wait_for(lambda: queue.printer_problems() == {})
    assert [(e["type"], e["printer"]) for e in events.events] == [
        ("printer.problem", "front"),
        ("printer.ready", "front"),
    ]
    assert events.events[0]["code"] == "printer_unreachable"
    assert len(one_way.tickets) == 1
    assert two_way.tickets == []


def test_paper_out_on_an_idle_network_printer_is_seen_before_a_job(
    database: Database, printer: PrinterHandle, network_printer: NetworkPrinter
) -> None:
    """The virtual ESC/POS printer over TCP, through the driver: what GET /v1/print/printers shows."""
    events = EventSpy()
    with make_queue(database, network_printer, on_event=events) as queue:
        assert queue.printer_problems() == {}
        printer.set_paper(False)
        wait_for(lambda: "front" in queue.printer_problems(), SEEN_WITHIN)
        assert queue.printer_problems()["front"].message_zh == PAPER_OUT_ZH
        printer.set_paper(True)
        wait_for(lambda: queue.printer_problems() == {}, SEEN_WITHIN)
    assert events.events == [
        {"type": "printer.problem", "printer": "front", "code": "paper_out", "message_zh": PAPER_OUT_ZH},
        {"type": "printer.ready", "printer": "front"},
    ]
    assert printer.tickets() == []
