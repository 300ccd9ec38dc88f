"""/v1/print over the embedded HIS, payments and a real print queue printing on a virtual ESC/POS printer
(real TCP), on SQLite and PostgreSQL: what is printed comes from the card holder's own records, a job
prints once, a printer problem holds it (and says why) until the printer is back, a held job can be
cancelled, a finished one reprinted (补打) for the same card only, and every refusal keeps the error
shape. Nothing printed or answered carries the full card number or name."""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cardservice.his import CHINA_TZ, EmbeddedHis, open_embedded_his
from cardservice.payments import CashDesk, Ledger, Payments, PrepaidAccount
from cardservice.printing import PrintQueue
from cardservice.store import Database
from drivers.printers import NetworkPrinter
from simulators.demo import demo_patient
from simulators.escpos import PrinterHandle, TicketFile
from tests.api.conftest import (
    ADMIN,
    BASE_URL,
    CARD_NUMBER,
    CARD_READER,
    HIS,
    HOLDER,
    KIOSK,
    OTHER_KIOSK_KEY,
    READER,
    Stack,
    StackFactory,
    assert_error,
)
from tests.dbfixtures import database, database_url
from tests.payments.conftest import make_patient
from tests.printing.conftest import AuditSpy, network_printer, printer
from tests.printing.samples import make_slip
from tests.virtualcards import make_card

__all__ = ["database", "database_url", "network_printer", "printer"]

MASKED = f"{CARD_NUMBER[:4]}{'*' * 12}{CARD_NUMBER[-2:]}"
HOSPITAL = "演示市第一人民医院"
KIOSK2 = {"X-API-Key": OTHER_KIOSK_KEY}
IDENTITY = f"/v1/readers/{READER}/card/identity"
OTHER_PATIENT = make_patient(207, "赵小兰")  # a patient of the HIS who is not the card holder
PAPER_OUT_ZH = "打印机缺纸，请联系工作人员更换纸卷"
SUMMARY_FIELDS = {"id", "title", "specimen", "department", "doctor_name", "collected_at", "reported_at",
                  "items", "abnormal"}  # fmt: skip


# -- the stack ------------------------------------------------------------------------------------------


@pytest.fixture
def queue_audit() -> AuditSpy:
    return AuditSpy()


@pytest.fixture
def print_queue(
    database: Database, network_printer: NetworkPrinter, queue_audit: AuditSpy
) -> Iterator[PrintQueue]:
    queue = PrintQueue(
        database, {"front": network_printer}, audit=queue_audit, station="kiosk-test", poll_interval=0.05,
        max_poll_interval=0.2, holder_key=b"k" * 32,
    )  # fmt: skip
    queue.start()
    try:
        yield queue
    finally:
        queue.stop()


@pytest.fixture
def stack(make_stack: StackFactory, database: Database, print_queue: PrintQueue) -> Stack:
    his = open_embedded_his(database, patient=demo_patient())
    ledger = Ledger(database)
    payments = Payments(database, his, [PrepaidAccount(ledger), CashDesk(ledger)], ledger=ledger)
    return make_stack(his=his, payments=payments, print_queue=print_queue, hospital_name=HOSPITAL)


@pytest.fixture
def client(stack: Stack) -> Iterator[TestClient]:
    with TestClient(stack.app, base_url=BASE_URL) as test_client:
        yield test_client


# -- helpers --------------------------------------------------------------------------------------------


def _submit(client: TestClient, key: str, *, headers: dict[str, str] = KIOSK, **body: Any) -> Any:
    return client.post("/v1/print/jobs", json=body, headers={**headers, "Idempotency-Key": key})


def _queued(client: TestClient, key: str, *, headers: dict[str, str] = KIOSK, **body: Any) -> dict[str, Any]:
    response = _submit(client, key, headers=headers, **body)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert job["status"] in ("queued", "printing", "held", "printed")
    assert job["card"] == MASKED
    return job


def _wait(client: TestClient, job_ref: str, headers: dict[str, str] = KIOSK) -> dict[str, Any]:
    response = client.get(f"/v1/print/jobs/{job_ref}", params={"wait": 10}, headers=headers)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def _eventually(client: TestClient, job_ref: str, status: str, timeout: float = 15.0) -> dict[str, Any]:
    """The job once it is *status* (a held job answers ?wait at once: poll)."""
    deadline = time.monotonic() + timeout
    while True:
        job = _wait(client, job_ref)
        if job["status"] == status:
            return job
        assert time.monotonic() < deadline, f"job {job_ref} is still {job['status']}, not {status}"
        time.sleep(0.05)


