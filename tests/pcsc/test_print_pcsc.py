"""Printing as a new user meets it: ``cardservice serve --demo`` (pcscd + vpcd, the virtual card inserted,
the embedded HIS, payments) with a network receipt printer configured — the virtual ESC/POS printer on a
real TCP port — driven through the HTTP API only.

Registration, payment by prepaid account, slip and receipt, a lab report of two pages; the printer runs
out of paper in the middle of a job (held with a clear error, printed whole once paper is back); the
daemon is killed while a job waits for paper and the restarted daemon prints it exactly once; and the
demo's own printer (no printer configured) writes its tickets under the data directory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from simulators.escpos import PrinterHandle, TicketFile, VirtualPrinter
from tests.healthcard.shared import DEMO
from tests.pcsc.test_daemon_pcsc import Daemon, start_daemon

pytestmark = pytest.mark.pcsc

CARD_NUMBER = DEMO["DDF1/EF05"]["card_number"]
MASKED = CARD_NUMBER[:4] + "*" * 12 + CARD_NUMBER[-2:]
NAME = DEMO["DDF1/EF06"]["name"]
HOSPITAL = "示范第一人民医院"


@pytest.fixture(scope="module")
def printer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrinterHandle]:
    with VirtualPrinter(tmp_path_factory.mktemp("printer-out")).serve_tcp("127.0.0.1", 0) as handle:
        yield handle


def _environment(printer: PrinterHandle) -> dict[str, str]:
    front = {"name": "front", "kind": "network", "host": "127.0.0.1", "port": printer.port, "paper": 80}
    return {"CARDSERVICE_PRINTERS": json.dumps([front]), "CARDSERVICE_HOSPITAL_NAME": HOSPITAL}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("print-home")


@pytest.fixture(scope="module")
def daemon(home: Path, printer: PrinterHandle) -> Iterator[Daemon]:
    with start_daemon(home, _environment(printer)) as running:
        yield running


@pytest.fixture(autouse=True)
def paper_loaded(printer: PrinterHandle) -> Iterator[None]:
    printer.set_paper(True)
    yield
    printer.set_paper(True)


def _new_tickets(printer: PrinterHandle, before: int, count: int, timeout: float = 20) -> list[TicketFile]:
    tickets = printer.wait_for_tickets(before + count, timeout)[before:]
    assert len(tickets) >= count, f"{len(tickets)} of {count} tickets printed"
    return tickets


def _submit(client: httpx.Client, key: str, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/print/jobs", json=body, headers={"Idempotency-Key": key})
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert job["status"] == "queued"
    assert job["card"] == MASKED
    return job


def _wait(client: httpx.Client, job: dict[str, Any], seconds: float = 15) -> dict[str, Any]:
    response = client.get(f"/v1/print/jobs/{job['job_ref']}", params={"wait": seconds})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _until(client: httpx.Client, job: dict[str, Any], status: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        now = _wait(client, job, 2)
        if now["status"] == status:
            return now
        assert time.monotonic() < deadline, f"job stayed {now['status']}, never {status}"
        time.sleep(0.2)


def _png_has_ink(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        gray = image.convert("L")
        assert gray.getextrema()[0] < 128, f"{path.name} is blank"
        return gray.size


def test_register_pay_and_print_the_slip_and_the_receipt(daemon: Daemon, printer: PrinterHandle) -> None:
    with daemon.client() as client:
        departments = client.get("/v1/registration/departments").json()["departments"]
        internal = next(d for d in departments if d["name"] == "内科")
        tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8, days=1)).date().isoformat()
        slots = client.get(
            "/v1/registration/slots",
            params={"department": internal["id"], "date_from": tomorrow, "date_to": tomorrow},
        ).json()["slots"]
        slot = next(s for s in slots if s["remaining"] > 0 and s["doctor_id"])
        booked = client.post("/v1/registration/bookings", json={"slot_id": slot["id"]},
                             headers={"Idempotency-Key": "print-book-1"})  # fmt: skip
        assert booked.status_code == 201, booked.text
        registration = booked.json()
        mine = client.get("/v1/registration/bookings").json()["registrations"]
        assert registration["id"] in [r["id"] for r in mine]

        balance = client.get("/v1/payments/account").json()["balance_fen"]
        assert balance >= registration["fee_fen"]  # the demo patient starts with ¥500
        paid = client.post(
            "/v1/payments",
            json={
                "bill_id": registration["bill_id"],
                "amount_fen": registration["fee_fen"],
                "method": "prepaid",
            },
            headers={"Idempotency-Key": "print-pay-1"},
        )
        assert paid.status_code == 200, paid.text
        order = paid.json()
        assert order["status"] == "settled"

        before = len(printer.tickets())
        slip_job = _submit(
            client, "print-slip-1", kind="registration_slip", registration_id=registration["id"]
        )
        receipt_job = _submit(
            client, "print-receipt-1", kind="payment_receipt", order_reference=order["reference"]
        )
        assert _wait(client, slip_job)["status"] == "printed"
        assert _wait(client, receipt_job)["status"] == "printed"
        slip, receipt = _new_tickets(printer, before, 2)

    queue_number = f"{registration['queue_number']:03d}"
    # The full-width yuan sign: what GB18030 printers print for ¥.
    fee = f"￥{registration['fee_fen'] // 100}.{registration['fee_fen'] % 100:02d}"
    for words in (HOSPITAL, "挂号单", queue_number, "内科", slot["doctor_name"], NAME[0] + "*", fee):
        assert words in slip.text, (words, slip.text)
    assert ("CODE128", registration["id"]) in slip.ticket.barcodes
    assert slip.complete
    for words in (HOSPITAL, "门诊缴费收据", "就诊卡账户", order["reference"], fee, "合计"):
        assert words in receipt.text, (words, receipt.text)
    assert receipt.ticket.qr_codes == (order["reference"],)
    for ticket in (slip, receipt):
        assert NAME not in ticket.text
        assert CARD_NUMBER not in ticket.text
        width, _height = _png_has_ink(ticket.png)
        assert width == 576  # 80 mm paper
        assert ticket.txt.read_text(encoding="utf-8") == ticket.text

    audit = daemon.cli("audit", "show", "--json")
    assert audit.returncode == 0, audit.stderr
    entries = json.loads(audit.stdout)
    printed = [e for e in entries if e["action"] == "print.printed"]
    assert {e["target"] for e in printed} >= {slip_job["job_ref"], receipt_job["job_ref"]}
    assert CARD_NUMBER not in audit.stdout
    assert NAME not in audit.stdout


def test_a_lab_report_prints_its_table_on_two_pages(daemon: Daemon, printer: PrinterHandle) -> None:
    with daemon.client() as client:
        reports = client.get("/v1/print/lab-reports").json()["lab_reports"]
        biggest = max(reports, key=lambda r: r["items"])
        assert biggest["items"] > 20
        assert biggest["abnormal"] > 0
        before = len(printer.tickets())
        job = _submit(client, "print-lab-1", kind="lab_report", report_id=biggest["id"])
        assert _wait(client, job)["status"] == "printed"
        pages = client.get(f"/v1/print/jobs/{job['job_ref']}/preview").json()["pages"]
        assert len(pages) == 2
        tickets = _new_tickets(printer, before, 2)
    assert [t.text for t in tickets] == pages
    first, second = tickets
    assert f"{biggest['title']}检验报告单" in first.text
    assert "第 1/2 页" in first.text
    assert "第 2/2 页" in second.text
    assert "项目" in first.text
    assert "参考值" in first.text
    assert "↑" in first.text + second.text or "↓" in first.text + second.text
    for ticket in tickets:
        _png_has_ink(ticket.png)


def test_paper_out_mid_job_holds_it_with_a_clear_error_and_it_prints_whole_once_paper_is_back(
    daemon: Daemon, printer: PrinterHandle
) -> None:
    with daemon.client() as client:
        report = max(client.get("/v1/print/lab-reports").json()["lab_reports"], key=lambda r: r["items"])
        before = len(printer.tickets())
        printer.set_paper(False, after_lines=12)  # the roll ends a few lines into the first page
        job = _submit(client, "print-lab-paper", kind="lab_report", report_id=report["id"])
        held = _wait(client, job)
        assert held["status"] == "held", held
        assert held["error"]["code"] == "paper_out"
        assert held["error"]["message_zh"] == "打印机缺纸，请联系工作人员更换纸卷"
        (front,) = client.get("/v1/print/printers").json()["printers"]
        assert (front["ready"], front["problem"]["code"]) == (False, "paper_out")
        torn = printer.tickets()[before:]
        assert torn
        assert not any(t.complete for t in torn)

        printer.set_paper(True)
        done = _until(client, job, "printed")
        assert done["attempts"] == 2
        assert done["error"] is None
        pages = client.get(f"/v1/print/jobs/{job['job_ref']}/preview").json()["pages"]
        time.sleep(1.0)  # anything printed twice would be here by now
        complete = [t.text for t in printer.tickets()[before:] if t.complete]
        assert complete == pages  # the whole job, exactly once
        assert client.get("/v1/print/printers").json()["printers"][0]["ready"] is True

        # A patient who gives up while the printer is out of paper cancels: it never prints later.
        printer.set_paper(False)
        count = len(printer.tickets())
        waiting = _submit(client, "print-lab-cancelled", kind="lab_report", report_id=report["id"])
        assert _wait(client, waiting)["status"] == "held"
        cancelled = client.post(f"/v1/print/jobs/{waiting['job_ref']}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        printer.set_paper(True)
        time.sleep(3.0)
        assert len(printer.tickets()) == count


def test_a_job_waiting_for_paper_survives_a_kill_and_prints_once_after_the_restart(
    daemon: Daemon, home: Path, printer: PrinterHandle
) -> None:
    with daemon.client() as client:
        registration = client.get("/v1/registration/bookings").json()["registrations"][0]
        printer.set_paper(False)
        before = len(printer.tickets())
        job = _submit(client, "print-slip-kill", kind="registration_slip", registration_id=registration["id"])
        assert _wait(client, job)["status"] == "held"
    os.killpg(daemon.process.pid, signal.SIGKILL)
    daemon.process.wait(10)

    printer.set_paper(True)
    with start_daemon(home, _environment(printer)) as restarted, restarted.client() as client:
        done = _until(client, job, "printed")
        assert done["job_ref"] == job["job_ref"]
        time.sleep(1.0)
        tickets = [t for t in printer.tickets()[before:] if t.complete]
        assert len(tickets) == 1
        assert registration["id"] in tickets[0].text

        # 补打: a copy for the same card, marked as one.
        copy = client.post(f"/v1/print/jobs/{job['job_ref']}/reprint", json={},
                           headers={"Idempotency-Key": "print-slip-kill-again"})  # fmt: skip
        assert copy.status_code == 202, copy.text
        assert copy.json()["reprint_of"] == job["job_ref"]
        assert _wait(client, copy.json())["status"] == "printed"
        again = [t for t in printer.tickets()[before:] if t.complete]
        assert len(again) == 2
        assert "【补打】" in again[1].text


def test_the_demo_printer_writes_png_and_text_under_the_data_directory(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("demo-printer-home")
    with start_daemon(home) as demo, demo.client() as client:
        line = next(line for line in demo.announced if line.startswith("demo printer:"))
        assert str(home / "printer-out") in line
        (printer,) = client.get("/v1/print/printers").json()["printers"]
        assert (printer["name"], printer["ready"]) == ("demo", True)
        report = client.get("/v1/print/lab-reports").json()["lab_reports"][0]
        job = _submit(client, "demo-lab-1", kind="lab_report", report_id=report["id"])
        assert _wait(client, job)["status"] == "printed"
        texts = sorted((home / "printer-out").glob("ticket-*.txt"))
        assert texts
        assert f"{report['title']}检验报告单" in texts[0].read_text(encoding="utf-8")
        _png_has_ink(texts[0].with_suffix(".png"))

        # systemctl stop: SIGTERM to the daemon alone. It shuts down cleanly (uvicorn re-raises the signal
        # after its own shutdown; that must not kill the daemon before its cleanup) and takes its demo
        # printer with it.
        demo.process.send_signal(signal.SIGTERM)
        assert demo.process.wait(30) == 0
        printer_pid = int(line.rsplit("kill -USR1 ", 1)[1].split()[0])
        deadline = time.monotonic() + 10
        while Path(f"/proc/{printer_pid}").exists() and "zombie" not in _proc_state(printer_pid):
            assert time.monotonic() < deadline, "the demo printer outlived the daemon"
            time.sleep(0.1)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0]
    except (OSError, IndexError):
        return "gone zombie"
