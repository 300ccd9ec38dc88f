"""The embedded reference HIS (cardservice.his.EmbeddedHis): departments, doctors, slots, registrations,
bills and their items, lab reports and their items, and the idempotency keys of mutating calls.

A slot's ``remaining`` may never go below zero or above its capacity (a CHECK constraint backs the
conditional UPDATE that books a place); a slot's queue numbers are unique.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "his_departments",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("location", sa.String(64), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
    )
    op.create_table(
        "his_doctors",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("department_id", sa.String(16), sa.ForeignKey("his_departments.id"), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("title", sa.String(16), nullable=False),
        sa.Column("specialty", sa.String(200), nullable=True),
    )
    op.create_index("ix_his_doctors_department_id", "his_doctors", ["department_id"])
    op.create_table(
        "his_slots",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("department_id", sa.String(16), sa.ForeignKey("his_departments.id"), nullable=False),
        sa.Column("doctor_id", sa.String(16), sa.ForeignKey("his_doctors.id"), nullable=True),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("session", sa.String(8), nullable=False),
        sa.Column("fee_fen", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.CheckConstraint("remaining >= 0 AND remaining <= capacity", name="ck_his_slots_remaining"),
    )
    op.create_index("ix_his_slots_department_start", "his_slots", ["department_id", "start_at"])
    op.create_table(
        "his_bills",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("card_number", sa.String(32), nullable=False),
        sa.Column("title", sa.String(32), nullable=False),
        sa.Column("department", sa.String(32), nullable=True),
        sa.Column("total_fen", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_reference", sa.String(64), nullable=True),
    )
    op.create_index("ix_his_bills_card_number", "his_bills", ["card_number"])
    op.create_table(
        "his_bill_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bill_id", sa.String(32), sa.ForeignKey("his_bills.id"), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(8), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_fen", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.UniqueConstraint("bill_id", "line", name="uq_his_bill_items_line"),
    )
    op.create_table(
        "his_registrations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("card_number", sa.String(32), nullable=False),
        sa.Column("patient_name", sa.String(64), nullable=False),
        sa.Column("slot_id", sa.String(32), sa.ForeignKey("his_slots.id"), nullable=False),
        sa.Column("queue_number", sa.Integer(), nullable=False),
        sa.Column("fee_fen", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("bill_id", sa.String(32), sa.ForeignKey("his_bills.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("slot_id", "queue_number", name="uq_his_registrations_queue"),
    )
    op.create_index("ix_his_registrations_card_number", "his_registrations", ["card_number"])
    op.create_table(
        "his_lab_reports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("card_number", sa.String(32), nullable=False),
        sa.Column("title", sa.String(64), nullable=False),
        sa.Column("specimen", sa.String(32), nullable=False),
        sa.Column("department", sa.String(32), nullable=True),
        sa.Column("doctor_name", sa.String(32), nullable=True),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_his_lab_reports_card_number", "his_lab_reports", ["card_number"])
    op.create_table(
        "his_lab_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("report_id", sa.String(32), sa.ForeignKey("his_lab_reports.id"), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("result", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(32), nullable=True),
        sa.Column("reference_low", sa.String(16), nullable=True),
        sa.Column("reference_high", sa.String(16), nullable=True),
        sa.Column("reference_text", sa.String(64), nullable=True),
        sa.UniqueConstraint("report_id", "line", name="uq_his_lab_items_line"),
    )
    op.create_table(
        "his_idempotency",
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("result_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("operation", "key", name="pk_his_idempotency"),
    )


def downgrade() -> None:
    for table in (
        "his_idempotency", "his_lab_items", "his_lab_reports", "his_registrations",
        "his_bill_items", "his_bills", "his_slots", "his_doctors", "his_departments",
    ):  # fmt: skip
        op.drop_table(table)
