"""A device file written to (``/dev/usb/lp0``, a parallel port, a file): one way, so the status is
unknown, which is not an error."""

from __future__ import annotations

from pathlib import Path

from escpos.escpos import Escpos
from escpos.printer import File

from cardservice.printing import PrinterError
from drivers.printers._escpos import EscposPrinter

__all__ = ["FilePrinter"]


class FilePrinter(EscposPrinter):
    """``PrinterConfig(kind="file", path=...)``."""

    kind = "file"

    def _connect(self) -> Escpos:
        printer = File(self.config.path or "")
        printer.open()
        return printer

    def probe(self) -> PrinterError | None:
        # Opening a file printer truncates a regular file: look, do not open.
        path = Path(self.config.path or "")
        reachable = path.exists() or path.parent.is_dir()
        return None if reachable else PrinterError("printer_unreachable", "no such file or folder")
