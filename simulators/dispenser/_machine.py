"""The virtual K720: a stack of blank card images, a card path with a reader at its read position, a
reject bin (the recycle box), and the device's side of :mod:`drivers.dispenser._protocol`.

The reader at the read position is a vpcd slot served by card-sim's :class:`~simulators.vpcd.VpcdBridge`:
a card moved there is *inserted* (pcscd sees it as any card), presented or captured it is *pulled*. Cards
are card-sim images (``card-NNNN.json``, made by :func:`simulators.cardos.create_image`, profile
``blank``), kept after they leave: an issued card can be looked at or put into a reader again.

Motions happen when the host's ENQ arrives ([P]: the device acts after the ENQ) and take no time; a
presented card is taken by the person at once (counted in ``taken``). Faults, set through the control
socket (:mod:`simulators.dispenser._control`): a jam (the next motion of a kind fails, the card stays
where it was, until ``RS``), the stack running out, the low-stack threshold, silence (no answer), and a
dud: a card whose chip loses power mid-command (card-sim's tear) once it is in the reader.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Any

import simulators.pboc  # noqa: F401  (adds the bank application's commands to blank cards: issued cards pay)
from drivers.dispenser._protocol import (
    ACK,
    COMMANDS,
    NAK,
    command_named,
    control,
    encode_frame,
    encode_status,
    read_messages,
)
from simulators.cardos import create_image, load_card
from simulators.vpcd import VpcdBridge

__all__ = ["MOTIONS", "VirtualDispenser"]

#: Motions a jam can be armed for (``jam`` control, field ``at``) → the protocol's command names.
MOTIONS = {"move": "to_read_position", "present": "present", "capture": "capture"}
_AT = {name: at for at, name in MOTIONS.items()}
REJECT_BIN_CAPACITY = 18  # the K750 manual: "removable recycle box, can store 18 cards max"


class VirtualDispenser:
    """Thread-safe: the serial line's thread calls :meth:`receive`, the control socket the rest.
    *bridge*: the vpcd slot of the read position (``None``: no reader, for tests of the mechanics)."""

    def __init__(
        self,
        directory: Path,
        count: int,
        *,
        bridge: VpcdBridge | None = None,
        address: int = 0,
        low: int = 3,
        profile: str = "blank",
    ) -> None:
        control(ACK, address)  # a bad address fails here
        self.directory = Path(directory)
        self.address = address
        self.low = low
        self.profile = profile
        self.bridge = bridge
        self.stack: deque[Path] = deque()
        self.unloaded: list[Path] = []  # taken out of the stack by the ``empty`` control
        self.channel: Path | None = None  # the card in the card path
        self.position: str | None = None  # "read" (in the reader) or "mouth"
        self.reject_bin: list[Path] = []
        self.taken: list[Path] = []
        self.errors: set[str] = set()  # status bit names set by a failed command, cleared by RS
        self.jammed = False
        self._jam: tuple[str, int] | None = None  # (command name, motions of that kind to let through)
        self._silent_after: int | None = None  # messages still answered before going silent
        self._dud: tuple[int, int] | None = None  # (cards still good, commands before the tear)
        self._pending: str | None = None  # a command acknowledged, done at the ENQ
        self._buffer = bytearray()
        self._made = 0
        self._lock = threading.RLock()
        self.directory.mkdir(parents=True, exist_ok=True)
        if any(self.directory.glob("card-*.json")):
            raise ValueError(f"{self.directory} already holds card images; choose another directory")
        self.refill(count)

    # -- the serial line ---------------------------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        """Bytes from the host → the bytes the device answers."""
        out = bytearray()
        with self._lock:
            self._buffer += data
            for message in read_messages(self._buffer):
                if self._silent_after is not None:
                    if self._silent_after <= 0:
                        continue
                    self._silent_after -= 1
                if message.address != self.address:
                    continue  # another device on the same line
                if message.kind == "bad":
                    out += control(NAK, self.address)
                elif message.kind == "frame":
                    self._pending = command_named(message.payload)
                    out += control(ACK if self._pending else NAK, self.address)
                elif self._pending is not None:  # the ENQ: act, answer a query
                    name, self._pending = self._pending, None
                    reply = self._do(name)
                    if COMMANDS[name].replies:
                        out += encode_frame(self.address, reply)
        return bytes(out)

    def _do(self, name: str) -> bytes:
        if name == "status":
            return encode_status(self.status_word())
        if name == "reset":
            self.jammed = False
            self.errors.clear()
        elif self._jams(name):
            self.jammed = True
            self.errors.add("capture_error" if name == "capture" else "dispense_error")
        elif name == "to_read_position":
            self._to_read_position()
        elif name == "present":
            self._present()
        elif name == "capture":
            self._capture()
        return b""

    def _jams(self, name: str) -> bool:
        if self.jammed:
            return True
        if self._jam is None or self._jam[0] != name:
            return False
        command, after = self._jam
        if after > 0:
            self._jam = (command, after - 1)
            return False
        self._jam = None
        return True

    def _to_read_position(self) -> None:
        if self.channel is not None:
            self.errors.add("command_refused")
        elif not self.stack:
            self.errors.add("dispense_error")
        else:
            self.channel, self.position = self.stack.popleft(), "read"
            if self.bridge is not None:
                card = load_card(self.channel)
                if self._dud is not None:
                    good, commands = self._dud
                    self._dud = (good - 1, commands) if good else None
                    if not good:
                        card.faults.tear(after_commands=commands)
                self.bridge.swap(card)

    def _present(self) -> None:
        if self.channel is None or self.position != "read":
            self.errors.add("command_refused")
            return
        self._pull()
        self.taken.append(self.channel)  # the person takes it at once
        self.channel = self.position = None

    def _capture(self) -> None:
        if self.channel is None or len(self.reject_bin) >= REJECT_BIN_CAPACITY:
            self.errors.add("capture_error")
        else:
            self._pull()
            self.reject_bin.append(self.channel)
            self.channel = self.position = None

    def _pull(self) -> None:
        if self.bridge is not None and self.position == "read":
            self.bridge.swap(None)

    def status_word(self) -> int:
        with self._lock:
            word = 0
            bits = {"reject_bin_full": 0x8000, "command_refused": 0x4000, "dispense_error": 0x0200,
                    "capture_error": 0x0100}  # fmt: skip
            for name in self.errors:
                word |= bits[name]
            if len(self.reject_bin) >= REJECT_BIN_CAPACITY:
                word |= bits["reject_bin_full"]
            if self.jammed:
                word |= 0x0020
            if not self.stack:
                word |= 0x0008
            elif len(self.stack) <= self.low:
                word |= 0x0010
            if self.position == "read":
                word |= 0x0003  # sensors 1 and 2, as [C] saw a card at the read position
            elif self.position == "mouth":
                word |= 0x0001
            return word

    # -- controls ----------------------------------------------------------------------------------

    def refill(self, count: int) -> list[Path]:
        """*count* new blank cards at the back of the stack (the images are made now)."""
        if not 0 <= count <= 9999:
            raise ValueError("refill takes 0..9999 cards")
        made = []
        with self._lock:
            for _ in range(count):
                self._made += 1
                path = self.directory / f"card-{self._made:04d}.json"
                create_image(path, self.profile)
                made.append(path)
            self.stack.extend(made)
        return made

    def empty(self, after: int = 0) -> None:
        """The stack runs out after *after* more cards (the rest are set aside, ``unloaded``)."""
        with self._lock:
            while len(self.stack) > after:
                self.unloaded.append(self.stack.pop())

    def arm_jam(self, at: str = "move", after: int = 0) -> None:
        """The motion *at* (move, present, capture) jams after *after* more of them succeed."""
        if at not in MOTIONS:
            raise ValueError(f"jam 'at' is one of {', '.join(MOTIONS)}")
        with self._lock:
            self._jam = (MOTIONS[at], after)

    def arm_dud(self, after: int = 0, tear_after: int = 5) -> None:
        """The card moved to the read position after *after* more good ones loses power in its
        *tear_after*-th command (0: the first; card-sim's ``tear``): the issuer spoils it."""
        with self._lock:
            self._dud = (after, tear_after)

    def silence(self, after: int = 0) -> None:
        """Answer *after* more messages, then nothing (the host times out) until :meth:`speak`."""
        with self._lock:
            self._silent_after = after

    def speak(self) -> None:
        with self._lock:
            self._silent_after = None
            self._buffer.clear()
            self._pending = None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "stack": len(self.stack),
                "low": self.low,
                "card": str(self.channel) if self.channel else None,
                "position": self.position,
                "reject_bin": [str(path) for path in self.reject_bin],
                "taken": [str(path) for path in self.taken],
                "unloaded": len(self.unloaded),
                "jammed": self.jammed,
                "jam_armed": {"at": _AT[self._jam[0]], "after": self._jam[1]} if self._jam else None,
                "silent": self._silent_after is not None and self._silent_after <= 0,
                "status": f"{self.status_word():04X}",
                "directory": str(self.directory),
            }
