"""A virtual serial device on a pseudo-terminal: the host opens the slave (or a symlink to it) as its port.

Shared by the simulators of the kiosk's serial devices (ID-card reader, PIN pad). The simulator keeps the
slave open itself, so the pty outlives hosts that open and close it (their reads would otherwise end in a
hang-up) and bytes answered to nobody wait in the slave's input; :meth:`PtyPort.stop` closes both ends — to a
host, the device was unplugged. Writes to the master are non-blocking with a deadline: a host that stops
reading never wedges the simulator. A device says what it does with each turn of the loop (:meth:`_turn`).
"""

from __future__ import annotations

import abc
import contextlib
import os
import select
import signal
import sys
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Protocol, Self

__all__ = ["PtyPort", "serve"]

_WRITE_DEADLINE = 2.0


class PtyPort(abc.ABC):
    """``with Port(device, link=Path("/run/x/dev")) as pty: ... pty.path ...``; *interval*: seconds a turn
    waits for bytes (a device that speaks on its own needs short turns)."""

    interval = 0.1
    name = "sim-pty"

    def __init__(self, *, link: str | os.PathLike[str] | None = None) -> None:
        self.link = Path(link) if link is not None else None
        self.path = ""
        self._master = self._slave = -1
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
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
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the pty: the device is unplugged (a host's next read fails)."""
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

    def __enter__(self) -> Self:
        return self.start() if self._thread is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            data = b""
            try:
                ready, _, _ = select.select([self._master], [], [], self.interval)
                if ready:
                    data = os.read(self._master, 65536)
            except BlockingIOError:
                pass
            except OSError:
                time.sleep(self.interval)  # EIO while no host has the slave open; EBADF once stopped
                continue
            out = self._turn(data)
            if out:
                self._write(out)

    @abc.abstractmethod
    def _turn(self, data: bytes) -> bytes:
        """What the device answers to *data* (the bytes of this turn, maybe none)."""

    def _write(self, data: bytes) -> None:
        deadline = time.monotonic() + _WRITE_DEADLINE
        view = memoryview(data)
        while view and not self._stopping.is_set() and time.monotonic() < deadline:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                select.select([], [self._master], [], self.interval)
                continue
            except OSError:
                return
            view = view[written:]


class _Control(Protocol):
    @property
    def path(self) -> str | os.PathLike[str]: ...

    def stop(self) -> None: ...


def serve(pty: PtyPort, control: Callable[[], _Control], ready: Callable[[], None]) -> int:
    """A device simulator's ``main``: the pty, then its control socket (*control* makes and starts it), then
    ``pty PATH`` / ``link PATH`` / ``control PATH`` on stdout (a parent waits for them), *ready* (which
    prints what the device says from then on), until SIGTERM or SIGINT. Exit status 1 when either cannot be
    made."""
    done = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        pty.start()
    except OSError as exc:
        print(f"cannot make the pty: {exc}", file=sys.stderr)
        return 1
    try:
        made = control()
    except OSError as exc:
        pty.stop()
        print(f"cannot listen for control: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"pty {pty.path}", flush=True)
        print(f"link {pty.link}", flush=True)
        print(f"control {made.path}", flush=True)
        ready()
        while not done.wait(1.0):
            pass
    finally:
        made.stop()
        pty.stop()
    return 0
