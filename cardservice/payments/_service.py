"""The payments service: orders (bill payments, prepaid top-ups, refunds), each step idempotent, every
state change recorded (``payments_events``, same transaction) and audited.

Order states::

    bill:    pending ─┬─> charged ──> settled            (HIS bill settled with the order reference)
                      │          └──> unsettled          (HIS refused: the money goes back by a refund order)
                      ├─> declined | failed             (no money taken)
                      └─> in_doubt ─> (as pending, once the method answers a query)
    top_up:  pending ─> settled | declined | failed | in_doubt
    refund:  pending ─> refunded | failed | in_doubt     (ledger posted with the order; reversed on failure)

**Intent first.** An order is committed as ``pending`` before its method is called, so a daemon killed
at any point leaves a row that says what was being done. ``recover()`` (at daemon start) and
``resolve()`` finish every order that is not final by asking the method (``query``), never guessing:
approved → post the ledger and settle the HIS bill; declined / unknown at the method → failed; no answer
→ stays ``in_doubt`` and is reported. The ledger posting and the state change commit together; the HIS
settlement carries a key derived from the order reference, so doing it again is harmless.

**Idempotency.** An order is unique per (client_id, idempotency_key): the same key with the same
request returns the stored order (and only the caller that created it calls the method: 50 concurrent
calls charge once); with another request it is :class:`IdempotencyConflict`.

``crash_at`` is called with the name of each step (:data:`CRASH_POINTS`) — tests raise there to kill
the service at that point.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from cardservice.healthcard import mask_id_number
from cardservice.his import HisConnector, HisRejected, Patient
from cardservice.his import HisError as _HisError
from cardservice.payments._errors import (
    IdempotencyConflict,
    OrderNotFound,
    PaymentError,
    PaymentRejected,
    PaymentUnavailable,
)
from cardservice.payments._ledger import HIS_REVENUE, Ledger, credit, debit, prepaid_account
from cardservice.payments._methods import MethodResult, MethodStatus, PaymentMethod
from cardservice.payments._reconcile import ReconciliationReport, reconcile
from cardservice.store import Database, PaymentEventRow, PaymentOrderRow, describe

__all__ = ["CRASH_POINTS", "FINAL_STATES", "AuditSink", "Order", "Payments", "RecoveryReport"]

_log = logging.getLogger("cardservice.payments")
_T = TypeVar("_T")

FINAL_STATES = frozenset({"settled", "declined", "failed", "unsettled", "refunded"})
_OPEN = ("pending", "in_doubt", "charged")
#: Where ``crash_at`` is called, in the order they happen.
CRASH_POINTS = (
    "intent_recorded",  # order committed pending; the method not yet called
    "method_answered",  # the method charged (or refused); nothing recorded about it yet
    "ledger_posted",  # charged + ledger committed; HIS not yet told
    "his_settled",  # HIS settled; the order not yet marked settled
    "refund_recorded",  # refund order + its ledger posting committed; the method not yet called
    "refund_answered",  # the method refunded; not yet recorded
)
_KEY = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_AUTO_CLIENT = "payments"


class AuditSink(Protocol):
    """The shape of :meth:`cardservice.audit.AuditLog.record`."""

    def __call__(
        self,
        *,
        actor: str,
        action: str,
        result: str,
        card: str | None = ...,
        target: str | None = ...,
        detail: Mapping[str, object] | None = ...,
    ) -> object: ...


@dataclasses.dataclass(frozen=True)
class Order:
    """An order as the API shows it (the card number masked)."""

    reference: str
    kind: str  # bill / top_up / refund
    method: str
    status: str
    amount_fen: int
    card: str  # masked card number
    bill_id: str | None
    parent_reference: str | None
    method_transaction_id: str | None
    error_code: str | None
    message: str | None
    created_at: _dt.datetime
    updated_at: _dt.datetime

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATES


@dataclasses.dataclass(frozen=True)
class RecoveryReport:
    """What :meth:`Payments.recover` did: orders it finished, and those still in doubt (the method could
    not be asked: they need another recover() later, or a person)."""

    resolved: tuple[Order, ...]
    unresolved: tuple[Order, ...]


def _order(row: PaymentOrderRow) -> Order:
    return Order(
        reference=row.reference,
        kind=row.kind,
        method=row.method,
        status=row.status,
        amount_fen=row.amount_fen,
        card=mask_id_number(row.card_number),
        bill_id=row.bill_id,
        parent_reference=row.parent_reference,
        method_transaction_id=row.method_transaction_id,
        error_code=row.error_code,
        message=row.message,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _hash(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


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
    ``AuditLog.record``; ``crash_at``: tests only."""

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
        self._db = database
        self._his = his
        self._methods = {m.name: m for m in methods}
        self.ledger = ledger or Ledger(database, clock=clock)
        self._audit = audit
        self._clock = clock
        self._crash = crash_at

    @property
    def methods(self) -> Mapping[str, PaymentMethod]:
        return dict(self._methods)

    # -- the API -----------------------------------------------------------------------------------

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
        ``charged`` (paid, the HIS not reachable: settled by a later resolve/recover)."""
        _amount(amount_fen)
        self._method(method)
        request = _hash("bill", patient.card_number, bill_id, amount_fen, method)
        existing = self._lookup(client_id, idempotency_key, request)
        if existing is not None:
            return self._replay(existing)
        self._check_bill(patient, bill_id, amount_fen)
        row, created = self._create(
            client_id,
            idempotency_key,
            request,
            kind="bill",
            method=method,
            patient=patient,
            amount_fen=amount_fen,
            bill_id=bill_id,
            prefix="PO",
        )
        if not created:
            return self._replay(row)
        return self._charge(row.reference, client_id)

    def top_up(
        self, client_id: str, idempotency_key: str, patient: Patient, amount_fen: int, method: str
    ) -> Order:
        """Put money on the patient's prepaid account (充值), paid by *method* (the gateway, a cash desk)."""
        _amount(amount_fen)
        if method == "prepaid":
            raise PaymentRejected("a prepaid account is not topped up from itself", message_zh="充值方式错误")
        self._method(method)
        request = _hash("top_up", patient.card_number, amount_fen, method)
        existing = self._lookup(client_id, idempotency_key, request)
        if existing is not None:
            return self._replay(existing)
        row, created = self._create(
            client_id,
            idempotency_key,
            request,
            kind="top_up",
            method=method,
            patient=patient,
            amount_fen=amount_fen,
            prefix="TU",
        )
        if not created:
            return self._replay(row)
        return self._charge(row.reference, client_id)

    def refund(
        self, client_id: str, idempotency_key: str, patient: Patient, order_reference: str, amount_fen: int
    ) -> Order:
        """Give back *amount_fen* of the patient's ``settled`` order through the method it was paid with: a
        top-up (the prepaid balance goes down first: never below zero), or a bill payment (退费 — the HIS
        side of a refunded bill is the counter's business; the HIS connector has no "unsettle")."""
        _amount(amount_fen)
        request = _hash("refund", patient.card_number, order_reference, amount_fen)
        existing = self._lookup(client_id, idempotency_key, request)
        if existing is not None:
            return self._replay(existing)
        reference = self._start_refund(
            client_id, idempotency_key, request, order_reference, amount_fen, patient
        )
        return self._run_refund(reference, client_id)

    def balance(self, patient: Patient) -> int:
        """The patient's prepaid balance (fen)."""
        try:
            return self.ledger.balance(prepaid_account(patient.card_number))
        except SQLAlchemyError as exc:
            raise PaymentUnavailable(f"payments database: {describe(exc)}") from None

    def get_order(self, reference: str, *, patient: Patient | None = None) -> Order:
        """The order *reference*; with *patient*, only if it is that patient's (else
        :class:`OrderNotFound`)."""
        with self._read() as session:
            row = session.scalar(select(PaymentOrderRow).where(PaymentOrderRow.reference == reference))
            if row is None or (patient is not None and row.card_number != patient.card_number):
                raise OrderNotFound(f"no order {reference!r}")
            return _order(row)

    def orders(self, patient: Patient) -> list[Order]:
        """The patient's orders, newest first."""
        with self._read() as session:
            rows = session.scalars(
                select(PaymentOrderRow)
                .where(PaymentOrderRow.card_number == patient.card_number)
                .order_by(PaymentOrderRow.id.desc())
            )
            return [_order(r) for r in rows]

    def resolve(self, reference: str, *, actor: str = "recovery") -> Order:
        """Bring one order as far as it can go now (the in-doubt rule of the module docstring)."""
        row = self._load(reference)
        if row.status in FINAL_STATES:
            return _order(row)
        method = self._method(row.method)
        if row.kind == "refund":
            return self._apply_refund(reference, method.query(reference), actor, query=True)
        if row.status == "charged":
            return self._settle(reference, actor)
        return self._apply_charge(reference, method.query(reference), actor, query=True)

    def recover(self, *, min_age: _dt.timedelta = _dt.timedelta(0)) -> RecoveryReport:
        """At daemon start: resolve every order not in a final state and last changed at least *min_age*
        ago (with several daemons on one database, give the longest time a payment step can take, so
        another daemon's order in progress is left to it)."""
        cutoff = self._clock() - min_age
        with self._read() as session:
            references = list(
                session.scalars(
                    select(PaymentOrderRow.reference)
                    .where(PaymentOrderRow.status.in_(_OPEN), PaymentOrderRow.updated_at <= cutoff)
                    .order_by(PaymentOrderRow.id)
                )
            )
        resolved: list[Order] = []
        unresolved: list[Order] = []
        for reference in references:
            try:
                order = self.resolve(reference)
            except PaymentError as exc:
                _log.warning("payments recover %s: %s", reference, exc.message)
                order = self.get_order(reference)
            (resolved if order.final else unresolved).append(order)
        # Refund orders created while recovering (a bill the HIS refused) are finished too.
        self._audit_call(
            "recovery",
            "recover",
            "done" if not unresolved else "in_doubt",
            None,
            None,
            {"resolved": len(resolved), "unresolved": len(unresolved)},
        )
        return RecoveryReport(tuple(resolved), tuple(unresolved))

    def reconcile(self, day: _dt.date) -> ReconciliationReport:
        """The 对账 report of hospital day *day* (Beijing time) over every method of this service."""
        return reconcile(self.ledger, self._methods.values(), day)

    # -- steps -------------------------------------------------------------------------------------

    def _charge(self, reference: str, actor: str) -> Order:
        row = self._load(reference)
        method = self._method(row.method)
        self._crash("intent_recorded")
        result = method.charge(reference, row.amount_fen, self._patient(row), idempotency_key=reference)
        self._crash("method_answered")
        return self._apply_charge(reference, result, actor, query=False)

    def _apply_charge(self, reference: str, result: MethodResult, actor: str, *, query: bool) -> Order:
        status = result.status
        if status is MethodStatus.APPROVED:

            def charged(session: Session, row: PaymentOrderRow) -> str:
                method = self._method(row.method)
                target = HIS_REVENUE if row.kind == "bill" else prepaid_account(row.card_number)
                self.ledger.post(
                    session,
                    reference,
                    "payment" if row.kind == "bill" else "top_up",
                    [debit(method.clearing_account, row.amount_fen), credit(target, row.amount_fen)],
                    method=method.name,
                    order_reference=reference,
                )
                row.method_transaction_id = result.transaction_id
                return "charged" if row.kind == "bill" else "settled"

            order = self._transition(reference, ("pending", "in_doubt"), charged, actor, "charge")
            if order.status == "charged":
                self._crash("ledger_posted")
                return self._settle(reference, actor)
            return order
        if status is MethodStatus.DECLINED:
            to, code = "declined", "declined"
        elif status is MethodStatus.NOT_FOUND or (status is MethodStatus.UNAVAILABLE and not query):
            to, code = "failed", "not_charged" if query else "method_unavailable"
        else:  # in doubt: no answer, or (for a query) the method could not be asked
            to, code = "in_doubt", "in_doubt"

        def mark(session: Session, row: PaymentOrderRow) -> str:
            row.error_code, row.message = code, (result.message or None) and result.message[:200]
            return to

        allowed = ("pending", "in_doubt")
        return self._transition(reference, allowed, mark, actor, "charge")

    def _settle(self, reference: str, actor: str) -> Order:
        row = self._load(reference)
        if row.status != "charged" or row.bill_id is None:
            return _order(row)
        try:
            self._his.settle_bill(
                self._patient(row),
                row.bill_id,
                payment_reference=reference,
                amount_fen=row.amount_fen,
                idempotency_key=f"payments:{reference}",
            )
        except HisRejected as exc:
            # The HIS will never take this payment (bill settled by another, cancelled, amount changed):
            # the money goes back.
            code, message = exc.code, exc.message[:200]

            def unsettled(session: Session, order: PaymentOrderRow) -> str:
                order.error_code, order.message = code, message
                return "unsettled"

            order = self._transition(reference, ("charged",), unsettled, actor, "settle")
            refund = self._start_refund(
                _AUTO_CLIENT,
                f"auto-refund:{reference}",
                _hash("auto-refund", reference),
                reference,
                row.amount_fen,
                self._patient(row),
                allow_unsettled=True,
            )
            self._run_refund(refund, actor)
            return self.get_order(order.reference)
        except _HisError as exc:
            # Unreachable, or an answer that says nothing sure (the HIS may have settled): paid, the HIS
            # outcome unknown; stays charged and is settled (same key) by a later resolve/recover.
            _log.warning("payments %s: HIS settlement not done now: %s", reference, exc.message)
            return _order(row)
        self._crash("his_settled")
        return self._transition(reference, ("charged",), lambda s, r: "settled", actor, "settle")

    def _start_refund(
        self,
        client_id: str,
        key: str,
        request: str,
        parent_reference: str,
        amount_fen: int,
        patient: Patient,
        *,
        allow_unsettled: bool = False,
    ) -> str:
        """Record the refund order and post its ledger transaction, in one database transaction (the
        money is set aside before the method is asked, so it cannot be spent meanwhile)."""
        _check_key(client_id, key)
        new_reference = "RF" + secrets.token_hex(8).upper()
        audits: list[tuple[str, str]] = []

        def work(session: Session) -> str:
            existing = session.scalar(
                select(PaymentOrderRow).where(
                    PaymentOrderRow.client_id == client_id, PaymentOrderRow.idempotency_key == key
                )
            )
            if existing is not None:
                if existing.request_hash != request:
                    raise IdempotencyConflict("idempotency key already used for another request")
                return existing.reference
            parent = session.scalar(
                select(PaymentOrderRow).where(PaymentOrderRow.reference == parent_reference).with_for_update()
            )
            if parent is None or parent.card_number != patient.card_number or parent.kind == "refund":
                raise OrderNotFound(f"no order {parent_reference!r} to refund")
            allowed = ("settled", "unsettled") if allow_unsettled else ("settled",)
            if parent.status not in allowed:
                raise PaymentRejected(
                    f"order is {parent.status}: only a settled order can be refunded",
                    message_zh="该订单不能退款",
                )
            refunded = session.scalar(
                select(func.coalesce(func.sum(PaymentOrderRow.amount_fen), 0)).where(
                    PaymentOrderRow.parent_reference == parent_reference, PaymentOrderRow.status != "failed"
                )
            )
            if int(refunded or 0) + amount_fen > parent.amount_fen:
                raise PaymentRejected(
                    "more than was paid",
                    message_zh="退款金额超过支付金额",
                    details={"refundable_fen": parent.amount_fen - int(refunded or 0)},
                )
            method = self._method(parent.method)
            source = HIS_REVENUE if parent.kind == "bill" else prepaid_account(parent.card_number)
            now = self._clock()
            row = PaymentOrderRow(
                reference=new_reference,
                client_id=client_id,
                idempotency_key=key,
                request_hash=request,
                kind="refund",
                method=parent.method,
                card_number=parent.card_number,
                patient_name=parent.patient_name,
                bill_id=parent.bill_id,
                parent_reference=parent_reference,
                amount_fen=amount_fen,
                status="pending",
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            self.ledger.post(
                session,
                new_reference,
                "refund",
                [debit(source, amount_fen), credit(method.clearing_account, amount_fen)],
                method=method.name,
                order_reference=new_reference,
            )
            session.add(
                PaymentEventRow(
                    order_reference=new_reference,
                    at=now,
                    actor=client_id,
                    from_status=None,
                    to_status="pending",
                    detail=_detail({"parent": parent_reference}),
                )
            )
            audits.append((new_reference, parent.card_number))
            return new_reference

        reference = self._write(work)
        for ref, card in audits:
            self._audit_call(
                client_id,
                "refund",
                "pending",
                card,
                ref,
                {"parent": parent_reference, "amount_fen": amount_fen},
            )
        return reference

    def _run_refund(self, reference: str, actor: str) -> Order:
        row = self._load(reference)
        if row.status in FINAL_STATES or row.parent_reference is None:
            return _order(row)
        self._crash("refund_recorded")
        result = self._method(row.method).refund(row.parent_reference, row.amount_fen, reference)
        self._crash("refund_answered")
        return self._apply_refund(reference, result, actor, query=False)

    def _apply_refund(self, reference: str, result: MethodResult, actor: str, *, query: bool) -> Order:
        status = result.status
        if status is MethodStatus.APPROVED:

            def done(session: Session, row: PaymentOrderRow) -> str:
                row.method_transaction_id = result.transaction_id
                return "refunded"

            return self._transition(reference, ("pending", "in_doubt"), done, actor, "refund")
        if status in (MethodStatus.DECLINED, MethodStatus.NOT_FOUND) or (
            status is MethodStatus.UNAVAILABLE and not query
        ):

            def failed(session: Session, row: PaymentOrderRow) -> str:
                # Append-only ledger: the set-aside money comes back by a reversing transaction.
                self.ledger.reverse(session, reference, f"{reference}:reversal", memo="refund not done")
                row.error_code = "refund_" + status.value
                row.message = (result.message or None) and result.message[:200]
                return "failed"

            return self._transition(reference, ("pending", "in_doubt"), failed, actor, "refund")

        def doubt(session: Session, row: PaymentOrderRow) -> str:
            row.error_code, row.message = "in_doubt", (result.message or None) and result.message[:200]
            return "in_doubt"

        return self._transition(reference, ("pending", "in_doubt"), doubt, actor, "refund")

    # -- plumbing ----------------------------------------------------------------------------------

    def _method(self, name: str) -> PaymentMethod:
        method = self._methods.get(name)
        if method is None:
            raise PaymentRejected(f"no payment method {name!r}", message_zh="不支持的支付方式")
        return method

    @staticmethod
    def _patient(row: PaymentOrderRow) -> Patient:
        return Patient(row.card_number, row.patient_name)

    def _check_bill(self, patient: Patient, bill_id: str, amount_fen: int) -> None:
        """Before any money moves: the bill is the patient's, outstanding, and totals *amount_fen*."""
        try:
            bills = self._his.bills(patient)
        except _HisError as exc:
            raise PaymentUnavailable(f"HIS: {exc.message}", message_zh=exc.message_zh) from None
        bill = next((b for b in bills if b.id == bill_id), None)
        if bill is None:
            raise PaymentRejected(
                f"no outstanding bill {bill_id!r} for this patient", message_zh="未找到待缴费账单"
            )
        if bill.total_fen != amount_fen:
            raise PaymentRejected(
                f"bill {bill_id!r} totals {bill.total_fen} fen",
                message_zh="缴费金额与账单不符",
                details={"expected_fen": bill.total_fen, "amount_fen": amount_fen},
            )

    def _lookup(self, client_id: str, key: str, request: str) -> PaymentOrderRow | None:
        _check_key(client_id, key)
        with self._read() as session:
            row = session.scalar(
                select(PaymentOrderRow).where(
                    PaymentOrderRow.client_id == client_id, PaymentOrderRow.idempotency_key == key
                )
            )
        if row is not None and row.request_hash != request:
            raise IdempotencyConflict("idempotency key already used for another request")
        return row

    def _replay(self, row: PaymentOrderRow) -> Order:
        """The stored answer. An order in doubt or waiting for the HIS is pushed on (a retry is the
        natural moment to ask again); a pending one may be in flight in another call: returned as is."""
        if row.status in ("in_doubt", "charged"):
            return self.resolve(row.reference, actor=row.client_id)
        return _order(row)

    def _create(
        self,
        client_id: str,
        key: str,
        request: str,
        *,
        kind: str,
        method: str,
        patient: Patient,
        amount_fen: int,
        prefix: str,
        bill_id: str | None = None,
    ) -> tuple[PaymentOrderRow, bool]:
        now = self._clock()
        row = PaymentOrderRow(
            reference=prefix + secrets.token_hex(8).upper(),
            client_id=client_id,
            idempotency_key=key,
            request_hash=request,
            kind=kind,
            method=method,
            card_number=patient.card_number,
            patient_name=patient.name,
            bill_id=bill_id,
            amount_fen=amount_fen,
            status="pending",
            created_at=now,
            updated_at=now,
        )
        try:
            with self._db.session() as session:
                session.add(row)
                session.add(
                    PaymentEventRow(
                        order_reference=row.reference,
                        at=now,
                        actor=client_id,
                        from_status=None,
                        to_status="pending",
                        detail=_detail({"kind": kind, "method": method}),
                    )
                )
        except IntegrityError:
            # Another call with this key won: replay its order.
            existing = self._lookup(client_id, key, request)
            if existing is None:
                raise PaymentUnavailable("payments database: the order could not be recorded") from None
            return existing, False
        except SQLAlchemyError as exc:
            raise PaymentUnavailable(f"payments database: {describe(exc)}") from None
        self._audit_call(
            client_id,
            "order",
            "pending",
            patient.card_number,
            row.reference,
            {"kind": kind, "method": method, "amount_fen": amount_fen, "bill": bill_id},
        )
        return row, True

    def _load(self, reference: str) -> PaymentOrderRow:
        with self._read() as session:
            row = session.scalar(select(PaymentOrderRow).where(PaymentOrderRow.reference == reference))
        if row is None:
            raise OrderNotFound(f"no order {reference!r}")
        return row

    def _transition(
        self,
        reference: str,
        allowed: tuple[str, ...],
        change: Callable[[Session, PaymentOrderRow], str],
        actor: str,
        action: str,
    ) -> Order:
        """Lock the order; if it is still in one of *allowed*, apply *change* (which may post to the
        ledger in the same transaction) and record the new state. Otherwise someone else moved it on:
        the order as it is now."""
        moved: list[tuple[str, str]] = []

        def work(session: Session) -> Order:
            row = session.scalar(
                select(PaymentOrderRow)
                .where(PaymentOrderRow.reference == reference)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            if row is None:
                raise OrderNotFound(f"no order {reference!r}")
            if row.status not in allowed:
                return _order(row)
            before = row.status
            to = change(session, row)
            if to != before or row.status != to:
                row.status = to
                row.updated_at = self._clock()
                session.add(
                    PaymentEventRow(
                        order_reference=reference,
                        at=row.updated_at,
                        actor=actor[:128],
                        from_status=before,
                        to_status=to,
                        detail=_detail({"code": row.error_code}),
                    )
                )
                moved.append((before, to))
            session.flush()
            return _order(row)

        order = self._write(work)
        for before, to in moved:
            with self._read() as session:
                card = session.scalar(
                    select(PaymentOrderRow.card_number).where(PaymentOrderRow.reference == reference)
                )
            self._audit_call(
                actor,
                action,
                to,
                card,
                reference,
                {
                    "from": before,
                    "amount_fen": order.amount_fen,
                    "method": order.method,
                    "code": order.error_code,
                },
            )
        return order

    def _write(self, work: Callable[[Session], _T]) -> _T:
        for attempt in (1, 2):
            try:
                with self._db.session() as session:
                    return work(session)
            except IntegrityError as exc:  # a concurrent insert of the same key/reference: look again
                if attempt == 2:
                    raise PaymentUnavailable(f"payments database: {describe(exc)}") from None
            except SQLAlchemyError as exc:
                raise PaymentUnavailable(f"payments database: {describe(exc)}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with self._db.session(readonly=True) as session:
                yield session
        except SQLAlchemyError as exc:
            raise PaymentUnavailable(f"payments database: {describe(exc)}") from None

    def _audit_call(
        self,
        actor: str,
        action: str,
        result: str,
        card_number: str | None,
        target: str | None,
        detail: Mapping[str, Any],
    ) -> None:
        _log.info(
            "payment.%s %s %s %s",
            action,
            target or "-",
            result,
            mask_id_number(card_number) if card_number else "-",
        )
        if self._audit is None:
            return
        try:
            self._audit(
                actor=actor,
                action=f"payment.{action}",
                result=result,
                card=mask_id_number(card_number) if card_number else None,
                target=target,
                detail={k: v for k, v in detail.items() if v is not None},
            )
        except Exception:  # the state change is committed and in payments_events: log, go on
            _log.exception("payments: audit record of %s failed", target)


def _check_key(client_id: str, key: str) -> None:
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= 128:
        raise PaymentRejected("client_id: 1-128 characters")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise PaymentRejected(
            "idempotency key: 1-128 characters of A-Za-z0-9._:-", message_zh="请求标识格式错误"
        )


def _detail(values: Mapping[str, object]) -> str:
    return json.dumps({k: v for k, v in values.items() if v is not None}, sort_keys=True, ensure_ascii=False)
