"""Where readers come from: PC/SC (pcscd) or in-process virtual cards. One small contract.

:meth:`ReaderBackend.poll` blocks until a reader appears or goes, or a card is inserted or removed,
(at most *timeout*) and returns the full picture. The PC/SC backend waits in one
``SCardGetStatusChange`` on every reader plus pcsc-lite's ``\\\\?PnP?\\Notification`` pseudo-reader, so
hot-plug and card events arrive without polling. When pcscd goes away the call raises
:class:`~cardservice.errors.ServiceUnavailableError`; the next call establishes a new context.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cardservice.errors import CardAbsentError, NoReaderError, ServiceUnavailableError
from cardservice.transport import Disposition, InProcessTransport, PcscTransport, Transport

if TYPE_CHECKING:
    from simulators._card import VirtualCard

__all__ = ["InProcessBackend", "PcscBackend", "ReaderBackend", "ReaderState"]


@dataclass(frozen=True)
class ReaderState:
    """What a reader reports: a card in it (and its ATR), or a card that does not answer (mute)."""

    present: bool = False
    mute: bool = False
    atr: bytes = b""
    insertions: int = 0  # changes with every insertion, so a quick re-insertion is still seen


class ReaderBackend(Protocol):
    kind: str  # "pcsc" or "in-process", shown in /v1/health

    def poll(self, timeout: float) -> dict[str, ReaderState]: ...

    def cancel(self) -> None: ...

    def open(self, reader: str) -> Transport: ...

    def close(self) -> None: ...


_PNP = "\\\\?PnP?\\Notification"


class PcscBackend:
    """Readers and cards from pcscd."""

    kind = "pcsc"

    def __init__(self) -> None:
        from smartcard import scard

        self._scard = scard
        self._context: Any = None
        self._states: dict[str, int] = {}
        self._pnp_state = 0
        self._readers_known = False
        self._atrs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _establish(self) -> Any:
        scard = self._scard
        if self._context is None:
            hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hresult != scard.SCARD_S_SUCCESS:
                raise ServiceUnavailableError(
                    f"cannot reach the PC/SC service: {scard.SCardGetErrorMessage(hresult)}"
                )
            with self._lock:
                self._context = context
            self._readers_known = False
        return self._context

    def _lost(self, hresult: int) -> ServiceUnavailableError:
        self._release()
        return ServiceUnavailableError(
            f"the PC/SC service went away ({self._scard.SCardGetErrorMessage(hresult)})"
        )

    def _release(self) -> None:
        with self._lock:
            context, self._context = self._context, None
        if context is not None:
            self._scard.SCardReleaseContext(context)
        self._states.clear()
        self._readers_known = False

    def _relist(self, context: Any) -> None:
        scard = self._scard
        hresult, readers = scard.SCardListReaders(context, [])
        if hresult in (scard.SCARD_E_NO_READERS_AVAILABLE, scard.SCARD_E_READER_UNAVAILABLE):
            readers = []
        elif hresult != scard.SCARD_S_SUCCESS:
            raise self._lost(hresult)
        self._states = {name: self._states.get(name, scard.SCARD_STATE_UNAWARE) for name in readers}
        self._readers_known = True

    def _snapshot(self) -> dict[str, ReaderState]:
        return {name: self._decode(state, self._atrs.get(name, b"")) for name, state in self._states.items()}

    def _decode(self, state: int, atr: bytes) -> ReaderState:
        scard = self._scard
        present = bool(state & scard.SCARD_STATE_PRESENT)
        return ReaderState(
            present=present,
            mute=present and bool(state & scard.SCARD_STATE_MUTE),
            atr=atr if present else b"",
            insertions=(state >> 16) & 0xFFFF,  # pcsc-lite keeps an event counter in the high word
        )

    def poll(self, timeout: float) -> dict[str, ReaderState]:
        scard = self._scard
        context = self._establish()
        if not self._readers_known:
            self._atrs = {}
            self._relist(context)
            wait_ms = 0  # report the readers found right away
        else:
            wait_ms = max(0, int(timeout * 1000))
        query = [(name, state) for name, state in self._states.items()]
        query.append((_PNP, self._pnp_state))
        hresult, results = scard.SCardGetStatusChange(context, wait_ms, query)
        if hresult in (scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
            return self._snapshot()
        if hresult == scard.SCARD_E_UNKNOWN_READER:  # a reader went between listing and waiting
            self._readers_known = False
            return self._snapshot()
        if hresult != scard.SCARD_S_SUCCESS:
            raise self._lost(hresult)
        readers_changed = False
        for name, event_state, atr in results:
            if name == _PNP:
                readers_changed = bool(event_state & scard.SCARD_STATE_CHANGED)
                self._pnp_state = event_state & ~scard.SCARD_STATE_CHANGED
                continue
            if event_state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_IGNORE):
                readers_changed = True
                continue
            self._states[name] = event_state & ~scard.SCARD_STATE_CHANGED
            self._atrs[name] = bytes(atr)
        if readers_changed:
            self._relist(context)
            return self.poll(0)
        return self._snapshot()

    def cancel(self) -> None:
        with self._lock:
            if self._context is not None:
                self._scard.SCardCancel(self._context)

    def open(self, reader: str) -> Transport:
        transport = PcscTransport(reader)
        transport.connect()
        return transport

    def close(self) -> None:
        self._release()


class _SlotTransport:
    """An in-process card as seen through one reader: gone (CardAbsentError) once removed."""

    def __init__(
        self, backend: InProcessBackend, reader: str, generation: int, inner: InProcessTransport
    ) -> None:
        self._backend = backend
        self._reader = reader
        self._generation = generation
        self._inner = inner

    def _check(self) -> None:
        if self._backend.generation(self._reader) != self._generation:
            raise CardAbsentError(f"{self._reader}: the card was removed")

    @property
    def name(self) -> str:
        return self._reader

    @property
    def atr(self) -> bytes:
        self._check()
        return self._inner.atr

    def connect(self) -> bytes:
        self._check()
        return self._inner.connect()

    def transmit(self, apdu: bytes) -> bytes:
        self._check()
        return self._inner.transmit(apdu)

    def disconnect(self, disposition: Disposition = Disposition.LEAVE) -> None:
        self._inner.disconnect(disposition)

    def reconnect(self, disposition: Disposition = Disposition.RESET) -> bytes:
        self._check()
        return self._inner.reconnect(disposition)

    def is_card_present(self) -> bool:
        return self._backend.generation(self._reader) == self._generation

    def transaction(self) -> AbstractContextManager[None]:
        self._check()
        return self._inner.transaction()


class InProcessBackend:
    """Virtual cards in this process, in named readers; :meth:`insert` / :meth:`remove` move them.

    What the daemon falls back to where pcscd cannot run, and what fast API tests use.
    """

    kind = "in-process"

    def __init__(self, readers: Mapping[str, VirtualCard | None]) -> None:
        self._cards: dict[str, VirtualCard | None] = dict(readers)
        self._generations = dict.fromkeys(self._cards, 0)
        self._transports: dict[str, InProcessTransport] = {}
        self._changed = threading.Condition()
        self._version = 0
        self._seen = -1
        self._present = {reader for reader, card in self._cards.items() if card is not None}

    def generation(self, reader: str) -> int:
        return self._generations.get(reader, -1)

    def insert(self, reader: str, card: VirtualCard | None = None) -> None:
        with self._changed:
            if reader not in self._cards:
                raise NoReaderError(f"reader {reader!r} not found")
            if card is not None:
                self._cards[reader] = card
                self._transports.pop(reader, None)
            self._generations[reader] += 1
            self._present.add(reader)
            self._bump()

    def remove(self, reader: str) -> None:
        with self._changed:
            if reader not in self._cards:
                raise NoReaderError(f"reader {reader!r} not found")
            self._generations[reader] += 1
            self._present.discard(reader)
            transport = self._transports.pop(reader, None)
            if transport is not None:
                transport.disconnect(Disposition.UNPOWER)
            self._bump()

    def _bump(self) -> None:
        self._version += 1
        self._changed.notify_all()

    def _is_present(self, reader: str) -> bool:
        return reader in self._present and self._cards[reader] is not None

    def poll(self, timeout: float) -> dict[str, ReaderState]:
        with self._changed:
            if self._seen == self._version:
                self._changed.wait(timeout)
            self._seen = self._version
            return {
                reader: ReaderState(present=True, atr=self._atr(reader), insertions=self._generations[reader])
                if self._is_present(reader)
                else ReaderState()
                for reader in self._cards
            }

    def _atr(self, reader: str) -> bytes:
        return self._transport(reader).connect()

    def _transport(self, reader: str) -> InProcessTransport:
        card = self._cards[reader]
        if card is None:
            raise CardAbsentError(f"{reader}: no card")
        if reader not in self._transports:
            self._transports[reader] = InProcessTransport(card, name=reader)
        return self._transports[reader]

    def cancel(self) -> None:
        with self._changed:
            self._bump()

    def open(self, reader: str) -> Transport:
        with self._changed:
            if reader not in self._cards:
                raise NoReaderError(f"reader {reader!r} not found")
            if not self._is_present(reader):
                raise CardAbsentError(f"{reader}: no card in the reader")
            inner = self._transport(reader)
            inner.connect()
            return _SlotTransport(self, reader, self._generations[reader], inner)

    def close(self) -> None:
        with self._changed:
            for transport in self._transports.values():
                transport.disconnect()
            self._transports.clear()
