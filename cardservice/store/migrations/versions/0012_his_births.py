"""The embedded HIS's births (出生医学证明 issued by the hospital): what a kiosk shows a parent who asks for
their newborn's health card, and checks the child's data against (issue 16).

Revision ID: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "his_births",
        sa.Column("birth_certificate", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("mother_number", sa.String(32), nullable=True),
        sa.Column("father_number", sa.String(32), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("his_births")