def _preview(client: TestClient, job_ref: str, headers: dict[str, str] = KIOSK) -> list[str]:
    response = client.get(f"/v1/print/jobs/{job_ref}/preview", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["job_ref"] == job_ref
    pages: list[str] = response.json()["pages"]
    return pages


def _complete(printer: PrinterHandle) -> list[str]:
    return [t.text for t in printer.tickets() if t.complete]


def _settle(printer: PrinterHandle, count: int) -> list[TicketFile]:
    """The printer's tickets once *count* were cut, after a pause in which nothing more may come."""
    tickets = printer.wait_for_tickets(count)
    assert len(tickets) >= count
    time.sleep(0.3)
    assert len(printer.tickets()) == count, [t.text for t in printer.tickets()]
    return printer.tickets()


def _mask(name: str) -> str:
    return name[0] + "*" * (len(name) - 1)


def _yuan(fen: int) -> str:
    """Money as the printer prints it: the full-width ￥ of the GB18030 fonts (cardservice.printing)."""
    return f"\uffe5{fen // 100}.{fen % 100:02d}"


def _holder_name(client: TestClient) -> str:
    """The card holder's name as the card in the reader says (not a constant of this test)."""
    name: str = client.get(IDENTITY, headers=KIOSK).json()["name"]
    assert len(name) >= 2
    return name


def _slot(client: TestClient, *, with_doctor: bool) -> dict[str, Any]:
    internal = next(
        d
        for d in client.get("/v1/registration/departments", headers=KIOSK).json()["departments"]
        if d["name"] == "内科"
    )
    day = (dt.datetime.now(CHINA_TZ).date() + dt.timedelta(days=1)).isoformat()
    slots = client.get(
        "/v1/registration/slots",
        params={"department": internal["id"], "date_from": day, "date_to": day},
        headers=KIOSK,
    ).json()["slots"]
    slot: dict[str, Any] = next(
        s for s in slots if s["remaining"] > 0 and (s["doctor_id"] is not None) == with_doctor
    )
    return slot


def _book(client: TestClient, key: str, *, with_doctor: bool = True) -> dict[str, Any]:
    slot = _slot(client, with_doctor=with_doctor)
    booked = client.post(
        "/v1/registration/bookings", json={"slot_id": slot["id"]}, headers={**KIOSK, "Idempotency-Key": key}
    )
    assert booked.status_code == 201, booked.text
    registration: dict[str, Any] = booked.json()
    return registration


def _no_personal_data(*texts: str, name: str) -> None:
    for text in texts:
        assert CARD_NUMBER not in text
        assert name not in text


def _swap_card(stack: Stack, holder: dict[str, Any] | None) -> None:
    """Another card in the reader (*holder*; None: the reader left empty)."""
    old = stack.reader().card_id
    if holder is None:
        stack.backend.remove(CARD_READER)
        stack.wait_state("empty")
        return
    stack.backend.insert(CARD_READER, make_card(stack.folder, "health", holder=holder))
    stack.wait_state("ready", other_than=old)


def _other_holder() -> dict[str, Any]:
    """A second card holder (synthetic): OTHER_PATIENT's card."""
    holder = copy.deepcopy(HOLDER)
    number = OTHER_PATIENT.card_number
    holder["DDF1/EF05"]["card_number"] = number
    holder["DDF1/EF06"].update(id_number=number, name=OTHER_PATIENT.name, birth_date="1990-01-01")
    holder["DDF1/DF01/EF08"]["document_number"] = number
    return holder


# -- 1. registration slip and payment receipt, the whole way --------------------------------------------


def test_book_pay_and_print_the_slip_and_the_receipt(
    client: TestClient, stack: Stack, printer: PrinterHandle, queue_audit: AuditSpy
) -> None:
    name = _holder_name(client)
    registration = _book(client, "book-1")
    listed = client.get("/v1/registration/bookings", headers=KIOSK)
    assert listed.status_code == 200, listed.text
    assert listed.json()["card"] == MASKED
    mine = [r for r in listed.json()["registrations"] if r["id"] == registration["id"]]
    assert len(mine) == 1
    assert (mine[0]["status"], mine[0]["bill_id"]) == ("booked", registration["bill_id"])

    fee = registration["fee_fen"]
    bills = client.get("/v1/payments/bills", headers=KIOSK).json()["bills"]
    bill = next(b for b in bills if b["id"] == registration["bill_id"])
    assert bill["total_fen"] == fee
    item_names = [item["name"] for item in bill["items"]]
    assert item_names
    # Cash at the counter (an HIS key): a kiosk never takes cash.
    top_up = client.post("/v1/payments/top-ups", json={"amount_fen": fee, "method": "cash"},
                         headers={**HIS, "Idempotency-Key": "tu-1"})  # fmt: skip
    assert top_up.status_code == 200, top_up.text
    assert top_up.json()["status"] == "settled"
    paid = client.post("/v1/payments", json={"bill_id": bill["id"], "amount_fen": fee, "method": "prepaid"},
                       headers={**KIOSK, "Idempotency-Key": "pay-1"})  # fmt: skip
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "settled"
    reference = paid.json()["reference"]

    slip_job = _queued(client, "slip-1", kind="registration_slip", registration_id=registration["id"])
    receipt_job = _queued(client, "rcpt-1", kind="payment_receipt", order_reference=reference)
    top_up_job = _queued(client, "rcpt-2", kind="payment_receipt", order_reference=top_up.json()["reference"])
    assert (slip_job["kind"], receipt_job["kind"]) == ("registration_slip", "payment_receipt")
    jobs = [_wait(client, job["job_ref"]) for job in (slip_job, receipt_job, top_up_job)]
    for job in jobs:
        assert (job["status"], job["finished"], job["attempts"], job["error"]) == ("printed", True, 1, None)
        assert (job["printer"], job["card"], job["reprint_of"]) == ("front", MASKED, None)
        assert job["printed_at"] is not None

    tickets = _settle(printer, 3)
    assert all(t.complete for t in tickets)
    slip, receipt, top_up_receipt = tickets  # one printer: in the order asked
    start = dt.datetime.fromisoformat(registration["start"]).astimezone(CHINA_TZ)
    end = dt.datetime.fromisoformat(registration["end"]).astimezone(CHINA_TZ)
    session = "上午" if start.hour < 12 else "下午"
    for text in (
        HOSPITAL,
        "挂号单",
        registration["department_name"],
        registration["doctor_name"],
        _mask(name),
        _yuan(fee),
        f"{start:%Y-%m-%d}",
        f"{session} {start:%H:%M}-{end:%H:%M}",
        f"{registration['queue_number']:03d}",
    ):
        assert text in slip.text, (text, slip.text)
    assert [data for _symbology, data in slip.ticket.barcodes] == [registration["id"]]
    assert slip.ticket.qr_codes == ()

    for text in (HOSPITAL, "门诊缴费收据", *item_names, "就诊卡账户", reference, _yuan(fee), _mask(name)):
        assert text in receipt.text, (text, receipt.text)
    assert receipt.ticket.qr_codes == (reference,)
    assert "就诊卡账户充值" in top_up_receipt.text
    assert "现金" in top_up_receipt.text
    assert top_up_receipt.ticket.qr_codes == (top_up.json()["reference"],)

    # what the kiosk previews is what came out of the printer
    assert [_preview(client, job["job_ref"]) for job in jobs] == [[t.text] for t in tickets]
    listing = client.get("/v1/print/jobs", headers=KIOSK)
    assert [j["job_ref"] for j in listing.json()["jobs"]] == [j["job_ref"] for j in reversed(jobs)]
    assert client.get("/v1/print/jobs", params={"status": "held"}, headers=KIOSK).json() == {"jobs": []}

    _no_personal_data(
        *(t.text for t in tickets), json.dumps(jobs, ensure_ascii=False), listing.text, name=name
    )
    api_audit = [c for c in stack.audit_calls if c["action"].startswith("print.")]
    assert [(c["action"], c["result"], c["target"]) for c in api_audit] == [
        ("print.registration_slip", "queued", registration["id"]),
        ("print.payment_receipt", "queued", reference),
        ("print.payment_receipt", "queued", top_up.json()["reference"]),
    ]
    assert {c["card"] for c in api_audit} == {MASKED}
    assert queue_audit.actions(slip_job["job_ref"]) == ["print.submit", "print.start", "print.printed"]
    assert {r["card"] for r in queue_audit.records} == {MASKED}
    _no_personal_data(repr(stack.audit_calls), repr(queue_audit.records), name=name)


# -- 2. lab reports -------------------------------------------------------------------------------------


def test_lab_reports_are_listed_and_the_biggest_prints_page_by_page(
    client: TestClient, printer: PrinterHandle, database: Database
) -> None:
    listed = client.get("/v1/print/lab-reports", headers=KIOSK)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["card"] == MASKED
    reports = body["lab_reports"]
    patient = demo_patient()
    assert patient is not None
    assert patient.card_number == CARD_NUMBER  # the seeded reports are the card holder's
    seeded = {r.id: r for r in EmbeddedHis(database).lab_reports(patient)}
    assert [r["id"] for r in reports] == list(seeded)
    assert {"JY-DEMO-0001", "JY-DEMO-0002", "JY-DEMO-0003"} <= set(seeded)
    reported = [r["reported_at"] for r in reports]
    assert reported == sorted(reported, reverse=True)  # newest first
    for summary in reports:
        report = seeded[summary["id"]]
        assert (summary["title"], summary["specimen"]) == (report.title, report.specimen)
        assert summary["items"] == len(report.items)
        assert summary["abnormal"] == sum(1 for item in report.items if item.abnormal)
        assert set(summary) == SUMMARY_FIELDS  # the results themselves are only ever printed
    assert any(r["abnormal"] > 0 for r in reports)

    biggest = max(reports, key=lambda r: r["items"])
    assert biggest["items"] > 20  # more than one page of results
    job = _queued(client, "lab-1", kind="lab_report", report_id=biggest["id"])
    done = _wait(client, job["job_ref"])
    assert (done["status"], done["kind"], done["attempts"]) == ("printed", "lab_report", 1)
    pages = _preview(client, job["job_ref"])
    assert len(pages) >= 2
    tickets = _settle(printer, len(pages))
    assert [t.text for t in tickets if t.complete] == pages  # every page, exactly once
    text = "".join(pages)
    assert f"{biggest['title']}检验报告单" in pages[0]
    assert f"第 1/{len(pages)} 页" in pages[0]
    assert f"第 {len(pages)}/{len(pages)} 页" in pages[-1]
    assert "↑" in text.replace("↑ 高于参考范围", "")  # a flagged result, not only the legend
    assert "↓" in text.replace("↓ 低于参考范围", "")
    assert "* 异常" not in text  # no qualitative abnormal result in a blood count
    identity = client.get(IDENTITY, headers=HIS).json()  # the exact birth date: his scope only
    collected = dt.datetime.fromisoformat(biggest["collected_at"]).astimezone(CHINA_TZ).date()
    born = dt.date.fromisoformat(identity["birth_date"])
    age = collected.year - born.year - ((collected.month, collected.day) < (born.month, born.day))
    assert f"年龄：{age}岁" in pages[0]
    assert f"性别：{ {'1': '男', '2': '女'}[identity['sex']] }" in pages[0]  # the card's XB code
    _no_personal_data(text, name=identity["name"])

    qualitative = next(r for r in reports if any(item.abnormal == "*" for item in seeded[r["id"]].items))
    other = _queued(client, "lab-2", kind="lab_report", report_id=qualitative["id"])
    assert _wait(client, other["job_ref"])["status"] == "printed"
    assert "* 异常" in "".join(_preview(client, other["job_ref"]))


# -- 3. idempotency -------------------------------------------------------------------------------------


def test_the_same_key_is_the_same_job_and_another_request_with_it_is_refused(
    client: TestClient, printer: PrinterHandle
) -> None:
    first = _queued(client, "idem-1", kind="lab_report", report_id="JY-DEMO-0002")
    again = _queued(client, "idem-1", kind="lab_report", report_id="JY-DEMO-0002")
    assert again["job_ref"] == first["job_ref"]
    assert _wait(client, first["job_ref"])["status"] == "printed"
    after = _submit(client, "idem-1", kind="lab_report", report_id="JY-DEMO-0002")
    assert (after.status_code, after.json()["job_ref"], after.json()["status"]) == (
        202,
        first["job_ref"],
        "printed",
    )
    conflict = _submit(client, "idem-1", kind="lab_report", report_id="JY-DEMO-0003")
    assert_error(conflict, 409, "idempotency_conflict")
    _settle(printer, 1)
    # keys are per client: another kiosk's "idem-1" is its own job
    theirs = _queued(client, "idem-1", headers=KIOSK2, kind="lab_report", report_id="JY-DEMO-0002")
    assert theirs["job_ref"] != first["job_ref"]
    assert _wait(client, theirs["job_ref"], KIOSK2)["status"] == "printed"
    _settle(printer, 2)
    assert len(client.get("/v1/print/jobs", headers=KIOSK).json()["jobs"]) == 1


# -- 4. ownership ---------------------------------------------------------------------------------------


def test_a_job_is_only_its_clients_and_an_admins(client: TestClient, printer: PrinterHandle) -> None:
    job = _queued(client, "own-1", kind="lab_report", report_id="JY-DEMO-0003")
    ref = job["job_ref"]
    assert _wait(client, ref)["status"] == "printed"
    base = f"/v1/print/jobs/{ref}"
    assert_error(client.get(base, headers=KIOSK2), 404, "print_job_not_found")
    assert_error(client.get(base, params={"wait": 1}, headers=KIOSK2), 404, "print_job_not_found")
    assert_error(client.get(f"{base}/preview", headers=KIOSK2), 404, "print_job_not_found")
    assert_error(client.post(f"{base}/cancel", headers=KIOSK2), 404, "print_job_not_found")
    reprint = client.post(f"{base}/reprint", json={}, headers={**KIOSK2, "Idempotency-Key": "rp-2"})
    assert_error(reprint, 404, "print_job_not_found")
    assert client.get("/v1/print/jobs", headers=KIOSK2).json() == {"jobs": []}
    # an unknown job is the same answer: nothing tells another client that a job exists
    assert_error(client.get("/v1/print/jobs/pj_0000000000000000", headers=KIOSK), 404, "print_job_not_found")

    assert [j["job_ref"] for j in client.get("/v1/print/jobs", headers=ADMIN).json()["jobs"]] == [ref]
    assert client.get(base, headers=ADMIN).json()["status"] == "printed"
    assert _preview(client, ref, ADMIN) == _preview(client, ref)
    _settle(printer, 1)  # nothing was reprinted by the refused requests


# -- 5. paper out mid-job -------------------------------------------------------------------------------


def test_paper_out_mid_job_holds_it_with_the_reason_and_it_prints_whole_once_paper_is_back(
    client: TestClient, printer: PrinterHandle
) -> None:
    assert client.get("/v1/print/printers", headers=KIOSK).json() == {
        "printers": [{"name": "front", "default": True, "ready": True, "problem": None}]
    }
    printer.set_paper(False, after_lines=10)
    job = _queued(client, "paper-1", kind="lab_report", report_id="JY-DEMO-0001")
    held = _wait(client, job["job_ref"])
    assert (held["status"], held["finished"], held["attempts"]) == ("held", False, 1)
    assert held["error"]["code"] == "paper_out"
    assert held["error"]["message_zh"] == PAPER_OUT_ZH
    assert held["error"]["message"]
    (printer_state,) = client.get("/v1/print/printers", headers=KIOSK).json()["printers"]
    assert (printer_state["name"], printer_state["ready"]) == ("front", False)
    assert printer_state["problem"]["code"] == "paper_out"
    assert printer_state["problem"]["message_zh"] == PAPER_OUT_ZH
    (torn,) = printer.tickets()
    assert not torn.complete
    assert torn.text.endswith("[PAPER OUT]\n")

    printer.set_paper(True)
    done = _eventually(client, job["job_ref"], "printed")
    assert (done["attempts"], done["error"], done["finished"]) == (2, None, True)
    pages = _preview(client, job["job_ref"])
    assert len(pages) >= 2
    tickets = _settle(printer, 1 + len(pages))
    assert _complete(printer) == pages  # the whole job, once, after the torn part
    assert tickets[0] == torn
    assert client.get("/v1/print/printers", headers=KIOSK).json()["printers"][0]["ready"] is True


# -- 6. cancel ------------------------------------------------------------------------------------------


def test_a_held_job_cancelled_never_prints_and_a_printed_one_cannot_be_cancelled(
    client: TestClient, printer: PrinterHandle, queue_audit: AuditSpy
) -> None:
    printer.set_paper(False)
    job = _queued(client, "cancel-1", kind="lab_report", report_id="JY-DEMO-0002")
    held = _wait(client, job["job_ref"])
    assert (held["status"], held["error"]["code"]) == ("held", "paper_out")
    cancelled = client.post(f"/v1/print/jobs/{job['job_ref']}/cancel", headers=KIOSK)
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["finished"]) == ("cancelled", True)
    twice = assert_error(client.post(f"/v1/print/jobs/{job['job_ref']}/cancel", headers=KIOSK), 409,
                         "job_not_cancellable")  # fmt: skip
    assert twice["details"] == {"status": "cancelled"}
    assert queue_audit.actions(job["job_ref"])[-1] == "print.cancel"

    printer.set_paper(True)
    after = _queued(client, "cancel-2", kind="lab_report", report_id="JY-DEMO-0003")
    # It may be held for a moment (the worker's last look still saw no paper): printed in the end.
    _eventually(client, after["job_ref"], "printed")
    (ticket,) = _settle(printer, 1)
    assert ticket.text == _preview(client, after["job_ref"])[0]  # only the job asked after
    assert _wait(client, job["job_ref"])["status"] == "cancelled"
    printed = client.post(f"/v1/print/jobs/{after['job_ref']}/cancel", headers=KIOSK)
    assert assert_error(printed, 409, "job_not_cancellable")["details"] == {"status": "printed"}
    statuses = {j["job_ref"]: j["status"] for j in client.get("/v1/print/jobs", headers=KIOSK).json()["jobs"]}
    assert statuses == {job["job_ref"]: "cancelled", after["job_ref"]: "printed"}


