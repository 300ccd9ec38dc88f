"""/v1/payments over the embedded HIS, the ledger and the simulated acquirer (SQLite and PostgreSQL): the
card holder tops up and pays a bill; a retry storm of one request is charged once; refusals keep the
error shape; refunds need the his scope; the day reconciles."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from cardservice.his import CHINA_TZ, open_embedded_his
from cardservice.payments import CashDesk, GatewayMethod, Ledger, Payments, PrepaidAccount
from cardservice.store import Database
from simulators.demo import demo_patient
from tests.api.conftest import ADMIN, BASE_URL, CARD_NUMBER, HIS, KIOSK, Stack, StackFactory, assert_error
from tests.payments.conftest import Acquirer, acquirer, database, database_url

__all__ = ["acquirer", "database", "database_url"]

MASKED = f"{CARD_NUMBER[:4]}{'*' * 12}{CARD_NUMBER[-2:]}"


@pytest.fixture
def stack(make_stack: StackFactory, database: Database, acquirer: Acquirer) -> Iterator[Stack]:
    his = open_embedded_his(database, patient=demo_patient())
    ledger = Ledger(database)
    gateway = GatewayMethod(acquirer.url, read_timeout=5.0)
    payments = Payments(database, his, [PrepaidAccount(ledger), CashDesk(ledger), gateway], ledger=ledger)
    yield make_stack(his=his, payments=payments)
    gateway.close()


@pytest.fixture
def client(stack: Stack) -> Iterator[TestClient]:
    with TestClient(stack.app, base_url=BASE_URL) as test_client:
        yield test_client


def _pay(client: TestClient, key: str, **body: Any) -> httpx.Response:
    return client.post("/v1/payments", json=body, headers={**KIOSK, "Idempotency-Key": key})


def test_top_up_then_pay_a_bill_from_the_prepaid_account(client: TestClient, stack: Stack) -> None:
    assert client.get("/v1/payments/account", headers=KIOSK).json() == {"card": MASKED, "balance_fen": 0}
    top_up = client.post("/v1/payments/top-ups", json={"amount_fen": 20_000, "method": "gateway"},
                         headers={**KIOSK, "Idempotency-Key": "tu-1"})  # fmt: skip
    assert top_up.status_code == 200, top_up.text
    assert (top_up.json()["status"], top_up.json()["card"]) == ("settled", MASKED)
    bills = client.get("/v1/payments/bills", headers=KIOSK).json()
    assert bills["card"] == MASKED
    bill = bills["bills"][0]
    assert bill["total_fen"] == sum(item["amount_fen"] for item in bill["items"])
    paid = _pay(client, "pay-1", bill_id=bill["id"], amount_fen=bill["total_fen"], method="prepaid")
    assert paid.status_code == 200, paid.text
    order = paid.json()
    assert (order["status"], order["kind"], order["final"]) == ("settled", "bill", True)
    left = client.get("/v1/payments/bills", headers=KIOSK).json()["bills"]
    assert bill["id"] not in [b["id"] for b in left]
    balance = client.get("/v1/payments/account", headers=KIOSK).json()["balance_fen"]
    assert balance == 20_000 - bill["total_fen"]
    orders = client.get("/v1/payments/orders", headers=KIOSK).json()["orders"]
    assert {o["reference"] for o in orders} == {top_up.json()["reference"], order["reference"]}
    one = client.get(f"/v1/payments/orders/{order['reference']}", headers=KIOSK)
    assert one.json()["status"] == "settled"
    # the retry answers the stored order; the same key for another request is refused
    assert (
        _pay(client, "pay-1", bill_id=bill["id"], amount_fen=bill["total_fen"], method="prepaid").json()
        == order
    )
    conflict = _pay(client, "pay-1", bill_id=left[0]["id"], amount_fen=left[0]["total_fen"], method="prepaid")
    assert_error(conflict, 409, "idempotency_conflict")
    audit = [(c["action"], c["result"]) for c in stack.audit_calls if c["action"].startswith("payment.")]
    assert ("payment.top_up", "settled") in audit
    assert ("payment.pay_bill", "settled") in audit
    assert CARD_NUMBER not in repr(stack.audit_calls)


def test_short_balance_is_a_declined_order_and_bad_input_keeps_the_shape(client: TestClient) -> None:
    bill = client.get("/v1/payments/bills", headers=KIOSK).json()["bills"][0]
    declined = _pay(client, "pay-2", bill_id=bill["id"], amount_fen=bill["total_fen"], method="prepaid")
    assert declined.status_code == 200
    assert declined.json()["status"] == "declined"
    assert bill["id"] in [b["id"] for b in client.get("/v1/payments/bills", headers=KIOSK).json()["bills"]]
    mismatch = assert_error(
        _pay(client, "pay-3", bill_id=bill["id"], amount_fen=1, method="prepaid"), 409, "amount_mismatch"
    )
    assert mismatch["details"] == {"expected_fen": bill["total_fen"], "amount_fen": 1}
    assert_error(
        _pay(client, "pay-4", bill_id=bill["id"], amount_fen=-5, method="prepaid"), 422, "invalid_request"
    )
    assert_error(_pay(client, "pay-5", bill_id=bill["id"], amount_fen=1.5, method="prepaid"), 422,
                 "invalid_request")  # fmt: skip
    assert_error(_pay(client, "pay-6", bill_id=bill["id"], amount_fen=100, method="bitcoin"), 422,
                 "invalid_request")  # fmt: skip
    assert_error(_pay(client, "pay-7", bill_id=bill["id"], amount_fen=100, method="prepaid", card_number="1"),
                 422, "invalid_request")  # fmt: skip
    missing_key = client.post("/v1/payments", json={"bill_id": bill["id"], "amount_fen": 1, "method": "cash"},
                              headers=KIOSK)  # fmt: skip
    assert_error(missing_key, 422, "invalid_request")
    assert_error(client.get("/v1/payments/orders/NOPE", headers=KIOSK), 404, "order_not_found")


def test_refunds_need_the_his_scope_and_the_day_reconciles(client: TestClient) -> None:
    top_up = client.post("/v1/payments/top-ups", json={"amount_fen": 5_000, "method": "gateway"},
                         headers={**KIOSK, "Idempotency-Key": "tu-2"}).json()  # fmt: skip
    kiosk = client.post(f"/v1/payments/orders/{top_up['reference']}/refund", json={"amount_fen": 1_000},
                        headers={**KIOSK, "Idempotency-Key": "rf-1"})  # fmt: skip
    assert_error(kiosk, 403, "forbidden")
    refund = client.post(f"/v1/payments/orders/{top_up['reference']}/refund", json={"amount_fen": 1_000},
                         headers={**HIS, "Idempotency-Key": "rf-1"})  # fmt: skip
    assert refund.status_code == 200, refund.text
    assert (refund.json()["kind"], refund.json()["status"]) == ("refund", "refunded")
    assert client.get("/v1/payments/account", headers=KIOSK).json()["balance_fen"] == 4_000
    today = dt.datetime.now(CHINA_TZ).date().isoformat()
    assert_error(
        client.get("/v1/payments/reconciliation", params={"day": today}, headers=KIOSK), 403, "forbidden"
    )
    report = client.get("/v1/payments/reconciliation", params={"day": today}, headers=ADMIN)
    assert report.status_code == 200
    assert "mismatch" not in report.text.lower() or "0 mismatch" in report.text.lower(), report.text
    csv = client.get("/v1/payments/reconciliation", params={"day": today, "format": "csv"}, headers=ADMIN)
    assert csv.text.splitlines() == ["day,method,reference,kind,problem,ledger_fen,method_fen,detail"]


@pytest.fixture
def served(stack: Stack) -> Iterator[str]:
    """The app on a real port: the retry storm comes over 50 real connections at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(stack.app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_the_same_payment_50_times_at_once_is_charged_once(served: str, acquirer: Acquirer) -> None:
    headers = {**KIOSK, "Host": "127.0.0.1:8765"}
    with httpx.Client(base_url=served, headers=headers, timeout=30) as client:
        bill = client.get("/v1/payments/bills").json()["bills"][0]
        body = {"bill_id": bill["id"], "amount_fen": bill["total_fen"], "method": "gateway"}

        def attempt(_: int) -> httpx.Response:
            return client.post("/v1/payments", json=body, headers={"Idempotency-Key": "storm-1"})

        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(attempt, range(50)))
        assert {a.status_code for a in answers} == {200}, {a.text for a in answers if a.status_code != 200}
        references = {a.json()["reference"] for a in answers}
        assert len(references) == 1
        reference = references.pop()
        assert {a.json()["status"] for a in answers} <= {"pending", "charged", "settled"}
        assert client.get(f"/v1/payments/orders/{reference}").json()["status"] == "settled"
        assert len(acquirer.charges(reference)) == 1  # one charge at the bank
        assert bill["id"] not in [b["id"] for b in client.get("/v1/payments/bills").json()["bills"]]


