"""What a check must leave exactly as it found it: the database and the data directory."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def database_state(url: str) -> object:
    """SQLite: the file's bytes. Take it with every connection closed (``Database.close()``): the last
    one to close checkpoints the WAL into the file and removes it, so whatever anyone wrote shows in the
    bytes. PostgreSQL: the tables and triggers, the row count of every table, the audit rows, the head
    and the schema version."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        wal = path.with_name(path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0, "a connection is still open: close it first"
        return path.read_bytes() if path.exists() else None
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = connection.scalars(
                text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' ORDER BY 1"
                )
            ).all()
            triggers = connection.execute(
                text("SELECT trigger_name, event_object_table FROM information_schema.triggers ORDER BY 1, 2")
            ).all()
            counts = {table: connection.scalar(text(f'SELECT count(*) FROM "{table}"')) for table in tables}
            audit = (
                connection.execute(text("SELECT * FROM audit_log ORDER BY seq")).all()
                if "audit_log" in tables
                else None
            )
            head = (
                connection.execute(text("SELECT * FROM audit_head")).all() if "audit_head" in tables else None
            )
            version = (
                connection.scalars(text("SELECT version_num FROM alembic_version")).all()
                if "alembic_version" in tables
                else None
            )
    finally:
        engine.dispose()
    return tables, triggers, counts, audit, head, version


def directory_state(path: Path) -> dict[str, tuple[int, bytes]]:
    """Every file of a data directory: its mode and bytes (the key, the anchor, any temporary file)."""
    if not path.exists():
        return {}
    return {
        file.name: (file.stat().st_mode & 0o7777, file.read_bytes())
        for file in sorted(path.iterdir())
        if file.is_file()
    }
