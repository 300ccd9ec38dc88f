"""扫码支付: the qrcode method against the simulated acquirer's QR gateway on a real loopback server, with
the daemon's notification route (/v1/payments/qrcode/notify) served on another — the gateway notifies
the daemon over a real socket. Codes live seconds, and the tests wait on events, never on fixed sleeps."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

from cardservice.api import Services, create_app
from cardservice.api.routes import qrcode as qrcode_route
from cardservice.his import CHINA_TZ, EmbeddedHis
from cardservice.payments import (
    CashDesk,
    ChargeContext,
    Ledger,
    MethodStatus,
    Payments,
    PrepaidAccount,
    charge_context,
)
from cardservice.payments._ledger import QRCODE_CLEARING
from cardservice.payments._qrcode import SIGNATURE_HEADER, QrCodeMethod, sign_notification
from cardservice.readers import InProcessBackend, ReaderManager, load_profiles
from cardservice.store import Database, open_database
from simulators.acquirer import AcquirerStore, Faults, QrSettings
from simulators.acquirer import create_app as create_acquirer
from tests.payments.conftest import ALICE, add_bill, bill_status, money_taken

SECRET = b"qr-test-secret-0123456789abcdef"
T = TypeVar("T")


# -- servers ------------------------------------------------------------------------------------------


def bound() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def serve(app: Any, sock: socket.socket | None = None) -> Iterator[str]:
    """*app* served by uvicorn on *sock* (a new one on a free port by default): its base URL."""
    sock = sock or bound()
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", ws="none", access_log=False, timeout_graceful_shutdown=3
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclasses.dataclass
class QrGateway:
    url: str
    store: AcquirerStore
    faults: Faults
    settings: QrSettings

    def pay(self, reference: str) -> dict[str, Any]:
        """The payer's phone pays the code *reference*."""
        answer = httpx.post(f"{self.url}/control/qr/{reference}/pay", timeout=10)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def scan(self, code: str) -> dict[str, Any]:
        """The payer's phone scans the code the kiosk shows, and pays."""
        answer = httpx.post(f"{self.url}/control/qr/scan", json={"code": code}, timeout=10)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def inspect(self, reference: str) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.url}/control/qr/{reference}").json()
        return result


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[QrGateway]:
    store = AcquirerStore(tmp_path / "acquirer.db")
    faults, settings = Faults(delay=1.5), QrSettings(secret=SECRET)
    try:
        with serve(create_acquirer(store, faults, qr=settings)) as url:
            yield QrGateway(url, store, faults, settings)
    finally:
        store.close()


@dataclasses.dataclass
class Daemon:
    notify_url: str
    services: Services


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    """The daemon's API with the notification route, on its own port (the guard checks the Host)."""
    sock = bound()
    port = sock.getsockname()[1]
    manager = ReaderManager(InProcessBackend({}), bindings=[], profiles=load_profiles())
    services = Services(manager=manager, authenticate=lambda key: None, audit=lambda **record: None)
    app = create_app(services, port=port)
    app.include_router(qrcode_route.router)  # the lead adds it to ROUTERS
    with serve(app, sock) as url:
        yield Daemon(f"{url}/v1/payments/qrcode/notify", services)


MakeQr = Callable[..., tuple[Payments, QrCodeMethod]]


def qr_factory(
    database: Database, his: EmbeddedHis, gateway: QrGateway, daemon: Daemon, made: list[QrCodeMethod]
) -> MakeQr:
    """Makes a qrcode method notified at the daemon (code lifetime 30 s, polling every 60 s unless told)
    and the payments service the daemon's route finds it in."""

    def make(**options: Any) -> tuple[Payments, QrCodeMethod]:
        settings: dict[str, Any] = {"code_lifetime": 30.0, "poll_interval": 60.0, "read_timeout": 0.5}
        settings.update(connect_timeout=1.0, **options)
        method = QrCodeMethod(gateway.url, secret=SECRET, notify_url=daemon.notify_url, **settings)
        made.append(method)
        ledger = Ledger(database)
        payments = Payments(database, his, [PrepaidAccount(ledger), CashDesk(ledger), method], ledger=ledger)
        daemon.services.payments = payments
        return payments, method

    return make


