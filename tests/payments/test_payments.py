"""The payments service end to end: the prepaid account, the cash desk and the gateway against the
simulated acquirer; idempotency keys; every state change audited with the card masked."""

from __future__ import annotations

import threading

import pytest

from cardservice.his import CHINA_TZ, EmbeddedHis
from cardservice.payments import (
    HIS_REVENUE,
    BillInPayment,
    IdempotencyConflict,
    InsufficientFunds,
    OrderNotFound,
    PaymentRejected,
    Payments,
)
from cardservice.store import Database
from tests.payments.conftest import (
    ALICE,
    BOB,
    Acquirer,
    AuditSpy,
    add_bill,
    bill_status,
    control,
    make_payments,
)


def test_a_bill_paid_from_the_prepaid_account_is_settled_at_the_his(
    payments: Payments, database: Database, audit: AuditSpy
) -> None:
    top_up = payments.top_up("kiosk-1", "k-top", ALICE, 10000, "cash")
    assert top_up.status == "settled"
    assert payments.balance(ALICE) == 10000
    bill = add_bill(database, ALICE, 3500)
    order = payments.pay_bill("kiosk-1", "k-pay", ALICE, bill, 3500, "prepaid")
    assert order.status == "settled"
    assert order.card == "1101************" + ALICE.card_number[-2:]
    assert bill_status(database, bill) == ("settled", order.reference)
    assert payments.balance(ALICE) == 6500
    assert payments.ledger.balance(HIS_REVENUE) == 3500
    assert payments.ledger.verify().balanced
    actions = [(r["action"], r["result"]) for r in audit.records if r["target"] == order.reference]
    assert actions == [
        ("payment.order", "pending"),
        ("payment.charge", "charged"),
        ("payment.settle", "settled"),
    ]
    assert all(ALICE.card_number not in repr(r) for r in audit.records)


def test_insufficient_prepaid_balance_declines_and_the_bill_stays_outstanding(
    payments: Payments, database: Database
) -> None:
    payments.top_up("kiosk-1", "k-top", ALICE, 1000, "cash")
    bill = add_bill(database, ALICE, 1500)
    order = payments.pay_bill("kiosk-1", "k-pay", ALICE, bill, 1500, "prepaid")
    assert order.status == "declined"
    assert bill_status(database, bill) == ("outstanding", None)
    assert payments.balance(ALICE) == 1000


def test_a_bill_paid_through_the_gateway(payments: Payments, database: Database, acquirer: Acquirer) -> None:
    bill = add_bill(database, ALICE, 2600)
    order = payments.pay_bill("kiosk-1", "k-1", ALICE, bill, 2600, "gateway")
    assert order.status == "settled"
    assert order.method_transaction_id is not None
    assert [t.amount_fen for t in acquirer.charges(order.reference)] == [2600]
    assert bill_status(database, bill) == ("settled", order.reference)
    assert payments.ledger.balance("gateway_clearing") == 2600


def test_a_declined_gateway_charge_takes_nothing(
    payments: Payments, database: Database, acquirer: Acquirer
) -> None:
    control(acquirer, decline_amounts=[2700])
    bill = add_bill(database, ALICE, 2700)
    order = payments.pay_bill("kiosk-1", "k-1", ALICE, bill, 2700, "gateway")
    assert order.status == "declined"
    assert acquirer.charges() == []
    assert bill_status(database, bill) == ("outstanding", None)
    assert payments.ledger.postings() == []


def test_a_gateway_timeout_is_in_doubt_until_the_acquirer_is_asked(
    payments: Payments, database: Database, acquirer: Acquirer
) -> None:
    control(acquirer, mode="timeout")
    bill = add_bill(database, ALICE, 2800)
    order = payments.pay_bill("kiosk-1", "k-1", ALICE, bill, 2800, "gateway")
    assert order.status == "in_doubt"
    assert bill_status(database, bill) == ("outstanding", None)  # nothing guessed
    assert payments.ledger.postings() == []
    control(acquirer, mode="approve")
    resolved = payments.resolve(order.reference)
    assert resolved.status == "settled"  # the acquirer had taken the money: it is recorded, the bill paid
    assert len(acquirer.charges(order.reference)) == 1
    assert bill_status(database, bill) == ("settled", order.reference)


