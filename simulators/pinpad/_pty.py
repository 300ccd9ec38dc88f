"""The virtual pad on a pseudo-terminal (:class:`simulators._ptyport.PtyPort`). Unlike a reader that only
answers, a pad speaks on its own (key events, the end of an entry, resends), so the loop turns every 20 ms
whether or not bytes came: feed what came, write what the pad has to say."""

from __future__ import annotations

import os

from simulators._ptyport import PtyPort
from simulators.pinpad._device import VirtualPinPad

__all__ = ["PtyPinPad"]


class PtyPinPad(PtyPort):
    """``with PtyPinPad(pad, link=Path("/run/x/pinpad")) as pty: ... pty.path ...``"""

    interval = 0.02
    name = "pinpad-sim-pty"

    def __init__(self, pad: VirtualPinPad, *, link: str | os.PathLike[str] | None = None) -> None:
        super().__init__(link=link)
        self.pad = pad

    def _turn(self, data: bytes) -> bytes:
        if data:
            self.pad.feed(data)
        return self.pad.output()
