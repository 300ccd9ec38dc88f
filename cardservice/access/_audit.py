"""The audit log: every card access and every write, append-only and hash-chained with a key.

Each record's ``hash`` is HMAC-SHA256(key, prev_hash ‖ canonical encoding of the record), the first
record's ``prev_hash`` being 64 zeros. The canonical encoding is the UTF-8 JSON array
``[seq, at, actor, client, card, action, target, result, detail]`` (no spaces, non-ASCII kept as is;
``detail`` is itself canonical JSON text: sorted keys, no spaces), so one record has exactly one
encoding and no field can bleed into the next.

The key lives in ``$CARDSERVICE_HOME/audit.key``, outside the database: whoever can edit the database
still cannot recompute the chain. The head row (last seq and hash) carries its own MAC, so deleting the
newest records is caught as well as editing, reordering or deleting any other. With a shared
PostgreSQL, every daemon writing to it needs the same audit.key: copy it when deploying.

Appends are serialised across threads, processes and hosts: a row lock on the head (PostgreSQL
``SELECT ... FOR UPDATE``), or the write lock SQLite's ``BEGIN IMMEDIATE`` takes (see
:mod:`cardservice.store`). The database refuses UPDATE and DELETE on ``audit_log`` (triggers); the chain
is what catches someone who drops them.

What goes in: ``actor`` is the API client's name or the OS user; ``card`` must already be masked
(:func:`cardservice.healthcard.mask_id_number`); ``detail`` must not hold personal data (callers pass
codes, paths, counts). The log is kept forever; it is evidence, and personal data would make it a
second copy of the card.
"""

from __future__ import annotations

import contextlib
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
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from cardservice.store import AuditHeadRow, AuditRow, Database, StoreError

__all__ = ["AuditEntry", "AuditLog", "AuditVerification"]

_GENESIS = "0" * 64
_KEY_FILE = "audit.key"
_KEY_BYTES = 32
_MAX_PROBLEMS = 1000  # a log verified with the wrong key has a problem per record: say so, not 100k lines


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str  # ISO 8601, UTC, microseconds
    actor: str
    client: str | None
    card: str | None  # masked
    action: str
    target: str | None
    result: str
    detail: dict[str, object] | None


@dataclass
class AuditVerification:
    """What :meth:`AuditLog.verify` found: ``ok`` when ``problems`` is empty; each problem names a seq."""

    ok: bool = True
    records: int = 0
    problems: list[str] = field(default_factory=list)


def _canonical(
    seq: int,
    at: str,
    actor: str,
    client: str | None,
    card: str | None,
    action: str,
    target: str | None,
    result: str,
    detail: str | None,
) -> bytes:
    fields = [seq, at, actor, client, card, action, target, result, detail]
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()


