"""Card and reader events, from the reader threads to any number of HTTP clients (SSE and WebSocket).

Events carry no personal data: reader id, card id, state, the masked card number. A client then asks
for what it needs (and that request is authorised and audited). Each event has an increasing ``id``;
an SSE client that reconnects with ``Last-Event-ID`` gets what it missed from the last 256 events.
A client that does not keep up (its queue of 256 fills) is disconnected rather than slowing others.

A stream serves one API client for as long as its key holds. The last event of a stream closed for that
reason is ``{"type": "closed", "code": "unauthorized", "message": ...}`` (no ``id``: it is not one of the
hub's events), sent when:

- the key is revoked in this process (:meth:`EventHub.close_client`, at once);
- a periodic re-check (:class:`KeyCheck`, at each keep-alive) finds it revoked — by another process;
- the re-check could not tell ``failures`` times in a row (the database is down): an outage does not
  cut every kiosk off at its first failed look-up, and a key revoked during one is not served for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio

__all__ = ["EventHub", "KeyCheck", "Subscription", "closed_event", "sse_format"]

log = logging.getLogger(__name__)

_QUEUE = 256
_OVERFLOW = {"type": "overflow"}


def closed_event(message: str) -> dict[str, Any]:
    """The last event of a stream whose key no longer holds."""
    return {"type": "closed", "code": "unauthorized", "message": message}


class Subscription:
    """One stream's place at the hub: its queue of events and the API client it serves."""

    def __init__(self, client: str | None) -> None:
        self.client = client
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_QUEUE)
        self._next: asyncio.Future[dict[str, Any]] | None = None

    def waiter(self) -> asyncio.Future[dict[str, Any]]:
        """The wait for the next event: the same one until it is done and :meth:`take`-n, so a wait given
        up (a timeout, another thing done first) never loses an event."""
        if self._next is None:
            self._next = asyncio.ensure_future(self.queue.get())
        return self._next

    def take(self) -> dict[str, Any]:
        """The event the finished :meth:`waiter` got."""
        waiter, self._next = self._next, None
        if waiter is None or not waiter.done():
            raise RuntimeError("take() before the waiter is done")
        return waiter.result()

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None when none came within *timeout* seconds."""
        done, _ = await asyncio.wait({self.waiter()}, timeout=max(0.0, timeout))
        return self.take() if done else None

    def _end(self) -> None:
        if self._next is not None:
            self._next.cancel()

    def _overflow(self) -> None:
        """The queue is full: the oldest event makes room for the overflow notice, the stream's last."""
        with contextlib.suppress(asyncio.QueueEmpty):
            self.queue.get_nowait()
        self.queue.put_nowait(_OVERFLOW)

    def _close(self, event: dict[str, Any]) -> None:
        """Drop what is queued (nothing more for this client) and leave *event* as the stream's last."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(event)


class EventHub:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: set[Subscription] = set()
        self._recent: deque[dict[str, Any]] = deque(maxlen=_QUEUE)
        self._next_id = 1
        self.counts: dict[str, int] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, event: dict[str, Any]) -> None:
        """Thread-safe: called from the reader threads."""
        self._on_loop(self._fan_out, dict(event))

    def close_client(self, name: str, message: str = "the API key was revoked") -> None:
        """End every stream of API client *name* at once, with a ``closed`` event. Thread-safe."""
        self._on_loop(self._close, name, closed_event(message))

    def _on_loop(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is shutting down
            loop.call_soon_threadsafe(callback, *args)

    def _fan_out(self, event: dict[str, Any]) -> None:
        event["id"] = self._next_id
        self._next_id += 1
        self.counts[event["type"]] = self.counts.get(event["type"], 0) + 1
        self._recent.append(event)
        for subscription in list(self._subscribers):
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._subscribers.discard(subscription)
                subscription._overflow()

    def _close(self, name: str, event: dict[str, Any]) -> None:
        for subscription in list(self._subscribers):
            if subscription.client == name:
                self._subscribers.discard(subscription)
                subscription._close(event)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, last_event_id: int | None = None, *, client: str | None = None
    ) -> AsyncIterator[Subscription]:
        """A place at the hub for a stream of API client *client*, with the recent events after
        *last_event_id* first."""
        subscription = Subscription(client)
        if last_event_id is not None:
            for event in self._recent:
                if event["id"] > last_event_id:
                    subscription.queue.put_nowait(event)
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)
            subscription._end()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)


class KeyCheck:
    """The periodic re-check of an open stream's key. *check* (blocking: it asks the database, so it runs on
    a worker thread) says whether the key still holds, or raises when it cannot tell; None: nothing to
    re-check. A stream ends when the key no longer holds, or after *failures* look-ups in a row failed."""

    def __init__(self, check: Callable[[], bool] | None, failures: int) -> None:
        self._check = check
        self._failures = failures
        self._failed = 0

    async def closing(self) -> dict[str, Any] | None:
        """None while the stream may go on; else the event that ends it."""
        if self._check is None:
            return None
        try:
            holds = await anyio.to_thread.run_sync(self._check)
        except Exception as exc:
            self._failed += 1
            log.warning(
                "an event stream's API key could not be checked (%d of %d): %s",
                self._failed,
                self._failures,
                exc.__class__.__name__,
            )
            if self._failed >= self._failures:
                return closed_event(f"the API key could not be checked ({self._failed} look-ups failed)")
            return None
        self._failed = 0
        return None if holds else closed_event("the API key was revoked")


def sse_format(event: dict[str, Any]) -> bytes:
    """*event* as an SSE message. Only the hub's events carry an ``id`` line: an ``id: 0`` on a stream's
    own last message (overflow, closed) would make a reconnecting client replay every recent event."""
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    head = f"id: {event['id']}\n" if "id" in event else ""
    return f"{head}event: {event['type']}\ndata: {data}\n\n".encode()
