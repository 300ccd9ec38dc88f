"""Print-queue tests: a fresh database on SQLite and PostgreSQL (tests/dbfixtures.py), a virtual ESC/POS
printer on a real TCP port with the driver's printer for it, and a DummyPrinter."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from cardservice.printing import Job, PrintQueue, ReceiptPrinter
from cardservice.store import Database
from drivers.printers import DummyPrinter, NetworkPrinter, PrinterConfig
from simulators.escpos import PrinterHandle, VirtualPrinter
from tests.dbfixtures import database, database_url

__all__ = [
    "CARD",
    "HOLDER_KEY",
    "MASKED_CARD",
    "OTHER_CARD",
    "AuditSpy",
    "EventSpy",
    "audit",
    "database",
    "database_url",
    "dummy",
    "make_queue",
    "network_printer",
    "printer",
    "wait_for",
    "wait_status",
]


class AuditSpy:
    """The queue's audit callable, recording each call (the keywords of AuditLog.record)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(
        self,
        *,
        actor: str,
        action: str,
        result: str,
        card: str | None = None,
        target: str | None = None,
        detail: Mapping[str, object] | None = None,
    ) -> object:
        with self._lock:
            self.records.append(
                {"actor": actor, "action": action, "result": result, "card": card, "target": target,
                 "detail": dict(detail or {})}
            )  # fmt: skip
        return None

    def actions(self, target: str) -> list[str]:
        with self._lock:
            return [r["action"] for r in self.records if r["target"] == target]


class EventSpy:
    """The queue's ``on_event`` callable, recording each event it is given."""

    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._events.append(dict(event))

    @property
    def events(self) -> list[dict[str, Any]]:
        """Each event, without its time (``at``), which is checked once on its own."""
        with self._lock:
            return [{key: value for key, value in e.items() if key != "at"} for e in self._events]

    @property
    def times(self) -> list[object]:
        with self._lock:
            return [e.get("at") for e in self._events]


CARD = "11010519491231002X"
MASKED_CARD = "1101************2X"
OTHER_CARD = "110105198503071230"
HOLDER_KEY = b"k" * 32  # the daemon derives one per data directory: it outlives restarts


def make_queue(database: Database, printer: ReceiptPrinter, audit: Any = None, **options: Any) -> PrintQueue:
    options = {"station": "kiosk-1", "poll_interval": 0.05, "max_poll_interval": 0.2,
               "holder_key": HOLDER_KEY, **options}  # fmt: skip
    return PrintQueue(database, {"front": printer}, audit=audit or AuditSpy(), **options)


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def wait_status(queue: PrintQueue, job: Job, status: str, timeout: float = 15.0) -> Job:
    wait_for(lambda: queue.get(job.job_ref).status == status, timeout)
    return queue.get(job.job_ref)


@pytest.fixture
def audit() -> AuditSpy:
    return AuditSpy()


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[PrinterHandle]:
    with VirtualPrinter(tmp_path / "out").serve_tcp("127.0.0.1", 0) as handle:
        yield handle


@pytest.fixture
def network_printer(printer: PrinterHandle) -> NetworkPrinter:
    """The ESC/POS driver's printer for the virtual one: every byte goes through a socket."""
    assert printer.port is not None
    return NetworkPrinter(PrinterConfig(kind="network", host="127.0.0.1", port=printer.port, timeout=5))


@pytest.fixture
def dummy() -> DummyPrinter:
    """A printer in memory: exact bytes, and states set by the test."""
    return DummyPrinter()
