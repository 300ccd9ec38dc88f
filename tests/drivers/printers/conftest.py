"""Fixtures: a virtual ESC/POS printer on a real TCP port, and the driver's printer for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.printers import NetworkPrinter, PrinterConfig
from simulators.escpos import PrinterHandle, VirtualPrinter


@pytest.fixture
def virtual_printer(tmp_path: Path) -> Iterator[PrinterHandle]:
    with VirtualPrinter(tmp_path / "out").serve_tcp("127.0.0.1", 0) as handle:
        yield handle


@pytest.fixture
def network_config(virtual_printer: PrinterHandle) -> PrinterConfig:
    assert virtual_printer.port is not None
    return PrinterConfig(kind="network", host="127.0.0.1", port=virtual_printer.port, timeout=5)


@pytest.fixture
def network_printer(network_config: PrinterConfig) -> NetworkPrinter:
    return NetworkPrinter(network_config)
