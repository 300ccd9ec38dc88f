"""Tables of the daemon's database (SQLAlchemy 2 typed declarative). Migrations in ``migrations/``
create the same schema; ``tests/store`` checks that the two agree."""

from __future__ import annotations

import datetime as _dt

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["ApiClientRow", "AuditHeadRow", "AuditRow", "Base", "BlacklistRow"]


class Base(DeclarativeBase):
    pass


class ApiClientRow(Base):
    """An API key. Only the key id (public) and SHA-256 of the whole key are stored."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(200))  # comma-joined Scope values
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[_dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[_dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_api_clients_name", "name"),)


class AuditRow(Base):
    """One audited access; append-only (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[str] = mapped_column(String(32))  # ISO 8601 UTC with microseconds: hashed exactly as stored
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
    __tablename__ = "blacklist"

    card_number: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    listed_at: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True))
    listed_by: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(200))
