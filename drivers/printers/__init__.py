"""ESC/POS receipt printers: a thin driver on python-escpos.

    PrinterConfig(kind="network" | "serial" | "usb" | "file", ..., paper=80)
    open_printer(config) -> escpos.printer.Network | Serial | Usb | File
    print_ticket(printer, ticket, paper=...) -> PrinterStatus      raises PrinterError
    print_job(config, ticket) -> PrinterStatus                      open, print, close
    read_status(printer) -> PrinterStatus                           DLE EOT 1/4 (2/3)
    encode_ticket(ticket, paper) -> bytes                           pure; GB18030 text in Kanji mode

Errors: only :class:`PrinterError`, ``code`` in printer_offline / paper_out / cover_open /
printer_unreachable / printer_error, ``message`` (English) and ``message_zh``.
"""

from drivers.printers._config import PrinterConfig, PrinterKind
from drivers.printers._encode import encode_image, encode_qr, encode_text, encode_ticket
from drivers.printers._errors import PrinterError, PrinterErrorCode
from drivers.printers._printer import can_read_status, open_printer, print_job, print_ticket, read_status
from drivers.printers._status import UNKNOWN, PrinterStatus, decode_status, status_query

__all__ = [
    "UNKNOWN",
    "PrinterConfig",
    "PrinterError",
    "PrinterErrorCode",
    "PrinterKind",
    "PrinterStatus",
    "can_read_status",
    "decode_status",
    "encode_image",
    "encode_qr",
    "encode_text",
    "encode_ticket",
    "open_printer",
    "print_job",
    "print_ticket",
    "read_status",
    "status_query",
]