def test_the_cash_desk_is_not_a_kiosks(client: TestClient) -> None:
    """A kiosk naming cash would mark a bill paid, or put money on any prepaid account, from nothing: the
    cash desk always approves. Refused before anything is recorded; an HIS (counter) key may use it."""
    assert client.get("/v1/payments/methods", headers=KIOSK).json() == {
        "methods": ["prepaid", "gateway"],
        "top_up": ["gateway"],
    }
    assert client.get("/v1/payments/methods", headers=HIS).json()["methods"] == ["prepaid", "cash", "gateway"]
    bill = client.get("/v1/payments/bills", headers=KIOSK).json()["bills"][0]
    paid = _pay(client, "cash-1", bill_id=bill["id"], amount_fen=bill["total_fen"], method="cash")
    error = assert_error(paid, 403, "payment_method_not_allowed")
    assert error["details"] == {"method": "cash", "allowed": ["prepaid", "gateway"]}
    topped = client.post("/v1/payments/top-ups", json={"amount_fen": 1_000_000, "method": "cash"},
                         headers={**KIOSK, "Idempotency-Key": "cash-2"})  # fmt: skip
    assert_error(topped, 403, "payment_method_not_allowed")
    assert client.get("/v1/payments/account", headers=KIOSK).json()["balance_fen"] == 0
    assert client.get("/v1/payments/orders", headers=KIOSK).json() == {"orders": []}
    assert bill["id"] in [b["id"] for b in client.get("/v1/payments/bills", headers=KIOSK).json()["bills"]]
    at_the_counter = client.post("/v1/payments/top-ups", json={"amount_fen": 1_000, "method": "cash"},
                                 headers={**HIS, "Idempotency-Key": "cash-3"})  # fmt: skip
    assert at_the_counter.json()["status"] == "settled"


