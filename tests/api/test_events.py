"""Card events over Server-Sent Events and WebSocket, authenticated by a one-time ticket (EventSource and
browser WebSockets cannot send headers). Events carry no personal data.

No read here can hang: a watchdog publishes a ``test.deadline`` event into the hub, which ends any wait
on the stream, and the test then fails saying what it was waiting for."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cardservice.api import EventHub
from tests.api.conftest import (
    CARD_READER,
    HIS,
    HOLDER,
    ID_NUMBER,
    KIOSK,
    READER,
    WS_URL,
    Stack,
    assert_error,
)
from tests.virtualcards import wait_for

DEADLINE = 10.0
Event = dict[str, Any]


@contextmanager
def watchdog(hub: EventHub) -> Iterator[None]:
    timer = threading.Timer(DEADLINE, hub.publish, args=[{"type": "test.deadline"}])
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def ticket(client: TestClient, headers: dict[str, str] = KIOSK) -> str:
    response = client.post("/v1/events/tickets", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] > 0
    value: str = response.json()["ticket"]
    return value


def remove_and_insert(stack: Stack) -> Callable[[], None]:
    def act() -> None:
        stack.backend.remove(CARD_READER)
        stack.wait_state("empty")
        stack.backend.insert(CARD_READER)

    return act


def sse_events(
    client: TestClient,
    stack: Stack,
    url: str,
    act: Callable[[], None],
    last: str,
    headers: dict[str, str] | None = None,
) -> tuple[list[Event], list[str]]:
    """Open the stream, run *act*, collect events up to the first of type *last*; and the raw lines."""
    events: list[Event] = []
    lines: list[str] = []
    with client.stream("GET", url, headers=headers or {}) as response, watchdog(stack.services.hub):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        stream = response.iter_lines()
        assert next(stream) == ": connected"  # subscribed from here on
        act()
        for line in stream:
            lines.append(line)
            if not line.startswith("data: "):
                continue
            event = json.loads(line.removeprefix("data: "))
            assert event["type"] != "test.deadline", f"no {last} event within {DEADLINE} s: {events}"
            events.append(event)
            if event["type"] == last:
                break
    return events, lines


def test_sse_with_a_ticket_sees_removal_then_insertion(client: TestClient, stack: Stack) -> None:
    old = stack.reader().card_id
    events, lines = sse_events(
        client, stack, f"/v1/events?ticket={ticket(client)}", remove_and_insert(stack), "card.inserted"
    )
    assert [(e["type"], e["reader"]) for e in events] == [("card.removed", READER), ("card.inserted", READER)]
    inserted = events[-1]
    assert inserted["card_id"] not in (None, old)
    assert inserted["card_id"] == stack.reader().card_id
    assert inserted["state"] == "ready"
    assert events[0]["id"] < inserted["id"]
    assert "event: card.inserted" in lines
    assert f"id: {inserted['id']}" in lines


def test_events_carry_no_personal_data(client: TestClient, stack: Stack) -> None:
    _, lines = sse_events(
        client, stack, f"/v1/events?ticket={ticket(client)}", remove_and_insert(stack), "card.inserted"
    )
    text = "\n".join(lines)
    for personal in (ID_NUMBER, HOLDER["DDF1/EF06"]["name"], HOLDER["DDF1/EF08"]["phone1"]):
        assert personal not in text
    assert '"card":"1101************30"' in text  # the masked card number only


def test_sse_ticket_is_one_time(client: TestClient, stack: Stack) -> None:
    once = ticket(client)
    sse_events(client, stack, f"/v1/events?ticket={once}", remove_and_insert(stack), "card.inserted")
    assert_error(client.get(f"/v1/events?ticket={once}"), 401, "unauthorized")


def test_sse_refuses_unknown_tickets_and_no_key(client: TestClient) -> None:
    assert_error(client.get("/v1/events?ticket=cst_made_up"), 401, "unauthorized")
    assert_error(client.get("/v1/events"), 401, "unauthorized")


def test_tickets_need_a_key(client: TestClient) -> None:
    assert_error(client.post("/v1/events/tickets"), 401, "unauthorized")


def test_sse_with_a_key_header(client: TestClient, stack: Stack) -> None:
    events, _ = sse_events(
        client, stack, "/v1/events", remove_and_insert(stack), "card.inserted", headers=HIS
    )
    assert [e["type"] for e in events] == ["card.removed", "card.inserted"]


def test_sse_replays_missed_events_after_last_event_id(client: TestClient, stack: Stack) -> None:
    first, _ = sse_events(
        client, stack, f"/v1/events?ticket={ticket(client)}", remove_and_insert(stack), "card.inserted"
    )
    since = first[0]["id"] - 1
    replayed, _ = sse_events(
        client,
        stack,
        f"/v1/events?ticket={ticket(client)}",
        lambda: None,
        "card.inserted",
        headers={"Last-Event-ID": str(since)},
    )
    assert replayed == first


def ws_events(ws: Any, stack: Stack, last: str) -> list[Event]:
    events: list[Event] = []
    with watchdog(stack.services.hub):
        while True:
            event = ws.receive_json()
            assert event["type"] != "test.deadline", f"no {last} event within {DEADLINE} s: {events}"
            events.append(event)
            if event["type"] == last:
                return events


def test_websocket_with_a_ticket_sees_removal_then_insertion(client: TestClient, stack: Stack) -> None:
    with client.websocket_connect(f"{WS_URL}?ticket={ticket(client)}") as ws:
        assert stack.services.hub.subscribers == 1  # subscribed before the handshake completed
        remove_and_insert(stack)()
        events = ws_events(ws, stack, "card.inserted")
    assert [(e["type"], e["reader"]) for e in events] == [("card.removed", READER), ("card.inserted", READER)]
    assert events[-1]["card_id"] == stack.reader().card_id
    assert ID_NUMBER not in json.dumps(events, ensure_ascii=False)
    assert HOLDER["DDF1/EF06"]["name"] not in json.dumps(events, ensure_ascii=False)
    wait_for(lambda: stack.services.hub.subscribers == 0, DEADLINE, "the WebSocket subscriber to go")


def test_websocket_with_a_key_header(client: TestClient, stack: Stack) -> None:
    with client.websocket_connect(WS_URL, headers=KIOSK) as ws:
        remove_and_insert(stack)()
        assert [e["type"] for e in ws_events(ws, stack, "card.inserted")] == ["card.removed", "card.inserted"]


@pytest.mark.parametrize("query", ["", "?ticket=cst_made_up"])
def test_websocket_without_ticket_or_key_is_closed_with_1008(client: TestClient, query: str) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(WS_URL + query):
        pass
    assert (refused.value.code, refused.value.reason) == (1008, "unauthorized")


def test_websocket_ticket_is_one_time(client: TestClient) -> None:
    once = ticket(client)
    with client.websocket_connect(f"{WS_URL}?ticket={once}") as ws:
        ws.close()
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(f"{WS_URL}?ticket={once}"):
        pass
    assert refused.value.code == 1008
    assert_error(client.get(f"/v1/events?ticket={once}"), 401, "unauthorized")


def test_sse_client_that_does_not_keep_up_is_cut_off(client: TestClient, stack: Stack) -> None:
    hub = stack.services.hub
    with client.stream("GET", "/v1/events", headers=KIOSK) as response, watchdog(hub):
        stream = response.iter_lines()
        assert next(stream) == ": connected"
        for n in range(600):  # more than the 256 a subscriber may have queued; nobody reads meanwhile
            hub.publish({"type": "test.flood", "n": n})
        wait_for(lambda: hub.subscribers == 0, DEADLINE, "the slow subscriber to be dropped")
        types = [
            json.loads(line.removeprefix("data: "))["type"] for line in stream if line.startswith("data: ")
        ]
    assert types[-1] == "overflow"  # then the stream ends
    assert 0 < types.count("test.flood") < 600
