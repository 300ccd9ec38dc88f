"""The virtual pad on a pseudo-terminal: the host opens the slave (or a symlink to it) as a serial port.

Unlike a reader that only answers, a pad speaks on its own (key events, the end of an entry, resends), so
the loop turns every 20 ms whether or not bytes came: feed what came, write what the pad has to say. The
simulator keeps the slave open itself, so the pty outlives hosts that open and close it; :meth:`stop`
closes both ends — to a host, the pad was unplugged. Writes to the master are non-blocking with a
deadline: a host that stops reading never wedges the simulator.
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

from simulators.pinpad._device import VirtualPinPad

__all__ = ["PtyPinPad"]

_TURN = 0.02
_WRITE_DEADLINE = 2.0


class PtyPinPad:
    """``with PtyPinPad(pad, link=Path("/run/x/pinpad")) as pty: ... pty.path ...``"""

    def __init__(self, pad: VirtualPinPad, *, link: str | os.PathLike[str] | None = None) -> None:
        self.pad = pad
        self.link = Path(link) if link is not None else None
        self.path = ""
        self._master = self._slave = -1
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PtyPinPad:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # raw before any host opens it: no echo, no line editing of the frames
        tty.setraw(self._master)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        if self.link is not None:  # atomically: a host never sees the link missing or half made
            temporary = self.link.with_name(f".{self.link.name}.{os.getpid()}")
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            temporary.symlink_to(self.path)
            temporary.replace(self.link)
        self._thread = threading.Thread(target=self._loop, name="pinpad-sim-pty", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the pty: the pad is unplugged (a host's next read fails)."""
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

    def __enter__(self) -> PtyPinPad:
        return self.start() if self._thread is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], _TURN)
                if ready:
                    self.pad.feed(os.read(self._master, 65536))
            except BlockingIOError:
                pass
            except OSError:
                time.sleep(_TURN)  # EIO while no host has the slave open; EBADF once stopped
                continue
            out = self.pad.output()
            if out:
                self._write(out)

    def _write(self, data: bytes) -> None:
        deadline = time.monotonic() + _WRITE_DEADLINE
        view = memoryview(data)
        while view and not self._stopping.is_set() and time.monotonic() < deadline:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                select.select([], [self._master], [], _TURN)
                continue
            except OSError:
                return
            view = view[written:]
