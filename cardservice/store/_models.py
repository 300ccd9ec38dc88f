"""Tables of the daemon's database (SQLAlchemy 2 typed declarative). Migrations in ``migrations/``
create the same schema; ``tests/store`` checks that the two agree."""

from __future__ import annotations

import datetime as _dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = ["ApiClientRow", "AuditHeadRow", "AuditRow", "Base", "BlacklistRow", "UtcDateTime"]


class UtcDateTime(TypeDecorator[_dt.datetime]):
    """A point in time, stored in UTC and always read back timezone-aware in UTC (SQLite keeps no time
    zone and would give naive datetimes; PostgreSQL gives the session's zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: _dt.datetime | None, dialect: Dialect) -> _dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give a timezone-aware one")
        return value.astimezone(_dt.UTC)

    def process_result_value(self, value: _dt.datetime | None, dialect: Dialect) -> _dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=_dt.UTC) if value.tzinfo is None else value.astimezone(_dt.UTC)


class Base(DeclarativeBase):
    pass


class ApiClientRow(Base):
    """An API key. Only the key id (public) and SHA-256 of the whole key are stored. A client name has
    at most one active (unrevoked) key, enforced by a partial unique index; revoked rows stay, so a name
    can get a new key and the history of who had which key is kept."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(200))  # comma-joined Scope values
    created_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[_dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_used_at: Mapped[_dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        Index(
            "uq_api_clients_active_name", "name", unique=True,
            sqlite_where=text("revoked_at IS NULL"), postgresql_where=text("revoked_at IS NULL"),
        ),
    )  # fmt: skip


class AuditRow(Base):
    """One audited access; append-only (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    # ISO 8601 UTC with microseconds, as text: hashed exactly as stored, whatever the database's time zone
    # or its datetime round trip (it sorts like the time it names).
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    client: Mapped[str | None] = mapped_column(String(200), nullable=True)
    card: Mapped[str | None] = mapped_column(String(64), nullable=True)  # masked card number only
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200), nullable=True)
    result: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_log_card", "card"), Index("ix_audit_log_action", "action"))


class AuditHeadRow(Base):
    """The chain's head (last seq and hash) with a MAC: deleting the newest records is detected too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))


class BlacklistRow(Base):
    """A refused card: by card number (KH, upper case) and issuance serial (XPXLH), or every card with
    that number when the serial is empty (migration 0005)."""

    __tablename__ = "blacklist"

    card_number: Mapped[str] = mapped_column(String(32), primary_key=True)
    issuance_serial: Mapped[str] = mapped_column(String(16), primary_key=True, default="")
    reason: Mapped[str] = mapped_column(String(200))
    listed_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)
    listed_by: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(200))


#: Registry states in which a card counts as the person's card (one per person, by index).
LIVE_CARD_STATES = ("issued", "active", "lost", "locked")
_LIVE = text("status IN ('issued', 'active', 'lost', 'locked')")
_PERSONALISING = text("status = 'personalising'")


class CardRow(Base):
    """A card in the issuer's registry (cardservice.issuance.registry). ``content``: the holder
    document written at issuance (the registry's last copy, for a replacement when the card is gone)."""

    __tablename__ = "cards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_number: Mapped[str] = mapped_column(String(32))  # KH = ID number
    issuance_serial: Mapped[str | None] = mapped_column(String(16), unique=True, nullable=True)  # XPXLH
    chip_serial: Mapped[str | None] = mapped_column(String(32), nullable=True)  # card OS serial (ATR)
    status: Mapped[str] = mapped_column(String(16))
    batch: Mapped[str | None] = mapped_column(String(64), nullable=True)
    batch_row: Mapped[int | None] = mapped_column(Integer, nullable=True)
    replaces: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content: Mapped[str | None] = mapped_column(Text, nullable=True)
    station: Mapped[str | None] = mapped_column(String(128), nullable=True)  # host/reader that issued it
    # the bank application (migration 0010): account number (the PAN's middle digits), PSN, masked PAN
    bank_account: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pan_sequence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    masked_pan: Mapped[str | None] = mapped_column(String(19), nullable=True)
    guardian_number: Mapped[str | None] = mapped_column(String(32), nullable=True)  # a child's card (0011)
    id_number: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the child's, recorded later
    created_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_cards_card_number", "card_number"),
        Index("ix_cards_guardian_number", "guardian_number"),
        Index(
            "uq_cards_live_id_number", "id_number", unique=True, sqlite_where=_LIVE, postgresql_where=_LIVE
        ),
        Index("uq_cards_bank_account", "bank_account", "pan_sequence", unique=True),
        Index("ix_cards_batch", "batch"),
        Index("uq_cards_live_person", "card_number", unique=True, sqlite_where=_LIVE, postgresql_where=_LIVE),
        Index(
            "uq_cards_personalising_person",
            "card_number",
            unique=True,
            sqlite_where=_PERSONALISING,
            postgresql_where=_PERSONALISING,
        ),
    )


