"""The daemon's database: SQLAlchemy 2 models, Alembic migrations (run at open), SQLite or PostgreSQL.

    db = open_database("sqlite:////var/lib/cardservice/cardservice.db")   # or postgresql+psycopg://...
    with db.session() as session:            # committed at the end, rolled back on an exception
        session.add(BlacklistRow(...))
    db.close()

Records that change safely: :func:`once` stores a request's result under its idempotency key exactly
once (HIS, payments, print queue share it); :class:`Lifecycle` is the state table of a record that
moves through states (orders, refunds, print jobs), refusing an illegal move in one place.

Migrations live in ``migrations/versions`` (hand-written, for both dialects); ``open_database`` applies
them. A new table is a new migration plus its model; ``tests/store`` checks that the two agree.
"""

from cardservice.store._db import Database, StoreError, describe, open_database
from cardservice.store._idempotency import (
    API_KEY_PATTERN,
    KEY_PATTERN,
    check_key,
    find_stored,
    once,
    request_hash,
    scoped_key,
)
from cardservice.store._models import (
    BANKCARD_STATES,
    LIVE_CARD_STATES,
    ApiClientRow,
    AuditHeadRow,
    AuditRow,
    BankcardTransactionRow,
    Base,
    BlacklistRow,
    CardEventRow,
    CardRow,
    HisBillItemRow,
    HisBillRow,
    HisBirthRow,
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
from cardservice.store._states import IllegalTransition, Lifecycle

__all__ = [
    "API_KEY_PATTERN",
    "BANKCARD_STATES",
    "KEY_PATTERN",
    "LIVE_CARD_STATES",
    "ApiClientRow",
    "AuditHeadRow",
    "AuditRow",
    "BankcardTransactionRow",
    "Base",
    "BlacklistRow",
    "CardEventRow",
    "CardRow",
    "Database",
    "HisBillItemRow",
    "HisBillRow",
    "HisBirthRow",
    "HisDepartmentRow",
    "HisDoctorRow",
    "HisIdempotencyRow",
    "HisLabItemRow",
    "HisLabReportRow",
    "HisRegistrationRow",
    "HisSlotRow",
    "IllegalTransition",
    "LedgerAccountRow",
    "LedgerEntryRow",
    "LedgerTransactionRow",
    "Lifecycle",
    "PaymentEventRow",
    "PaymentOrderRow",
    "PrintJobRow",
    "StoreError",
    "UtcDateTime",
    "check_key",
    "describe",
    "find_stored",
    "once",
    "open_database",
    "request_hash",
    "scoped_key",
]
