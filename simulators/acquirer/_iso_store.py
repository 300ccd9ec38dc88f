"""The simulated issuer's books for the ISO 8583 link: card accounts (balance, online PIN failures) and the
transactions the link carried, in SQLite (stdlib sqlite3), so reversals stay idempotent and balances right
across a restart. It may share the HTTP acquirer's database file: its tables are ``iso_*``.

A transaction's key is the terminal's (terminal id, merchant id, batch, STAN, kind) — what a CUP reversal
repeats — and its RRN is its row id in 12 digits. The PAN is kept in full (it keys the account: these are
the issuer's own books); :meth:`IsoStore.records` shows it masked.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cardservice.acquiring import mask_pan

__all__ = ["Account", "IsoRecord", "IsoStore"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS iso_accounts (
        pan TEXT PRIMARY KEY,
        balance_fen INTEGER NOT NULL,
        pin_failures INTEGER NOT NULL DEFAULT 0     -- wrong online PINs in a row
    )""",
    """CREATE TABLE IF NOT EXISTS iso_transactions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,       -- the RRN, in 12 digits
        kind TEXT NOT NULL,                         -- sale / refund
        terminal_id TEXT NOT NULL,
        merchant_id TEXT NOT NULL,
        batch INTEGER NOT NULL,
        stan INTEGER NOT NULL,
        pan TEXT NOT NULL,
        amount_fen INTEGER NOT NULL,
        status TEXT NOT NULL,                       -- approved / declined / reversed / void
        response_code TEXT NOT NULL,
        auth_code TEXT,
        original_id INTEGER,                        -- a refund's sale
        local_date TEXT NOT NULL,                   -- MMDD, field 13 of the answer
        day TEXT NOT NULL,                          -- the business day (Beijing), YYYY-MM-DD
        at TEXT NOT NULL,
        reversal_reason TEXT,
        reversed_at TEXT,
        UNIQUE (terminal_id, merchant_id, batch, stan, kind)
    )""",
)
_COLUMNS = (
    "id, kind, terminal_id, merchant_id, batch, stan, pan, amount_fen, status, response_code, auth_code, "
    "original_id, local_date, day, at, reversal_reason, reversed_at"
)


@dataclasses.dataclass(frozen=True)
class Account:
    pan: str
    balance_fen: int
    pin_failures: int

    def __repr__(self) -> str:
        shown = mask_pan(self.pan)
        return f"Account({shown!r}, balance_fen={self.balance_fen}, pin_failures={self.pin_failures})"


@dataclasses.dataclass(frozen=True)
class IsoRecord:
    """One transaction as the issuer booked it. ``status``: approved, declined, reversed, or void (a
    reversal arrived for a sale never seen: the key is closed, nothing was taken)."""

    id: int
    kind: str
    terminal_id: str
    merchant_id: str
    batch: int
    stan: int
    pan: str
    amount_fen: int
    status: str
    response_code: str
    auth_code: str | None
    original_id: int | None
    local_date: str
    day: str
    at: str
    reversal_reason: str | None
    reversed_at: str | None

    @property
    def rrn(self) -> str:
        return f"{self.id:012d}"

    def __repr__(self) -> str:
        return (
            f"IsoRecord(rrn={self.rrn!r}, kind={self.kind!r}, stan={self.stan}, pan={mask_pan(self.pan)!r}, "
            f"amount_fen={self.amount_fen}, status={self.status!r}, response_code={self.response_code!r})"
        )

    def as_json(self) -> dict[str, object]:
        out = dataclasses.asdict(self)
        out["pan"] = mask_pan(self.pan)
        out["rrn"] = self.rrn
        return out


