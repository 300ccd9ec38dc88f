"""Replacement cards: a replacement (补卡) has the same card number (KH) as the card it replaces, so a
blacklist entry names the card number and, optionally, the issuance serial (XPXLH) of one card: empty
refuses every card with that number (entries typed in by hand or imported from a list without
serials), a serial refuses that card only. The registry also records the issuing station of each
card, so a resumed batch settles only its own interrupted cards in a shared database.

The blacklist's primary key changes, which SQLite cannot ALTER: the table is rebuilt (both dialects
alike) and its rows copied with an empty serial, i.e. exactly the cards they refused before.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cards", sa.Column("station", sa.String(128), nullable=True))
    op.create_table(
        "blacklist_v2",
        sa.Column("card_number", sa.String(32), nullable=False),
        sa.Column("issuance_serial", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("listed_by", sa.String(128), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("card_number", "issuance_serial", name="pk_blacklist"),
    )
    op.execute(
        "INSERT INTO blacklist_v2 (card_number, reason, listed_at, listed_by, source, issuance_serial) "
        "SELECT card_number, reason, listed_at, listed_by, source, '' FROM blacklist"
    )
    op.drop_table("blacklist")
    op.rename_table("blacklist_v2", "blacklist")


def downgrade() -> None:
    # Serial-specific entries widen to the whole card number: refusing too much beats refusing too little.
    op.create_table(
        "blacklist_v1",
        sa.Column("card_number", sa.String(32), primary_key=True),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("listed_by", sa.String(128), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
    )
    op.execute(
        "INSERT INTO blacklist_v1 (card_number, reason, listed_at, listed_by, source) "
        "SELECT card_number, reason, listed_at, listed_by, source FROM blacklist b WHERE issuance_serial = "
        "(SELECT MIN(issuance_serial) FROM blacklist c WHERE c.card_number = b.card_number)"
    )
    op.drop_table("blacklist")
    op.rename_table("blacklist_v1", "blacklist")
    op.drop_column("cards", "station")