@pytest.mark.parametrize("amount", ["3000", True, 3000.0, None, [3000]])
def test_money_is_a_json_integer_never_coerced(client: TestClient, amount: object) -> None:
    bill = client.get("/v1/payments/bills", headers=KIOSK).json()["bills"][0]
    paid = _pay(client, "strict-1", bill_id=bill["id"], amount_fen=amount, method="prepaid")
    error = assert_error(paid, 422, "invalid_request")
    assert error["details"]["problems"][0]["where"] == "body.amount_fen"
    topped = client.post("/v1/payments/top-ups", json={"amount_fen": amount, "method": "gateway"},
                         headers={**KIOSK, "Idempotency-Key": "strict-2"})  # fmt: skip
    assert_error(topped, 422, "invalid_request")
    assert client.get("/v1/payments/orders", headers=KIOSK).json() == {"orders": []}


def test_every_read_of_the_patients_money_is_audited(client: TestClient, stack: Stack) -> None:
    """Bills, balance and orders are the patient's data, as the identity is: each read leaves a record
    (who, which client, the masked card), like a card read."""
    client.get("/v1/payments/bills", headers=KIOSK)
    client.get("/v1/payments/account", headers=KIOSK)
    top_up = client.post("/v1/payments/top-ups", json={"amount_fen": 100, "method": "gateway"},
                         headers={**KIOSK, "Idempotency-Key": "tu-read"}).json()  # fmt: skip
    client.get("/v1/payments/orders", headers=KIOSK)
    client.get(f"/v1/payments/orders/{top_up['reference']}", headers=KIOSK)
    client.get("/v1/registration/bookings", headers=KIOSK)
    reads = [(c["action"], c["actor"], c["card"], c["result"]) for c in stack.audit_calls
             if c["action"] in ("payment.list_bills", "payment.read_balance", "payment.list_orders",
                                "payment.read_order", "registration.list")]  # fmt: skip
    assert reads == [
        ("payment.list_bills", "kiosk-1", MASKED, "ok"),
        ("payment.read_balance", "kiosk-1", MASKED, "ok"),
        ("payment.list_orders", "kiosk-1", MASKED, "ok"),
        ("payment.read_order", "kiosk-1", MASKED, "ok"),
        ("registration.list", "kiosk-1", MASKED, "ok"),
    ]
    assert CARD_NUMBER not in repr(stack.audit_calls)
