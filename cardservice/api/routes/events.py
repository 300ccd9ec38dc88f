"""/v1/events: card and reader events, as Server-Sent Events or over a WebSocket; browsers, which cannot
send headers there, authenticate with a one-time ticket (``POST /v1/events/tickets``).

A ticket is issued against a rate-limit token, at most 10 outstanding per client, good once for 60 s, and
refused when redeemed if its key no longer holds. An open stream re-checks its key at every keep-alive
(``Services.stream_recheck``, 15 s) and ends when the key is revoked — at once when revoked in this
process (``Services.key_revoked``); see :mod:`cardservice.api._events` for how a database outage is
ridden out. SSE ends with a ``closed`` event, a WebSocket with close code 1008 ``unauthorized``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from cardservice.api._deps import (
    ApiClient,
    Kiosk,
    Services,
    authenticate,
    key_holds,
    services_of,
    token_from,
)
from cardservice.api._errors import responses
from cardservice.api._events import KeyCheck, Subscription, sse_format
from cardservice.api._kiosk import KioskSession
from cardservice.api._security import scope_allows
from cardservice.api.schemas.card import TicketOut
from cardservice.errors import ServiceError

__all__ = ["router"]

router = APIRouter(prefix="/v1/events", tags=["events"])

_LAST = frozenset({"overflow", "closed"})  # a stream's own last events


@router.post(
    "/tickets",
    response_model=TicketOut,
    summary="A one-time ticket for EventSource / WebSocket (which cannot send headers)",
    description="Good once, for `expires_in` seconds. A client holds at most 10 at once (429 until one is "
    "used or expires), and each takes a rate-limit token.",
    responses=responses("rate_limited"),
)
async def event_ticket(request: Request, client: Kiosk) -> TicketOut:
    services = services_of(request)
    services.limiter.take(client.name)
    tickets = services.tickets
    return TicketOut(ticket=tickets.issue(client), expires_in=tickets.lifetime)


async def _event_client(
    services: Services, authorization: str | None, api_key: str | None, ticket: str | None
) -> ApiClient:
    client: ApiClient | None = None
    if ticket:
        client = services.tickets.redeem(ticket)
        if client is not None and not await key_holds(services, client):
            client = None  # revoked since the ticket was issued (or cannot be checked now)
    else:
        token = token_from(authorization, api_key)
        client = await authenticate(services, token) if token else None
    if client is None:
        raise ServiceError("unauthorized", "an API key or a ticket (POST /v1/events/tickets) is required")
    if not scope_allows(client.scopes, "kiosk"):
        raise ServiceError("forbidden", "this key lacks the 'kiosk' scope", needed="kiosk")
    return client


def _visible(services: Services, client: ApiClient, event: dict[str, Any]) -> bool:
    """A kiosk session sees the card events of its own readers only (reader and service events all); a
    payment's or an issuance's progress goes to the client that made the request, and no other."""
    if str(event.get("type", "")).startswith(("payment.", "issuance.")):
        return event.get("client") == client.name
    if not isinstance(client, KioskSession) or not str(event.get("type", "")).startswith("card."):
        return True
    mine = set()
    for reader in client.readers:
        try:
            mine.add(services.manager.resolve(reader))
        except ServiceError:
            continue  # not connected now
    return event.get("reader") in mine


def _key_check(services: Services, client: ApiClient) -> KeyCheck:
    check = services.key_active
    return KeyCheck(
        functools.partial(check, client) if check is not None else None, services.stream_recheck_failures
    )


@router.get(
    "",
    summary="Card and reader events (Server-Sent Events)",
    description="`text/event-stream`; event types: card.inserted, card.removed, card.error, "
    "reader.added, reader.removed, sam.inserted, sam.removed, service.down, service.up, printer.problem "
    "(code, message_zh: paper out, cover open, ...), printer.ready, payment.progress (to the paying client "
    "only: stage enter_pin, pin_digits with a count, processing, remove_card, scan_code with the code), "
    "issuance.progress (to the issuing client only: stage settling, dispensing, writing, verifying, "
    "presenting, capturing). "
    "Reconnect with "
    "Last-Event-ID to get missed events. Authenticate with a key header or `?ticket=`. The stream ends "
    "with `overflow` (the client did not keep up) or `closed` (`code` unauthorized: the key was revoked, "
    "or could not be checked for a while).",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "event stream"}, **responses()},
)
async def events_sse(
    request: Request,
    ticket: Annotated[str | None, Query(max_length=64)] = None,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
) -> StreamingResponse:
    services = services_of(request)
    client = await _event_client(services, authorization, x_api_key, ticket)
    hub, period, check = services.hub, services.stream_recheck, _key_check(services, client)

    async def stream() -> Any:
        loop = asyncio.get_running_loop()
        async with hub.subscribe(last_event_id, client=client.name) as subscription:
            yield b": connected\n\n"
            due = loop.time() + period
            while True:
                event = await subscription.next(due - loop.time())
                if event is not None and _visible(services, client, event):
                    yield sse_format(event)
                    if event["type"] in _LAST:
                        return
                if loop.time() >= due:  # also under a steady flow of events
                    closing = await check.closing()
                    if closing is not None:
                        yield sse_format(closing)
                        return
                    due = loop.time() + period
                    yield b": keep-alive\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.websocket("/ws")
async def events_ws(
    websocket: WebSocket,
    ticket: str | None = None,
) -> None:
    services: Services = websocket.app.state.services
    try:
        client = await _event_client(
            services, websocket.headers.get("authorization"), websocket.headers.get("x-api-key"), ticket
        )
    except ServiceError as exc:
        await websocket.close(code=1008, reason=exc.code)
        return
    await websocket.accept()
    async with services.hub.subscribe(client=client.name) as subscription:
        await _serve_ws(
            websocket,
            subscription,
            services.stream_recheck,
            _key_check(services, client),
            lambda event: _visible(services, client, event),
        )


async def _serve_ws(
    websocket: WebSocket,
    subscription: Subscription,
    period: float,
    check: KeyCheck,
    visible: Callable[[dict[str, Any]], bool],
) -> None:
    """Send the events until the client goes, does not keep up (1013) or its key no longer holds (1008)."""
    loop = asyncio.get_running_loop()
    receiver = asyncio.ensure_future(websocket.receive())
    due = loop.time() + period
    try:
        while True:
            waiter = subscription.waiter()
            either: set[asyncio.Future[Any]] = {waiter, receiver}
            await asyncio.wait(
                either, timeout=max(0.0, due - loop.time()), return_when=asyncio.FIRST_COMPLETED
            )
            if receiver.done():
                if receiver.result()["type"] == "websocket.disconnect":
                    return
                receiver = asyncio.ensure_future(websocket.receive())  # what a client sends is ignored
            if waiter.done():
                event = subscription.take()
                if visible(event) and not await _deliver(websocket, event):
                    return
            if loop.time() >= due:  # also under a steady flow of events
                closing = await check.closing()
                if closing is not None:
                    await _deliver(websocket, closing)
                    return
                due = loop.time() + period
    except WebSocketDisconnect:
        return
    finally:
        receiver.cancel()


async def _deliver(websocket: WebSocket, event: dict[str, Any]) -> bool:
    """Send *event*; False once the stream is over (the client fell behind, or its key no longer holds)."""
    if event["type"] == "closed":
        await websocket.close(code=1008, reason=event["code"])
        return False
    await websocket.send_json(event)
    if event["type"] == "overflow":
        await websocket.close(code=1013)
        return False
    return True
