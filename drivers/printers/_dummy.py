"""A receipt printer in memory, as python-escpos' ``Dummy``: it keeps the ESC/POS bytes it is sent
(:attr:`DummyPrinter.output`) so a test asserts exact output, and reports the state it is given, so the
print queue's held, retry and unconfirmed paths run without a socket.

    printer = DummyPrinter(paper=PaperWidth.MM58)
    printer.set_state("paper_out")                     # status says paper out; probe() says so too
    printer.set_state("ready", after_print="paper_out")  # the next ticket runs out of paper
    assert printer.output == encode_ticket(ticket, PaperWidth.MM58)

``unreachable`` refuses connections and breaks open links; ``offline`` stops taking data (a print raises
``printer_offline``, as a real printer's full buffer does). Status queries are answered from the state,
not written to :attr:`output`: it holds tickets only.
"""

from __future__ import annotations

import threading
from typing import Literal, get_args

from cardservice.printing import UNKNOWN, PaperWidth, PrinterError, PrinterStatus, Ticket
from drivers.printers._encode import encode_ticket

__all__ = ["DUMMY_STATES", "DummyLink", "DummyPrinter", "DummyState"]

DummyState = Literal["ready", "paper_out", "cover_open", "offline", "error", "unreachable"]
DUMMY_STATES: tuple[DummyState, ...] = get_args(DummyState)

# What a printer in each state answers to DLE EOT (unreachable answers nothing).
_STATUS: dict[str, PrinterStatus] = {
    "ready": PrinterStatus(),
    "paper_out": PrinterStatus(online=False, paper_out=True),
    "cover_open": PrinterStatus(online=False, cover_open=True),
    "offline": PrinterStatus(online=False),
    "error": PrinterStatus(online=False, error=True),
}


class DummyPrinter:
    """A :class:`~cardservice.printing.ReceiptPrinter` that prints into :attr:`output`. ``state``: what
    it reports (see :data:`DummyState`); ``reads_status=False`` makes it a one-way link (status
    unknown, like a file printer; the print queue does not probe it while idle); ``paper_near_end`` is
    reported with a ready status. Thread-safe."""

    def __init__(
        self,
        *,
        paper: PaperWidth = PaperWidth.MM80,
        state: DummyState = "ready",
        reads_status: bool = True,
        paper_near_end: bool = False,
    ) -> None:
        self._paper = PaperWidth(paper)
        self.reads_status = reads_status
        self.paper_near_end = paper_near_end
        self._lock = threading.Lock()
        self._tickets: list[bytes] = []
        self._state: DummyState = "ready"
        self._after_print: DummyState | None = None
        self.set_state(state)

    def __repr__(self) -> str:
        return f"DummyPrinter(paper={self._paper.value}, state={self.state!r})"

    @property
    def paper(self) -> PaperWidth:
        return self._paper

    @property
    def state(self) -> DummyState:
        with self._lock:
            return self._state

    def set_state(self, state: DummyState, *, after_print: DummyState | None = None) -> None:
        """Report ``state`` from now on; after the next ticket is sent, ``after_print`` (paper that ran
        out, a cover opened or the link lost mid-job)."""
        for value in (state, after_print):
            if value is not None and value not in DUMMY_STATES:
                raise ValueError(f"state must be one of {', '.join(DUMMY_STATES)}, not {value!r}")
        with self._lock:
            self._state, self._after_print = state, after_print

    @property
    def output(self) -> bytes:
        """Every byte sent, in order."""
        with self._lock:
            return b"".join(self._tickets)

    @property
    def tickets(self) -> list[bytes]:
        """The bytes of each ticket sent, in order."""
        with self._lock:
            return list(self._tickets)

    def clear(self) -> None:
        """Forget what was sent."""
        with self._lock:
            self._tickets.clear()

    def probe(self) -> PrinterError | None:
        try:
            with self.open() as link:
                problem = link.status().problem
        except PrinterError as exc:
            return exc
        return None if problem is None else PrinterError(problem, "status poll")

    def open(self) -> DummyLink:
        if self.state == "unreachable":
            raise PrinterError("printer_unreachable", "dummy: unreachable")
        return DummyLink(self)

    # -- for DummyLink ---------------------------------------------------------------------------------

    def _status(self) -> PrinterStatus:
        state = self.state
        if state == "unreachable":
            raise PrinterError("printer_unreachable", "no status reply in time")
        if not self.reads_status:
            return UNKNOWN
        if state == "ready" and self.paper_near_end:
            return PrinterStatus(paper_near_end=True)
        return _STATUS[state]

    def _print(self, data: bytes) -> None:
        with self._lock:
            if self._state == "unreachable":
                raise PrinterError("printer_unreachable", "dummy: the link broke")
            if self._state == "offline":
                raise PrinterError("printer_offline", "the printer did not take the data in time")
            self._tickets.append(data)
            if self._after_print is not None:
                self._state, self._after_print = self._after_print, None


class DummyLink:
    """An open link to a :class:`DummyPrinter`."""

    def __init__(self, printer: DummyPrinter) -> None:
        self._printer = printer
        self._open = True

    def __enter__(self) -> DummyLink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def status(self) -> PrinterStatus:
        self._check()
        return self._printer._status()

    def print(self, ticket: Ticket) -> None:
        self._check()
        self._printer._print(encode_ticket(ticket, self._printer.paper))

    def close(self) -> None:
        self._open = False

    def _check(self) -> None:
        if not self._open:
            raise PrinterError("printer_unreachable", "dummy: the link is closed")
