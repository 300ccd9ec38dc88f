"""ESC/POS receipt printers: python-escpos transports implementing the library's printer contract,
:class:`cardservice.printing.ReceiptPrinter` (the library owns it and never imports this package: the
daemon finds these by configuration ``kind`` through the ``cardservice.printers`` entry points).

    escpos_printer({"kind": "network", "host": ..., "paper": 80})  -> EscposPrinter   (entry points
        NetworkPrinter | SerialPrinter | UsbPrinter | FilePrinter     network, serial, usb, file)
    dummy_printer({"kind": "dummy", ...}) -> DummyPrinter                            (entry point dummy)

    printer.reads_status -> bool                   False: a file or status=False (never probed while idle)
    printer.probe() -> PrinterError | None         connect, ask the status, close; prints nothing
    with closing(printer.open()) as link:          EscposLink: .status() -> PrinterStatus, .print(ticket)
    print_job(printer, ticket) -> PrinterStatus    open, status, print, status, close; raises PrinterError

    PrinterConfig(kind=..., ..., paper=80)         the options, checked (printer_config(options))
    encode_ticket(ticket, paper) -> bytes          pure; GB18030 text in Kanji mode
    decode_status(...) -> PrinterStatus            pure; DLE EOT 1/4 (2/3)

One module per transport (``_network``, ``_serial``, ``_usb``, ``_file``) over what they share
(``_escpos``); :class:`DummyPrinter` (``_dummy``) keeps the bytes it is sent in ``output`` and reports the
state it is set to (ready, paper_out, cover_open, offline, error, unreachable), for tests without sockets.

Errors: only :class:`~cardservice.printing.PrinterError` (the contract's), ``code`` in printer_offline /
paper_out / cover_open / printer_unreachable / printer_error, ``message`` (English) and ``message_zh``;
bad options are a :class:`ValueError` naming each problem.
"""

from cardservice.printing import UNKNOWN, PrinterError, PrinterErrorCode, PrinterStatus
from drivers.printers._config import PrinterConfig, PrinterKind, printer_config
from drivers.printers._dummy import DUMMY_STATES, DummyLink, DummyPrinter, DummyState
from drivers.printers._encode import encode_image, encode_qr, encode_text, encode_ticket
from drivers.printers._escpos import EscposLink, EscposPrinter
from drivers.printers._file import FilePrinter
from drivers.printers._job import print_job
from drivers.printers._network import NetworkPrinter
from drivers.printers._plugins import TRANSPORTS, dummy_printer, escpos_printer
from drivers.printers._serial import SerialPrinter
from drivers.printers._status import decode_status, status_query
from drivers.printers._usb import UsbPrinter

__all__ = [
    "DUMMY_STATES",
    "TRANSPORTS",
    "UNKNOWN",
    "DummyLink",
    "DummyPrinter",
    "DummyState",
    "EscposLink",
    "EscposPrinter",
    "FilePrinter",
    "NetworkPrinter",
    "PrinterConfig",
    "PrinterError",
    "PrinterErrorCode",
    "PrinterKind",
    "PrinterStatus",
    "SerialPrinter",
    "UsbPrinter",
    "decode_status",
    "dummy_printer",
    "encode_image",
    "encode_qr",
    "encode_text",
    "encode_ticket",
    "escpos_printer",
    "print_job",
    "printer_config",
    "status_query",
]
