"""The attacker's moves on the audit tables: what someone who can edit the database can do."""

from __future__ import annotations

from sqlalchemy import text

from cardservice.store import Database


def drop_append_only_triggers(database: Database) -> None:
    with database.engine.begin() as connection:
        if database.dialect == "postgresql":
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))


def tamper(database: Database, *statements: str) -> None:
    """Drop the append-only triggers, then run *statements* in one transaction."""
    drop_append_only_triggers(database)
    with database.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
