"""The double-entry ledger: accounts, journal transactions of two or more entries whose debits equal their
credits, and the trial balance.

Accounts (created on first use, see :func:`account_spec`)::

    prepaid:<card number>   liability, normal side C, floor 0   a patient's 就诊卡账户 balance
    his_revenue             revenue,   normal side C            bills paid (the HIS's receivable settled)
    gateway_clearing        asset,     normal side D            owed to the hospital by the acquirer
    prepaid_clearing        asset,     normal side D            prepaid money in transit to an order (nets 0)
    cash_clearing           asset,     normal side D            cash taken at a desk, in transit (nets 0)
    cash                    asset,     normal side D            the cash desks' drawers

A posting changes each account's ``balance_fen`` with one conditional UPDATE in the same transaction
that inserts its entries (``... WHERE floor_fen IS NULL OR balance_fen + delta >= floor_fen``): on
PostgreSQL the row lock makes a concurrent posting wait and re-check, on SQLite the writing session's
BEGIN IMMEDIATE serialises writers, and a CHECK constraint backs both. An UPDATE that changes nothing
makes the account if it is missing (its first use) and is tried once more. Accounts are updated in name
order so two postings never deadlock. Entries are append-only (triggers); a correction is a reversing
transaction (:meth:`Ledger.reverse`). :meth:`Ledger.verify` recomputes everything from the entries.

A reference may be **closed** (:meth:`Ledger.close`): a transaction of kind ``closed`` with no entries
takes the reference, so nothing is ever posted under it (:class:`ReferenceClosed`). The unique reference
makes "closed" and "posted" exclusive under any concurrency, across daemons: of a close and a posting
racing for one reference, the first to commit wins and the other sees it. The in-database payment
methods close a reference that recovery found nothing posted under, so a charge still on its way is
refused when it arrives.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cardservice.healthcard import mask_id_number
from cardservice.his import CHINA_TZ
from cardservice.payments._errors import InsufficientFunds, LedgerError, ReferenceClosed
from cardservice.store import Database, LedgerAccountRow, LedgerEntryRow, LedgerTransactionRow

__all__ = [
    "BANKCARD_CLEARING",
    "CASH",
    "CASH_CLEARING",
    "CLOSED",
    "GATEWAY_CLEARING",
    "HIS_REVENUE",
    "PREPAID_CLEARING",
    "QRCODE_CLEARING",
    "AccountSpec",
    "Entry",
    "Ledger",
    "Posting",
    "TrialBalance",
    "account_spec",
    "credit",
    "debit",
    "prepaid_account",
]

Side = Literal["D", "C"]

HIS_REVENUE = "his_revenue"
GATEWAY_CLEARING = "gateway_clearing"
BANKCARD_CLEARING = "bankcard_clearing"  # the chip's bank application, through the ISO 8583 acquirer
QRCODE_CLEARING = "qrcode_clearing"  # 扫码支付: the payer's phone, through the QR gateway
PREPAID_CLEARING = "prepaid_clearing"
CASH_CLEARING = "cash_clearing"
CASH = "cash"
_PREPAID = "prepaid:"
#: The kind of a closed reference's transaction (no entries: see the module docstring).
CLOSED = "closed"


@dataclasses.dataclass(frozen=True)
class AccountSpec:
    kind: str  # asset / liability / revenue
    normal_side: Side
    floor_fen: int | None


_FIXED = {
    HIS_REVENUE: AccountSpec("revenue", "C", None),
    GATEWAY_CLEARING: AccountSpec("asset", "D", None),
    BANKCARD_CLEARING: AccountSpec("asset", "D", None),
    QRCODE_CLEARING: AccountSpec("asset", "D", None),
    PREPAID_CLEARING: AccountSpec("asset", "D", None),
    CASH_CLEARING: AccountSpec("asset", "D", None),
    CASH: AccountSpec("asset", "D", None),
}


def prepaid_account(card_number: str) -> str:
    """The patient's prepaid (就诊卡账户) account: a liability of the hospital, never below zero."""
    return _PREPAID + card_number


