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

What the database cannot show about itself (the newest records deleted with the head, everything
deleted, an older backup put back) the anchor shows: ``$CARDSERVICE_HOME/audit.anchor``, the seq and hash
of the newest record this data directory appended, written after the appends on a thread of its own, at
most every ``_ANCHOR_INTERVAL`` seconds (see :mod:`cardservice.access._anchor`; a log built without
*home* keeps none and checks none). It is never moved back, nor onto a chain that does not hold it: once
the database has lost the anchor's record, the anchor stays as evidence and an ERROR is logged, and
appends go on. The structured log carries the
anchor too (``audit anchor SEQ:HASH``) at the first append, every ``_LOG_ANCHOR_EVERY`` records and at
:meth:`AuditLog.close`: shipped off the machine, those lines outlive the data directory, and
``verify(anchor=...)`` checks one.

:meth:`AuditLog.verify` only reads: no head row is made, nothing is migrated, no anchor is written.

Appends are serialised across threads, processes and hosts: a row lock on the head (PostgreSQL
``SELECT ... FOR UPDATE``), or the write lock SQLite's ``BEGIN IMMEDIATE`` takes (see
:mod:`cardservice.store`). Within a process they are committed in groups: a caller that finds no append
under way appends every record queued by then (its own too) in one transaction, hashing them in order
under the head's lock as it would one; the callers whose records it took wait until it has committed, so
no access is answered before its record is in. A record the group cannot take (its hash cannot be
computed, the database refuses its values) fails alone. The database refuses UPDATE and DELETE on
``audit_log`` (triggers); the chain is what catches someone who drops them.

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
import logging
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Integer, String, bindparam, exists, insert, inspect, literal, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cardservice.access._anchor import AnchorFile, AnchorUnusable, AnchorWriter, AuditAnchor
from cardservice.access._chain import GENESIS, Chain, check_end, same
from cardservice.access._group_commit import GroupCommit
from cardservice.store import AuditHeadRow, AuditRow, Database, StoreError

__all__ = ["AuditAnchor", "AuditEntry", "AuditLog", "AuditVerification"]

log = logging.getLogger(__name__)

_KEY_FILE = "audit.key"
_KEY_BYTES = 32
_MAX_PROBLEMS = 1000  # a log verified with the wrong key has a problem per record: say so, not 100k lines
_LOG_ANCHOR_EVERY = 1000  # records between two "audit anchor" log lines (a line per record is noise)
_ANCHOR_INTERVAL = 0.1  # seconds between two writes of the anchor at most (see AnchorWriter)

# An append's statements, built once (building them costs more than running them on SQLite). The head is
# locked and read with the hash the log holds at the anchor's seq (NULL for seq 0: no anchor), in one
# round trip; then the records go in (one executemany) and the head moves on (SQLite), or both in one
# statement (PostgreSQL).
_LOCK_HEAD = (
    select(
        AuditHeadRow.seq,
        AuditHeadRow.hash,
        select(AuditRow.hash).where(AuditRow.seq == bindparam("anchor_seq")).scalar_subquery(),
    )
    .where(AuditHeadRow.id == 1)
    .with_for_update(of=AuditHeadRow)
)
_INSERT_RECORDS = insert(AuditRow)
_COLUMNS = (
    "seq", "at", "actor", "client", "card", "action", "target", "result", "detail", "prev_hash", "hash"
)  # fmt: skip
# PostgreSQL: the records (as arrays, one per column: the same statement for any number of records) and
# the head in one statement.
_APPEND_POSTGRESQL = text(
    "WITH records AS (INSERT INTO audit_log (seq, at, actor, client, card, action, target, result, detail, "
    "prev_hash, hash) SELECT * FROM unnest(CAST(:seq AS bigint[]), CAST(:at AS text[]), "
    "CAST(:actor AS text[]), CAST(:client AS text[]), CAST(:card AS text[]), CAST(:action AS text[]), "
    "CAST(:target AS text[]), CAST(:result AS text[]), CAST(:detail AS text[]), CAST(:prev_hash AS text[]), "
    "CAST(:hash AS text[]))) "
    "UPDATE audit_head SET seq = :head_seq, hash = :head_hash, mac = :head_mac WHERE id = 1"
)
_MOVE_HEAD = (
    update(AuditHeadRow)
    .where(AuditHeadRow.id == 1)
    .values(seq=bindparam("head_seq"), hash=bindparam("head_hash"), mac=bindparam("head_mac"))
)


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
    """What :meth:`AuditLog.verify` found: ``ok`` when ``problems`` is empty; each problem names a seq.
    ``anchored`` is False when the data directory has no anchor yet while the log has records (then one
    problem says so: the end of the log cannot be vouched for)."""

    ok: bool = True
    records: int = 0
    problems: list[str] = field(default_factory=list)
    anchored: bool = True