# -- 7. reprint (补打) -----------------------------------------------------------------------------------


def test_reprint_is_for_finished_jobs_and_the_same_card_only(
    client: TestClient, stack: Stack, printer: PrinterHandle, queue_audit: AuditSpy
) -> None:
    name = _holder_name(client)
    job = _queued(client, "orig-1", kind="lab_report", report_id="JY-DEMO-0003")
    assert _wait(client, job["job_ref"])["status"] == "printed"
    (original,) = _settle(printer, 1)
    assert "补打" not in original.text

    url = f"/v1/print/jobs/{job['job_ref']}/reprint"
    copy_ = client.post(url, json={}, headers={**KIOSK, "Idempotency-Key": "rp-1"})
    assert copy_.status_code == 202, copy_.text
    reprint = copy_.json()
    assert (reprint["reprint_of"], reprint["kind"], reprint["card"]) == (job["job_ref"], "lab_report", MASKED)
    assert reprint["job_ref"] != job["job_ref"]
    again = client.post(url, json={}, headers={**KIOSK, "Idempotency-Key": "rp-1"})
    assert (again.status_code, again.json()["job_ref"]) == (202, reprint["job_ref"])
    assert _wait(client, reprint["job_ref"])["status"] == "printed"
    first, second = _settle(printer, 2)
    assert first == original
    assert "【补打】" in second.text
    assert second.text.replace("【补打】\n", "").splitlines()[:-1] == original.text.splitlines()[:-1]
    assert _preview(client, reprint["job_ref"]) == [second.text]

    # a job still waiting prints by itself: no reprint
    printer.set_paper(False)
    pending = _queued(client, "orig-2", kind="lab_report", report_id="JY-DEMO-0002")
    assert _wait(client, pending["job_ref"])["status"] == "held"
    refused = client.post(f"/v1/print/jobs/{pending['job_ref']}/reprint", json={},
                          headers={**KIOSK, "Idempotency-Key": "rp-3"})  # fmt: skip
    assert assert_error(refused, 409, "job_not_finished")["details"] == {"status": "held"}
    assert client.post(f"/v1/print/jobs/{pending['job_ref']}/cancel", headers=KIOSK).status_code == 200
    printer.set_paper(True)

    # another card in the reader: the holder's job is not theirs to reprint, nor to read
    _swap_card(stack, _other_holder())
    other = client.post(url, json={}, headers={**KIOSK, "Idempotency-Key": "rp-4"})
    assert_error(other, 403, "card_mismatch")
    preview = client.get(f"/v1/print/jobs/{job['job_ref']}/preview", headers=KIOSK)
    assert "血" not in assert_error(preview, 403, "card_mismatch")["message"]
    _swap_card(stack, None)  # no card at all (the reader says the card was removed)
    assert_error(client.post(url, json={}, headers={**KIOSK, "Idempotency-Key": "rp-5"}), 409, "card_removed")
    # the patient has left: the same kiosk key gets no lab report's text
    left = client.get(f"/v1/print/jobs/{reprint['job_ref']}/preview", headers=KIOSK)
    assert_error(left, 409, "card_removed")
    assert second.text not in left.text
    _settle(printer, 2)

    api_audit = [c for c in stack.audit_calls if c["action"] == "print.reprint"]
    assert [(c["result"], c["target"]) for c in api_audit] == [
        ("queued", job["job_ref"]),
        ("queued", job["job_ref"]),
        ("job_not_finished", pending["job_ref"]),
        ("card_mismatch", job["job_ref"]),
    ]
    other_masked = f"{OTHER_PATIENT.card_number[:4]}{'*' * 12}{OTHER_PATIENT.card_number[-2:]}"
    assert [c["card"] for c in api_audit] == [MASKED, MASKED, MASKED, other_masked]
    queued = [r for r in queue_audit.records if r["action"] == "print.reprint"]
    assert [(r["target"], r["card"], r["detail"]["reprint_of"]) for r in queued] == [
        (reprint["job_ref"], MASKED, job["job_ref"])
    ]
    for text in (repr(stack.audit_calls), repr(queue_audit.records)):
        _no_personal_data(text, name=name)
        assert OTHER_PATIENT.card_number not in text