def account_spec(name: str) -> AccountSpec:
    """What an account is, from its name; :class:`LedgerError` for a name the ledger does not know."""
    if name in _FIXED:
        return _FIXED[name]
    if name.startswith(_PREPAID) and 1 <= len(name) - len(_PREPAID) <= 32:
        return AccountSpec("liability", "C", 0)
    raise LedgerError(f"no such account kind: {name.split(':')[0]!r}")


@dataclasses.dataclass(frozen=True)
class Entry:
    account: str
    side: Side
    amount_fen: int


def debit(account: str, amount_fen: int) -> Entry:
    return Entry(account, "D", amount_fen)


def credit(account: str, amount_fen: int) -> Entry:
    return Entry(account, "C", amount_fen)


@dataclasses.dataclass(frozen=True)
class Posting:
    """A posted transaction as read back."""

    id: int
    reference: str
    kind: str
    method: str | None
    order_reference: str | None
    reverses: int | None
    day: str
    posted_at: _dt.datetime
    entries: tuple[Entry, ...]

    def amount_on(self, account: str) -> int:
        """Net amount debited to *account* (credits negative)."""
        return sum(
            e.amount_fen if e.side == "D" else -e.amount_fen for e in self.entries if e.account == account
        )


@dataclasses.dataclass(frozen=True)
class TrialBalance:
    """:meth:`Ledger.verify`'s answer: ``balanced`` when every check holds; ``problems`` one line each."""

    debits_fen: int
    credits_fen: int
    transactions: int
    balances: dict[str, int]
    problems: tuple[str, ...]

    @property
    def balanced(self) -> bool:
        return not self.problems and self.debits_fen == self.credits_fen


def _check(entries: Sequence[Entry]) -> None:
    if len(entries) < 2:
        raise LedgerError("a transaction needs at least two entries")
    for entry in entries:
        if (
            isinstance(entry.amount_fen, bool)
            or not isinstance(entry.amount_fen, int)
            or entry.amount_fen <= 0
        ):
            raise LedgerError("entry amounts are positive integers (fen)")
        if entry.side not in ("D", "C"):
            raise LedgerError("entry side is D or C")
        account_spec(entry.account)
    debits = sum(e.amount_fen for e in entries if e.side == "D")
    credits = sum(e.amount_fen for e in entries if e.side == "C")
    if debits != credits:
        raise LedgerError(f"unbalanced transaction: debits {debits} fen, credits {credits} fen")


