"""The steps of an order, each safe to repeat: **charge** (ask the method, then record its answer with
the ledger posting), **settle** (tell the HIS the bill is paid), **refund** (set the money aside, ask the
method, record its answer), **give back** (the money of a bill the HIS refused: its automatic refund,
tried again under a new order while it fails) — and **resolve**, which finishes an order that is not
final by asking its method (``query``), never guessing: approved → post the ledger and settle the HIS
bill; declined / unknown at the method → failed; no answer → stays ``in_doubt`` and is reported.
**recover** resolves every open order last changed before a cutoff, and first writes the audit records
a kill lost (:meth:`OrderBook.publish_backlog <cardservice.payments._book.OrderBook.publish_backlog>`).

"Unknown at the method" is final because the reference is closed there before the order fails: the
gateway asks the acquirer to close it (``query``), an in-database method closes it in the transaction
that fails the order (:class:`~cardservice.payments._methods.InDatabaseMethod`). A charge or refund of
another daemon still on its way is then refused; if it landed first, the close finds it and the order
is recorded as approved instead.

The ledger posting and the state change commit together; the HIS settlement carries a key derived from
the order reference, so doing it again is harmless. ``crash_at`` is called with the name of each step
(:data:`CRASH_POINTS`) — tests raise there to kill the service at that point.
"""

from __future__ import annotations

import datetime as _dt
import logging
import secrets
from collections.abc import Callable, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cardservice.his import HisConnector, HisRejected, Patient
from cardservice.his import HisError as _HisError
from cardservice.payments._book import OrderBook
from cardservice.payments._errors import OrderNotFound, PaymentError, PaymentRejected
from cardservice.payments._ledger import HIS_REVENUE, Ledger, credit, debit, prepaid_account
from cardservice.payments._methods import InDatabaseMethod, MethodResult, MethodStatus, PaymentMethod
from cardservice.payments._orders import (
    FINAL_STATES,
    OPEN_STATES,
    Order,
    OrderKind,
    OrderStatus,
    RecoveryReport,
    order_of,
    paid_status,
)
from cardservice.store import PaymentOrderRow, request_hash

__all__ = ["CRASH_POINTS", "Steps"]

_log = logging.getLogger("cardservice.payments")

#: Where ``crash_at`` is called, in the order they happen.
CRASH_POINTS = (
    "intent_recorded",  # order committed pending; the method not yet called
    "method_answered",  # the method charged (or refused); nothing recorded about it yet
    "ledger_posted",  # charged + ledger committed; HIS not yet told
    "his_settled",  # HIS settled; the order not yet marked settled
    "refund_due",  # the HIS refused the bill: unsettled committed; its refund order not yet recorded
    "refund_recorded",  # refund order + its ledger posting committed; the method not yet called
    "refund_answered",  # the method refunded; not yet recorded
)
#: The client that owns the refund orders this service makes itself (a bill the HIS refused).
_AUTO_CLIENT = "payments"
#: The orders a refund may give money back from (an unsettled bill: only by the automatic refund).
_REFUNDABLE = frozenset({OrderStatus.SETTLED})
_AUTO_REFUNDABLE = frozenset({OrderStatus.SETTLED, OrderStatus.UNSETTLED})


class _PostedAfterAll(Exception):
    """Closing a reference found the method's posting under it: the order is approved after all."""

    def __init__(self, result: MethodResult) -> None:
        super().__init__(result.status)
        self.result = result


