"""What a card operation receives: the card in a reader, on the reader's own worker, inside a PC/SC
transaction, with the reader's SAM held for the operation's whole length.

The health application has its session (:attr:`CardHandle.health`): it remembers the selected DF and
the access rights it obtained, so consecutive operations on one card skip what is already done. Another
application on the same chip (the PBOC debit application, 金融IC卡) runs its own flow through
:meth:`CardHandle.transmit`; as that selects another application, the health session's card state is
forgotten afterwards, so its next operation selects and authenticates again.
"""

from __future__ import annotations

from cardservice.healthcard import HealthCardSession
from cardservice.keys import Sam
from cardservice.transport import Transport

__all__ = ["CardHandle", "CountedCard"]


class CountedCard:
    """The card as the health session sees it (``atr`` + ``transmit``), counting command APDUs."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.apdus = 0

    @property
    def atr(self) -> bytes:
        return self._transport.atr

    def transmit(self, apdu: bytes) -> bytes:
        self.apdus += 1
        return self._transport.transmit(apdu)


class CardHandle:
    """The card in *reader_id* for one operation. ``card_id`` is ``None`` while the card is read at its
    insertion (it gets its id once that read succeeded)."""

    def __init__(
        self,
        reader_id: str,
        card_id: str | None,
        transport: Transport,
        sam: Sam,
        health: HealthCardSession,
    ) -> None:
        self.reader_id = reader_id
        self.card_id = card_id
        self._transport = transport
        self._sam = sam
        self._health = health
        self.other_application = False  # set once the operation talked to the card outside the session

    def __repr__(self) -> str:
        return f"CardHandle({self.reader_id!r}, card_id={self.card_id!r})"

    @property
    def atr(self) -> bytes:
        return self._transport.atr

    @property
    def sam(self) -> Sam:
        """The SAM bound to this reader (a PSAM, or a software SAM over a key store), held for this
        operation."""
        return self._sam

    @property
    def health(self) -> HealthCardSession:
        """The health application's session on this card."""
        return self._health

    def transmit(self, apdu: bytes) -> bytes:
        """One command APDU to the card, the response (data + SW1 SW2): for another application's flow
        (pass it to :func:`cardservice.apdu.transceive`)."""
        self.other_application = True
        return self._transport.transmit(apdu)