@pytest.fixture
def make_qr(database: Database, his: EmbeddedHis, gateway: QrGateway, daemon: Daemon) -> Iterator[MakeQr]:
    """For the payments service's tests: on SQLite and on PostgreSQL."""
    made: list[QrCodeMethod] = []
    yield qr_factory(database, his, gateway, daemon, made)
    for method in made:
        method.close()


@pytest.fixture
def make_method(tmp_path: Path, gateway: QrGateway, daemon: Daemon) -> Iterator[MakeQr]:
    """For the method's own tests: the payments service (where the route finds it) on SQLite only."""
    database = open_database(f"sqlite:///{tmp_path / 'daemon.db'}")
    made: list[QrCodeMethod] = []
    yield qr_factory(database, EmbeddedHis(database), gateway, daemon, made)
    for method in made:
        method.close()
    database.close()


class Screen:
    """The kiosk's side of a charge: the progress it was shown, and the payer's cancel button."""

    def __init__(self) -> None:
        self.stages: list[tuple[str, dict[str, Any]]] = []
        self._changed = threading.Condition()
        self.context = ChargeContext(progress=self._progress)

    def _progress(self, stage: str, detail: Mapping[str, Any]) -> None:
        with self._changed:
            self.stages.append((stage, dict(detail)))
            self._changed.notify_all()

    def wait(self, stage: str, timeout: float = 10.0) -> dict[str, Any]:
        with self._changed:
            assert self._changed.wait_for(lambda: any(s == stage for s, _ in self.stages), timeout), stage
            return next(detail for s, detail in self.stages if s == stage)

    def names(self) -> list[str]:
        return [stage for stage, _ in self.stages]

    def run(self, pool: ThreadPoolExecutor, call: Callable[[], T]) -> Future[T]:
        """*call* on a worker thread, inside this screen's charge context (as the API runs a charge)."""

        def within() -> T:
            with charge_context(self.context):
                return call()

        return pool.submit(within)


def today() -> dt.date:
    return dt.datetime.now(CHINA_TZ).date()


def charging(method: QrCodeMethod, reference: str, amount_fen: int) -> Callable[[], Any]:
    return lambda: method.charge(reference, amount_fen, ALICE, idempotency_key=reference)


def still_open(shown: Mapping[str, Any]) -> bool:
    """Whether the code *shown* has not run out yet: an answer given now came before any closing."""
    return dt.datetime.now(dt.UTC) < dt.datetime.fromisoformat(shown["expires_at"])


# -- paid ---------------------------------------------------------------------------------------------


def test_a_bill_paid_by_scan_is_settled_on_the_gateways_notification(
    make_qr: MakeQr, gateway: QrGateway, database: Database
) -> None:
    """Polling every 60 s and a 30 s code: only the notification can end the charge before the code runs
    out. The ledger's charge is the gateway's one approved record."""
    payments, method = make_qr()
    bill = add_bill(database, ALICE, 3300)
    screen = Screen()
    with ThreadPoolExecutor(1) as pool:
        future = screen.run(pool, lambda: payments.pay_bill("kiosk-1", "k-qr", ALICE, bill, 3300, "qrcode"))
        shown = screen.wait("scan_code")
        assert shown["amount_fen"] == 3300
        paid = gateway.scan(shown["code"])
        assert (paid["result"], paid["notification"]) == ("paid", "sent:200")
        order = future.result(timeout=20)
    assert still_open(shown)
    assert order.status == "settled"
    assert order.method_transaction_id == paid["transaction"]["transaction_id"]
    assert bill_status(database, bill) == ("settled", order.reference)
    assert screen.names() == ["scan_code", "paid"]
    assert payments.ledger.balance(QRCODE_CLEARING) == 3300
    assert money_taken(payments, order.reference, "qrcode") == 3300
    records = method.records(today())
    assert [(r.reference, r.kind, r.amount_fen, r.status) for r in records] == [
        (order.reference, "charge", 3300, "approved")
    ]
    report = payments.reconcile(today())
    assert report.ok, report.text()


