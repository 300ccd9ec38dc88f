"""The simulated acquirer's books: one SQLite file (stdlib sqlite3), so its records survive the daemon
and the simulator itself being killed. Card charges are in ``transactions``; the QR-code payments
(扫码支付, :mod:`simulators.acquirer._qr`) in ``qr_transactions`` (codes, refunds, closed references) and
``qr_payments`` (every payment a phone made on a code: accepted, or refused with the money returned)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import secrets
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["CHINA_TZ", "AcquirerStore", "QrPayment", "QrTransaction", "Transaction"]

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

_QR_SCHEMA = """
CREATE TABLE IF NOT EXISTS qr_transactions (
    reference TEXT PRIMARY KEY,           -- the merchant's reference (its idempotency key)
    kind TEXT NOT NULL,                   -- code / refund / closed (an unknown reference closed for good)
    charge_reference TEXT,                -- a refund's code
    amount_fen INTEGER NOT NULL,
    status TEXT NOT NULL,                 -- code: open / paid / closed; refund: approved / declined; closed
    reason TEXT,                          -- why closed (expired, closed, unknown) or declined (a refund)
    code_url TEXT,                        -- what the kiosk shows as a QR code
    expires_at TEXT,
    notify_url TEXT,                      -- where the payment of this code is notified (else the default)
    transaction_id TEXT,                  -- a paid code's payment, a refund's id
    day TEXT NOT NULL,                    -- the business day (Beijing time) of the payment or refund
    at TEXT NOT NULL,
    paid_at TEXT
);
CREATE TABLE IF NOT EXISTS qr_payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    result TEXT NOT NULL,                 -- accepted / returned (refused: the money went back to the phone)
    reason TEXT,
    notification TEXT,                    -- (accepted) sent:<status> / dropped / failed:<error> / none
    at TEXT NOT NULL
);
"""
_QR_SELECT = (
    "SELECT reference, kind, charge_reference, amount_fen, status, reason, code_url, expires_at, notify_url, "
    "transaction_id, day, at, paid_at FROM qr_transactions "
)
_QR_INSERT = (
    "INSERT INTO qr_transactions (reference, kind, charge_reference, amount_fen, status, reason, code_url, "
    "expires_at, notify_url, transaction_id, day, at, paid_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


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


@dataclasses.dataclass(frozen=True)
class QrTransaction:
    """A payment code (``kind`` code), a refund of a paid one, or a closed unknown reference."""

    reference: str
    kind: str
    charge_reference: str | None
    amount_fen: int
    status: str
    reason: str | None
    code_url: str | None
    expires_at: str | None
    notify_url: str | None
    transaction_id: str | None
    day: str
    at: str
    paid_at: str | None

    def as_json(self, now: _dt.datetime) -> dict[str, object]:
        """As the API answers it: ``expires_in`` is the seconds an open code may still be paid."""
        body: dict[str, object] = dataclasses.asdict(self)
        del body["notify_url"]
        if self.kind == "code" and self.status == "open" and self.expires_at is not None:
            left = (_dt.datetime.fromisoformat(self.expires_at) - now).total_seconds()
            body["expires_in"] = round(max(0.0, left), 3)
        return body


@dataclasses.dataclass(frozen=True)
class QrPayment:
    """A payment a phone made on a code: ``accepted`` (the code is paid by it) or ``returned``."""

    id: int
    reference: str
    amount_fen: int
    result: str
    reason: str | None
    notification: str | None
    at: str

    def as_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class AcquirerStore:
    """Transactions by reference. Every method is atomic (one lock, one SQLite transaction). *clock*:
    the QR codes' time (tests)."""

    def __init__(self, path: str | Path, *, clock: Callable[[], _dt.datetime] = _utc_now) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(_SCHEMA)
        self._conn.executescript(_QR_SCHEMA)

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

    # -- QR-code payments (simulators.acquirer._qr) ---------------------------------------------------

    def now(self) -> _dt.datetime:
        return self._clock()

    def _qr_get(self, reference: str) -> QrTransaction | None:
        row = self._conn.execute(_QR_SELECT + "WHERE reference = ?", (reference,)).fetchone()
        if row is None:
            return None
        txn = QrTransaction(*row)
        if (
            txn.kind == "code"
            and txn.status == "open"
            and txn.expires_at is not None
            and self._clock() >= _dt.datetime.fromisoformat(txn.expires_at)
        ):
            # Expired: closed for good, as if the terminal had closed it (nothing can be paid on it).
            return self._qr_close_code(txn, "expired")
        return txn

    def _qr_close_code(self, txn: QrTransaction, reason: str) -> QrTransaction:
        self._conn.execute(
            "UPDATE qr_transactions SET status = 'closed', reason = ? "
            "WHERE reference = ? AND status = 'open'",
            (reason, txn.reference),
        )
        return dataclasses.replace(txn, status="closed", reason=reason)

    def _qr_insert(self, txn: QrTransaction) -> QrTransaction:
        self._conn.execute(_QR_INSERT, dataclasses.astuple(txn))
        return txn

    def _stamp(self) -> tuple[str, str]:
        """(business day in Beijing, instant) of now."""
        now = self._clock()
        return now.astimezone(CHINA_TZ).date().isoformat(), now.isoformat(timespec="microseconds")

    def qr_create(
        self, reference: str, amount_fen: int, expires_in: float, notify_url: str | None
    ) -> tuple[QrTransaction, bool]:
        """The code under *reference*: made now (open for *expires_in* seconds) unless the reference is
        known (then what it is — a closed reference stays closed — and False)."""
        with self._lock:
            existing = self._qr_get(reference)
            if existing is not None:
                return existing, False
            day, at = self._stamp()
            expires = (self._clock() + _dt.timedelta(seconds=expires_in)).isoformat(timespec="microseconds")
            code_url = "qrpay://acquirer.sim/" + secrets.token_urlsafe(12)
            txn = QrTransaction(
                reference, "code", None, amount_fen, "open", None, code_url, expires, notify_url, None,
                day, at, None,
            )  # fmt: skip
            return self._qr_insert(txn), True

    def qr_get(self, reference: str) -> QrTransaction | None:
        with self._lock:
            return self._qr_get(reference)

    def qr_reference_of(self, code_url: str) -> str | None:
        """The reference of the code shown as *code_url* (what a phone scanning it pays)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT reference FROM qr_transactions WHERE kind = 'code' AND code_url = ?", (code_url,)
            ).fetchone()
        return None if row is None else str(row[0])

    def qr_newest_open(self) -> str | None:
        """The reference of the newest code still open (the one a kiosk shows now), if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT reference FROM qr_transactions WHERE kind = 'code' AND status = 'open' "
                "ORDER BY at DESC, rowid DESC LIMIT 1"
            ).fetchone()
        return None if row is None else str(row[0])

    def qr_close(self, reference: str) -> QrTransaction:
        """Close the code *reference*: an open one is closed (nothing will ever be paid on it), a paid one
        or a refund answers as it is, an unknown reference is closed for good (a code or refund asked
        for later under it is refused)."""
        with self._lock:
            existing = self._qr_get(reference)
            if existing is None:
                day, at = self._stamp()
                closed = QrTransaction(
                    reference, "closed", None, 0, "closed", "unknown", None, None, None, None, day, at, None
                )
                return self._qr_insert(closed)
            if existing.kind == "code" and existing.status == "open":
                return self._qr_close_code(existing, "closed")
            return existing

    def qr_pay(self, reference: str) -> tuple[QrTransaction, QrPayment] | None:
        """A phone pays the code *reference* (its amount). Accepted only on an open code, which is then
        paid; on any other (expired, closed, paid already) the payment is refused and the money returned
        to the phone — recorded either way. ``None``: no such code."""
        with self._lock:
            txn = self._qr_get(reference)
            if txn is None or txn.kind != "code":
                return None
            day, at = self._stamp()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if txn.kind == "code" and txn.status == "open":
                    paid_id = "QR" + secrets.token_hex(8).upper()
                    txn = dataclasses.replace(txn, status="paid", transaction_id=paid_id, day=day, paid_at=at)
                    self._conn.execute(
                        "UPDATE qr_transactions SET status = ?, transaction_id = ?, day = ?, paid_at = ? "
                        "WHERE reference = ?",
                        (txn.status, txn.transaction_id, txn.day, txn.paid_at, reference),
                    )
                    result, reason = "accepted", None
                else:
                    result = "returned"
                    reason = "already paid" if txn.status == "paid" else f"code {txn.reason}"
                cursor = self._conn.execute(
                    "INSERT INTO qr_payments (reference, amount_fen, result, reason, notification, at) "
                    "VALUES (?, ?, ?, ?, NULL, ?)",
                    (reference, txn.amount_fen, result, reason, at),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            payment_id = cursor.lastrowid
            assert payment_id is not None
            return txn, QrPayment(payment_id, reference, txn.amount_fen, result, reason, None, at)

    def qr_notified(self, payment_id: int, notification: str) -> None:
        """Record what became of the notification of the accepted payment *payment_id*."""
        with self._lock:
            self._conn.execute(
                "UPDATE qr_payments SET notification = ? WHERE id = ?", (notification, payment_id)
            )

    def qr_payments(self, reference: str) -> list[QrPayment]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, reference, amount_fen, result, reason, notification, at FROM qr_payments "
                "WHERE reference = ? ORDER BY id",
                (reference,),
            ).fetchall()
        return [QrPayment(*row) for row in rows]

    def qr_refund(
        self, charge_reference: str, refund_reference: str, amount_fen: int, *, decline: bool = False
    ) -> tuple[QrTransaction, bool]:
        """Give (part of) the paid code *charge_reference* back to the phone, once per *refund_reference*
        (a known one answers as it is, and False): declined unless the code is paid and the refunds stay
        within its amount."""
        with self._lock:
            existing = self._qr_get(refund_reference)
            if existing is not None:
                return existing, False
            charge = self._qr_get(charge_reference)
            refunded = self._conn.execute(
                "SELECT COALESCE(SUM(amount_fen), 0) FROM qr_transactions "
                "WHERE kind = 'refund' AND status = 'approved' AND charge_reference = ?",
                (charge_reference,),
            ).fetchone()[0]
            if decline:
                reason: str | None = "declined by the acquirer"
            elif charge is None or charge.kind != "code" or charge.status != "paid":
                reason = "no such payment"
            elif refunded + amount_fen > charge.amount_fen:
                reason = "more than was paid"
            else:
                reason = None
            day, at = self._stamp()
            txn = QrTransaction(
                refund_reference, "refund", charge_reference, amount_fen,
                "declined" if reason else "approved", reason, None, None, None,
                "QR" + secrets.token_hex(8).upper(), day, at, None,
            )  # fmt: skip
            return self._qr_insert(txn), True

    def qr_transactions(self, day: str) -> list[QrTransaction]:
        """The day's paid codes and refunds (what the merchant's reconciliation file lists)."""
        with self._lock:
            rows = self._conn.execute(
                _QR_SELECT + "WHERE day = ? AND ((kind = 'code' AND status = 'paid') OR kind = 'refund') "
                "ORDER BY COALESCE(paid_at, at), reference",
                (day,),
            ).fetchall()
        return [QrTransaction(*row) for row in rows]
