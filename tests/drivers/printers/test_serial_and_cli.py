"""A serial printer on a pseudo-terminal, and the simulator run as ``python -m simulators.escpos``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardservice.printing import PaperWidth, payment_receipt, preview_pages, registration_slip
from drivers.printers import (
    NetworkPrinter,
    PrinterConfig,
    PrinterError,
    PrinterStatus,
    SerialPrinter,
    print_job,
)
from simulators.escpos import PrinterHandle, VirtualPrinter
from tests.printing.samples import make_receipt, make_slip

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pty_printer(tmp_path: Path) -> Iterator[PrinterHandle]:
    with VirtualPrinter(tmp_path, paper=PaperWidth.MM58).serve_pty() as handle:
        yield handle


def _serial(handle: PrinterHandle) -> SerialPrinter:
    assert handle.path is not None
    return SerialPrinter(
        PrinterConfig(kind="serial", device=handle.path, baudrate=115200, paper=PaperWidth.MM58, timeout=2)
    )


def test_serial_printer_over_a_pty(pty_printer: PrinterHandle) -> None:
    receipt = payment_receipt(make_receipt())
    status = print_job(_serial(pty_printer), receipt)
    assert status.known
    assert status.problem is None
    (printed,) = pty_printer.wait_for_tickets(1)
    assert printed.text == preview_pages(receipt, PaperWidth.MM58)[0]
    assert "阿*******" in printed.text
    assert "￥102.00" in printed.text


def test_serial_paper_out_then_back(pty_printer: PrinterHandle) -> None:
    pty_printer.set_paper(False)
    with pytest.raises(PrinterError) as caught:
        print_job(_serial(pty_printer), registration_slip(make_slip()))
    assert caught.value.code == "paper_out"
    pty_printer.set_paper(True)
    print_job(_serial(pty_printer), registration_slip(make_slip()))
    assert len(pty_printer.wait_for_tickets(1)) == 1


def test_serial_device_missing(tmp_path: Path) -> None:
    printer = SerialPrinter(PrinterConfig(kind="serial", device=str(tmp_path / "ttyUSB9")))
    with pytest.raises(PrinterError) as caught:
        printer.open()
    assert caught.value.code == "printer_unreachable"


def _status(printer: NetworkPrinter) -> PrinterStatus:
    link = printer.open()
    try:
        return link.status()
    finally:
        link.close()


def _wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def test_command_line(tmp_path: Path) -> None:
    out = tmp_path / "tickets"
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.escpos", "--tcp", "127.0.0.1:0", "--pty", "--out", str(out),
         "--paper", "58"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        tcp = process.stdout.readline().split()
        pty = process.stdout.readline().split()
        assert tcp[0] == "tcp"
        assert pty[0] == "pty"
        assert os.path.exists(pty[1])
        host, port = tcp[1].rsplit(":", 1)
        config = NetworkPrinter(
            PrinterConfig(kind="network", host=host, port=int(port), paper=PaperWidth.MM58, timeout=5)
        )

        print_job(config, registration_slip(make_slip()))
        _wait_for(lambda: (out / "ticket-0001.txt").exists())
        assert "李*" in (out / "ticket-0001.txt").read_text(encoding="utf-8")
        assert (out / "ticket-0001.png").stat().st_size > 0

        process.send_signal(signal.SIGUSR1)  # paper out
        _wait_for(lambda: _status(config).paper_out)
        with pytest.raises(PrinterError) as caught:
            print_job(config, registration_slip(make_slip()))
        assert caught.value.code == "paper_out"
        process.send_signal(signal.SIGUSR2)  # cover open as well: the cover is reported first
        _wait_for(lambda: _status(config).cover_open)
        process.send_signal(signal.SIGUSR2)
        process.send_signal(signal.SIGUSR1)
        _wait_for(lambda: _status(config).problem is None)
    finally:
        process.send_signal(signal.SIGTERM)
        _stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "ticket-0001" in stderr


def test_command_line_needs_a_transport(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulators.escpos", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--tcp" in result.stderr


def test_command_line_paper_out_at_start(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.escpos", "--tcp", "127.0.0.1:0", "--out", str(tmp_path),
         "--paper-out"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        host, port = process.stdout.readline().split()[1].rsplit(":", 1)
        assert _status(NetworkPrinter(PrinterConfig(kind="network", host=host, port=int(port)))).paper_out
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    assert process.returncode == 0
