"""Daily reconciliation (对账): the ledger against each method's own records."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import httpx
import pytest

from cardservice.his import CHINA_TZ, EmbeddedHis, Patient
from cardservice.payments import (
    MethodRecord,
    MethodResult,
    PaymentMethod,
    Payments,
    ReconciliationReport,
    reconcile,
)
from cardservice.store import Database
from tests.payments.conftest import ALICE, Acquirer, add_bill, control, make_payments

TODAY = dt.datetime.now(CHINA_TZ).date()


def test_a_clean_day_reconciles_with_totals(
    payments: Payments, database: Database, acquirer: Acquirer
) -> None:
    payments.top_up("kiosk-1", "k-1", ALICE, 8000, "cash")
    top_up = payments.top_up("kiosk-1", "k-2", ALICE, 5000, "gateway")
    bill = add_bill(database, ALICE, 3000)
    payments.pay_bill("kiosk-1", "k-3", ALICE, bill, 3000, "prepaid")
    payments.refund("kiosk-1", "k-4", ALICE, top_up.reference, 1000)
    control(acquirer, decline_amounts=[777])
    payments.top_up("kiosk-1", "k-5", ALICE, 777, "gateway")  # declined: on the acquirer's list, not ours
    report = payments.reconcile(TODAY)
    assert report.ok, report.text()
    totals = {t.method: t for t in report.totals}
    assert (totals["gateway"].ledger_fen, totals["gateway"].method_fen, totals["gateway"].matched) == (
        4000,
        4000,
        2,
    )
    assert (totals["prepaid"].ledger_fen, totals["prepaid"].method_fen) == (3000, 3000)
    assert (totals["cash"].ledger_fen, totals["cash"].method_fen) == (8000, 8000)
    assert "OK" in report.text()
    assert report.csv().splitlines() == ["day,method,reference,kind,problem,ledger_fen,method_fen,detail"]


def test_mismatches_on_either_side_are_listed(
    payments: Payments, database: Database, acquirer: Acquirer
) -> None:
    payments.top_up("kiosk-1", "k-1", ALICE, 5000, "gateway")
    # A charge the acquirer has and the ledger does not (an in-doubt order, here never resolved).
    control(acquirer, mode="timeout")
    doubt = payments.top_up("kiosk-1", "k-2", ALICE, 1200, "gateway")
    assert doubt.status == "in_doubt"
    control(acquirer, mode="approve")
    # A charge made at the acquirer by someone else under a reference the hospital never issued.
    httpx.post(
        f"{acquirer.url}/v1/charges", json={"reference": "STRAY-1", "amount_fen": 99}
    ).raise_for_status()
    report = payments.reconcile(TODAY)
    assert not report.ok
    problems = {(m.reference, m.problem, m.ledger_fen, m.method_fen) for m in report.mismatches}
    assert problems == {
        (doubt.reference, "missing_in_ledger", None, 1200),
        ("STRAY-1", "missing_in_ledger", None, 99),
        ("-", "totals_differ", 5000, 6299),  # the net totals must agree too
    }
    assert "STRAY-1" in report.csv()
    assert "missing_in_ledger" in report.text()
    # Resolving the in-doubt order clears its line.
    assert payments.resolve(doubt.reference).status == "settled"
    assert {(m.reference, m.problem) for m in payments.reconcile(TODAY).mismatches} == {
        ("STRAY-1", "missing_in_ledger"),
        ("-", "totals_differ"),
    }


def test_a_ledger_posting_the_acquirer_does_not_have_is_listed(
    database: Database, his: EmbeddedHis, acquirer: Acquirer, tmp_path: object
) -> None:
    payments = make_payments(database, his, acquirer.url)
    order = payments.top_up("kiosk-1", "k-1", ALICE, 5000, "gateway")
    with acquirer.store._lock:  # the acquirer lost the record (or never had it)
        acquirer.store._conn.execute("DELETE FROM transactions WHERE reference = ?", (order.reference,))
    report = payments.reconcile(TODAY)
    assert [(m.reference, m.problem, m.ledger_fen) for m in report.mismatches] == [
        (order.reference, "missing_at_method", 5000),
        ("-", "totals_differ", 5000),
    ]


def test_an_unreachable_method_is_reported_not_guessed(database: Database, his: EmbeddedHis) -> None:
    payments = make_payments(database, his, "http://127.0.0.1:9")
    report = payments.reconcile(TODAY)
    assert not report.ok
    assert [m.problem for m in report.mismatches] == ["method_unreachable"]
    assert "unreachable" in report.text()


class Doctored:
    """A method whose records for the day a test rewrites (what a faulty settlement file says)."""

    def __init__(
        self, inner: PaymentMethod, rewrite: Callable[[list[MethodRecord]], list[MethodRecord]]
    ) -> None:
        self.inner, self.rewrite = inner, rewrite
        self.name, self.clearing_account = inner.name, inner.clearing_account

    def charge(
        self, reference: str, amount_fen: int, patient: Patient, *, idempotency_key: str
    ) -> MethodResult:
        return self.inner.charge(reference, amount_fen, patient, idempotency_key=idempotency_key)

    def query(self, reference: str) -> MethodResult:
        return self.inner.query(reference)

    def refund(self, reference: str, amount_fen: int, refund_reference: str) -> MethodResult:
        return self.inner.refund(reference, amount_fen, refund_reference)

    def records(self, day: dt.date) -> list[MethodRecord]:
        return self.rewrite(self.inner.records(day))


def lines(report: ReconciliationReport) -> set[tuple[str, str, str, int | None, int | None]]:
    return {(m.reference, m.kind, m.problem, m.ledger_fen, m.method_fen) for m in report.mismatches}


@pytest.mark.parametrize("method", ["gateway", "cash"])
def test_a_record_the_method_lists_twice_is_a_mismatch(payments: Payments, method: str) -> None:
    top_up = payments.top_up("kiosk-1", "k-1", ALICE, 5000, method)
    doubled = Doctored(
        payments.methods[method], lambda rs: rs + [r for r in rs if r.reference == top_up.reference]
    )
    report = reconcile(payments.ledger, [doubled], TODAY)
    assert not report.ok
    assert lines(report) == {
        (top_up.reference, "charge", "duplicate_at_method", 5000, 10000),
        ("-", "net", "totals_differ", 5000, 10000),
    }
    assert "duplicate_at_method" in report.text()
    assert "totals_differ" in report.csv()


@pytest.mark.parametrize("method", ["gateway", "cash"])
def test_a_charge_the_method_records_as_a_refund_is_a_mismatch(payments: Payments, method: str) -> None:
    top_up = payments.top_up("kiosk-1", "k-1", ALICE, 5000, method)

    def as_refund(records: list[MethodRecord]) -> list[MethodRecord]:
        return [
            dataclasses.replace(r, kind="refund") if r.reference == top_up.reference else r for r in records
        ]

    report = reconcile(payments.ledger, [Doctored(payments.methods[method], as_refund)], TODAY)
    assert not report.ok
    assert lines(report) == {
        (top_up.reference, "charge", "missing_at_method", 5000, None),
        (top_up.reference, "refund", "missing_in_ledger", None, 5000),
        ("-", "net", "totals_differ", 5000, -5000),
    }


def test_net_totals_that_agree_add_no_line_and_differing_ones_do(payments: Payments) -> None:
    top_up = payments.top_up("kiosk-1", "k-1", ALICE, 5000, "gateway")
    refund = payments.refund("kiosk-1", "k-2", ALICE, top_up.reference, 1200)
    assert refund.status == "refunded"
    report = payments.reconcile(TODAY)
    assert report.ok, report.text()
    gateway = {t.method: t for t in report.totals}["gateway"]
    assert (gateway.ledger_fen, gateway.method_fen, gateway.matched) == (3800, 3800, 2)

    def bigger_refund(records: list[MethodRecord]) -> list[MethodRecord]:
        return [
            dataclasses.replace(r, amount_fen=1300) if r.reference == refund.reference else r for r in records
        ]

    report = reconcile(payments.ledger, [Doctored(payments.methods["gateway"], bigger_refund)], TODAY)
    assert lines(report) == {
        (refund.reference, "refund", "amount_differs", 1200, 1300),
        ("-", "net", "totals_differ", 3800, 3700),
    }
