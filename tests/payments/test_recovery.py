"""Kill the service at every step of a payment (crash_at raises), build a fresh service on the same
database and call recover(): the ledger balances, nothing is paid twice, nothing is lost, and the HIS
bill is settled exactly when the money was taken."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from cardservice.his import CHINA_TZ, EmbeddedHis, HisUnavailable, Patient
from cardservice.payments import CRASH_POINTS, GatewayMethod, Payments
from cardservice.store import Database, HisBillRow
from tests.payments.conftest import (
    ALICE,
    Acquirer,
    AuditSpy,
    Crash,
    DyingAudit,
    add_bill,
    bill_status,
    control,
    crash_at,
    make_payments,
    money_taken,
)

CHARGE_POINTS = [p for p in CRASH_POINTS if not p.startswith("refund")]


def close(payments: Payments) -> None:
    gateway = payments.methods["gateway"]
    assert isinstance(gateway, GatewayMethod)
    gateway.close()


@pytest.mark.parametrize("method", ["prepaid", "gateway"])
@pytest.mark.parametrize("point", CHARGE_POINTS)
def test_a_kill_at_any_step_of_a_bill_payment_recovers_consistently(
    database: Database, his: EmbeddedHis, acquirer: Acquirer, method: str, point: str
) -> None:
    setup = make_payments(database, his, acquirer.url)
    setup.top_up("kiosk-1", "k-top", ALICE, 10000, "cash")
    bill = add_bill(database, ALICE, 3300)
    dying = make_payments(database, his, acquirer.url, crash_at=crash_at(point))
    with pytest.raises(Crash):
        dying.pay_bill("kiosk-1", "k-pay", ALICE, bill, 3300, method)
    close(dying)

    fresh = make_payments(database, his, acquirer.url)
    report = fresh.recover()
    assert report.unresolved == ()
    (order,) = [o for o in fresh.orders(ALICE) if o.kind == "bill"]
    taken = money_taken(fresh, order.reference, method)
    status, reference = bill_status(database, bill)
    if point == "intent_recorded":
        assert (order.status, taken, status) == ("failed", 0, "outstanding")  # never charged
    else:
        assert (order.status, taken, status, reference) == ("settled", 3300, "settled", order.reference)
    assert fresh.balance(ALICE) == 10000 - (taken if method == "prepaid" else 0)
    assert fresh.ledger.verify().balanced
    payments_posted = [p for p in fresh.ledger.postings() if p.kind == "payment"]
    assert len(payments_posted) == (taken > 0)
    # The retried request afterwards returns the recovered order and charges nothing more.
    if order.status == "settled":
        assert fresh.pay_bill("kiosk-1", "k-pay", ALICE, bill, 3300, method) == order
        assert money_taken(fresh, order.reference, method) == 3300
    assert fresh.recover().resolved == ()  # nothing left to do
    close(setup)
    close(fresh)


@pytest.mark.parametrize("point", ["refund_recorded", "refund_answered"])
def test_a_kill_during_a_refund_recovers_consistently(
    database: Database, his: EmbeddedHis, acquirer: Acquirer, point: str
) -> None:
    setup = make_payments(database, his, acquirer.url)
    top_up = setup.top_up("kiosk-1", "k-top", ALICE, 6000, "gateway")
    dying = make_payments(database, his, acquirer.url, crash_at=crash_at(point))
    with pytest.raises(Crash):
        dying.refund("kiosk-1", "k-ref", ALICE, top_up.reference, 2500)
    assert setup.balance(ALICE) == 3500  # set aside before the acquirer was asked
    fresh = make_payments(database, his, acquirer.url)
    report = fresh.recover()
    (refund,) = report.resolved
    day = refund.created_at.astimezone(CHINA_TZ).date().isoformat()
    refunded_at_acquirer = [t for t in acquirer.store.transactions(day) if t.kind == "refund"]
    if point == "refund_recorded":
        # Never sent: the acquirer closes the reference on query; the set-aside money comes back.
        assert refund.status == "failed"
        assert refunded_at_acquirer == []
        assert fresh.balance(ALICE) == 6000
    else:
        assert refund.status == "refunded"
        assert [t.amount_fen for t in refunded_at_acquirer] == [2500]
        assert fresh.balance(ALICE) == 3500
    assert fresh.ledger.verify().balanced
    for service in (setup, dying, fresh):
        close(service)


def test_an_in_doubt_payment_stays_in_doubt_while_the_acquirer_is_unreachable(
    database: Database, his: EmbeddedHis, acquirer: Acquirer
) -> None:
    control(acquirer, mode="timeout")
    bill = add_bill(database, ALICE, 4100)
    first = make_payments(database, his, acquirer.url)
    order = first.pay_bill("kiosk-1", "k-1", ALICE, bill, 4100, "gateway")
    assert order.status == "in_doubt"
    close(first)
    offline = make_payments(database, his, "http://127.0.0.1:9")  # the acquirer cannot be reached
    report = offline.recover()
    assert [o.reference for o in report.unresolved] == [order.reference]
    assert report.unresolved[0].status == "in_doubt"  # not guessed either way
    assert bill_status(database, bill) == ("outstanding", None)
    close(offline)
    online = make_payments(database, his, acquirer.url)
    (resolved,) = online.recover().resolved
    assert resolved.status == "settled"
    assert bill_status(database, bill) == ("settled", order.reference)
    assert len(acquirer.charges(order.reference)) == 1
    close(online)


class DownHis(EmbeddedHis):
    def settle_bill(self, patient: Patient, bill_id: str, **kwargs: object) -> object:  # type: ignore[override]
        raise HisUnavailable("down")


def test_a_payment_the_his_cannot_take_now_is_settled_later(
    database: Database, his: EmbeddedHis, acquirer: Acquirer
) -> None:
    bill = add_bill(database, ALICE, 1800)
    down = make_payments(database, DownHis(database), acquirer.url)
    order = down.pay_bill("kiosk-1", "k-1", ALICE, bill, 1800, "gateway")
    assert order.status == "charged"  # paid and recorded; the HIS not told yet
    assert bill_status(database, bill) == ("outstanding", None)
    close(down)
    up = make_payments(database, his, acquirer.url)
    (resolved,) = up.recover().resolved
    assert resolved.status == "settled"
    assert bill_status(database, bill) == ("settled", order.reference)
    close(up)


def test_a_payment_the_his_refuses_is_refunded(
    database: Database, his: EmbeddedHis, acquirer: Acquirer, audit: object
) -> None:
    bill = add_bill(database, ALICE, 2200)
    payments = make_payments(database, his, acquirer.url, crash_at=crash_at("ledger_posted"))
    with pytest.raises(Crash):
        payments.pay_bill("kiosk-1", "k-1", ALICE, bill, 2200, "gateway")
    with database.session() as session:  # meanwhile the bill was paid at the counter
        session.execute(
            update(HisBillRow)
            .where(HisBillRow.id == bill)
            .values(status="settled", payment_reference="COUNTER-1")
        )
    fresh = make_payments(database, his, acquirer.url)
    fresh.recover()
    orders = {o.kind: o for o in fresh.orders(ALICE)}
    # unsettled until its refund gave the whole amount back: then returned (final)
    assert (orders["bill"].status, orders["bill"].error_code) == ("returned", "already_settled")
    assert orders["refund"].status == "refunded"
    assert orders["refund"].parent_reference == orders["bill"].reference
    assert money_taken(fresh, orders["bill"].reference, "gateway") == 0
    assert fresh.ledger.balance("his_revenue") == 0
    assert fresh.ledger.balance("gateway_clearing") == 0
    assert fresh.ledger.verify().balanced
    close(payments)
    close(fresh)


@pytest.mark.parametrize("lost", ["charged", "settled"])
def test_a_move_whose_audit_record_a_kill_prevented_is_audited_by_recover(
    database: Database, his: EmbeddedHis, acquirer: Acquirer, lost: str
) -> None:
    """Killed after a move committed, before its audit record was written: recover() writes it from
    the order's events (payments_events), once."""
    bill = add_bill(database, ALICE, 2100)
    dying_audit = DyingAudit(lost)
    dying = make_payments(database, his, acquirer.url, audit=dying_audit)
    with pytest.raises(Crash):
        dying.pay_bill("kiosk-1", "k-1", ALICE, bill, 2100, "gateway")
    (order,) = dying.orders(ALICE)
    assert lost not in [result for _, result in dying_audit.of(order.reference)]
    close(dying)

    audit = AuditSpy()
    fresh = make_payments(database, his, acquirer.url, audit=audit)
    fresh.recover()
    fresh.recover()
    assert dying_audit.of(order.reference) + audit.of(order.reference) == [
        ("payment.order", "pending"),
        ("payment.charge", "charged"),
        ("payment.settle", "settled"),
    ]
    (charged,) = [r for r in audit.records if r["result"] == lost]
    assert charged["card"] == "1101************" + ALICE.card_number[-2:]
    assert charged["actor"] == "kiosk-1"  # the actor of the move, not the recovery
    assert charged["detail"]["amount_fen"] == 2100
    assert all(ALICE.card_number not in repr(r) for r in audit.records)
    close(fresh)
