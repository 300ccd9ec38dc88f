"""Payment methods behind one interface, :class:`PaymentMethod`, and the two that live in the project
database: the hospital prepaid account (:class:`PrepaidAccount`, 就诊卡账户) and the cash desk
(:class:`CashDesk`). The external gateway is :mod:`cardservice.payments._gateway`; the on-card bank
debit (PBOC) method implements the same protocol.

Every method moves money into its **clearing account** (``clearing_account``) and the payments service
then posts from there to where the money belongs (revenue, a prepaid account). An in-database method's
charge is one ledger transaction (``<reference>@<method>``) in one database transaction: it happened or
it did not, so it is never in doubt, and its records for reconciliation are those transactions.

Not found is final for them too: ``query`` reads the ledger, and when recovery concludes that nothing
was posted, it closes the reference (:meth:`close_reference <InDatabaseMethod.close_reference>`, a
closed ledger reference) in the transaction that fails the order — a charge or refund of another
daemon still on its way to the ledger is then refused (DECLINED) and moves no money.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as _dt
import enum
from typing import Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from cardservice.his import Patient
from cardservice.payments._errors import InsufficientFunds, LedgerError, PaymentUnavailable, ReferenceClosed
from cardservice.payments._ledger import (
    CASH,
    CASH_CLEARING,
    CLOSED,
    PREPAID_CLEARING,
    Entry,
    Ledger,
    Posting,
    credit,
    debit,
    prepaid_account,
)
from cardservice.store import LedgerTransactionRow, describe

__all__ = [
    "CashDesk",
    "InDatabaseMethod",
    "MethodRecord",
    "MethodResult",
    "MethodStatus",
    "PaymentMethod",
    "PrepaidAccount",
]


class MethodStatus(enum.StrEnum):
    """What a payment method said about a charge or refund."""

    APPROVED = "approved"  # done: the money moved
    DECLINED = "declined"  # refused: no money moved, none will under this reference
    NOT_FOUND = "not_found"  # (query) the method has no such reference: nothing moved (see PaymentMethod)
    IN_DOUBT = "in_doubt"  # no answer (timeout, a 5xx): it may have happened; ask again with query()
    UNAVAILABLE = "unavailable"  # the method was not reached at all: nothing was sent


@dataclasses.dataclass(frozen=True)
class MethodResult:
    status: MethodStatus
    transaction_id: str | None = None  # the method's own id of the charge or refund
    amount_fen: int | None = None
    message: str = ""


@dataclasses.dataclass(frozen=True)
class MethodRecord:
    """One transaction in a method's own books, for reconciliation. ``reference`` is the order's (a
    charge) or the refund order's (a refund); ``status`` approved / declined."""

    reference: str
    kind: str  # charge / refund
    amount_fen: int
    status: str
    transaction_id: str | None
    at: _dt.datetime


class PaymentMethod(Protocol):
    """A way to pay. ``name`` is what orders and postings record; ``clearing_account`` the ledger account
    a charge's money arrives in (see the module docstring).

    Every call is idempotent by its reference: ``charge`` twice with one reference charges once;
    ``query`` is how an in-doubt charge or refund is resolved — it must answer from the method's own
    records, and a reference it does not know must be answered NOT_FOUND only once the method will
    never accept it any more: the gateway closes it at the acquirer before it answers; a method in the
    project database (:class:`InDatabaseMethod`) has it closed in the transaction that fails the order.
    Methods never raise for a refusal:
    they return a :class:`MethodResult`; ``records`` raises :class:`PaymentUnavailable` when the method
    cannot be asked."""

    name: str
    clearing_account: str

    def charge(
        self, reference: str, amount_fen: int, patient: Patient, *, idempotency_key: str
    ) -> MethodResult: ...

    def query(self, reference: str) -> MethodResult: ...

    def refund(self, reference: str, amount_fen: int, refund_reference: str) -> MethodResult: ...

    def records(self, day: _dt.date) -> list[MethodRecord]: ...


@runtime_checkable
class InDatabaseMethod(Protocol):
    """A method whose books are the project database: recovery closes a reference it found nothing under
    in the same database transaction as the order's move to failed."""

    def close_reference(self, session: Session, reference: str) -> MethodResult:
        """In *session*: APPROVED (with the posting) if the charge or refund *reference* was posted after
        all — nothing is closed then; else NOT_FOUND, and nothing is ever posted under it."""
        ...