def _key(entries: Sequence[Entry]) -> list[tuple[str, str, int]]:
    return sorted((e.account, e.side, e.amount_fen) for e in entries)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class Ledger:
    """The ledger in the project database. Posting happens inside the caller's session (so an order's
    state change and its money move commit together); reads open their own."""

    def __init__(self, database: Database, *, clock: Callable[[], _dt.datetime] = _now) -> None:
        self._db = database
        self._clock = clock

    @property
    def database(self) -> Database:
        return self._db

    def ensure_account(self, session: Session, name: str) -> None:
        spec = account_spec(name)
        values = {
            "name": name,
            "kind": spec.kind,
            "normal_side": spec.normal_side,
            "floor_fen": spec.floor_fen,
            "balance_fen": 0,
            "created_at": self._clock(),
        }
        insert = postgresql.insert if self._db.dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(LedgerAccountRow).values(**values).on_conflict_do_nothing(index_elements=["name"])
        )

    def find(self, session: Session, reference: str) -> Posting | None:
        row = session.scalar(select(LedgerTransactionRow).where(LedgerTransactionRow.reference == reference))
        return None if row is None else _posting(session, row)

    def post(
        self,
        session: Session,
        reference: str,
        kind: str,
        entries: Sequence[Entry],
        *,
        method: str | None = None,
        order_reference: str | None = None,
        reverses: int | None = None,
        memo: str | None = None,
    ) -> Posting:
        """Post one balanced transaction in *session*. Idempotent by ``reference``: the same reference
        with the same entries returns the first posting; with other entries it is a :class:`LedgerError`.
        :class:`InsufficientFunds` when an account would go below its floor (nothing is posted: the
        caller's transaction must roll back, which the exception does)."""
        _check(entries)
        existing = self.find(session, reference)
        if existing is not None:
            if existing.kind == CLOSED:
                raise ReferenceClosed(f"ledger reference {reference!r} is closed")
            if _key(existing.entries) != _key(entries):
                raise LedgerError(f"ledger reference {reference!r} already posted with other entries")
            return existing
        now = self._clock()
        row = LedgerTransactionRow(
            reference=reference,
            kind=kind,
            method=method,
            order_reference=order_reference,
            reverses=reverses,
            day=now.astimezone(CHINA_TZ).date().isoformat(),
            posted_at=now,
            memo=memo,
        )
        session.add(row)
        session.flush()  # the unique reference first: a concurrent posting of it waits here, then fails
        deltas: dict[str, int] = defaultdict(int)
        for entry in entries:
            spec = account_spec(entry.account)
            deltas[entry.account] += entry.amount_fen if entry.side == spec.normal_side else -entry.amount_fen
        for name in sorted(deltas):
            delta = deltas[name]
            changed = _move_balance(session, name, delta)
            if changed is None:  # no such account yet (made on first use), or below its floor
                self.ensure_account(session, name)
                changed = _move_balance(session, name, delta)
            if changed is None:
                raise InsufficientFunds(
                    "the balance is not enough",
                    details={"account_kind": name.split(":")[0], "needed_fen": -delta},
                )
        session.add_all(
            LedgerEntryRow(transaction_id=row.id, account=e.account, side=e.side, amount_fen=e.amount_fen)
            for e in entries
        )
        session.flush()
        # As read back, without reading it back: the entries are these, in this order (their ids').
        return _posting_of(row, tuple(Entry(e.account, e.side, e.amount_fen) for e in entries))

    def close(
        self,
        session: Session,
        reference: str,
        *,
        method: str | None = None,
        order_reference: str | None = None,
        memo: str | None = None,
    ) -> Posting | None:
        """Close *reference* in *session* unless something is posted under it: ``None`` when it is closed
        (now or before), else the posting under it (the reference stays as it is). A posting racing for
        the reference in another transaction waits for this one, or this one for it (the unique
        reference); a savepoint keeps the caller's transaction usable when the posting won."""
        existing = self.find(session, reference)
        if existing is None:
            now = self._clock()
            try:
                with session.begin_nested():
                    session.add(
                        LedgerTransactionRow(
                            reference=reference,
                            kind=CLOSED,
                            method=method,
                            order_reference=order_reference,
                            day=now.astimezone(CHINA_TZ).date().isoformat(),
                            posted_at=now,
                            memo=memo,
                        )
                    )
                    session.flush()
                return None
            except IntegrityError:
                existing = self.find(session, reference)  # committed first by the other transaction
                if existing is None:
                    raise
        return None if existing.kind == CLOSED else existing

    def reverse(
        self, session: Session, reference: str, new_reference: str, *, memo: str | None = None
    ) -> Posting:
        """Post the mirror image of *reference* (every debit a credit and back) as *new_reference*."""
        original = self.find(session, reference)
        if original is None:
            raise LedgerError(f"nothing posted as {reference!r} to reverse")
        mirrored = [Entry(e.account, "C" if e.side == "D" else "D", e.amount_fen) for e in original.entries]
        return self.post(
            session,
            new_reference,
            "reversal",
            mirrored,
            method=original.method,
            order_reference=original.order_reference,
            reverses=original.id,
            memo=memo,
        )

    def balance(self, account: str) -> int:
        """The account's balance on its normal side (0 for an account never used)."""
        account_spec(account)
        with self._db.session(readonly=True) as session:
            value = session.scalar(
                select(LedgerAccountRow.balance_fen).where(LedgerAccountRow.name == account)
            )
            return int(value or 0)

    def postings(self, *, day: _dt.date | None = None, order_reference: str | None = None) -> list[Posting]:
        """Postings of a hospital day and/or an order, in posting order."""
        with self._db.session(readonly=True) as session:
            query = select(LedgerTransactionRow).order_by(LedgerTransactionRow.id)
            if day is not None:
                query = query.where(LedgerTransactionRow.day == day.isoformat())
            if order_reference is not None:
                query = query.where(LedgerTransactionRow.order_reference == order_reference)
            return [_posting(session, row) for row in session.scalars(query).all()]

    def verify(self) -> TrialBalance:
        """The trial balance, recomputed from the entries: every transaction balanced with two or more
        entries (a closed reference's: none), each account's stored balance equal to its entries' sum
        and not below its floor, and total debits equal to total credits."""
        problems: list[str] = []
        with self._db.session(readonly=True) as session:
            per_txn = session.execute(
                select(
                    LedgerTransactionRow.reference,
                    LedgerTransactionRow.kind,
                    func.count(LedgerEntryRow.id),
                    func.coalesce(func.sum(LedgerEntryRow.amount_fen).filter(LedgerEntryRow.side == "D"), 0),
                    func.coalesce(func.sum(LedgerEntryRow.amount_fen).filter(LedgerEntryRow.side == "C"), 0),
                )
                .outerjoin(LedgerEntryRow, LedgerEntryRow.transaction_id == LedgerTransactionRow.id)
                .group_by(LedgerTransactionRow.reference, LedgerTransactionRow.kind)
            ).all()
            debits = credits = 0
            for reference, kind, count, d, c in per_txn:
                debits, credits = debits + int(d), credits + int(c)
                if (count != 0) if kind == CLOSED else (count < 2):
                    problems.append(f"transaction {reference}: {count} entries")
                if d != c:
                    problems.append(f"transaction {reference}: debits {d} != credits {c}")
            derived: dict[str, int] = defaultdict(int)
            for account, side, amount in session.execute(
                select(
                    LedgerEntryRow.account, LedgerEntryRow.side, func.sum(LedgerEntryRow.amount_fen)
                ).group_by(LedgerEntryRow.account, LedgerEntryRow.side)
            ):
                derived[account] += int(amount) if side == "D" else -int(amount)
            balances: dict[str, int] = {}
            for acc in session.scalars(select(LedgerAccountRow).order_by(LedgerAccountRow.name)):
                own = derived.pop(acc.name, 0) * (1 if acc.normal_side == "D" else -1)
                balances[acc.name] = acc.balance_fen
                if own != acc.balance_fen:
                    problems.append(f"account {_safe(acc.name)}: stored {acc.balance_fen}, entries {own}")
                if acc.floor_fen is not None and own < acc.floor_fen:
                    problems.append(f"account {_safe(acc.name)}: below its floor ({own})")
            for name in derived:
                problems.append(f"entries for a missing account {_safe(name)}")
        if debits != credits:
            problems.append(f"total debits {debits} != total credits {credits}")
        return TrialBalance(debits, credits, len(per_txn), balances, tuple(problems))


