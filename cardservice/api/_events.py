"""Card and reader events, from the reader threads to any number of HTTP clients (SSE and WebSocket).

Events carry no personal data: reader id, card id, state, the masked card number. A client then asks
for what it needs (and that request is authorised and audited). Each event has an increasing ``id``;
an SSE client that reconnects with ``Last-Event-ID`` gets what it missed from the last 256 events.
A client that does not keep up (its queue of 256 fills) is disconnected rather than slowing others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["EventHub", "sse_format"]

_QUEUE = 256
_OVERFLOW = {"type": "overflow"}


class EventHub:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._recent: deque[dict[str, Any]] = deque(maxlen=_QUEUE)
        self._next_id = 1
        self.counts: dict[str, int] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, event: dict[str, Any]) -> None:
        """Thread-safe: called from the reader threads."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is shutting down
            loop.call_soon_threadsafe(self._fan_out, dict(event))

    def _fan_out(self, event: dict[str, Any]) -> None:
        event["id"] = self._next_id
        self._next_id += 1
        self.counts[event["type"]] = self.counts.get(event["type"], 0) + 1
        self._recent.append(event)
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._subscribers.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(_OVERFLOW)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, last_event_id: int | None = None
    ) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_QUEUE)
        if last_event_id is not None:
            for event in self._recent:
                if event["id"] > last_event_id:
                    queue.put_nowait(event)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)


def sse_format(event: dict[str, Any]) -> bytes:
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.get('id', 0)}\nevent: {event['type']}\ndata: {data}\n\n".encode()