def test_a_lost_notification_is_made_up_for_by_polling(make_method: MakeQr, gateway: QrGateway) -> None:
    _, method = make_method(poll_interval=0.2)
    httpx.post(f"{gateway.url}/control/qr", json={"drop_notifications": 1}).raise_for_status()
    screen = Screen()
    with ThreadPoolExecutor(1) as pool:
        future = screen.run(pool, charging(method, "PQ-POLL", 1200))
        shown = screen.wait("scan_code")
        paid = gateway.pay("PQ-POLL")
        assert (paid["result"], paid["notification"]) == ("paid", "dropped")
        result = future.result(timeout=20)
    assert still_open(shown)
    assert result.status is MethodStatus.APPROVED
    assert (result.transaction_id, result.amount_fen) == (paid["transaction"]["transaction_id"], 1200)


# -- expired, paid late, cancelled -----------------------------------------------------------------------


def test_an_expired_code_is_closed_and_declined_and_nothing_is_charged(
    make_qr: MakeQr, gateway: QrGateway, database: Database
) -> None:
    payments, _ = make_qr(code_lifetime=1.0, poll_interval=0.2)
    bill = add_bill(database, ALICE, 2100)
    screen = Screen()
    with charge_context(screen.context):
        order = payments.pay_bill("kiosk-1", "k-late", ALICE, bill, 2100, "qrcode")
    assert order.status == "declined"
    assert order.message == "code expired"
    assert screen.names() == ["scan_code", "code_closed"]
    at_gateway = gateway.inspect(order.reference)
    assert at_gateway["transaction"]["status"] == "closed"
    assert at_gateway["payments"] == []
    assert bill_status(database, bill) == ("outstanding", None)
    assert payments.ledger.balance(QRCODE_CLEARING) == 0
    assert payments.reconcile(today()).ok


def test_a_payment_after_the_code_ran_out_is_refused_and_returned_to_the_phone(
    make_qr: MakeQr, gateway: QrGateway, database: Database
) -> None:
    payments, method = make_qr(code_lifetime=1.0, poll_interval=0.2)
    bill = add_bill(database, ALICE, 2200)
    screen = Screen()
    with charge_context(screen.context):
        order = payments.pay_bill("kiosk-1", "k-late", ALICE, bill, 2200, "qrcode")
    assert order.status == "declined"
    code = screen.wait("scan_code")["code"]
    for _ in range(2):  # the payer insists
        late = gateway.scan(code)
        assert (late["result"], late["notification"]) == ("returned", None)
        assert late["reason"] in ("code closed", "code expired")
    assert [p["result"] for p in gateway.inspect(order.reference)["payments"]] == ["returned", "returned"]
    assert method.records(today()) == []  # the merchant was charged nothing
    assert payments.get_order(order.reference).status == "declined"
    assert money_taken(payments, order.reference, "qrcode") == 0
    assert payments.reconcile(today()).ok


def test_the_client_cancelling_closes_the_code(make_method: MakeQr, gateway: QrGateway) -> None:
    _, method = make_method()
    screen = Screen()
    with ThreadPoolExecutor(1) as pool:
        future = screen.run(pool, charging(method, "PQ-CANCEL", 900))
        shown = screen.wait("scan_code")
        screen.context.cancel.set()
        result = future.result(timeout=20)
    assert (result.status, result.message) == (MethodStatus.DECLINED, "cancelled")
    assert gateway.inspect("PQ-CANCEL")["transaction"]["status"] == "closed"
    assert gateway.scan(shown["code"])["result"] == "returned"
    assert method.records(today()) == []
    assert method.query("PQ-CANCEL").status is MethodStatus.NOT_FOUND


def test_a_payment_just_before_the_cancel_is_found_by_the_close(
    make_method: MakeQr, gateway: QrGateway
) -> None:
    """The payer paid, the notification was lost, then the client cancelled: the close says paid."""
    _, method = make_method()
    httpx.post(f"{gateway.url}/control/qr", json={"drop_notifications": 1}).raise_for_status()
    screen = Screen()
    with ThreadPoolExecutor(1) as pool:
        future = screen.run(pool, charging(method, "PQ-RACE", 700))
        screen.wait("scan_code")
        paid = gateway.pay("PQ-RACE")
        assert paid["notification"] == "dropped"
        screen.context.cancel.set()
        result = future.result(timeout=20)
    assert result.status is MethodStatus.APPROVED
    assert result.transaction_id == paid["transaction"]["transaction_id"]
    assert screen.names() == ["scan_code", "paid"]


