"""The one small contract every card transport implements."""

from __future__ import annotations

import enum
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

__all__ = ["Disposition", "Transport"]


class Disposition(enum.Enum):
    """What happens to the card when a connection is closed or re-established (PC/SC semantics)."""

    LEAVE = "leave"  # keep the card powered, security state intact
    RESET = "reset"  # warm reset: security state and current DF are lost
    UNPOWER = "unpower"  # cold reset / power off
    EJECT = "eject"  # ask the reader (or the simulator's feeder) to eject the card


@runtime_checkable
class Transport(Protocol):
    """Moves raw APDU bytes to one card and back.

    A transport knows nothing of status words, GET RESPONSE or tracing: those are
    handled once, above every transport (:func:`cardservice.apdu.transceive`).
    All failures are :class:`cardservice.errors.TransportError` subclasses.
    """

    @property
    def name(self) -> str:
        """Human-readable name of the reader or slot."""
        ...

    @property
    def atr(self) -> bytes:
        """Answer to reset of the connected card; raises CardAbsentError when not connected."""
        ...

    def connect(self) -> bytes:
        """Connect to (and power) the card; returns the ATR."""
        ...

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU, return the response (data followed by SW1 SW2)."""
        ...

    def disconnect(self, disposition: Disposition = Disposition.LEAVE) -> None:
        """Close the connection, leaving the card as ``disposition`` says. Idempotent."""
        ...

    def reconnect(self, disposition: Disposition = Disposition.RESET) -> bytes:
        """Re-establish the connection (e.g. after a reset by someone else); returns the ATR."""
        ...

    def is_card_present(self) -> bool:
        """True when a card is in the reader (connected or not)."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Exclusive access for a multi-APDU sequence (SCardBeginTransaction/EndTransaction)."""
        ...
