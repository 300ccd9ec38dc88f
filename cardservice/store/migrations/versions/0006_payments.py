"""Payments (cardservice.payments): a double-entry ledger — accounts, transactions, entries — and the
orders it records with their state history.

A prepaid account's balance may never go below its floor (a CHECK constraint backs the conditional
UPDATE that posts to it). Ledger transactions and entries are append-only: triggers refuse UPDATE and
DELETE, so a correction can only be a new, reversing transaction.

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_APPEND_ONLY = ("ledger_transactions", "ledger_entries")


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("normal_side", sa.String(1), nullable=False),
        sa.Column("floor_fen", sa.BigInteger(), nullable=True),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("normal_side IN ('D', 'C')", name="ck_ledger_accounts_side"),
        sa.CheckConstraint("floor_fen IS NULL OR balance_fen >= floor_fen", name="ck_ledger_accounts_floor"),
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("method", sa.String(32), nullable=True),
        sa.Column("order_reference", sa.String(40), nullable=True),
        sa.Column("reverses", sa.Integer(), sa.ForeignKey("ledger_transactions.id"), nullable=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("memo", sa.String(200), nullable=True),
    )
    op.create_index("ix_ledger_transactions_day", "ledger_transactions", ["day"])
    op.create_index("ix_ledger_transactions_order", "ledger_transactions", ["order_reference"])
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("transaction_id", sa.Integer(), sa.ForeignKey("ledger_transactions.id"), nullable=False),
        sa.Column("account", sa.String(64), sa.ForeignKey("ledger_accounts.name"), nullable=False),
        sa.Column("side", sa.String(1), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("side IN ('D', 'C')", name="ck_ledger_entries_side"),
        sa.CheckConstraint("amount_fen > 0", name="ck_ledger_entries_amount"),
    )
    op.create_index("ix_ledger_entries_transaction", "ledger_entries", ["transaction_id"])
    op.create_index("ix_ledger_entries_account", "ledger_entries", ["account"])
    op.create_table(
        "payments_orders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(40), nullable=False, unique=True),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("card_number", sa.String(32), nullable=False),
        sa.Column("patient_name", sa.String(64), nullable=False),
        sa.Column("bill_id", sa.String(32), nullable=True),
        sa.Column("parent_reference", sa.String(40), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("method_transaction_id", sa.String(64), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("message", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("client_id", "idempotency_key", name="uq_payments_orders_key"),
        sa.CheckConstraint("amount_fen > 0", name="ck_payments_orders_amount"),
    )
    op.create_index("ix_payments_orders_status", "payments_orders", ["status"])
    op.create_index("ix_payments_orders_card_number", "payments_orders", ["card_number"])
    op.create_index("ix_payments_orders_parent", "payments_orders", ["parent_reference"])
    op.create_table(
        "payments_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_reference", sa.String(40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_payments_events_order", "payments_events", ["order_reference"])
    # Append-only ledger. (Whoever owns the database can drop a trigger; verify() still recomputes every
    # balance from the entries and reports any difference.)
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in _APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
            )
    else:
        for table in _APPEND_ONLY:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in _APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS ledger_append_only()")
    for table in (
        "payments_events", "payments_orders", "ledger_entries", "ledger_transactions", "ledger_accounts",
    ):  # fmt: skip
        op.drop_table(table)
