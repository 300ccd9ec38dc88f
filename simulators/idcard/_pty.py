"""The virtual reader on a pseudo-terminal (:class:`simulators._ptyport.PtyPort`): it only answers, so a turn
waits up to 100 ms for a command and writes the reader's answer to it."""

from __future__ import annotations

import os

from simulators._ptyport import PtyPort
from simulators.idcard._device import VirtualIdCardReader

__all__ = ["PtyReader"]


class PtyReader(PtyPort):
    """``with PtyReader(reader, link=Path("/run/x/idcard")) as pty: ... pty.path ...``"""

    name = "idcard-sim-pty"

    def __init__(self, reader: VirtualIdCardReader, *, link: str | os.PathLike[str] | None = None) -> None:
        super().__init__(link=link)
        self.reader = reader

    def _turn(self, data: bytes) -> bytes:
        return self.reader.feed(data) if data else b""
