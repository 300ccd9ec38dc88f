"""The simulated acquirer's books: one SQLite file (stdlib sqlite3), so its records survive the daemon
and the simulator itself being killed."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import secrets
import sqlite3
import threading
from pathlib import Path

__all__ = ["CHINA_TZ", "AcquirerStore", "Transaction"]

CHINA_TZ = _dt.timezone(_dt.timedelta(hours=8), "CST")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions (
    reference TEXT PRIMARY KEY,           -- the merchant's reference (its idempotency key)
    kind TEXT NOT NULL,                   -- charge / refund / closed
    charge_reference TEXT,                -- a refund's charge
    amount_fen INTEGER NOT NULL,
    status TEXT NOT NULL,                 -- approved / declined / closed
    transaction_id TEXT NOT NULL,
    day TEXT NOT NULL,                    -- the acquirer's business day (Beijing time)
    at TEXT NOT NULL
)
"""


@dataclasses.dataclass(frozen=True)
class Transaction:
    reference: str
    kind: str
    charge_reference: str | None
    amount_fen: int
    status: str
    transaction_id: str
    day: str
    at: str

    def as_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class AcquirerStore:
    """Transactions by reference. Every method is atomic (one lock, one SQLite transaction)."""

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def get(self, reference: str) -> Transaction | None:
        with self._lock:
            return self._get(reference)

    def _get(self, reference: str) -> Transaction | None:
        row = self._conn.execute(
            "SELECT reference, kind, charge_reference, amount_fen, status, transaction_id, day, at "
            "FROM transactions WHERE reference = ?",
            (reference,),
        ).fetchone()
        return None if row is None else Transaction(*row)

    def _insert(self, kind: str, reference: str, charge: str | None, amount: int, status: str) -> Transaction:
        now = _dt.datetime.now(_dt.UTC)
        txn = Transaction(
            reference,
            kind,
            charge,
            amount,
            status,
            "AQ" + secrets.token_hex(8).upper(),
            now.astimezone(CHINA_TZ).date().isoformat(),
            now.isoformat(timespec="microseconds"),
        )
        self._conn.execute(
            "INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", dataclasses.astuple(txn)
        )
        return txn

    def charge(self, reference: str, amount_fen: int, status: str) -> tuple[Transaction, bool]:
        """The charge under *reference*: recorded now with *status* unless the reference is known (then
        the stored one, and False). A closed reference answers ``declined`` and stays closed."""
        with self._lock:
            existing = self._get(reference)
            if existing is not None:
                return existing, False
            return self._insert("charge", reference, None, amount_fen, status), True

    def refund(
        self, charge_reference: str, refund_reference: str, amount_fen: int, *, decline: bool = False
    ) -> tuple[Transaction, bool]:
        with self._lock:
            existing = self._get(refund_reference)
            if existing is not None:
                return existing, False
            charge = self._get(charge_reference)
            refunded = self._conn.execute(
                "SELECT COALESCE(SUM(amount_fen), 0) FROM transactions "
                "WHERE kind = 'refund' AND status = 'approved' AND charge_reference = ?",
                (charge_reference,),
            ).fetchone()[0]
            ok = (
                not decline
                and charge is not None
                and charge.kind == "charge"
                and charge.status == "approved"
                and refunded + amount_fen <= charge.amount_fen
            )
            status = "approved" if ok else "declined"
            return self._insert("refund", refund_reference, charge_reference, amount_fen, status), True

    def close_reference(self, reference: str) -> Transaction:
        """The transaction under *reference*; if there is none, a ``closed`` tombstone so that a charge
        or refund still on its way is refused when it arrives."""
        with self._lock:
            existing = self._get(reference)
            if existing is not None:
                return existing
            return self._insert("closed", reference, None, 0, "closed")

    def transactions(self, day: str) -> list[Transaction]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT reference, kind, charge_reference, amount_fen, status, transaction_id, day, at "
                "FROM transactions WHERE day = ? AND kind != 'closed' ORDER BY at, reference",
                (day,),
            ).fetchall()
        return [Transaction(*row) for row in rows]