def test_an_unreachable_gateway_fails_the_payment_without_charging(
    database: Database, his: EmbeddedHis
) -> None:
    payments = make_payments(database, his, "http://127.0.0.1:9")  # nothing listens there
    bill = add_bill(database, ALICE, 900)
    order = payments.pay_bill("kiosk-1", "k-1", ALICE, bill, 900, "gateway")
    assert (order.status, order.error_code) == ("failed", "method_unavailable")
    assert bill_status(database, bill) == ("outstanding", None)


def test_the_same_key_and_request_returns_the_stored_order_and_charges_once(
    payments: Payments, database: Database, acquirer: Acquirer
) -> None:
    bill = add_bill(database, ALICE, 1234)
    first = payments.pay_bill("kiosk-1", "k-1", ALICE, bill, 1234, "gateway")
    again = payments.pay_bill("kiosk-1", "k-1", ALICE, bill, 1234, "gateway")
    assert again == first
    assert len(acquirer.charges()) == 1
    # Another client may use the same key string: keys are per client (not a replay: the bill is paid).
    with pytest.raises(BillInPayment, match="is paid"):
        payments.pay_bill("kiosk-2", "k-1", ALICE, bill, 1234, "gateway")


def test_the_same_key_for_another_request_is_a_clear_error(payments: Payments, database: Database) -> None:
    bill = add_bill(database, ALICE, 1000)
    payments.top_up("kiosk-1", "k-1", ALICE, 5000, "cash")
    for call in (
        lambda: payments.top_up("kiosk-1", "k-1", ALICE, 5001, "cash"),
        lambda: payments.top_up("kiosk-1", "k-1", BOB, 5000, "cash"),
        lambda: payments.pay_bill("kiosk-1", "k-1", ALICE, bill, 1000, "prepaid"),
    ):
        with pytest.raises(IdempotencyConflict):
            call()
    assert payments.balance(ALICE) == 5000


def test_bad_requests_are_refused_before_any_order(payments: Payments, database: Database) -> None:
    bill = add_bill(database, ALICE, 1000)
    with pytest.raises(PaymentRejected, match="totals 1000"):
        payments.pay_bill("kiosk-1", "k-1", ALICE, bill, 999, "prepaid")
    with pytest.raises(PaymentRejected, match="no outstanding bill"):
        payments.pay_bill("kiosk-1", "k-2", BOB, bill, 1000, "prepaid")  # not BOB's bill
    with pytest.raises(PaymentRejected, match="no payment method"):
        payments.pay_bill("kiosk-1", "k-3", ALICE, bill, 1000, "bitcoin")
    with pytest.raises(PaymentRejected, match="amount_fen"):
        payments.top_up("kiosk-1", "k-4", ALICE, 0, "cash")
    with pytest.raises(PaymentRejected, match="idempotency key"):
        payments.top_up("kiosk-1", "bad key!", ALICE, 100, "cash")
    assert payments.orders(ALICE) == []


def test_get_order_only_for_its_patient(payments: Payments) -> None:
    order = payments.top_up("kiosk-1", "k-1", ALICE, 100, "cash")
    assert payments.get_order(order.reference, patient=ALICE) == order
    with pytest.raises(OrderNotFound):
        payments.get_order(order.reference, patient=BOB)


