"""A serial printer (RS-232, or USB-serial as ``/dev/ttyUSB0``) through pyserial."""

from __future__ import annotations

import serial
from escpos.escpos import Escpos
from escpos.printer import Serial

from drivers.printers._escpos import EscposPrinter

__all__ = ["SerialPrinter"]


class SerialPrinter(EscposPrinter):
    """``PrinterConfig(kind="serial", device=..., baudrate=9600, ...)``."""

    kind = "serial"
    stalled = (TimeoutError, serial.SerialTimeoutException)

    def _connect(self) -> Escpos:
        config = self.config
        # dsrdtr=False: python-escpos defaults to DSR/DTR flow control, and printers wired TX/RX/GND
        # only never assert DSR (where pyserial honours it, every write would stall).
        printer = Serial(
            devfile=config.device or "",
            baudrate=config.baudrate,
            bytesize=config.bytesize,
            timeout=config.timeout,
            parity=config.parity,
            stopbits=config.stopbits,
            xonxoff=config.xonxoff,
            dsrdtr=False,
        )
        printer.open()
        port = printer.device
        port.rtscts = config.rtscts
        # python-escpos leaves pyserial's write timeout at None: a printer holding flow control
        # (paper out, cover open) would block the kiosk forever.
        port.write_timeout = config.timeout
        return printer

    def _drain(self, device: Escpos) -> None:
        device.device.reset_input_buffer()

    def _read(self, device: Escpos) -> bytes:
        # read(1), not python-escpos' read(16): that one always waits the whole timeout for 16 bytes.
        data: bytes = device.device.read(1)
        return data
