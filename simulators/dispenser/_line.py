"""The dispenser's serial line: a pseudo-terminal (raw mode) whose slave the host opens as its serial
port, with a symlink at a stable path (``/dev/ttyUSB0`` of a test); or, in one process, a
:class:`LoopbackLine` the driver takes for its serial port (unit tests, benchmarks)."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty
from collections.abc import Callable
from pathlib import Path

__all__ = ["LoopbackLine", "PtyLine"]

_POLL = 0.1


class LoopbackLine:
    """A serial port (pyserial's ``write``/``read``/``reset_input_buffer``/``close``) wired straight to
    *device*, in this process: what the driver writes is answered at once."""

    def __init__(self, device: Callable[[bytes], bytes]) -> None:
        self._device = device
        self._inbox = b""

    def write(self, data: bytes) -> int:
        self._inbox += self._device(data)
        return len(data)

    def read(self, size: int) -> bytes:
        data, self._inbox = self._inbox[:size], self._inbox[size:]
        return data

    def reset_input_buffer(self) -> None:
        self._inbox = b""

    def close(self) -> None:
        pass


class PtyLine:
    """Serves *device* (bytes in → bytes out) on a pty; ``path`` is the slave, *link* a symlink to it
    (replaced if it exists; removed by :meth:`stop`)."""

    def __init__(self, device: Callable[[bytes], bytes], link: Path | None = None) -> None:
        self._device = device
        self.link = link
        self.path = ""
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._fds: list[int] = []

    def start(self) -> str:
        master, slave = os.openpty()
        # Raw before the host opens it: echo would send the host's frames back as the device's answer.
        tty.setraw(master)
        tty.setraw(slave)
        self._fds = [master, slave]  # the slave stays open here too: no EIO while no host has it open
        self.path = os.ttyname(slave)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                if self.link.is_symlink():
                    self.link.unlink()
            self.link.symlink_to(self.path)
        self._thread = threading.Thread(target=self._loop, args=(master,), name="dispenser-pty", daemon=True)
        self._thread.start()
        return self.path

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(2.0)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
        if self.link is not None and self.link.is_symlink() and os.readlink(self.link) == self.path:
            self.link.unlink()

    def __enter__(self) -> PtyLine:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _loop(self, master: int) -> None:
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([master], [], [], _POLL)
                if not ready:
                    continue
                data = os.read(master, 4096)
            except OSError:
                if self._stopping.wait(_POLL):
                    return
                continue
            reply = self._device(data)
            if reply:
                with contextlib.suppress(OSError):
                    os.write(master, reply)