def _detail_text(detail: Mapping[str, object] | None) -> str | None:
    if not detail:
        return None
    return json.dumps(dict(detail), ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _same(stored: str, expected: str) -> bool:
    # Bytes: compare_digest refuses str with non-ASCII characters, which an edited column may hold.
    return hmac.compare_digest(stored.encode(), expected.encode())


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value else None


class AuditLog:
    """The audit log of one database, keyed with *key* (32 bytes, see :meth:`key_from_home`)."""

    def __init__(self, database: Database, key: bytes) -> None:
        if len(key) < _KEY_BYTES:
            raise StoreError(f"the audit key must be {_KEY_BYTES} bytes")
        self._db = database
        self._key = bytes(key)
        self._ensure_head()

    @staticmethod
    def key_from_home(home: Path) -> bytes:
        """``home/audit.key``, created (32 random bytes, mode 0600, *home* mode 0700) on first use."""
        path = home / _KEY_FILE
        try:
            if not path.exists():
                home.mkdir(parents=True, exist_ok=True, mode=0o700)
                # Written whole under a temporary name, then linked into place: a second process
                # starting at the same moment reads either no file or the complete key, never half.
                temporary = home / f".{_KEY_FILE}.{secrets.token_hex(8)}"
                descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    with os.fdopen(descriptor, "wb") as handle:
                        handle.write(secrets.token_bytes(_KEY_BYTES))
                        handle.flush()
                        os.fsync(handle.fileno())
                    with contextlib.suppress(FileExistsError):  # another process made it first: theirs
                        os.link(temporary, path)
                finally:
                    temporary.unlink(missing_ok=True)
            key = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"{path}: {exc.strerror or exc.__class__.__name__}") from None
        if len(key) != _KEY_BYTES:
            raise StoreError(f"{path} is not a {_KEY_BYTES}-byte audit key")
        return key

    def _ensure_head(self) -> None:
        """The head row exists before the first append, so appends always have a row to lock (two
        daemons starting on an empty PostgreSQL log would otherwise race to create it)."""
        insert = postgresql.insert if self._db.dialect == "postgresql" else sqlite.insert
        values = {"id": 1, "seq": 0, "hash": _GENESIS, "mac": self._head_mac(0, _GENESIS)}
        with self._db.session() as session:
            session.execute(
                insert(AuditHeadRow).values(**values).on_conflict_do_nothing(index_elements=["id"])
            )

    def _hash(
        self,
        prev_hash: str,
        seq: int,
        at: str,
        actor: str,
        client: str | None,
        card: str | None,
        action: str,
        target: str | None,
        result: str,
        detail: str | None,
    ) -> str:
        message = prev_hash.encode() + _canonical(
            seq, at, actor, client, card, action, target, result, detail
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
        """Append one record; its sequence number. *card* masked, *detail* without personal data.

        Values longer than their column (actor 128, client 200, card 64, action 64, target 200,
        result 64 characters) are cut: an over-long value must not cost the record.
        """
        detail_text = _detail_text(detail)
        try:
            with self._db.session() as session:
                head = session.execute(
                    select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update()
                ).scalar()
                if head is None:
                    raise StoreError("the audit chain's head row is missing: run cardservice audit verify")
                seq, prev = head.seq + 1, head.hash
                # Read under the lock: times increase with seq, as a reader of the log expects.
                at = _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")
                row = AuditRow(
                    seq=seq, at=at, actor=actor[:128], client=_clip(client, 200), card=_clip(card, 64),
                    action=action[:64], target=_clip(target, 200), result=result[:64], detail=detail_text,
                    prev_hash=prev,
                )  # fmt: skip
                row.hash = self._hash(
                    prev, seq, row.at, row.actor, row.client, row.card, row.action, row.target, row.result,
                    row.detail,
                )  # fmt: skip
                session.add(row)
                head.seq, head.hash, head.mac = seq, row.hash, self._head_mac(seq, row.hash)
        except IntegrityError:
            # The head names a seq that is already taken: the head row was replaced or reset.
            raise StoreError(
                "the audit chain's head does not match the log: run cardservice audit verify"
            ) from None
        return seq

    def verify(self, *, batch: int = 5000) -> AuditVerification:
        """Walk the chain in batches of *batch* rows (constant memory, however long the log): every
        edited, reordered or deleted record, a gap, a deleted tail and a forged head is a problem."""
        report = AuditVerification()

        def problem(text: str) -> None:
            if len(report.problems) < _MAX_PROBLEMS:
                report.problems.append(text)
            elif len(report.problems) == _MAX_PROBLEMS:
                report.problems.append(f"(more problems not listed; the first {_MAX_PROBLEMS} are above)")

        expected_seq, prev = 1, _GENESIS
        columns = AuditRow.__table__.c
        # One snapshot for both statements (see Database.session): the daemon may append meanwhile.
        with self._db.session(readonly=True) as session:
            head = session.execute(
                select(AuditHeadRow.seq, AuditHeadRow.hash, AuditHeadRow.mac).where(AuditHeadRow.id == 1)
            ).first()
            rows = session.execute(
                select(
                    columns.seq, columns.at, columns.actor, columns.client, columns.card, columns.action,
                    columns.target, columns.result, columns.detail, columns.prev_hash, columns.hash,
                )
                .order_by(columns.seq)
                .execution_options(yield_per=batch)
            )  # fmt: skip
            for seq, at, actor, client, card, action, target, result, detail, prev_hash, digest in rows:
                report.records += 1
                if seq != expected_seq:
                    span = f"{expected_seq}..{seq - 1}" if seq - 1 > expected_seq else f"{expected_seq}"
                    problem(f"seq {span} missing (gap)")
                elif prev_hash != prev:
                    problem(f"seq {seq}: not linked to seq {seq - 1} (records reordered or replaced)")
                expected = self._hash(prev_hash, seq, at, actor, client, card, action, target, result, detail)
                if not _same(digest, expected):
                    problem(f"seq {seq}: contents changed")
                expected_seq, prev = seq + 1, digest
        last = expected_seq - 1
        if head is None:
            if last:
                problem(f"head row missing (the chain ends at seq {last})")
        elif not _same(head.mac, self._head_mac(head.seq, head.hash)):
            problem("head MAC invalid (the head row was altered)")
        elif head.seq > last:
            problem(f"chain ends at seq {last} but the head says {head.seq} (records deleted)")
        elif head.seq < last:
            problem(f"chain ends at seq {last} but the head says {head.seq} (records added past the head)")
        elif head.hash != prev:
            problem(f"seq {last}: not the record the head names (last record replaced)")
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
        """Records in seq order: the newest *limit*, or with *since_seq* the first *limit* after it
        (page forward by passing the last seq seen). *card* is a masked card reference."""
        if limit < 1:
            raise StoreError("limit must be at least 1")
        query = select(AuditRow)
        if card is not None:
            query = query.where(AuditRow.card == card)
        if action is not None:
            query = query.where(AuditRow.action == action)
        if since_seq is not None:
            query = query.where(AuditRow.seq > since_seq).order_by(AuditRow.seq)
        else:
            query = query.order_by(AuditRow.seq.desc())
        with self._db.session(readonly=True) as session:
            rows = list(session.execute(query.limit(limit)).scalars())
        if since_seq is None:
            rows.reverse()
        return [
            AuditEntry(
                r.seq, r.at, r.actor, r.client, r.card, r.action, r.target, r.result, _detail(r.detail)
            )
            for r in rows
        ]


def _detail(text: str | None) -> dict[str, object] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    # Not what record() writes (edited by hand?): shown as is, and verify() reports the record.
    return value if isinstance(value, dict) else {"unparsed": text}
