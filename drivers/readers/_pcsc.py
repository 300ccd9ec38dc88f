"""PC/SC transport over pyscard's low-level ``smartcard.scard`` API.

The low-level API is used on purpose: the per-APDU path is one ``SCardTransmit`` call plus a length
check, so the project's stack costs almost nothing over raw pyscard (``bench/bench_pcsc.py`` shows it).

PC/SC result codes are mapped onto :mod:`cardservice.errors` in one table (``_ERRORS``). Two codes are
handled rather than only reported:

- the PC/SC service went away (pcscd restarted): the context is re-established on the next call;
- another application reset the card (``SCARD_W_RESET_CARD``): the handle is reconnected with
  ``SCARD_LEAVE_CARD`` and :class:`~cardservice.errors.CardResetError` tells the caller that the
  card's current DF and security state are gone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from smartcard import scard

from cardservice.errors import (
    CardAbsentError,
    CardResetError,
    CardUnresponsiveError,
    NoReaderError,
    ServiceUnavailableError,
    SharingViolationError,
    TransportError,
)
from cardservice.transport._base import Disposition

__all__ = ["PcscTransport", "list_readers", "wait_for_card", "wait_for_removal"]

_ERRORS: dict[int, type[TransportError]] = {
    scard.SCARD_E_NO_SMARTCARD: CardAbsentError,
    scard.SCARD_W_REMOVED_CARD: CardAbsentError,
    scard.SCARD_E_NOT_TRANSACTED: CardAbsentError,  # what pcsc-lite answers on a handle whose card was pulled
    scard.SCARD_W_UNPOWERED_CARD: CardAbsentError,
    scard.SCARD_E_UNKNOWN_READER: NoReaderError,
    scard.SCARD_E_READER_UNAVAILABLE: NoReaderError,
    scard.SCARD_E_NO_READERS_AVAILABLE: NoReaderError,
    scard.SCARD_E_SHARING_VIOLATION: SharingViolationError,
    scard.SCARD_E_NO_SERVICE: ServiceUnavailableError,
    scard.SCARD_E_SERVICE_STOPPED: ServiceUnavailableError,
    scard.SCARD_W_RESET_CARD: CardResetError,
    scard.SCARD_E_TIMEOUT: CardUnresponsiveError,
    scard.SCARD_W_UNRESPONSIVE_CARD: CardUnresponsiveError,
    scard.SCARD_F_COMM_ERROR: CardUnresponsiveError,
    scard.SCARD_E_COMM_DATA_LOST: CardUnresponsiveError,
    scard.SCARD_E_PROTO_MISMATCH: CardUnresponsiveError,
}

# Codes after which the context itself is unusable and must be re-established.
_CONTEXT_LOST = frozenset(
    {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_INVALID_HANDLE}
)

_DISPOSITIONS = {
    Disposition.LEAVE: scard.SCARD_LEAVE_CARD,
    Disposition.RESET: scard.SCARD_RESET_CARD,
    Disposition.UNPOWER: scard.SCARD_UNPOWER_CARD,
    Disposition.EJECT: scard.SCARD_EJECT_CARD,
}

_PROTOCOLS = {"T=0": scard.SCARD_PROTOCOL_T0, "T=1": scard.SCARD_PROTOCOL_T1}
# Bound once: the per-APDU path looks up no module attributes.
_transmit = scard.SCardTransmit
_SUCCESS = scard.SCARD_S_SUCCESS
_PCI = {scard.SCARD_PROTOCOL_T0: scard.SCARD_PCI_T0, scard.SCARD_PROTOCOL_T1: scard.SCARD_PCI_T1}


def _error(hresult: int, what: str) -> TransportError:
    cls = _ERRORS.get(hresult & 0xFFFFFFFF, TransportError)
    return cls(f"{what}: {scard.SCardGetErrorMessage(hresult)} (0x{hresult & 0xFFFFFFFF:08X})")


class _Context:
    """One PC/SC context, re-established after the service went away."""

    def __init__(self) -> None:
        self._handle: Any = None

    def get(self) -> Any:
        if self._handle is None:
            hresult, handle = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hresult != scard.SCARD_S_SUCCESS:
                raise _error(hresult, "cannot reach the PC/SC service (is pcscd running?)")
            self._handle = handle
        return self._handle

    def check(self, hresult: int, what: str) -> None:
        if hresult == scard.SCARD_S_SUCCESS:
            return
        if hresult & 0xFFFFFFFF in _CONTEXT_LOST:
            self.release()
            raise ServiceUnavailableError(
                f"{what}: the PC/SC service went away ({scard.SCardGetErrorMessage(hresult)})"
            )
        raise _error(hresult, what)

    def release(self) -> None:
        if self._handle is not None:
            scard.SCardReleaseContext(self._handle)
            self._handle = None


def list_readers() -> list[str]:
    """Names of the PC/SC readers now attached; empty when there are none."""
    context = _Context()
    try:
        hresult, readers = scard.SCardListReaders(context.get(), [])
        if hresult in (scard.SCARD_E_NO_READERS_AVAILABLE, scard.SCARD_E_READER_UNAVAILABLE):
            return []
        context.check(hresult, "cannot list readers")
        return list(readers)
    finally:
        context.release()


def _wait_for_state(reader: str, *, present: bool, timeout: float) -> bool:
    """Block on SCardGetStatusChange until the reader has (or lacks) a card, at most ``timeout`` s."""
    context = _Context()
    deadline = time.monotonic() + timeout
    try:
        state = scard.SCARD_STATE_UNAWARE
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            hresult, states = scard.SCardGetStatusChange(context.get(), remaining_ms, [(reader, state)])
            if hresult == scard.SCARD_E_TIMEOUT:
                return False
            context.check(hresult, f"cannot watch reader {reader!r}")
            _, event_state, _ = states[0]
            if event_state & scard.SCARD_STATE_UNKNOWN:
                raise NoReaderError(f"reader {reader!r} not found")
            if bool(event_state & scard.SCARD_STATE_PRESENT) == present and not (
                present and event_state & scard.SCARD_STATE_MUTE
            ):
                return True
            if remaining_ms == 0:
                return False
            state = event_state & ~scard.SCARD_STATE_CHANGED
    finally:
        context.release()


def wait_for_card(reader: str, timeout: float) -> bool:
    """True as soon as a card is in ``reader``; False after ``timeout`` seconds without one."""
    return _wait_for_state(reader, present=True, timeout=timeout)


def wait_for_removal(reader: str, timeout: float) -> bool:
    """True as soon as ``reader`` is empty; False after ``timeout`` seconds with a card still in."""
    return _wait_for_state(reader, present=False, timeout=timeout)


class PcscTransport:
    """One card in one PC/SC reader.

    ``share="exclusive"`` keeps other applications out for the whole connection; otherwise use
    :meth:`transaction` around multi-APDU sequences. ``protocols`` lists what may be negotiated.
    """

    def __init__(
        self,
        reader: str,
        *,
        share: Literal["shared", "exclusive"] = "shared",
        protocols: tuple[str, ...] = ("T=0", "T=1"),
    ) -> None:
        unknown = [p for p in protocols if p not in _PROTOCOLS]
        if unknown or not protocols:
            raise ValueError(f"protocols must be among {sorted(_PROTOCOLS)}, got {protocols!r}")
        self._reader = reader
        self._share = scard.SCARD_SHARE_EXCLUSIVE if share == "exclusive" else scard.SCARD_SHARE_SHARED
        self._protocols = 0
        for name in protocols:
            self._protocols |= _PROTOCOLS[name]
        self._context = _Context()
        self._card: Any = None
        self._protocol = 0
        self._pci: Any = None
        self._atr = b""

    def __repr__(self) -> str:
        state = f"connected {self.protocol}" if self._card is not None else "not connected"
        return f"PcscTransport({self._reader!r}, {state})"

    @property
    def name(self) -> str:
        return self._reader

    @property
    def atr(self) -> bytes:
        if self._card is None:
            raise CardAbsentError(f"{self._reader}: not connected to a card")
        return self._atr

    @property
    def protocol(self) -> str:
        """The negotiated protocol, ``"T=0"`` or ``"T=1"`` ("" when not connected)."""
        return {scard.SCARD_PROTOCOL_T0: "T=0", scard.SCARD_PROTOCOL_T1: "T=1"}.get(self._protocol, "")

    @property
    def connected(self) -> bool:
        return self._card is not None

    def connect(self) -> bytes:
        if self._card is not None:
            return self._atr
        hresult, card, protocol = scard.SCardConnect(
            self._context.get(), self._reader, self._share, self._protocols
        )
        self._context.check(hresult, f"{self._reader}: cannot connect")
        self._card, self._protocol, self._pci = card, protocol, _PCI.get(protocol)
        self._atr = self._read_atr()
        return self._atr

    def _read_atr(self) -> bytes:
        hresult, _reader, _state, _protocol, atr = scard.SCardStatus(self._card)
        self._checked(hresult, "cannot read the ATR")
        return bytes(atr)

    def _checked(self, hresult: int, what: str) -> None:
        """Map a failed call on the card handle; forget the handle when the card is gone."""
        if hresult == scard.SCARD_S_SUCCESS:
            return
        code = hresult & 0xFFFFFFFF
        if code == scard.SCARD_W_RESET_CARD:
            self._recover_from_reset()
            raise CardResetError(
                f"{self._reader}: {what}: the card was reset by another application; "
                "select and authenticate again"
            )
        if _ERRORS.get(code) in (CardAbsentError, NoReaderError) or code in _CONTEXT_LOST:
            self._forget_card()
        self._context.check(hresult, f"{self._reader}: {what}")

    def _recover_from_reset(self) -> None:
        hresult, protocol = scard.SCardReconnect(
            self._card, self._share, self._protocols, scard.SCARD_LEAVE_CARD
        )
        if hresult != scard.SCARD_S_SUCCESS:
            self._forget_card()
            raise _error(hresult, f"{self._reader}: cannot reconnect after a reset")
        self._protocol, self._pci = protocol, _PCI.get(protocol)
        self._atr = self._read_atr()

    def _forget_card(self) -> None:
        if self._card is not None:
            scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
        self._card = None
        self._protocol = 0
        self._pci = None

    def transmit(self, apdu: bytes) -> bytes:
        # The hot path (bench/bench_pcsc.py): one call into pyscard and one copy each way, nothing else
        # when the card answers. pyscard takes and gives lists of ints; bytes(bytearray(list)) is about
        # twice as fast as bytes(list) for a full 256-byte answer.
        card = self._card
        if card is None:
            raise CardAbsentError(f"{self._reader}: not connected to a card")
        hresult, response = _transmit(card, self._pci, list(apdu))
        if hresult != _SUCCESS:
            self._checked(hresult, "transmit failed")
        if len(response) < 2:
            raise CardUnresponsiveError(
                f"{self._reader}: the card answered {len(response)} bytes, no status word"
            )
        return bytes(bytearray(response))

    def disconnect(self, disposition: Disposition = Disposition.LEAVE) -> None:
        if self._card is not None:
            card, self._card = self._card, None
            # The card may already be gone; there is nothing useful to report then.
            scard.SCardDisconnect(card, _DISPOSITIONS[disposition])
        self._protocol = 0
        self._pci = None
        self._context.release()

    def reconnect(self, disposition: Disposition = Disposition.RESET) -> bytes:
        if self._card is None:
            return self.connect()
        hresult, protocol = scard.SCardReconnect(
            self._card, self._share, self._protocols, _DISPOSITIONS[disposition]
        )
        if hresult == scard.SCARD_W_RESET_CARD:  # someone else reset it first: fine, we wanted one
            hresult, protocol = scard.SCardReconnect(
                self._card, self._share, self._protocols, scard.SCARD_LEAVE_CARD
            )
        self._checked(hresult, "cannot reconnect")
        self._protocol, self._pci = protocol, _PCI.get(protocol)
        self._atr = self._read_atr()
        return self._atr

    def is_card_present(self) -> bool:
        hresult, states = scard.SCardGetStatusChange(
            self._context.get(), 0, [(self._reader, scard.SCARD_STATE_UNAWARE)]
        )
        self._context.check(hresult, f"{self._reader}: cannot read the reader state")
        _, event_state, _ = states[0]
        if event_state & scard.SCARD_STATE_UNKNOWN:
            raise NoReaderError(f"reader {self._reader!r} not found")
        return bool(event_state & scard.SCARD_STATE_PRESENT)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._card is None:
            raise CardAbsentError(f"{self._reader}: not connected to a card")
        self._checked(scard.SCardBeginTransaction(self._card), "cannot begin a transaction")
        try:
            yield
        finally:
            if self._card is not None:
                # Ending fails harmlessly when the card was pulled inside the transaction.
                scard.SCardEndTransaction(self._card, scard.SCARD_LEAVE_CARD)
