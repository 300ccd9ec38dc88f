"""Cards of children issued before they have an ID number (新生儿/儿童发卡, issue 16).

Such a card's number (KH) is the child's birth certificate number (出生医学证明编号), and it is linked to the
guardian who applied: ``guardian_number`` is the guardian's ID number. When the child gets an ID number it
is recorded as ``id_number`` (the card's chip keeps its KH: DDF1/EF05-EF06 are never written after
issuance), and from then on that ID number is the person's key as much as the card number: one live card
per person holds across both columns (``uq_cards_live_id_number`` and the registry's check). Both are empty
for every other card.

Revision ID: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_LIVE = sa.text("status IN ('issued', 'active', 'lost', 'locked')")


def upgrade() -> None:
    op.add_column("cards", sa.Column("guardian_number", sa.String(32), nullable=True))
    op.add_column("cards", sa.Column("id_number", sa.String(32), nullable=True))
    op.create_index("ix_cards_guardian_number", "cards", ["guardian_number"])
    op.create_index(
        "uq_cards_live_id_number", "cards", ["id_number"], unique=True,
        sqlite_where=_LIVE, postgresql_where=_LIVE,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("uq_cards_live_id_number", table_name="cards")
    op.drop_index("ix_cards_guardian_number", table_name="cards")
    op.drop_column("cards", "id_number")
    op.drop_column("cards", "guardian_number")
