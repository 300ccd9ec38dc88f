"""Virtual cards for tests that need no pcscd: new card images, a card that records its commands, and
waiting for a condition without fixed sleeps."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulators.cardos import CardOS, create_image, load_card

__all__ = ["RecordingCard", "make_card", "wait_for"]


def make_card(folder: Path, profile: str, *, holder: dict[str, Any] | None = None) -> CardOS:
    """A new virtual card (its own image file in *folder*): "health" (*holder*, else the demo holder)
    or "sam"."""
    path = folder / f"{profile}-{secrets.token_hex(4)}.json"
    if holder is None:
        create_image(path, profile)
    else:
        create_image(path, profile, holder=holder)
    return load_card(path)


class RecordingCard:
    """A virtual card that counts instructions and records each APDU's (reader, start, end); *delay*
    seconds per APDU make a card operation long enough to see two of them at once."""

    def __init__(
        self, card: CardOS, reader: str, log: list[tuple[str, float, float]], delay: float = 0.0
    ) -> None:
        self.card, self.reader, self.log, self.delay = card, reader, log, delay
        self.instructions: Counter[int] = Counter()

    def power_on(self) -> bytes:
        return self.card.power_on()

    def power_off(self) -> None:
        self.card.power_off()

    def reset(self) -> bytes:
        return self.card.reset()

    def process(self, apdu: bytes) -> bytes:
        start = time.monotonic()
        if self.delay:
            time.sleep(self.delay)
        response = self.card.process(apdu)
        self.log.append((self.reader, start, time.monotonic()))
        if len(apdu) >= 2:
            self.instructions[apdu[1]] += 1
        return response


def wait_for(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")