# -- 8. refusals ----------------------------------------------------------------------------------------


def test_malformed_requests_keep_the_error_shape(client: TestClient, printer: PrinterHandle) -> None:
    for key, body in (
        ("bad-1", {"kind": "prescription", "registration_id": "GH1"}),
        ("bad-2", {"registration_id": "GH1"}),
        ("bad-3", {"kind": "lab_report", "report_id": "JY-DEMO-0001", "card_number": CARD_NUMBER}),
        ("bad-4", {"kind": "lab_report", "report_id": "JY-DEMO-0001", "patient_name": "张三"}),
        ("bad-5", {"kind": "lab_report", "registration_id": "GH1"}),
        ("bad-6", {"kind": "lab_report", "report_id": ""}),
        ("bad-7", {"kind": "lab_report", "report_id": "JY-DEMO-0001", "printer": "x" * 65}),
    ):
        assert_error(_submit(client, key, **body), 422, "invalid_request")
    missing = client.post("/v1/print/jobs", json={"kind": "lab_report", "report_id": "JY-DEMO-0001"},
                          headers=KIOSK)  # fmt: skip
    assert_error(missing, 422, "invalid_request")
    spaces = _submit(client, "no spaces", kind="lab_report", report_id="JY-DEMO-0001")
    assert_error(spaces, 422, "invalid_request")
    not_json = client.post("/v1/print/jobs", content=b"{", headers={**KIOSK, "Idempotency-Key": "bad-8"})
    assert_error(not_json, 422, "invalid_request")
    printer_error = assert_error(
        _submit(client, "bad-9", kind="lab_report", report_id="JY-DEMO-0001", printer="back"),
        422,
        "unknown_printer",
    )
    assert printer_error["details"] == {"printers": ["front"]}
    assert_error(client.get("/v1/print/jobs/x", params={"wait": 31}, headers=KIOSK), 422, "invalid_request")
    assert_error(client.get("/v1/print/jobs", params={"status": "lost"}, headers=KIOSK), 422,
                 "invalid_request")  # fmt: skip
    assert_error(client.get(f"/v1/print/jobs/{'p' * 33}", headers=KIOSK), 422, "invalid_request")
    assert client.get("/v1/print/jobs", headers=KIOSK).json() == {"jobs": []}
    time.sleep(0.2)
    assert printer.tickets() == []


