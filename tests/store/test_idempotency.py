"""The one idempotency: keys scoped per client without collisions, the request digest, and `once` storing
a result exactly once — also when two callers race (real threads on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cardservice.errors import IdempotencyConflict
from cardservice.store import (
    KEY_PATTERN,
    Database,
    HisIdempotencyRow,
    check_key,
    find_stored,
    once,
    request_hash,
    scoped_key,
)


def test_scoped_keys_of_long_client_names_do_not_collide() -> None:
    """Client names are up to 64 characters and keys up to 64: cutting "client:key" at 128 characters made
    the last character of two keys the same key."""
    client = "k" * 64
    first, second = scoped_key(client, "x" * 63 + "1"), scoped_key(client, "x" * 63 + "2")
    assert first != second
    assert KEY_PATTERN.fullmatch(first)
    assert KEY_PATTERN.fullmatch(second)
    # A pair that fits keeps its readable form, so keys stored before stay the same.
    assert scoped_key("kiosk-1", "book-1") == "kiosk-1:book-1"


def test_a_digest_tells_a_request_from_another() -> None:
    assert request_hash("book", "110105198503071230", "SLOT-1") == request_hash(
        "book", "110105198503071230", "SLOT-1"
    )
    assert request_hash("book", "a", "bc") != request_hash("book", "ab", "c")


def test_a_bad_key_is_refused_with_the_callers_error() -> None:
    for bad in ("", "with space", "x" * 129, None):
        with pytest.raises(ValueError, match="idempotency key"):
            check_key(bad, ValueError)
    assert check_key("kiosk-1:book-1", ValueError) == "kiosk-1:book-1"


def _find(key: str) -> Callable[[Session], HisIdempotencyRow | None]:
    return lambda session: session.get(HisIdempotencyRow, ("test", key))


def _claim(database: Database, key: str, request: str, made: list[str]) -> tuple[str, bool]:
    """A stand-in for a service's request: stores a result id under *key* (the HIS's claim table)."""

    def create(session: Session) -> str:
        made.append(key)
        result = f"R-{len(made)}"
        session.add(
            HisIdempotencyRow(
                operation="test",
                key=key,
                request_hash=request,
                result_id=result,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
        return result

    return once(
        database,
        find=_find(key),
        request=request,
        create=create,
        replay=lambda session, row: row.result_id,
        unavailable=RuntimeError,
    )


def test_once_stores_once_replays_and_refuses_another_request(database: Database) -> None:
    made: list[str] = []
    first = _claim(database, "k1", "h1", made)
    again = _claim(database, "k1", "h1", made)
    assert first == ("R-1", True)
    assert again == ("R-1", False)
    with pytest.raises(IdempotencyConflict):
        _claim(database, "k1", "other", made)
    assert find_stored(database, find=_find("k1"), request="h1", unavailable=RuntimeError) is not None
    assert made == ["k1"]


def test_racing_callers_store_one_result(database: Database) -> None:
    made: list[str] = []
    results: list[tuple[str, bool]] = []
    barrier = threading.Barrier(8)

    def call() -> None:
        barrier.wait()
        results.append(_claim(database, "race", "h", made))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 8
    assert len({value for value, _ in results}) == 1
    assert sum(1 for _, created in results if created) == 1
    with database.session(readonly=True) as session:
        assert (
            len(session.scalars(select(HisIdempotencyRow).where(HisIdempotencyRow.key == "race")).all()) == 1
        )
