"""BankcardMethod: paying with the chip's own bank application (PBOC debit, 金融IC卡) — the card in the
kiosk's reader, the PIN on the encrypting PIN pad, the authorisation from the acquirer over ISO 8583.

The durable record is ``bankcard_transactions`` (one row per sale or refund, :class:`BankcardBook`),
written *before* each step that the acquirer may act on, so a daemon killed anywhere leaves a row that says
what may be owed::

    started ──> not_sent                      nothing went out (cancelled, unreachable, card's offline AAC)
       └──> sent ──> declined                 the issuer said no
              ├──> approved ──> completed     the card agreed (TC): the only state that keeps the money
              │        └──> reversal_pending  the card declined (AAC), was pulled, or the daemon died
              └──> reversal_pending ──> reversed   no answer: 0400 until 0410

:meth:`BankcardMethod.query` is the reversal queue's worker (the payments recovery sweep calls it for every
order in doubt): a sale left ``sent``/``approved``/``reversal_pending`` is reversed, and only once the
acquirer has acknowledged the reversal is it NOT_FOUND — the protocol's "never again" (a charge under a
reference that has a row is never sent twice). A ``completed`` sale is APPROVED however the order got lost.

The kernel (:func:`cardservice.pboc.sale`) runs on the reader's worker inside one PC/SC transaction, so no
other application touches the card between the two GENERATE ACs. Logs and progress carry the masked PAN
only; the PIN block passes from the pad to the acquirer message and is kept nowhere.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import logging
import threading
from collections.abc import Callable, Generator
from concurrent.futures import Future
from typing import Any, Protocol

from cardservice.acquiring import SettlementTotals
from cardservice.apdu import CommandApdu, run_flow, transceive
from cardservice.his import Patient
from cardservice.payments._bankcard_book import BankcardBook, BankcardRecord, CardData, batch_of
from cardservice.payments._bankcard_link import AcquirerPort, OnlineSale, Settlement
from cardservice.payments._interactive import ChargeContext, current_charge_context
from cardservice.payments._ledger import BANKCARD_CLEARING
from cardservice.payments._methods import MethodRecord, MethodResult, MethodStatus
from cardservice.pboc import (
    CardDataError,
    OnlineAnswer,
    OnlineRequest,
    OnlineResult,
    PinAnswer,
    PinRequest,
    SaleOutcome,
    SaleResult,
    TerminalConfig,
    sale,
)
from cardservice.pinpad import PinPad, PinPadError

__all__ = ["BankcardMethod", "CardRunner"]

_log = logging.getLogger("cardservice.payments")


class CardRunner(Protocol):
    """What the method needs of the reader manager: run an operation on the card in *reader*."""

    def submit(
        self, reader: str, operation: Callable[[Any], Any], *, card_id: str | None = None
    ) -> Future[Any]: ...


@dataclasses.dataclass
class _Attempt:
    """One sale's progress as the reader's worker sees it."""

    record: BankcardRecord
    context: ChargeContext
    masked_pan: str = ""
    online: OnlineAnswer | None = None


class BankcardMethod:
    """A :class:`~cardservice.payments.PaymentMethod` over the chip's bank application. ``readers``: the
    reader manager (the card is in the reader the request's :class:`ChargeContext` names); ``pin_pad``: the
    kiosk's EPP (``None``: a card asking for an online PIN fails cardholder verification); ``acquirer``:
    the ISO 8583 link; ``terminal``: what the kernel tells the card."""

    name = "bankcard"
    clearing_account = BANKCARD_CLEARING

    def __init__(
        self,
        book: BankcardBook,
        readers: CardRunner,
        acquirer: AcquirerPort,
        terminal: TerminalConfig,
        *,
        pin_pad: PinPad | None = None,
        pin_timeout: float = 60.0,
    ) -> None:
        self._book = book
        self._readers = readers
        self._acquirer = acquirer
        self._terminal = terminal
        self._pin_pad = pin_pad
        self._pin_timeout = pin_timeout
        # Sales this process is running: recovery must not reverse a sale that is waiting for its PIN.
        self._active: set[str] = set()
        self._lock = threading.Lock()
        # Another terminal's sale may be mid-flight for this long (PIN entry, then the acquirer's answer).
        self._foreign_grace = _dt.timedelta(seconds=pin_timeout + 120)

    def __repr__(self) -> str:
        return f"BankcardMethod(terminal={self._terminal.terminal_id!r})"

    # -- charge ---------------------------------------------------------------------------------------

    def charge(
        self, reference: str, amount_fen: int, patient: Patient, *, idempotency_key: str
    ) -> MethodResult:
        context = current_charge_context()
        known = self._book.find(reference)
        if known is not None:
            return self._settle_known(known)
        if context.reader is None:
            return MethodResult(MethodStatus.UNAVAILABLE, message="no card reader for a bank card payment")
        with self._lock:
            if reference in self._active:
                return MethodResult(MethodStatus.IN_DOUBT, message="this sale is in progress")
            self._active.add(reference)
        try:
            record = self._book.start(reference, "sale", reference, amount_fen)
            if record.state != "started":  # recorded meanwhile by another call
                return self._settle_known(record)
            attempt = _Attempt(record, context)
            context.progress("reading_card", {})
            try:
                future = self._readers.submit(context.reader, lambda handle: self._run(handle, attempt))
                outcome: SaleOutcome = future.result()
            except Exception as exc:  # the card went away, the reader failed, the kernel refused the card
                return self._interrupted(attempt, exc)
            return self._finish(attempt, outcome)
        finally:
            with self._lock:
                self._active.discard(reference)

    def _run(self, handle: Any, attempt: _Attempt) -> SaleOutcome:
        def exchange(request: object) -> object:
            if isinstance(request, CommandApdu):
                return transceive(handle.transmit, request)
            if isinstance(request, PinRequest):
                return self._pin(request, attempt)
            if isinstance(request, OnlineRequest):
                return self._online(request, attempt)
            raise TypeError(f"the sale asked for {type(request).__name__}")

        flow: Generator[Any, Any, SaleOutcome] = sale(
            self._terminal, attempt.record.amount_fen, sequence=attempt.record.stan
        )
        return run_flow(flow, exchange)

    def _pin(self, request: PinRequest, attempt: _Attempt) -> PinAnswer:
        if self._pin_pad is None:
            return PinAnswer("unavailable")
        progress = attempt.context.progress
        progress("enter_pin", {})
        pad, cancel, done = self._pin_pad, attempt.context.cancel, threading.Event()

        def watch() -> None:  # the payer cancelled on the screen, or walked away: end the entry on the pad
            while not done.wait(0.1):
                if cancel.is_set():
                    with contextlib.suppress(PinPadError):
                        pad.abort()
                    return

        watcher = threading.Thread(target=watch, name="pin-cancel", daemon=True)
        watcher.start()
        try:
            entry = pad.read_pin(
                request.pan,
                timeout=int(self._pin_timeout),
                on_event=lambda event: progress("pin_digits", {"digits": event.digits}),
            )
        except PinPadError as exc:
            _log.warning("PIN pad: %s", exc)
            return PinAnswer("unavailable")
        finally:
            done.set()
            watcher.join()
        if entry.status != "entered" or entry.pin_block is None:
            # The host's abort (the payer walked away, the client cancelled) is a cancel to the sale.
            return PinAnswer("cancelled" if entry.status == "aborted" else entry.status)
        return PinAnswer("entered", entry.pin_block)

    def _online(self, request: OnlineRequest, attempt: _Attempt) -> OnlineAnswer:
        attempt.context.progress("processing", {})
        record = attempt.record
        attempt.masked_pan = _mask(request.pan)
        # Durable before the first byte goes out: a kill from here on is reversed.
        card = CardData(request.pan, request.psn, request.expiry)
        self._book.move(record.reference, ("started",), "sent", masked_pan=attempt.masked_pan, card=card)
        answer = self._acquirer.sale(OnlineSale.of(record, request, self._terminal))
        if answer.result is OnlineResult.APPROVED:
            self._book.move(
                record.reference, ("sent",), "approved",
                response_code=answer.response_code, auth_code=answer.auth_code, rrn=answer.rrn,
            )  # fmt: skip
        elif answer.result is OnlineResult.DECLINED:
            self._book.move(
                record.reference,
                ("sent",),
                "declined",
                response_code=answer.response_code,
                message=answer.message,
            )
        elif answer.result is OnlineResult.NOT_SENT:
            self._book.move(record.reference, ("sent",), "not_sent", message=answer.message)
        else:
            self._book.move(record.reference, ("sent",), "reversal_pending", reversal_reason="98")
        attempt.online = answer.card_answer()
        return attempt.online

    def _finish(self, attempt: _Attempt, outcome: SaleOutcome) -> MethodResult:
        reference = attempt.record.reference
        attempt.context.progress("remove_card", {"result": outcome.result.value})
        _log.info(
            "bank card sale %s: %s (%s, card %s)",
            reference,
            outcome.result.value,
            outcome.reason,
            outcome.masked_pan,
        )
        if outcome.result is SaleResult.APPROVED:
            record = self._book.move(reference, ("approved",), "completed")
            return MethodResult(MethodStatus.APPROVED, record.transaction_id, record.amount_fen)
        if outcome.result is SaleResult.REVERSAL_NEEDED:
            reason = "98" if attempt.online is None or not attempt.online.response_code else "06"
            self._book.move(
                reference, ("approved", "reversal_pending"), "reversal_pending", reversal_reason=reason
            )
            return self._reverse(reference, outcome.reason)
        if outcome.result is SaleResult.DECLINED_BY_ISSUER:
            online = attempt.online
            return MethodResult(MethodStatus.DECLINED, message=online.message if online else outcome.reason)
        # Cancelled, declined by the card before going online, or the acquirer unreachable: nothing went out.
        self._book.move(reference, ("started", "not_sent"), "not_sent", message=outcome.reason)
        if outcome.result is SaleResult.NOT_SENT:
            return MethodResult(MethodStatus.UNAVAILABLE, message=outcome.reason)
        return MethodResult(MethodStatus.DECLINED, message=outcome.reason)

    def _interrupted(self, attempt: _Attempt, exc: BaseException) -> MethodResult:
        """The sale stopped half-way (card pulled or mute, the card's data refused). What went out decides."""
        reference = attempt.record.reference
        why = "the card's bank application refused the sale" if isinstance(exc, CardDataError) else str(exc)
        record = self._book.find(reference)
        state = record.state if record is not None else "started"
        _log.warning("bank card sale %s interrupted in state %s: %s", reference, state, type(exc).__name__)
        if state in ("started", "not_sent"):
            self._book.move(reference, ("started", "not_sent"), "not_sent", message=why[:200])
            return MethodResult(MethodStatus.DECLINED, message=why)
        if state == "declined":
            return MethodResult(MethodStatus.DECLINED, message="declined by the issuer")
        self._book.move(
            reference, ("sent", "approved", "reversal_pending"), "reversal_pending", reversal_reason="98"
        )
        return self._reverse(reference, why)

    # -- reversal, query, refund ---------------------------------------------------------------------------

    def _reverse(self, reference: str, why: str) -> MethodResult:
        record = self._book.attempt(reference)
        if self._acquirer.reverse(record):
            self._book.move(reference, ("reversal_pending",), "reversed")
            return MethodResult(MethodStatus.DECLINED, message=f"{why}; reversed")
        return MethodResult(MethodStatus.IN_DOUBT, message=f"{why}; reversal not acknowledged yet")

    def _settle_known(self, record: BankcardRecord) -> MethodResult:
        if record.state == "completed":
            return MethodResult(MethodStatus.APPROVED, record.transaction_id, record.amount_fen)
        if record.state in ("declined", "not_sent", "reversed"):
            return MethodResult(MethodStatus.DECLINED, message=record.message or record.state)
        return MethodResult(MethodStatus.IN_DOUBT, message=f"bank card sale {record.state}")

    def query(self, reference: str) -> MethodResult:
        """Resolve a sale: reverse what may have been taken and not completed; close what never went out."""
        with self._lock:
            if reference in self._active:
                return MethodResult(MethodStatus.IN_DOUBT, message="this sale is in progress")
        record = self._book.find(reference)
        if record is None:
            return MethodResult(MethodStatus.NOT_FOUND)  # nothing was ever recorded, so nothing was sent
        foreign = record.terminal_id != self._book.terminal_id and record.state in (
            "started",
            "sent",
            "approved",
        )
        if foreign and _dt.datetime.now(_dt.UTC) - record.updated_at < self._foreign_grace:
            return MethodResult(MethodStatus.IN_DOUBT, message="another terminal's sale, maybe in progress")
        if record.kind == "refund":
            return self._query_refund(record)
        if record.state == "completed":
            return MethodResult(MethodStatus.APPROVED, record.transaction_id, record.amount_fen)
        if record.state in ("started", "not_sent"):
            # Closed here: a charge still running elsewhere under it finds the row and sends nothing.
            self._book.move(reference, ("started", "not_sent"), "not_sent")
            return MethodResult(MethodStatus.NOT_FOUND)
        if record.state == "declined":
            return MethodResult(MethodStatus.NOT_FOUND)
        if record.state == "reversed":
            return MethodResult(MethodStatus.NOT_FOUND)
        self._book.move(
            reference, ("sent", "approved", "reversal_pending"), "reversal_pending", reversal_reason="98"
        )
        result = self._reverse(reference, "recovered")
        return MethodResult(MethodStatus.NOT_FOUND) if result.status is MethodStatus.DECLINED else result

    def pending_reversals(self) -> list[str]:
        """References of sales whose reversal the acquirer has not acknowledged yet."""
        return self._book.references_in(("sent", "approved", "reversal_pending"), kind="sale")

    def refund(self, reference: str, amount_fen: int, refund_reference: str) -> MethodResult:
        sale_record = self._book.find(reference)
        if sale_record is None or sale_record.state != "completed" or sale_record.rrn is None:
            return MethodResult(
                MethodStatus.DECLINED, message="no completed bank card sale under this reference"
            )
        if amount_fen > sale_record.amount_fen - self._book.refunded(reference, exclude=refund_reference):
            return MethodResult(MethodStatus.DECLINED, message="more than was charged")
        record = self._book.find(refund_reference) or self._book.start(
            refund_reference, "refund", reference, amount_fen, masked_pan=sale_record.masked_pan,
            original_rrn=sale_record.rrn,
        )  # fmt: skip
        return self._send_refund(record)

    def _send_refund(self, record: BankcardRecord) -> MethodResult:
        if record.state == "refunded":
            return MethodResult(MethodStatus.APPROVED, record.transaction_id, record.amount_fen)
        if record.state == "declined":
            return MethodResult(MethodStatus.DECLINED, message=record.message or "refund declined")
        self._book.move(record.reference, ("started", "sent"), "sent")
        answer = self._acquirer.refund(record)
        if answer.result is OnlineResult.APPROVED:
            done = self._book.move(
                record.reference, ("sent",), "refunded", rrn=answer.rrn, response_code="00"
            )
            return MethodResult(MethodStatus.APPROVED, done.transaction_id, done.amount_fen)
        if answer.result is OnlineResult.DECLINED:
            self._book.move(
                record.reference,
                ("sent",),
                "declined",
                response_code=answer.response_code,
                message=answer.message,
            )
            return MethodResult(MethodStatus.DECLINED, message=answer.message)
        # A refund is an advice: it is sent again (same STAN) until answered, never reversed.
        return MethodResult(MethodStatus.IN_DOUBT, message=answer.message or "refund not answered")

    def _query_refund(self, record: BankcardRecord) -> MethodResult:
        result = self._send_refund(record)
        if result.status is MethodStatus.DECLINED:
            return MethodResult(MethodStatus.DECLINED, message=result.message)
        return result

    def settlement(self, day: _dt.date) -> Settlement:
        """Settle the day's batch with the acquirer (0500): the journal's completed sales and refunds against
        the host's books. The payments reconciliation (对账) reports a batch that does not balance."""
        batch = batch_of(day)
        rows = self._book.batch(batch)
        sales = [row for row in rows if row.kind == "sale" and row.state == "completed"]
        refunds = [row for row in rows if row.kind == "refund" and row.state == "refunded"]
        totals = SettlementTotals(
            len(sales),
            sum(row.amount_fen for row in sales),
            len(refunds),
            sum(row.amount_fen for row in refunds),
        )
        book = self._book
        return self._acquirer.settle(book.terminal_id, book.merchant_id, batch, book.next_stan(), totals)

    def records(self, day: _dt.date) -> list[MethodRecord]:
        return [
            MethodRecord(
                reference=row.reference,
                kind="charge" if row.kind == "sale" else "refund",
                amount_fen=row.amount_fen,
                status="approved",
                transaction_id=row.transaction_id,
                at=row.updated_at,
            )
            for row in self._book.day(day)
            if row.state in ("completed", "refunded")
        ]


def _mask(pan: str) -> str:
    return f"{pan[:6]}{'*' * max(len(pan) - 10, 0)}{pan[-4:]}" if len(pan) > 10 else "*" * len(pan)
