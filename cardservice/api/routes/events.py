"""/v1/events: card and reader events, as Server-Sent Events or over a WebSocket; browsers, which cannot
send headers there, authenticate with a one-time ticket (``POST /v1/events/tickets``)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from cardservice.api._deps import ApiClient, Kiosk, Services, authenticate, services_of, token_from
from cardservice.api._errors import responses
from cardservice.api._events import sse_format
from cardservice.api._security import scope_allows
from cardservice.api.schemas.card import TicketOut
from cardservice.errors import ServiceError

__all__ = ["router"]

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.post(
    "/tickets",
    response_model=TicketOut,
    summary="A one-time ticket for EventSource / WebSocket (which cannot send headers)",
    responses=responses(),
)
async def event_ticket(request: Request, client: Kiosk) -> TicketOut:
    tickets = services_of(request).tickets
    return TicketOut(ticket=tickets.issue(client), expires_in=tickets.lifetime)


async def _event_client(
    services: Services, authorization: str | None, api_key: str | None, ticket: str | None
) -> ApiClient:
    client: ApiClient | None = None
    if ticket:
        client = services.tickets.redeem(ticket)
    else:
        token = token_from(authorization, api_key)
        client = await authenticate(services, token) if token else None
    if client is None:
        raise ServiceError("unauthorized", "an API key or a ticket (POST /v1/events/tickets) is required")
    if not scope_allows(client.scopes, "kiosk"):
        raise ServiceError("forbidden", "this key lacks the 'kiosk' scope", needed="kiosk")
    return client


@router.get(
    "",
    summary="Card and reader events (Server-Sent Events)",
    description="`text/event-stream`; event types: card.inserted, card.removed, card.error, "
    "reader.added, reader.removed, sam.inserted, sam.removed, service.down, service.up, printer.problem "
    "(code, message_zh: paper out, cover open, ...), printer.ready. Reconnect with "
    "Last-Event-ID to get missed events. Authenticate with a key header or `?ticket=`.",
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
    await _event_client(services, authorization, x_api_key, ticket)
    hub = services.hub

    async def stream() -> Any:
        async with hub.subscribe(last_event_id) as queue:
            yield b": connected\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), 15.0)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                yield sse_format(event)
                if event["type"] == "overflow":
                    return

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
        await _event_client(
            services, websocket.headers.get("authorization"), websocket.headers.get("x-api-key"), ticket
        )
    except ServiceError as exc:
        await websocket.close(code=1008, reason=exc.code)
        return
    await websocket.accept()
    async with services.hub.subscribe() as queue:
        receiver = asyncio.ensure_future(websocket.receive())
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                if receiver in done:
                    getter.cancel()
                    message = receiver.result()
                    if message["type"] == "websocket.disconnect":
                        return
                    receiver = asyncio.ensure_future(websocket.receive())
                    continue
                event = getter.result()
                await websocket.send_json(event)
                if event["type"] == "overflow":
                    await websocket.close(code=1013)
                    return
        except WebSocketDisconnect:
            return
        finally:
            receiver.cancel()
