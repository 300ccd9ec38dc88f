"""What every route needs: the :class:`Services` bundle, API-key authentication with scopes, the audit
record of an access, and the card now in a reader (waiting for its identity read when just inserted).
Routes live in :mod:`cardservice.api._app` (readers, cards, events) and :mod:`cardservice.api._hospital`
(registration, payments, printing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import anyio
from fastapi import Depends, Header, Path, Request

from cardservice.api._events import EventHub
from cardservice.api._metrics import Metrics
from cardservice.api._security import RateLimiter, TicketBook, scope_allows
from cardservice.readers import CardView, ReaderManager, ServiceError

if TYPE_CHECKING:
    from cardservice.his import HisConnector
    from cardservice.payments import Payments
    from cardservice.printing import PrintQueue

__all__ = [
    "Admin",
    "ApiClient",
    "CardIdHeader",
    "His",
    "Kiosk",
    "ReaderId",
    "Services",
    "audit_access",
    "card_view",
    "client_address",
    "require",
    "services_of",
    "token_from",
]

log = logging.getLogger(__name__)


class ApiClient(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def scopes(self) -> Iterable[str]: ...


@dataclass
class Services:
    """What the API needs from the rest of the daemon."""

    manager: ReaderManager
    authenticate: Callable[[str], ApiClient | None]
    audit: Callable[..., object]
    hub: EventHub = field(default_factory=EventHub)
    tickets: TicketBook = field(default_factory=TicketBook)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(10.0, 20))
    card_timeout: float = 15.0
    started: float = field(default_factory=time.monotonic)
    metrics: Metrics = field(default_factory=Metrics)
    his: HisConnector | None = None  # registration, bills, lab reports (None: those routes answer 503)
    payments: Payments | None = None  # /v1/payments (None: those routes answer 503)
    print_queue: PrintQueue | None = None  # /v1/print (None: no printer configured, 503)
    hospital_name: str = "示范医院"  # printed at the head of every ticket


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


# -- authentication -------------------------------------------------------------------------------------


def token_from(authorization: str | None, api_key: str | None) -> str | None:
    if api_key:
        return api_key.strip()
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def require(scope: str) -> Callable[..., Any]:
    async def dependency(
        request: Request,
        authorization: Annotated[str | None, Header(description="Bearer csk_... API key")] = None,
        x_api_key: Annotated[str | None, Header(description="the API key, instead of Authorization")] = None,
    ) -> ApiClient:
        services = services_of(request)
        token = token_from(authorization, x_api_key)
        client = services.authenticate(token) if token else None
        if client is None:
            raise ServiceError("unauthorized", "an API key is required (Authorization: Bearer csk_...)")
        if not scope_allows(client.scopes, scope):
            raise ServiceError("forbidden", f"this key lacks the {scope!r} scope", needed=scope)
        request.state.client = client
        return client

    return dependency


Kiosk = Annotated[ApiClient, Depends(require("kiosk"))]
His = Annotated[ApiClient, Depends(require("his"))]
Admin = Annotated[ApiClient, Depends(require("admin"))]
ReaderId = Annotated[
    str,
    Path(
        description="reader id from /v1/readers, or `default` for the first card reader",
        examples=["default"],
        max_length=128,
    ),
]
CardIdHeader = Annotated[
    str | None,
    Header(
        description="card_id the client saw (identity, event): refused if another card is in now",
        max_length=64,
    ),
]


def client_address(request: Request) -> str:
    peer = request.client
    agent = request.headers.get("user-agent", "")[:60]
    return f"{peer.host if peer else '?'} {agent}".strip()


async def audit_access(
    request: Request,
    client: ApiClient,
    action: str,
    result: str,
    *,
    card: str | None,
    target: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    services = services_of(request)
    try:
        await anyio.to_thread.run_sync(
            lambda: services.audit(
                actor=client.name,
                client=client_address(request),
                action=action,
                result=result,
                card=card,
                target=target,
                detail=detail,
            )
        )
    except Exception:
        # An access that cannot be audited must not be answered.
        log.exception("audit record failed for %s", action)
        raise ServiceError("internal_error", "the access could not be audited; refused") from None


async def card_view(services: Services, reader: str, card_id: str | None = None) -> CardView:
    try:
        return services.manager.card(reader, card_id=card_id)
    except ServiceError as exc:
        if exc.code != "card_not_ready":
            raise
    # Inserted a moment ago: wait for the identity read (a thread: the wait blocks).
    return await anyio.to_thread.run_sync(
        lambda: services.manager.card(reader, wait=services.card_timeout, card_id=card_id)
    )
