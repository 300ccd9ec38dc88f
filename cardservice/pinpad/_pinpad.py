"""What the daemon sees of a PIN pad: the :class:`PinPad` contract a driver implements, and its values.

A PIN exists in clear only inside the pad. What leaves it: the number of digits typed (each key press is
"one more", "one fewer" or "cleared", with the new count — never which digit), and at the end the ISO 9564
format-0 PIN block encrypted under the pad's working key (TPK), which the acquirer translates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "EntryStatus",
    "KeyChange",
    "KeyEvent",
    "PinEntry",
    "PinPad",
    "PinPadInfo",
    "PinPadStatus",
    "mask_pan",
]


class EntryStatus(StrEnum):
    """How a PIN entry ended."""

    ENTERED = "entered"  # the patient pressed Enter with enough digits: the block came
    CANCELLED = "cancelled"  # the patient pressed Cancel
    TIMEOUT = "timeout"  # no key for the entry's timeout (the pad's clock)
    ABORTED = "aborted"  # the host stopped it (abort())


class KeyChange(StrEnum):
    """What one key press did to the digits typed: all a key event says."""

    ADDED = "added"
    REMOVED = "removed"  # backspace
    CLEARED = "cleared"


@dataclass(frozen=True)
class KeyEvent:
    """A key press during an entry: its change and the number of digits typed since."""

    change: KeyChange
    digits: int

    def as_event(self) -> dict[str, Any]:
        """The event a kiosk gets (it shows ``digits`` dots)."""
        return {"type": "pinpad.key", "change": self.change.value, "digits": self.digits}


@dataclass(frozen=True, repr=False)
class PinEntry:
    """The end of an entry: ``pin_block`` (8 bytes, encrypted under the TPK) only when ``entered``."""

    status: EntryStatus
    pin_block: bytes | None = None
    digits: int = 0

    def __repr__(self) -> str:  # never the block
        block = ", 8-byte PIN block" if self.pin_block is not None else ""
        return f"PinEntry({self.status.value}, {self.digits} digits{block})"


@dataclass(frozen=True)
class PinPadStatus:
    """``entering``: an entry runs (``digits`` typed so far); ``keys``: the slots holding a working key;
    ``master_key``: whether the pad holds its master key (without it no working key can be loaded)."""

    entering: bool
    digits: int
    keys: frozenset[int]
    master_key: bool


@dataclass(frozen=True)
class PinPadInfo:
    """What the pad says it is."""

    model: str
    firmware: str
    serial: str


class PinPad(Protocol):
    """An encrypting PIN pad, as a driver provides it (entry points ``cardservice.pinpads``, see
    :mod:`cardservice.plugins`). Blocking, one thread at a time — except :meth:`abort`, which another
    thread may call while :meth:`read_pin` runs.

    - ``read_pin(pan, min_len=4, max_len=6, timeout=30, slot=0, on_event=...)``: one entry, to its end;
      ``on_event`` gets each :class:`KeyEvent` on the calling thread and must return quickly (hand it to
      a queue): the pad waits for the host's ACKs meanwhile. *pan* only goes into the format-0 block.
      *timeout*: seconds without a key press before the pad ends the entry (1..255).
    - ``abort()``: end a running entry (it returns ``aborted``), or make sure none runs.
    - ``load_working_key(encrypted_key, check_value=None, slot=0)``: the TPK encrypted under the pad's
      master key (3DES ECB); returns the pad's key check value, and raises :class:`PinPadKeyError` when it
      is not *check_value*.
    - ``status()``, ``version()``; ``close()`` releases the port (the next call opens it again).

    Errors are :class:`~cardservice.pinpad.PinPadError` subclasses only; bad arguments a ValueError.
    """

    def status(self) -> PinPadStatus: ...

    def version(self) -> PinPadInfo: ...

    def load_working_key(
        self, encrypted_key: bytes, *, check_value: bytes | None = None, slot: int = 0
    ) -> bytes: ...

    def read_pin(
        self,
        pan: str,
        *,
        min_len: int = 4,
        max_len: int = 6,
        timeout: int = 30,
        slot: int = 0,
        on_event: Callable[[KeyEvent], None] | None = None,
    ) -> PinEntry: ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits, what logs may show (``622800***0001``); 10 digits or fewer: all masked."""
    if len(pan) <= 10:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]
