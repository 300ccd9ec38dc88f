"""A virtual card in the same process, behind the :class:`~cardservice.transport.Transport` contract.

Used by the upper layers' tests and by ``make run`` where pcscd cannot run. It behaves like a
reader with the card always inserted, except that a torn command (:class:`PowerLost`)
makes the card "absent" until the next :meth:`InProcessTransport.connect` — just as a real card
that lost power mid-command has to be powered up again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from cardservice.errors import CardAbsentError
from cardservice.transport._base import Disposition
from cardservice.transport._virtual import PowerLost, VirtualCard

__all__ = ["InProcessTransport"]


class InProcessTransport:
    """Carries APDUs straight to :meth:`VirtualCard.process`.

    ``connect`` powers the card on (returns its ATR), ``transmit`` runs one command,
    ``disconnect`` maps the disposition to ``power_off`` / ``reset`` (LEAVE keeps the card powered).
    """

    def __init__(self, card: VirtualCard, *, name: str = "in-process") -> None:
        self._card = card
        self._name = name
        self._atr: bytes | None = None
        self._powered = False  # the card has power (survives a LEAVE disconnect)
        self._last_atr = b""
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        state = "connected" if self._atr is not None else "disconnected"
        return f"InProcessTransport(name={self._name!r}, {state})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def atr(self) -> bytes:
        if self._atr is None:
            raise CardAbsentError(f"{self._name}: not connected")
        return self._atr

    def connect(self) -> bytes:
        with self._lock:
            if self._atr is not None:
                return self._atr
            if not self._powered:
                self._last_atr = self._card.power_on()
                self._powered = True
            # A card left powered by a LEAVE disconnect keeps its volatile state, as in PC/SC.
            self._atr = self._last_atr
            return self._atr

    def transmit(self, apdu: bytes) -> bytes:
        with self._lock:
            if self._atr is None:
                raise CardAbsentError(f"{self._name}: no card connected (connect first)")
            try:
                return self._card.process(bytes(apdu))
            except PowerLost as exc:
                # The card lost power mid-command: to the caller it was pulled from the reader.
                self._atr = None
                self._powered = False
                raise CardAbsentError(f"{self._name}: card lost power during the command") from exc

    def disconnect(self, disposition: Disposition = Disposition.LEAVE) -> None:
        with self._lock:
            if self._atr is None:
                return
            self._atr = None
            if disposition is Disposition.LEAVE:
                return
            if disposition is Disposition.RESET:
                self._last_atr = self._card.reset()
                return
            # UNPOWER and EJECT: the card goes cold.
            self._card.power_off()
            self._powered = False

    def reconnect(self, disposition: Disposition = Disposition.RESET) -> bytes:
        with self._lock:
            if self._atr is None or not self._powered:
                self._atr = None
                return self._fresh_power_on()
            if disposition is Disposition.LEAVE:
                return self._atr
            if disposition is Disposition.RESET:
                self._atr = self._last_atr = self._card.reset()
                return self._atr
            self._card.power_off()
            return self._fresh_power_on()

    def _fresh_power_on(self) -> bytes:
        self._atr = self._last_atr = self._card.power_on()
        self._powered = True
        return self._atr

    def is_card_present(self) -> bool:
        # The card never leaves an in-process "reader"; after a tear it is present but unpowered.
        return True

    def transaction(self) -> AbstractContextManager[None]:
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            if self._atr is None:
                raise CardAbsentError(f"{self._name}: not connected")
            yield
