"""API keys: made once, stored hashed, refused once revoked, cached briefly, and no string at all
(malformed, near-miss, forged) authenticates or raises."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from cardservice.access import ApiClientInfo, ApiKeys, Scope
from cardservice.access import _tokens as tokens_module
from cardservice.store import Database, StoreError


class Clock:
    """tokens' time.monotonic, moved by hand."""

    def __init__(self) -> None:
        self.now = 3.0  # a machine booted seconds ago

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api_keys(database: Database) -> Iterator[Callable[[], ApiKeys]]:
    """``api_keys()``: an ApiKeys on the test's database (each one is another process), closed before the
    database is: a last-used write still running on its thread would hold a connection past the close."""
    made: list[ApiKeys] = []

    def make() -> ApiKeys:
        made.append(ApiKeys(database))
        return made[-1]

    yield make
    for keys in made:
        keys.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(tokens_module.time, "monotonic", clock)
    return clock


def test_a_key_has_the_documented_form_and_authenticates(
    database: Database, api_keys: Callable[[], ApiKeys]
) -> None:
    keys = api_keys()
    info, token = keys.create("kiosk-1", [Scope.KIOSK, "his"], created_by="root")
    assert re.fullmatch(rf"csk_{info.key_id}_[A-Za-z0-9_-]{{43}}", token)
    assert re.fullmatch(r"[0-9a-f]{12}", info.key_id)
    assert info.scopes == {Scope.KIOSK, Scope.HIS}
    assert info.created_by == "root"
    assert info.created_at.tzinfo is not None
    assert info.revoked_at is None
    client = api_keys().authenticate(token)  # a fresh instance: from the database, not a cache
    assert client is not None
    assert (client.id, client.name, client.scopes) == (info.id, "kiosk-1", {Scope.KIOSK, Scope.HIS})


def test_only_the_hash_is_stored(database: Database, api_keys: Callable[[], ApiKeys]) -> None:
    _, token = api_keys().create("his-1", ["his"], created_by="test")
    with database.engine.connect() as connection:
        stored = " ".join(
            str(value) for row in connection.execute(text("SELECT * FROM api_clients")) for value in row
        )
    assert token not in stored
    assert token[len("csk_") + 12 + 1 :] not in stored


def test_a_revoked_key_is_refused_here_at_once_and_elsewhere_within_the_ttl(
    database: Database, api_keys: Callable[[], ApiKeys], clock: Clock
) -> None:
    here, elsewhere = api_keys(), api_keys()  # two processes
    _, token = here.create("kiosk-1", [Scope.KIOSK], created_by="t")
    assert here.authenticate(token) is not None
    assert elsewhere.authenticate(token) is not None  # now cached there
    revoked = here.revoke("kiosk-1")
    assert revoked.revoked_at is not None
    assert here.authenticate(token) is None
    clock.now += 1
    assert elsewhere.authenticate(token) is not None  # the documented window
    clock.now += 5
    assert elsewhere.authenticate(token) is None