def test_records_that_are_not_the_card_holders_are_not_found(
    client: TestClient, stack: Stack, printer: PrinterHandle
) -> None:
    his, payments = stack.services.his, stack.services.payments
    assert his is not None
    assert payments is not None
    slot = _slot(client, with_doctor=False)
    theirs = his.book(OTHER_PATIENT, slot["id"], idempotency_key="other-book-1")
    their_order = payments.top_up("counter", "other-tu-1", OTHER_PATIENT, 2_000, "cash")
    assert their_order.status == "settled"
    cases: tuple[tuple[str, dict[str, Any], str], ...] = (
        ("nf-1", {"kind": "registration_slip", "registration_id": theirs.id}, "his_not_found"),
        ("nf-2", {"kind": "registration_slip", "registration_id": "GH-NO-SUCH"}, "his_not_found"),
        ("nf-3", {"kind": "payment_receipt", "order_reference": their_order.reference}, "order_not_found"),
        ("nf-4", {"kind": "payment_receipt", "order_reference": "PO-NO-SUCH"}, "order_not_found"),
        ("nf-5", {"kind": "lab_report", "report_id": "JY-NO-SUCH"}, "his_not_found"),
    )
    for key, body, code in cases:
        assert_error(_submit(client, key, **body), 404, code)
    assert client.get("/v1/print/jobs", headers=ADMIN).json() == {"jobs": []}
    refused = [(c["action"], c["result"]) for c in stack.audit_calls if c["action"].startswith("print.")]
    assert refused == [
        ("print.registration_slip", "his_not_found"),
        ("print.registration_slip", "his_not_found"),
        ("print.payment_receipt", "order_not_found"),
        ("print.payment_receipt", "order_not_found"),
        ("print.lab_report", "his_not_found"),
    ]
    time.sleep(0.2)
    assert printer.tickets() == []


