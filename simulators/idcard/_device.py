"""The virtual SAM_V reader: bytes in, bytes out. A command table (CMD PARA → handler), the card on the
reader with the must-remove rule, and faults.

The card's life on the reader (what real readers do, facts sheet B6)::

    placed ── find (9F) ──→ found ── select (90) ──→ selected ── read (90) ──→ spent
    spent: find answers 80 until the card is removed and placed again; select still answers 90 while the
    card lies there (the driver's presence probe, cardservice.idcard.Presence); a card just placed must be
    found before select answers 90.

Faults (until cleared, or for *times* commands they apply to):

    bad_chk      every reply's CHK is wrong                       → idcard_protocol
    find_fail    find answers 80 whatever lies there             → no card found
    select_fail  select answers 81                               → idcard_read_failed
    read_fail    read answers 41                                 → idcard_read_failed
    sam_absent   every command answers 60 (SAM self-test failed) → idcard_sam_unavailable
    timeout      no reply at all                                 → idcard_timeout

A host frame with a bad CHK or length is answered SW3 10 / 11, as a reader does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from cardservice.idcard import (
    FIND,
    READ,
    READ_WITH_FINGERPRINT,
    RESET_SAM,
    SAM_ID,
    SAM_STATUS,
    SELECT,
    Command,
    CommandParser,
    IdCardProtocolError,
    Reply,
    encode_card_data,
)
from simulators.idcard._cards import SimulatedCard

__all__ = ["FAULTS", "VirtualIdCardReader"]

log = logging.getLogger(__name__)

FAULTS = ("bad_chk", "find_fail", "select_fail", "read_fail", "sam_absent", "timeout")
SAM_NUMBER = bytes.fromhex("0501 0000 2026 1206 0000 0000 0000 0001")  # made up; 16 bytes
OK, FOUND, NOT_FOUND, NOT_SELECTED, READ_FAILED, SAM_FAILED = 0x90, 0x9F, 0x80, 0x81, 0x41, 0x60
BAD_CHECKSUM, BAD_LENGTH, BAD_COMMAND = 0x10, 0x11, 0x21

Handler = Callable[["VirtualIdCardReader", Command], Reply]


class VirtualIdCardReader:
    """The reader's state and its answers; thread-safe (the pty thread and the control socket share it).
    *on_event*: a line for each change (placed, removed, fault), for the console."""

    def __init__(self, card: SimulatedCard | None = None, *, on_event: Callable[[str], None] | None = None):
        self._lock = threading.Lock()
        self.on_event = on_event or (lambda line: None)
        self.card: SimulatedCard | None = None
        self.found = self.selected = self.spent = False
        self.fault: str | None = None
        self.fault_times: int | None = None  # None: until cleared
        self.commands = 0
        self._parser = CommandParser()
        if card is not None:
            self.place(card)

    # -- the operator's hands -----------------------------------------------------------------------------

    def place(self, card: SimulatedCard) -> None:
        """Put *card* on the reader (any other is taken off first)."""
        with self._lock:
            self.card, self.found, self.selected, self.spent = card, False, False, False
        self.on_event(f"card placed: {card.person.card_type.value} {card.person.masked_number}")

    def remove(self) -> None:
        with self._lock:
            had, self.card = self.card is not None, None
            self.found = self.selected = self.spent = False
        if had:
            self.on_event("card removed")

    def set_fault(self, fault: str | None, times: int | None = None) -> None:
        """Inject *fault* (one of :data:`FAULTS`; None or "none": clear) for *times* commands it applies
        to, or until cleared."""
        if fault == "none":
            fault = None
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r} (known: {', '.join(FAULTS)}, none)")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise ValueError("times: a positive number of commands")
        with self._lock:
            self.fault, self.fault_times = fault, times if fault is not None else None
        self.on_event(f"fault {fault or 'cleared'}" + (f" for {times} commands" if times else ""))

    def status(self) -> dict[str, Any]:
        with self._lock:
            card = self.card
            stages = (("spent", self.spent), ("selected", self.selected), ("found", self.found))
            state = next((name for name, reached in stages if reached), "placed")
            return {
                "card": None if card is None else card.person.card_type.value,
                "number": None if card is None else card.person.masked_number,
                "state": state if card is not None else "empty",
                "fault": self.fault,
                "fault_times": self.fault_times,
                "commands": self.commands,
            }

    # -- the wire -----------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Bytes from the host → the bytes of the replies (none while the timeout fault holds)."""
        out = bytearray()
        with self._lock:
            self._parser.feed(data)
            while True:
                try:
                    command = self._parser.next_frame()
                except IdCardProtocolError as exc:
                    bad = BAD_LENGTH if exc.details.get("problem") == "length" else BAD_CHECKSUM
                    out += self._answer(Reply(bad))
                    continue
                if command is None:
                    break
                self.commands += 1
                out += self._answer(self._handle(command))
        return bytes(out)

    def _applies(self, fault: str) -> bool:
        """Whether *fault* holds for this command (and count it)."""
        if self.fault != fault:
            return False
        if self.fault_times is not None:
            self.fault_times -= 1
            if self.fault_times <= 0:
                self.fault = self.fault_times = None
        return True

    def _answer(self, reply: Reply) -> bytes:
        if self._applies("timeout"):
            return b""
        encoded = reply.encode()
        if self._applies("bad_chk"):
            encoded = encoded[:-1] + bytes([encoded[-1] ^ 0xFF])
        return encoded

    def _handle(self, command: Command) -> Reply:
        handler = HANDLERS.get(command.code)
        if handler is None:
            log.debug("unknown command %02X %02X", command.cmd, command.para)
            return Reply(BAD_COMMAND)
        if self._applies("sam_absent"):
            return Reply(SAM_FAILED)
        return handler(self, command)

    # -- the handlers -------------------------------------------------------------------------------------

    def _find(self, command: Command) -> Reply:
        if self._applies("find_fail") or self.card is None or self.spent:
            self.found = False
            return Reply(NOT_FOUND)
        self.found = True
        return Reply(FOUND)

    def _select(self, command: Command) -> Reply:
        if self._applies("select_fail") or self.card is None or not (self.found or self.spent):
            return Reply(NOT_SELECTED)
        self.selected = True
        return Reply(OK)

    def _read(self, command: Command) -> Reply:
        card = self.card
        if self._applies("read_fail") or card is None or not self.selected:
            return Reply(READ_FAILED)
        self.spent = True
        with_fingerprint = command.code == READ_WITH_FINGERPRINT.command.code
        return Reply(
            OK, encode_card_data(card.text, card.photo, card.fingerprint if with_fingerprint else None)
        )


HANDLERS: dict[tuple[int, int], Handler] = {
    RESET_SAM.command.code: lambda reader, command: Reply(OK),
    SAM_STATUS.command.code: lambda reader, command: Reply(OK),
    SAM_ID.command.code: lambda reader, command: Reply(OK, SAM_NUMBER),
    FIND.command.code: VirtualIdCardReader._find,
    SELECT.command.code: VirtualIdCardReader._select,
    READ.command.code: VirtualIdCardReader._read,
    READ_WITH_FINGERPRINT.command.code: VirtualIdCardReader._read,
}
