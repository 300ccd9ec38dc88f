"""Payments, once: a bill is held by one order at a time, and every order event is audited.

``uq_payments_orders_live_bill`` — a partial unique index on ``payments_orders(bill_id)`` over the bill
orders that hold their bill (pending, in_doubt, charged, settled, unsettled): a second order of the bill
is refused by the database itself, across daemons sharing it. ``unsettled`` is no longer final: it ends
``returned`` once its refund gave the whole amount back. Bills the earlier code left ``unsettled`` with
their money already back are moved to ``returned`` here (with their event, audited by the next
``recover()``), so the index can be built over the loser orders of the race it closes.

``payments_events.audited_at``: when the event's audit record was written (``recover()`` writes those a
kill lost). Earlier events count as audited: the earlier code audited them, or lost them for good.

Closed references of the in-database payment methods (``ledger_transactions`` of kind
``closed``, no entries) need no schema; the way down removes them (the earlier code would take one
for a posting with other entries), lifting the append-only trigger for that one statement.

Revision ID: 0008
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_HOLDS_BILL = sa.text(
    "kind = 'bill' AND status IN ('pending', 'in_doubt', 'charged', 'settled', 'unsettled')"
)
_UNAUDITED = sa.text("audited_at IS NULL")

_orders = sa.table(
    "payments_orders",
    sa.column("reference", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("status", sa.String()),
    sa.column("amount_fen", sa.BigInteger()),
    sa.column("parent_reference", sa.String()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_events = sa.table(
    "payments_events",
    sa.column("order_reference", sa.String()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String()),
    sa.column("from_status", sa.String()),
    sa.column("to_status", sa.String()),
    sa.column("detail", sa.Text()),
    sa.column("audited_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.add_column("payments_events", sa.Column("audited_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(_events.update().values(audited_at=_events.c.at))
    _return_refunded_bills()
    op.create_index(
        "uq_payments_orders_live_bill", "payments_orders", ["bill_id"], unique=True,
        sqlite_where=_HOLDS_BILL, postgresql_where=_HOLDS_BILL,
    )  # fmt: skip
    op.create_index(
        "ix_payments_events_unaudited", "payments_events", ["id"],
        sqlite_where=_UNAUDITED, postgresql_where=_UNAUDITED,
    )  # fmt: skip


def _return_refunded_bills() -> None:
    """Unsettled bills whose refunds gave the whole amount back: returned (as recover() would move them)."""
    refund = _orders.alias("refund")
    refunded = (
        sa.select(sa.func.coalesce(sa.func.sum(refund.c.amount_fen), 0))
        .where(
            refund.c.parent_reference == _orders.c.reference,
            refund.c.kind == "refund",
            refund.c.status == "refunded",
        )
        .scalar_subquery()
    )
    connection = op.get_bind()
    references = connection.scalars(
        sa.select(_orders.c.reference).where(
            _orders.c.kind == "bill", _orders.c.status == "unsettled", _orders.c.amount_fen <= refunded
        )
    ).all()
    now = dt.datetime.now(dt.UTC)
    for reference in references:
        connection.execute(
            _orders.update().where(_orders.c.reference == reference).values(status="returned", updated_at=now)
        )
        connection.execute(
            _events.insert().values(
                order_reference=reference, at=now, actor="migration 0008", from_status="unsettled",
                to_status="returned", detail='{"action": "return"}', audited_at=None,
            )
        )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_payments_events_unaudited", table_name="payments_events")
    op.drop_index("uq_payments_orders_live_bill", table_name="payments_orders")
    # The earlier code knows no returned: its bills were unsettled (final) there.
    op.execute(_orders.update().where(_orders.c.status == "returned").values(status="unsettled"))
    with op.batch_alter_table("payments_events") as batch:
        batch.drop_column("audited_at")
    delete = "DELETE FROM ledger_transactions WHERE kind = 'closed'"
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_transactions DISABLE TRIGGER ledger_transactions_append_only")
        op.execute(delete)
        op.execute("ALTER TABLE ledger_transactions ENABLE TRIGGER ledger_transactions_append_only")
    else:
        op.execute("DROP TRIGGER ledger_transactions_no_delete")
        op.execute(delete)
        op.execute(
            "CREATE TRIGGER ledger_transactions_no_delete BEFORE DELETE ON ledger_transactions "
            "BEGIN SELECT RAISE(ABORT, 'ledger_transactions is append-only'); END"
        )
