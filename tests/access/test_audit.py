"""The keyed, hash-chained audit log on SQLite and PostgreSQL: the documented hash, every kind of
tampering found and named by seq, append-only triggers, concurrent appends without gaps."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import insert, text, update
from sqlalchemy.exc import DBAPIError

from cardservice.access import AuditLog
from cardservice.access import _audit as audit_module
from cardservice.store import AuditHeadRow, AuditRow, Database, StoreError, open_database
from tests.access.tampering import tamper

KEY = bytes(range(32))
CARD = "1101************30"


def fill(log: AuditLog, count: int, *, actor: str = "kiosk-1") -> list[int]:
    return [
        log.record(
            actor=actor,
            action="card.read_identity",
            result="ok",
            card=CARD,
            target="reader-0",
            client="127.0.0.1 curl/8",
            detail={"n": index},
        )
        for index in range(count)
    ]


def problems_of(log: AuditLog) -> list[str]:
    report = log.verify()
    assert report.ok == (not report.problems)
    return report.problems


def test_the_first_record_is_keyed_hash_of_zeros_and_its_canonical_json(database: Database) -> None:
    """hash = HMAC-SHA256(key, prev_hash ‖ JSON [seq, at, actor, client, card, action, target, result,
    detail]) with detail itself canonical JSON (sorted keys, no spaces, non-ASCII as is)."""
    log = AuditLog(database, KEY)
    seq = log.record(
        actor="柜台-1",
        action="card.update_items",
        result="ok",
        card=CARD,
        target="DF01/EF05",
        detail={"z": 1, "items": ["DZ1"], "说明": "地址"},
    )
    assert seq == 1
    with database.session(readonly=True) as session:
        row = session.get(AuditRow, 1)
        head = session.get(AuditHeadRow, 1)
    assert row is not None
    assert head is not None
    assert row.prev_hash == "0" * 64
    assert row.detail == '{"items":["DZ1"],"z":1,"说明":"地址"}'
    encoded = json.dumps(
        [1, row.at, "柜台-1", None, CARD, "card.update_items", "DF01/EF05", "ok", row.detail],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    assert row.hash == hmac.new(KEY, b"0" * 64 + encoded, hashlib.sha256).hexdigest()
    assert (head.seq, head.hash) == (1, row.hash)
    assert head.mac == hmac.new(KEY, f"head|1|{row.hash}".encode(), hashlib.sha256).hexdigest()
    assert row.at.endswith("+00:00")
    assert len(row.at.split(".")[1]) == len("123456+00:00")  # microseconds


def test_an_untouched_chain_verifies_and_reads_back(database: Database) -> None:
    log = AuditLog(database, KEY)
    assert log.verify().ok
    assert fill(log, 25) == list(range(1, 26))
    report = log.verify(batch=7)  # several batches
    assert report.ok
    assert report.records == 25
    entries = log.entries(limit=5)
    assert [e.seq for e in entries] == [21, 22, 23, 24, 25]
    assert entries[-1].detail == {"n": 24}
    assert entries[-1].client == "127.0.0.1 curl/8"
    assert [e.seq for e in log.entries(since_seq=10, limit=3)] == [11, 12, 13]
    assert log.entries(since_seq=25) == []


def test_entries_filter_by_action_and_card(database: Database) -> None:
    log = AuditLog(database, KEY)
    fill(log, 3)
    log.record(actor="root", action="token.create", result="ok", target="kiosk-2", detail={"key_id": "abc"})
    log.record(actor="root", action="blacklist.add", result="ok", card="3301************11")
    assert [e.seq for e in log.entries(action="token.create")] == [4]
    assert [e.seq for e in log.entries(card="3301************11")] == [5]
    assert [e.seq for e in log.entries(card=CARD, limit=2)] == [2, 3]
    with pytest.raises(StoreError, match="limit"):
        log.entries(limit=0)


def test_over_long_values_are_cut_not_refused(database: Database) -> None:
    log = AuditLog(database, KEY)
    log.record(actor="a" * 500, action="b" * 500, result="c" * 500, target="d" * 500)
    (entry,) = log.entries()
    assert (len(entry.actor), len(entry.action), len(entry.result), len(entry.target or "")) == (
        128,
        64,
        64,
        200,
    )
    assert log.verify().ok


def test_the_database_refuses_updates_and_deletes(database: Database) -> None:
    fill(AuditLog(database, KEY), 2)
    for statement in ("UPDATE audit_log SET result = 'x'", "DELETE FROM audit_log WHERE seq = 2"):
        with database.engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
    with database.session(readonly=True) as session:
        assert [r.result for r in session.query(AuditRow).order_by(AuditRow.seq)] == ["ok", "ok"]


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        pytest.param(
            ["UPDATE audit_log SET result = 'denied' WHERE seq = 7"],
            ["seq 7: contents changed"],
            id="field edited",
        ),
        pytest.param(
            ["UPDATE audit_log SET card = NULL WHERE seq = 3"],
            ["seq 3: contents changed"],
            id="field emptied",
        ),
        pytest.param(
            ["UPDATE audit_log SET detail = '{\"n\": 99}' WHERE seq = 4"],
            ["seq 4: contents changed"],
            id="detail edited",
        ),
        pytest.param(
            ["UPDATE audit_log SET at = '2020-01-01T00:00:00.000000+00:00' WHERE seq = 2"],
            ["seq 2: contents changed"],
            id="time edited",
        ),
        pytest.param(["DELETE FROM audit_log WHERE seq = 5"], ["seq 5 missing (gap)"], id="middle deleted"),
        pytest.param(
            ["DELETE FROM audit_log WHERE seq BETWEEN 4 AND 6"],
            ["seq 4..6 missing (gap)"],
            id="middle range deleted",
        ),
        pytest.param(
            ["DELETE FROM audit_log WHERE seq >= 9"],
            ["chain ends at seq 8 but the head says 10 (records deleted)"],
            id="tail deleted",
        ),
        pytest.param(
            ["DELETE FROM audit_log"],
            ["chain ends at seq 0 but the head says 10 (records deleted)"],
            id="everything deleted",
        ),
        pytest.param(
            [
                "UPDATE audit_log SET seq = -3 WHERE seq = 3",
                "UPDATE audit_log SET seq = 3 WHERE seq = 4",
                "UPDATE audit_log SET seq = 4 WHERE seq = -3",
            ],
            [
                "seq 3: not linked to seq 2 (records reordered or replaced)",
                "seq 3: contents changed",
                "seq 4: not linked to seq 3 (records reordered or replaced)",
                "seq 4: contents changed",
                "seq 5: not linked to seq 4 (records reordered or replaced)",
            ],
            id="two records swapped",
        ),
        pytest.param(
            ["UPDATE audit_log SET hash = 'é' WHERE seq = 6", "UPDATE audit_head SET mac = '验'"],
            [
                "seq 6: contents changed",
                "seq 7: not linked to seq 6 (records reordered or replaced)",
                "head MAC invalid (the head row was altered)",
            ],
            id="non-ASCII hashes",
        ),
        pytest.param(
            ["UPDATE audit_head SET seq = 3"],
            ["head MAC invalid (the head row was altered)"],
            id="head edited",
        ),
        pytest.param(
            ["DELETE FROM audit_head"], ["head row missing (the chain ends at seq 10)"], id="head deleted"
        ),
    ],
)
def test_every_edit_or_deletion_is_found_and_named(
    database: Database, statements: list[str], expected: list[str]
) -> None:
    log = AuditLog(database, KEY)
    fill(log, 10)
    tamper(database, *statements)
    assert problems_of(log) == expected


def test_a_deleted_tail_with_the_head_moved_back_is_found(database: Database) -> None:
    """Rewinding the head needs its MAC: without the key the attacker cannot make one."""
    log = AuditLog(database, KEY)
    fill(log, 10)
    with database.session(readonly=True) as session:
        eighth = session.get(AuditRow, 8)
        assert eighth is not None
    tamper(
        database,
        "DELETE FROM audit_log WHERE seq > 8",
        f"UPDATE audit_head SET seq = 8, hash = '{eighth.hash}'",
    )
    assert problems_of(log) == ["head MAC invalid (the head row was altered)"]


def test_a_rewritten_chain_without_the_key_is_found(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right algorithm, wrong key (what an editor of the database has): every record is reported, the
    list capped so a long log does not print a line per record."""
    fill(AuditLog(database, KEY), 8)
    monkeypatch.setattr(audit_module, "_MAX_PROBLEMS", 5)
    problems = problems_of(AuditLog(database, bytes(32)))
    assert problems[:5] == [f"seq {n}: contents changed" for n in range(1, 6)]
    assert problems[5].startswith("(more problems not listed")
    assert len(problems) == 6