@pytest.mark.parametrize("method", ["gateway", "prepaid"])
def test_fifty_concurrent_calls_with_one_key_charge_once(
    payments: Payments, database: Database, acquirer: Acquirer, method: str
) -> None:
    payments.top_up("kiosk-1", "k-top", ALICE, 100000, "cash")
    bill = add_bill(database, ALICE, 4321)
    barrier = threading.Barrier(50)
    results: list[object] = []

    def pay() -> None:
        barrier.wait()
        try:
            results.append(payments.pay_bill("kiosk-1", "k-same", ALICE, bill, 4321, method).reference)
        except Exception as exc:  # collected: the assertion below shows it
            results.append(exc)

    threads = [threading.Thread(target=pay) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1, results
    reference = results[0]
    assert isinstance(reference, str)
    assert payments.get_order(reference).status == "settled"
    charges = [p for p in payments.ledger.postings() if p.kind == "payment"]
    assert [p.order_reference for p in charges] == [reference]
    if method == "gateway":
        assert len(acquirer.charges()) == 1
    else:
        assert payments.balance(ALICE) == 100000 - 4321
    assert bill_status(database, bill) == ("settled", reference)


def test_a_top_up_refund_never_takes_more_than_the_balance(
    payments: Payments, database: Database, acquirer: Acquirer
) -> None:
    top_up = payments.top_up("kiosk-1", "k-1", ALICE, 5000, "gateway")
    assert top_up.status == "settled"
    assert payments.balance(ALICE) == 5000
    bill = add_bill(database, ALICE, 4000)
    assert payments.pay_bill("kiosk-1", "k-2", ALICE, bill, 4000, "prepaid").status == "settled"
    with pytest.raises(InsufficientFunds):  # 1000 left: the ledger refuses before the acquirer is asked
        payments.refund("kiosk-1", "k-3", ALICE, top_up.reference, 2000)
    refund = payments.refund("kiosk-1", "k-4", ALICE, top_up.reference, 1000)
    assert refund.status == "refunded"
    assert payments.balance(ALICE) == 0
    refunds = [
        t
        for t in acquirer.store.transactions(refund.created_at.astimezone(CHINA_TZ).date().isoformat())
        if t.kind == "refund"
    ]
    assert [(t.reference, t.amount_fen, t.status) for t in refunds] == [(refund.reference, 1000, "approved")]
    with pytest.raises(PaymentRejected, match="more than was paid"):
        payments.refund("kiosk-1", "k-5", ALICE, top_up.reference, 4001)
    assert payments.ledger.verify().balanced


def test_a_refund_declined_by_the_method_is_reversed_in_the_ledger(
    payments: Payments, acquirer: Acquirer
) -> None:
    top_up = payments.top_up("kiosk-1", "k-1", ALICE, 5000, "gateway")
    control(acquirer, mode="decline")
    refund = payments.refund("kiosk-1", "k-2", ALICE, top_up.reference, 2000)
    assert (refund.status, refund.error_code) == ("failed", "refund_declined")
    assert payments.balance(ALICE) == 5000
    kinds = [p.kind for p in payments.ledger.postings(order_reference=refund.reference)]
    assert kinds == ["refund", "reversal"]  # append-only: the correction is a new transaction
    assert payments.ledger.verify().balanced
    # A failed refund does not count against what may still be refunded.
    control(acquirer, mode="approve")
    assert payments.refund("kiosk-1", "k-3", ALICE, top_up.reference, 5000).status == "refunded"
    assert payments.balance(ALICE) == 0


def test_a_prepaid_bill_payment_refund_goes_back_to_the_account(
    payments: Payments, database: Database
) -> None:
    payments.top_up("kiosk-1", "k-1", BOB, 3000, "cash")
    bill = add_bill(database, BOB, 2000)
    paid = payments.pay_bill("kiosk-1", "k-2", BOB, bill, 2000, "prepaid")
    assert payments.balance(BOB) == 1000
    refund = payments.refund("counter-1", "k-3", BOB, paid.reference, 2000)
    assert refund.status == "refunded"
    assert payments.balance(BOB) == 3000
    assert payments.ledger.balance(HIS_REVENUE) == 0
    assert payments.ledger.balance("prepaid_clearing") == 0
    assert payments.ledger.verify().balanced
