"""Command-line tests on the database run on SQLite and on the PostgreSQL `make test` starts
(see tests/dbfixtures.py)."""

from tests.dbfixtures import database, database_url

__all__ = ["database", "database_url"]
