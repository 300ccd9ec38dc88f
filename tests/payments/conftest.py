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
from cardservice.his import CHINA_TZ, EmbeddedHis, Patient, seed
from cardservice.payments import CashDesk, GatewayMethod, Ledger, Payments, PrepaidAccount
from cardservice.store import Database, HisBillRow
from simulators.acquirer import AcquirerStore, Faults, create_app
from tests.dbfixtures import database, database_url

__all__ = [
    "ALICE",
    "BOB",
    "Acquirer",
    "AuditSpy",
    "Crash",
    "add_bill",
    "bill_status",
    "database",
    "database_url",
    "make_patient",
    "make_payments",
]


def make_patient(sequence: int, name: str = "张三") -> Patient:
    body = f"11010519900101{sequence:03d}"
    return Patient(body + id_check_character(body), name)


ALICE = make_patient(201, "王小红")
BOB = make_patient(202, "李四")


class Crash(BaseException):
    """The simulated kill: a BaseException, so no `except Exception` in the service swallows it."""


class AuditSpy:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def __call__(self, **record: Any) -> int:
        self.records.append(record)
        return len(self.records)


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
) -> Payments:
    ledger = Ledger(database)
    gateway = GatewayMethod(acquirer_url, read_timeout=read_timeout, connect_timeout=1.0)
    _OPEN.append(gateway)
    kwargs: dict[str, Any] = {"audit": audit, "ledger": ledger}
    if crash_at is not None:
        kwargs["crash_at"] = crash_at
    return Payments(database, his, [PrepaidAccount(ledger), CashDesk(ledger), gateway], **kwargs)


@pytest.fixture
def payments(database: Database, his: EmbeddedHis, acquirer: Acquirer, audit: AuditSpy) -> Payments:
    return make_payments(database, his, acquirer.url, audit=audit)


def control(acquirer: Acquirer, **settings: Any) -> None:
    httpx.post(f"{acquirer.url}/control", json=settings).raise_for_status()
