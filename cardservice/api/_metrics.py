"""Prometheus metrics: HTTP requests by route and status, latency, card operations and events, readers.

A registry of our own (not the global one) so two apps in one process (tests) do not collide.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from cardservice.api._deps import Services

__all__ = ["Metrics", "MetricsMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

# Label values come from a closed set: a client that makes up methods (or paths) must not grow the
# registry, which is memory without bound and without a key.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cardservice_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cardservice_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15),
        )
        self.card_operations = Counter(
            "cardservice_card_operations",
            "card operations by result",
            ["operation", "result"],
            registry=self.registry,
        )
        self.events = Gauge(
            "cardservice_events", "events published, by type", ["type"], registry=self.registry
        )
        self.readers = Gauge("cardservice_readers", "readers by role", ["role"], registry=self.registry)
        self.cards = Gauge("cardservice_cards_present", "cards in card readers", registry=self.registry)
        self.pcsc_up = Gauge(
            "cardservice_pcsc_up", "1 while the PC/SC service answers", registry=self.registry
        )
        self.subscribers = Gauge(
            "cardservice_event_subscribers", "connected event clients", registry=self.registry
        )

    def card_operation(self, operation: str, result: str) -> None:
        self.card_operations.labels(operation, result).inc()

    def render(self, services: Services) -> tuple[bytes, str]:
        readers = services.manager.readers()
        for role in ("card", "sam", "issuer", "unassigned"):
            self.readers.labels(role).set(sum(1 for r in readers if r.role == role))
        self.cards.set(sum(1 for r in readers if r.role == "card" and r.card_present))
        self.pcsc_up.set(1 if services.manager.service_up else 0)
        self.subscribers.set(services.hub.subscribers)
        for kind, count in services.hub.counts.items():
            self.events.labels(kind).set(count)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (never the raw path: no ids in labels)."""

    def __init__(self, app: Callable[..., Awaitable[None]], metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - started)
