"""Blank cards from a PC/SC reader: an operator swapping cards by hand, or a card feeder.

The card is held with an exclusive connection from the moment it is taken until it is ejected, so
no other application (a daemon watching the same pcscd, a curious ``pcsc_scan``) can talk to it
half-personalised. Ejecting is ``SCardDisconnect(SCARD_EJECT_CARD)`` — what real feeders act on —
followed by the feeder's own eject where it has one (*eject_via*: card-sim's control socket,
:mod:`drivers.feeders`), because pcscd never passes the eject disposition to vpcd. Then the source waits
until the reader is empty, so the next :meth:`PcscCardSource.next_card` cannot see the card that just
left.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cardservice.errors import CardAbsentError, CardError, CardUnresponsiveError, SharingViolationError
from cardservice.issuance import FeederEmptyError
from cardservice.transport import Disposition
from drivers.readers._pcsc import PcscTransport, wait_for_card, wait_for_removal

__all__ = ["PcscCardSource"]

_CONNECT_ATTEMPTS_SECONDS = 3.0  # a card that has just arrived may still be powering up
_FEEDER_PATIENCE_SECONDS = 5.0


class _HeldCard:
    """The card as the batch sees it: ``atr`` + ``transmit`` (exclusive for its whole stay)."""

    def __init__(self, transport: PcscTransport) -> None:
        self.transport = transport
        self.atr = transport.atr

    def transmit(self, apdu: bytes) -> bytes:
        return self.transport.transmit(apdu)


class PcscCardSource:
    """A :class:`cardservice.issuance.CardSource`: cards one after another in *reader*. *eject_via*: the
    feeder's own eject (card-sim's control socket); *wait*: seconds to wait for each card before
    :class:`FeederEmptyError`; *announce*: tells an operator what to do (insert, remove) when nothing
    happens by itself."""

    def __init__(
        self,
        reader: str,
        *,
        eject_via: Callable[[], None] | None = None,
        wait: float = 30.0,
        announce: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.reader = reader
        self._eject_via = eject_via
        self._wait = wait
        self._announce = announce
        self._held: _HeldCard | None = None
        self.wait_seconds = 0.0  # time spent waiting for cards to arrive and leave (not card I/O)

    def next_card(self) -> _HeldCard:
        """The card in the reader (the one still held, if it was not ejected)."""
        if self._held is not None:
            return self._held
        started = time.perf_counter()
        try:
            # A feeder brings the next card by itself in a moment: tell the operator only if it does not.
            quiet = _FEEDER_PATIENCE_SECONDS if self._eject_via is not None else 0.0
            if not wait_for_card(self.reader, quiet):
                self._announce(f"insert a blank card into {self.reader}")
                if not wait_for_card(self.reader, self._wait):
                    raise FeederEmptyError(
                        f"no card in {self.reader} after {self._wait:g} s (is the feeder empty?)"
                    )
            self._held = _HeldCard(self._connect())
        finally:
            self.wait_seconds += time.perf_counter() - started
        return self._held

    def _connect(self) -> PcscTransport:
        deadline = time.monotonic() + _CONNECT_ATTEMPTS_SECONDS
        while True:
            transport = PcscTransport(self.reader, share="exclusive")
            try:
                transport.connect()
                return transport
            except (CardAbsentError, CardUnresponsiveError, SharingViolationError) as exc:
                transport.disconnect()
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                elif isinstance(exc, SharingViolationError):
                    raise CardError(
                        f"{self.reader} is in use by another application (a cardservice daemon bound to "
                        "it?): the issuer needs the reader to itself"
                    ) from None
                else:
                    raise

    def eject(self, card: object) -> None:
        """Out with the held card; returns once the reader is empty."""
        held, self._held = self._held, None
        if held is not None:
            held.transport.disconnect(Disposition.EJECT)
        started = time.perf_counter()
        try:
            if self._eject_via is not None:
                self._eject_via()
            if not wait_for_removal(self.reader, 0.5):
                self._announce(f"take the card out of {self.reader}")
                if not wait_for_removal(self.reader, max(self._wait, 60.0)):
                    raise CardError(f"the card in {self.reader} was not taken out")
        finally:
            self.wait_seconds += time.perf_counter() - started

    def close(self) -> None:
        """Let go of a held card without ejecting it (the tool is stopping)."""
        held, self._held = self._held, None
        if held is not None:
            held.transport.disconnect(Disposition.LEAVE)