class Steps:
    """The steps over the orders of *book*, with the payment *methods* by name."""

    def __init__(
        self,
        book: OrderBook,
        his: HisConnector,
        methods: Mapping[str, PaymentMethod],
        ledger: Ledger,
        *,
        clock: Callable[[], _dt.datetime],
        crash_at: Callable[[str], None],
    ) -> None:
        self._book = book
        self._his = his
        self._methods = methods
        self._ledger = ledger
        self._clock = clock
        self._crash = crash_at

    def method(self, name: str) -> PaymentMethod:
        method = self._methods.get(name)
        if method is None:
            raise PaymentRejected(f"no payment method {name!r}", message_zh="不支持的支付方式")
        return method

    # -- resolve and recover -----------------------------------------------------------------------

    def resolve(self, reference: str, actor: str, *, not_before: _dt.datetime | None = None) -> Order:
        """Bring one order as far as it can go now (the in-doubt rule of the module docstring).
        *not_before*: an unsettled bill's failed refund is tried again only if it failed then or before."""
        row = self._book.load(reference)
        if row.status in FINAL_STATES:
            return order_of(row)
        method = self.method(row.method)
        if row.kind == OrderKind.REFUND:
            order = self._apply_refund(reference, method.query(reference), actor, query=True)
            if order.status == OrderStatus.REFUNDED and row.parent_reference is not None:
                self._return_if_refunded(row.parent_reference, actor)
            return order
        if row.status == OrderStatus.CHARGED:
            return self.settle(reference, actor)
        if row.status == OrderStatus.UNSETTLED:
            return self.give_back(reference, actor, not_before=not_before)
        return self._apply_charge(reference, method.query(reference), actor, query=True)

    def recover(self, cutoff: _dt.datetime, *, quiet: bool = False) -> RecoveryReport:
        """Audit what a kill left unaudited, then resolve every order not in a final state and last
        changed at *cutoff* or before. *quiet*: no audit record of a recovery that found nothing."""
        self._book.publish_backlog(cutoff)
        with self._book.read() as session:
            references = list(
                session.scalars(
                    select(PaymentOrderRow.reference)
                    .where(
                        PaymentOrderRow.status.in_(sorted(OPEN_STATES)),
                        PaymentOrderRow.updated_at <= cutoff,
                    )
                    .order_by(PaymentOrderRow.id)
                )
            )
        resolved: list[Order] = []
        unresolved: list[Order] = []
        for reference in references:
            try:
                order = self.resolve(reference, "recovery", not_before=cutoff)
            except PaymentError as exc:
                _log.warning("payments recover %s: %s", reference, exc.message)
                order = order_of(self._book.load(reference))
            (resolved if order.final else unresolved).append(order)
        # Refund orders created while recovering (a bill the HIS refused) are finished too.
        if quiet and not resolved and not unresolved:
            return RecoveryReport((), ())
        self._book.audit(
            "recovery",
            "recover",
            "done" if not unresolved else "in_doubt",
            None,
            None,
            {"resolved": len(resolved), "unresolved": len(unresolved)},
        )
        return RecoveryReport(tuple(resolved), tuple(unresolved))

    # -- charge ------------------------------------------------------------------------------------

    def charge(self, reference: str, actor: str, *, row: PaymentOrderRow | None = None) -> Order:
        """Ask the method to charge the pending order *reference*, and record its answer. *row*: the order
        as just committed by the caller (what is read of it never changes), so it is not read again."""
        if row is None or row.reference != reference:
            row = self._book.load(reference)
        method = self.method(row.method)
        self._crash("intent_recorded")
        result = method.charge(reference, row.amount_fen, _patient(row), idempotency_key=reference)
        self._crash("method_answered")
        return self._apply_charge(reference, result, actor, query=False)

    def _apply_charge(self, reference: str, result: MethodResult, actor: str, *, query: bool) -> Order:
        status = result.status
        if status is MethodStatus.APPROVED:
            moved: list[PaymentOrderRow] = []

            def charged(session: Session, row: PaymentOrderRow) -> None:
                method = self.method(row.method)
                bill = row.kind == OrderKind.BILL
                target = HIS_REVENUE if bill else prepaid_account(row.card_number)
                self._ledger.post(
                    session,
                    reference,
                    "payment" if bill else "top_up",
                    [debit(method.clearing_account, row.amount_fen), credit(target, row.amount_fen)],
                    method=method.name,
                    order_reference=reference,
                )
                row.method_transaction_id = result.transaction_id
                moved[:] = [row]

            order = self._book.move(reference, lambda row: paid_status(row.kind), charged, actor, "charge")
            if order.status == OrderStatus.CHARGED:
                self._crash("ledger_posted")
                # This call moved it (the row as committed), or another did (read it).
                return self.settle(reference, actor, row=moved[0] if moved else None)
            return order
        if status is MethodStatus.DECLINED:
            to, code = OrderStatus.DECLINED, "declined"
        elif status is MethodStatus.NOT_FOUND or (status is MethodStatus.UNAVAILABLE and not query):
            to, code = OrderStatus.FAILED, "not_charged" if query else "method_unavailable"
        else:  # in doubt: no answer, or (for a query) the method could not be asked
            to, code = OrderStatus.IN_DOUBT, "in_doubt"

        def mark(session: Session, row: PaymentOrderRow) -> None:
            if status is MethodStatus.NOT_FOUND:
                self._close(session, row)
            row.error_code, row.message = code, _message(result)

        try:
            return self._book.move(reference, to, mark, actor, "charge")
        except _PostedAfterAll as late:
            return self._apply_charge(reference, late.result, actor, query=True)

    def _close(self, session: Session, row: PaymentOrderRow) -> None:
        """In the transaction that fails *row* as unknown at its method: close the reference at an
        in-database method (the gateway closed it when asked); :class:`_PostedAfterAll` when the method's
        posting is there after all (it landed meanwhile), and nothing is changed."""
        method = self.method(row.method)
        if isinstance(method, InDatabaseMethod):
            answer = method.close_reference(session, row.reference)
            if answer.status is MethodStatus.APPROVED:
                raise _PostedAfterAll(answer)

    # -- settle ------------------------------------------------------------------------------------

    def settle(self, reference: str, actor: str, *, row: PaymentOrderRow | None = None) -> Order:
        """Tell the HIS the charged bill *reference* is paid. If the HIS refuses it for good, the money
        goes back (an automatic refund order); if it cannot be asked now, the order stays charged.
        *row*: the order as the caller just committed it charged, so it is not read again."""
        if row is None or row.reference != reference:
            row = self._book.load(reference)
        if row.status != OrderStatus.CHARGED or row.bill_id is None:
            return order_of(row)
        try:
            self._his.settle_bill(
                _patient(row),
                row.bill_id,
                payment_reference=reference,
                amount_fen=row.amount_fen,
                idempotency_key=f"payments:{reference}",
            )
        except HisRejected as exc:
            # The HIS will never take this payment (bill settled by another, cancelled, amount changed):
            # the money goes back.
            code, message = exc.code, exc.message[:200]

            def unsettled(session: Session, order: PaymentOrderRow) -> None:
                order.error_code, order.message = code, message

            order = self._book.move(reference, OrderStatus.UNSETTLED, unsettled, actor, "settle")
            if order.status != OrderStatus.UNSETTLED:
                return order
            self._crash("refund_due")
            return self.give_back(reference, actor)
        except _HisError as exc:
            # Unreachable, or an answer that says nothing sure (the HIS may have settled): paid, the HIS
            # outcome unknown; stays charged and is settled (same key) by a later resolve/recover.
            _log.warning("payments %s: HIS settlement not done now: %s", reference, exc.message)
            return order_of(row)
        self._crash("his_settled")
        return self._book.move(reference, OrderStatus.SETTLED, None, actor, "settle")

    # -- give back ---------------------------------------------------------------------------------

    def give_back(self, reference: str, actor: str, *, not_before: _dt.datetime | None = None) -> Order:
        """Bring the money of the unsettled bill *reference* back: its automatic refund is run (pending),
        asked about (in doubt), or — none yet, or every one failed — made anew (``auto-refund:<ref>``,
        then ``auto-refund:<ref>:<n>``); the bill is ``returned`` once a refund of its whole amount is
        ``refunded``. While one is in doubt no other is made: the bill stays unsettled and open.
        *not_before* (recovery's cutoff): a failed attempt younger than it is left to the next round, so
        a method that stays down costs one attempt per ``min_age``, not one per sweep."""
        row = self._book.load(reference)
        if row.status != OrderStatus.UNSETTLED:
            return order_of(row)
        refunds = self._auto_refunds(reference)
        for refund in refunds:
            if refund.status == OrderStatus.PENDING:  # recorded, maybe never sent: the same again
                self.run_refund(refund.reference, actor)
            elif refund.status == OrderStatus.IN_DOUBT:
                self._apply_refund(
                    refund.reference, self.method(refund.method).query(refund.reference), actor, query=True
                )
        refunds = self._auto_refunds(reference)
        waiting = bool(refunds) and not_before is not None and refunds[-1].updated_at > not_before
        if all(r.status == OrderStatus.FAILED for r in refunds) and not waiting:
            attempt = len(refunds) + 1
            key, request = f"auto-refund:{reference}", request_hash("auto-refund", reference)
            if attempt > 1:
                key, request = f"{key}:{attempt}", request_hash("auto-refund", reference, attempt)
            new = self.start_refund(
                _AUTO_CLIENT, key, request, reference, row.amount_fen, _patient(row), auto=True
            )
            self.run_refund(new, actor)
        return self._return_if_refunded(reference, actor)

    def _auto_refunds(self, reference: str) -> list[PaymentOrderRow]:
        with self._book.read() as session:
            return list(
                session.scalars(
                    select(PaymentOrderRow)
                    .where(
                        PaymentOrderRow.parent_reference == reference,
                        PaymentOrderRow.client_id == _AUTO_CLIENT,
                        PaymentOrderRow.kind == OrderKind.REFUND.value,
                    )
                    .order_by(PaymentOrderRow.id)
                )
            )

    def _return_if_refunded(self, reference: str, actor: str) -> Order:
        """The unsettled bill *reference* moved to returned if its refunds gave the whole amount back."""
        row = self._book.load(reference)
        if row.status != OrderStatus.UNSETTLED:
            return order_of(row)
        back = sum(r.amount_fen for r in self._auto_refunds(reference) if r.status == OrderStatus.REFUNDED)
        if back < row.amount_fen:
            return order_of(row)
        return self._book.move(reference, OrderStatus.RETURNED, None, actor, "return")

    # -- refund ------------------------------------------------------------------------------------

    def start_refund(
        self,
        client_id: str,
        key: str,
        request: str,
        parent_reference: str,
        amount_fen: int,
        patient: Patient,
        *,
        auto: bool = False,
    ) -> str:
        """The reference of the refund order stored under *client_id*'s *key*: a new one is recorded with
        its ledger transaction in one database transaction (the money is set aside before the method is
        asked, so it cannot be spent meanwhile). *auto*: the service's own refund of an unsettled bill."""
        new_reference = "RF" + secrets.token_hex(8).upper()

        def create(session: Session) -> PaymentOrderRow:
            parent = session.scalar(
                select(PaymentOrderRow).where(PaymentOrderRow.reference == parent_reference).with_for_update()
            )
            if parent is None or parent.card_number != patient.card_number or parent.kind == OrderKind.REFUND:
                raise OrderNotFound(f"no order {parent_reference!r} to refund")
            if parent.status not in (_AUTO_REFUNDABLE if auto else _REFUNDABLE):
                raise PaymentRejected(
                    f"order is {parent.status}: only a settled order can be refunded",
                    message_zh="该订单不能退款",
                )
            refunded = session.scalar(
                select(func.coalesce(func.sum(PaymentOrderRow.amount_fen), 0)).where(
                    PaymentOrderRow.parent_reference == parent_reference,
                    PaymentOrderRow.status != OrderStatus.FAILED.value,
                )
            )
            if int(refunded or 0) + amount_fen > parent.amount_fen:
                raise PaymentRejected(
                    "more than was paid",
                    message_zh="退款金额超过支付金额",
                    details={"refundable_fen": parent.amount_fen - int(refunded or 0)},
                )
            method = self.method(parent.method)
            source = HIS_REVENUE if parent.kind == OrderKind.BILL else prepaid_account(parent.card_number)
            now = self._clock()
            row = PaymentOrderRow(
                reference=new_reference,
                client_id=client_id,
                idempotency_key=key,
                request_hash=request,
                kind=OrderKind.REFUND.value,
                method=parent.method,
                card_number=parent.card_number,
                patient_name=parent.patient_name,
                bill_id=parent.bill_id,
                parent_reference=parent_reference,
                amount_fen=amount_fen,
                status=OrderStatus.PENDING.value,
                created_at=now,
                updated_at=now,
            )
            self._book.add(session, row, client_id, {"parent": parent_reference})
            self._ledger.post(
                session,
                new_reference,
                "refund",
                [debit(source, amount_fen), credit(method.clearing_account, amount_fen)],
                method=method.name,
                order_reference=new_reference,
            )
            return row

        row, created = self._book.once(client_id, key, request, create)
        if created:
            self._book.publish_created(row.reference)
        return row.reference

    def run_refund(self, reference: str, actor: str) -> Order:
        """Ask the method to refund the refund order *reference* (unless it is final), and record it."""
        row = self._book.load(reference)
        if row.status in FINAL_STATES or row.parent_reference is None:
            return order_of(row)
        self._crash("refund_recorded")
        result = self.method(row.method).refund(row.parent_reference, row.amount_fen, reference)
        self._crash("refund_answered")
        return self._apply_refund(reference, result, actor, query=False)

    def _apply_refund(self, reference: str, result: MethodResult, actor: str, *, query: bool) -> Order:
        status = result.status
        if status is MethodStatus.APPROVED:

            def done(session: Session, row: PaymentOrderRow) -> None:
                row.method_transaction_id = result.transaction_id

            return self._book.move(reference, OrderStatus.REFUNDED, done, actor, "refund")
        if status in (MethodStatus.DECLINED, MethodStatus.NOT_FOUND) or (
            status is MethodStatus.UNAVAILABLE and not query
        ):

            def failed(session: Session, row: PaymentOrderRow) -> None:
                if status is MethodStatus.NOT_FOUND:
                    self._close(session, row)
                # Append-only ledger: the set-aside money comes back by a reversing transaction.
                self._ledger.reverse(session, reference, f"{reference}:reversal", memo="refund not done")
                row.error_code = "refund_" + status.value
                row.message = _message(result)

            try:
                return self._book.move(reference, OrderStatus.FAILED, failed, actor, "refund")
            except _PostedAfterAll as late:
                return self._apply_refund(reference, late.result, actor, query=True)

        def doubt(session: Session, row: PaymentOrderRow) -> None:
            row.error_code, row.message = "in_doubt", _message(result)

        return self._book.move(reference, OrderStatus.IN_DOUBT, doubt, actor, "refund")


def _patient(row: PaymentOrderRow) -> Patient:
    return Patient(row.card_number, row.patient_name)


def _message(result: MethodResult) -> str | None:
    return (result.message or None) and result.message[:200]
