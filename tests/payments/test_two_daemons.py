"""Two daemons on one database. The second daemon's recovery may take an order the first one is still
charging (or refunding): it closes the reference at the method before it fails the order, so the first
daemon's late charge is refused and no money moves; with a minimum age it leaves the order alone. The
background sweep recovers orders older than its minimum age until it is stopped."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

import pytest

from cardservice.his import CHINA_TZ, EmbeddedHis
from cardservice.payments import (
    CASH,
    HIS_REVENUE,
    CashDesk,
    Ledger,
    MethodResult,
    MethodStatus,
    Order,
    Payments,
    PrepaidAccount,
    RecoveryReport,
)
from cardservice.store import Database
from tests.payments.conftest import (
    ALICE,
    Acquirer,
    Crash,
    Intercept,
    add_bill,
    bill_status,
    control,
    crash_at,
    make_payments,
)

CLEARING = ("prepaid_clearing", "cash_clearing")


class InFlight:
    """The first daemon, caught inside its method's *call* (charge / refund) of *method*."""

    def __init__(
        self, database: Database, his: EmbeddedHis, acquirer: Acquirer, call: str, method: str
    ) -> None:
        self.payments = make_payments(
            database, his, acquirer.url, wrap=lambda m: Intercept(m, hold=call if m.name == method else None)
        )
        gate = self.payments.methods[method]
        assert isinstance(gate, Intercept)
        self.gate = gate
        self.result: Order | BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self, work: Callable[[Payments], Order]) -> None:
        def run() -> None:
            try:
                self.result = work(self.payments)
            except BaseException as exc:  # shown by the assertion on result
                self.result = exc

        self._thread = threading.Thread(target=run)
        self._thread.start()
        assert self.gate.entered.wait(10), "the first daemon never reached its method"

    def finish(self) -> Order:
        assert self._thread is not None
        self.gate.release.set()
        self._thread.join(30)
        assert isinstance(self.result, Order), self.result
        return self.result


@pytest.mark.parametrize("method", ["prepaid", "cash", "gateway"])
def test_a_second_daemon_recovering_at_start_closes_a_charge_the_first_is_making(
    database: Database, his: EmbeddedHis, acquirer: Acquirer, method: str
) -> None:
    setup = make_payments(database, his, acquirer.url)
    setup.top_up("kiosk-1", "k-top", ALICE, 10000, "cash")
    bill = add_bill(database, ALICE, 3100)
    first = InFlight(database, his, acquirer, "charge", method)
    first.start(lambda p: p.pay_bill("kiosk-1", "k-1", ALICE, bill, 3100, method))

    second = make_payments(database, his, acquirer.url)
    report = second.recover(min_age=dt.timedelta(0))
    (closed,) = report.resolved
    assert (closed.status, closed.error_code) == ("failed", "not_charged")

    late = first.finish()  # the first daemon's charge arrives at its method after the close
    assert (late.reference, late.status) == (closed.reference, "failed")
    assert second.get_order(closed.reference).status == "failed"
    # No money moved anywhere; the bill is not paid; the books balance.
    assert bill_status(database, bill) == ("outstanding", None)
    assert second.balance(ALICE) == 10000
    assert second.ledger.balance(CASH) == 10000  # the top-up only
    assert [p for p in second.ledger.postings() if p.kind in ("method.charge", "payment") and
            p.order_reference == closed.reference] == []  # fmt: skip
    assert acquirer.charges() == []
    for account in (*CLEARING, HIS_REVENUE):
        assert second.ledger.balance(account) == 0, account
    assert second.ledger.verify().balanced
    assert second.recover() == RecoveryReport((), ())


@pytest.mark.parametrize("method", ["prepaid", "gateway"])
def test_a_second_daemon_recovering_at_start_closes_a_refund_the_first_is_making(
    database: Database, his: EmbeddedHis, acquirer: Acquirer, method: str
) -> None:
    setup = make_payments(database, his, acquirer.url)
    if method == "prepaid":
        setup.top_up("kiosk-1", "k-top", ALICE, 10000, "cash")
        bill = add_bill(database, ALICE, 2000)
        paid = setup.pay_bill("kiosk-1", "k-pay", ALICE, bill, 2000, "prepaid")
        balance, amount = 8000, 2000
    else:
        paid = setup.top_up("kiosk-1", "k-top", ALICE, 6000, "gateway")
        balance, amount = 6000, 2500
    assert paid.status == "settled"
    first = InFlight(database, his, acquirer, "refund", method)
    first.start(lambda p: p.refund("counter-1", "k-ref", ALICE, paid.reference, amount))

    second = make_payments(database, his, acquirer.url)
    (closed,) = second.recover().resolved
    assert (closed.kind, closed.status, closed.error_code) == ("refund", "failed", "refund_not_found")

    late = first.finish()
    assert (late.reference, late.status) == (closed.reference, "failed")
    assert second.balance(ALICE) == balance  # nothing given back, nothing lost
    if method == "prepaid":
        assert second.ledger.balance(HIS_REVENUE) == 2000
        assert second.ledger.balance("prepaid_clearing") == 0
    else:
        day = closed.created_at.astimezone(CHINA_TZ).date().isoformat()
        assert [t for t in acquirer.store.transactions(day) if t.kind == "refund"] == []
        assert second.ledger.balance("gateway_clearing") == 6000
    assert second.ledger.verify().balanced