def test_a_cancelled_registration_and_an_unpaid_or_refunded_order_are_not_printable(
    client: TestClient, printer: PrinterHandle
) -> None:
    registration = _book(client, "book-2", with_doctor=False)
    cancelled = client.post(f"/v1/registration/bookings/{registration['id']}/cancel",
                            headers={**KIOSK, "Idempotency-Key": "cancel-reg-1"})  # fmt: skip
    assert cancelled.status_code == 200, cancelled.text
    error = assert_error(
        _submit(client, "np-1", kind="registration_slip", registration_id=registration["id"]), 409,
        "not_printable",
    )  # fmt: skip
    assert error["details"]["reason_zh"] == "该挂号已取消，不能打印挂号单"

    bill = client.get("/v1/payments/bills", headers=KIOSK).json()["bills"][0]
    declined = client.post(
        "/v1/payments", json={"bill_id": bill["id"], "amount_fen": bill["total_fen"], "method": "prepaid"},
        headers={**KIOSK, "Idempotency-Key": "pay-declined"},
    )  # fmt: skip
    assert declined.json()["status"] == "declined"  # nothing on the prepaid account
    error = assert_error(
        _submit(client, "np-2", kind="payment_receipt", order_reference=declined.json()["reference"]), 409,
        "not_printable",
    )  # fmt: skip
    assert error["details"]["reason_zh"] == "该订单未支付成功，不能打印收据"

    top_up = client.post("/v1/payments/top-ups", json={"amount_fen": 5_000, "method": "cash"},
                         headers={**HIS, "Idempotency-Key": "tu-np"}).json()  # fmt: skip
    refund = client.post(f"/v1/payments/orders/{top_up['reference']}/refund", json={"amount_fen": 1_000},
                         headers={**HIS, "Idempotency-Key": "rf-np"})  # fmt: skip
    assert refund.status_code == 200, refund.text
    assert (refund.json()["kind"], refund.json()["status"]) == ("refund", "refunded")
    assert_error(
        _submit(client, "np-3", kind="payment_receipt", order_reference=refund.json()["reference"]), 409,
        "not_printable",
    )  # fmt: skip
    assert client.get("/v1/print/jobs", headers=KIOSK).json() == {"jobs": []}
    time.sleep(0.2)
    assert printer.tickets() == []


