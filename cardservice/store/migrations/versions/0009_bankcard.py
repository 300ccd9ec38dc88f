"""The bank-card terminal's transactions: ``bankcard_transactions``.

One row per ISO 8583 sale or refund, written before the message is sent, so a daemon killed at any point
finds what it may owe the acquirer: a sale ``sent`` or ``approved`` but not ``completed`` is reversed (0400)
until the acquirer acknowledges it (0410). (terminal_id, batch, stan) is unique: the acquirer's key.

Revision ID: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bankcard_transactions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(48), nullable=False, unique=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("order_reference", sa.String(40), nullable=False),
        sa.Column("terminal_id", sa.String(8), nullable=False),
        sa.Column("merchant_id", sa.String(15), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("stan", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("masked_pan", sa.String(19), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("response_code", sa.String(2), nullable=True),
        sa.Column("auth_code", sa.String(6), nullable=True),
        sa.Column("rrn", sa.String(12), nullable=True),
        sa.Column("original_rrn", sa.String(12), nullable=True),
        sa.Column("reversal_reason", sa.String(2), nullable=True),
        sa.Column("card_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("terminal_id", "batch", "stan", name="uq_bankcard_transactions_stan"),
        sa.CheckConstraint("amount_fen > 0", name="ck_bankcard_transactions_amount"),
        sa.CheckConstraint(
            "state IN ('started', 'sent', 'approved', 'completed', 'declined', 'not_sent', "
            "'reversal_pending', 'reversed', 'refunded')",
            name="ck_bankcard_transactions_state",
        ),
    )
    op.create_index("ix_bankcard_transactions_state", "bankcard_transactions", ["state"])


def downgrade() -> None:
    op.drop_index("ix_bankcard_transactions_state", table_name="bankcard_transactions")
    op.drop_table("bankcard_transactions")