def test_successful_look_ups_are_cached(
    database: Database, api_keys: Callable[[], ApiKeys], clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = api_keys()
    _, token = keys.create("kiosk-1", [Scope.KIOSK], created_by="t")
    assert keys.authenticate(token) is not None
    sessions = 0
    real = database.session

    def counting(**options: bool) -> Any:
        nonlocal sessions
        sessions += 1
        return real(**options)

    monkeypatch.setattr(database, "session", counting)
    for _ in range(100):
        assert keys.authenticate(token) is not None
    assert sessions == 0
    clock.now += 6
    assert keys.authenticate(token) is not None
    assert sessions == 1  # looked up again; last use not rewritten within the minute


def test_last_use_is_written_at_most_once_a_minute(
    database: Database, api_keys: Callable[[], ApiKeys], clock: Clock
) -> None:
    keys = api_keys()
    info, token = keys.create("kiosk-1", [Scope.KIOSK], created_by="t")
    assert info.last_used_at is None
    keys.authenticate(token)
    keys.settle()  # written by a background thread: a request never waits for it
    (first,) = (c.last_used_at for c in keys.list())
    assert first is not None
    for _ in range(5):
        clock.now += 10
        keys.authenticate(token)
    keys.settle()
    assert [c.last_used_at for c in keys.list()] == [first]
    clock.now += 20
    keys.authenticate(token)
    keys.settle()
    (later,) = (c.last_used_at for c in keys.list())
    assert later is not None
    assert later > first


def test_names_and_scopes_are_checked(database: Database, api_keys: Callable[[], ApiKeys]) -> None:
    keys = api_keys()
    keys.create("a", ["kiosk"], created_by="t")
    with pytest.raises(StoreError, match="'a' already has an active key"):
        keys.create("a", ["admin"], created_by="t")
    with pytest.raises(StoreError, match="scopes are kiosk, his, issuer, admin"):
        keys.create("b", ["root"], created_by="t")
    with pytest.raises(StoreError, match="at least one scope"):
        keys.create("b", [], created_by="t")
    for bad in ("", "bad name", "x" * 65, "名字", "a/b"):
        with pytest.raises(StoreError, match="client name"):
            keys.create(bad, ["kiosk"], created_by="t")
    keys.create("A.b_c-9" + "x" * 57, ["kiosk"], created_by="t")  # 64 characters of the allowed set
    with pytest.raises(StoreError, match="no active key for client 'nobody'"):
        keys.revoke("nobody")


def test_a_revoked_name_gets_a_new_key_and_the_old_one_stays_listed(
    database: Database, api_keys: Callable[[], ApiKeys]
) -> None:
    keys = api_keys()
    _, old = keys.create("kiosk-1", ["kiosk"], created_by="t")
    keys.revoke("kiosk-1")
    with pytest.raises(StoreError, match="no active key"):
        keys.revoke("kiosk-1")
    _, new = keys.create("kiosk-1", ["his"], created_by="t")
    assert keys.authenticate(old) is None
    client = keys.authenticate(new)
    assert client is not None
    assert client.scopes == {Scope.HIS}
    listed = keys.list()
    assert [(c.name, c.revoked_at is None) for c in listed] == [("kiosk-1", False), ("kiosk-1", True)]


def test_a_scope_this_version_does_not_know_grants_nothing(
    database: Database, api_keys: Callable[[], ApiKeys]
) -> None:
    keys = api_keys()
    _, token = keys.create("k", ["kiosk"], created_by="t")
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE api_clients SET scopes = 'kiosk,superuser'"))
    client = api_keys().authenticate(token)
    assert client is not None
    assert client.scopes == {Scope.KIOSK}


def test_a_database_failure_refuses_the_key_without_raising(
    database: Database, api_keys: Callable[[], ApiKeys]
) -> None:
    keys = api_keys()
    _, token = keys.create("k", ["kiosk"], created_by="t")
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE api_clients"))
    assert keys.authenticate(token) is None


TOKEN_LIKE = st.from_regex(r"\Acsk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}\Z")


def test_no_string_authenticates_or_raises(database: Database, api_keys: Callable[[], ApiKeys]) -> None:
    """Arbitrary text, strings shaped like keys, and one-character changes of a real key (also its key
    id with another secret): none authenticates, none raises."""
    keys = api_keys()
    info, token = keys.create("x", ["admin"], created_by="t")

    @settings(max_examples=150, deadline=None)
    @given(
        st.one_of(
            st.text(max_size=120), TOKEN_LIKE, st.binary(max_size=80).map(lambda b: b.decode("latin-1"))
        )
    )
    def arbitrary(candidate: str) -> None:
        assert keys.authenticate(candidate) is None
        assert keys.authenticate("csk_" + candidate) is None
        assert keys.authenticate(f"csk_{info.key_id}_" + candidate) is None

    @settings(max_examples=150, deadline=None)
    @given(st.integers(0, len(token) - 1), st.sampled_from(string.ascii_letters + string.digits + "_-\x00é"))
    def near_miss(position: int, character: str) -> None:
        candidate = token[:position] + character + token[position + 1 :]
        assume(candidate != token)
        assert keys.authenticate(candidate) is None

    arbitrary()
    near_miss()
    assert keys.authenticate(token) is not None
    assert keys.authenticate(token + "A") is None
    assert keys.authenticate(token.upper()) is None
    assert keys.authenticate(None) is None  # type: ignore[arg-type]  # an untyped caller


def test_refused_keys_are_remembered_briefly_and_known_keys_answer_from_memory(
    database: Database, api_keys: Callable[[], ApiKeys], clock: Clock
) -> None:
    """A stream of made-up keys costs one look-up per key and 2 s, not one per request; a known key is
    answered without the database (what the API checks on its event loop before it asks)."""
    keys = api_keys()
    _, token = keys.create("kiosk-1", [Scope.KIOSK], created_by="t")
    made_up = "csk_0123456789ab_" + "A" * 43
    assert keys.cached(made_up) == (False, None)  # never seen: the database must say
    assert keys.authenticate(made_up) is None
    assert keys.cached(made_up) == (True, None)
    clock.now += 2.5
    assert keys.cached(made_up) == (False, None)
    assert keys.cached("not a key") == (True, None)  # malformed: no look-up at all
    assert keys.cached(token) == (False, None)
    client = keys.authenticate(token)
    assert client is not None
    assert keys.cached(token) == (True, client)
    keys.revoke("kiosk-1")
    assert keys.cached(token) == (False, None)  # revoked here: forgotten at once
    assert keys.authenticate(token) is None
    keys.close()


def test_is_active_asks_the_database_so_a_revocation_elsewhere_shows_at_once(
    database: Database, api_keys: Callable[[], ApiKeys]
) -> None:
    """What an open event stream re-checks: the key it was opened with (the client's row id, never the key
    itself) — not cached, so another process's revocation shows at the next re-check."""
    here, elsewhere = api_keys(), api_keys()  # two processes
    info, token = here.create("kiosk-1", [Scope.KIOSK], created_by="t")
    assert here.authenticate(token) is not None  # cached here now
    assert here.is_active(info.id)
    elsewhere.revoke("kiosk-1")
    assert not here.is_active(info.id)
    new, _ = elsewhere.create("kiosk-1", [Scope.KIOSK], created_by="t")
    assert here.is_active(new.id)
    assert not here.is_active(info.id)  # the name's new key does not revive the old one
    assert not here.is_active(new.id + 1000)  # no such key


def test_is_active_raises_when_the_database_cannot_tell(
    database: Database, api_keys: Callable[[], ApiKeys]
) -> None:
    """Unlike authenticate (which refuses), a failed look-up is not an answer: the caller decides how long
    an open stream may outlive an outage."""
    keys = api_keys()
    info, _ = keys.create("k", ["kiosk"], created_by="t")
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE api_clients"))
    with pytest.raises(StoreError, match="could not be checked"):
        keys.is_active(info.id)


def test_a_revocation_is_announced_to_listeners(
    database: Database, api_keys: Callable[[], ApiKeys], caplog: pytest.LogCaptureFixture
) -> None:
    """ApiKeys.revoke tells the daemon's listeners (its open event streams close at once); a listener's
    failure is logged and never undoes or hides the revocation."""
    keys = api_keys()
    heard: list[ApiClientInfo] = []

    def broken(info: ApiClientInfo) -> None:
        raise RuntimeError("listener bug")

    keys.on_revoke(broken)
    keys.on_revoke(heard.append)
    info, token = keys.create("kiosk-1", [Scope.KIOSK], created_by="t")
    revoked = keys.revoke("kiosk-1")
    assert heard == [revoked]
    assert revoked.id == info.id
    assert "listener bug" in caplog.text
    assert keys.authenticate(token) is None
    with pytest.raises(StoreError):
        keys.revoke("kiosk-1")
    assert heard == [revoked]  # nothing revoked: nothing announced
