"""Payments tests run on SQLite and on PostgreSQL (tests/dbfixtures.py), with the embedded HIS and the
simulated acquirer (simulators.acquirer) served by uvicorn on a free 127.0.0.1 port."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from cardservice.healthcard import id_check_character
from cardservice.his import CHINA_TZ, AlreadySettled, EmbeddedHis, Patient, seed
from cardservice.payments import (
    CashDesk,
    GatewayMethod,
    Ledger,
    MethodRecord,
    MethodResult,
    MethodStatus,
    PaymentMethod,
    Payments,
    PrepaidAccount,
)
from cardservice.store import Database, HisBillRow
from simulators.acquirer import AcquirerStore, Faults, create_app
from tests.dbfixtures import database, database_url

__all__ = [
    "ALICE",
    "BOB",
    "Acquirer",
    "AuditSpy",
    "Crash",
    "DyingAudit",
    "Intercept",
    "RefusingHis",
    "add_bill",
    "bill_status",
    "crash_at",
    "database",
    "database_url",
    "make_patient",
    "make_payments",
    "money_taken",
]


def make_patient(sequence: int, name: str = "张三") -> Patient:
    body = f"11010519900101{sequence:03d}"
    return Patient(body + id_check_character(body), name)


ALICE = make_patient(201, "王小红")
BOB = make_patient(202, "李四")


class Crash(BaseException):
    """The simulated kill: a BaseException, so no `except Exception` in the service swallows it."""


def crash_at(point: str) -> Callable[[str], None]:
    """A ``crash_at`` hook that kills the service at *point* (one of CRASH_POINTS)."""

    def hook(step: str) -> None:
        if step == point:
            raise Crash(step)

    return hook


class AuditSpy:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def __call__(self, **record: Any) -> int:
        self.records.append(record)
        return len(self.records)

    def of(self, target: str) -> list[tuple[str, str]]:
        """(action, result) of the records about *target*, in order."""
        return [(r["action"], r["result"]) for r in self.records if r.get("target") == target]


class DyingAudit(AuditSpy):
    """An audit sink the service dies in when it is about to record *result* (after the move committed,
    before its audit record exists: the kill between the two)."""

    def __init__(self, result: str) -> None:
        super().__init__()
        self.result = result

    def __call__(self, **record: Any) -> int:
        if record.get("result") == self.result:
            raise Crash(f"audit of {self.result}")
        return super().__call__(**record)


class RefusingHis(EmbeddedHis):
    """An HIS that refuses every settlement for good (the bill was paid at the counter meanwhile)."""

    def settle_bill(self, patient: Patient, bill_id: str, **kwargs: object) -> object:  # type: ignore[override]
        raise AlreadySettled("the bill was settled by another payment")


class Intercept:
    """A payment method a test can catch inside a call (``hold``: "charge" or "refund" waits in the
    call until ``release`` is set, after setting ``entered``) or make unavailable for its next
    ``unavailable_refunds`` refunds; everything else is the wrapped method's."""

    def __init__(
        self, inner: PaymentMethod, *, hold: str | None = None, unavailable_refunds: int = 0
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.clearing_account = inner.clearing_account
        self.hold = hold
        self.unavailable_refunds = unavailable_refunds
        self.entered = threading.Event()
        self.release = threading.Event()

    def _wait(self, call: str) -> None:
        if self.hold == call:
            self.entered.set()
            assert self.release.wait(30), "the test never released the held call"

    def charge(
        self, reference: str, amount_fen: int, patient: Patient, *, idempotency_key: str
    ) -> MethodResult:
        self._wait("charge")
        return self.inner.charge(reference, amount_fen, patient, idempotency_key=idempotency_key)

    def query(self, reference: str) -> MethodResult:
        return self.inner.query(reference)

    def refund(self, reference: str, amount_fen: int, refund_reference: str) -> MethodResult:
        self._wait("refund")
        if self.unavailable_refunds:
            self.unavailable_refunds -= 1
            return MethodResult(MethodStatus.UNAVAILABLE, message="method down for a moment")
        return self.inner.refund(reference, amount_fen, refund_reference)

    def records(self, day: dt.date) -> list[MethodRecord]:
        return self.inner.records(day)


@dataclasses.dataclass
class Acquirer:
    url: str
    faults: Faults
    store: AcquirerStore

    def charges(self, reference: str | None = None) -> list[Any]:
        today = dt.datetime.now(CHINA_TZ).date().isoformat()
        rows = [t for t in self.store.transactions(today) if t.kind == "charge" and t.status == "approved"]
        return [t for t in rows if reference is None or t.reference == reference]


def add_bill(database: Database, patient: Patient, total_fen: int) -> str:
    bill_id = "SF" + secrets.token_hex(6).upper()
    with database.session() as session:
        session.add(
            HisBillRow(
                id=bill_id, card_number=patient.card_number, title="检查费", department="内科",
                total_fen=total_fen, status="outstanding", created_at=dt.datetime.now(dt.UTC),
            )
        )  # fmt: skip
    return bill_id


def bill_status(database: Database, bill_id: str) -> tuple[str, str | None]:
    with database.session(readonly=True) as session:
        row = session.scalar(select(HisBillRow).where(HisBillRow.id == bill_id))
        assert row is not None
        return row.status, row.payment_reference


@pytest.fixture
def his(database: Database) -> EmbeddedHis:
    seed(database, dt.datetime.now(CHINA_TZ).date(), patient=ALICE)
    return EmbeddedHis(database)


@pytest.fixture
def acquirer(tmp_path: Path) -> Iterator[Acquirer]:
    store = AcquirerStore(tmp_path / "acquirer.db")
    faults = Faults(delay=1.5)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(store, faults), log_level="warning", lifespan="off", ws="none", access_log=False,
        timeout_graceful_shutdown=3,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Acquirer(f"http://127.0.0.1:{sock.getsockname()[1]}", faults, store)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        store.close()


@pytest.fixture
def audit() -> AuditSpy:
    return AuditSpy()


_OPEN: list[GatewayMethod] = []


@pytest.fixture(autouse=True)
def _close_gateways() -> Iterator[None]:
    """Every gateway client a test made is closed after it (warnings are errors: no leaked socket)."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def make_payments(
    database: Database,
    his: EmbeddedHis,
    acquirer_url: str,
    *,
    audit: AuditSpy | None = None,
    crash_at: Callable[[str], None] | None = None,
    read_timeout: float = 0.5,
    wrap: Callable[[PaymentMethod], PaymentMethod] | None = None,
) -> Payments:
    """A payments service over *database* (another daemon's, when the test makes two); *wrap* replaces
    each method (e.g. by an :class:`Intercept`)."""
    ledger = Ledger(database)
    gateway = GatewayMethod(acquirer_url, read_timeout=read_timeout, connect_timeout=1.0)
    _OPEN.append(gateway)
    kwargs: dict[str, Any] = {"audit": audit, "ledger": ledger}
    if crash_at is not None:
        kwargs["crash_at"] = crash_at
    methods: list[PaymentMethod] = [PrepaidAccount(ledger), CashDesk(ledger), gateway]
    if wrap is not None:
        methods = [wrap(method) for method in methods]
    return Payments(database, his, methods, **kwargs)


def money_taken(payments: Payments, reference: str, method: str, patient: Patient = ALICE) -> int:
    """What the method itself holds for the order, net of refunds (the truth the ledger must match)."""
    day = payments.get_order(reference).created_at.astimezone(CHINA_TZ).date()
    records = payments.methods[method].records(day)
    refunds = {o.reference for o in payments.orders(patient) if o.parent_reference == reference}
    charged = sum(r.amount_fen for r in records if r.reference == reference and r.status == "approved")
    refunded = sum(r.amount_fen for r in records if r.reference in refunds and r.status == "approved")
    return charged - refunded


@pytest.fixture
def payments(database: Database, his: EmbeddedHis, acquirer: Acquirer, audit: AuditSpy) -> Payments:
    return make_payments(database, his, acquirer.url, audit=audit)


def control(acquirer: Acquirer, **settings: Any) -> None:
    httpx.post(f"{acquirer.url}/control", json=settings).raise_for_status()
