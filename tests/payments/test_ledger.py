"""The double-entry ledger: balanced postings only, idempotent by reference, append-only, balances that
never go below a floor under concurrency, and a trial balance that notices tampering."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from cardservice.payments import (
    CASH,
    HIS_REVENUE,
    InsufficientFunds,
    Ledger,
    LedgerError,
    MethodStatus,
    PrepaidAccount,
    ReferenceClosed,
    credit,
    debit,
    prepaid_account,
)
from cardservice.store import Database, LedgerAccountRow
from tests.payments.conftest import ALICE

ACCOUNT = prepaid_account(ALICE.card_number)


def fund(ledger: Ledger, database: Database, amount: int, reference: str = "T-FUND") -> None:
    with database.session() as session:
        ledger.post(session, reference, "top_up", [debit(CASH, amount), credit(ACCOUNT, amount)])


def test_a_balanced_posting_moves_balances_on_their_normal_side(database: Database) -> None:
    ledger = Ledger(database)
    fund(ledger, database, 5000)
    with database.session() as session:
        ledger.post(session, "T-PAY", "payment", [debit(ACCOUNT, 1200), credit(HIS_REVENUE, 1200)])
    assert ledger.balance(ACCOUNT) == 3800
    assert ledger.balance(CASH) == 5000
    assert ledger.balance(HIS_REVENUE) == 1200
    trial = ledger.verify()
    assert trial.balanced, trial.problems
    assert trial.debits_fen == trial.credits_fen == 6200
    assert trial.transactions == 2


@pytest.mark.parametrize(
    "entries",
    [
        [debit(CASH, 100), credit(ACCOUNT, 99)],
        [debit(CASH, 100)],
        [debit(CASH, 0), credit(ACCOUNT, 0)],
        [debit(CASH, -5), credit(ACCOUNT, -5)],
        [debit("nosuch", 5), credit(ACCOUNT, 5)],
    ],
)
def test_unbalanced_or_malformed_postings_are_refused(database: Database, entries: list) -> None:
    ledger = Ledger(database)
    with pytest.raises(LedgerError), database.session() as session:
        ledger.post(session, "T-BAD", "top_up", entries)
    assert ledger.postings() == []


def test_posting_a_reference_again_is_a_no_op_and_other_entries_are_refused(database: Database) -> None:
    ledger = Ledger(database)
    fund(ledger, database, 500)
    fund(ledger, database, 500)
    assert ledger.balance(ACCOUNT) == 500
    with pytest.raises(LedgerError, match="other entries"):
        fund(ledger, database, 600)
    assert len(ledger.postings()) == 1


def test_an_overdraft_is_refused_and_nothing_is_posted(database: Database) -> None:
    ledger = Ledger(database)
    fund(ledger, database, 1000)
    with pytest.raises(InsufficientFunds), database.session() as session:
        ledger.post(session, "T-OVER", "payment", [debit(ACCOUNT, 1001), credit(HIS_REVENUE, 1001)])
    assert ledger.balance(ACCOUNT) == 1000
    assert [p.reference for p in ledger.postings()] == ["T-FUND"]


def test_the_database_itself_refuses_a_negative_prepaid_balance(database: Database) -> None:
    Ledger(database)
    fund(Ledger(database), database, 10)
    with pytest.raises(DatabaseError), database.session() as session:
        session.execute(
            update(LedgerAccountRow).where(LedgerAccountRow.name == ACCOUNT).values(balance_fen=-1)
        )


def test_entries_and_transactions_are_append_only(database: Database) -> None:
    ledger = Ledger(database)
    fund(ledger, database, 100)
    for statement in (
        "UPDATE ledger_entries SET amount_fen = 1",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transactions SET kind = 'x'",
        "DELETE FROM ledger_transactions",
    ):
        with pytest.raises(DatabaseError, match="append-only"), database.session() as session:
            session.execute(text(statement))
    assert ledger.verify().balanced


def test_a_reversal_is_a_new_mirrored_transaction(database: Database) -> None:
    ledger = Ledger(database)
    fund(ledger, database, 700)
    with database.session() as session:
        reversal = ledger.reverse(session, "T-FUND", "T-FUND:reversal")
    assert reversal.kind == "reversal"
    assert reversal.reverses == ledger.postings()[0].id
    assert ledger.balance(ACCOUNT) == 0
    assert ledger.balance(CASH) == 0
    assert len(ledger.postings()) == 2
    assert ledger.verify().balanced


def test_verify_reports_a_balance_that_does_not_match_its_entries(database: Database) -> None:
    ledger = Ledger(database)
    fund(ledger, database, 300)
    with database.session() as session:  # someone edits the maintained balance behind the ledger's back
        session.execute(update(LedgerAccountRow).where(LedgerAccountRow.name == CASH).values(balance_fen=301))
    trial = ledger.verify()
    assert not trial.balanced
    assert trial.problems == ("account cash: stored 301, entries 300",)
    # Card numbers never appear unmasked in a report line.
    assert all(ALICE.card_number not in p for p in trial.problems)


def test_concurrent_spending_never_overdraws(database: Database) -> None:
    """20 threads each spend 100 fen of a 1000 fen balance at once: exactly 10 succeed."""
    ledger = Ledger(database)
    fund(ledger, database, 1000)
    outcomes: list[str] = []
    barrier = threading.Barrier(20)

    def spend(n: int) -> None:
        barrier.wait()
        try:
            with database.session() as session:
                ledger.post(
                    session, f"T-SPEND-{n}", "payment", [debit(ACCOUNT, 100), credit(HIS_REVENUE, 100)]
                )
            outcomes.append("ok")
        except InsufficientFunds:
            outcomes.append("short")

    threads = [threading.Thread(target=spend, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] * 10 + ["short"] * 10
    assert ledger.balance(ACCOUNT) == 0
    assert ledger.verify().balanced


@pytest.mark.parametrize("first", ["posting", "close"])
def test_a_close_and_a_posting_racing_for_one_reference_never_both_win(
    database: Database, first: str
) -> None:
    """The closed reference of a payment method: whichever commits first wins, the other sees it, and
    the loser's transaction goes on (the close runs in the transaction that fails an order)."""
    ledger = Ledger(database)
    fund(ledger, database, 1000)
    entries = [debit(ACCOUNT, 300), credit("prepaid_clearing", 300)]
    holding, done = threading.Event(), threading.Event()
    seen: list[object] = []

    def hold_open(work: Callable[[Session], object]) -> None:
        with database.session() as session:
            seen.append(work(session))
            holding.set()
            done.wait(10)  # uncommitted while the other one starts

    if first == "posting":
        holder = threading.Thread(
            target=hold_open, args=(lambda s: ledger.post(s, "PO1@prepaid", "method.charge", entries),)
        )
    else:
        holder = threading.Thread(target=hold_open, args=(lambda s: ledger.close(s, "PO1@prepaid"),))
    holder.start()
    assert holding.wait(10)
    threading.Timer(0.3, done.set).start()  # the first commits while the second waits for it
    if first == "posting":
        with database.session() as session:
            closed = ledger.close(session, "PO1@prepaid", memo="recovery")
            assert closed is not None  # posted after all: not closed
            assert closed.kind == "method.charge"
            ledger.post(session, "T-AFTER", "top_up", [debit(CASH, 5), credit(ACCOUNT, 5)])  # still usable
        assert ledger.balance(ACCOUNT) == 705
    else:  # the charge of a daemon that did not know: refused, nothing moves
        declined = PrepaidAccount(ledger).charge("PO1", 300, ALICE, idempotency_key="PO1")
        assert (declined.status, declined.message) == (
            MethodStatus.DECLINED,
            "ledger reference 'PO1@prepaid' is closed",
        )
        assert ledger.balance(ACCOUNT) == 1000
        with pytest.raises(ReferenceClosed), database.session() as session:
            ledger.post(session, "PO1@prepaid", "method.charge", entries)
    holder.join(10)
    kinds = [p.kind for p in ledger.postings() if p.reference == "PO1@prepaid"]
    assert kinds == (["method.charge"] if first == "posting" else ["closed"])
    assert ledger.verify().balanced
