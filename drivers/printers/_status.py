"""Real-time status (DLE EOT n) decoded into what a kiosk needs to know
(:class:`~cardservice.printing.PrinterStatus`): pure, no I/O.

Every reply byte has bits 1 and 4 set and bits 0 and 7 clear (ESC/POS "fixed" bits), which tells a
status byte from noise. n = 1 printer status: bit 3 offline. n = 2 offline cause: bit 2 cover open,
bit 5 printing stopped at paper end, bit 6 error. n = 3 error cause: bit 3 auto-cutter error, bit 5
unrecoverable error, bit 6 auto-recoverable error. n = 4 roll paper sensor: bits 2-3 near end,
bits 5-6 paper end.
"""

from __future__ import annotations

from cardservice.printing import PrinterError, PrinterStatus

__all__ = [
    "ERROR_CAUSE",
    "OFFLINE_CAUSE",
    "PAPER_SENSOR",
    "PRINTER_STATUS",
    "decode_status",
    "status_query",
]

PRINTER_STATUS, OFFLINE_CAUSE, ERROR_CAUSE, PAPER_SENSOR = 1, 2, 3, 4
_FIXED_MASK, _FIXED_VALUE = 0x93, 0x12


def status_query(n: int) -> bytes:
    """DLE EOT n."""
    return bytes((0x10, 0x04, n))


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
