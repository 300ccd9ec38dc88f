"""One attempt at the printer, and what it means for the job: the queue's policy over the
:class:`ReceiptPrinter` contract (the driver only reports what happened).

The phases matter. An error before anything was sent, or while sending, means the ticket is not
complete: print it again later. After everything was sent, only paper out or cover open say so (the
ticket stopped at paper end: the torn part is torn off and the whole job prints again); anything else
leaves the outcome unknown, and an unknown outcome is never resent by itself.

Right before the ticket goes out, the worker is asked whether the job is still its own (``ours``): a job
a lease check took meanwhile (failed as interrupted) is never sent, however long connecting took.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from typing import Literal

from cardservice.printing._device import ReceiptPrinter
from cardservice.printing._errors import PrinterError
from cardservice.printing._ticket import Ticket

__all__ = ["HOLD_CODES", "Outcome", "probe", "send"]

#: The printer said it cannot print now: keep the job, print it when the printer is ready.
HOLD_CODES = ("paper_out", "cover_open", "printer_offline", "printer_unreachable")

#: ``taken``: the job was no longer the worker's when it was about to be sent; nothing was sent.
Outcome = Literal["printed", "held", "retry", "unknown", "taken"]


def _not_ready(exc: PrinterError) -> Outcome:
    return "retry" if exc.code == "printer_error" else "held"


def send(
    printer: ReceiptPrinter, ticket: Ticket, *, ours: Callable[[], bool]
) -> tuple[Outcome, PrinterError | None, bool]:
    """Print ``ticket`` once: (outcome, the printer's error, paper near end). ``ours()`` is asked once
    the printer said it can print, right before the ticket is sent: ``False`` sends nothing (``taken``);
    what it raises is raised, with nothing sent."""
    try:
        link = printer.open()
    except PrinterError as exc:
        return _not_ready(exc), exc, False
    with closing(link):
        try:
            before = link.status()
        except PrinterError as exc:
            return _not_ready(exc), exc, False
        if before.problem:
            problem = PrinterError(before.problem, "before printing")
            return _not_ready(problem), problem, False
        if not ours():
            return "taken", None, False
        try:
            link.print(ticket)
        except PrinterError as exc:  # printer_offline (stopped taking data), printer_unreachable
            return "held", exc, False
        if not before.known:  # a link that cannot answer: sent is all there is to know
            return "printed", None, False
        try:
            after = link.status()
        except PrinterError as exc:
            return "unknown", exc, False
        if after.problem in ("paper_out", "cover_open"):
            return "held", PrinterError(after.problem, "during printing"), False
        if after.problem:
            return "unknown", PrinterError(after.problem, "after printing"), False
        return "printed", None, after.paper_near_end


def probe(printer: ReceiptPrinter) -> PrinterError | None:
    """The printer's problem that holds jobs (paper out, cover open, offline, unreachable) now, or
    ``None`` when it can print as far as the link tells. ``printer_error`` (error bits, garbage) does
    not hold jobs: they are tried, and fail after ``max_attempts``, rather than wait for a printer that
    may never answer sensibly."""
    problem = printer.probe()
    return problem if problem is not None and problem.code in HOLD_CODES else None