def _detail_text(detail: Mapping[str, object] | None) -> str | None:
    if not detail:
        return None
    return json.dumps(dict(detail), ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value else None


def _holds(head_seq: int, head_hash: str, stored: str | None, anchor: AuditAnchor) -> bool:
    """Whether the chain whose head is (*head_seq*, *head_hash*) holds *anchor*'s record, *stored* being
    the hash the log has at the anchor's seq (None: no such record)."""
    if head_seq <= anchor.seq:
        return head_seq == anchor.seq and head_hash == anchor.hash
    return stored == anchor.hash


@dataclass(eq=False)
class _Pending:
    """One record waiting to be appended (values already cut to their columns), and what became of it."""

    actor: str
    client: str | None
    card: str | None
    action: str
    target: str | None
    result: str
    detail: str | None
    seq: int = 0  # set once committed
    error: BaseException | None = None


def _abandon(pending: _Pending, exc: BaseException) -> None:
    """An append failed for a reason that is not a database's (those are each record's): the records it
    had not committed failed with it."""
    if not pending.seq and pending.error is None:
        pending.error = exc


class AuditLog:
    """The audit log of one database, keyed with *key* (32 bytes, see :meth:`key_from_home`), anchored
    in the data directory *home* (see the module docstring; without it, no anchor is kept or checked).

    Making one writes nothing: the head row is made at the first append. The daemon makes its log with
    :meth:`for_home` and calls :meth:`close` when it stops.
    """

    def __init__(self, database: Database, key: bytes, *, home: Path | None = None) -> None:
        if len(key) < _KEY_BYTES:
            raise StoreError(f"the audit key must be {_KEY_BYTES} bytes")
        self._db = database
        self._key = bytes(key)
        self._anchor_file = AnchorFile(home, self._key) if home is not None else None
        self._writer = AnchorWriter(self._advance_anchor, _ANCHOR_INTERVAL) if home is not None else None
        self._ready = False
        self._lock = threading.Lock()
        # The newest record this log knows the chain holds: the anchor file's, then its own appends'.
        # Each append checks the chain still holds it, while it holds the head's lock.
        self._anchor: AuditAnchor | None = None
        self._anchoring = home is not None  # False once the anchor must stay as evidence
        self._written: AuditAnchor | None = None  # the newest anchor this log wrote (writer thread)
        self._write_failed = False
        self._group = GroupCommit(self._append, _abandon)  # see record

    @classmethod
    def for_home(cls, database: Database, home: Path) -> AuditLog:
        """The log as the daemon and the admin commands keep it: key and anchor in the data directory."""
        return cls(database, cls.key_from_home(home), home=home)

    @staticmethod
    def key_from_home(home: Path, *, create: bool = True) -> bytes:
        """``home/audit.key``, created (32 random bytes, mode 0600, *home* mode 0700) on first use.
        ``create=False``: a missing key is an error (what verifies the log must not replace it)."""
        path = home / _KEY_FILE
        if not create and not path.exists():
            raise StoreError(
                f"no audit key at {path}: the log cannot be verified without it "
                "(restore it from the backup; the daemon makes one at its first start)"
            )
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

    def _prepare(self) -> None:
        """Before this log's first append: the head row, and the anchor to keep moving on."""
        with self._lock:
            if self._ready:
                return
            self._ensure_head()
            if self._anchor_file is not None:
                try:
                    self._anchor = self._anchor_file.read()
                except AnchorUnusable as exc:
                    self._keep_anchor(f"{exc}: kept as it is, and not replaced by this process's appends")
            self._ready = True

    def _ensure_head(self) -> None:
        """The head row exists before the first append, so appends always have a row to lock (two
        daemons starting on an empty PostgreSQL log would otherwise race to create it). Only over an
        empty log: a new head over records would reuse seq 1 and hide what happened to the old one."""
        insert = postgresql.insert if self._db.dialect == "postgresql" else sqlite.insert
        genesis = select(
            literal(1, Integer),
            literal(0, Integer),
            literal(GENESIS, String),
            literal(self._head_mac(0, GENESIS), String),
        ).where(~exists(select(AuditRow.seq)))
        with self._db.session() as session:
            session.execute(
                insert(AuditHeadRow)
                .from_select(["id", "seq", "hash", "mac"], genesis)
                .on_conflict_do_nothing(index_elements=["id"])
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
        # The canonical encoding (see the module): one JSON array, no spaces, non-ASCII kept as is.
        fields = [seq, at, actor, client, card, action, target, result, detail]
        message = prev_hash.encode() + json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
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
        """Append one record; its sequence number, once the record is committed. *card* masked, *detail*
        without personal data.

        Values longer than their column (actor 128, client 200, card 64, action 64, target 200,
        result 64 characters) are cut: an over-long value must not cost the record.

        Group commit: records from concurrent callers are appended together, in one transaction, by the
        caller that finds no append under way (see :meth:`_append`); the others wait until theirs is
        committed. A caller alone appends its own record at once.
        """
        pending = _Pending(
            actor[:128], _clip(client, 200), _clip(card, 64), action[:64], _clip(target, 200), result[:64],
            _detail_text(detail),
        )  # fmt: skip
        self._prepare()
        self._group.submit(pending)
        if pending.error is not None:
            raise pending.error
        return pending.seq

    def _append(self, batch: list[_Pending]) -> None:
        """Append *batch* in one transaction, in order: each gets its seq, or the error that refused it. A
        record whose hash cannot be computed is refused alone; a database error refuses the batch, which
        is then appended a record per transaction, so that one bad record never costs the others."""
        try:
            self._commit(batch)
        except (StoreError, SQLAlchemyError) as exc:
            if len(batch) == 1 or isinstance(exc, StoreError):  # StoreError: the head, the same for all
                for pending in batch:
                    if not pending.seq and pending.error is None:
                        pending.error = exc
                return
            for pending in batch:
                if pending.error is None:
                    self._append([pending])

    def _commit(self, batch: list[_Pending]) -> None:
        anchor = self._anchor if self._anchoring else None
        written: list[_Pending] = []
        try:
            with self._db.transaction() as connection:
                found = connection.execute(_LOCK_HEAD, {"anchor_seq": anchor.seq if anchor else 0}).first()
                if found is None:
                    raise StoreError("the audit chain's head row is missing: run cardservice audit verify")
                seq, prev, stored = found
                lost = anchor is not None and not _holds(seq, prev, stored, anchor)
                rows = []
                for pending in batch:
                    if pending.error is not None:
                        continue
                    # Read under the lock: times increase with seq, as a reader of the log expects.
                    at = _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")
                    try:
                        digest = self._hash(
                            prev, seq + 1, at, pending.actor, pending.client, pending.card, pending.action,
                            pending.target, pending.result, pending.detail,
                        )  # fmt: skip
                    except (ValueError, TypeError) as exc:  # e.g. a lone surrogate that UTF-8 cannot carry
                        pending.error = exc
                        continue
                    seq += 1
                    rows.append({
                        "seq": seq, "at": at, "actor": pending.actor, "client": pending.client,
                        "card": pending.card, "action": pending.action, "target": pending.target,
                        "result": pending.result, "detail": pending.detail, "prev_hash": prev, "hash": digest,
                    })  # fmt: skip
                    pending.seq, prev = seq, digest
                    written.append(pending)
                if not rows:
                    return
                head = {"head_seq": seq, "head_hash": prev, "head_mac": self._head_mac(seq, prev)}
                if self._db.dialect == "postgresql":
                    # One statement for records and head: the head's lock is held a round trip less.
                    columns = {name: [row[name] for row in rows] for name in _COLUMNS}
                    connection.execute(_APPEND_POSTGRESQL, {**columns, **head})
                else:
                    connection.execute(_INSERT_RECORDS, rows)
                    connection.execute(_MOVE_HEAD, head)
        except IntegrityError:
            for pending in written:
                pending.seq = 0
            # The head names a seq that is already taken: the head row was replaced or reset.
            raise StoreError(
                "the audit chain's head does not match the log: run cardservice audit verify"
            ) from None
        except BaseException:
            for pending in written:  # rolled back: nothing of the batch is in
                pending.seq = 0
            raise
        if lost and anchor is not None:
            self._keep_anchor(
                f"the audit log does not hold this data directory's anchor (seq {anchor.seq}): the database "
                "was restored from a backup, or its newest records deleted; the anchor is kept as it is "
                "(run cardservice audit verify)"
            )
        elif self._anchoring and self._writer is not None:
            committed = AuditAnchor(seq, prev)
            with self._lock:
                if self._anchor is None or self._anchor.seq < seq:
                    self._anchor = committed
            self._writer.submit(committed)

    def _advance_anchor(self, anchor: AuditAnchor) -> None:
        """Move the data directory's anchor on to *anchor* (committed), unless another process on this
        data directory moved it further meanwhile. Runs on the writer's thread. A failure to write is
        logged: the record is in, and refusing the access it recorded would not bring the anchor back."""
        file = self._anchor_file
        if file is None or not self._anchoring:  # it became evidence after this anchor was handed over
            return
        try:
            with file.locked():  # the writers of this data directory, one at a time
                try:
                    current = file.read()
                except AnchorUnusable as exc:  # made unusable since this log read it
                    self._keep_anchor(f"{exc}: kept as it is, and not replaced by this process's appends")
                    return
                if current is not None and current.seq >= anchor.seq:
                    return
                file.write(anchor)
        except OSError as exc:
            if not self._write_failed:
                self._write_failed = True
                log.error("the audit anchor %s cannot be written: %s", file.path, exc.strerror)
            return
        self._write_failed = False
        previous, self._written = self._written, anchor
        if previous is None:
            log.info("audit anchor %s (first append)", anchor)
        elif anchor.seq // _LOG_ANCHOR_EVERY > previous.seq // _LOG_ANCHOR_EVERY:
            log.info("audit anchor %s", anchor)

    def _keep_anchor(self, reason: str) -> None:
        """Stop moving the anchor on (once, with an ERROR): it is evidence now."""
        if self._anchoring:
            self._anchoring = False
            log.error("%s", reason)

    def flush(self) -> None:
        """Write the anchor of the last append now, and return once it is written."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Write the anchor of the last append, stop the writer's thread and log the anchor (the daemon
        calls it when it stops). The log stays usable: a later append starts the thread again."""
        if self._writer is not None:
            self._writer.close()
        if self._written is not None:
            log.info("audit anchor %s (closing)", self._written)

    def verify(self, *, batch: int = 5000, anchor: AuditAnchor | None = None) -> AuditVerification:
        """Walk the chain in batches of *batch* rows (constant memory, however long the log): every
        edited, reordered or deleted record, a gap, a deleted tail and a forged head is a problem. The
        chain must reach the data directory's anchor and hold its record there, and *anchor*'s too (one
        from the daemon's log). Reads only."""
        report = AuditVerification()

        def problem(text: str) -> None:
            if len(report.problems) < _MAX_PROBLEMS:
                report.problems.append(text)
            elif len(report.problems) == _MAX_PROBLEMS:
                report.problems.append(f"(more problems not listed; the first {_MAX_PROBLEMS} are above)")

        # The anchors before the snapshot: each names a committed record, so the snapshot holds it.
        anchors: dict[str, AuditAnchor] = {}
        unanchored: Path | None = None  # the anchor file, when there is none yet
        if self._anchor_file is not None:
            try:
                stored = self._anchor_file.read()
            except AnchorUnusable as exc:
                problem(str(exc))
            else:
                if stored is None:
                    unanchored = self._anchor_file.path
                else:
                    anchors["the anchor"] = stored
        if anchor is not None:
            anchors["the given anchor"] = anchor
        chain = self._walk(batch, {a.seq for a in anchors.values()}, report, problem)
        check_end(chain, anchors, problem)
        if unanchored is not None and report.records:
            report.anchored = False
            problem(
                f"no anchor in {unanchored}: deleting the newest records or putting back an older backup "
                "cannot be detected until the next append from this data directory writes it"
            )
        report.ok = not report.problems
        return report

    def _walk(
        self, batch: int, wanted: set[int], report: AuditVerification, problem: Callable[[str], None]
    ) -> Chain:
        """Read the head and every record in one snapshot (see Database.session: the daemon may append
        meanwhile), checking each record's link and hash."""
        chain = Chain()
        expected_seq = 1
        columns = AuditRow.__table__.c
        with self._db.session(readonly=True) as session:
            # No audit tables (a database never migrated, or its tables dropped) is an empty log, not an
            # error: what the anchor says about it is the report.
            tables = inspect(session.connection())
            if not (
                tables.has_table(AuditRow.__tablename__) and tables.has_table(AuditHeadRow.__tablename__)
            ):
                return chain
            head = session.execute(
                select(AuditHeadRow.seq, AuditHeadRow.hash, AuditHeadRow.mac).where(AuditHeadRow.id == 1)
            ).first()
            if head is not None:
                chain.head = (head.seq, head.hash, same(head.mac, self._head_mac(head.seq, head.hash)))
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
                elif prev_hash != chain.last_hash:
                    problem(f"seq {seq}: not linked to seq {seq - 1} (records reordered or replaced)")
                expected = self._hash(prev_hash, seq, at, actor, client, card, action, target, result, detail)
                if not same(digest, expected):
                    problem(f"seq {seq}: contents changed")
                if seq in wanted:
                    chain.found[seq] = digest
                expected_seq, chain.last, chain.last_hash = seq + 1, seq, digest
        return chain

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