def test_every_print_route_needs_a_kiosk_key(client: TestClient) -> None:
    routes = (
        ("GET", "/v1/print/printers"),
        ("POST", "/v1/print/jobs"),
        ("GET", "/v1/print/jobs"),
        ("GET", "/v1/print/jobs/pj_0000000000000000"),
        ("GET", "/v1/print/jobs/pj_0000000000000000/preview"),
        ("POST", "/v1/print/jobs/pj_0000000000000000/cancel"),
        ("POST", "/v1/print/jobs/pj_0000000000000000/reprint"),
        ("GET", "/v1/print/lab-reports"),
    )
    for method, path in routes:
        body = {"kind": "lab_report", "report_id": "JY-DEMO-0001"} if path.endswith("/jobs") else {}
        for headers in ({}, {"X-API-Key": "csk_nope"}):
            response = client.request(
                method, path, json=body if method == "POST" else None,
                headers={**headers, "Idempotency-Key": "auth-1"},
            )  # fmt: skip
            assert_error(response, 401, "unauthorized")
    assert client.get("/v1/print/printers", headers=HIS).status_code == 200  # his implies kiosk
    assert client.get("/v1/print/printers", headers=ADMIN).status_code == 200


def test_without_a_print_queue_the_print_routes_say_so(make_stack: StackFactory, database: Database) -> None:
    stack = make_stack(his=open_embedded_his(database, patient=demo_patient()))
    with TestClient(stack.app, base_url=BASE_URL) as client:
        headers = {**KIOSK, "Idempotency-Key": "nq-1"}
        for response in (
            client.get("/v1/print/printers", headers=KIOSK),
            client.post("/v1/print/jobs", json={"kind": "lab_report", "report_id": "JY-DEMO-0001"},
                        headers=headers),
            client.get("/v1/print/jobs", headers=KIOSK),
            client.get("/v1/print/jobs/pj_0000000000000000", headers=KIOSK),
            client.get("/v1/print/jobs/pj_0000000000000000/preview", headers=KIOSK),
            client.post("/v1/print/jobs/pj_0000000000000000/cancel", headers=KIOSK),
            client.post("/v1/print/jobs/pj_0000000000000000/reprint", json={}, headers=headers),
        ):  # fmt: skip
            assert_error(response, 503, "print_unavailable")
        assert_error(client.get("/v1/print/printers"), 401, "unauthorized")