# -- one reference, one code, one charge ----------------------------------------------------------------


def test_concurrent_charges_of_one_reference_share_one_code_and_one_payment(
    make_method: MakeQr, gateway: QrGateway
) -> None:
    _, method = make_method()
    screens = [Screen(), Screen()]
    with ThreadPoolExecutor(2) as pool:
        futures = [screen.run(pool, charging(method, "PQ-TWICE", 1500)) for screen in screens]
        codes = {screen.wait("scan_code")["code"] for screen in screens}
        assert len(codes) == 1
        assert gateway.pay("PQ-TWICE")["result"] == "paid"
        results = [future.result(timeout=20) for future in futures]
    assert {(r.status, r.transaction_id) for r in results} == {
        (MethodStatus.APPROVED, gateway.inspect("PQ-TWICE")["transaction"]["transaction_id"])
    }
    second = gateway.scan(codes.pop())
    assert (second["result"], second["reason"]) == ("returned", "already paid")
    assert [p["result"] for p in gateway.inspect("PQ-TWICE")["payments"]] == ["accepted", "returned"]
    assert [(r.reference, r.amount_fen) for r in method.records(today())] == [("PQ-TWICE", 1500)]
    again = method.charge("PQ-TWICE", 1500, ALICE, idempotency_key="PQ-TWICE")  # a retry: the same payment
    assert (again.status, again.transaction_id) == (MethodStatus.APPROVED, results[0].transaction_id)


# -- notifications --------------------------------------------------------------------------------------


def test_a_notification_with_a_bad_signature_is_refused_and_changes_nothing(
    make_method: MakeQr, gateway: QrGateway, daemon: Daemon
) -> None:
    _, method = make_method(code_lifetime=1.5)
    forged = json.dumps(
        {"reference": "PQ-FORGED", "status": "paid", "transaction_id": "X", "amount_fen": 800}
    )
    body = forged.encode()
    screen = Screen()
    with ThreadPoolExecutor(1) as pool:
        future = screen.run(pool, charging(method, "PQ-FORGED", 800))
        screen.wait("scan_code")
        for signature in (
            None,
            "sha256=" + "0" * 64,
            sign_notification(b"another-secret-0123456789", body),
            sign_notification(SECRET, body + b" "),
        ):
            headers = {"Content-Type": "application/json"}
            if signature is not None:
                headers[SIGNATURE_HEADER] = signature
            refused = httpx.post(daemon.notify_url, content=body, headers=headers)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["code"] == "unauthorized"
        result = future.result(timeout=20)
    assert (result.status, result.message) == (MethodStatus.DECLINED, "code expired")
    assert gateway.inspect("PQ-FORGED")["payments"] == []
    assert method.records(today()) == []


def test_a_signed_notification_only_wakes_the_charge_the_gateway_decides(
    make_method: MakeQr, gateway: QrGateway, daemon: Daemon
) -> None:
    """A replayed (or stale) notification of a code not paid: accepted, idempotent, and the charge, woken,
    asks the gateway and goes on waiting."""
    _, method = make_method(code_lifetime=1.5)
    body = json.dumps({"reference": "PQ-STALE", "status": "paid", "transaction_id": "X"}).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign_notification(SECRET, body)}
    screen = Screen()
    with ThreadPoolExecutor(1) as pool:
        future = screen.run(pool, charging(method, "PQ-STALE", 600))
        screen.wait("scan_code")
        for _ in range(2):
            accepted = httpx.post(daemon.notify_url, content=body, headers=headers)
            assert accepted.status_code == 200, accepted.text
            assert accepted.json() == {"status": "ok"}
        result = future.result(timeout=20)
    assert (result.status, result.message) == (MethodStatus.DECLINED, "code expired")
    garbage = b"not json"
    malformed = httpx.post(
        daemon.notify_url, content=garbage, headers={SIGNATURE_HEADER: sign_notification(SECRET, garbage)}
    )
    assert malformed.status_code == 422
    assert malformed.json()["error"]["code"] == "invalid_request"


