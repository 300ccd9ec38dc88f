"""Real-time status (DLE EOT n) decoded into what a kiosk needs to know: pure, no I/O.

Every reply byte has bits 1 and 4 set and bits 0 and 7 clear (ESC/POS "fixed" bits), which tells a
status byte from noise. n = 1 printer status: bit 3 offline. n = 2 offline cause: bit 2 cover open,
bit 5 printing stopped at paper end, bit 6 error. n = 3 error cause: bit 3 auto-cutter error, bit 5
unrecoverable error, bit 6 auto-recoverable error. n = 4 roll paper sensor: bits 2-3 near end,
bits 5-6 paper end.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.printers._errors import PrinterError, PrinterErrorCode

__all__ = [
    "ERROR_CAUSE",
    "OFFLINE_CAUSE",
    "PAPER_SENSOR",
    "PRINTER_STATUS",
    "UNKNOWN",
    "PrinterStatus",
    "decode_status",
    "status_query",
]

PRINTER_STATUS, OFFLINE_CAUSE, ERROR_CAUSE, PAPER_SENSOR = 1, 2, 3, 4
_FIXED_MASK, _FIXED_VALUE = 0x93, 0x12


def status_query(n: int) -> bytes:
    """DLE EOT n."""
    return bytes((0x10, 0x04, n))


@dataclass(frozen=True)
class PrinterStatus:
    """What the printer said. ``known=False`` for links that cannot answer (a file, a one-way print
    server): nothing is known, which is not an error."""

    known: bool = True
    online: bool = True
    cover_open: bool = False
    paper_out: bool = False
    paper_near_end: bool = False
    error: bool = False

    @property
    def problem(self) -> PrinterErrorCode | None:
        """The error code that stops printing, most specific first; ``None`` when the printer can print
        (paper near its end is a warning, not a problem)."""
        if not self.known:
            return None
        if self.cover_open:
            return "cover_open"
        if self.paper_out:
            return "paper_out"
        if self.error:
            return "printer_error"
        if not self.online:
            return "printer_offline"
        return None


UNKNOWN = PrinterStatus(known=False)


def _check(n: int, byte: int | None) -> int:
    if byte is None:
        return _FIXED_VALUE  # not asked
    if byte & _FIXED_MASK != _FIXED_VALUE:
        raise PrinterError("printer_error", f"unexpected reply 0x{byte:02X} to DLE EOT {n}")
    return byte


def decode_status(
    printer: int, paper: int | None = None, offline: int | None = None, error: int | None = None
) -> PrinterStatus:
    """Decode the reply bytes to DLE EOT 1 (``printer``), 4 (``paper``), 2 (``offline``) and 3 (``error``);
    replies not asked for are ``None``. Raises :class:`PrinterError` (``printer_error``) for a byte that
    is not a status byte."""
    s1, s4, s2, s3 = _check(1, printer), _check(4, paper), _check(2, offline), _check(3, error)
    return PrinterStatus(
        online=not s1 & 0x08,
        cover_open=bool(s2 & 0x04),
        paper_out=bool(s2 & 0x20) or s4 & 0x60 == 0x60,
        paper_near_end=s4 & 0x0C == 0x0C,
        error=bool(s2 & 0x40) or bool(s3 & 0x68),
    )
