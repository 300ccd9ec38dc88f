"""The contract a virtual card implements, and the carriers rely on (the in-process transport here, the
vpcd bridge in ``simulators``): the library defines it, the simulators implement it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["PowerLost", "VirtualCard"]


class PowerLost(Exception):
    """Raised inside a virtual card when a fault injection cuts power mid-command.

    The carrier must treat the card as removed: no response is sent, and the next
    use starts with :meth:`VirtualCard.power_on`.
    """


@runtime_checkable
class VirtualCard(Protocol):
    """A card as its reader sees it: power, reset, and APDUs in, responses out."""

    def power_on(self) -> bytes:
        """Cold reset; returns the ATR. Recovers any torn write (anti-tearing)."""
        ...

    def power_off(self) -> None:
        """Remove power: volatile state (current DF, security state, challenge) is lost."""
        ...

    def reset(self) -> bytes:
        """Warm reset; returns the ATR. Volatile state is lost, as on power off."""
        ...

    def process(self, apdu: bytes) -> bytes:
        """Execute one command APDU; returns response data followed by SW1 SW2.

        Never raises for bad input: malformed commands get the right status word.
        May raise :class:`PowerLost` when a fault injection tears the command.
        """
        ...
