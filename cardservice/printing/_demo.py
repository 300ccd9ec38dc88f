"""The demo's receipt printer: a :class:`simulators.escpos.VirtualPrinter` on a free local TCP port, for
``cardservice serve --demo`` (and anyone trying the print queue without hardware).

    with start_demo_printer(settings.home) as demo:            # HOME/printer-out/ticket-0001.png + .txt
        queue = PrintQueue(database, {demo.name: demo.config}, audit=audit.record)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cardservice.printing._ticket import PaperWidth
from drivers.printers import PrinterConfig
from simulators.escpos import PrinterHandle, VirtualPrinter

__all__ = ["DEMO_PRINTER", "DEMO_PRINTER_DIR", "DemoPrinter", "start_demo_printer"]

#: The demo printer's name in the print queue.
DEMO_PRINTER = "demo"
#: Where it writes its tickets, under the daemon's data directory.
DEMO_PRINTER_DIR = "printer-out"


@dataclass
class DemoPrinter:
    """A running virtual printer: ``config`` reaches it (network, 127.0.0.1, its port), ``out_dir`` holds
    its ``ticket-NNNN.png`` / ``.txt``, ``handle`` controls it (``set_paper``, ``set_cover``,
    ``tickets()``). :meth:`stop` (or leaving the ``with`` block) closes the port."""

    name: str
    config: PrinterConfig
    out_dir: Path
    handle: PrinterHandle

    def stop(self) -> None:
        self.handle.stop()

    def __enter__(self) -> DemoPrinter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_demo_printer(
    home: Path, *, paper: PaperWidth = PaperWidth.MM80, name: str = DEMO_PRINTER
) -> DemoPrinter:
    """Start a virtual ESC/POS printer on 127.0.0.1 (a free port) writing into ``home/printer-out``
    (created, mode 0700: tickets carry masked names and amounts) and return it with the
    :class:`PrinterConfig` that reaches it. It runs in this process's background threads."""
    out_dir = home / DEMO_PRINTER_DIR
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = VirtualPrinter(out_dir, paper=paper.value).serve_tcp("127.0.0.1", 0)
    if handle.port is None:  # pragma: no cover - serve_tcp always has a port
        handle.stop()
        raise RuntimeError("the demo printer did not get a port")
    config = PrinterConfig(kind="network", host="127.0.0.1", port=handle.port, paper=paper, timeout=5)
    return DemoPrinter(name=name, config=config, out_dir=out_dir, handle=handle)
