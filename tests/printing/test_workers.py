"""The workers' policy through the ReceiptPrinter contract, on a DummyPrinter (exact bytes, states set by
the test, no sockets): what is sent, held, tried again or failed as unconfirmed, and that concurrent
claims take each job once."""

from __future__ import annotations

import threading
import time

import pytest

from cardservice.printing import PaperWidth, PrintQueue, payment_receipt, preview_pages, registration_slip
from cardservice.store import Database, open_database
from drivers.printers import DummyPrinter, DummyState, encode_ticket
from tests.printing.conftest import CARD, AuditSpy, make_queue, wait_status
from tests.printing.samples import make_receipt, make_slip


def test_concurrent_claims_take_each_job_once(database_url: str, dummy: DummyPrinter) -> None:
    with open_database(database_url) as db_a, open_database(database_url) as db_b:
        queues = [make_queue(db_a, dummy), make_queue(db_b, dummy)]
        refs = {
            queues[0].submit("kiosk-1", f"k{n}", "registration_slip", make_slip()).job_ref for n in range(20)
        }
        claimed: list[str] = []
        lock = threading.Lock()

        def drain(queue: PrintQueue) -> None:
            while (job := queue._workers.claim("front")) is not None:
                with lock:
                    claimed.append(job.job_ref)

        threads = [threading.Thread(target=drain, args=(q,)) for q in queues for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert sorted(claimed) == sorted(refs)


def test_printer_error_is_retried_then_fails(database: Database, dummy: DummyPrinter) -> None:
    dummy.set_state("error")  # error bits: not a problem that holds jobs, tried max_attempts times
    audit = AuditSpy()
    with make_queue(database, dummy, audit, max_attempts=3) as queue:
        job = queue.submit("kiosk-1", "e1", "registration_slip", make_slip())
        failed = wait_status(queue, job, "failed")
    assert failed.attempts == 3
    assert failed.error is not None
    assert (failed.error.code, failed.error.message_zh) == ("printer_error", "打印机故障，请联系工作人员")
    assert audit.actions(job.job_ref).count("print.retry") == 2
    assert audit.actions(job.job_ref)[-1] == "print.failed"
    assert dummy.output == b""  # never sent to a printer that said it could not print


def test_a_job_sent_but_not_confirmed_fails_without_a_resend(database: Database, dummy: DummyPrinter) -> None:
    dummy.set_state("ready", after_print="unreachable")  # ready before the job, then silence
    with make_queue(database, dummy) as queue:
        job = queue.submit("kiosk-1", "n1", "registration_slip", make_slip())
        failed = wait_status(queue, job, "failed")
        time.sleep(0.3)
        assert queue.get(job.job_ref).attempts == 1
    assert failed.error is not None
    assert failed.error.code == "printer_unreachable"
    assert failed.error.message_zh == "打印结果未确认，请检查出纸，如需要请补打"
    assert dummy.tickets == [encode_ticket(registration_slip(make_slip()), PaperWidth.MM80)]  # sent once


def test_a_job_prints_its_exact_bytes_on_the_dummy(database: Database, dummy: DummyPrinter) -> None:
    with make_queue(database, dummy) as queue:
        job = queue.submit("kiosk-1", "d1", "registration_slip", make_slip(), card=CARD)
        assert queue.wait(job.job_ref).status == "printed"
        copy = queue.reprint(job.job_ref, client_id="kiosk-1", card=CARD)
        assert queue.wait(copy.job_ref).status == "printed"
    first, second = dummy.tickets
    assert first == encode_ticket(registration_slip(make_slip()), PaperWidth.MM80)
    assert "【补打】".encode("gb18030") in second
    assert "【补打】".encode("gb18030") not in first


def test_paper_out_after_the_job_holds_it_and_the_whole_job_prints_again(
    database: Database, dummy: DummyPrinter, audit: AuditSpy
) -> None:
    dummy.set_state("ready", after_print="paper_out")
    with make_queue(database, dummy, audit) as queue:
        job = queue.submit("kiosk-1", "h1", "payment_receipt", make_receipt())
        held = wait_status(queue, job, "held")
        assert held.error is not None
        assert held.error.code == "paper_out"
        assert queue.printer_problems()["front"].message_zh == "打印机缺纸，请联系工作人员更换纸卷"
        time.sleep(0.3)
        assert len(dummy.tickets) == 1  # polls go on; nothing more is sent
        dummy.set_state("ready")
        done = wait_status(queue, job, "printed")
        assert queue.printer_problems() == {}
    assert done.attempts == 2
    whole = encode_ticket(payment_receipt(make_receipt()), PaperWidth.MM80)
    assert dummy.tickets == [whole, whole]  # the torn one, then the whole job again
    assert audit.actions(job.job_ref) == [
        "print.submit", "print.start", "print.held", "print.start", "print.printed"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("state", "code"), [("offline", "printer_offline"), ("unreachable", "printer_unreachable")]
)
def test_a_printer_that_cannot_print_holds_jobs_without_sending(
    database: Database, dummy: DummyPrinter, state: DummyState, code: str
) -> None:
    dummy.set_state(state)
    with make_queue(database, dummy) as queue:
        job = queue.submit("kiosk-1", "o1", "registration_slip", make_slip())
        held = wait_status(queue, job, "held")
        assert held.error is not None
        assert held.error.code == code
        assert held.attempts == 0  # held by the probe: never claimed
        dummy.set_state("ready")
        wait_status(queue, job, "printed")
    assert len(dummy.tickets) == 1


def test_paper_near_end_is_audited_with_the_printed_job(database: Database, audit: AuditSpy) -> None:
    printer = DummyPrinter(paper_near_end=True, paper=PaperWidth.MM58)
    with make_queue(database, printer, audit) as queue:
        job = queue.submit("kiosk-1", "ne1", "registration_slip", make_slip())
        assert queue.wait(job.job_ref).status == "printed"
        assert queue.preview(job.job_ref) == preview_pages(registration_slip(make_slip()), PaperWidth.MM58)
    last = [r for r in audit.records if r["target"] == job.job_ref][-1]
    assert last["detail"] == {
        "attempts": 1, "kind": "registration_slip", "printer": "front", "paper_near_end": True
    }  # fmt: skip
    assert printer.output == encode_ticket(registration_slip(make_slip()), PaperWidth.MM58)
