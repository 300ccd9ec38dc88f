"""The daemon's printer configuration: ``[[printers]]`` in cardservice.toml or CARDSERVICE_PRINTERS,
checked at start by the driver of its ``kind`` (the ``cardservice.printers`` entry points), one line per
problem; the configured printers are ReceiptPrinters by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardservice.daemon import ConfigError, load_settings
from cardservice.printing import PaperWidth, ReceiptPrinter
from drivers.printers import DummyPrinter, EscposPrinter


def test_printers_from_the_toml_file(tmp_path: Path) -> None:
    (tmp_path / "cardservice.toml").write_text(
        """
[[printers]]
name = "front"
kind = "network"
host = "10.1.2.30"
paper = 58

[[printers]]
name = "serial-1"
kind = "serial"
device = "/dev/ttyUSB0"
baudrate = 115200

[[printers]]
name = "usb"
kind = "usb"
vendor_id = 0x0416
product_id = 0x5011

[[printers]]
name = "lp"
kind = "file"
path = "/dev/usb/lp0"
status = false
""",
        encoding="utf-8",
    )
    printers = load_settings(home=tmp_path).receipt_printers
    assert list(printers) == ["front", "serial-1", "usb", "lp"]
    assert all(isinstance(printer, ReceiptPrinter) for printer in printers.values())
    configs = {name: p.config for name, p in printers.items() if isinstance(p, EscposPrinter)}
    assert list(configs) == ["front", "serial-1", "usb", "lp"]
    assert printers["front"].paper is PaperWidth.MM58
    assert (configs["front"].host, configs["front"].port, configs["front"].paper) == (
        "10.1.2.30",
        9100,
        PaperWidth.MM58,
    )
    assert (configs["serial-1"].device, configs["serial-1"].baudrate) == ("/dev/ttyUSB0", 115200)
    assert (configs["usb"].vendor_id, configs["usb"].product_id) == (0x0416, 0x5011)
    assert configs["lp"].kind == "file"
    assert not configs["lp"].bidirectional


def test_printers_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARDSERVICE_PRINTERS", '[{"name": "kiosk", "kind": "network", "host": "127.0.0.1"}]')
    assert load_settings(home=tmp_path).receipt_printers["kiosk"].paper is PaperWidth.MM80


def test_no_printers_by_default(tmp_path: Path) -> None:
    assert load_settings(home=tmp_path).receipt_printers == {}


def test_a_dummy_printer_and_the_same_printer_each_time(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, printers=[{"name": "mem", "kind": "dummy", "paper": 58}])
    printer = settings.receipt_printers["mem"]
    assert isinstance(printer, DummyPrinter)
    assert printer.paper is PaperWidth.MM58
    assert settings.receipt_printers["mem"] is printer  # made once, at validation


@pytest.mark.parametrize(
    ("printers", "line"),
    [
        ([{"name": "a", "kind": "network"}], "printers.0: Value error, a network printer needs host"),
        (
            [{"name": "a", "kind": "network", "host": "h", "device": "/dev/ttyS0"}],
            "device do not apply to a network printer",
        ),
        ([{"name": "a", "kind": "network", "host": "h", "port": 99999}], "port: Input should be less than"),
        ([{"name": "a", "kind": "file", "path": "x", "paper": 76}], "printers.0.paper"),
        ([{"name": "a", "kind": "parallel"}], "printers.0.kind"),
        ([{"name": "a", "kind": "parallel"}], "no printer driver 'parallel'; there are: dummy, file,"),
        ([{"name": "a", "kind": "network", "host": "h", "colour": 1}], "colour: Extra inputs are not"),
        ([{"name": "a", "kind": "dummy", "host": "h"}], "printers.0: Value error, host: Extra inputs"),
        ([{"name": "a b", "kind": "file", "path": "x"}], "printers.0.name"),
        (
            [{"name": "a", "kind": "file", "path": "x"}, {"name": "a", "kind": "file", "path": "y"}],
            "printer names must be unique: a",
        ),
    ],
)
def test_bad_printers_stop_the_start_with_one_line_each(
    tmp_path: Path, printers: list[dict[str, object]], line: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(home=tmp_path, printers=printers)
    assert line in str(refused.value)


@pytest.mark.parametrize(
    ("printer", "lines"),
    [
        # the binding's own field and the driver's check of the others
        (
            {"name": "front desk", "kind": "network"},
            [
                "printers.0.name: String should match pattern",
                "printers.0: Value error, a network printer needs host",
            ],
        ),
        (
            {"name": "a", "kind": "network", "paper": 76},
            [
                "printers.0.paper: Input should be 58 or 80",
                "printers.0: Value error, a network printer needs host",
            ],
        ),
        (
            {"name": "a", "kind": "serial", "device": "/dev/ttyS0", "port": 99999, "timeout": "soon"},
            [
                "printers.0.timeout: Input should be a valid number",
                "printers.0: Value error, port: Input should be less",
            ],
        ),
        (
            {"name": "a b", "kind": "dummy", "host": "h"},
            ["printers.0.name: String should match pattern", "printers.0: Value error, host: Extra inputs"],
        ),
    ],
)
def test_every_problem_of_a_printer_entry_at_once(
    tmp_path: Path, printer: dict[str, object], lines: list[str]
) -> None:
    """One start names them all: fixing one problem never uncovers the next. A key whose own check failed
    is not passed on to the driver, so it is reported once."""
    with pytest.raises(ConfigError) as refused:
        load_settings(home=tmp_path, printers=[printer])
    reported = str(refused.value).splitlines()[1:]
    assert len(reported) == len(lines), reported
    for line in lines:
        assert any(line in problem for problem in reported), (line, reported)


def test_a_problem_in_each_of_two_printers_and_elsewhere(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(
            home=tmp_path,
            port=0,
            printers=[{"name": "a", "kind": "network"}, {"name": "b", "kind": "file", "paper": 76}],
        )
    message = str(refused.value)
    assert "port: Input should be greater than or equal to 1" in message
    assert "printers.0: Value error, a network printer needs host" in message
    assert "printers.1.paper" in message
    assert "printers.1: Value error, a file printer needs path" in message