class _LedgerMethod(abc.ABC):
    """A method whose books are the project ledger (the prepaid account, the cash desk); a subclass
    names the entries of a charge."""

    name: str
    clearing_account: str

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._db = ledger.database

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._db.url!r})"

    def _ref(self, reference: str) -> str:
        return f"{reference}@{self.name}"

    def _post(self, reference: str, kind: str, entries: list[Entry], order_reference: str) -> Posting:
        for attempt in (1, 2):
            try:
                with self._db.session() as session:
                    return self._ledger.post(
                        session,
                        self._ref(reference),
                        kind,
                        entries,
                        method=self.name,
                        order_reference=order_reference,
                    )
            except IntegrityError as exc:  # the same reference posted concurrently: read it next time
                if attempt == 2:
                    raise PaymentUnavailable(f"ledger: {describe(exc)}") from None
            except SQLAlchemyError as exc:
                raise PaymentUnavailable(f"ledger: {describe(exc)}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def charge(
        self, reference: str, amount_fen: int, patient: Patient, *, idempotency_key: str
    ) -> MethodResult:
        # The money arrives in the clearing account (a credit: in transit to the order's destination).
        entries = self._charge_entries(patient, amount_fen)
        try:
            posting = self._post(reference, "method.charge", entries, reference)
        except (InsufficientFunds, ReferenceClosed) as exc:
            return MethodResult(MethodStatus.DECLINED, message=exc.message)
        except PaymentUnavailable as exc:
            # A database transaction that failed did not happen: nothing moved.
            return MethodResult(MethodStatus.UNAVAILABLE, message=exc.message)
        return MethodResult(MethodStatus.APPROVED, posting.reference, amount_fen)

    @abc.abstractmethod
    def _charge_entries(self, patient: Patient, amount_fen: int) -> list[Entry]: ...

    def query(self, reference: str) -> MethodResult:
        try:
            with self._db.session(readonly=True) as session:
                posting = self._ledger.find(session, self._ref(reference))
        except SQLAlchemyError as exc:
            return MethodResult(MethodStatus.IN_DOUBT, message=f"ledger: {describe(exc)}")
        if posting is None or posting.kind == CLOSED:
            return MethodResult(MethodStatus.NOT_FOUND)
        return MethodResult(
            MethodStatus.APPROVED, posting.reference, abs(posting.amount_on(self.clearing_account))
        )

    def close_reference(self, session: Session, reference: str) -> MethodResult:
        posting = self._ledger.close(
            session,
            self._ref(reference),
            method=self.name,
            order_reference=reference,
            memo="closed by recovery",
        )
        if posting is None:
            return MethodResult(MethodStatus.NOT_FOUND, message="reference closed")
        return MethodResult(
            MethodStatus.APPROVED, posting.reference, abs(posting.amount_on(self.clearing_account))
        )

    def refund(self, reference: str, amount_fen: int, refund_reference: str) -> MethodResult:
        """Give back (part of) the charge *reference*: the money goes back to where it came from."""
        try:
            with self._db.session(readonly=True) as session:
                charge = self._ledger.find(session, self._ref(reference))
                refunded = 0
                if charge is not None:
                    for row in session.scalars(
                        select(LedgerTransactionRow).where(
                            LedgerTransactionRow.order_reference == reference,
                            LedgerTransactionRow.kind == "method.refund",
                            LedgerTransactionRow.method == self.name,
                            LedgerTransactionRow.reference != self._ref(refund_reference),
                        )
                    ):
                        posting = self._ledger.find(session, row.reference)
                        refunded += 0 if posting is None else posting.amount_on(self.clearing_account)
        except SQLAlchemyError as exc:
            return MethodResult(MethodStatus.UNAVAILABLE, message=f"ledger: {describe(exc)}")
        if charge is None or charge.kind == CLOSED:
            return MethodResult(MethodStatus.DECLINED, message="no such charge")
        charged = -charge.amount_on(self.clearing_account)
        if refunded + amount_fen > charged:
            return MethodResult(MethodStatus.DECLINED, message="more than was charged")
        # Back to the source: the opposite sides of the charge's entries.
        entries = [Entry(e.account, "C" if e.side == "D" else "D", amount_fen) for e in charge.entries]
        try:
            posting = self._post(refund_reference, "method.refund", entries, reference)
        except (InsufficientFunds, LedgerError) as exc:
            return MethodResult(MethodStatus.DECLINED, message=exc.message)
        except PaymentUnavailable as exc:
            return MethodResult(MethodStatus.UNAVAILABLE, message=exc.message)
        return MethodResult(MethodStatus.APPROVED, posting.reference, amount_fen)

    def records(self, day: _dt.date) -> list[MethodRecord]:
        try:
            postings = [p for p in self._ledger.postings(day=day) if p.method == self.name]
        except SQLAlchemyError as exc:
            raise PaymentUnavailable(f"ledger: {describe(exc)}") from None
        suffix = "@" + self.name
        return [
            MethodRecord(
                reference=p.reference.removesuffix(suffix),
                kind="charge" if p.kind == "method.charge" else "refund",
                amount_fen=abs(p.amount_on(self.clearing_account)),
                status="approved",
                transaction_id=p.reference,
                at=p.posted_at,
            )
            for p in postings
            if p.kind in ("method.charge", "method.refund") and p.reference.endswith(suffix)
        ]


class PrepaidAccount(_LedgerMethod):
    """The hospital prepaid account (就诊卡账户): a charge moves the amount from the patient's prepaid
    account to ``prepaid_clearing`` — refused (DECLINED, ``insufficient funds``) when the balance is
    short, which the database enforces under any concurrency. Top-ups are orders of the payments
    service (paid by the gateway or at a cash desk) that credit the account."""

    name = "prepaid"
    clearing_account = PREPAID_CLEARING

    def _charge_entries(self, patient: Patient, amount_fen: int) -> list[Entry]:
        return [debit(prepaid_account(patient.card_number), amount_fen), credit(PREPAID_CLEARING, amount_fen)]

    def balance(self, patient: Patient) -> int:
        """The patient's prepaid balance in fen."""
        try:
            return self._ledger.balance(prepaid_account(patient.card_number))
        except SQLAlchemyError as exc:
            raise PaymentUnavailable(f"ledger: {describe(exc)}") from None


class CashDesk(_LedgerMethod):
    """A cash desk (收费窗口): the cashier has the cash in hand before the call, so a charge is always
    approved; it lands in the ``cash`` drawer account through ``cash_clearing``."""

    name = "cash"
    clearing_account = CASH_CLEARING

    def _charge_entries(self, patient: Patient, amount_fen: int) -> list[Entry]:
        return [debit(CASH, amount_fen), credit(CASH_CLEARING, amount_fen)]