def test_the_route_is_not_found_without_a_qrcode_method(daemon: Daemon) -> None:
    body = b'{"reference": "PQ1"}'
    answer = httpx.post(
        daemon.notify_url, content=body, headers={SIGNATURE_HEADER: sign_notification(SECRET, body)}
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


# -- the gateway down or silent -------------------------------------------------------------------------


def test_an_unreachable_gateway_is_unavailable_and_no_code_is_shown() -> None:
    sock = bound()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()  # nothing listens there
    screen = Screen()
    with QrCodeMethod(url, secret=SECRET, connect_timeout=1.0) as method, charge_context(screen.context):
        result = method.charge("PQ-DOWN", 500, ALICE, idempotency_key="PQ-DOWN")
        assert result.status is MethodStatus.UNAVAILABLE
        assert method.query("PQ-DOWN").status is MethodStatus.IN_DOUBT  # nothing known: never "not found"
    assert screen.stages == []


def test_no_answer_to_the_code_request_is_in_doubt_and_query_closes_the_code(
    make_method: MakeQr, gateway: QrGateway
) -> None:
    _, method = make_method()
    gateway.faults.mode = "timeout"  # the code is made, its answer comes after the method gave up
    screen = Screen()
    with charge_context(screen.context):
        result = method.charge("PQ-SILENT", 400, ALICE, idempotency_key="PQ-SILENT")
    assert result.status is MethodStatus.IN_DOUBT
    assert screen.stages == []  # nobody saw a code: nobody can pay it
    gateway.faults.mode = "approve"
    assert method.query("PQ-SILENT").status is MethodStatus.NOT_FOUND
    assert gateway.pay("PQ-SILENT")["result"] == "returned"
    retried = method.charge("PQ-SILENT", 400, ALICE, idempotency_key="PQ-SILENT")
    assert (retried.status, retried.message) == (MethodStatus.DECLINED, "code closed")


def test_no_answer_to_the_closing_leaves_the_order_in_doubt_until_resolved(
    make_qr: MakeQr, gateway: QrGateway, database: Database
) -> None:
    payments, _ = make_qr(code_lifetime=1.0)
    bill = add_bill(database, ALICE, 1800)
    screen = Screen()
    with ThreadPoolExecutor(1) as pool:
        future = screen.run(
            pool, lambda: payments.pay_bill("kiosk-1", "k-doubt", ALICE, bill, 1800, "qrcode")
        )
        screen.wait("scan_code")
        gateway.faults.mode = "timeout"  # the close at expiry is done, its answer lost
        order = future.result(timeout=20)
    assert order.status == "in_doubt"
    gateway.faults.mode = "approve"
    resolved = payments.resolve(order.reference)
    assert (resolved.status, resolved.error_code) == ("failed", "not_charged")
    assert bill_status(database, bill) == ("outstanding", None)
    assert payments.reconcile(today()).ok


# -- refunds and queries --------------------------------------------------------------------------------


def test_a_paid_code_is_refunded_to_the_phone_and_queried_as_it_is(
    make_method: MakeQr, gateway: QrGateway
) -> None:
    _, method = make_method()
    screen = Screen()
    with ThreadPoolExecutor(1) as pool:
        future = screen.run(pool, charging(method, "PQ-REFUND", 1300))
        screen.wait("scan_code")
        gateway.pay("PQ-REFUND")
        charged = future.result(timeout=20)
    assert charged.status is MethodStatus.APPROVED
    assert method.query("PQ-REFUND") == charged
    refund = method.refund("PQ-REFUND", 300, "RF-QR-1")
    assert (refund.status, refund.amount_fen) == (MethodStatus.APPROVED, 300)
    assert method.refund("PQ-REFUND", 300, "RF-QR-1") == refund  # once per refund reference
    too_much = method.refund("PQ-REFUND", 1100, "RF-QR-2")
    assert (too_much.status, too_much.message) == (MethodStatus.DECLINED, "more than was paid")
    assert method.query("RF-QR-1") == refund
    assert method.query("RF-QR-3").status is MethodStatus.NOT_FOUND  # closed for good
    assert method.refund("PQ-REFUND", 100, "RF-QR-3").status is MethodStatus.DECLINED
    listed = [(r.reference, r.kind, r.amount_fen, r.status) for r in method.records(today())]
    assert listed == [
        ("PQ-REFUND", "charge", 1300, "approved"),
        ("RF-QR-1", "refund", 300, "approved"),
        ("RF-QR-2", "refund", 1100, "declined"),
    ]
