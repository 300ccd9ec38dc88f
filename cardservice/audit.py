"""The audit log: every card access and every write, append-only and hash-chained with a key.

Each record's ``hash`` is HMAC-SHA256(key, prev_hash ‖ canonical JSON of the record). The key lives in
``$CARDSERVICE_HOME/audit.key``, outside the database: whoever can edit the database still cannot
recompute the chain. The head row (last seq, hash) carries its own MAC, so deleting the newest records
is caught as well as editing or deleting any other. With a shared PostgreSQL, every daemon writing to
it needs the same audit.key (copy it when deploying).

Appends are serialised across threads and processes: a row lock on the head (PostgreSQL), or the
write lock SQLite's ``BEGIN IMMEDIATE`` takes. ``card`` must already be masked; ``detail`` must not
hold personal data (callers pass codes, paths and counts).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from cardservice.store import AuditHeadRow, AuditRow, Database, StoreError

__all__ = ["AuditEntry", "AuditLog", "AuditVerification"]

_GENESIS = "0" * 64
_KEY_FILE = "audit.key"


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    client: str | None
    card: str | None
    action: str
    target: str | None
    result: str
    detail: dict[str, object] | None


@dataclass
class AuditVerification:
    ok: bool = True
    records: int = 0
    problems: list[str] = field(default_factory=list)


def _canonical(seq: int, at: str, actor: str, client: str | None, card: str | None, action: str,
               target: str | None, result: str, detail: str | None) -> bytes:  # fmt: skip
    fields = [seq, at, actor, client, card, action, target, result, detail]
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()


class AuditLog:
    def __init__(self, database: Database, key: bytes) -> None:
        if len(key) < 32:
            raise StoreError("the audit key must be 32 bytes")
        self._db = database
        self._key = key
        self._ensure_head()

    def _ensure_head(self) -> None:
        """The head row exists before the first append, so appends always have a row to lock (two
        daemons starting on an empty PostgreSQL log would otherwise race to create it)."""
        from sqlalchemy.dialects import postgresql, sqlite

        insert = postgresql.insert if self._db.dialect == "postgresql" else sqlite.insert
        values = {"id": 1, "seq": 0, "hash": _GENESIS, "mac": self._head_mac(0, _GENESIS)}
        with self._db.session() as session:
            session.execute(
                insert(AuditHeadRow).values(**values).on_conflict_do_nothing(index_elements=["id"])
            )

    @staticmethod
    def key_from_home(home: Path) -> bytes:
        """``home/audit.key``, created (32 random bytes, mode 0600) on first use."""
        path = home / _KEY_FILE
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it first: read theirs
            else:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(secrets.token_bytes(32))
        key = path.read_bytes()
        if len(key) != 32:
            raise StoreError(f"{path} is not a 32-byte audit key")
        return key

    def _hash(self, prev_hash: str, row: AuditRow) -> str:
        message = prev_hash.encode() + _canonical(
            row.seq, row.at, row.actor, row.client, row.card, row.action, row.target, row.result, row.detail
        )
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _head_mac(self, seq: int, digest: str) -> str:
        return hmac.new(self._key, f"head|{seq}|{digest}".encode(), hashlib.sha256).hexdigest()

    def record(
        self,
        *,
        actor: str,
        action: str,
        result: str,
        client: str | None = None,
        card: str | None = None,
        target: str | None = None,
        detail: Mapping[str, object] | None = None,
    ) -> int:
        """Append one record; its sequence number."""
        detail_text = (
            json.dumps(dict(detail), ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
            if detail
            else None
        )
        at = _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")
        with self._db.session() as session:
            head = session.execute(
                select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update()
            ).scalar()
            if head is None:
                raise StoreError("the audit chain head is missing (deleted?): run cardservice audit verify")
            seq, prev = head.seq + 1, head.hash
            row = AuditRow(
                seq=seq, at=at, actor=actor[:128], client=client[:200] if client else None,
                card=card[:64] if card else None, action=action[:64], target=target[:200] if target else None,
                result=result[:64], detail=detail_text, prev_hash=prev, hash="",
            )  # fmt: skip
            row.hash = self._hash(prev, row)
            session.add(row)
            head.seq, head.hash, head.mac = seq, row.hash, self._head_mac(seq, row.hash)
        return seq

    def verify(self, *, batch: int = 5000) -> AuditVerification:
        """Walk the chain in batches; every edit, gap, reordering or deleted tail is a problem."""
        report = AuditVerification()
        expected_seq, prev = 1, _GENESIS
        with self._db.session(readonly=True) as session:
            rows = session.execute(select(AuditRow).order_by(AuditRow.seq).execution_options(yield_per=batch))
            for row in rows.scalars():
                report.records += 1
                if row.seq != expected_seq:
                    report.problems.append(
                        f"seq {expected_seq}" + (f"..{row.seq - 1}" if row.seq - 1 > expected_seq else "")
                        + " missing (records deleted)"
                    )  # fmt: skip
                if row.prev_hash != prev:
                    report.problems.append(f"seq {row.seq}: does not follow the record before it")
                if not hmac.compare_digest(row.hash, self._hash(row.prev_hash, row)):
                    report.problems.append(f"seq {row.seq}: contents changed")
                expected_seq, prev = row.seq + 1, row.hash
                session.expunge(row)  # keep memory flat on long logs
            head = session.get(AuditHeadRow, 1)
        last = expected_seq - 1
        if head is None:
            if last:
                report.problems.append("the chain head is missing")
        else:
            if not hmac.compare_digest(head.mac, self._head_mac(head.seq, head.hash)):
                report.problems.append("the chain head was altered (MAC invalid)")
            elif head.seq != last or head.hash != prev:
                report.problems.append(
                    f"the chain ends at seq {last} but its head says {head.seq} (newest records deleted)"
                )
        report.ok = not report.problems
        return report

    def entries(
        self,
        *,
        since_seq: int | None = None,
        limit: int = 100,
        card: str | None = None,
        action: str | None = None,
    ) -> list[AuditEntry]:
        query = select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)
        if since_seq is not None:
            query = query.where(AuditRow.seq > since_seq)
        if card is not None:
            query = query.where(AuditRow.card == card)
        if action is not None:
            query = query.where(AuditRow.action == action)
        with self._db.session(readonly=True) as session:
            rows = list(session.execute(query).scalars())
        return [
            AuditEntry(
                r.seq,
                r.at,
                r.actor,
                r.client,
                r.card,
                r.action,
                r.target,
                r.result,
                json.loads(r.detail) if r.detail else None,
            )
            for r in reversed(rows)
        ]
