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
import logging
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Integer, String, exists, inspect, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cardservice.access._anchor import AnchorFile, AnchorUnusable, AnchorWriter, AuditAnchor
from cardservice.store import AuditHeadRow, AuditRow, Database, StoreError

__all__ = ["AuditAnchor", "AuditEntry", "AuditLog", "AuditVerification"]

log = logging.getLogger(__name__)

_GENESIS = "0" * 64
_KEY_FILE = "audit.key"
_KEY_BYTES = 32
_MAX_PROBLEMS = 1000  # a log verified with the wrong key has a problem per record: say so, not 100k lines
_LOG_ANCHOR_EVERY = 1000  # records between two "audit anchor" log lines (a line per record is noise)
_ANCHOR_INTERVAL = 0.1  # seconds between two writes of the anchor at most (see AnchorWriter)


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


@dataclass
class _Chain:
    """What :meth:`AuditLog.verify` read: the head (seq, hash, whether its MAC holds), the last record's
    seq (0: none) and hash, and the hash found at each seq it was asked for."""

    head: tuple[int, str, bool] | None = None
    last: int = 0
    last_hash: str = _GENESIS
    found: dict[int, str] = field(default_factory=dict)


def _says(ends: Mapping[str, int]) -> str:
    """``the head says seq 10``, ``the head and the anchor say seq 10``, ``the head says seq 10, the
    anchor seq 12``: who claims the log reaches which seq."""
    by_seq: dict[int, list[str]] = {}
    for who, seq in ends.items():
        by_seq.setdefault(seq, []).append(who)
    parts = []
    for index, (seq, names) in enumerate(by_seq.items()):
        verb = "" if index else (" says" if len(names) == 1 else " say")
        parts.append(f"{' and '.join(names)}{verb} seq {seq}")
    return ", ".join(parts)


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
            literal(_GENESIS, String),
            literal(self._head_mac(0, _GENESIS), String),
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
        self._prepare()
        anchor, lost = self._anchor, False
        try:
            with self._db.session() as session:
                head = session.execute(
                    select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update()
                ).scalar()
                if head is None:
                    raise StoreError("the audit chain's head row is missing: run cardservice audit verify")
                if self._anchoring and anchor is not None:
                    lost = not self._holds(session, head, anchor)
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
        if lost and anchor is not None:
            self._keep_anchor(
                f"the audit log does not hold this data directory's anchor (seq {anchor.seq}): the database "
                "was restored from a backup, or its newest records deleted; the anchor is kept as it is "
                "(run cardservice audit verify)"
            )
        elif self._anchoring and self._writer is not None:
            committed = AuditAnchor(seq, row.hash)
            with self._lock:
                if self._anchor is None or self._anchor.seq < seq:
                    self._anchor = committed
            self._writer.submit(committed)
        return seq

    def _holds(self, session: Session, head: AuditHeadRow, anchor: AuditAnchor) -> bool:
        """Whether the chain (*head* locked in *session*) holds *anchor*'s record. Free in the usual
        case, when this log made the last append; one lookup by seq when others appended since."""
        if head.seq <= anchor.seq:
            return head.seq == anchor.seq and head.hash == anchor.hash
        stored = session.execute(select(AuditRow.hash).where(AuditRow.seq == anchor.seq)).scalar()
        return stored == anchor.hash

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
        self._check_end(chain, anchors, problem)
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
    ) -> _Chain:
        """Read the head and every record in one snapshot (see Database.session: the daemon may append
        meanwhile), checking each record's link and hash."""
        chain = _Chain()
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
                chain.head = (head.seq, head.hash, _same(head.mac, self._head_mac(head.seq, head.hash)))
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
                if not _same(digest, expected):
                    problem(f"seq {seq}: contents changed")
                if seq in wanted:
                    chain.found[seq] = digest
                expected_seq, chain.last, chain.last_hash = seq + 1, seq, digest
        return chain

    def _check_end(
        self, chain: _Chain, anchors: Mapping[str, AuditAnchor], problem: Callable[[str], None]
    ) -> None:
        """The head against the last record, then where the log should reach by what knows it (the head
        when its MAC holds, the anchors) against where it does."""
        last = chain.last
        if chain.head is None:
            if last:
                problem(f"head row missing (the chain ends at seq {last})")
            head_seq, consistent = None, False
        else:
            head_seq, head_hash, valid = chain.head
            if not valid:
                problem("head MAC invalid (the head row was altered)")
            elif head_seq < last:
                problem(
                    f"chain ends at seq {last} but the head says {head_seq} (records added past the head)"
                )
            elif head_seq == last and head_hash != chain.last_hash:
                problem(f"seq {last}: not the record the head names (last record replaced)")
            consistent = valid and head_seq == last and head_hash == chain.last_hash
            head_seq = head_seq if valid else None
        ends = {who: a.seq for who, a in anchors.items() if a.seq > last}
        if head_seq is not None and head_seq > last:
            ends = {"the head": head_seq, **ends}
        if ends:
            says = _says(ends)
            if not last:
                problem(f"the log is empty but {says}")
            elif consistent:  # whole in itself, only shorter than an anchor: a copy from before its record
                problem(f"the database is older than {' and '.join(ends)} ({says}, the database ends at "
                        f"seq {last}): restored from a backup?")  # fmt: skip
            else:
                problem(f"the newest {max(ends.values()) - last} records are missing ({says}, the database "
                        f"ends at seq {last})")  # fmt: skip
        for who, known in anchors.items():
            if known.seq in chain.found and not _same(chain.found[known.seq], known.hash):
                problem(f"seq {known.seq} is not the record {who} names: the database was restored from an "
                        "older backup and appended to since?")  # fmt: skip

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
