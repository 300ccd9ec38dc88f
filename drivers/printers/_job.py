"""One ticket on any :class:`~cardservice.printing.ReceiptPrinter`, without the print queue (scripts,
tests, a counter's reprint tool): open, check, print, check, close."""

from __future__ import annotations

import logging
from contextlib import closing

from cardservice.printing import UNKNOWN, PrinterError, PrinterStatus, ReceiptPrinter, Ticket

__all__ = ["print_job"]

log = logging.getLogger("drivers.printers")


def print_job(printer: ReceiptPrinter, ticket: Ticket) -> PrinterStatus:
    """Print ``ticket`` on one connection: the status is asked before (nothing is sent to a printer that
    cannot print) and after (paper that ran out during the job). Returns the status after the job (look
    at ``paper_near_end``; :data:`~cardservice.printing.UNKNOWN` for a link that cannot answer); raises
    :class:`~cardservice.printing.PrinterError` on any failure, so the caller keeps the job."""
    with closing(printer.open()) as link:
        before = link.status()
        if before.problem:
            log.warning("printer not ready: %s", before.problem)
            raise PrinterError(before.problem, "before printing")
        link.print(ticket)
        if not before.known:
            log.info("sent, status unknown")
            return UNKNOWN
        after = link.status()
    if after.problem:
        log.warning("printer failed during the job: %s", after.problem)
        raise PrinterError(after.problem, "during printing")
    if after.paper_near_end:
        log.info("printed (paper near end)")
    return after
