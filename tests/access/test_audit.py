"""The keyed, hash-chained audit log on SQLite and PostgreSQL: the documented hash, every kind of
tampering found and named by seq, append-only triggers, concurrent appends without gaps; the anchor in
the data directory that catches what leaves the database consistent in itself (the newest records
deleted with the head, everything deleted, an older backup put back), and a verify that writes nothing."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from cardservice.access import AuditAnchor, AuditLog
from cardservice.access import _audit as audit_module
from cardservice.store import AuditHeadRow, AuditRow, Database, StoreError, open_database
from tests.access.snapshot import database_state, directory_state
from tests.access.tampering import tamper

KEY = bytes(range(32))
CARD = "1101************30"


def fill(log: AuditLog, count: int, *, actor: str = "kiosk-1") -> list[int]:
    """*count* records; their anchor written before it returns (as by the time anyone looks)."""
    seqs = [
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
    log.flush()
    return seqs


def problems_of(log: AuditLog) -> list[str]:
    report = log.verify()
    assert report.ok == (not report.problems)
    return report.problems


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A data directory (the key is passed as KEY: only the anchor lives here)."""
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    return path


Anchored = Callable[..., AuditLog]


@pytest.fixture
def anchored(database: Database, home: Path) -> Iterator[Anchored]:
    """``anchored(db=database, directory=home)``: an AuditLog anchored in a data directory (each one is
    another process), closed at the end of the test (its anchor writer's thread stopped)."""
    made: list[AuditLog] = []

    def make(db: Database | None = None, directory: Path | None = None) -> AuditLog:
        made.append(AuditLog(db or database, KEY, home=directory or home))
        return made[-1]

    yield make
    for log in made:
        log.close()


def anchor_in(home: Path) -> dict[str, object]:
    anchor: dict[str, object] = json.loads((home / "audit.anchor").read_text(encoding="utf-8"))
    return anchor


def hash_of(database: Database, seq: int) -> str:
    with database.session(readonly=True) as session:
        row = session.get(AuditRow, seq)
        assert row is not None
        return row.hash


def verified_untouched(log: AuditLog, database: Database, url: str, home: Path) -> list[str]:
    """verify()'s problems, checking it left the database and the data directory exactly as they were."""
    database.close()  # SQLite: the WAL checkpointed into the file, so any later write shows in its bytes
    before, files = database_state(url), directory_state(home)
    problems = problems_of(log)
    database.close()
    assert database_state(url) == before, "verify wrote to the database"
    assert directory_state(home) == files, "verify wrote to the data directory"
    return problems


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


def test_an_untouched_chain_verifies_and_reads_back(
    database: Database, anchored: Anchored, home: Path
) -> None:
    log = anchored()
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
            [
                "the newest 2 records are missing "
                "(the head and the anchor say seq 10, the database ends at seq 8)"
            ],
            id="tail deleted",
        ),
        pytest.param(
            ["DELETE FROM audit_log WHERE seq >= 8", "DELETE FROM audit_head"],
            [
                "head row missing (the chain ends at seq 7)",
                "the newest 3 records are missing (the anchor says seq 10, the database ends at seq 7)",
            ],
            id="tail and head deleted",
        ),
        pytest.param(
            ["DELETE FROM audit_log"],
            ["the log is empty but the head and the anchor say seq 10"],
            id="everything deleted",
        ),
        pytest.param(
            ["DELETE FROM audit_log", "DELETE FROM audit_head"],
            ["the log is empty but the anchor says seq 10"],
            id="everything and the head deleted",
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
    database: Database,
    anchored: Anchored,
    database_url: str,
    home: Path,
    statements: list[str],
    expected: list[str],
) -> None:
    """Found, and the database left as the attacker left it (verify never writes: it once made a new
    head when the head row was missing, and then reported the tail's deletion as an addition)."""
    log = anchored()
    fill(log, 10)
    tamper(database, *statements)
    assert verified_untouched(log, database, database_url, home) == expected


def test_a_deleted_tail_with_the_head_moved_back_is_found(
    database: Database, anchored: Anchored, home: Path
) -> None:
    """Rewinding the head needs its MAC: without the key the attacker cannot make one."""
    log = anchored()
    fill(log, 10)
    tamper(
        database,
        "DELETE FROM audit_log WHERE seq > 8",
        f"UPDATE audit_head SET seq = 8, hash = '{hash_of(database, 8)}'",
    )
    assert problems_of(log) == [
        "head MAC invalid (the head row was altered)",
        "the newest 2 records are missing (the anchor says seq 10, the database ends at seq 8)",
    ]


