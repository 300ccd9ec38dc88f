"""A USB printer (printer class, bulk endpoints) through pyusb."""

from __future__ import annotations

from escpos.escpos import Escpos
from escpos.printer import Usb

from drivers.printers._escpos import EscposPrinter

__all__ = ["UsbPrinter"]


class UsbPrinter(EscposPrinter):
    """``PrinterConfig(kind="usb", vendor_id=..., product_id=..., in_ep=0x82, out_ep=0x01)``. Status
    replies are read from the IN endpoint (python-escpos' ``_read``)."""

    kind = "usb"

    def _connect(self) -> Escpos:
        config = self.config
        printer = Usb(
            config.vendor_id,
            config.product_id,
            timeout=int(config.timeout * 1000),  # pyusb counts milliseconds
            in_ep=config.in_ep,
            out_ep=config.out_ep,
        )
        printer.open()
        return printer
