"""The virtual reader on a pseudo-terminal: the host opens the slave (or a symlink to it) as a serial port.

The simulator keeps the slave open itself, so the pty lives on while hosts open and close it (a host's
reads would otherwise end in a hang-up); bytes answered to nobody wait in the slave's input, which a host
drains before each command. Writes to the master are non-blocking with a deadline: a host that stops
reading never wedges the simulator.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from pathlib import Path
from types import TracebackType

from simulators.idcard._device import VirtualIdCardReader

__all__ = ["PtyReader"]

_POLL = 0.1
_WRITE_DEADLINE = 2.0


class PtyReader:
    """``with PtyReader(reader, link=Path("/run/x/idcard")) as pty: ... pty.path ...``"""

    def __init__(self, reader: VirtualIdCardReader, *, link: str | os.PathLike[str] | None = None) -> None:
        self.reader = reader
        self.link = Path(link) if link is not None else None
        self.path = ""
        self._master = self._slave = -1
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PtyReader:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # raw before any host opens it: no echo of the replies back as commands
        tty.setraw(self._master)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        if self.link is not None:
            # Atomically, so a host never sees the link missing or half made.
            temporary = self.link.with_name(f".{self.link.name}.{os.getpid()}")
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            temporary.symlink_to(self.path)
            temporary.replace(self.link)
        self._thread = threading.Thread(target=self._loop, name="idcard-sim-pty", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.link is not None:
            with contextlib.suppress(OSError):
                if os.readlink(self.link) == self.path:
                    self.link.unlink()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._master = self._slave = -1

    def __enter__(self) -> PtyReader:
        return self.start() if self._thread is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], _POLL)
                if not ready:
                    continue
                data = os.read(self._master, 65536)
            except BlockingIOError:
                continue
            except OSError:
                time.sleep(_POLL)  # EIO while no host has the slave open; EBADF once stopped
                continue
            answer = self.reader.feed(data)
            if answer:
                self._write(answer)

    def _write(self, data: bytes) -> None:
        deadline = time.monotonic() + _WRITE_DEADLINE
        view = memoryview(data)
        while view and not self._stopping.is_set() and time.monotonic() < deadline:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                select.select([], [self._master], [], _POLL)
                continue
            except OSError:
                return
            view = view[written:]
