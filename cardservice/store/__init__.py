"""The daemon's database: SQLAlchemy 2 models, Alembic migrations (run at open), SQLite or PostgreSQL.

    db = open_database("sqlite:////var/lib/cardservice/cardservice.db")   # or postgresql+psycopg://...
    with db.session() as session:            # committed at the end, rolled back on an exception
        session.add(BlacklistRow(...))
    db.close()

Migrations live in ``migrations/versions`` (hand-written, for both dialects); ``open_database`` applies
them. A new table is a new migration plus its model; ``tests/store`` checks that the two agree.
"""

from cardservice.store._db import Database, StoreError, describe, open_database
from cardservice.store._models import (
    LIVE_CARD_STATES,
    ApiClientRow,
    AuditHeadRow,
    AuditRow,
    Base,
    BlacklistRow,
    CardEventRow,
    CardRow,
    HisBillItemRow,
    HisBillRow,
    HisDepartmentRow,
    HisDoctorRow,
    HisIdempotencyRow,
    HisLabItemRow,
    HisLabReportRow,
    HisRegistrationRow,
    HisSlotRow,
    LedgerAccountRow,
    LedgerEntryRow,
    LedgerTransactionRow,
    PaymentEventRow,
    PaymentOrderRow,
    PrintJobRow,
    UtcDateTime,
)

__all__ = [
    "LIVE_CARD_STATES",
    "ApiClientRow",
    "AuditHeadRow",
    "AuditRow",
    "Base",
    "BlacklistRow",
    "CardEventRow",
    "CardRow",
    "Database",
    "HisBillItemRow",
    "HisBillRow",
    "HisDepartmentRow",
    "HisDoctorRow",
    "HisIdempotencyRow",
    "HisLabItemRow",
    "HisLabReportRow",
    "HisRegistrationRow",
    "HisSlotRow",
    "LedgerAccountRow",
    "LedgerEntryRow",
    "LedgerTransactionRow",
    "PaymentEventRow",
    "PaymentOrderRow",
    "PrintJobRow",
    "StoreError",
    "UtcDateTime",
    "describe",
    "open_database",
]
