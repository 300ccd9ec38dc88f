"""Raw TCP (port 9100): the printer of most kiosks. Status replies come back on the same socket."""

from __future__ import annotations

import socket

from escpos.escpos import Escpos
from escpos.printer import Network

from cardservice.printing import PrinterError
from drivers.printers._escpos import EscposPrinter

__all__ = ["NetworkPrinter"]


class NetworkPrinter(EscposPrinter):
    """``PrinterConfig(kind="network", host=..., port=9100)``: one connection per job, as network
    printers serve one client at a time."""

    kind = "network"

    def _connect(self) -> Escpos:
        config = self.config
        printer = Network(config.host or "", config.port, timeout=config.timeout)
        # Connected here rather than by Network.open(), which drops the socket of a failed connect
        # without closing it (a ResourceWarning, and a file descriptor until the next GC).
        printer.device = socket.create_connection((printer.host, printer.port), timeout=config.timeout)
        return printer

    def _drain(self, device: Escpos) -> None:
        sock = device.device
        sock.setblocking(False)
        try:
            while sock.recv(256):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        finally:
            sock.settimeout(device.timeout)

    def _read(self, device: Escpos) -> bytes:
        data: bytes = device.device.recv(16)
        if not data:
            raise PrinterError("printer_unreachable", "the printer closed the connection")
        return data
