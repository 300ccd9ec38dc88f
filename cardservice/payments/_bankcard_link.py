"""What the bank-card method says to the acquirer, and how an answer becomes the card's: :class:`AcquirerPort`
(sale, reversal, refund) and :class:`IsoAcquirer`, its ISO 8583 implementation over
:mod:`cardservice.acquiring`.

The port speaks in the method's terms (a journal record, the kernel's online request), so the method never
builds a message and the codec never sees the journal. Every outcome is one of the kernel's
:class:`~cardservice.pboc.OnlineResult` values: APPROVED / DECLINED (an answer), NOT_SENT (nothing left this
machine: the connection was refused), NO_ANSWER (the request may have arrived: the sale must be reversed).
An answer whose MAC does not verify is NO_ANSWER too — it cannot be trusted either way.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Protocol

from cardservice.acquiring import (
    REVERSAL_NO_ANSWER,
    AcquirerLink,
    AcquirerTimeout,
    AcquirerUnavailable,
    Iso8583Error,
    RefundRequest,
    RefundResponse,
    ReversalRequest,
    SaleRequest,
    SaleResponse,
    SettlementRequest,
    SettlementTotals,
    build_icc_data,
    track2_text,
)
from cardservice.payments._bankcard_book import BankcardBook, BankcardRecord
from cardservice.pboc import SALE_ICC_TAGS, OnlineAnswer, OnlineRequest, OnlineResult, TerminalConfig

__all__ = ["AcquirerPort", "IsoAcquirer", "LinkAnswer", "OnlineSale", "Settlement"]

_log = logging.getLogger("cardservice.payments")


@dataclasses.dataclass(frozen=True)
class OnlineSale:
    """A sale to authorise: the journal's STAN and amount with the card's data from the kernel."""

    stan: int
    batch: int
    terminal_id: str
    merchant_id: str
    amount_fen: int
    pan: str
    psn: str | None
    expiry: str
    track2: bytes | None
    icc_data: Mapping[int, bytes]
    pin_block: bytes | None

    def __repr__(self) -> str:  # card data stays out of reprs (and so out of logs and tracebacks)
        return f"OnlineSale(stan={self.stan}, amount_fen={self.amount_fen})"

    @classmethod
    def of(cls, record: object, request: OnlineRequest, terminal: TerminalConfig) -> OnlineSale:
        return cls(
            stan=record.stan,  # type: ignore[attr-defined]
            batch=record.batch,  # type: ignore[attr-defined]
            terminal_id=record.terminal_id,  # type: ignore[attr-defined]
            merchant_id=record.merchant_id,  # type: ignore[attr-defined]
            amount_fen=request.amount_fen,
            pan=request.pan,
            psn=request.psn,
            expiry=request.expiry,
            track2=request.track2,
            icc_data=dict(request.icc_data),
            pin_block=request.pin_block,
        )


@dataclasses.dataclass(frozen=True)
class LinkAnswer:
    result: OnlineResult
    response_code: str = ""
    auth_code: str | None = None
    rrn: str | None = None
    message: str = ""
    issuer_authentication: bytes | None = None
    scripts_before: tuple[bytes, ...] = ()
    scripts_after: tuple[bytes, ...] = ()

    def card_answer(self) -> OnlineAnswer:
        """The answer as the kernel hands it to the card (ARC = field 39's two characters)."""
        arc = self.response_code.encode("ascii") if len(self.response_code) == 2 else b"Z3"
        if self.result is OnlineResult.NO_ANSWER:
            arc = b"Z3"
        return OnlineAnswer(
            self.result,
            arc=arc,
            issuer_authentication=self.issuer_authentication,
            scripts_before=self.scripts_before,
            scripts_after=self.scripts_after,
            response_code=self.response_code,
            message=self.message,
        )


@dataclasses.dataclass(frozen=True)
class Settlement:
    """A batch's settlement (0500/0510): the terminal's totals, the host's, and whether they agree.
    ``reachable`` False: the host did not answer (nothing is known)."""

    batch: int
    ours: SettlementTotals
    theirs: SettlementTotals | None
    balanced: bool
    reachable: bool = True
    message: str = ""


class AcquirerPort(Protocol):
    def sale(self, sale: OnlineSale) -> LinkAnswer: ...

    def settle(
        self, terminal_id: str, merchant_id: str, batch: int, stan: int, totals: SettlementTotals
    ) -> Settlement:
        """Settle batch *batch* with the terminal's *totals*."""
        ...

    def reverse(self, record: object) -> bool:
        """Send the reversal of the sale *record*; ``True`` once the acquirer acknowledged it (0410)."""
        ...

    def refund(self, record: object) -> LinkAnswer: ...


#: Field 39 codes a payer can act on, in English for logs and the order's message (the kiosk words them).
_DECLINES = {
    "51": "insufficient funds",
    "55": "incorrect PIN",
    "75": "PIN tries exceeded",
    "54": "expired card",
    "14": "invalid card number",
    "05": "do not honour",
    "A0": "cryptogram check failed",
}


class IsoAcquirer:
    """:class:`AcquirerPort` over ISO 8583 (:mod:`cardservice.acquiring`): each message MAC'd under the
    terminal's key, each answer checked (MAC, MTI, STAN, terminal) before it counts."""

    def __init__(self, link: AcquirerLink, book: BankcardBook, *, mac_key: bytes) -> None:
        self._link = link
        self._book = book
        self._mac_key = mac_key

    def __repr__(self) -> str:
        return f"IsoAcquirer({self._link!r})"

    def sale(self, sale: OnlineSale) -> LinkAnswer:
        order = [tag for tag in SALE_ICC_TAGS if tag in sale.icc_data]
        request = SaleRequest(
            pan=sale.pan,
            amount_fen=sale.amount_fen,
            stan=sale.stan,
            terminal_id=sale.terminal_id,
            merchant_id=sale.merchant_id,
            batch=sale.batch,
            pos_entry_mode="051" if sale.pin_block is not None else "052",
            psn=sale.psn,
            expiry=sale.expiry[:4] if sale.expiry else None,
            track2=track2_text(sale.track2) if sale.track2 else None,
            pin_block=sale.pin_block,
            icc_data=build_icc_data([(tag, sale.icc_data[tag]) for tag in order]),
        )
        try:
            answer = self._link.transact(request, mac_key=self._mac_key)
        except AcquirerUnavailable as exc:
            return LinkAnswer(OnlineResult.NOT_SENT, message=str(exc))
        except (AcquirerTimeout, Iso8583Error) as exc:  # sent; no authentic answer to it
            _log.warning("bank card sale STAN %06d: %s", sale.stan, exc)
            return LinkAnswer(OnlineResult.NO_ANSWER, message=str(exc))
        return self._answer(answer)

    @staticmethod
    def _answer(answer: SaleResponse | RefundResponse) -> LinkAnswer:
        code = answer.response_code
        if answer.approved:
            return LinkAnswer(
                OnlineResult.APPROVED,
                response_code=code,
                auth_code=answer.auth_code,
                rrn=answer.rrn,
                issuer_authentication=answer.issuer_authentication_data,
                scripts_before=answer.scripts_before,
                scripts_after=answer.scripts_after,
            )
        return LinkAnswer(
            OnlineResult.DECLINED,
            response_code=code,
            rrn=answer.rrn,
            message=f"declined by the issuer ({code}: {_DECLINES.get(code, 'declined')})",
            issuer_authentication=answer.issuer_authentication_data,
            scripts_before=answer.scripts_before,
            scripts_after=answer.scripts_after,
        )

    def settle(
        self, terminal_id: str, merchant_id: str, batch: int, stan: int, totals: SettlementTotals
    ) -> Settlement:
        request = SettlementRequest(
            stan=stan, terminal_id=terminal_id, merchant_id=merchant_id, batch=batch, totals=totals
        )
        try:
            answer = self._link.transact(request, mac_key=self._mac_key)
        except (AcquirerUnavailable, AcquirerTimeout, Iso8583Error) as exc:
            return Settlement(batch, totals, None, False, reachable=False, message=str(exc))
        return Settlement(batch, totals, answer.totals, bool(answer.balanced), message=answer.response_code)

    def reverse(self, record: object) -> bool:
        sale: BankcardRecord = record  # type: ignore[assignment]
        card = self._book.card_data(sale.reference)
        if card is None:
            _log.error("bank card sale %s: no card data to reverse it with; see the journal", sale.reference)
            return False
        request = ReversalRequest(
            pan=card.pan,
            amount_fen=sale.amount_fen,
            stan=sale.stan,
            terminal_id=sale.terminal_id,
            merchant_id=sale.merchant_id,
            batch=sale.batch,
            reason=sale.reversal_reason or REVERSAL_NO_ANSWER,
            psn=card.psn,
            expiry=card.expiry[:4] if card.expiry else None,
            auth_code=sale.auth_code,
        )
        try:
            answer = self._link.transact(request, mac_key=self._mac_key)
        except (AcquirerUnavailable, AcquirerTimeout, Iso8583Error) as exc:
            _log.warning("reversal of bank card sale %s not acknowledged: %s", sale.reference, exc)
            return False
        if not answer.final:
            _log.warning("reversal of bank card sale %s answered %s", sale.reference, answer.response_code)
        return bool(answer.final)

    def refund(self, record: object) -> LinkAnswer:
        refund: BankcardRecord = record  # type: ignore[assignment]
        original = self._book.find(refund.order_reference)
        card = self._book.card_data(refund.order_reference)
        if original is None or card is None or refund.original_rrn is None:
            return LinkAnswer(OnlineResult.DECLINED, message="the sale's data for a refund is gone")
        request = RefundRequest(
            pan=card.pan,
            amount_fen=refund.amount_fen,
            stan=refund.stan,
            terminal_id=refund.terminal_id,
            merchant_id=refund.merchant_id,
            batch=refund.batch,
            original_rrn=refund.original_rrn,
            original_batch=original.batch,
            original_stan=original.stan,
            original_date=original.created_at.strftime("%m%d"),
            psn=card.psn,
            expiry=card.expiry[:4] if card.expiry else None,
        )
        try:
            answer = self._link.transact(request, mac_key=self._mac_key)
        except AcquirerUnavailable as exc:
            return LinkAnswer(OnlineResult.NOT_SENT, message=str(exc))
        except (AcquirerTimeout, Iso8583Error) as exc:
            return LinkAnswer(OnlineResult.NO_ANSWER, message=str(exc))
        return self._answer(answer)
