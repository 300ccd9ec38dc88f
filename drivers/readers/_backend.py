"""The PC/SC reader backend: readers and cards from pcscd, for the daemon's reader manager.

:meth:`PcscBackend.poll` waits in one ``SCardGetStatusChange`` on every reader plus pcsc-lite's
``\\\\?PnP?\\Notification`` pseudo-reader, so hot-plug and card events arrive without polling. When
pcscd goes away the call raises :class:`~cardservice.errors.ServiceUnavailableError`; the next call
establishes a new context.
"""

from __future__ import annotations

import threading
from typing import Any

from cardservice.errors import ServiceUnavailableError
from cardservice.readers import ReaderState
from cardservice.transport import Transport
from drivers.readers._pcsc import PcscTransport

__all__ = ["PcscBackend"]


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