def test_an_appended_forgery_is_found(database: Database) -> None:
    """A record added with the schema's rules but without the key, head updated (its MAC cannot be)."""
    log = AuditLog(database, KEY)
    fill(log, 3)
    with database.session() as session:
        last = session.get(AuditRow, 3)
        assert last is not None
        session.execute(
            insert(AuditRow).values(
                seq=4,
                at=last.at,
                actor="x",
                action="card.read_identity",
                result="ok",
                prev_hash=last.hash,
                hash="ab" * 32,
            )
        )
        session.execute(update(AuditHeadRow).values(seq=4, hash="ab" * 32))
    assert problems_of(log) == ["seq 4: contents changed", "head MAC invalid (the head row was altered)"]


def test_appending_after_the_head_was_reset_is_refused(database: Database) -> None:
    """Head deleted, then a daemon starts (it makes a new, empty head): its first append would reuse seq 1."""
    fill(AuditLog(database, KEY), 3)
    tamper(database, "DELETE FROM audit_head")
    restarted = AuditLog(database, KEY)
    with pytest.raises(StoreError, match="head does not match"):
        restarted.record(actor="a", action="x", result="ok")
    assert problems_of(restarted) == ["chain ends at seq 3 but the head says 0 (records added past the head)"]


def test_concurrent_appends_from_two_connections_pools_leave_no_gaps(
    database: Database, database_url: str
) -> None:
    """8 threads x 50 records, half through a second Database (another process's pool): seqs 1..400,
    each once, and the chain verifies. Verifying meanwhile never reports a problem (one snapshot)."""
    second = open_database(database_url)
    logs = [AuditLog(database, KEY), AuditLog(second, KEY)]
    seqs: list[int] = []
    errors: list[BaseException] = []
    verifications: list[list[str]] = []
    lock = threading.Lock()
    done = threading.Event()

    def writer(index: int) -> None:
        try:
            got = fill(logs[index % 2], 50, actor=f"w{index}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
            return
        with lock:
            seqs.extend(got)

    def verifier() -> None:
        while not done.is_set():
            verifications.append(logs[1].verify().problems)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    checking = threading.Thread(target=verifier)
    try:
        checking.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()
        checking.join()
    finally:
        second.close()
    assert errors == []
    assert sorted(seqs) == list(range(1, 401))
    times = [entry.at for entry in logs[0].entries(limit=400)]
    assert times == sorted(times)
    assert verifications
    assert all(problems == [] for problems in verifications), verifications
    report = logs[0].verify()
    assert report.ok, report.problems
    assert report.records == 400


@pytest.mark.slow
def test_a_long_log_is_verified_in_constant_memory(database: Database) -> None:
    """100,000 records (written in bulk with the log's own hash): verify streams them."""
    log = AuditLog(database, KEY)
    count, prev, rows = 100_000, "0" * 64, []
    at = "2026-11-23T10:30:37.000000+00:00"
    for seq in range(1, count + 1):
        digest = log._hash(prev, seq, at, "kiosk-1", None, CARD, "card.read_identity", "reader-0", "ok", None)
        rows.append(
            {
                "seq": seq,
                "at": at,
                "actor": "kiosk-1",
                "client": None,
                "card": CARD,
                "detail": None,
                "action": "card.read_identity",
                "target": "reader-0",
                "result": "ok",
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    with database.session() as session:
        session.execute(insert(AuditRow), rows)
        session.execute(update(AuditHeadRow).values(seq=count, hash=prev, mac=log._head_mac(count, prev)))
    del rows
    tracemalloc.start()
    try:
        report = log.verify()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok, report.problems[:5]
    assert report.records == count
    assert peak < 30 * 2**20, f"verify peaked at {peak / 2**20:.1f} MiB"


def test_the_audit_key_is_made_once_and_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    key = AuditLog.key_from_home(home)
    assert len(key) == 32
    assert AuditLog.key_from_home(home) == key
    assert (home / "audit.key").stat().st_mode & 0o777 == 0o600
    assert home.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in home.iterdir()] == ["audit.key"]  # no temporary file left


def test_processes_starting_together_share_one_key(tmp_path: Path) -> None:
    keys: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: keys.append(AuditLog.key_from_home(tmp_path))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8
    assert len(set(keys)) == 1


def test_a_damaged_or_short_key_is_refused(tmp_path: Path, database: Database) -> None:
    (tmp_path / "audit.key").write_bytes(b"short")
    with pytest.raises(StoreError, match="not a 32-byte audit key"):
        AuditLog.key_from_home(tmp_path)
    with pytest.raises(StoreError, match="32 bytes"):
        AuditLog(database, b"short")
