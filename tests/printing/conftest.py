"""Print-queue tests: a fresh database on SQLite and PostgreSQL (tests/dbfixtures.py) and a virtual
ESC/POS printer on a real TCP port."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from drivers.printers import PrinterConfig
from simulators.escpos import PrinterHandle, VirtualPrinter
from tests.dbfixtures import database, database_url

__all__ = ["AuditSpy", "database", "database_url", "printer", "printer_config"]


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


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[PrinterHandle]:
    with VirtualPrinter(tmp_path / "out").serve_tcp("127.0.0.1", 0) as handle:
        yield handle


@pytest.fixture
def printer_config(printer: PrinterHandle) -> PrinterConfig:
    assert printer.port is not None
    return PrinterConfig(kind="network", host="127.0.0.1", port=printer.port, timeout=5)