def test_with_a_minimum_age_an_order_in_flight_is_left_to_its_daemon(
    database: Database, his: EmbeddedHis, acquirer: Acquirer
) -> None:
    setup = make_payments(database, his, acquirer.url)
    setup.top_up("kiosk-1", "k-top", ALICE, 10000, "cash")
    bill = add_bill(database, ALICE, 900)
    first = InFlight(database, his, acquirer, "charge", "prepaid")
    first.start(lambda p: p.pay_bill("kiosk-1", "k-1", ALICE, bill, 900, "prepaid"))
    second = make_payments(database, his, acquirer.url)
    assert second.recover(min_age=dt.timedelta(seconds=60)) == RecoveryReport((), ())
    (order,) = [o for o in second.orders(ALICE) if o.kind == "bill"]
    assert order.status == "pending"  # untouched: still the first daemon's
    assert first.finish().status == "settled"
    assert bill_status(database, bill) == ("settled", order.reference)
    assert second.balance(ALICE) == 9100


def test_the_background_recovery_finishes_old_orders_until_it_is_stopped(
    payments: Payments, acquirer: Acquirer
) -> None:
    control(acquirer, mode="timeout")
    doubt = payments.top_up("kiosk-1", "k-1", ALICE, 1500, "gateway")
    assert doubt.status == "in_doubt"
    control(acquirer, mode="approve")
    payments.start_recovery(min_age=0.0, interval=0.05)
    try:
        deadline = time.monotonic() + 15
        while payments.get_order(doubt.reference).status != "settled":
            assert time.monotonic() < deadline, "the sweep never resolved the order"
            time.sleep(0.05)
    finally:
        payments.stop_recovery()
    assert not [t for t in threading.enumerate() if t.name == "payments-recovery"]
    assert payments.balance(ALICE) == 1500


def test_the_background_recovery_leaves_young_orders_and_logs_its_failures(
    payments: Payments, acquirer: Acquirer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dt.timedelta] = []
    real = payments.recover

    def flaky_recover(*, min_age: dt.timedelta = dt.timedelta(0), quiet: bool = False) -> RecoveryReport:
        assert quiet  # a round that finds nothing leaves no audit record
        calls.append(min_age)
        if len(calls) == 1:
            raise RuntimeError("database gone for a moment")
        return real(min_age=min_age, quiet=quiet)

    monkeypatch.setattr(payments, "recover", flaky_recover)
    control(acquirer, mode="timeout")
    doubt = payments.top_up("kiosk-1", "k-1", ALICE, 1500, "gateway")
    control(acquirer, mode="approve")
    with caplog.at_level(logging.ERROR, logger="cardservice.payments"):
        payments.start_recovery(min_age=3600, interval=0.02)
        deadline = time.monotonic() + 10
        while len(calls) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        payments.stop_recovery()
    assert set(calls) == {dt.timedelta(hours=1)}
    assert "database gone for a moment" in caplog.text
    assert payments.get_order(doubt.reference).status == "in_doubt"  # younger than an hour: left alone


class StaleQuery(PrepaidAccount):
    """A prepaid account whose query answered before the charge landed (what a recovering daemon saw
    while the first daemon's debit was being committed)."""

    def query(self, reference: str) -> MethodResult:
        return MethodResult(MethodStatus.NOT_FOUND)


@pytest.mark.parametrize("kind", ["charge", "refund"])
def test_a_close_that_finds_the_posting_landed_records_the_order_as_approved(
    database: Database, his: EmbeddedHis, acquirer: Acquirer, kind: str
) -> None:
    setup = make_payments(database, his, acquirer.url)
    setup.top_up("kiosk-1", "k-top", ALICE, 10000, "cash")
    bill = add_bill(database, ALICE, 2700)
    dying = make_payments(
        database,
        his,
        acquirer.url,
        crash_at=crash_at(f"{'refund' if kind == 'refund' else 'method'}_answered"),
    )
    if kind == "charge":
        work = lambda: dying.pay_bill("kiosk-1", "k-pay", ALICE, bill, 2700, "prepaid")  # noqa: E731
    else:
        paid = setup.pay_bill("kiosk-1", "k-pay", ALICE, bill, 2700, "prepaid")
        work = lambda: dying.refund("counter-1", "k-ref", ALICE, paid.reference, 2700)  # noqa: E731
    with pytest.raises(Crash):  # the money moved at the method; the order does not know yet
        work()
    ledger = Ledger(database)
    stale = Payments(database, his, [StaleQuery(ledger), CashDesk(ledger)], ledger=ledger)
    (order,) = stale.recover().resolved
    assert order.status == ("settled" if kind == "charge" else "refunded")  # not failed: it was posted
    assert stale.balance(ALICE) == (10000 - 2700 if kind == "charge" else 10000)
    assert [p for p in ledger.postings() if p.kind == "closed"] == []
    assert ledger.verify().balanced