class IsoStore:
    """Accounts and transactions. Callers group reads and writes in :meth:`atomic` (one lock, one SQLite
    transaction); the single-step helpers (:meth:`set_balance`, :meth:`records`) take it themselves."""

    def __init__(self, path: str | Path, *, opening_balance_fen: int = 1_000_000) -> None:
        self.opening_balance_fen = opening_balance_fen
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        for statement in _SCHEMA:
            self._conn.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # -- accounts ---------------------------------------------------------------------------------------

    def account(self, pan: str) -> Account:
        """The card's account; a card never seen opens with the opening balance."""
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO iso_accounts (pan, balance_fen) VALUES (?, ?)",
                (pan, self.opening_balance_fen),
            )
            row = self._conn.execute(
                "SELECT pan, balance_fen, pin_failures FROM iso_accounts WHERE pan = ?", (pan,)
            ).fetchone()
        return Account(*row)

    def add_balance(self, pan: str, delta_fen: int) -> None:
        with self._lock:
            self.account(pan)
            self._conn.execute(
                "UPDATE iso_accounts SET balance_fen = balance_fen + ? WHERE pan = ?", (delta_fen, pan)
            )

    def set_pin_failures(self, pan: str, count: int) -> None:
        with self._lock:
            self.account(pan)
            self._conn.execute("UPDATE iso_accounts SET pin_failures = ? WHERE pan = ?", (count, pan))

    def set_balance(self, pan: str, balance_fen: int) -> Account:
        with self.atomic():
            self.account(pan)
            self._conn.execute("UPDATE iso_accounts SET balance_fen = ? WHERE pan = ?", (balance_fen, pan))
            return self.account(pan)

    # -- transactions -----------------------------------------------------------------------------------

    def _one(self, where: str, args: tuple[object, ...]) -> IsoRecord | None:
        with self._lock:
            sql = f"SELECT {_COLUMNS} FROM iso_transactions WHERE {where}"  # noqa: S608 - our fixed SQL
            row = self._conn.execute(sql, args).fetchone()
        return None if row is None else IsoRecord(*row)

    def find(self, terminal_id: str, merchant_id: str, batch: int, stan: int, kind: str) -> IsoRecord | None:
        return self._one(
            "terminal_id = ? AND merchant_id = ? AND batch = ? AND stan = ? AND kind = ?",
            (terminal_id, merchant_id, batch, stan, kind),
        )

    def by_rrn(self, rrn: str) -> IsoRecord | None:
        if not rrn.isdigit():
            return None
        return self._one("id = ?", (int(rrn),))

    def insert(self, **values: object) -> IsoRecord:
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self._lock:
            cursor = self._conn.execute(
                f"INSERT INTO iso_transactions ({names}) VALUES ({marks})",  # noqa: S608 - names are ours
                tuple(values.values()),
            )
            record = self._one("id = ?", (cursor.lastrowid,))
        if record is None:  # pragma: no cover - the row was inserted under the same lock
            raise RuntimeError("inserted transaction not found")
        return record

    def reverse(self, record_id: int, reason: str, at: str) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE iso_transactions SET status = 'reversed', reversal_reason = ?, reversed_at = ? "
                "WHERE id = ?",
                (reason, at, record_id),
            )

    def refunded_fen(self, original_id: int) -> int:
        with self._lock:
            row = self._conn.execute(
                "SELECT COALESCE(SUM(amount_fen), 0) FROM iso_transactions "
                "WHERE kind = 'refund' AND status = 'approved' AND original_id = ?",
                (original_id,),
            ).fetchone()
        return int(row[0])

    def batch_totals(self, terminal_id: str, merchant_id: str, batch: int) -> tuple[int, int, int, int]:
        """(sales count, sales fen, refunds count, refunds fen) of approved, unreversed transactions."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT kind, COUNT(*), COALESCE(SUM(amount_fen), 0) FROM iso_transactions "
                "WHERE terminal_id = ? AND merchant_id = ? AND batch = ? AND status = 'approved' "
                "GROUP BY kind",
                (terminal_id, merchant_id, batch),
            ).fetchall()
        totals = {kind: (int(count), int(total)) for kind, count, total in rows}
        sales, refunds = totals.get("sale", (0, 0)), totals.get("refund", (0, 0))
        return sales[0], sales[1], refunds[0], refunds[1]

    def records(self, day: str) -> list[IsoRecord]:
        """The day's transactions for reconciliation (approved, declined, reversed; not void keys)."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM iso_transactions WHERE day = ? AND status != 'void' ORDER BY id",  # noqa: S608
                (day,),
            ).fetchall()
        return [IsoRecord(*row) for row in rows]
