"""The factories the ``cardservice.printers`` entry points name (``pyproject.toml``): each takes the
options of a ``[[printers]]`` entry (everything but its name) and returns a
:class:`~cardservice.printing.ReceiptPrinter`, or raises :class:`ValueError` listing the problems."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from cardservice.printing import PaperWidth
from drivers.printers._config import PrinterConfig, printer_config, problems_of
from drivers.printers._dummy import DummyPrinter, DummyState
from drivers.printers._escpos import EscposPrinter
from drivers.printers._file import FilePrinter
from drivers.printers._network import NetworkPrinter
from drivers.printers._serial import SerialPrinter
from drivers.printers._usb import UsbPrinter

__all__ = ["TRANSPORTS", "dummy_printer", "escpos_printer"]

#: The printer class of each kind of :class:`PrinterConfig`.
TRANSPORTS: dict[str, type[EscposPrinter]] = {
    cls.kind: cls for cls in (NetworkPrinter, SerialPrinter, UsbPrinter, FilePrinter)
}


def escpos_printer(options: Mapping[str, Any] | PrinterConfig) -> EscposPrinter:
    """The ESC/POS printer of ``options`` (``kind`` network, serial, usb or file, and its fields; see
    :class:`PrinterConfig`) or of a configuration."""
    config = options if isinstance(options, PrinterConfig) else printer_config(options)
    return TRANSPORTS[config.kind](config)


class _DummyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["dummy"] = "dummy"
    paper: PaperWidth = PaperWidth.MM80
    status: bool = True  # as for the other kinds: False is a link that cannot answer
    state: DummyState = "ready"


def dummy_printer(options: Mapping[str, Any]) -> DummyPrinter:
    """A :class:`DummyPrinter` (``kind = "dummy"``; ``paper``, ``status``, ``state``): a daemon that
    prints into memory, for trying a kiosk without a printer."""
    try:
        checked = _DummyOptions.model_validate(dict(options))
    except ValidationError as exc:
        raise ValueError(problems_of(exc)) from None
    return DummyPrinter(paper=checked.paper, state=checked.state, reads_status=checked.status)
