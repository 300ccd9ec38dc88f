"""The persistent print queue on SQLite and PostgreSQL, printing through the ReceiptPrinter contract: on
a virtual ESC/POS printer over real TCP (the driver's NetworkPrinter) and a file printer (the workers'
policy on a DummyPrinter is in test_workers.py). Jobs print once, printer problems hold them until the
printer is back, a job interrupted mid-send is never resent by itself, and a reprint says 补打."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cardservice.access import AuditLog
from cardservice.errors import IdempotencyConflict
from cardservice.printing import (
    CardMismatch,
    InvalidJob,
    JobNotCancellable,
    JobNotFinished,
    JobNotFound,
    PaperWidth,
    PrintError,
    PrintQueue,
    PrintQueueError,
    UnknownPrinter,
    lab_report,
    payment_receipt,
    preview_pages,
    registration_slip,
)
from cardservice.store import Database, PrintJobRow, open_database
from drivers.printers import FilePrinter, NetworkPrinter, PrinterConfig
from simulators.escpos import EscPosParser, PrinterHandle
from tests.printing.conftest import (
    CARD,
    MASKED_CARD,
    OTHER_CARD,
    AuditSpy,
    make_queue,
    wait_for,
    wait_status,
)
from tests.printing.samples import make_lab, make_receipt, make_slip


def complete(printer: PrinterHandle) -> list[str]:
    return [t.text for t in printer.tickets() if t.complete]


@pytest.fixture
def queue(database: Database, network_printer: NetworkPrinter, audit: AuditSpy) -> Iterator[PrintQueue]:
    with make_queue(database, network_printer, audit) as started:
        yield started


# -- printing -------------------------------------------------------------------------------------------


def test_a_job_prints_once_with_its_chinese_content_and_is_audited(
    database: Database, printer: PrinterHandle, network_printer: NetworkPrinter
) -> None:
    log = AuditLog(database, bytes(range(32)))
    with make_queue(database, network_printer, log.record) as queue:
        job = queue.submit("kiosk-1", "reg-1", "registration_slip", make_slip(), card=CARD)
        assert job.status == "queued"
        assert job.card == MASKED_CARD
        done = queue.wait(job.job_ref, timeout=15)
    assert done.status == "printed"
    assert done.attempts == 1
    assert done.error is None
    assert done.printed_at is not None
    (ticket,) = printer.wait_for_tickets(1)
    assert ticket.complete
    assert "挂号单" in ticket.text
    assert "心血管内科" in ticket.text
    assert "李*" in ticket.text
    assert ticket.text == preview_pages(registration_slip(make_slip()), PaperWidth.MM80)[0]
    assert "补打" not in ticket.text
    entries = [e for e in log.entries(limit=100) if e.target == job.job_ref]
    assert [(e.action, e.result) for e in entries] == [
        ("print.submit", "queued"),
        ("print.start", "printing"),
        ("print.printed", "printed"),
    ]
    assert {e.card for e in entries} == {MASKED_CARD}
    assert entries[-1].detail == {"attempts": 1, "kind": "registration_slip", "printer": "front"}
    assert log.verify().ok


def test_the_stored_payload_has_no_unmasked_name_or_card(database: Database, queue: PrintQueue) -> None:
    job = queue.submit("kiosk-1", "rcpt-1", "payment_receipt", make_receipt(), card=CARD)
    with database.session(readonly=True) as session:
        row = session.query(PrintJobRow).filter_by(job_ref=job.job_ref).one()
        stored = (row.payload, row.card, row.request_hash)
    assert "阿依古丽" not in stored[0]
    assert "阿*******" in stored[0]
    assert CARD not in "".join(s for s in stored if s)
    assert queue.wait(job.job_ref).status == "printed"


def test_json_payload_without_printed_at(queue: PrintQueue, printer: PrinterHandle) -> None:
    payload = {
        "hospital": "北京市朝阳区第一人民医院",
        "queue_number": "B007",
        "department": "儿科",
        "doctor": "普通门诊",
        "visit_date": "2025-03-14",
        "time_slot": "下午 14:00-14:30",
        "patient_name": "王小明",
        "fee_fen": 500,
        "registration_no": "R202503140007",
        "code": "qr",
    }
    job = queue.submit("kiosk-1", "json-1", "registration_slip", payload)
    assert queue.wait(job.job_ref).status == "printed"
    (ticket,) = printer.wait_for_tickets(1)
    assert "B007" in ticket.text
    assert "王**" in ticket.text
    assert "[QR: R202503140007]" in ticket.text
    assert "打印时间：" in ticket.text


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        ("registration_slip", {"fee_fen": 1}, "queue_number"),
        ("registration_slip", {**dataclasses.asdict(make_slip()), "extra": 1}, "unknown fields"),
        ("registration_slip", {**dataclasses.asdict(make_slip()), "fee_fen": "12.50"}, "fee_fen"),
        ("registration_slip", {**dataclasses.asdict(make_slip()), "fee_fen": -1}, "non-negative"),
        ("payment_receipt", make_slip(), "PaymentReceipt"),
        ("prescription", {}, "kind must be one of"),
    ],
)
def test_invalid_jobs_are_refused_at_submit(queue: PrintQueue, kind: str, payload: Any, message: str) -> None:
    with pytest.raises(InvalidJob) as refused:
        queue.submit("kiosk-1", "bad-1", kind, payload)
    assert isinstance(refused.value, PrintQueueError)
    assert isinstance(refused.value, PrintError)
    assert refused.value.code == "invalid_job"
    assert message in refused.value.message
    assert refused.value.message_zh == "打印内容不正确"
    assert queue.list() == []


def test_unknown_printer_and_bad_keys(queue: PrintQueue) -> None:
    with pytest.raises(UnknownPrinter) as refused:
        queue.submit("kiosk-1", "k", "registration_slip", make_slip(), printer="back")
    assert refused.value.code == "unknown_printer"
    assert refused.value.details == {"printers": ["front"]}
    assert refused.value.message_zh == "未配置该打印机"
    with pytest.raises(InvalidJob, match="idempotency key"):
        queue.submit("kiosk-1", "no spaces", "registration_slip", make_slip())
    with pytest.raises(InvalidJob, match="client id"):
        queue.submit(" ", "k", "registration_slip", make_slip())
    with pytest.raises(JobNotFound) as missing:
        queue.get("pj_0000")
    assert missing.value.code == "job_not_found"
    assert missing.value.message_zh == "未找到该打印任务"


def test_the_same_key_and_request_is_the_same_job(
    queue: PrintQueue, printer: PrinterHandle, audit: AuditSpy
) -> None:
    first = queue.submit("kiosk-1", "same", "registration_slip", make_slip(), card=CARD)
    again = queue.submit("kiosk-1", "same", "registration_slip", make_slip(), card=CARD)
    assert again.job_ref == first.job_ref
    assert queue.wait(first.job_ref).status == "printed"
    after = queue.submit("kiosk-1", "same", "registration_slip", make_slip(), card=CARD)
    assert (after.job_ref, after.status) == (first.job_ref, "printed")
    with pytest.raises(IdempotencyConflict) as conflict:
        queue.submit("kiosk-1", "same", "registration_slip", make_slip(queue_number="A024"))
    assert conflict.value.code == "idempotency_conflict"
    assert conflict.value.details == {"job_ref": first.job_ref}
    assert conflict.value.message_zh == "请求标识已用于其他打印请求"
    other_client = queue.submit("kiosk-2", "same", "registration_slip", make_slip())
    assert other_client.job_ref != first.job_ref
    queue.wait(other_client.job_ref)
    assert len(printer.wait_for_tickets(2)) == 2
    time.sleep(0.3)
    assert len(printer.tickets()) == 2
    assert audit.actions(first.job_ref).count("print.submit") == 1


# -- printer problems -----------------------------------------------------------------------------------


def test_paper_out_before_the_job_holds_it_until_paper_is_back(
    queue: PrintQueue, printer: PrinterHandle, audit: AuditSpy
) -> None:
    printer.set_paper(False)
    first = queue.submit("kiosk-1", "p1", "registration_slip", make_slip())
    held = queue.wait(first.job_ref)
    assert held.status == "held"
    assert held.error is not None
    assert held.error.code == "paper_out"
    assert held.error.message_zh == "打印机缺纸，请联系工作人员更换纸卷"
    assert queue.printer_problems()["front"].code == "paper_out"
    second = queue.submit("kiosk-1", "p2", "registration_slip", make_slip(queue_number="A024"))
    assert wait_status(queue, second, "held").error == held.error  # known at once, before any attempt
    time.sleep(0.5)  # polls go on; nothing is printed
    assert printer.tickets() == []

    printer.set_paper(True)
    assert wait_status(queue, first, "printed").error is None
    wait_status(queue, second, "printed")
    texts = [t.text for t in printer.wait_for_tickets(2)]
    assert len(texts) == 2
    assert "A023" in texts[0]
    assert "A024" in texts[1]
    assert queue.printer_problems() == {}
    time.sleep(0.3)
    assert len(printer.tickets()) == 2
    assert audit.actions(first.job_ref)[-1] == "print.printed"
    assert "print.held" in audit.actions(first.job_ref)


def test_paper_out_mid_job_is_a_clear_error_and_the_job_reprints_once_paper_is_back(
    queue: PrintQueue, printer: PrinterHandle
) -> None:
    report = make_lab(30)  # two pages
    printer.set_paper(False, after_lines=10)
    job = queue.submit("kiosk-1", "lab-1", "lab_report", report)
    held = queue.wait(job.job_ref)
    assert held.status == "held"
    assert held.error is not None
    assert (held.error.code, held.error.message_zh) == ("paper_out", "打印机缺纸，请联系工作人员更换纸卷")
    (torn,) = printer.tickets()
    assert not torn.complete
    assert torn.text.endswith("[PAPER OUT]\n")

    printer.set_paper(True)
    done = wait_status(queue, job, "printed")
    assert done.attempts == 2
    expected = list(preview_pages(lab_report(report), PaperWidth.MM80))
    wait_for(lambda: len(complete(printer)) == len(expected))
    time.sleep(0.3)
    assert complete(printer) == expected  # the whole job, exactly once
    assert len(printer.tickets()) == 1 + len(expected)


def test_a_job_held_too_long_expires_and_never_prints(
    database: Database, printer: PrinterHandle, network_printer: NetworkPrinter
) -> None:
    printer.set_paper(False)
    audit = AuditSpy()
    with make_queue(database, network_printer, audit, max_hold=0.5) as queue:
        job = queue.submit("kiosk-1", "e1", "lab_report", make_lab(3), card=CARD)
        assert queue.wait(job.job_ref).status == "held"
        expired = wait_status(queue, job, "failed")
        assert expired.error is not None
        assert (expired.error.code, expired.error.message_zh) == (
            "expired",
            "打印机长时间未就绪，打印任务已取消，如需要请补打",
        )
        printer.set_paper(True)
        fresh = queue.submit("kiosk-1", "e2", "registration_slip", make_slip())
        # It may be held for a moment (the worker's last look still saw no paper): printed in the end.
        wait_status(queue, fresh, "printed")
        (ticket,) = printer.wait_for_tickets(1)
        assert "挂号单" in ticket.text  # the expired lab report did not come out first, or at all
        time.sleep(0.3)
        assert len(printer.tickets()) == 1
        assert audit.actions(job.job_ref)[-1] == "print.failed"
        copy = queue.reprint(job.job_ref, client_id="kiosk-1", card=CARD)  # the patient came back
        assert queue.wait(copy.job_ref).status == "printed"


def test_cover_open_holds_the_job(queue: PrintQueue, printer: PrinterHandle) -> None:
    printer.set_cover(True)
    job = queue.submit("kiosk-1", "c1", "payment_receipt", make_receipt())
    held = queue.wait(job.job_ref)
    assert held.status == "held"
    assert held.error is not None
    assert (held.error.code, held.error.message_zh) == ("cover_open", "打印机盖未关好，请联系工作人员")
    printer.set_cover(False)
    wait_status(queue, job, "printed")
    (ticket,) = printer.wait_for_tickets(1)
    assert "门诊缴费收据" in ticket.text
    assert "合计" in ticket.text


def test_an_unreachable_printer_holds_the_job(database: Database, printer: PrinterHandle) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = NetworkPrinter(PrinterConfig(kind="network", host="127.0.0.1", port=port, timeout=1))
    with make_queue(database, unreachable) as queue:
        job = queue.submit("kiosk-1", "u1", "registration_slip", make_slip())
        held = wait_status(queue, job, "held")
    assert held.error is not None
    assert (held.error.code, held.error.message_zh) == (
        "printer_unreachable",
        "无法连接打印机，请联系工作人员",
    )
    assert held.attempts == 0  # held by the status poll: never sent


def test_a_held_job_can_be_cancelled_and_a_printed_one_cannot(
    queue: PrintQueue, printer: PrinterHandle, audit: AuditSpy
) -> None:
    printer.set_paper(False)
    job = queue.submit("kiosk-1", "x1", "registration_slip", make_slip())
    assert queue.wait(job.job_ref).status == "held"
    cancelled = queue.cancel(job.job_ref, actor="kiosk-1")
    assert cancelled.status == "cancelled"
    assert audit.actions(job.job_ref)[-1] == "print.cancel"
    printer.set_paper(True)
    other = queue.submit("kiosk-1", "x2", "registration_slip", make_slip(queue_number="A099"))
    wait_status(queue, other, "printed")
    (ticket,) = printer.wait_for_tickets(1)
    assert "A099" in ticket.text
    with pytest.raises(JobNotCancellable) as refused:
        queue.cancel(other.job_ref, actor="kiosk-1")
    assert refused.value.code == "job_not_cancellable"
    assert refused.value.details == {"status": "printed"}
    assert queue.get(job.job_ref).status == "cancelled"


# -- exactly once across restarts -----------------------------------------------------------------------


def test_a_job_interrupted_mid_send_fails_and_is_reprinted_on_request(
    database: Database, printer: PrinterHandle, network_printer: NetworkPrinter
) -> None:
    dead = make_queue(database, network_printer)
    job = dead.submit("kiosk-1", "i1", "registration_slip", make_slip(), card=CARD)
    assert dead._workers.claim("front") is not None  # a worker took it ... and the daemon died mid-send
    assert dead.get(job.job_ref).status == "printing"
    time.sleep(0.5)

    audit = AuditSpy()
    with make_queue(database, network_printer, audit, lease=0.3) as restarted:
        failed = restarted.get(job.job_ref)
        assert failed.status == "failed"
        assert failed.error is not None
        assert failed.error.code == "interrupted"
        assert "reprint on request" in failed.error.message
        assert failed.error.message_zh == "打印中断（服务在打印时停止），如需要请补打"
        assert audit.records[0]["action"] == "print.failed"
        assert audit.records[0]["result"] == "interrupted"
        assert audit.records[0]["card"] == MASKED_CARD
        time.sleep(0.5)
        assert printer.tickets() == []  # never resent by itself

        for card in (None, OTHER_CARD):  # a reprint is for the card holder only
            with pytest.raises(CardMismatch) as refused:
                restarted.reprint(job.job_ref, client_id="kiosk-1", idempotency_key="i1-again", card=card)
            assert (refused.value.code, refused.value.message_zh) == ("card_mismatch", "只能由持卡人本人补打")
        copy = restarted.reprint(job.job_ref, client_id="kiosk-1", idempotency_key="i1-again", card=CARD)
        assert copy.reprint_of == job.job_ref
        assert copy.card == MASKED_CARD
        again = restarted.reprint(job.job_ref, client_id="kiosk-1", idempotency_key="i1-again", card=CARD)
        assert again.job_ref == copy.job_ref
        assert restarted.wait(copy.job_ref).status == "printed"
        (ticket,) = printer.wait_for_tickets(1)
        assert "【补打】" in ticket.text
        assert "挂号单" in ticket.text
        time.sleep(0.3)
        assert len(printer.tickets()) == 1
        assert restarted.preview(copy.job_ref) == (ticket.text,)
        assert audit.actions(copy.job_ref)[0] == "print.reprint"


def test_reprint_of_a_pending_job_is_refused_and_of_a_printed_one_says_so(
    database: Database, printer: PrinterHandle, network_printer: NetworkPrinter
) -> None:
    idle = make_queue(database, network_printer)
    job = idle.submit("kiosk-1", "r1", "lab_report", make_lab(3))
    with pytest.raises(JobNotFinished) as refused:
        idle.reprint(job.job_ref, client_id="kiosk-1")
    assert refused.value.code == "job_not_finished"
    assert refused.value.details == {"status": "queued"}
    with make_queue(database, network_printer) as queue:
        assert queue.wait(job.job_ref).status == "printed"
        copy = queue.reprint(job.job_ref, client_id="staff")
        assert queue.wait(copy.job_ref).status == "printed"
    first, second = printer.wait_for_tickets(2)
    assert "补打" not in first.text
    assert "【补打】" in second.text
    assert second.text.replace("【补打】\n", "").splitlines()[:-1] == first.text.splitlines()[:-1]


def test_queued_jobs_print_after_a_restart(
    database_url: str, printer: PrinterHandle, network_printer: NetworkPrinter
) -> None:
    with open_database(database_url) as before:
        stopped = make_queue(before, network_printer)
        refs = [
            stopped.submit(
                "kiosk-1", f"q{n}", "registration_slip", make_slip(queue_number=f"A{n:03d}")
            ).job_ref
            for n in range(3)
        ]
    assert printer.tickets() == []
    with open_database(database_url) as after, make_queue(after, network_printer) as restarted:
        for ref in refs:
            wait_for(lambda ref=ref: restarted.get(ref).status == "printed")  # type: ignore[misc]
        assert [j.job_ref for j in restarted.list()] == refs[::-1]
    texts = [t.text for t in printer.wait_for_tickets(3)]
    assert [next(n for n in ("A000", "A001", "A002") if n in text) for text in texts] == [
        "A000",
        "A001",
        "A002",
    ]


def test_two_queues_on_one_database_never_print_a_job_twice(
    database_url: str, printer: PrinterHandle, network_printer: NetworkPrinter
) -> None:
    count = 12
    with open_database(database_url) as db_a, open_database(database_url) as db_b:
        queue_a, queue_b = make_queue(db_a, network_printer), make_queue(db_b, network_printer)
        with queue_a, queue_b:
            refs = [
                (queue_a if n % 2 else queue_b)
                .submit("kiosk-1", f"c{n}", "registration_slip", make_slip(registration_no=f"R{n:04d}"))
                .job_ref
                for n in range(count)
            ]
            for ref in refs:
                wait_for(lambda ref=ref: queue_a.get(ref).status == "printed", timeout=60)  # type: ignore[misc]
            jobs = [queue_a.get(ref) for ref in refs]
    assert all(job.attempts == 1 for job in jobs)
    time.sleep(0.3)
    tickets = printer.tickets()
    assert len(tickets) == count
    numbers = sorted(code for t in tickets for _, code in t.ticket.barcodes)
    assert numbers == [f"R{n:04d}" for n in range(count)]


# -- a file printer -------------------------------------------------------------------------------------


def test_a_file_printer_prints_without_status(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "lp0"
    file_printer = FilePrinter(PrinterConfig(kind="file", path=str(path), paper=PaperWidth.MM58))
    with make_queue(database, file_printer) as queue:
        job = queue.submit("kiosk-1", "f1", "payment_receipt", make_receipt())
        assert queue.wait(job.job_ref).status == "printed"
    parser = EscPosParser(384)
    parser.feed(path.read_bytes())
    assert [t.text() for t in parser.take_tickets()] == list(
        preview_pages(payment_receipt(make_receipt()), PaperWidth.MM58)
    )
