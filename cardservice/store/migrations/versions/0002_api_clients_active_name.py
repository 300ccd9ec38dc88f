"""One active key per client name, enforced by the database (a partial unique index): two
``token create`` for the same name at once on a shared PostgreSQL cannot both succeed.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("revoked_at IS NULL")


def upgrade() -> None:
    op.drop_index("ix_api_clients_name", table_name="api_clients")
    op.create_index(
        "uq_api_clients_active_name", "api_clients", ["name"], unique=True,
        sqlite_where=_ACTIVE, postgresql_where=_ACTIVE,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("uq_api_clients_active_name", table_name="api_clients")
    op.create_index("ix_api_clients_name", "api_clients", ["name"])