def _safe(account: str) -> str:
    """An account name fit for a report or a log: a prepaid account's card number masked."""
    if account.startswith(_PREPAID):
        return _PREPAID + mask_id_number(account[len(_PREPAID) :])
    return account


def _move_balance(session: Session, name: str, delta: int) -> int | None:
    """Add *delta* to the account *name* unless that takes it below its floor: the new balance, or None
    (no such account, or not enough on it)."""
    return session.execute(
        update(LedgerAccountRow)
        .where(
            LedgerAccountRow.name == name,
            (LedgerAccountRow.floor_fen.is_(None))
            | (LedgerAccountRow.balance_fen + delta >= LedgerAccountRow.floor_fen),
        )
        .values(balance_fen=LedgerAccountRow.balance_fen + delta)
        .returning(LedgerAccountRow.balance_fen)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()


def _posting(session: Session, row: LedgerTransactionRow) -> Posting:
    entries = session.scalars(
        select(LedgerEntryRow).where(LedgerEntryRow.transaction_id == row.id).order_by(LedgerEntryRow.id)
    ).all()
    return _posting_of(
        row, tuple(Entry(e.account, "D" if e.side == "D" else "C", e.amount_fen) for e in entries)
    )


def _posting_of(row: LedgerTransactionRow, entries: tuple[Entry, ...]) -> Posting:
    return Posting(
        id=row.id,
        reference=row.reference,
        kind=row.kind,
        method=row.method,
        order_reference=row.order_reference,
        reverses=row.reverses,
        day=row.day,
        posted_at=row.posted_at,
        entries=entries,
    )
