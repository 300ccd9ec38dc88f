"""What every python-escpos transport shares: :class:`EscposPrinter` (a
:class:`~cardservice.printing.ReceiptPrinter`) and its :class:`EscposLink`. A transport
(``_network``, ``_serial``, ``_usb``, ``_file``) says how to connect, and how to read a status reply
and throw away stale ones; the bytes come from ``_encode`` and the status decoding from ``_status``.
Third-party errors become :class:`~cardservice.printing.PrinterError` here, at the boundary."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from contextlib import closing
from typing import ClassVar

from escpos import exceptions as escpos_errors
from escpos.escpos import Escpos

from cardservice.printing import UNKNOWN, PaperWidth, PrinterError, PrinterStatus, Ticket
from drivers.printers._config import PrinterConfig
from drivers.printers._encode import encode_ticket
from drivers.printers._status import (
    ERROR_CAUSE,
    OFFLINE_CAUSE,
    PAPER_SENSOR,
    PRINTER_STATUS,
    decode_status,
    status_query,
)

__all__ = ["IO_ERRORS", "EscposLink", "EscposPrinter"]

log = logging.getLogger("drivers.printers")

#: What python-escpos, pyserial (SerialException is an OSError), sockets and pyusb (USBError is an
#: OSError, NoBackendError a ValueError) raise when a device is missing or a link breaks.
IO_ERRORS = (OSError, ValueError, RuntimeError, escpos_errors.Error)
# Sent in pieces: a timeout bounds one write, and a printer takes a long job only as fast as it prints;
# each piece must arrive in time, not the whole ticket.
_CHUNK = 4096


class EscposPrinter(ABC):
    """A receipt printer behind a python-escpos transport, as ``config`` describes it. Making one does
    no I/O. Subclasses (one per transport) implement :meth:`_connect`, and :meth:`_read` and
    :meth:`_drain` when the link answers status queries."""

    #: The :attr:`PrinterConfig.kind` this transport serves.
    kind: ClassVar[str]
    #: What a write raises when the printer stops taking data (buffer full, not printing).
    stalled: ClassVar[tuple[type[BaseException], ...]] = (TimeoutError,)

    def __init__(self, config: PrinterConfig) -> None:
        if config.kind != self.kind:
            raise ValueError(f"a {type(self).__name__} takes a {self.kind} printer's configuration")
        self.config = config

    def __repr__(self) -> str:
        given = self.config.model_dump(mode="json", exclude_defaults=True)
        fields = ", ".join(f"{key}={value!r}" for key, value in given.items())
        return f"{type(self).__name__}({fields})"

    @property
    def paper(self) -> PaperWidth:
        return self.config.paper

    @property
    def reads_status(self) -> bool:
        """Whether the link answers status queries (not a file; not configured ``status=False``)."""
        return self.config.bidirectional

    def open(self) -> EscposLink:
        """The connected link (TCP connected, serial port or USB device open, file open for writing);
        :class:`PrinterError` ``printer_unreachable`` when it cannot be."""
        try:
            device = self._connect()
        except IO_ERRORS as exc:
            raise PrinterError("printer_unreachable", f"{self.config.kind}: {exc}") from exc
        return EscposLink(self, device)

    def probe(self) -> PrinterError | None:
        """Connect and ask the status (if the link answers): the problem, or ``None``."""
        try:
            with closing(self.open()) as link:
                problem = link.status().problem
        except PrinterError as exc:
            return exc
        return None if problem is None else PrinterError(problem, "status poll")

    # -- the transport ---------------------------------------------------------------------------------

    @abstractmethod
    def _connect(self) -> Escpos:
        """The python-escpos printer, open. Raises one of :data:`IO_ERRORS` when it cannot be."""

    def _drain(self, device: Escpos) -> None:  # noqa: B027 - a link that never answers has nothing to drain
        """Throw away bytes that arrived unasked (a late reply, automatic status), so the next byte read
        answers the next query."""

    def _read(self, device: Escpos) -> bytes:
        """The reply to a status query (empty: none in time)."""
        data: bytes = device._read()
        return data


class EscposLink:
    """An open connection to an :class:`EscposPrinter`: status queries (DLE EOT) and tickets."""

    def __init__(self, printer: EscposPrinter, device: Escpos) -> None:
        self._printer = printer
        self.device = device

    def __enter__(self) -> EscposLink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def status(self) -> PrinterStatus:
        """Ask the printer (DLE EOT 1 and 4; 2 and 3 only to explain an offline printer) and decode;
        :data:`~cardservice.printing.UNKNOWN` for links that cannot answer. Raises
        :class:`PrinterError` when it does not answer (``printer_unreachable``) or answers garbage
        (``printer_error``)."""
        if not self._printer.reads_status:
            return UNKNOWN
        try:
            self._printer._drain(self.device)
            status = self._reply(PRINTER_STATUS)
            paper = self._reply(PAPER_SENSOR)
            offline = error = None
            if status & 0x08:
                offline = self._reply(OFFLINE_CAUSE)
                if offline & 0x40:
                    error = self._reply(ERROR_CAUSE)
        except TimeoutError as exc:
            raise PrinterError("printer_unreachable", "no status reply in time") from exc
        except IO_ERRORS as exc:
            raise PrinterError("printer_unreachable", str(exc)) from exc
        return decode_status(status, paper, offline, error)

    def _reply(self, n: int) -> int:
        self.device._raw(status_query(n))
        data = self._printer._read(self.device)
        if not data:
            raise PrinterError("printer_unreachable", f"no reply to DLE EOT {n}")
        return int(data[-1])

    def print(self, ticket: Ticket) -> None:
        """Send ``ticket`` laid out for the printer's paper. Raises :class:`PrinterError`:
        ``printer_offline`` when the printer stopped taking data, ``printer_unreachable`` when the link
        broke."""
        data = encode_ticket(ticket, self._printer.paper)
        try:
            for start in range(0, len(data), _CHUNK):
                self.device._raw(data[start : start + _CHUNK])
        except self._printer.stalled as exc:
            # Connected, but the printer stopped taking data (buffer full and not printing).
            raise PrinterError("printer_offline", "the printer did not take the data in time") from exc
        except IO_ERRORS as exc:
            raise PrinterError("printer_unreachable", str(exc)) from exc
        log.info("sent %d bytes", len(data))

    def close(self) -> None:
        self.device.close()
