"""The persistent print queue (cardservice.printing.PrintQueue): one table, ``print_jobs``.

A job's status is one of queued / printing / printed / held / failed / cancelled (a CHECK constraint);
(client_id, idempotency_key) is unique, so a repeated request finds the job it made. The queue index
serves the workers' "oldest waiting job of this station's printer" query.

Revision ID: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "print_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job_ref", sa.String(32), nullable=False, unique=True),
        sa.Column("station", sa.String(128), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("printer", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("error_message", sa.String(200), nullable=True),
        sa.Column("error_message_zh", sa.String(200), nullable=True),
        sa.Column("reprint_of", sa.String(32), nullable=True),
        sa.Column("card", sa.String(64), nullable=True),
        sa.Column("holder", sa.String(64), nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("client_id", "idempotency_key", name="uq_print_jobs_idempotency"),
        sa.CheckConstraint(
            "status IN ('queued', 'printing', 'printed', 'held', 'failed', 'cancelled')",
            name="ck_print_jobs_status",
        ),
    )
    op.create_index("ix_print_jobs_queue", "print_jobs", ["station", "printer", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_print_jobs_queue", table_name="print_jobs")
    op.drop_table("print_jobs")
