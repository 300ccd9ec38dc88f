"""How the kiosk page gets a credential without ever holding an API key.

The long-lived kiosk key stays with the kiosk launcher (a root-owned credential file). The launcher asks
for a **launch token** (``POST /v1/kiosk/launch-tokens``: one use, 5-600 s) and opens Chromium on
``/kiosk/launch?token=...``; the daemon spends the token and answers with a **session cookie** (HttpOnly,
SameSite=Strict, ``Secure`` under TLS) and a redirect to ``/kiosk/``. So nothing the page's script can
read — its memory, storage, URL or history — ever carries a credential that outlives the moment.

A session is a kiosk-scoped client bound to the readers named at launch: ``default`` means that
session's own first reader, and any other reader is refused. It lasts while the page keeps using it
(:attr:`KioskSessions.idle_lifetime`), ends when its key is revoked (here at once, in another process at
the next re-check), and is accepted only from the daemon's own pages: a request must carry
``Sec-Fetch-Site: same-origin``, which browsers set and no script can forge — so another page on this
machine (another port of 127.0.0.1 is the same *site*, and would get the cookie) cannot ride on it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cardservice.errors import ServiceError

__all__ = ["SESSION_COOKIE", "KioskSession", "KioskSessions", "KioskSettings"]

SESSION_COOKIE = "cardservice_kiosk"
DEFAULT_READER = "default"


@dataclass(frozen=True)
class KioskSettings:
    """What the kiosk page is told about its kiosk (``GET /v1/kiosk/session``)."""

    idle_seconds: int = 90  # a screen waits this long for a touch before asking 「您还需要继续办理吗?」
    warning_seconds: int = 30  # ... and this long for 继续办理 before it clears the patient's data
    card_entry: str = "insert"  # insert (contact slot, chip up and forward) or tap (contactless)
    help_desk: str = "门诊大厅人工服务窗口"  # where the 人工窗口 is, shown on every screen
    top_up_amounts_fen: tuple[int, ...] = (5_000, 10_000, 20_000, 50_000)


@dataclass
class KioskSession:
    """The client a kiosk page acts as: the launching key's name (audit, rate limits, tickets), the kiosk
    scope only, and the readers it may use."""

    name: str
    parent: Any  # the launching key's client, as authentication answered: its revocation ends the session
    readers: tuple[str, ...]
    scopes: tuple[str, ...] = ("kiosk",)
    last_used: float = field(default_factory=time.monotonic)
    checked: float = field(default_factory=time.monotonic)  # when the parent key was last found active

    def reader(self, requested: str) -> str:
        """The reader a request of this session may use for *requested*: ``default`` is its own first."""
        if requested == DEFAULT_READER:
            return self.readers[0]
        if requested not in self.readers:
            raise ServiceError("forbidden", f"this kiosk may not use reader {requested!r}", reader=requested)
        return requested


class KioskSessions:
    """Launch tokens and the sessions they become; in memory (a restarted daemon has none: the launcher
    restarts the browser). Thread-safe."""

    def __init__(
        self,
        *,
        idle_lifetime: float = 24 * 3600.0,
        recheck: float = 15.0,
        per_key: int = 4,
        tokens_per_key: int = 10,
    ) -> None:
        self.idle_lifetime = idle_lifetime
        self.recheck = recheck  # seconds between checks that the launching key still holds
        self.per_key = per_key  # sessions per launching key; a new one ends the least recently used
        self.tokens_per_key = tokens_per_key
        self._tokens: dict[str, tuple[KioskSession, float]] = {}  # token -> (session to be, expiry)
        self._sessions: OrderedDict[str, KioskSession] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def launch_token(self, parent: Any, readers: Iterable[str], lifetime: float) -> str:
        now = time.monotonic()
        chosen = tuple(dict.fromkeys(readers)) or (DEFAULT_READER,)
        with self._lock:
            self._tokens = {t: entry for t, entry in self._tokens.items() if entry[1] > now}
            if sum(entry[0].name == parent.name for entry in self._tokens.values()) >= self.tokens_per_key:
                raise ServiceError(
                    "rate_limited", "too many launch tokens are outstanding", retry_after=lifetime
                )
            token = "ckl_" + secrets.token_urlsafe(24)
            self._tokens[token] = (KioskSession(parent.name, parent, chosen), now + lifetime)
        return token

    def open(self, token: str) -> str | None:
        """Spend *token*: the new session's id, or None if the token is unknown, spent or expired."""
        now = time.monotonic()
        with self._lock:
            entry = self._tokens.pop(token, None)
            if entry is None or entry[1] <= now:
                return None
            session, _ = entry
            session.last_used = session.checked = now
            session_id = "cks_" + secrets.token_urlsafe(32)
            self._sessions[session_id] = session
            mine = [sid for sid, held in self._sessions.items() if held.name == session.name]
            for stale in mine[: max(0, len(mine) - self.per_key)]:
                del self._sessions[stale]
        return session_id

    def find(self, session_id: str) -> KioskSession | None:
        """The live session *session_id* (now marked used), or None."""
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.last_used > self.idle_lifetime:
                del self._sessions[session_id]
                return None
            session.last_used = now
            self._sessions.move_to_end(session_id)
            return session

    def needs_check(self, session: KioskSession) -> bool:
        return time.monotonic() - session.checked > self.recheck

    def checked(self, session: KioskSession) -> None:
        session.checked = time.monotonic()

    def close(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def revoke(self, name: str) -> None:
        """End every session and launch token of key *name* (revoked)."""
        with self._lock:
            self._tokens = {t: entry for t, entry in self._tokens.items() if entry[0].name != name}
            for session_id in [sid for sid, held in self._sessions.items() if held.name == name]:
                del self._sessions[session_id]

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
