"""``cardservice token | audit | blacklist`` end to end, through a parser built with
add_admin_commands (as cardservice.cli wires it), on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import getpass
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from cardservice.access import ApiKeys, AuditLog
from cardservice.cli._admin import add_admin_commands
from cardservice.store import AuditHeadRow, AuditRow, open_database
from tests.access.snapshot import database_state, directory_state
from tests.access.tampering import tamper

NUMBER = "110105198503071230"
MASKED = "1101************30"


@dataclass
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cardservice")
    parser.add_argument("--home", type=Path)
    add_admin_commands(parser.add_subparsers(dest="command", required=True))
    return parser


@pytest.fixture
def home(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CARDSERVICE_DATABASE_URL", database_url)
    return tmp_path / "home"


@pytest.fixture
def run(home: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*argv: str) -> Result:
        args = build_parser().parse_args(["--home", str(home), *argv])
        code = args.func(args)
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        return Result(code, captured.out, captured.err)

    return run


def audit_entries(run: Run) -> list[dict[str, object]]:
    shown = run("audit", "show", "--limit", "1000", "--json")
    assert shown.code == 0, shown.err
    entries: list[dict[str, object]] = json.loads(shown.out)
    return entries


def test_token_create_list_revoke(run: Run, database_url: str) -> None:
    made = run("token", "create", "kiosk-3", "--scope", "kiosk", "--scope", "his")
    assert made.code == 0, made.err
    token = made.out.strip()
    assert token.startswith("csk_")
    assert "will not be shown again" in made.err
    assert token not in made.err
    with open_database(database_url) as database:
        keys = ApiKeys(database)
        client = keys.authenticate(token)
        keys.close()  # its last-used write, on a thread of its own, done before the database closes
        assert client is not None
        assert client.name == "kiosk-3"

    listing = run("token", "list")
    assert listing.code == 0
    assert "kiosk-3" in listing.out
    assert "his,kiosk" in listing.out
    assert client.key_id in listing.out
    assert token not in listing.out

    again = run("token", "create", "kiosk-3", "--scope", "kiosk")
    assert again.code == 1
    assert again.err == "cardservice token: client 'kiosk-3' already has an active key (revoke it first)\n"

    revoked = run("token", "revoke", "kiosk-3")
    assert revoked.code == 0, revoked.err
    assert "revoked" in revoked.out
    with open_database(database_url) as database:
        keys = ApiKeys(database)
        assert keys.authenticate(token) is None
        keys.close()
    unknown = run("token", "revoke", "kiosk-3")
    assert (unknown.code, unknown.err) == (1, "cardservice token: no active key for client 'kiosk-3'\n")

    entries = audit_entries(run)
    assert [(e["action"], e["result"], e["target"]) for e in entries] == [
        ("token.create", "ok", "kiosk-3"),
        ("token.create", "refused", "kiosk-3"),
        ("token.revoke", "ok", "kiosk-3"),
        ("token.revoke", "refused", "kiosk-3"),
    ]
    assert {e["actor"] for e in entries} == {getpass.getuser()}
    assert entries[0]["detail"] == {"key_id": client.key_id, "scopes": ["his", "kiosk"]}
    secret = token[len("csk_") + 12 + 1 :]  # the secret is urlsafe base64 and may itself contain "_"
    assert len(secret) == 43
    assert secret not in json.dumps(entries)


def test_audit_verify_and_show(run: Run, home: Path, database_url: str) -> None:
    with open_database(database_url) as database:
        log = AuditLog.for_home(database, home)  # as the daemon does at its start: the key, no record yet
        empty = run("audit", "verify")
        assert (empty.code, empty.out) == (0, "audit log intact: 0 records\n")
        for n in range(6):
            log.record(
                actor="kiosk-1",
                action="card.read_identity" if n % 2 else "card.insert",
                result="ok",
                card=MASKED,
                target="reader-0",
            )
    assert run("audit", "verify").out == "audit log intact: 6 records\n"

    table = run("audit", "show", "--limit", "2")
    assert [line.split()[0] for line in table.out.splitlines()] == ["5", "6"]
    assert [e["seq"] for e in audit_entries(run)] == [1, 2, 3, 4, 5, 6]
    since = json.loads(run("audit", "show", "--since", "2", "--limit", "2", "--json").out)
    assert [e["seq"] for e in since] == [3, 4]
    reads = json.loads(run("audit", "show", "--action", "card.read_identity", "--json").out)
    assert [e["seq"] for e in reads] == [2, 4, 6]
    assert json.loads(run("audit", "show", "--card", "0000", "--json").out) == []

    with open_database(database_url) as database:
        tamper(
            database,
            "UPDATE audit_log SET result = 'denied' WHERE seq = 2",
            "DELETE FROM audit_log WHERE seq = 4",
        )
    broken = run("audit", "verify")
    assert broken.code == 1
    assert broken.out == ""
    assert broken.err.splitlines() == [
        "audit log NOT intact (5 records read):",
        "  seq 2: contents changed",
        "  seq 4 missing (gap)",
    ]


def append(run: Run, count: int) -> None:
    """*count* audit records, written as an operator writes them (each change is audited)."""
    for n in range(count):
        added = run("blacklist", "add", f"A{n}", "--reason", "test")
        assert added.code == 0, added.err


def verify_untouched(run: Run, home: Path, database_url: str, *options: str) -> Result:
    """``audit verify``, checking it left the database and the data directory exactly as they were.
    (Every connection is closed here: the commands close theirs.)"""
    before, files = database_state(database_url), directory_state(home)
    result = run("audit", "verify", *options)
    assert database_state(database_url) == before, "verify wrote to the database"
    assert directory_state(home) == files, "verify wrote to the data directory"
    return result


def test_verify_of_an_intact_log_writes_nothing(run: Run, home: Path, database_url: str) -> None:
    append(run, 3)
    result = verify_untouched(run, home, database_url)
    assert (result.code, result.out, result.err) == (0, "audit log intact: 3 records\n", "")


def test_verify_finds_every_record_deleted(run: Run, home: Path, database_url: str) -> None:
    """Records and head deleted: once reported as "intact: 0 records" (verify made a new, empty head)."""
    append(run, 3)
    with open_database(database_url) as database:
        tamper(database, "DELETE FROM audit_log", "DELETE FROM audit_head")
    result = verify_untouched(run, home, database_url)
    assert (result.code, result.out) == (1, "")
    assert result.err.splitlines() == [
        "audit log NOT intact (0 records read):",
        "  the log is empty but the anchor says seq 3",
    ]


def test_verify_finds_the_newest_records_deleted_with_the_head(
    run: Run, home: Path, database_url: str
) -> None:
    """Once reported as "records added past the head" (verify made a new head at seq 0)."""
    append(run, 5)
    with open_database(database_url) as database:
        tamper(database, "DELETE FROM audit_log WHERE seq > 3", "DELETE FROM audit_head")
    result = verify_untouched(run, home, database_url)
    assert result.code == 1
    assert result.err.splitlines() == [
        "audit log NOT intact (3 records read):",
        "  head row missing (the chain ends at seq 3)",
        "  the newest 2 records are missing (the anchor says seq 5, the database ends at seq 3)",
    ]


def test_verify_finds_an_older_backup_put_back(run: Run, home: Path, database_url: str) -> None:
    """SQLite: the file copied aside and copied back. PostgreSQL: the audit tables as a dump of that
    moment would restore them (the head row with its valid MAC)."""
    append(run, 2)
    sqlite = make_url(database_url).get_backend_name() == "sqlite"
    path = Path(make_url(database_url).database or "")
    with open_database(database_url) as database, database.session(readonly=True) as session:
        head = session.get(AuditHeadRow, 1)
        assert head is not None
    backup = path.read_bytes() if sqlite else b""
    append(run, 2)
    if sqlite:
        path.write_bytes(backup)
    else:
        with open_database(database_url) as database:
            tamper(
                database,
                "DELETE FROM audit_log WHERE seq > 2",
                f"UPDATE audit_head SET seq = {head.seq}, hash = '{head.hash}', mac = '{head.mac}'",
            )
    result = verify_untouched(run, home, database_url)
    assert result.code == 1
    assert result.err.splitlines() == [
        "audit log NOT intact (2 records read):",
        "  the database is older than the anchor (the anchor says seq 4, the database ends at seq 2): "
        "restored from a backup?",
    ]


def test_verify_finds_the_audit_tables_gone(run: Run, home: Path, database_url: str) -> None:
    """SQLite: the database file deleted (verify does not make a new one); PostgreSQL: the tables dropped
    (verify does not migrate them back)."""
    append(run, 2)
    if make_url(database_url).get_backend_name() == "sqlite":
        Path(make_url(database_url).database or "").unlink()
    else:
        with open_database(database_url) as database:
            tamper(database, "DROP TABLE audit_log", "DROP TABLE audit_head")
    result = verify_untouched(run, home, database_url)
    assert result.code == 1
    assert result.err.splitlines() == [
        "audit log NOT intact (0 records read):",
        "  the log is empty but the anchor says seq 2",
    ]


def test_verify_says_when_the_data_directory_has_no_anchor_yet(
    run: Run, home: Path, database_url: str
) -> None:
    """An upgrade: the records written before anchors existed are linked, but the end of the log cannot
    be vouched for until the next append writes the anchor."""
    append(run, 2)
    (home / "audit.anchor").unlink(missing_ok=True)  # as the version before anchors left it
    result = verify_untouched(run, home, database_url)
    assert (result.code, result.out) == (1, "")
    assert result.err.splitlines() == [
        "audit log NOT verified to its end (2 records read):",
        f"  no anchor in {home / 'audit.anchor'}: deleting the newest records or putting back an older "
        "backup cannot be detected until the next append from this data directory writes it",
    ]
    append(run, 1)
    assert run("audit", "verify").out == "audit log intact: 3 records\n"


def test_verify_needs_the_key_and_makes_none(run: Run, home: Path, database_url: str) -> None:
    """A missing key is not replaced by a new one (every record would then read as changed)."""
    result = run("audit", "verify")
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        f"cardservice audit: no audit key at {home / 'audit.key'}: the log cannot be verified without it "
        "(restore it from the backup; the daemon makes one at its first start)\n"
    )
    assert not home.exists()
    assert database_state(database_url) in (None, ([], [], {}, None, None, None))  # nothing created


def test_verify_checks_an_anchor_from_the_daemon_log(run: Run, home: Path, database_url: str) -> None:
    """``--anchor SEQ:HASH`` as the daemon logs it ("audit anchor SEQ:HASH"): evidence that outlives the
    data directory."""
    append(run, 3)
    with open_database(database_url) as database, database.session(readonly=True) as session:
        second = session.get(AuditRow, 2)
        assert second is not None
    anchor = f"2:{second.hash}"
    assert verify_untouched(run, home, database_url, "--anchor", anchor).code == 0
    with open_database(database_url) as database:
        tamper(database, "DELETE FROM audit_log", "DELETE FROM audit_head")
    (home / "audit.anchor").unlink()
    result = verify_untouched(run, home, database_url, "--anchor", anchor)
    assert result.err.splitlines() == [
        "audit log NOT intact (0 records read):",
        "  the log is empty but the given anchor says seq 2",
    ]


@pytest.mark.parametrize("anchor", ["2", "x:" + "a" * 64, "2:" + "a" * 63, "0:" + "a" * 64, "2:" + "g" * 64])
def test_a_bad_anchor_is_a_usage_error(run: Run, anchor: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        run("audit", "verify", "--anchor", anchor)
    assert usage.value.code == 2
    assert "not SEQ:HASH" in capsys.readouterr().err


@pytest.mark.parametrize("limit", ["0", "-1", "x"])
def test_a_bad_limit_is_a_usage_error(run: Run, limit: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        run("audit", "show", "--limit", limit)
    assert usage.value.code == 2
    assert "not a positive number" in capsys.readouterr().err


def test_blacklist_commands(run: Run, tmp_path: Path) -> None:
    added = run("blacklist", "add", NUMBER, "--reason", "挂失")
    assert (added.code, added.out) == (0, f"blacklisted {MASKED}\n")
    listing = run("blacklist", "list")
    assert NUMBER in listing.out  # the operator's own list: full numbers
    assert "挂失" in listing.out

    exported = run("blacklist", "export", str(tmp_path / "out.csv"))
    assert exported.code == 0, exported.err
    assert exported.out.startswith("1 entries written")
    removed = run("blacklist", "remove", NUMBER)
    assert (removed.code, removed.out) == (0, f"removed {MASKED} from the blacklist\n")
    assert run("blacklist", "list").out == "the blacklist is empty\n"
    imported = run("blacklist", "import", str(tmp_path / "out.csv"))
    assert imported.code == 0, imported.err
    assert NUMBER in run("blacklist", "list").out

    (tmp_path / "bad.csv").write_text("card_number,reason,listed_at,source\nx!,,,\n", encoding="utf-8")
    bad = run("blacklist", "import", str(tmp_path / "bad.csv"))
    assert bad.code == 1
    assert bad.err.splitlines()[1:] == [
        "  line 2: card number is not 1-32 letters and digits; reason missing or longer than 200 characters"
    ]
    nowhere = run("blacklist", "export", str(tmp_path / "no" / "such" / "dir.csv"))
    assert nowhere.code == 1
    assert nowhere.err.count("\n") == 1
    assert "cannot write" in nowhere.err
    gone = run("blacklist", "remove", "A1")
    assert (gone.code, gone.err) == (1, "cardservice blacklist: that card is not on the blacklist\n")

    entries = audit_entries(run)
    assert [(e["action"], e["result"]) for e in entries] == [
        ("blacklist.add", "ok"),
        ("blacklist.export", "ok"),
        ("blacklist.remove", "ok"),
        ("blacklist.import", "ok"),
        ("blacklist.import", "refused"),
        ("blacklist.export", "refused"),
        ("blacklist.remove", "refused"),
    ]
    assert entries[0]["card"] == MASKED
    assert entries[3]["detail"] == {"entries": 1}
    assert NUMBER not in json.dumps(entries, ensure_ascii=False)
    assert run("audit", "verify").code == 0


def test_a_broken_configuration_is_one_line(run: Run, home: Path) -> None:
    home.mkdir()
    (home / "cardservice.toml").write_text("port = 'many'\n", encoding="utf-8")
    result = run("token", "list")
    assert result.code == 1
    assert result.err.startswith("cardservice token: ")
    assert "port" in result.err


def test_an_unreachable_database_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARDSERVICE_DATABASE_URL", "postgresql+psycopg://cardservice:pw@127.0.0.1:1/none")
    AuditLog.key_from_home(tmp_path)
    for command in (["audit", "verify"], ["audit", "show"]):
        args = build_parser().parse_args(["--home", str(tmp_path), *command])
        assert args.func(args) == 1
        err = capsys.readouterr().err
        assert err.startswith(
            "cardservice audit: database postgresql+psycopg://cardservice:***@127.0.0.1:1/none"
        )
        assert "Connection refused" in err
        assert err.count("\n") == 1
