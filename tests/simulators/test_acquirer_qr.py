"""The simulated acquirer's QR-code payments (simulators.acquirer._qr): codes once per reference, the
payer's phone, closing and expiry, refunds, signed notifications (checked here with an HMAC of our own),
and books that survive a restart. Over HTTP on a real loopback server where the wire matters; the store
directly, on a clock of the test's, where time does."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from simulators.acquirer import AcquirerStore, Faults, QrSettings, create_app
from tests.payments.test_acquirer_process import free_port
from tests.payments.test_qrcode import bound, serve

SECRET = b"simulator-test-secret-0123456789"


class Receiver:
    """The daemon's end of the notifications: records each one (headers, body) and answers *status*."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        self.status = 200
        self.app = FastAPI()

        @self.app.post("/notify")
        async def notify(request: Request) -> JSONResponse:
            self.received.append((dict(request.headers), await request.body()))
            self.arrived.set()
            return JSONResponse({"status": "ok"}, status_code=self.status)


class Acquirer:
    def __init__(self, url: str, store: AcquirerStore, faults: Faults, settings: QrSettings) -> None:
        self.url, self.store, self.faults, self.settings = url, store, faults, settings
        self.client = httpx.Client(base_url=url, timeout=10)

    def code(self, reference: str, amount_fen: int, **extra: Any) -> httpx.Response:
        return self.client.post(
            "/v1/qr/codes",
            json={"reference": reference, "amount_fen": amount_fen, **extra},
            headers={"Idempotency-Key": reference},
        )

    def pay(self, reference: str) -> dict[str, Any]:
        answer = self.client.post(f"/control/qr/{reference}/pay")
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def listed(self, day: str) -> list[tuple[str, str, int, str]]:
        rows = self.client.get("/v1/qr/transactions", params={"day": day}).json()["transactions"]
        return [(r["reference"], r["kind"], r["amount_fen"], r["status"]) for r in rows]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()
    with serve(receiver.app) as url:
        yield receiver, f"{url}/notify"


@pytest.fixture
def acquirer(tmp_path: Path, receiver: tuple[Receiver, str]) -> Iterator[Acquirer]:
    store = AcquirerStore(tmp_path / "acquirer.db")
    faults, settings = Faults(delay=1.0), QrSettings(secret=SECRET, notify_url=receiver[1])
    try:
        with serve(create_app(store, faults, qr=settings)) as url:
            acquirer = Acquirer(url, store, faults, settings)
            yield acquirer
            acquirer.client.close()
    finally:
        store.close()


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Beijing

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def test_a_code_is_made_once_per_reference(acquirer: Acquirer) -> None:
    first = acquirer.code("PO1", 500, expires_in=60)
    assert first.status_code == 200
    code = first.json()
    assert (code["status"], code["amount_fen"], code["kind"]) == ("open", 500, "code")
    assert code["code_url"].startswith("qrpay://")
    assert 59 <= code["expires_in"] <= 60
    again = acquirer.code("PO1", 500, expires_in=60).json()
    assert again["code_url"] == code["code_url"]
    assert again["expires_at"] == code["expires_at"]
    assert acquirer.code("PO1", 501).status_code == 409  # another amount under the reference
    wrong_key = acquirer.client.post(
        "/v1/qr/codes", json={"reference": "PO2", "amount_fen": 1}, headers={"Idempotency-Key": "PO3"}
    )
    assert wrong_key.status_code == 400
    assert acquirer.client.get("/v1/qr/transactions/PO2").status_code == 404


def test_a_payment_is_notified_once_signed_and_a_second_payment_goes_back(
    acquirer: Acquirer, receiver: tuple[Receiver, str]
) -> None:
    notes, _ = receiver
    acquirer.code("PO1", 1234)
    paid = acquirer.pay("PO1")
    assert (paid["result"], paid["notification"]) == ("paid", "sent:200")
    assert paid["transaction"]["status"] == "paid"
    assert notes.arrived.wait(5)
    [(headers, body)] = notes.received
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert headers["x-qr-signature"] == expected
    note = json.loads(body)
    assert (note["reference"], note["status"], note["amount_fen"]) == ("PO1", "paid", 1234)
    assert note["transaction_id"] == paid["transaction"]["transaction_id"]
    second = acquirer.pay("PO1")
    assert (second["result"], second["reason"], second["notification"]) == ("returned", "already paid", None)
    assert len(notes.received) == 1
    day = paid["transaction"]["day"]
    assert acquirer.listed(day) == [("PO1", "charge", 1234, "approved")]
    payments = acquirer.client.get("/control/qr/PO1").json()["payments"]
    assert [(p["result"], p["notification"]) for p in payments] == [
        ("accepted", "sent:200"),
        ("returned", None),
    ]


