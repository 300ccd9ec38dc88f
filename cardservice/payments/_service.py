"""The payments service: orders (bill payments, prepaid top-ups, refunds), each step idempotent, every
state change recorded (``payments_events``, same transaction) and audited.

Where each part lives: the order kinds, states and their lifecycles in ``_orders`` (the state diagram
is drawn there); the orders in the database — stored under their keys, moved along their lifecycle —
in ``_book``; the charge, settle and refund steps, ``resolve`` and ``recover`` in ``_steps``. This module
is the API the ``/v1/payments`` routes call: it checks a request, looks up its key, and starts the steps.

**Intent first.** An order is committed as ``pending`` before its method is called, so a daemon killed
at any point leaves a row that says what was being done. ``recover()`` (at daemon start) and
``resolve()`` finish every order that is not final by asking the method (``query``), never guessing.

**Idempotency** (:mod:`cardservice.store`'s, shared with the HIS and the print queue). An order is
unique per (client_id, idempotency_key): the same key with the same request returns the stored order
(and only the caller that created it calls the method: 50 concurrent calls charge once); with another
request it is :class:`~cardservice.errors.IdempotencyConflict`. A key is looked up (read only) before
the HIS is asked about the bill, and stored with the order in one transaction.

**A bill is paid once.** Another key for a bill that an order holds (being paid, paid, its money on the
way back: :data:`~cardservice.payments._orders.BILL_HOLDING_STATES`) is :class:`BillInPayment`, before
any method is asked: looked up before the HIS is asked, and refused in the transaction that would
record the order by the database's partial unique index (so also between daemons).

**Recovery.** :meth:`Payments.recover` at daemon start, then :meth:`Payments.start_recovery` in the
background; both leave orders younger than *min_age* to the daemon (perhaps another one) making them.
"""

from __future__ import annotations

import datetime as _dt
import secrets
from collections.abc import Callable, Iterable, Mapping

from sqlalchemy import Select, and_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cardservice.his import Bill, HisConnector, Patient
from cardservice.his import HisError as _HisError
from cardservice.payments._book import AuditSink, OrderBook, unavailable
from cardservice.payments._errors import (
    AmountMismatch,
    BillInPayment,
    OrderNotFound,
    PaymentRejected,
    PaymentUnavailable,
)
from cardservice.payments._ledger import Ledger, prepaid_account
from cardservice.payments._methods import PaymentMethod
from cardservice.payments._orders import (
    BILL_HOLDING_STATES,
    Order,
    OrderKind,
    OrderStatus,
    RecoveryReport,
    order_of,
)
from cardservice.payments._reconcile import ReconciliationReport, reconcile
from cardservice.payments._recovery import RecoverySweep, seconds
from cardservice.payments._steps import Steps
from cardservice.store import Database, PaymentOrderRow, describe, request_hash

__all__ = ["Payments"]


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _no_crash(step: str) -> None:
    del step


def _amount(amount_fen: int) -> None:
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or not 0 < amount_fen <= 10**10:
        raise PaymentRejected("amount_fen: a positive integer (fen)", message_zh="金额格式错误")


