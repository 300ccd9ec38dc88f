"""Orders: the lifecycle table of each kind (the state diagram of cardservice.payments._orders), the
final states derived from them, and the order book refusing a move that is not in its kind's table."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cardservice import errors
from cardservice.payments import (
    BILL_HOLDING_STATES,
    FINAL_STATES,
    LIFECYCLES,
    IdempotencyConflict,
    OrderKind,
    OrderNotFound,
    OrderStatus,
    PaymentRejected,
)
from cardservice.payments._book import OrderBook
from cardservice.payments._orders import OPEN_STATES
from cardservice.store import Database, IllegalTransition, PaymentEventRow, PaymentOrderRow, request_hash
from tests.payments.conftest import ALICE

S = OrderStatus
NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


def test_order_states_keep_their_stored_values() -> None:
    assert [s.value for s in OrderStatus] == [
        "pending", "charged", "settled", "unsettled", "declined", "failed", "in_doubt", "refunded",
        "returned",
    ]  # fmt: skip
    assert [k.value for k in OrderKind] == ["bill", "top_up", "refund"]


def test_a_bill_payment_is_charged_then_settled_at_the_his_or_unsettled() -> None:
    # A lifecycle has the states its kind of order reaches from pending: a bill is never refunded.
    # Unsettled is open: the money goes back by a refund order, then the bill is returned.
    assert LIFECYCLES[OrderKind.BILL].describe() == "\n".join(
        [
            "pending → charged, declined, failed, in_doubt",
            "charged → settled, unsettled",
            "settled → (final)",
            "unsettled → returned",
            "declined → (final)",
            "failed → (final)",
            "in_doubt → charged, declined, failed, in_doubt",
            "returned → (final)",
        ]
    )


def test_a_top_up_is_settled_as_soon_as_its_method_took_the_money() -> None:
    assert LIFECYCLES[OrderKind.TOP_UP].describe() == "\n".join(
        [
            "pending → declined, failed, in_doubt, settled",
            "settled → (final)",
            "declined → (final)",
            "failed → (final)",
            "in_doubt → declined, failed, in_doubt, settled",
        ]
    )


def test_a_refund_is_refunded_or_failed() -> None:
    assert LIFECYCLES[OrderKind.REFUND].describe() == "\n".join(
        [
            "pending → failed, in_doubt, refunded",
            "failed → (final)",
            "in_doubt → failed, in_doubt, refunded",
            "refunded → (final)",
        ]
    )


def test_final_states_are_those_no_kind_of_order_moves_on_from() -> None:
    assert {S.SETTLED, S.RETURNED, S.DECLINED, S.FAILED, S.REFUNDED} == FINAL_STATES
    assert {S.PENDING, S.CHARGED, S.IN_DOUBT, S.UNSETTLED} == OPEN_STATES
    assert "settled" in FINAL_STATES  # the stored strings are the states


@pytest.mark.parametrize(
    ("kind", "current", "target"),
    [
        (OrderKind.BILL, S.PENDING, S.SETTLED),  # never past the HIS without being charged
        (OrderKind.BILL, S.SETTLED, S.REFUNDED),  # a refund is another order
        (OrderKind.BILL, S.UNSETTLED, S.SETTLED),
        (OrderKind.BILL, S.CHARGED, S.RETURNED),  # returned only from unsettled, once the money is back
        (OrderKind.BILL, S.RETURNED, S.UNSETTLED),
        (OrderKind.BILL, S.CHARGED, S.FAILED),  # the money is taken: it is settled or given back
        (OrderKind.TOP_UP, S.PENDING, S.CHARGED),
        (OrderKind.REFUND, S.PENDING, S.SETTLED),
        (OrderKind.REFUND, S.REFUNDED, S.FAILED),
        (OrderKind.REFUND, S.FAILED, S.PENDING),
    ],
)
def test_an_illegal_move_raises(kind: OrderKind, current: OrderStatus, target: OrderStatus) -> None:
    lifecycle = LIFECYCLES[kind]
    assert not lifecycle.can(current, target)
    with pytest.raises(IllegalTransition, match=f"{current} → {target}"):
        lifecycle.check(current, target)


def test_the_bill_states_that_hold_a_bill_are_those_of_the_databases_index() -> None:
    """Every bill state but the three that took no money or gave it all back holds the bill; the
    partial unique index of the model (migration 0008) lists the same states."""
    bill = LIFECYCLES[OrderKind.BILL]
    states = {state for state in S if bill.targets(state) or bill.is_final(state)}
    assert states - {S.DECLINED, S.FAILED, S.RETURNED} == BILL_HOLDING_STATES
    (index,) = [i for i in PaymentOrderRow.__table__.indexes if i.name == "uq_payments_orders_live_bill"]
    for dialect in ("sqlite", "postgresql"):
        where = str(index.dialect_options[dialect]["where"])
        assert set(re.findall(r"'(\w+)'", where)) == {"bill"} | {s.value for s in BILL_HOLDING_STATES}


def test_a_legal_move_is_the_target() -> None:
    assert LIFECYCLES[OrderKind.BILL].check("charged", "unsettled") is S.UNSETTLED
    assert LIFECYCLES[OrderKind.TOP_UP].check("in_doubt", "settled") is S.SETTLED
    with pytest.raises(IllegalTransition, match="no state 'paid'"):
        LIFECYCLES[OrderKind.BILL].check("pending", "paid")


# -- the order book -----------------------------------------------------------------------------------


def open_order(book: OrderBook, kind: OrderKind, key: str = "k-1") -> PaymentOrderRow:
    request = request_hash(kind.value, ALICE.card_number, 100)

    def create(session: Session) -> PaymentOrderRow:
        row = PaymentOrderRow(
            reference=f"T-{kind.value}-{key}", client_id="kiosk-1", idempotency_key=key,
            request_hash=request, kind=kind.value, method="cash", card_number=ALICE.card_number,
            patient_name=ALICE.name, amount_fen=100, status="pending", created_at=NOW, updated_at=NOW,
        )  # fmt: skip
        book.add(session, row, "kiosk-1", {"kind": kind.value})
        return row

    row, created = book.once("kiosk-1", key, request, create)
    assert created
    return row


def events(database: Database, reference: str) -> list[tuple[str | None, str]]:
    with database.session(readonly=True) as session:
        rows = session.scalars(
            select(PaymentEventRow)
            .where(PaymentEventRow.order_reference == reference)
            .order_by(PaymentEventRow.id)
        )
        return [(r.from_status, r.to_status) for r in rows]


def test_the_order_book_refuses_a_move_the_kind_never_makes(database: Database) -> None:
    book = OrderBook(database, audit=None, clock=lambda: NOW)
    row = open_order(book, OrderKind.TOP_UP)
    changed: list[str] = []
    with pytest.raises(IllegalTransition, match="top-up: pending → charged"):
        book.move(row.reference, S.CHARGED, lambda session, r: changed.append(r.reference), "test", "charge")
    assert changed == []  # refused before anything was done
    assert book.load(row.reference).status == "pending"
    assert events(database, row.reference) == [(None, "pending")]


def test_a_move_from_where_the_order_no_longer_is_returns_it_as_it_is(database: Database) -> None:
    book = OrderBook(database, audit=None, clock=lambda: NOW)
    row = open_order(book, OrderKind.BILL)
    assert book.move(row.reference, S.DECLINED, None, "kiosk-1", "charge").status is S.DECLINED
    # Another call's answer arrives late: the bill was declined meanwhile, so it is left declined.
    assert book.move(row.reference, S.CHARGED, None, "recovery", "charge").status is S.DECLINED
    assert events(database, row.reference) == [(None, "pending"), ("pending", "declined")]


def test_staying_in_doubt_updates_the_order_without_an_event(database: Database) -> None:
    book = OrderBook(database, audit=None, clock=lambda: NOW)
    row = open_order(book, OrderKind.REFUND)

    def note(text: str) -> Callable[[Session, PaymentOrderRow], None]:
        return lambda session, r: setattr(r, "message", text)

    book.move(row.reference, S.IN_DOUBT, note("timeout"), "kiosk-1", "refund")
    assert book.move(row.reference, S.IN_DOUBT, note("still no answer"), "recovery", "refund").message == (
        "still no answer"
    )
    assert events(database, row.reference) == [(None, "pending"), ("pending", "in_doubt")]


def test_a_key_reused_for_another_request_is_the_shared_conflict(database: Database) -> None:
    book = OrderBook(database, audit=None, clock=lambda: NOW)
    row = open_order(book, OrderKind.TOP_UP)
    assert book.stored("kiosk-1", "k-1", row.request_hash) is not None
    assert book.stored("kiosk-2", "k-1", row.request_hash) is None  # keys are per client
    with pytest.raises(errors.IdempotencyConflict) as conflict:
        book.stored("kiosk-1", "k-1", request_hash("top_up", ALICE.card_number, 101))
    assert IdempotencyConflict is errors.IdempotencyConflict  # re-exported under its old name
    assert conflict.value.code == "idempotency_conflict"
    assert conflict.value.message_zh == "请求标识已用于其他请求"
    with pytest.raises(PaymentRejected, match="idempotency key") as bad:
        book.stored("kiosk-1", "bad key!", row.request_hash)
    assert bad.value.message_zh == "请求标识格式错误"
    with pytest.raises(OrderNotFound) as missing:
        book.load("nope")
    assert missing.value.code == "not_found"
    with database.session(readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(PaymentOrderRow)) == 1
