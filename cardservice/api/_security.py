"""Who may talk to the daemon. Localhost is not a trust boundary: any web page the kiosk's browser opens,
and any local process, can reach 127.0.0.1.

- :class:`GuardMiddleware` (outermost, plain ASGI, HTTP and WebSocket alike):
  * Host allow-list — a DNS-rebinding page reaches us as ``Host: evil.example``: refused (421);
  * Origin allow-list — a browser request from an origin not configured is refused (403) before any
    handler runs, WebSocket handshakes included (cross-site WebSocket hijacking);
  * CORS for the configured origins only (never ``*``), with the Private Network Access preflight
    answer (``Access-Control-Allow-Private-Network: true``) that current Chromium asks for before a
    public page may call a loopback address;
  * request bodies above ``max_body`` refused (413).
- API keys (:func:`authenticate`): ``Authorization: Bearer csk_...`` or ``X-API-Key``; browsers never
  attach these by themselves, so CSRF cannot ride on them. EventSource and WebSocket cannot set
  headers: they use a one-time ticket (``POST /v1/events/tickets``), valid 60 s.
  A client holds at most 10 tickets at once, their issue takes a rate-limit token, and a ticket is
  refused if its key was revoked since (:class:`TicketBook`).
- :class:`RateLimiter`: a token bucket per client for the endpoints that touch a card or a patient's
  records, and for event tickets.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException

from cardservice.api._errors import error_response
from cardservice.readers import ServiceError

__all__ = ["GuardMiddleware", "RateLimiter", "TicketBook", "loopback_hosts", "scope_allows"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Which scopes a key's scope includes: an HIS key may do what a kiosk key may, an admin key anything.
_IMPLIED = {
    "admin": frozenset({"admin", "his", "kiosk", "issuer"}),
    "his": frozenset({"his", "kiosk"}),
    "issuer": frozenset({"issuer", "kiosk"}),
    "kiosk": frozenset({"kiosk"}),
}


def scope_allows(granted: Iterable[str], needed: str) -> bool:
    return any(needed in _IMPLIED.get(str(scope), frozenset()) for scope in granted)


def loopback_hosts(port: int) -> frozenset[str]:
    names = ("127.0.0.1", "localhost", "[::1]")
    return frozenset([*names, *(f"{name}:{port}" for name in names)])


_ALLOWED_HEADERS = "Authorization, Content-Type, X-API-Key, X-Card-Id, Idempotency-Key"
_ALLOWED_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"


class GuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: frozenset[str],
        allowed_origins: frozenset[str],
        max_body: int = 256 * 1024,
    ) -> None:
        self.app = app
        self.allowed_hosts = frozenset(host.lower() for host in allowed_hosts)
        self.allowed_origins = allowed_origins
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        host = headers.get("host", "").lower()
        if host not in self.allowed_hosts:
            await self._refuse(scope, receive, send, "host_not_allowed", f"Host {host!r} is not served here")
            return
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in self.allowed_origins:
            await self._refuse(
                scope, receive, send, "origin_not_allowed", f"origin {origin!r} is not allowed"
            )
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and origin is not None and "access-control-request-method" in headers:
            await self._preflight(send, origin, headers)
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await self._refuse(
                scope,
                receive,
                send,
                "payload_too_large",
                f"request bodies are limited to {self.max_body} bytes",
            )
            return
        if origin is None:
            await self.app(scope, self._limit_body(receive), send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"vary", b"Origin"),
                    (b"access-control-expose-headers", b"Retry-After"),
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, self._limit_body(receive), send_with_cors)

    def _limit_body(self, receive: Receive) -> Receive:
        """Chunked bodies carry no Content-Length: count them as they arrive."""
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    # An HTTPException: FastAPI's body parsing turns any other exception into a 400.
                    raise HTTPException(413, f"request bodies are limited to {self.max_body} bytes")
            return message

        return limited

    async def _preflight(self, send: Send, origin: str, headers: dict[str, str]) -> None:
        response_headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", _ALLOWED_METHODS.encode()),
            (b"access-control-allow-headers", _ALLOWED_HEADERS.encode()),
            (b"access-control-max-age", b"600"),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
        ]
        if headers.get("access-control-request-private-network") == "true":
            response_headers.append((b"access-control-allow-private-network", b"true"))
        await send({"type": "http.response.start", "status": 204, "headers": response_headers})
        await send({"type": "http.response.body", "body": b""})

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, code: str, message: str) -> None:
        if scope["type"] == "websocket":
            await receive()  # the websocket.connect message
            # Refusing the handshake: the browser sees a failed connection, no data flows.
            await send({"type": "websocket.close", "code": 1008, "reason": code})
            return
        # The one error shape and layout of the API (error_response), though FastAPI never sees the request.
        await error_response(code, message)(scope, receive, send)


# -- tickets for EventSource / WebSocket ----------------------------------------------------------------


@dataclass(frozen=True)
class _Ticket:
    client: Any  # whom it stands for, as authentication answered (name, scopes, the key's id): never the key
    expires: float


class TicketBook:
    """One-time tickets standing in for an API key where a browser cannot send headers.

    A ticket is a credential, so: a client holds at most *per_client* at once (one more is refused,
    ``rate_limited``, until one is redeemed or expires); each is good once, for *lifetime* seconds; what it
    stands for is re-checked when it is redeemed (the events route asks whether the key still holds), and
    :meth:`revoke` voids a client's tickets at once. Every ticket lives *lifetime*, so issue order is expiry
    order: each call drops the expired ones from the front of a queue — work in proportion to what expired,
    never a pass over every ticket held.
    """

    def __init__(self, lifetime: float = 60.0, per_client: int = 10) -> None:
        self.lifetime = lifetime
        self.per_client = per_client
        self._tickets: dict[str, _Ticket] = {}
        # (expires, ticket), oldest first; a redeemed ticket stays here, inert, until its time is up.
        self._expiry: deque[tuple[float, str]] = deque()
        self._held: dict[str, dict[str, float]] = {}  # client name -> its outstanding tickets -> expiry
        self._lock = threading.Lock()

    def issue(self, client: Any) -> str:
        """A ticket for *client* (anything with a ``name``); ``rate_limited`` if it holds too many."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            held = self._held.get(client.name, {})
            if len(held) >= self.per_client:
                raise ServiceError(
                    "rate_limited",
                    f"{len(held)} event tickets are outstanding: use one, or wait until one expires",
                    retry_after=round(min(held.values()) - now, 2),
                    tickets_outstanding=len(held),
                )
            ticket = "cst_" + secrets.token_urlsafe(24)
            expires = now + self.lifetime
            self._tickets[ticket] = _Ticket(client, expires)
            self._expiry.append((expires, ticket))
            self._held.setdefault(client.name, {})[ticket] = expires
        return ticket

    def redeem(self, ticket: str) -> Any | None:
        """The client *ticket* was issued to, once; None if unknown, used or expired."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            entry = self._tickets.pop(ticket, None)
            if entry is not None:
                self._release(entry.client.name, ticket)
        if entry is None or entry.expires <= now:
            return None
        return entry.client

    def revoke(self, name: str) -> int:
        """Void every outstanding ticket of client *name* (its key was revoked); how many there were."""
        with self._lock:
            held = self._held.pop(name, {})
            for ticket in held:
                self._tickets.pop(ticket, None)
        return len(held)

    def __len__(self) -> int:
        """Tickets outstanding (not yet redeemed, expired or voided)."""
        with self._lock:
            self._expire(time.monotonic())
            return len(self._tickets)

    def _expire(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, ticket = self._expiry.popleft()
            entry = self._tickets.pop(ticket, None)
            if entry is not None:
                self._release(entry.client.name, ticket)

    def _release(self, name: str, ticket: str) -> None:
        held = self._held.get(name)
        if held is not None:
            held.pop(ticket, None)
            if not held:
                del self._held[name]


# -- rate limits ----------------------------------------------------------------------------------------


class RateLimiter:
    """Token bucket per client name: *per_second* sustained, *burst* at once. Taken by the requests that
    touch a card or read a patient's records, and by the issue of event tickets."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.rate = per_second
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                raise ServiceError(
                    "rate_limited",
                    "too many requests; slow down",
                    retry_after=round((1 - tokens) / self.rate, 2),
                )
            self._buckets[client] = (tokens - 1.0, now)