class CardEventRow(Base):
    """One transition of a card's status: who, when, why."""

    __tablename__ = "card_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)

    __table_args__ = (Index("ix_card_events_card_id", "card_id"),)


# The embedded reference HIS (cardservice.his.EmbeddedHis, migration 0004). Money is integer fen; times
# are UTC (shown in Beijing time by the connector); card_number is the card's KH as the daemon read it.


class HisDepartmentRow(Base):
    """A clinic department (科室)."""

    __tablename__ = "his_departments"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(String(64))
    sort_order: Mapped[int] = mapped_column(Integer)


class HisDoctorRow(Base):
    """A doctor of one department, with a professional title (主任医师, ...)."""

    __tablename__ = "his_doctors"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    department_id: Mapped[str] = mapped_column(String(16), ForeignKey("his_departments.id"))
    name: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(16))
    specialty: Mapped[str | None] = mapped_column(String(200), nullable=True)

    __table_args__ = (Index("ix_his_doctors_department_id", "department_id"),)


class HisSlotRow(Base):
    """A bookable slot (号源): a doctor's, or a department's general clinic (普通门诊) when doctor_id is
    empty. ``remaining`` only changes by conditional UPDATEs (never below 0: the CHECK backs that);
    ``issued`` counts queue numbers handed out, so a cancelled place never gives a number twice."""

    __tablename__ = "his_slots"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    department_id: Mapped[str] = mapped_column(String(16), ForeignKey("his_departments.id"))
    doctor_id: Mapped[str | None] = mapped_column(String(16), ForeignKey("his_doctors.id"), nullable=True)
    start_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)
    end_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)
    session: Mapped[str] = mapped_column(String(8))  # 上午 / 下午
    fee_fen: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    issued: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= capacity", name="ck_his_slots_remaining"),
        Index("ix_his_slots_department_start", "department_id", "start_at"),
    )


class HisBillRow(Base):
    """A bill (收费单): ``outstanding``, ``settled`` (with the payment's reference) or ``cancelled``."""

    __tablename__ = "his_bills"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    card_number: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(32))  # 挂号费, 药费, 检查费, ...
    department: Mapped[str | None] = mapped_column(String(32), nullable=True)
    total_fen: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)
    settled_at: Mapped[_dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    payment_reference: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (Index("ix_his_bills_card_number", "card_number"),)


class HisBillItemRow(Base):
    """One line of a bill; amount_fen = quantity × unit_price_fen."""

    __tablename__ = "his_bill_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bill_id: Mapped[str] = mapped_column(String(32), ForeignKey("his_bills.id"))
    line: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(8), nullable=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("bill_id", "line", name="uq_his_bill_items_line"),)


class HisRegistrationRow(Base):
    """A booked place in a slot (挂号) with its queue number (就诊序号) and its registration-fee bill."""

    __tablename__ = "his_registrations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    card_number: Mapped[str] = mapped_column(String(32))
    patient_name: Mapped[str] = mapped_column(String(64))
    slot_id: Mapped[str] = mapped_column(String(32), ForeignKey("his_slots.id"))
    queue_number: Mapped[int] = mapped_column(Integer)
    fee_fen: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # booked / cancelled
    bill_id: Mapped[str] = mapped_column(String(32), ForeignKey("his_bills.id"))
    created_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[_dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("slot_id", "queue_number", name="uq_his_registrations_queue"),
        Index("ix_his_registrations_card_number", "card_number"),
    )


class HisBirthRow(Base):
    """A child born in the hospital: its 出生医学证明 (birth certificate) and parents (their ID numbers)."""

    __tablename__ = "his_births"

    birth_certificate: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[_dt.date] = mapped_column(Date)
    mother_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    father_number: Mapped[str | None] = mapped_column(String(32), nullable=True)


class HisLabReportRow(Base):
    """A lab report (检验报告)."""

    __tablename__ = "his_lab_reports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    card_number: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(64))  # 血常规, 肝功能, ...
    specimen: Mapped[str] = mapped_column(String(32))  # 全血, 血清, 尿液, ...
    department: Mapped[str | None] = mapped_column(String(32), nullable=True)
    doctor_name: Mapped[str | None] = mapped_column(String(32), nullable=True)
    collected_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)
    reported_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_his_lab_reports_card_number", "card_number"),)


