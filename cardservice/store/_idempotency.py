"""One idempotency for every mutating request (HIS bookings and settlements, payments, print jobs).

A client names each request with a key of its choosing (the API's ``Idempotency-Key``). The first
request with a key does the work and stores its result under the key, with a digest of the request;
the same key again returns the stored result and does nothing; the same key with another request is
refused (:class:`~cardservice.errors.IdempotencyConflict`, or the service's own error). Keys are the
client's: :func:`scoped_key` keeps two kiosks that choose the same key apart.

Exactly once, across threads and daemons sharing a database: the stored row and the work commit in one
transaction, under a unique constraint on the key. Of two concurrent first requests, one commits; the
other's insert fails on the constraint (PostgreSQL makes it wait for the first to commit) and it
replays the winner's result::

    result, created = once(
        database,
        find=lambda session: session.scalar(select(Row).where(Row.client_id == c, Row.key == k)),
        request=request_hash("book", card_number, slot_id),
        create=lambda session: ...,            # the work: adds the row under the key, returns the result
        replay=lambda session, row: ...,       # the stored result, from the row found
        unavailable=lambda text: HisUnavailable(f"embedded HIS database: {text}"),
    )
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from cardservice.errors import CardserviceError, IdempotencyConflict
from cardservice.store._db import Database, describe

__all__ = [
    "API_KEY_PATTERN",
    "KEY_PATTERN",
    "check_key",
    "find_stored",
    "once",
    "request_hash",
    "scoped_key",
]

#: A stored key: 1-128 of ``A-Za-z0-9._:-`` (a client's key scoped by its name fits).
KEY_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: What the API accepts in an ``Idempotency-Key`` header: 1-64 of the same characters.
API_KEY_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"

_R = TypeVar("_R")
_Row = TypeVar("_Row")


def check_key(key: object, invalid: Callable[[str], Exception]) -> str:
    """*key* if it is a valid stored key; else the error *invalid* makes of the problem."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise invalid("idempotency key: 1-128 characters of A-Za-z0-9._:-")
    return key


def scoped_key(client: str, key: str) -> str:
    """*key* as the client *client* chose it: two clients choosing the same key never collide, nor two keys
    of one client. ``client:key`` while it fits a stored key (client names have no ``:``, so the first one
    splits it); a longer pair is ``sha256-`` and its digest, which has no ``:`` and so is never a pair's."""
    scoped = f"{client}:{key}"
    if len(scoped) <= 128:
        return scoped
    return "sha256-" + hashlib.sha256(scoped.encode()).hexdigest()


def request_hash(*parts: object) -> str:
    """A digest of a request's parts (canonical JSON; dates and other values by ``str``), to tell the same
    request again from another one under the same key."""
    text = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _conflict(row: Any) -> Exception:
    return IdempotencyConflict("idempotency key already used for another request")


def find_stored(
    database: Database,
    *,
    find: Callable[[Session], _Row | None],
    request: str,
    conflict: Callable[[_Row], Exception] = _conflict,
    unavailable: Callable[[str], Exception],
) -> _Row | None:
    """The row stored under the key (read only), or ``None``: for a caller that must check more before
    it does the work (e.g. ask the HIS), then calls :func:`once`."""
    try:
        with database.session(readonly=True) as session:
            row = find(session)
    except SQLAlchemyError as exc:
        raise unavailable(describe(exc)) from None
    if row is not None and _hash_of(row) != request:
        raise conflict(row)
    return row


def once(
    database: Database,
    *,
    find: Callable[[Session], _Row | None],
    request: str,
    create: Callable[[Session], _R],
    replay: Callable[[Session, _Row], _R],
    conflict: Callable[[_Row], Exception] = _conflict,
    unavailable: Callable[[str], Exception],
) -> tuple[_R, bool]:
    """``(result, True)`` when this call did the work (*create*, in one transaction with the row it
    stores under the key); ``(stored result, False)`` when the key was there (*replay*), also when a
    concurrent call stored it first. Database failures become *unavailable* (its text never has values);
    errors raised by *create* pass unchanged, and nothing of its work is kept."""
    for attempt in (1, 2):
        try:
            with database.session() as session:
                existing = find(session)
                if existing is not None:
                    if _hash_of(existing) != request:
                        raise conflict(existing)
                    return replay(session, existing), False
                result = create(session)
                session.flush()  # the unique key is checked here, inside the transaction
                return result, True
        except IntegrityError as exc:
            # The same key, stored by a concurrent call that committed first: look again, and replay it.
            if attempt == 2:
                raise unavailable(describe(exc)) from None
        except SQLAlchemyError as exc:
            raise unavailable(describe(exc)) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _hash_of(row: object) -> str:
    stored = getattr(row, "request_hash", None)
    if not isinstance(stored, str):
        raise IdempotencyRowError(f"{type(row).__name__} carries no request_hash")
    return stored


class IdempotencyRowError(CardserviceError, TypeError):
    """A programming error: the row stored under a key has no ``request_hash``."""
