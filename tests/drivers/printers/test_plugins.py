"""The ``cardservice.printers`` entry points (pyproject.toml): the daemon finds these drivers by kind."""

from __future__ import annotations

import pytest

from cardservice import plugins
from cardservice.printing import PaperWidth, ReceiptPrinter
from drivers.printers import (
    DummyPrinter,
    FilePrinter,
    NetworkPrinter,
    SerialPrinter,
    UsbPrinter,
    dummy_printer,
    escpos_printer,
)

OPTIONS: dict[str, dict[str, object]] = {
    "network": {"kind": "network", "host": "10.1.2.30", "paper": 58},
    "serial": {"kind": "serial", "device": "/dev/ttyUSB0", "baudrate": 115200},
    "usb": {"kind": "usb", "vendor_id": 0x0416, "product_id": 0x5011},
    "file": {"kind": "file", "path": "/dev/usb/lp0", "status": False},
    "dummy": {"kind": "dummy", "paper": 58, "state": "paper_out"},
}
CLASSES = {
    "network": NetworkPrinter,
    "serial": SerialPrinter,
    "usb": UsbPrinter,
    "file": FilePrinter,
    "dummy": DummyPrinter,
}


def test_every_kind_is_registered() -> None:
    assert set(plugins.available(plugins.PRINTERS)) >= set(OPTIONS)
    assert plugins.load(plugins.PRINTERS, "network") is escpos_printer
    assert plugins.load(plugins.PRINTERS, "dummy") is dummy_printer


@pytest.mark.parametrize("kind", sorted(OPTIONS))
def test_the_factory_of_a_kind_makes_its_receipt_printer(kind: str) -> None:
    printer = plugins.load(plugins.PRINTERS, kind)(OPTIONS[kind])
    assert isinstance(printer, ReceiptPrinter)
    assert type(printer) is CLASSES[kind]
    assert printer.paper is (PaperWidth.MM58 if OPTIONS[kind].get("paper") == 58 else PaperWidth.MM80)


def test_the_network_printer_of_the_options() -> None:
    printer = plugins.load(plugins.PRINTERS, "network")({"kind": "network", "host": "10.1.2.30"})
    assert isinstance(printer, NetworkPrinter)
    assert (printer.config.host, printer.config.port, printer.config.timeout) == ("10.1.2.30", 9100, 5.0)


@pytest.mark.parametrize(
    ("kind", "options", "problems"),
    [
        ("network", {"kind": "network"}, "a network printer needs host"),
        ("dummy", {"kind": "dummy", "paper": 76, "host": "h"}, "paper: Input should be 58 or 80; host: "),
        ("dummy", {"kind": "dummy", "state": "jammed"}, "state: Input should be 'ready'"),
    ],
)
def test_bad_options_are_a_value_error(kind: str, options: dict[str, object], problems: str) -> None:
    with pytest.raises(ValueError, match=problems):
        plugins.load(plugins.PRINTERS, kind)(options)


def test_an_unknown_kind_lists_the_installed_ones() -> None:
    with pytest.raises(plugins.PluginError, match=r"no printer driver 'parallel'; there are: .*network"):
        plugins.load(plugins.PRINTERS, "parallel")
