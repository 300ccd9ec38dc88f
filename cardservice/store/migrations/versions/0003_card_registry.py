"""The card registry: cards and their status transitions. Two partial unique indexes make the
database refuse a second card for a person — one live card (issued/active/lost/locked) and one
card being personalised at a time — even between issuing stations sharing a PostgreSQL.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_LIVE = sa.text("status IN ('issued', 'active', 'lost', 'locked')")
_PERSONALISING = sa.text("status = 'personalising'")


def upgrade() -> None:
    op.create_table(
        "cards",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("card_number", sa.String(32), nullable=False),
        sa.Column("issuance_serial", sa.String(16), nullable=True, unique=True),
        sa.Column("chip_serial", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("batch", sa.String(64), nullable=True),
        sa.Column("batch_row", sa.Integer(), nullable=True),
        sa.Column("replaces", sa.Integer(), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cards_card_number", "cards", ["card_number"])
    op.create_index("ix_cards_batch", "cards", ["batch"])
    op.create_index(
        "uq_cards_live_person", "cards", ["card_number"], unique=True,
        sqlite_where=_LIVE, postgresql_where=_LIVE,
    )  # fmt: skip
    op.create_index(
        "uq_cards_personalising_person", "cards", ["card_number"], unique=True,
        sqlite_where=_PERSONALISING, postgresql_where=_PERSONALISING,
    )  # fmt: skip
    op.create_table(
        "card_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
    )
    op.create_index("ix_card_events_card_id", "card_events", ["card_id"])


def downgrade() -> None:
    op.drop_table("card_events")
    op.drop_table("cards")