class Payments:
    """The service the ``/v1/payments`` routes call. ``methods``: the payment methods by name (a
    ``PrepaidAccount`` under ``"prepaid"`` is what ``balance`` reads); ``audit``: e.g.
    ``AuditLog.record``; ``crash_at``: tests only (:data:`CRASH_POINTS`)."""

    def __init__(
        self,
        database: Database,
        his: HisConnector,
        methods: Iterable[PaymentMethod],
        *,
        ledger: Ledger | None = None,
        audit: AuditSink | None = None,
        clock: Callable[[], _dt.datetime] = _now,
        crash_at: Callable[[str], None] = _no_crash,
    ) -> None:
        self._his = his
        self._methods = {m.name: m for m in methods}
        self.ledger = ledger or Ledger(database, clock=clock)
        self._clock = clock
        self._book = OrderBook(database, audit=audit, clock=clock)
        self._steps = Steps(self._book, his, self._methods, self.ledger, clock=clock, crash_at=crash_at)
        self._sweep: RecoverySweep | None = None

    @property
    def methods(self) -> Mapping[str, PaymentMethod]:
        return dict(self._methods)

    def pay_bill(
        self,
        client_id: str,
        idempotency_key: str,
        patient: Patient,
        bill_id: str,
        amount_fen: int,
        method: str,
    ) -> Order:
        """Pay the patient's outstanding bill *bill_id* (its whole total) with *method*, then settle it at
        the HIS. Returns the order: ``settled`` when all went through; ``declined``/``failed`` (no money
        taken); ``in_doubt`` (the method did not answer: resolved by :meth:`resolve`/:meth:`recover`);
        ``charged`` (paid, the HIS not reachable: settled by a later resolve/recover); ``unsettled`` →
        ``returned`` (the HIS refused it: the money goes back). :class:`BillInPayment` when another order
        holds the bill; :class:`AmountMismatch` when *amount_fen* is not its total."""
        _amount(amount_fen)
        self._steps.method(method)
        request = request_hash("bill", patient.card_number, bill_id, amount_fen, method)
        # The key's order, or else the order holding the bill: one read.
        existing, holder = self._book.stored_and(
            client_id, idempotency_key, request,
            _holder(bill_id).where(PaymentOrderRow.card_number == patient.card_number),
        )  # fmt: skip
        if existing is not None:
            return self._replay(existing)
        if holder is not None:
            return self._held_by(holder, client_id, idempotency_key, request, bill_id)
        bill = self._outstanding(patient, bill_id)
        if bill is None:
            held = self._held(client_id, idempotency_key, request, patient, bill_id)  # paid meanwhile?
            if held is not None:
                return held
            raise PaymentRejected(
                f"no outstanding bill {bill_id!r} for this patient", message_zh="未找到待缴费账单"
            )
        if bill.total_fen != amount_fen:
            raise AmountMismatch(
                f"bill {bill_id!r} totals {bill.total_fen} fen",
                details={"expected_fen": bill.total_fen, "amount_fen": amount_fen},
            )
        return self._open(
            client_id, idempotency_key, request, OrderKind.BILL, method, patient, amount_fen, bill_id=bill_id
        )

    def top_up(
        self, client_id: str, idempotency_key: str, patient: Patient, amount_fen: int, method: str
    ) -> Order:
        """Put money on the patient's prepaid account (充值), paid by *method* (the gateway, a cash desk)."""
        _amount(amount_fen)
        if method == "prepaid":
            raise PaymentRejected("a prepaid account is not topped up from itself", message_zh="充值方式错误")
        self._steps.method(method)
        request = request_hash("top_up", patient.card_number, amount_fen, method)
        existing = self._book.stored(client_id, idempotency_key, request)
        if existing is not None:
            return self._replay(existing)
        return self._open(client_id, idempotency_key, request, OrderKind.TOP_UP, method, patient, amount_fen)

    def refund(
        self, client_id: str, idempotency_key: str, patient: Patient, order_reference: str, amount_fen: int
    ) -> Order:
        """Give back *amount_fen* of the patient's ``settled`` order through the method it was paid with: a
        top-up (the prepaid balance goes down first: never below zero), or a bill payment (退费 — the HIS
        side of a refunded bill is the counter's business; the HIS connector has no "unsettle")."""
        _amount(amount_fen)
        request = request_hash("refund", patient.card_number, order_reference, amount_fen)
        existing = self._book.stored(client_id, idempotency_key, request)
        if existing is not None:
            return self._replay(existing)
        reference = self._steps.start_refund(
            client_id, idempotency_key, request, order_reference, amount_fen, patient
        )
        return self._steps.run_refund(reference, client_id)

    def balance(self, patient: Patient) -> int:
        """The patient's prepaid balance (fen)."""
        try:
            return self.ledger.balance(prepaid_account(patient.card_number))
        except SQLAlchemyError as exc:
            raise unavailable(describe(exc)) from None

    def get_order(self, reference: str, *, patient: Patient | None = None) -> Order:
        """The order *reference*; with *patient*, only if it is that patient's (else
        :class:`OrderNotFound`)."""
        with self._book.read() as session:
            row = session.scalar(select(PaymentOrderRow).where(PaymentOrderRow.reference == reference))
            if row is None or (patient is not None and row.card_number != patient.card_number):
                raise OrderNotFound(f"no order {reference!r}")
            return order_of(row)

    def orders(self, patient: Patient) -> list[Order]:
        """The patient's orders, newest first."""
        with self._book.read() as session:
            rows = session.scalars(
                select(PaymentOrderRow)
                .where(PaymentOrderRow.card_number == patient.card_number)
                .order_by(PaymentOrderRow.id.desc())
            )
            return [order_of(r) for r in rows]

    def resolve(self, reference: str, *, actor: str = "recovery") -> Order:
        """Bring one order as far as it can go now: ask its method what became of it, never guess."""
        return self._steps.resolve(reference, actor)

    def recover(self, *, min_age: _dt.timedelta = _dt.timedelta(0), quiet: bool = False) -> RecoveryReport:
        """At daemon start: write the audit records a kill lost, then resolve every order not in a final
        state and last changed at least *min_age* ago (with several daemons on one database, give the
        longest time a payment step can take, so another daemon's order in progress is left to it).
        *quiet*: no audit record of a recovery that found nothing (the background sweep's rounds)."""
        return self._steps.recover(self._clock() - seconds(min_age, "min_age"), quiet=quiet)

    def start_recovery(self, *, min_age: float | _dt.timedelta, interval: float) -> None:
        """Recover in the background: every *interval* seconds, :meth:`recover` the orders last changed
        at least *min_age* seconds ago, on a daemon thread that never raises (a failed round is logged).
        The daemon calls it after its start-up :meth:`recover`; :meth:`stop_recovery` at shutdown."""
        if self._sweep is not None:
            raise RuntimeError("payments recovery already started")
        sweep = RecoverySweep(self.recover, min_age=seconds(min_age, "min_age"), interval=interval)
        sweep.start()
        self._sweep = sweep

    def stop_recovery(self, timeout: float | None = 30.0) -> None:
        """Stop the background recovery (after the round in progress, waiting at most *timeout*
        seconds for it); nothing when it is not running."""
        sweep, self._sweep = self._sweep, None
        if sweep is not None:
            sweep.stop(timeout)

    def reconcile(self, day: _dt.date) -> ReconciliationReport:
        """The 对账 report of hospital day *day* (Beijing time) over every method of this service."""
        return reconcile(self.ledger, self._methods.values(), day)

    # -- plumbing ----------------------------------------------------------------------------------

    def _outstanding(self, patient: Patient, bill_id: str) -> Bill | None:
        """Before any money moves: the patient's outstanding bill *bill_id* at the HIS, or ``None``."""
        try:
            bills = self._his.bills(patient)
        except _HisError as exc:
            raise PaymentUnavailable(f"HIS: {exc.message}", message_zh=exc.message_zh) from None
        return next((b for b in bills if b.id == bill_id), None)

    def _held(self, client_id: str, key: str, request: str, patient: Patient, bill_id: str) -> Order | None:
        """``None`` when no order of the patient holds the bill; the stored answer when the order holding
        it is this key's (stored by a concurrent call); else :class:`BillInPayment`."""
        with self._book.read() as session:
            holder = session.scalar(
                _holder(bill_id).where(PaymentOrderRow.card_number == patient.card_number)
            )
        if holder is None:
            return None
        return self._held_by(holder, client_id, key, request, bill_id)

    def _held_by(
        self, holder: PaymentOrderRow, client_id: str, key: str, request: str, bill_id: str
    ) -> Order:
        """What :meth:`_held` answers when *holder* holds the bill."""
        if (holder.client_id, holder.idempotency_key) == (client_id, key):
            return self._replay(self._book.stored(client_id, key, request) or holder)
        raise _bill_in_payment(bill_id)

    def _replay(self, row: PaymentOrderRow) -> Order:
        """The stored answer. An order in doubt, waiting for the HIS or for its money to go back is
        pushed on (a retry is the natural moment to ask again); a pending one may be in flight in another
        call: returned as is."""
        if row.status in (OrderStatus.IN_DOUBT, OrderStatus.CHARGED, OrderStatus.UNSETTLED):
            return self.resolve(row.reference, actor=row.client_id)
        return order_of(row)

    def _open(
        self,
        client_id: str,
        key: str,
        request: str,
        kind: OrderKind,
        method: str,
        patient: Patient,
        amount_fen: int,
        *,
        bill_id: str | None = None,
    ) -> Order:
        """Record the order ``pending`` under the key and charge it; if a concurrent call with the same
        key recorded it first, that call charges it: its order as it is."""
        prefix = "PO" if kind == OrderKind.BILL else "TU"

        def create(session: Session) -> PaymentOrderRow:
            # The bill is reserved with the order: another order holding it refuses this one here, and
            # the unique index refuses it when that order is being recorded concurrently (then once()
            # looks again, and this check sees it). This key's own order, committed by a concurrent
            # call since once() looked, is not another: the key's constraint makes once() replay it.
            if bill_id is not None:
                mine = and_(PaymentOrderRow.client_id == client_id, PaymentOrderRow.idempotency_key == key)
                if session.scalar(_holder(bill_id).where(~mine)) is not None:
                    raise _bill_in_payment(bill_id)
            now = self._clock()
            row = PaymentOrderRow(
                reference=prefix + secrets.token_hex(8).upper(),
                client_id=client_id,
                idempotency_key=key,
                request_hash=request,
                kind=kind.value,
                method=method,
                card_number=patient.card_number,
                patient_name=patient.name,
                bill_id=bill_id,
                amount_fen=amount_fen,
                status=OrderStatus.PENDING.value,
                created_at=now,
                updated_at=now,
            )
            self._book.add(session, row, client_id, {"kind": kind.value, "method": method})
            return row

        row, created = self._book.once(client_id, key, request, create)
        if not created:
            return self._replay(row)
        self._book.publish_created(row.reference)
        return self._steps.charge(row.reference, client_id, row=row)


def _holder(bill_id: str) -> Select[PaymentOrderRow]:
    """The bill order holding the bill *bill_id* (at most one: the unique index)."""
    return select(PaymentOrderRow).where(
        PaymentOrderRow.kind == OrderKind.BILL.value,
        PaymentOrderRow.bill_id == bill_id,
        PaymentOrderRow.status.in_(sorted(BILL_HOLDING_STATES)),
    )


def _bill_in_payment(bill_id: str) -> BillInPayment:
    return BillInPayment(
        f"bill {bill_id!r} is being paid or is paid by another order", details={"bill_id": bill_id}
    )