# -- 9. stations sharing one database ------------------------------------------------------------------


def test_another_stations_jobs_are_not_this_stations(
    client: TestClient, database: Database, network_printer: NetworkPrinter, printer: PrinterHandle
) -> None:
    """Two daemons on one database (stations kiosk-test and kiosk-elsewhere, as the queue supports): this
    station's API lists only its own jobs, and must not show, preview or cancel the other's by reference
    either ("an admin key sees all of this station's jobs")."""
    elsewhere = PrintQueue(
        database,
        {"front": network_printer},
        audit=AuditSpy(),
        station="kiosk-elsewhere",
        holder_key=b"k" * 32,
    )  # never started: its job stays queued
    theirs = elsewhere.submit("kiosk-1", "kiosk-1:away-1", "registration_slip", make_slip(), card=CARD_NUMBER)
    ref = theirs.job_ref
    assert client.get("/v1/print/jobs", headers=ADMIN).json() == {"jobs": []}
    assert client.get("/v1/print/jobs", headers=KIOSK).json() == {"jobs": []}
    assert_error(client.get(f"/v1/print/jobs/{ref}", headers=ADMIN), 404, "print_job_not_found")
    assert_error(client.get(f"/v1/print/jobs/{ref}/preview", headers=ADMIN), 404, "print_job_not_found")
    assert_error(client.post(f"/v1/print/jobs/{ref}/cancel", headers=KIOSK), 404, "print_job_not_found")
    assert elsewhere.get(ref).status == "queued"  # still the other station's to print
    assert printer.tickets() == []
