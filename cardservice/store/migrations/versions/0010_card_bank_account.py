"""The bank application on issued cards: each card's bank account number, PAN sequence number and masked PAN.

card-issuer personalises a PBOC debit application on every card (``cardservice.issuance._bank``): PAN = BIN ‖
account number ‖ Luhn digit. The account number is the registry id of the card that opened the account; a
replacement (补卡) keeps it and takes the next PAN sequence number (PSN). (bank_account, pan_sequence) is
unique: no two chips get the same card keys. masked_pan (first 6, last 4 digits) is what lists show; its BIN
with the account number gives the PAN back. All three are empty for a card without a bank application.

Revision ID: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cards", sa.Column("bank_account", sa.Integer(), nullable=True))
    op.add_column("cards", sa.Column("pan_sequence", sa.Integer(), nullable=True))
    op.add_column("cards", sa.Column("masked_pan", sa.String(19), nullable=True))
    op.create_index("uq_cards_bank_account", "cards", ["bank_account", "pan_sequence"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_cards_bank_account", table_name="cards")
    op.drop_column("cards", "masked_pan")
    op.drop_column("cards", "pan_sequence")
    op.drop_column("cards", "bank_account")