def test_verify_writes_nothing(database: Database, anchored: Anchored, database_url: str, home: Path) -> None:
    """Neither on a database nobody has written to yet (no head row is made) nor on an intact chain."""
    log = anchored()
    assert verified_untouched(log, database, database_url, home) == []
    with database.session(readonly=True) as session:
        assert session.get(AuditHeadRow, 1) is None
    fill(log, 10)
    assert verified_untouched(log, database, database_url, home) == []


def test_a_database_put_back_from_an_older_backup_is_found(
    database: Database, anchored: Anchored, database_url: str, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A backup is consistent in itself (its head's MAC is right): only the anchor knows the chain had
    got further. Appending to the restored database never moves the anchor back, nor onto the new
    branch once it passes the anchor's seq, whether the daemon runs on or restarts."""
    log = anchored()
    fill(log, 5)
    with database.session(readonly=True) as session:
        backup = session.get(AuditHeadRow, 1)
        assert backup is not None
    fill(log, 5)
    tamper(
        database,
        "DELETE FROM audit_log WHERE seq > 5",
        f"UPDATE audit_head SET seq = {backup.seq}, hash = '{backup.hash}', mac = '{backup.mac}'",
    )
    assert verified_untouched(log, database, database_url, home) == [
        "the database is older than the anchor (the anchor says seq 10, the database ends at seq 5): "
        "restored from a backup?"
    ]
    anchor = (home / "audit.anchor").read_bytes()
    with caplog.at_level(logging.ERROR, logger="cardservice.access"):
        fill(log, 3)  # the daemon that wrote the anchor runs on: seqs 6..8
        fill(anchored(), 4)  # and after a restart: 9..12, past the anchor
    assert (home / "audit.anchor").read_bytes() == anchor
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2  # once per AuditLog, not once per record
    assert all("does not hold this data directory's anchor (seq 10)" in error for error in errors)
    assert problems_of(log) == [
        "seq 10 is not the record the anchor names: the database was restored from an older backup "
        "and appended to since?"
    ]


def test_a_sqlite_file_put_back_from_a_copy_is_found(
    database: Database, anchored: Anchored, database_url: str, home: Path
) -> None:
    if database.dialect != "sqlite":
        pytest.skip("copying the file is SQLite's backup (PostgreSQL's: the test above)")
    path = Path(make_url(database_url).database or "")
    log = anchored()
    fill(log, 5)
    database.close()
    backup = path.read_bytes()
    fill(log, 5)
    database.close()
    path.write_bytes(backup)
    assert verified_untouched(log, database, database_url, home) == [
        "the database is older than the anchor (the anchor says seq 10, the database ends at seq 5): "
        "restored from a backup?"
    ]


def test_each_data_directory_keeps_its_own_anchor(
    database: Database, anchored: Anchored, tmp_path: Path
) -> None:
    """Daemons sharing one PostgreSQL: an anchor behind the head is fine (the others appended since)."""
    homes = [tmp_path / "kiosk-1", tmp_path / "kiosk-2"]
    first, second = (anchored(directory=home) for home in homes)
    fill(first, 3)
    fill(second, 4)
    assert [anchor_in(home)["seq"] for home in homes] == [3, 7]
    assert problems_of(first) == []
    assert problems_of(second) == []
    tamper(database, "DELETE FROM audit_log WHERE seq > 5", "DELETE FROM audit_head")
    assert problems_of(first) == ["head row missing (the chain ends at seq 5)"]
    assert problems_of(second) == [
        "head row missing (the chain ends at seq 5)",
        "the newest 2 records are missing (the anchor says seq 7, the database ends at seq 5)",
    ]


def test_the_anchor_names_the_newest_record_with_a_mac(
    database: Database, anchored: Anchored, home: Path
) -> None:
    """audit.anchor: one line of JSON {seq, hash, mac}, mac = HMAC-SHA256(key, "anchor|seq|hash"),
    mode 0600, replaced whole (no temporary file left)."""
    fill(anchored(), 3)
    digest = hash_of(database, 3)
    mac = hmac.new(KEY, f"anchor|3|{digest}".encode(), hashlib.sha256).hexdigest()
    assert (home / "audit.anchor").read_text(encoding="utf-8") == json.dumps(
        {"seq": 3, "hash": digest, "mac": mac}, separators=(",", ":")
    ) + "\n"
    assert (home / "audit.anchor").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in home.iterdir()] == ["audit.anchor"]


def test_records_from_before_the_anchor_existed_are_reported_until_the_next_append(
    database: Database, anchored: Anchored, database_url: str, home: Path
) -> None:
    """An upgraded data directory: records, no anchor yet. Not "intact" (the newest records cannot be
    vouched for), and the next append writes the anchor."""
    fill(AuditLog(database, KEY), 4)  # no data directory: the daemon before anchors
    log = anchored()
    assert verified_untouched(log, database, database_url, home) == [
        f"no anchor in {home / 'audit.anchor'}: deleting the newest records or putting back an older backup "
        "cannot be detected until the next append from this data directory writes it"
    ]
    assert not (home / "audit.anchor").exists()
    fill(log, 1)
    assert anchor_in(home)["seq"] == 5
    assert problems_of(log) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            None, "was not made with this audit key (edited, or from another installation)", id="edited"
        ),
        pytest.param("{not json", "is unreadable (not what the daemon writes)", id="damaged"),
        pytest.param("", "is unreadable (not what the daemon writes)", id="empty"),
    ],
)
def test_a_damaged_anchor_is_reported_and_kept(
    database: Database,
    anchored: Anchored,
    home: Path,
    content: str | None,
    expected: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Kept as evidence: appends do not replace it (the operator looks, then moves it away)."""
    log = anchored()
    fill(log, 3)
    path = home / "audit.anchor"
    if content is None:  # seq moved back, the MAC left as it was
        content = path.read_text(encoding="utf-8").replace('"seq":3', '"seq":2')
    path.write_text(content, encoding="utf-8")
    assert problems_of(log) == [f"the anchor {path} {expected}"]
    with caplog.at_level(logging.ERROR, logger="cardservice.access"):
        fill(anchored(), 2)
    assert path.read_text(encoding="utf-8") == content
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert f"the anchor {path} {expected}" in caplog.records[0].getMessage()


def test_the_anchor_is_logged_at_the_first_append_every_n_records_and_at_close(
    database: Database,
    anchored: Anchored,
    home: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The structured log keeps anchors too (shipped off the machine, they outlive a data directory)."""
    monkeypatch.setattr(audit_module, "_LOG_ANCHOR_EVERY", 5)
    log = anchored()
    with caplog.at_level(logging.INFO, logger="cardservice.access"):
        for _ in range(12):
            fill(log, 1)  # each anchor written before the next append: no two coalesced
        log.close()
    assert [r.getMessage() for r in caplog.records] == [
        f"audit anchor {1}:{hash_of(database, 1)} (first append)",
        f"audit anchor {5}:{hash_of(database, 5)}",
        f"audit anchor {10}:{hash_of(database, 10)}",
        f"audit anchor {12}:{hash_of(database, 12)} (closing)",
    ]


def test_the_anchor_is_written_off_the_append_path_at_most_once_per_interval(
    database: Database, anchored: Anchored, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append hands its anchor to the writer's thread and returns. The first is written at once; a
    burst after it waits for the interval and is one write, of the newest record; flush() (and close())
    write without waiting."""
    monkeypatch.setattr(audit_module, "_ANCHOR_INTERVAL", 3600.0)
    log = anchored()
    log.record(actor="a", action="x", result="ok")
    deadline = time.monotonic() + 10
    while not (home / "audit.anchor").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert anchor_in(home)["seq"] == 1
    for _ in range(3):
        log.record(actor="a", action="x", result="ok")
    time.sleep(0.2)
    assert anchor_in(home)["seq"] == 1
    log.flush()
    assert (anchor_in(home)["seq"], anchor_in(home)["hash"]) == (4, hash_of(database, 4))


def test_an_anchor_from_the_log_is_checked_too(database: Database) -> None:
    """``verify(anchor=...)``: one copied from the daemon's log, for a data directory that is gone."""
    log = AuditLog(database, KEY)
    fill(log, 6)
    sixth = AuditAnchor(6, hash_of(database, 6))
    assert log.verify(anchor=sixth).ok
    assert log.verify(anchor=AuditAnchor(4, hash_of(database, 4))).ok
    assert log.verify(anchor=AuditAnchor(6, "0" * 64)).problems == [
        "seq 6 is not the record the given anchor names: the database was restored from an older backup "
        "and appended to since?"
    ]
    tamper(database, "DELETE FROM audit_log", "DELETE FROM audit_head")
    assert log.verify(anchor=sixth).problems == ["the log is empty but the given anchor says seq 6"]


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


def test_an_appended_forgery_is_found(database: Database, anchored: Anchored, home: Path) -> None:
    """A record added with the schema's rules but without the key, head updated (its MAC cannot be)."""
    log = anchored()
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


def test_appending_after_the_head_was_deleted_is_refused(
    database: Database, anchored: Anchored, home: Path
) -> None:
    """Head deleted, then a daemon starts: it makes no new, empty head over records (its first append
    would reuse seq 1, and the deletion would look like an addition)."""
    fill(anchored(), 3)
    tamper(database, "DELETE FROM audit_head")
    restarted = anchored()
    with pytest.raises(StoreError, match="head row is missing"):
        restarted.record(actor="a", action="x", result="ok")
    assert problems_of(restarted) == ["head row missing (the chain ends at seq 3)"]


def test_appending_after_the_head_was_reset_is_refused(database: Database) -> None:
    """A head row that names a seq already taken (replaced by an older one, say)."""
    log = AuditLog(database, KEY)
    fill(log, 3)
    with database.session() as session:
        session.execute(update(AuditHeadRow).values(seq=0, hash="0" * 64, mac=log._head_mac(0, "0" * 64)))
    with pytest.raises(StoreError, match="head does not match"):
        log.record(actor="a", action="x", result="ok")
    assert problems_of(log) == ["chain ends at seq 3 but the head says 0 (records added past the head)"]


def test_concurrent_appends_from_two_connections_pools_leave_no_gaps(
    database: Database, anchored: Anchored, database_url: str, home: Path
) -> None:
    """8 threads x 50 records, half through a second Database (another process's pool), one data
    directory: seqs 2..401, each once, the chain verifies and the anchor names seq 401 (never moved
    back by a slower writer). Verifying meanwhile never reports a problem (one snapshot, the anchor
    read before it).

    Seq 1 is written first: between a data directory's very first commit and its first anchor, verify
    truthfully says there is no anchor yet."""
    second = open_database(database_url)
    logs = [anchored(), anchored(second)]
    fill(logs[0], 1)
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
    assert sorted(seqs) == list(range(2, 402))
    times = [entry.at for entry in logs[0].entries(limit=401)]
    assert times == sorted(times)
    assert verifications
    assert all(problems == [] for problems in verifications), verifications
    report = logs[0].verify()
    assert report.ok, report.problems
    assert report.records == 401
    assert (anchor_in(home)["seq"], anchor_in(home)["hash"]) == (401, hash_of(database, 401))


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
        session.execute(
            insert(AuditHeadRow).values(id=1, seq=count, hash=prev, mac=log._head_mac(count, prev))
        )
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


# -- group commit ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def another_append_under_way(database_url: str) -> Iterator[None]:
    """Another process appending: the head's row lock (PostgreSQL) or the write lock (SQLite) held by a
    second connection pool until the block ends (under SQLite's 5 s busy timeout)."""
    other = open_database(database_url)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with other.session() as session:
            session.execute(select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update())
            locked.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        yield
    finally:
        release.set()
        holder.join()
        other.close()


def queued(log: AuditLog, count: int) -> None:
    """Wait until *count* records wait behind the append under way."""
    deadline = time.monotonic() + 10
    while log._group.waiting < count:
        assert time.monotonic() < deadline, "the records were not queued"
        time.sleep(0.005)


def transactions_of(database: Database) -> list[int]:
    """A list that counts the commits on *database* from now on (its length)."""
    commits: list[int] = []
    event.listen(database.engine, "commit", lambda connection: commits.append(1))
    return commits


def appending(log: AuditLog, actors: list[str], results: dict[str, int | BaseException]) -> threading.Thread:
    """A thread per actor, started one after the other, each appending one record (its seq or its error
    into *results*), each queued before the next starts; the first becomes the one appending."""
    threads = []
    for index, actor in enumerate(actors):

        def append(actor: str = actor) -> None:
            try:
                results[actor] = log.record(actor=actor, action="card.read_identity", result="ok", card=CARD)
            except Exception as exc:
                results[actor] = exc

        thread = threading.Thread(target=append)
        thread.start()
        threads.append(thread)
        if index:
            queued(log, index)
        else:
            time.sleep(0.05)  # the first is in its transaction, waiting for the other process's lock
    return threads[0]


def test_concurrent_records_are_committed_together_in_their_order(
    database: Database, database_url: str, anchored: Anchored, home: Path
) -> None:
    """Group commit: records arriving while an append is under way wait, then go in together — one
    transaction for all of them, seqs in the order they came, the chain whole — and no caller returns
    before its record is committed."""
    log = anchored()
    fill(log, 1)
    results: dict[str, int | BaseException] = {}
    actors = [f"kiosk-{n}" for n in range(12)]
    commits = transactions_of(database)
    with another_append_under_way(database_url):
        first = appending(log, actors, results)
        time.sleep(0.1)
        assert results == {}, "a record was answered before it was committed"
    first.join()
    deadline = time.monotonic() + 10
    while len(results) < len(actors) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert results == {actor: seq for seq, actor in enumerate(actors, start=2)}
    assert len(commits) == 2  # the first alone (it was waiting already), then the 11 queued behind it
    assert [(e.seq, e.actor) for e in log.entries(since_seq=1)] == list(enumerate(actors, start=2))
    log.flush()
    assert problems_of(log) == []
    assert (anchor_in(home)["seq"], anchor_in(home)["hash"]) == (13, hash_of(database, 13))


def test_a_record_that_cannot_be_appended_costs_only_itself(
    database: Database, database_url: str, anchored: Anchored
) -> None:
    """In a group, a record whose hash cannot be computed (a lone surrogate has no UTF-8) is refused alone;
    on PostgreSQL, one the database refuses (NUL in a text) fails the group's transaction, and the group
    is appended again a record at a time: the others are in, their seqs without a gap."""
    log = anchored()
    fill(log, 1)
    bad = ["bad-\ud800"] + (["bad-\x00"] if database.dialect == "postgresql" else [])
    actors = ["kiosk-a", bad[0], "kiosk-b", *bad[1:], "kiosk-c"]
    results: dict[str, int | BaseException] = {}
    with another_append_under_way(database_url):
        first = appending(log, ["kiosk-0", *actors], results)
    first.join()
    deadline = time.monotonic() + 10
    while len(results) < len(actors) + 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(results.pop("bad-\ud800"), UnicodeEncodeError)
    if database.dialect == "postgresql":
        assert isinstance(results.pop("bad-\x00"), DBAPIError)
    assert results == {"kiosk-0": 2, "kiosk-a": 3, "kiosk-b": 4, "kiosk-c": 5}
    assert problems_of(log) == []


def test_a_refused_head_is_every_waiting_callers_error(
    database: Database, database_url: str, anchored: Anchored
) -> None:
    """What refuses the whole chain (a head reset to a seq already taken) is the answer to every record of
    the group: none is appended, and the next one is refused the same way."""
    log = anchored()
    fill(log, 3)
    with database.session() as session:
        session.execute(update(AuditHeadRow).values(seq=0, hash="0" * 64, mac=log._head_mac(0, "0" * 64)))
    results: dict[str, int | BaseException] = {}
    with another_append_under_way(database_url):
        first = appending(log, ["a", "b", "c"], results)
    first.join()
    deadline = time.monotonic() + 10
    while len(results) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(isinstance(r, StoreError) and "head does not match" in str(r) for r in results.values())
    with pytest.raises(StoreError, match="head does not match"):
        log.record(actor="d", action="x", result="ok")
    assert len(log.entries(limit=10)) == 3


def test_appends_go_on_after_the_server_dropped_every_connection(
    database: Database, database_url: str, anchored: Anchored, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL restart costs no append: a pooled connection the server closed is replaced before it is
    handed out. The server is asked (a ping) only about such a connection, not at every checkout."""
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL's pool (SQLite has no server to lose)")
    pings: list[int] = []
    real_ping = database.engine.dialect.do_ping
    monkeypatch.setattr(database.engine.dialect, "do_ping", lambda c: pings.append(1) or real_ping(c))
    log = anchored()
    fill(log, 3)
    assert pings == []
    admin = open_database(database_url, migrate=False)
    try:
        with admin.session() as session:
            session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        deadline = time.monotonic() + 10
        while True:
            with admin.session(readonly=True) as session:
                others = session.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
                )
            if others == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        admin.close()
    assert fill(log, 3) == [4, 5, 6]
    assert pings, "the dead connection was not noticed"
    assert problems_of(log) == []
