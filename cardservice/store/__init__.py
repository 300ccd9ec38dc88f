"""The daemon's database: SQLAlchemy 2 models, Alembic migrations (run at open), SQLite or PostgreSQL."""

from cardservice.store._db import Database, StoreError, open_database
from cardservice.store._models import ApiClientRow, AuditHeadRow, AuditRow, Base, BlacklistRow

__all__ = [
    "ApiClientRow",
    "AuditHeadRow",
    "AuditRow",
    "Base",
    "BlacklistRow",
    "Database",
    "StoreError",
    "open_database",
]
