"""A bill is paid once, before any money moves: its order reserves it (a partial unique index on
``payments_orders(bill_id)`` over the bill orders still holding it), so a second payment of the bill,
under another key, is refused before its method is asked — across threads and daemons sharing the
database. A wrong amount is ``amount_mismatch``."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy.exc import IntegrityError

from cardservice.payments import (
    AmountMismatch,
    BillInPayment,
    Order,
    PaymentRejected,
    Payments,
)
from cardservice.store import Database, PaymentOrderRow
from tests.payments.conftest import ALICE, BOB, Acquirer, add_bill, bill_status, control


@pytest.mark.parametrize("method", ["prepaid", "gateway"])
def test_eight_concurrent_payments_of_one_bill_with_different_keys_charge_once(
    payments: Payments, database: Database, acquirer: Acquirer, method: str
) -> None:
    payments.top_up("kiosk-1", "k-top", ALICE, 100000, "cash")
    bill = add_bill(database, ALICE, 4321)
    barrier = threading.Barrier(8)
    results: list[object] = []
    lock = threading.Lock()

    def pay(number: int) -> None:
        barrier.wait()
        try:
            result: object = payments.pay_bill(
                f"kiosk-{number % 2}", f"k-{number}", ALICE, bill, 4321, method
            )
        except Exception as exc:  # collected: the assertions below show it
            result = exc
        with lock:
            results.append(result)

    threads = [threading.Thread(target=pay, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    orders = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if not isinstance(r, Order)]
    assert [o.status for o in orders] == ["settled"], results
    assert [getattr(e, "code", repr(e)) for e in refused] == ["bill_in_payment"] * 7
    assert all(isinstance(e, BillInPayment) and isinstance(e, PaymentRejected) for e in refused)
    # Exactly one charge at the method; nothing to give back.
    if method == "gateway":
        assert [t.reference for t in acquirer.charges()] == [orders[0].reference]
        assert payments.balance(ALICE) == 100000
    else:
        debits = [
            p for p in payments.ledger.postings() if p.kind == "method.charge" and p.method == "prepaid"
        ]
        assert [p.order_reference for p in debits] == [orders[0].reference]
        assert payments.balance(ALICE) == 100000 - 4321
    assert [o for o in payments.orders(ALICE) if o.kind == "refund"] == []
    assert [o.reference for o in payments.orders(ALICE) if o.kind == "bill"] == [orders[0].reference]
    assert bill_status(database, bill) == ("settled", orders[0].reference)
    assert payments.ledger.verify().balanced


def test_a_bill_in_payment_or_paid_is_refused_and_its_own_key_replays(
    payments: Payments, database: Database, acquirer: Acquirer
) -> None:
    bill = add_bill(database, ALICE, 2900)
    control(acquirer, mode="timeout")
    first = payments.pay_bill("kiosk-1", "k-1", ALICE, bill, 2900, "gateway")
    assert first.status == "in_doubt"  # the money may be taken: the bill is held
    with pytest.raises(BillInPayment) as held:
        payments.pay_bill("kiosk-2", "k-2", ALICE, bill, 2900, "gateway")
    assert held.value.code == "bill_in_payment"
    assert held.value.message_zh == "该账单正在支付或已缴费，请勿重复支付"
    assert held.value.details == {"bill_id": bill}
    control(acquirer, mode="approve")
    settled = payments.pay_bill("kiosk-1", "k-1", ALICE, bill, 2900, "gateway")  # the retry resolves it
    assert (settled.reference, settled.status) == (first.reference, "settled")
    with pytest.raises(BillInPayment):
        payments.pay_bill("kiosk-2", "k-3", ALICE, bill, 2900, "prepaid")
    assert [t.reference for t in acquirer.charges()] == [first.reference]
    assert [o.reference for o in payments.orders(ALICE)] == [first.reference]


def test_a_declined_payment_leaves_the_bill_free(
    payments: Payments, database: Database, acquirer: Acquirer
) -> None:
    control(acquirer, decline_amounts=[3100])
    bill = add_bill(database, ALICE, 3100)
    assert payments.pay_bill("kiosk-1", "k-1", ALICE, bill, 3100, "gateway").status == "declined"
    payments.top_up("kiosk-1", "k-top", ALICE, 5000, "cash")
    again = payments.pay_bill("kiosk-1", "k-2", ALICE, bill, 3100, "prepaid")
    assert again.status == "settled"
    assert bill_status(database, bill) == ("settled", again.reference)


def test_another_patient_is_not_told_that_a_bill_is_in_payment(
    payments: Payments, database: Database
) -> None:
    payments.top_up("kiosk-1", "k-top", ALICE, 5000, "cash")
    bill = add_bill(database, ALICE, 1000)
    payments.pay_bill("kiosk-1", "k-1", ALICE, bill, 1000, "prepaid")
    with pytest.raises(PaymentRejected, match="no outstanding bill") as refused:
        payments.pay_bill("kiosk-1", "k-2", BOB, bill, 1000, "prepaid")
    assert refused.value.code == "payment_rejected"


NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


def order_row(reference: str, status: str, *, kind: str = "bill", bill_id: str = "SF1") -> PaymentOrderRow:
    return PaymentOrderRow(
        reference=reference, client_id="kiosk-1", idempotency_key=reference, request_hash="0" * 64,
        kind=kind, method="cash", card_number=ALICE.card_number, patient_name=ALICE.name,
        bill_id=bill_id, amount_fen=100, status=status, created_at=NOW, updated_at=NOW,
    )  # fmt: skip


@pytest.mark.parametrize("live", ["pending", "charged", "in_doubt", "settled", "unsettled"])
def test_the_database_itself_holds_one_live_order_per_bill(database: Database, live: str) -> None:
    """What makes the reservation hold between daemons: the schema, not a check in Python."""
    with database.session() as session:
        session.add_all(
            [
                order_row("PO-D", "declined"),
                order_row("PO-F", "failed"),
                order_row("PO-R", "returned"),
                order_row("PO-1", live),
                order_row("RF-1", "pending", kind="refund"),  # a refund carries its bill's id
                order_row("PO-2", live, bill_id="SF2"),
            ]
        )
    with pytest.raises(IntegrityError), database.session() as session:
        session.add(order_row("PO-3", "pending"))


def test_an_amount_that_is_not_the_bills_total_is_amount_mismatch(
    payments: Payments, database: Database
) -> None:
    bill = add_bill(database, ALICE, 1000)
    with pytest.raises(AmountMismatch) as wrong:
        payments.pay_bill("kiosk-1", "k-1", ALICE, bill, 999, "prepaid")
    assert isinstance(wrong.value, PaymentRejected)
    assert wrong.value.code == "amount_mismatch"
    assert wrong.value.details == {"expected_fen": 1000, "amount_fen": 999}
    assert wrong.value.message_zh == "缴费金额与账单不符"
    for amount in (True, 1000.0, "1000", None, -1000):
        with pytest.raises(PaymentRejected, match="amount_fen") as bad:
            payments.pay_bill("kiosk-1", "k-2", ALICE, bill, amount, "prepaid")  # type: ignore[arg-type]
        assert bad.value.code == "payment_rejected"
    assert payments.orders(ALICE) == []
