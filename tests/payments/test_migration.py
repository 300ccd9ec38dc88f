"""Migration 0008 on a database the earlier code wrote: a bill the HIS refused, whose money already went
back, is ``returned`` (so the one-live-order-per-bill index can be built over it); earlier events count
as audited; and the way down puts things back as the earlier code knew them."""

from __future__ import annotations

import datetime as dt
from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, bindparam, select, text

from cardservice.store import PaymentEventRow, PaymentOrderRow, open_database
from tests.payments.conftest import ALICE

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


def migrate(database_url: str, revision: str, *, down: bool = False) -> None:
    database = open_database(database_url, migrate=False)
    try:
        with database.engine.begin() as connection:
            config = Config()
            config.set_main_option(
                "script_location", str(resources.files("cardservice.store") / "migrations")
            )
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        database.close()


def test_0008_returns_bills_whose_money_went_back_and_reserves_each_bill_once(database_url: str) -> None:
    migrate(database_url, "0007")
    database = open_database(database_url, migrate=False)
    orders = [
        # reference, kind, status, parent: two payments of one bill (the race 0008 closes): the winner
        # settled, the loser unsettled with its money back; another unsettled one whose refund failed.
        ("PO-WIN", "bill", "settled", None, "SF1"),
        ("PO-LOST", "bill", "unsettled", None, "SF1"),
        ("RF-LOST", "refund", "refunded", "PO-LOST", "SF1"),
        ("PO-OPEN", "bill", "unsettled", None, "SF2"),
        ("RF-OPEN", "refund", "failed", "PO-OPEN", "SF2"),
    ]
    with database.engine.begin() as connection:
        for reference, kind, status, parent, bill in orders:
            connection.execute(
                text(
                    "INSERT INTO payments_orders (reference, client_id, idempotency_key, request_hash, kind, "
                    "method, card_number, patient_name, bill_id, parent_reference, amount_fen, status, "
                    "created_at, updated_at) VALUES (:r, 'payments', :r, :h, :k, 'prepaid', :c, :n, :b, :p, "
                    "700, :s, :t, :t)"
                ).bindparams(bindparam("t", type_=DateTime(timezone=True))),
                {"r": reference, "h": "0" * 64, "k": kind, "c": ALICE.card_number, "n": ALICE.name, "b": bill,
                 "p": parent, "s": status, "t": NOW},
            )  # fmt: skip
            connection.execute(
                text(
                    "INSERT INTO payments_events (order_reference, at, actor, from_status, to_status, "
                    "detail) VALUES (:r, :t, 'kiosk-1', NULL, :s, '{}')"
                ).bindparams(bindparam("t", type_=DateTime(timezone=True))),
                {"r": reference, "t": NOW, "s": status},
            )
    database.close()

    migrate(database_url, "head")
    with open_database(database_url) as database, database.session(readonly=True) as session:
        status = dict(session.execute(select(PaymentOrderRow.reference, PaymentOrderRow.status)).all())
        assert status == {
            "PO-WIN": "settled", "PO-LOST": "returned", "RF-LOST": "refunded",
            "PO-OPEN": "unsettled", "RF-OPEN": "failed",  # left to recover(): a new refund attempt
        }  # fmt: skip
        events = session.scalars(select(PaymentEventRow).order_by(PaymentEventRow.id)).all()
        assert [(e.order_reference, e.from_status, e.to_status) for e in events][-1] == (
            "PO-LOST",
            "unsettled",
            "returned",
        )
        assert [e.audited_at is None for e in events] == [False] * 5 + [True]  # the new move: not yet

    migrate(database_url, "0007", down=True)
    database = open_database(database_url, migrate=False)
    try:
        with database.engine.connect() as connection:
            rows = connection.execute(text("SELECT reference, status FROM payments_orders")).all()
            assert dict(rows)["PO-LOST"] == "unsettled"  # the earlier code knows no returned
    finally:
        database.close()