class HisLabItemRow(Base):
    """One result of a lab report. Results and numeric bounds are kept as the laboratory printed them
    (text: "4.50" is not "4.5" on a report); the abnormal flag is computed, never stored."""

    __tablename__ = "his_lab_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[str] = mapped_column(String(32), ForeignKey("his_lab_reports.id"))
    line: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reference_low: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reference_high: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reference_text: Mapped[str | None] = mapped_column(String(64), nullable=True)  # 阴性, ...

    __table_args__ = (UniqueConstraint("report_id", "line", name="uq_his_lab_items_line"),)


class HisIdempotencyRow(Base):
    """An idempotency key of a mutating call: the request it was first used for (SHA-256 of the
    operation's parameters) and the id of what that call made or changed."""

    __tablename__ = "his_idempotency"

    operation: Mapped[str] = mapped_column(String(16), primary_key=True)  # book / cancel / settle
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    result_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)


# Payments (cardservice.payments, migration 0006): a double-entry ledger and the orders it records.
# Money is integer fen. Ledger transactions and entries are append-only (database triggers refuse UPDATE
# and DELETE); a correction is a new, reversing transaction.


class LedgerAccountRow(Base):
    """An account. ``balance_fen`` is kept on the account's normal side (D: assets, C: liabilities and
    revenue), changed only in the transaction that adds its entries; ``floor_fen`` (0 for a patient's
    prepaid account) is a lower bound the database itself enforces, so no race can overdraw."""

    __tablename__ = "ledger_accounts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # prepaid:<card number>, cash, ...
    kind: Mapped[str] = mapped_column(String(16))  # asset / liability / revenue
    normal_side: Mapped[str] = mapped_column(String(1))  # D / C
    floor_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    balance_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        CheckConstraint("normal_side IN ('D', 'C')", name="ck_ledger_accounts_side"),
        CheckConstraint("floor_fen IS NULL OR balance_fen >= floor_fen", name="ck_ledger_accounts_floor"),
    )


class LedgerTransactionRow(Base):
    """A journal transaction: two or more entries whose debits equal their credits. ``reference`` is
    unique (posting the same reference twice is a no-op); ``day`` the hospital date (Beijing time)."""

    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    method: Mapped[str | None] = mapped_column(String(32), nullable=True)
    order_reference: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reverses: Mapped[int | None] = mapped_column(Integer, ForeignKey("ledger_transactions.id"), nullable=True)
    day: Mapped[str] = mapped_column(String(10))
    posted_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)
    memo: Mapped[str | None] = mapped_column(String(200), nullable=True)

    __table_args__ = (
        Index("ix_ledger_transactions_day", "day"),
        Index("ix_ledger_transactions_order", "order_reference"),
    )