def test_the_payer_scans_the_code_the_kiosk_shows(acquirer: Acquirer) -> None:
    code = acquirer.code("PO1", 800).json()["code_url"]
    scanned = acquirer.client.post("/control/qr/scan", json={"code": code}).json()
    assert (scanned["result"], scanned["transaction"]["reference"]) == ("paid", "PO1")
    assert acquirer.client.post("/control/qr/scan", json={"code": "qrpay://elsewhere"}).status_code == 404
    assert acquirer.client.post("/control/qr/PO9/pay").status_code == 404


def test_notifications_dropped_failed_or_unsigned_are_recorded(
    acquirer: Acquirer, receiver: tuple[Receiver, str]
) -> None:
    notes, _ = receiver
    acquirer.client.post("/control/qr", json={"drop_notifications": 1}).raise_for_status()
    acquirer.code("PO1", 100)
    assert acquirer.pay("PO1")["notification"] == "dropped"
    acquirer.code("PO2", 100)
    assert acquirer.pay("PO2")["notification"] == "sent:200"  # only the next one was dropped
    assert [json.loads(body)["reference"] for _, body in notes.received] == ["PO2"]
    sock = bound()
    nowhere = f"http://127.0.0.1:{sock.getsockname()[1]}/notify"
    sock.close()
    acquirer.code("PO3", 100, notify_url=nowhere)  # the code's own notify_url wins
    assert acquirer.pay("PO3")["notification"] == "failed:ConnectError"
    notes.status = 500
    acquirer.code("PO4", 100)
    assert acquirer.pay("PO4")["notification"] == "sent:500"
    acquirer.settings.secret = None
    acquirer.code("PO5", 100)
    assert acquirer.pay("PO5")["notification"] == "none"  # never an unsigned notification
    assert len(notes.received) == 2
    assert acquirer.client.get("/control/qr").json() == {
        "notify_url": acquirer.settings.notify_url,
        "drop_notifications": 0,
        "signing": False,
    }


def test_a_code_runs_out_on_the_acquirers_clock(tmp_path: Path) -> None:
    clock = Clock()
    store = AcquirerStore(tmp_path / "acquirer.db", clock=clock)
    try:
        store.qr_create("PO1", 900, 60, None)
        clock.advance(59.5)
        code = store.qr_get("PO1")
        assert code is not None
        assert code.status == "open"
        assert code.as_json(clock())["expires_in"] == 0.5
        clock.advance(0.5)
        expired = store.qr_get("PO1")
        assert expired is not None
        assert (expired.status, expired.reason) == ("closed", "expired")
        paid = store.qr_pay("PO1")
        assert paid is not None
        assert (paid[1].result, paid[1].reason) == ("returned", "code expired")
        assert store.qr_close("PO1") == expired  # closing a closed code changes nothing
        assert store.qr_transactions("2026-12-01") == []
    finally:
        store.close()


def test_closing_bars_an_open_code_reports_a_paid_one_and_closes_an_unknown_reference(
    acquirer: Acquirer,
) -> None:
    acquirer.code("PO1", 300)
    closed = acquirer.client.post("/v1/qr/transactions/PO1/close").json()
    assert (closed["status"], closed["reason"]) == ("closed", "closed")
    late = acquirer.pay("PO1")
    assert (late["result"], late["reason"]) == ("returned", "code closed")
    acquirer.code("PO2", 400)
    paid = acquirer.pay("PO2")["transaction"]
    assert acquirer.client.post("/v1/qr/transactions/PO2/close").json()["status"] == "paid"
    unknown = acquirer.client.post("/v1/qr/transactions/PO3/close").json()
    assert (unknown["kind"], unknown["status"], unknown["reason"]) == ("closed", "closed", "unknown")
    assert acquirer.code("PO3", 100).json()["status"] == "closed"  # a code asked for later: refused
    assert acquirer.client.post("/control/qr/PO3/pay").status_code == 404  # and there is none to pay
    assert acquirer.client.post("/v1/qr/transactions/RF1/close").json()["status"] == "closed"
    refund = {"charge_reference": "PO2", "refund_reference": "RF1", "amount_fen": 100}
    barred = acquirer.client.post("/v1/qr/refunds", json=refund).json()
    assert (barred["status"], barred["reason"]) == ("declined", "reference closed")
    assert acquirer.listed(paid["day"]) == [("PO2", "charge", 400, "approved")]


