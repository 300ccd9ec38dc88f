"""A refused settlement never keeps the money: a bill the HIS refuses after the money was taken is
``unsettled`` — an open state — until a refund of its whole amount is ``refunded``; then it is
``returned``. A kill before the refund order exists, or a refund that fails, is finished by recover()."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from cardservice.his import EmbeddedHis
from cardservice.payments import CRASH_POINTS, PaymentRejected, Payments
from cardservice.store import Database, PaymentOrderRow
from tests.payments.conftest import (
    ALICE,
    Acquirer,
    AuditSpy,
    Crash,
    DyingAudit,
    Intercept,
    RefusingHis,
    add_bill,
    bill_status,
    crash_at,
    make_payments,
    money_taken,
)


def assert_money_back(payments: Payments, method: str, bill_reference: str, balance: int) -> None:
    assert payments.balance(ALICE) == balance
    assert money_taken(payments, bill_reference, method) == 0
    for account in ("his_revenue", "prepaid_clearing", "cash_clearing", "gateway_clearing"):
        assert payments.ledger.balance(account) == 0, account
    assert payments.ledger.verify().balanced


@pytest.mark.parametrize("method", ["prepaid", "gateway"])
@pytest.mark.parametrize("kill", ["refund_due", "audit_of_unsettled"])
def test_a_kill_between_unsettled_and_its_refund_order_still_gives_the_money_back(
    database: Database, his: EmbeddedHis, acquirer: Acquirer, method: str, kill: str
) -> None:
    assert "refund_due" in CRASH_POINTS
    setup = make_payments(database, his, acquirer.url)
    setup.top_up("kiosk-1", "k-top", ALICE, 10000, "cash")
    bill = add_bill(database, ALICE, 2500)
    refusing = RefusingHis(database)
    if kill == "refund_due":
        dying = make_payments(database, refusing, acquirer.url, crash_at=crash_at("refund_due"))
    else:  # killed after unsettled committed, while its audit record was being written
        dying = make_payments(database, refusing, acquirer.url, audit=DyingAudit("unsettled"))
    with pytest.raises(Crash):
        dying.pay_bill("kiosk-1", "k-pay", ALICE, bill, 2500, method)
    (order,) = [o for o in setup.orders(ALICE) if o.kind != "top_up"]
    assert (order.status, order.error_code) == ("unsettled", "already_settled")  # no refund order yet

    audit = AuditSpy()
    fresh = make_payments(database, refusing, acquirer.url, audit=audit)
    report = fresh.recover()
    assert report.unresolved == ()
    orders = {o.kind: o for o in fresh.orders(ALICE) if o.kind != "top_up"}
    assert (orders["bill"].status, orders["bill"].error_code) == ("returned", "already_settled")
    assert orders["bill"].final
    assert (orders["refund"].status, orders["refund"].parent_reference) == ("refunded", order.reference)
    assert_money_back(fresh, method, order.reference, 10000)
    assert bill_status(database, bill) == ("outstanding", None)
    assert ("payment.return", "returned") in audit.of(order.reference)
    assert fresh.recover().resolved == ()


@pytest.mark.parametrize("method", ["prepaid", "gateway"])
def test_a_refund_the_method_cannot_make_for_a_moment_is_made_by_a_later_recover(
    database: Database, his: EmbeddedHis, acquirer: Acquirer, method: str
) -> None:
    setup = make_payments(database, his, acquirer.url)
    setup.top_up("kiosk-1", "k-top", ALICE, 10000, "cash")
    bill = add_bill(database, ALICE, 2600)
    refusing = RefusingHis(database)
    flaky = make_payments(
        database, refusing, acquirer.url, wrap=lambda m: Intercept(m, unavailable_refunds=1)
    )
    order = flaky.pay_bill("kiosk-1", "k-pay", ALICE, bill, 2600, method)
    assert order.status == "unsettled"  # paid, refused by the HIS, its refund not done: still open
    assert not order.final
    (failed,) = [o for o in flaky.orders(ALICE) if o.kind == "refund"]
    assert (failed.status, failed.error_code) == ("failed", "refund_unavailable")
    # A manual refund still may not give back an unsettled bill's money: that is the service's own.
    with pytest.raises(PaymentRejected, match="only a settled order"):
        flaky.refund("counter-1", "k-manual", ALICE, order.reference, 2600)

    fresh = make_payments(database, refusing, acquirer.url)
    (returned,) = [o for o in fresh.recover().resolved if o.kind == "bill"]
    assert (returned.reference, returned.status) == (order.reference, "returned")
    refunds = [o for o in fresh.orders(ALICE) if o.kind == "refund"]
    assert sorted(o.status for o in refunds) == ["failed", "refunded"]  # a second attempt, a new order
    assert_money_back(fresh, method, order.reference, 10000)


def test_resolve_and_a_retry_finish_an_unsettled_bill_too(
    database: Database, his: EmbeddedHis, acquirer: Acquirer
) -> None:
    setup = make_payments(database, his, acquirer.url)
    setup.top_up("kiosk-1", "k-top", ALICE, 10000, "cash")
    bill = add_bill(database, ALICE, 1200)
    refusing = RefusingHis(database)
    flaky = make_payments(
        database, refusing, acquirer.url, wrap=lambda m: Intercept(m, unavailable_refunds=2)
    )
    order = flaky.pay_bill("kiosk-1", "k-pay", ALICE, bill, 1200, "prepaid")
    assert order.status == "unsettled"
    assert flaky.resolve(order.reference).status == "unsettled"  # the method is still down
    assert flaky.pay_bill("kiosk-1", "k-pay", ALICE, bill, 1200, "prepaid").status == "returned"
    assert flaky.balance(ALICE) == 10000


def test_a_returned_bill_may_be_paid_again(database: Database, his: EmbeddedHis, acquirer: Acquirer) -> None:
    setup = make_payments(database, his, acquirer.url)
    setup.top_up("kiosk-1", "k-top", ALICE, 10000, "cash")
    bill = add_bill(database, ALICE, 1700)
    refused = make_payments(database, RefusingHis(database), acquirer.url)
    assert refused.pay_bill("kiosk-1", "k-1", ALICE, bill, 1700, "prepaid").status == "returned"
    paid = setup.pay_bill("kiosk-1", "k-2", ALICE, bill, 1700, "prepaid")
    assert paid.status == "settled"
    assert bill_status(database, bill) == ("settled", paid.reference)
    assert setup.balance(ALICE) == 10000 - 1700


def test_recovery_tries_a_failed_refund_again_once_the_failure_is_older_than_its_minimum_age(
    database: Database, his: EmbeddedHis, acquirer: Acquirer
) -> None:
    setup = make_payments(database, his, acquirer.url)
    setup.top_up("kiosk-1", "k-top", ALICE, 10000, "cash")
    bill = add_bill(database, ALICE, 1300)
    refusing = RefusingHis(database)
    flaky = make_payments(
        database, refusing, acquirer.url, wrap=lambda m: Intercept(m, unavailable_refunds=1)
    )
    order = flaky.pay_bill("kiosk-1", "k-pay", ALICE, bill, 1300, "prepaid")
    assert order.status == "unsettled"

    def age(reference: str) -> None:
        with database.session() as session:
            session.execute(
                update(PaymentOrderRow)
                .where(PaymentOrderRow.reference == reference)
                .values(updated_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
            )

    age(order.reference)  # the bill is old enough for recovery; its failed refund just failed
    fresh = make_payments(database, refusing, acquirer.url)
    report = fresh.recover(min_age=dt.timedelta(hours=1))
    assert [(o.reference, o.status) for o in report.unresolved] == [(order.reference, "unsettled")]
    assert len([o for o in fresh.orders(ALICE) if o.kind == "refund"]) == 1  # no new attempt yet
    (failed,) = [o for o in fresh.orders(ALICE) if o.kind == "refund"]
    age(failed.reference)
    (returned,) = fresh.recover(min_age=dt.timedelta(hours=1)).resolved
    assert (returned.reference, returned.status) == (order.reference, "returned")
    assert fresh.balance(ALICE) == 10000
