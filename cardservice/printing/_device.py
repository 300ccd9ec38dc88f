"""The receipt printer as the print queue needs it: a contract the library owns, and drivers implement
(:mod:`drivers.printers` for ESC/POS, found through the ``cardservice.printers`` entry points).

    printer.paper                       PaperWidth: what the tickets are laid out for
    printer.reads_status                bool: whether its link can answer status queries
    printer.probe() -> PrinterError | None      the problem it has now; prints nothing
    with closing(printer.open()) as link:       raises PrinterError (printer_unreachable, ...)
        link.status() -> PrinterStatus          UNKNOWN when the link cannot answer (a file, one-way)
        link.print(ticket)                      raises PrinterError while sending
                                                (printer_offline: stopped taking data; printer_unreachable)

A driver maps its third-party errors to :class:`PrinterError` at this boundary; the queue decides what a
problem means for a job (hold it, try it again, fail it), never the driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cardservice.printing._errors import PrinterError, PrinterErrorCode
from cardservice.printing._ticket import PaperWidth, Ticket

__all__ = ["UNKNOWN", "PrinterLink", "PrinterStatus", "ReceiptPrinter"]


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


#: The status of a link that cannot answer.
UNKNOWN = PrinterStatus(known=False)


@runtime_checkable
class PrinterLink(Protocol):
    """An open connection to a printer (one job, or a few in a row); closed by its user."""

    def status(self) -> PrinterStatus:
        """Ask the printer now: :data:`UNKNOWN` if the link cannot answer. Raises :class:`PrinterError`
        when it does not answer in time (``printer_unreachable``) or answers garbage (``printer_error``)."""
        ...

    def print(self, ticket: Ticket) -> None:
        """Send ``ticket``, laid out for the printer's paper. Raises :class:`PrinterError`: the printer
        stopped taking data (``printer_offline``) or the link broke (``printer_unreachable``)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ReceiptPrinter(Protocol):
    """A configured receipt printer. Making one does no I/O; :meth:`open` and :meth:`probe` do."""

    @property
    def paper(self) -> PaperWidth:
        """The paper it prints on (58 or 80 mm)."""
        ...

    @property
    def reads_status(self) -> bool:
        """Whether its link can answer status queries. ``False`` for a link that only takes bytes (a
        file, a print server that only forwards them: ``status = false`` in the configuration): its
        status is :data:`UNKNOWN`, and the print queue does not probe it while it is idle."""
        ...

    def probe(self) -> PrinterError | None:
        """The problem the printer has now (paper out, cover open, offline, unreachable, an error), or
        ``None`` when it can print as far as it can tell. Sends no ticket, and opens nothing that
        printing would change (a file printer is looked at, not opened)."""
        ...

    def open(self) -> PrinterLink:
        """A connected link. Raises :class:`PrinterError` (``printer_unreachable``) when it cannot be."""
        ...
