"""Where readers come from: the contract every reader backend implements (:class:`ReaderBackend`), and
the built-in backend of virtual cards in this process (:class:`InProcessBackend`).

:meth:`ReaderBackend.poll` blocks until a reader appears or goes, or a card is inserted or removed,
(at most *timeout*) and returns the full picture; when the service behind the readers goes away it
raises :class:`~cardservice.errors.ServiceUnavailableError` and the next call starts afresh. Backends
that talk to devices are drivers (PC/SC: :mod:`drivers.readers`), found by their ``kind`` through the
``cardservice.reader_backends`` entry points (:mod:`cardservice.plugins`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from cardservice.errors import CardAbsentError, NoReaderError
from cardservice.transport import Disposition, InProcessTransport, Transport, VirtualCard

__all__ = ["InProcessBackend", "ReaderBackend", "ReaderState"]


@dataclass(frozen=True)
class ReaderState:
    """What a reader reports: a card in it (and its ATR), or a card that does not answer (mute)."""

    present: bool = False
    mute: bool = False
    atr: bytes = b""
    insertions: int = 0  # changes with every insertion, so a quick re-insertion is still seen


class ReaderBackend(Protocol):
    """A source of readers. Thread-safe as the reader manager uses it: one thread in :meth:`poll`,
    :meth:`cancel` from any thread, :meth:`open` from the readers' workers."""

    kind: str  # "pcsc", "in-process", ...: the configuration's ``kind``, shown in /v1/health

    def poll(self, timeout: float) -> dict[str, ReaderState]:
        """Every reader and its state, once something changed or *timeout* seconds passed."""
        ...

    def cancel(self) -> None:
        """Wake a :meth:`poll` in another thread now."""
        ...

    def open(self, reader: str) -> Transport:
        """A connected transport to the card in *reader* (shared with other applications)."""
        ...

    def close(self) -> None:
        """Let go of everything; a later :meth:`poll` starts afresh."""
        ...


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

    What the daemon falls back to where pcscd cannot run, and what fast API tests use. *kind* names it
    in the configuration (two in-process backends at once need different kinds).
    """

    def __init__(self, readers: Mapping[str, VirtualCard | None], *, kind: str = "in-process") -> None:
        self.kind = kind
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