def test_refunds_go_back_to_the_phone_within_what_was_paid(acquirer: Acquirer) -> None:
    acquirer.code("PO1", 1000)
    day = acquirer.pay("PO1")["transaction"]["day"]
    acquirer.code("PO2", 500)  # never paid

    def refund(charge: str, reference: str, amount: int) -> dict[str, Any]:
        answer = acquirer.client.post(
            "/v1/qr/refunds",
            json={"charge_reference": charge, "refund_reference": reference, "amount_fen": amount},
            headers={"Idempotency-Key": reference},
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    first = refund("PO1", "RF1", 400)
    assert first["status"] == "approved"
    assert refund("PO1", "RF1", 400) == first  # once per refund reference
    assert (refund("PO1", "RF2", 700)["reason"]) == "more than was paid"
    assert refund("PO1", "RF3", 600)["status"] == "approved"
    assert refund("PO2", "RF4", 100)["reason"] == "no such payment"
    assert refund("PO9", "RF5", 100)["reason"] == "no such payment"
    assert acquirer.client.get("/v1/qr/transactions/RF1").json()["status"] == "approved"
    assert (
        acquirer.client.post("/v1/qr/transactions/RF1/close").json()
        == acquirer.client.get("/v1/qr/transactions/RF1").json()
    )
    assert acquirer.listed(day) == [
        ("PO1", "charge", 1000, "approved"),
        ("RF1", "refund", 400, "approved"),
        ("RF2", "refund", 700, "declined"),
        ("RF3", "refund", 600, "approved"),
        ("RF4", "refund", 100, "declined"),
        ("RF5", "refund", 100, "declined"),
    ]


def test_the_books_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "acquirer.db"
    store = AcquirerStore(path)
    store.qr_create("PO1", 700, 600, "http://127.0.0.1:1/notify")
    store.qr_pay("PO1")
    store.qr_pay("PO1")
    store.qr_create("PO2", 800, 600, None)
    store.qr_close("PO2")
    before = (store.qr_get("PO1"), store.qr_get("PO2"), store.qr_payments("PO1"))
    store.close()
    again = AcquirerStore(path)
    try:
        assert (again.qr_get("PO1"), again.qr_get("PO2"), again.qr_payments("PO1")) == before
        assert [p.result for p in again.qr_payments("PO1")] == ["accepted", "returned"]
        created, new = again.qr_create("PO1", 700, 600, None)
        assert (created.status, new) == ("paid", False)
    finally:
        again.close()


def test_the_qr_routes_need_the_terminals_token(tmp_path: Path) -> None:
    store = AcquirerStore(tmp_path / "acquirer.db")
    try:
        with serve(create_app(store, token="terminal-token")) as url:
            refused = httpx.post(f"{url}/v1/qr/codes", json={"reference": "PO1", "amount_fen": 100})
            assert refused.status_code == 401
            assert store.qr_get("PO1") is None
            made = httpx.post(
                f"{url}/v1/qr/codes",
                json={"reference": "PO1", "amount_fen": 100},
                headers={"Authorization": "Bearer terminal-token"},
            )
            assert made.json()["status"] == "open"
            assert httpx.post(f"{url}/control/qr/PO1/pay").json()["result"] == "paid"  # the phone's side
    finally:
        store.close()


def test_the_timeout_fault_answers_late_after_acting(acquirer: Acquirer) -> None:
    acquirer.faults.mode = "timeout"
    with pytest.raises(httpx.ReadTimeout):
        acquirer.client.post("/v1/qr/codes", json={"reference": "PO1", "amount_fen": 100}, timeout=0.3)
    code = acquirer.store.qr_get("PO1")
    assert code is not None
    assert code.status == "open"  # made: only its answer was late


def test_the_process_signs_with_the_secret_from_its_environment(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    notes, notify_url = receiver
    port, secret = free_port(), "process-secret-0123456789abcdef"
    command = [sys.executable, "-m", "simulators.acquirer", "--port", str(port), "--database",
               f"sqlite:///{tmp_path / 'acq.db'}", "--qr-secret-env", "TEST_QR_SECRET", "--qr-notify-url",
               notify_url]  # fmt: skip
    missing = subprocess.run(command, env={k: v for k, v in os.environ.items() if k != "TEST_QR_SECRET"},
                             capture_output=True, timeout=30, check=False)  # fmt: skip
    assert missing.returncode == 2
    assert b"TEST_QR_SECRET is not set" in missing.stderr
    process = subprocess.Popen(
        command, env={**os.environ, "TEST_QR_SECRET": secret}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert process.poll() is None, "the acquirer exited"
                assert time.monotonic() < deadline, "the acquirer did not start"
                time.sleep(0.05)
        httpx.post(f"{url}/v1/qr/codes", json={"reference": "PO1", "amount_fen": 100}).raise_for_status()
        assert httpx.post(f"{url}/control/qr/PO1/pay").json()["notification"] == "sent:200"
        [(headers, body)] = notes.received
        assert headers["x-qr-signature"] == "sha256=" + hmac.new(secret.encode(), body, "sha256").hexdigest()
        assert secret.encode() not in Path(f"/proc/{process.pid}/cmdline").read_bytes()
    finally:
        process.terminate()
        process.wait(10)
