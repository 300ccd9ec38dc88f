"""A card feeder for unattended issuing: N card images presented one after another in one slot.

``card-sim serve --vpcd HOST:PORT --feeder N --profile blank [--feeder-dir DIR]`` creates
``DIR/card-0001.json`` … ``card-NNNN.json`` (the input hopper) and inserts the first. An *eject*
(``card-sim ctl eject``, or ``{"cmd": "eject"}`` on the control socket) moves the current card to the
output side and presents the next after the usual 0.5 s gap; after the last the slot stays empty.
Ejected cards keep their images, so an issued card can be looked at (``card-sim info``) or put back
(``card-sim ctl swap DIR/card-0003.json``).

Why not the PC/SC eject disposition alone: pcscd turns ``SCardDisconnect(SCARD_EJECT_CARD)`` into a
CT-BCS eject command only for version-2 IFD handlers; vpcd (a version-3 handler) never hears of it
(measured: no control byte arrives). Issuing tools that drive real feeders use the disposition; with
card-sim they also send ``eject`` here (``card-issuer --feeder card-sim``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from simulators.cardos import create_image, load_card
from simulators.vpcd import VpcdBridge

__all__ = ["Feeder"]


class Feeder:
    """The hopper of one slot. Thread-safe: the control server calls :meth:`eject` from its thread."""

    def __init__(self, images: list[Path]) -> None:
        if not images:
            raise ValueError("a feeder needs at least one card")
        self.images = list(images)
        self.position = 0  # index of the card in the reader; len(images) = hopper empty
        self._lock = threading.Lock()

    @classmethod
    def create(cls, directory: Path, count: int, profile: str = "blank") -> Feeder:
        """Make *count* fresh card images in *directory* (refused if it already holds feeder cards)."""
        if not 1 <= count <= 9999:
            raise ValueError("--feeder takes 1..9999 cards")
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.glob("card-*.json")):
            raise ValueError(f"{directory} already holds feeder cards; choose another --feeder-dir")
        images = [directory / f"card-{n:04d}.json" for n in range(1, count + 1)]
        for image in images:
            create_image(image, profile)
        return cls(images)

    @property
    def current(self) -> Path | None:
        return self.images[self.position] if self.position < len(self.images) else None

    def eject(self, bridge: VpcdBridge) -> None:
        """Take the current card out and present the next one (or leave the slot empty)."""
        with self._lock:
            if self.position < len(self.images):
                self.position += 1
            nxt = self.current
            bridge.swap(load_card(nxt) if nxt is not None else None)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": len(self.images),
                "position": min(self.position + 1, len(self.images)) if self.current else None,
                "remaining": max(len(self.images) - self.position - 1, 0) if self.current else 0,
                "current": str(self.current) if self.current else None,
                "directory": str(self.images[0].parent),
            }
