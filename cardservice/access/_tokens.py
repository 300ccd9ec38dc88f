"""Per-client API keys with scopes: created and revoked with ``cardservice token``, stored hashed.

A key is ``csk_<key id>_<secret>``: the key id (12 hex characters) finds the row, the secret is 32
random bytes. Only SHA-256 of the whole key is stored: a key with 256 bits of entropy cannot be
guessed from its hash, so a slow password hash would only cost time on every request.

Scopes (an HIS key may do what a kiosk key may; admin may do anything):

    kiosk   readers, card presence, identity with ID and phone numbers masked, events
    his     kiosk + full identity, health data, writes of health data
    issuer  card registry and blacklist management (card-issuer)
    admin   everything, including /metrics

A client name has at most one active key (the database enforces it with a partial unique index);
revoked keys stay listed, and their name can be given a new key.

Successful look-ups are cached for 5 s in the process, keyed by SHA-256 of the key (requests come by
the thousand; a database round trip each would dominate); refusals (unknown or revoked keys) for 2 s, so
a stream of made-up keys costs one query per key and 2 s, not one per request. A revocation through the
same process takes effect at once, through another process (``cardservice token revoke`` beside a
running daemon, a second daemon on a shared PostgreSQL) within those 5 s. :meth:`ApiKeys.cached` answers
from the caches alone, without blocking, so the API asks the database (:meth:`ApiKeys.authenticate`) off
its event loop only on a miss. ``last_used_at`` is written at most once a minute per client and process,
by a background thread: a request never waits for a database write lock to record it.

An open event stream outlives any cache: it re-checks its key by the key's row id
(:meth:`ApiKeys.is_active`, always the database), and :meth:`ApiKeys.on_revoke` tells the daemon of a
revocation in its own process, so it can close the key's streams at once.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cardservice.store import ApiClientRow, Database, StoreError

__all__ = ["ApiClientInfo", "ApiKeys", "Scope"]

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"csk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MAX_TOKEN_LENGTH = 80  # csk_ + 12 + _ + 43 = 60: anything much longer is not worth a regex
_CACHE_SECONDS = 5.0
_REFUSED_SECONDS = 2.0
_CACHE_SIZE = 1024  # distinct valid keys seen within the TTL; only successful look-ups are cached
_TOUCH_SECONDS = 60.0


class Scope(StrEnum):
    """What a key may do (the API checks them; see the module docstring)."""

    KIOSK = "kiosk"
    HIS = "his"
    ISSUER = "issuer"
    ADMIN = "admin"


@dataclass(frozen=True)
class ApiClientInfo:
    """An API client as stored: never the key itself (shown once, at creation)."""

    id: int
    name: str
    key_id: str
    scopes: frozenset[Scope]
    created_at: _dt.datetime
    created_by: str
    revoked_at: _dt.datetime | None
    last_used_at: _dt.datetime | None


_KNOWN_SCOPES = frozenset(s.value for s in Scope)


def _info(row: ApiClientRow) -> ApiClientInfo:
    # A scope this version does not know (written by a newer one sharing the database) grants nothing.
    scopes = frozenset(Scope(s) for s in row.scopes.split(",") if s in _KNOWN_SCOPES)
    return ApiClientInfo(
        row.id, row.name, row.key_id, scopes, row.created_at, row.created_by, row.revoked_at, row.last_used_at
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiKeys:
    def __init__(self, database: Database) -> None:
        self._db = database
        # SHA-256 of a key -> (its client, or None for a refused key; until when the answer holds)
        self._cache: dict[str, tuple[ApiClientInfo | None, float]] = {}
        self._touched: dict[int, float] = {}
        self._lock = threading.Lock()
        self._toucher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="api-key-last-used")
        self._listeners: list[Callable[[ApiClientInfo], object]] = []

    def create(
        self, name: str, scopes: Iterable[Scope | str], *, created_by: str
    ) -> tuple[ApiClientInfo, str]:
        """A new key for *name*; the plaintext key is returned here and nowhere else."""
        if not _NAME.fullmatch(name):
            raise StoreError("a client name is 1-64 characters: letters, digits, '.', '_', '-'")
        try:
            chosen = sorted({Scope(s) for s in scopes})
        except ValueError:
            raise StoreError(f"scopes are {', '.join(s.value for s in Scope)}") from None
        if not chosen:
            raise StoreError("give at least one scope")
        key_id = secrets.token_hex(6)
        token = f"csk_{key_id}_{secrets.token_urlsafe(32)}"
        with self._db.session() as session:
            active = session.execute(
                select(ApiClientRow).where(ApiClientRow.name == name, ApiClientRow.revoked_at.is_(None))
            ).first()
            if active is not None:
                raise StoreError(f"client {name!r} already has an active key (revoke it first)")
            row = ApiClientRow(
                name=name, key_id=key_id, key_hash=_digest(token), scopes=",".join(s.value for s in chosen),
                created_at=_dt.datetime.now(_dt.UTC), created_by=created_by[:128],
            )  # fmt: skip
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                # Another process created a key for this name since the check above (or, once in 2^48,
                # the key id exists): the partial unique index refused the second one.
                raise StoreError(f"client {name!r} already has an active key (revoke it first)") from None
            info = _info(row)
        return info, token

    def cached(self, token: str) -> tuple[bool, ApiClientInfo | None]:
        """``(True, client or None)`` when this process knows the answer without the database — a key
        seen within the cache time, a malformed one, one refused a moment ago; ``(False, None)`` when only
        :meth:`authenticate` can tell. Never blocks on anything but a lock held for microseconds."""
        digest = self._shape_digest(token)
        if digest is None:
            return True, None
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return True, cached[0]
        return False, None

    def authenticate(self, token: str) -> ApiClientInfo | None:
        """The client of *token*, or None (malformed, unknown, revoked). Never raises on bad input. May ask
        the database: call it off an event loop."""
        known, client = self.cached(token)
        if known:
            return client
        match = _TOKEN.fullmatch(token)
        digest = self._shape_digest(token)
        if match is None or digest is None:  # pragma: no cover - cached() said it is well formed
            return None
        now = time.monotonic()
        try:
            with self._db.session(readonly=True) as session:
                row = session.execute(
                    select(ApiClientRow).where(ApiClientRow.key_id == match.group(1))
                ).scalar()
                info = _info(row) if row is not None else None
        except SQLAlchemyError as exc:
            # Refused, not raised: a request must not pass because the database is down.
            log.warning("API key look-up failed: %s", exc.__class__.__name__)
            return None
        if (
            row is None
            or info is None
            or info.revoked_at is not None
            or not hmac.compare_digest(row.key_hash, digest)
        ):
            self._remember(digest, None, now + _REFUSED_SECONDS)
            return None
        self._remember(digest, info, now + _CACHE_SECONDS)
        with self._lock:
            last = self._touched.get(info.id)  # (monotonic time may start near 0: no default of 0)
            touch = last is None or now - last >= _TOUCH_SECONDS
            if touch:
                self._touched[info.id] = now
        if touch:
            self._toucher.submit(self._touch, info.id)
        return info

    @staticmethod
    def _shape_digest(token: object) -> str | None:
        """SHA-256 of *token* if it has a key's shape, else None (refused without a look-up)."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH or _TOKEN.fullmatch(token) is None:
            return None
        return _digest(token)

    def _remember(self, digest: str, client: ApiClientInfo | None, until: float) -> None:
        """The answer for *digest* until *until*; a full cache first drops what expired, then everything."""
        now = time.monotonic()
        with self._lock:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
                if len(self._cache) >= _CACHE_SIZE:
                    self._cache.clear()
            self._cache[digest] = (client, until)

    def _touch(self, client_id: int) -> None:
        try:
            with self._db.session() as session:
                row = session.get(ApiClientRow, client_id)
                if row is not None:
                    row.last_used_at = _dt.datetime.now(_dt.UTC)
        except SQLAlchemyError:
            pass  # last-used is informative; never fail a request over it

    def list(self) -> list[ApiClientInfo]:
        """Every key ever made, revoked ones included, oldest first."""
        with self._db.session(readonly=True) as session:
            return [
                _info(r) for r in session.execute(select(ApiClientRow).order_by(ApiClientRow.id)).scalars()
            ]

    def is_active(self, client_id: int) -> bool:
        """Whether the key of client row *client_id* (``ApiClientInfo.id``: one row per key) is still
        valid — asked of the database every time, so another process's revocation shows at once: what an
        open event stream re-checks. Raises :class:`StoreError` when the database cannot tell (unlike
        :meth:`authenticate`, which refuses: the caller decides how long a stream outlives an outage)."""
        try:
            with self._db.session(readonly=True) as session:
                revoked = session.execute(
                    select(ApiClientRow.revoked_at).where(ApiClientRow.id == client_id)
                ).first()
        except SQLAlchemyError as exc:
            raise StoreError(f"the API key could not be checked: {exc.__class__.__name__}") from exc
        return revoked is not None and revoked[0] is None

    def on_revoke(self, listener: Callable[[ApiClientInfo], object]) -> None:
        """Call *listener* with each key :meth:`revoke` revokes, once it is revoked (the daemon closes the
        key's open event streams). A listener that fails is logged; the revocation stands."""
        with self._lock:
            self._listeners.append(listener)

    def revoke(self, name: str) -> ApiClientInfo:
        """Revoke the active key of *name* (refused at once by this process, within 5 s elsewhere; its open
        event streams here close at once, elsewhere at their next re-check)."""
        with self._db.session() as session:
            row = session.execute(
                select(ApiClientRow).where(ApiClientRow.name == name, ApiClientRow.revoked_at.is_(None))
            ).scalar()
            if row is None:
                raise StoreError(f"no active key for client {name!r}")
            row.revoked_at = _dt.datetime.now(_dt.UTC)
            info = _info(row)
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v[0] is None or v[0].id != info.id}
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(info)
            except Exception:
                log.exception("a listener of the revocation of %r failed", info.name)
        return info

    def settle(self) -> None:
        """Wait until the last-used writes queued so far are done."""
        self._toucher.submit(lambda: None).result()

    def close(self) -> None:
        """Finish the last-used writes still queued."""
        self._toucher.shutdown(wait=True)
