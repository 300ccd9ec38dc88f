"""The thin I/O half: open a python-escpos printer from a :class:`PrinterConfig`, ask its status, send a
ticket. Everything that can be pure (bytes, status decoding) lives in ``_encode`` and ``_status``;
third-party errors become :class:`PrinterError` here, at the boundary."""

from __future__ import annotations

import logging
import socket
from contextlib import closing

import serial
from escpos import exceptions as escpos_errors
from escpos.escpos import Escpos
from escpos.printer import File, Network, Serial, Usb

from cardservice.printing import PaperWidth, Ticket
from drivers.printers._config import PrinterConfig
from drivers.printers._encode import encode_ticket
from drivers.printers._errors import PrinterError
from drivers.printers._status import (
    ERROR_CAUSE,
    OFFLINE_CAUSE,
    PAPER_SENSOR,
    PRINTER_STATUS,
    UNKNOWN,
    PrinterStatus,
    decode_status,
    status_query,
)

__all__ = ["can_read_status", "open_printer", "print_job", "print_ticket", "read_status"]

log = logging.getLogger(__name__)

# What python-escpos, pyserial (SerialException is an OSError), sockets and pyusb (USBError is an
# OSError, NoBackendError a ValueError) raise when a device is missing or a link breaks.
_IO_ERRORS = (OSError, ValueError, RuntimeError, escpos_errors.Error)
_CHUNK = 4096


def open_printer(config: PrinterConfig) -> Escpos:
    """The python-escpos printer for ``config``, connected (TCP connected, serial port or USB device open,
    file open for writing). Raises :class:`PrinterError` ``printer_unreachable`` when it cannot be."""
    printer: Escpos
    try:
        if config.kind == "network":
            printer = Network(config.host or "", config.port, timeout=config.timeout)
        elif config.kind == "serial":
            # dsrdtr=False: python-escpos defaults to DSR/DTR flow control, and printers wired TX/RX/GND
            # only never assert DSR (where pyserial honours it, every write would stall).
            printer = Serial(
                devfile=config.device or "",
                baudrate=config.baudrate,
                bytesize=config.bytesize,
                timeout=config.timeout,
                parity=config.parity,
                stopbits=config.stopbits,
                xonxoff=config.xonxoff,
                dsrdtr=False,
            )
        elif config.kind == "usb":
            printer = Usb(
                config.vendor_id,
                config.product_id,
                timeout=int(config.timeout * 1000),  # pyusb counts milliseconds
                in_ep=config.in_ep,
                out_ep=config.out_ep,
            )
        else:
            printer = File(config.path or "")
        if isinstance(printer, Network):
            # Connected here rather than by Network.open(), which drops the socket of a failed connect
            # without closing it (a ResourceWarning, and a file descriptor until the next GC).
            printer.device = socket.create_connection((printer.host, printer.port), timeout=config.timeout)
        else:
            printer.open()
        if isinstance(printer, Serial):
            port = printer.device
            port.rtscts = config.rtscts
            # python-escpos leaves pyserial's write timeout at None: a printer holding flow control
            # (paper out, cover open) would block the kiosk forever.
            port.write_timeout = config.timeout
    except _IO_ERRORS as exc:
        raise PrinterError("printer_unreachable", f"{config.kind}: {exc}") from exc
    return printer


def can_read_status(printer: Escpos) -> bool:
    """Whether the link answers (network, serial, USB); files and python-escpos' Dummy do not."""
    return type(printer)._read is not Escpos._read


def _drain(printer: Escpos) -> None:
    """Throw away bytes that arrived unasked (a late reply, automatic status), so the next byte read
    answers the next query."""
    if isinstance(printer, Network):
        sock = printer.device
        sock.setblocking(False)
        try:
            while sock.recv(256):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        finally:
            sock.settimeout(printer.timeout)
    elif isinstance(printer, Serial):
        printer.device.reset_input_buffer()


def _reply(printer: Escpos, n: int) -> int:
    printer._raw(status_query(n))
    if isinstance(printer, Network):
        data = printer.device.recv(16)
        if not data:
            raise PrinterError("printer_unreachable", "the printer closed the connection")
    elif isinstance(printer, Serial):
        # read(1), not python-escpos' read(16): that one always waits the whole timeout for 16 bytes.
        data = printer.device.read(1)
    else:
        data = printer._read()
    if not data:
        raise PrinterError("printer_unreachable", f"no reply to DLE EOT {n}")
    return int(data[-1])


def read_status(printer: Escpos) -> PrinterStatus:
    """Ask the printer (DLE EOT 1 and 4; 2 and 3 only to explain an offline printer) and decode.
    :data:`UNKNOWN` for links that cannot answer. Raises :class:`PrinterError` when it does not answer
    (``printer_unreachable``) or answers garbage (``printer_error``)."""
    if not can_read_status(printer):
        return UNKNOWN
    try:
        _drain(printer)
        status = _reply(printer, PRINTER_STATUS)
        paper = _reply(printer, PAPER_SENSOR)
        offline = error = None
        if status & 0x08:
            offline = _reply(printer, OFFLINE_CAUSE)
            if offline & 0x40:
                error = _reply(printer, ERROR_CAUSE)
    except TimeoutError as exc:
        raise PrinterError("printer_unreachable", "no status reply in time") from exc
    except _IO_ERRORS as exc:
        raise PrinterError("printer_unreachable", str(exc)) from exc
    return decode_status(status, paper, offline, error)


def print_ticket(
    printer: Escpos, ticket: Ticket, *, paper: PaperWidth = PaperWidth.MM80, check_status: bool = True
) -> PrinterStatus:
    """Print ``ticket`` laid out for ``paper``: status checked before (nothing is sent to a printer that
    cannot print) and after (paper that ran out during the job). Returns the status after the job (look
    at ``paper_near_end``); raises :class:`PrinterError` on any failure, so the caller keeps the job for
    a reprint. ``check_status=False`` for links that cannot answer."""
    data = encode_ticket(ticket, paper)
    ask = check_status and can_read_status(printer)
    if ask:
        before = read_status(printer)
        if before.problem:
            log.warning("printer not ready: %s", before.problem)
            raise PrinterError(before.problem, "before printing")
    try:
        # In pieces: a socket timeout bounds a whole sendall(), and a printer takes a long job only as fast
        # as it prints; each piece must arrive in time, not the whole ticket.
        for start in range(0, len(data), _CHUNK):
            printer._raw(data[start : start + _CHUNK])
    except (TimeoutError, serial.SerialTimeoutException) as exc:
        # Connected, but the printer stopped taking data (buffer full and not printing).
        raise PrinterError("printer_offline", "the printer did not take the data in time") from exc
    except _IO_ERRORS as exc:
        raise PrinterError("printer_unreachable", str(exc)) from exc
    if not ask:
        log.info("sent %d bytes, status unknown", len(data))
        return UNKNOWN
    after = read_status(printer)
    if after.problem:
        log.warning("printer failed during the job: %s", after.problem)
        raise PrinterError(after.problem, "during printing")
    log.info("printed %d bytes%s", len(data), " (paper near end)" if after.paper_near_end else "")
    return after


def print_job(config: PrinterConfig, ticket: Ticket) -> PrinterStatus:
    """Open the printer of ``config``, print ``ticket`` and close: one connection per job, as network
    printers serve one client at a time."""
    with closing(open_printer(config)) as printer:
        return print_ticket(printer, ticket, paper=config.paper, check_status=config.status)
