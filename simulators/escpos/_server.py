"""The virtual printer as a device: a parser behind a lock, fed by a TCP port (raw port 9100 style) or a
pseudo-terminal (a serial printer), writing each cut ticket as ``ticket-NNNN.png`` + ``ticket-NNNN.txt``."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from simulators.escpos._model import PrintedTicket
from simulators.escpos._parser import EscPosParser
from simulators.escpos._render import render_png

__all__ = ["PrinterHandle", "TicketFile", "VirtualPrinter"]

log = logging.getLogger(__name__)

PAPER_DOTS = {58: 384, 80: 576}
_POLL = 0.2  # how often blocked threads look at the stop flag
_IDLE_TIMEOUT = 90.0  # a client silent this long is dropped (it holds the port), as printers do
_MAX_TICKETS = 9999  # file names have four digits; a runaway stream must not fill the disk


@dataclass(frozen=True)
class TicketFile:
    """One cut ticket as written to the output folder."""

    number: int
    png: Path
    txt: Path
    text: str
    complete: bool
    ticket: PrintedTicket


class VirtualPrinter:
    """A virtual ESC/POS printer writing tickets into ``out_dir``.

    In-process use (tests)::

        with VirtualPrinter(tmp_path).serve_tcp("127.0.0.1", 0) as printer:
            ... print to 127.0.0.1:printer.port ...
            printer.set_paper(False)           # paper out: status says so, data is discarded
            printer.wait_for_tickets(1)
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        paper: int = 80,
        paper_present: bool = True,
        chinese_default: bool = False,
    ) -> None:
        if paper not in PAPER_DOTS:
            raise ValueError("paper is 58 or 80 (mm)")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.paper_dots = PAPER_DOTS[paper]
        self._parser = EscPosParser(self.paper_dots, chinese_default=chinese_default)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._tickets: list[TicketFile] = []
        # A folder used before (the demo's, after a restart) keeps its tickets: numbering goes on after them.
        self._first = 1 + max(
            (int(p.stem[7:]) for p in self.out_dir.glob("ticket-[0-9][0-9][0-9][0-9].txt")), default=0
        )
        if not paper_present:
            self._parser.set_paper(False)

    # -- the device ---------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Bytes from the host; returns the printer's replies."""
        with self._lock:
            replies = self._parser.feed(data)
            self._save(self._parser.take_tickets())
            return replies

    def end_of_stream(self) -> None:
        """The host went away: a half-sent command does not swallow the next job."""
        with self._lock:
            self._parser.abort_command()

    def set_paper(self, present: bool, *, after_lines: int | None = None) -> None:
        """Paper in (``True``) or out (``False``); ``False, after_lines=n``: the roll ends after n lines."""
        with self._lock:
            self._parser.set_paper(present, after_lines=after_lines)
            self._save(self._parser.take_tickets())
        log.info(
            "paper %s", "loaded" if present else f"ends after {after_lines} lines" if after_lines else "out"
        )

    def set_cover(self, open_: bool) -> None:
        with self._lock:
            self._parser.set_cover(open_)
        log.info("cover %s", "open" if open_ else "closed")

    @property
    def paper_present(self) -> bool:
        return self._parser.paper_present

    @property
    def cover_open(self) -> bool:
        return self._parser.cover_open

    def tickets(self) -> list[TicketFile]:
        with self._lock:
            return list(self._tickets)

    def wait_for_tickets(self, count: int, timeout: float = 10.0) -> list[TicketFile]:
        """Block until at least ``count`` tickets were cut (or ``timeout``); returns all of them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._tickets) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return list(self._tickets)

    def _save(self, tickets: list[PrintedTicket]) -> None:
        for ticket in tickets:
            number = self._first + len(self._tickets)
            if number > _MAX_TICKETS:
                log.warning("ticket limit reached; ticket discarded")
                continue
            stem = self.out_dir / f"ticket-{number:04d}"
            png, txt = stem.with_suffix(".png"), stem.with_suffix(".txt")
            text = ticket.text()
            render_png(ticket, self.paper_dots).save(png)
            txt.write_text(text, encoding="utf-8")
            self._tickets.append(TicketFile(number, png, txt, text, ticket.complete, ticket))
            log.info("%s%s", stem.name, "" if ticket.complete else " (paper out before the cut)")
        if tickets:
            self._changed.notify_all()

    # -- transports ---------------------------------------------------------------------------------------

    def serve_tcp(self, host: str = "127.0.0.1", port: int = 9100) -> PrinterHandle:
        """Listen on ``host:port`` (0: any free port) in a background thread."""
        server = socket.create_server((host, port))
        server.settimeout(_POLL)
        handle = PrinterHandle(self, host=host, port=server.getsockname()[1])
        handle._start(self._accept_loop, server, handle)
        handle._closers.append(server.close)
        return handle

    def serve_pty(self) -> PrinterHandle:
        """A pseudo-terminal pair: the host opens ``handle.path`` as a serial port."""
        master, slave = os.openpty()
        # Raw before any client opens it: with the default ECHO the printer's status replies would come
        # straight back to it as commands.
        tty.setraw(slave)
        tty.setraw(master)
        handle = PrinterHandle(self, path=os.ttyname(slave))
        handle._closers += [lambda: os.close(master), lambda: os.close(slave)]
        handle._start(self._pty_loop, master, handle)
        return handle

    def _accept_loop(self, server: socket.socket, handle: PrinterHandle) -> None:
        while not handle._stopping.is_set():
            try:
                conn, _peer = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            # One connection at a time, as a printer's raw port does (the others wait in the backlog):
            # a job cut short is dropped when its connection ends, before the next job's first byte.
            handle._clients.add(conn)
            self._client_loop(conn, handle)

    def _client_loop(self, conn: socket.socket, handle: PrinterHandle) -> None:
        conn.settimeout(_POLL)
        idle = 0.0
        try:
            while not handle._stopping.is_set() and idle < _IDLE_TIMEOUT:
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    idle += _POLL
                    continue
                if not data:
                    break
                idle = 0.0
                replies = self.feed(data)
                if replies:
                    conn.sendall(replies)
        except OSError:
            pass
        finally:
            handle._clients.discard(conn)
            conn.close()
            self.end_of_stream()

    def _pty_loop(self, master: int, handle: PrinterHandle) -> None:
        while not handle._stopping.is_set():
            try:
                ready, _, _ = select.select([master], [], [], _POLL)
                if not ready:
                    continue
                data = os.read(master, 65536)
            except OSError:
                # EIO while no client has the terminal open, EBADF once stopped.
                time.sleep(_POLL)
                continue
            replies = self.feed(data)
            if replies:
                with contextlib.suppress(OSError):
                    os.write(master, replies)


class PrinterHandle:
    """A running transport of a :class:`VirtualPrinter`: ``port`` (TCP) or ``path`` (pty), the printer's
    controls, and :meth:`stop` (also on leaving a ``with`` block)."""

    def __init__(self, printer: VirtualPrinter, *, host: str | None = None, port: int | None = None,
                 path: str | None = None) -> None:  # fmt: skip
        self.printer = printer
        self.host = host
        self.port = port
        self.path = path
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._clients: set[socket.socket] = set()
        self._closers: list[Callable[[], None]] = []

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def tickets(self) -> list[TicketFile]:
        return self.printer.tickets()

    def wait_for_tickets(self, count: int, timeout: float = 10.0) -> list[TicketFile]:
        return self.printer.wait_for_tickets(count, timeout)

    def set_paper(self, present: bool, *, after_lines: int | None = None) -> None:
        self.printer.set_paper(present, after_lines=after_lines)

    def set_cover(self, open_: bool) -> None:
        self.printer.set_cover(open_)

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        for conn in list(self._clients):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        for close in self._closers:
            with contextlib.suppress(OSError):
                close()

    def __enter__(self) -> PrinterHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