class LedgerEntryRow(Base):
    """One side of a transaction: ``amount_fen`` (> 0) debited (D) or credited (C) to ``account``."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(Integer, ForeignKey("ledger_transactions.id"))
    account: Mapped[str] = mapped_column(String(64), ForeignKey("ledger_accounts.name"))
    side: Mapped[str] = mapped_column(String(1))
    amount_fen: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("side IN ('D', 'C')", name="ck_ledger_entries_side"),
        CheckConstraint("amount_fen > 0", name="ck_ledger_entries_amount"),
        Index("ix_ledger_entries_transaction", "transaction_id"),
        Index("ix_ledger_entries_account", "account"),
    )


#: The bill orders that hold their bill (cardservice.payments' BILL_HOLDING_STATES, migration 0008): one
#: per bill, so a bill is paid once across daemons sharing the database.
_HOLDS_BILL = text("kind = 'bill' AND status IN ('pending', 'in_doubt', 'charged', 'settled', 'unsettled')")
_UNAUDITED = text("audited_at IS NULL")


class PaymentOrderRow(Base):
    """An order: a bill payment, a prepaid top-up or a refund, recorded before any money moves. One
    per (client_id, idempotency_key); ``request_hash`` is what that key was first used for. One bill
    order per bill may hold it (``uq_payments_orders_live_bill``: being paid, paid, or its money not back
    yet); a declined, failed or returned one does not."""

    __tablename__ = "payments_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    client_id: Mapped[str] = mapped_column(String(128))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # bill / top_up / refund
    method: Mapped[str] = mapped_column(String(32))
    card_number: Mapped[str] = mapped_column(String(32))
    patient_name: Mapped[str] = mapped_column(String(64))
    bill_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    parent_reference: Mapped[str | None] = mapped_column(String(40), nullable=True)  # a refund's order
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    method_transaction_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("client_id", "idempotency_key", name="uq_payments_orders_key"),
        CheckConstraint("amount_fen > 0", name="ck_payments_orders_amount"),
        Index("ix_payments_orders_status", "status"),
        Index("ix_payments_orders_card_number", "card_number"),
        Index("ix_payments_orders_parent", "parent_reference"),
        Index(
            "uq_payments_orders_live_bill",
            "bill_id",
            unique=True,
            sqlite_where=_HOLDS_BILL,
            postgresql_where=_HOLDS_BILL,
        ),
    )


class PaymentEventRow(Base):
    """One state change of an order, written in the transaction that makes it. ``audited_at``: when its
    audit record was written (after that transaction commits); ``recover()`` writes the records of the
    events a kill left without one."""

    __tablename__ = "payments_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_reference: Mapped[str] = mapped_column(String(40))
    at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON, no personal data
    audited_at: Mapped[_dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        Index("ix_payments_events_order", "order_reference"),
        Index("ix_payments_events_unaudited", "id", sqlite_where=_UNAUDITED, postgresql_where=_UNAUDITED),
    )


# The persistent print queue (cardservice.printing.PrintQueue, migration 0007).

#: Every status a print job can have (the CHECK constraint of print_jobs).
PRINT_JOB_STATES = ("queued", "printing", "printed", "held", "failed", "cancelled")


class PrintJobRow(Base):
    """A print job of one station's printer. ``payload`` is the template's input as JSON, with the
    patient's name already masked as printed (never a card number): enough to print the ticket again.
    ``claimed_by``/``heartbeat_at``: the worker printing it and its last sign of life (``printing`` only).
    (client_id, idempotency_key) is unique: a repeated request finds its job."""

    __tablename__ = "print_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_ref: Mapped[str] = mapped_column(String(32), unique=True)
    station: Mapped[str] = mapped_column(String(128))
    client_id: Mapped[str] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # registration_slip / payment_receipt / lab_report
    printer: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error_message: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error_message_zh: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reprint_of: Mapped[str | None] = mapped_column(String(32), nullable=True)
    card: Mapped[str | None] = mapped_column(String(64), nullable=True)  # masked card number only
    # Keyed digest of the card number (the queue's holder key): a reprint needs the same card again.
    holder: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[_dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)
    printed_at: Mapped[_dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("client_id", "idempotency_key", name="uq_print_jobs_idempotency"),
        CheckConstraint(
            "status IN ('queued', 'printing', 'printed', 'held', 'failed', 'cancelled')",
            name="ck_print_jobs_status",
        ),
        Index("ix_print_jobs_queue", "station", "printer", "status", "id"),
    )


# The bank-card (PBOC debit) terminal's transactions (cardservice.payments.BankcardMethod, migration 0009).

#: Every state of a bank-card transaction (the CHECK constraint of bankcard_transactions).
BANKCARD_STATES = (
    "started", "sent", "approved", "completed", "declined", "not_sent", "reversal_pending", "reversed",
    "refunded",
)  # fmt: skip


class BankcardTransactionRow(Base):
    """One ISO 8583 transaction of this terminal, recorded before it is sent (the reversal queue's source).
    ``reference``: the order's (a sale) or the refund order's (a refund). (terminal_id, batch, stan) is
    unique: the acquirer knows a transaction by it. Card data only masked, or sealed."""

    __tablename__ = "bankcard_transactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(48), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # sale / refund
    order_reference: Mapped[str] = mapped_column(String(40))
    terminal_id: Mapped[str] = mapped_column(String(8))
    merchant_id: Mapped[str] = mapped_column(String(15))
    batch: Mapped[int] = mapped_column(Integer)
    stan: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    masked_pan: Mapped[str | None] = mapped_column(String(19), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    response_code: Mapped[str | None] = mapped_column(String(2), nullable=True)
    auth_code: Mapped[str | None] = mapped_column(String(6), nullable=True)
    rrn: Mapped[str | None] = mapped_column(String(12), nullable=True)
    original_rrn: Mapped[str | None] = mapped_column(String(12), nullable=True)  # a refund's sale
    reversal_reason: Mapped[str | None] = mapped_column(String(2), nullable=True)
    # The card data a reversal or refund must repeat (PAN, PSN, expiry), sealed (AES-256-GCM, the terminal's
    # journal key); cleared once no message will need it.
    card_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("terminal_id", "batch", "stan", name="uq_bankcard_transactions_stan"),
        CheckConstraint("amount_fen > 0", name="ck_bankcard_transactions_amount"),
        CheckConstraint(
            "state IN ('started', 'sent', 'approved', 'completed', 'declined', 'not_sent', "
            "'reversal_pending', 'reversed', 'refunded')",
            name="ck_bankcard_transactions_state",
        ),
        Index("ix_bankcard_transactions_state", "state"),
    )
