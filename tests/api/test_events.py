"""Card events over Server-Sent Events and WebSocket, authenticated by a one-time ticket (EventSource and
browser WebSockets cannot send headers). Events carry no personal data. Tickets are few per client, rate
limited, short-lived and re-checked against their key when redeemed; an open stream re-checks its key
periodically and closes once the key is revoked (at once when revoked in this process).

No read here can hang: a watchdog publishes a ``test.deadline`` event into the hub, which ends any wait
on the stream, and the test then fails saying what it was waiting for."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cardservice.access import ApiKeys, Scope
from cardservice.api import EventHub, Services, TicketBook, create_app
from cardservice.readers import InProcessBackend, ReaderManager, load_profiles
from cardservice.store import Database, StoreError
from tests.api.conftest import (
    BASE_URL,
    CARD_READER,
    HIS,
    HOLDER,
    ID_NUMBER,
    KIOSK,
    OTHER_KIOSK_KEY,
    READER,
    WS_URL,
    Client,
    Stack,
    assert_error,
)
from tests.dbfixtures import database, database_url
from tests.virtualcards import wait_for

__all__ = ["database", "database_url"]

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
    with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        stream = response.iter_lines()
        assert next(stream) == ": connected"  # subscribed from here on
        act()
        return read_sse(stream, stack.services.hub, last)


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


# -- tickets: few, rate limited, short-lived, re-checked ----------------------------------------------------


def stream_status(client: TestClient, url: str, headers: dict[str, str] | None = None) -> int:
    """The status an event stream answers with (a stream that opens is closed again at once)."""
    with client.stream("GET", url, headers=headers or {}) as response:
        return response.status_code


def test_a_client_holds_at_most_ten_tickets_at_once(client: TestClient) -> None:
    """A key cannot mint tickets without bound (each is a credential held in memory for 60 s)."""
    held = [ticket(client) for _ in range(10)]
    error = assert_error(client.post("/v1/events/tickets", headers=KIOSK), 429, "rate_limited")
    assert 59 <= error["details"]["retry_after"] <= 60  # until the oldest expires
    assert error["details"]["tickets_outstanding"] == 10
    assert ticket(client, {"X-API-Key": OTHER_KIOSK_KEY})  # another client holds its own
    assert stream_status(client, f"/v1/events?ticket={held[0]}") == 200  # redeemed: a place is free
    assert ticket(client)
    assert_error(client.post("/v1/events/tickets", headers=KIOSK), 429, "rate_limited")


class Clock:
    """time.monotonic, moved by hand."""

    def __init__(self) -> None:
        self.now = 3.0

    def __call__(self) -> float:
        return self.now


def test_tickets_expire_without_a_scan_of_all_tickets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issuing is constant time however many tickets are held (no pass over all of them per call), and
    expired tickets are gone: memory is what the last 60 s issued, redeemed or not."""
    clock = Clock()
    monkeypatch.setattr(time, "monotonic", clock)  # the clock TicketBook reads
    book = TicketBook(lifetime=60.0)
    clients = [Client(f"kiosk-{n}", ("kiosk",)) for n in range(20_000)]
    started = time.perf_counter()
    issued = [book.issue(c) for c in clients]
    took = time.perf_counter() - started
    assert took < 1.0, f"20,000 tickets took {took:.1f} s: each issue scans the tickets held"
    assert len(book) == 20_000
    assert book.redeem(issued[-1]) == clients[-1]
    clock.now += 60.5
    assert book.redeem(issued[0]) is None  # expired
    book.issue(clients[0])
    assert len(book) == 1
    assert book.redeem(issued[1]) is None


class Keys:
    """The stack's keys as the database sees them: *revoked* names (revoked by another process: only the
    re-check, ``key_active``, can tell), *failing* look-ups (a database outage); *checks* counts look-ups."""

    def __init__(self, stack: Stack, *, recheck: float = 0.05) -> None:
        self.revoked: set[str] = set()
        self.outcomes: list[bool | None] = []  # scripted answers first (None: the look-up fails)
        self.failing = False
        self.checks = 0
        stack.services.key_active = self.active
        stack.services.stream_recheck = recheck

    def active(self, client: Any) -> bool:
        self.checks += 1
        outcome = self.outcomes.pop(0) if self.outcomes else (None if self.failing else True)
        if outcome is None:
            raise StoreError("the database is down")
        return outcome and client.name not in self.revoked


def test_a_ticket_of_a_key_revoked_since_is_refused(client: TestClient, stack: Stack) -> None:
    keys = Keys(stack)
    sse, ws = ticket(client), ticket(client)
    keys.revoked.add("kiosk-1")
    assert stream_status(client, f"/v1/events?ticket={sse}") == 401
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(f"{WS_URL}?ticket={ws}"):
        pass
    assert (refused.value.code, refused.value.reason) == (1008, "unauthorized")
    assert stack.services.hub.subscribers == 0


def test_a_ticket_is_refused_while_its_key_cannot_be_checked(client: TestClient, stack: Stack) -> None:
    """Like a key header (authenticate refuses when the database is down), never let through unchecked."""
    keys = Keys(stack)
    once = ticket(client)
    keys.failing = True
    assert stream_status(client, f"/v1/events?ticket={once}") == 401


# -- open streams re-check their key ---------------------------------------------------------------------


def read_sse(stream: Iterator[str], hub: EventHub, last: str) -> tuple[list[Event], list[str]]:
    """Events and raw lines of an open stream's lines up to the first event of type *last* (the watchdog
    ends the wait)."""
    events: list[Event] = []
    lines: list[str] = []
    with watchdog(hub):
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


def keep_alives(stream: Iterator[str], hub: EventHub, count: int) -> None:
    """Read an open stream until *count* keep-alives went by (each after a re-check of the key)."""
    seen = 0
    with watchdog(hub):
        for line in stream:
            assert "test.deadline" not in line, f"{seen} keep-alives within {DEADLINE} s"
            seen += line == ": keep-alive"
            if seen == count:
                return


@pytest.mark.parametrize("by", ["ticket", "key header"])
def test_an_sse_stream_closes_once_its_key_is_revoked_elsewhere(
    client: TestClient, stack: Stack, by: str
) -> None:
    keys = Keys(stack, recheck=0.05)
    url, headers = (f"/v1/events?ticket={ticket(client)}", {}) if by == "ticket" else ("/v1/events", KIOSK)
    with client.stream("GET", url, headers=headers) as response:
        stream = response.iter_lines()
        assert next(stream) == ": connected"
        keep_alives(stream, stack.services.hub, 2)  # two re-checks passed
        keys.revoked.add("kiosk-1")
        revoked = time.monotonic()
        events, lines = read_sse(stream, stack.services.hub, "closed")
        took = time.monotonic() - revoked
        assert list(stream) == [""]  # the blank line that ends the message, then the stream ends
    assert events[-1] == {"type": "closed", "code": "unauthorized", "message": "the API key was revoked"}
    assert "event: closed" in lines
    assert not any(line.startswith("id:") for line in lines[lines.index("event: closed") - 1 :])
    assert took < 2.0
    wait_for(lambda: stack.services.hub.subscribers == 0, DEADLINE, "the subscriber to go")


def test_a_websocket_closes_once_its_key_is_revoked_elsewhere(client: TestClient, stack: Stack) -> None:
    keys = Keys(stack, recheck=0.05)
    with client.websocket_connect(f"{WS_URL}?ticket={ticket(client)}") as ws:
        wait_for(lambda: keys.checks >= 2, DEADLINE, "two re-checks of the key")
        keys.revoked.add("kiosk-1")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws_events(ws, stack, "never")
    assert (closed.value.code, closed.value.reason) == (1008, "unauthorized")
    wait_for(lambda: stack.services.hub.subscribers == 0, DEADLINE, "the subscriber to go")


def test_a_database_outage_closes_a_stream_only_after_four_failed_rechecks(
    client: TestClient, stack: Stack
) -> None:
    """A look-up that fails is no answer: the stream carries on (events and keep-alives) until
    ``stream_recheck_failures`` (4) look-ups in a row have failed — a minute at the default 15 s."""
    keys = Keys(stack, recheck=0.05)
    assert stack.services.stream_recheck_failures == 4
    keys.outcomes = [None, None, None, True, None, None, None, None]  # recovers once, then stays down
    with client.stream("GET", "/v1/events", headers=KIOSK) as response:
        stream = response.iter_lines()
        assert next(stream) == ": connected"
        events, lines = read_sse(stream, stack.services.hub, "closed")
    assert keys.checks == 8
    assert lines.count(": keep-alive") == 7  # the stream went on meanwhile
    assert events[-1] == {
        "type": "closed",
        "code": "unauthorized",
        "message": "the API key could not be checked (4 look-ups failed)",
    }


def test_a_websocket_outlives_a_short_database_outage(client: TestClient, stack: Stack) -> None:
    keys = Keys(stack, recheck=0.05)
    keys.outcomes = [None, None, None, True, None, None, True]
    with client.websocket_connect(WS_URL, headers=KIOSK) as ws:
        wait_for(lambda: keys.checks >= 9, DEADLINE, "nine re-checks of the key")
        remove_and_insert(stack)()
        assert [e["type"] for e in ws_events(ws, stack, "card.inserted")] == ["card.removed", "card.inserted"]


@pytest.fixture
def keyed(database: Database) -> Iterator[tuple[TestClient, ApiKeys, Services]]:
    """The API over real API keys, wired as the daemon wires them: streams re-check the key's row
    (``ApiKeys.is_active``), and a revocation here is announced to the streams (``on_revoke``)."""
    keys = ApiKeys(database)
    manager = ReaderManager(InProcessBackend({}), bindings=[], profiles=load_profiles())
    services = Services(
        manager=manager,
        authenticate=keys.authenticate,
        authenticate_cached=keys.cached,
        audit=lambda **_: None,
        key_active=lambda client: keys.is_active(client.id),
        stream_recheck=60.0,  # only the announcement can close a stream within this test
    )
    keys.on_revoke(services.key_revoked)
    try:
        with TestClient(create_app(services), base_url=BASE_URL) as client:
            yield client, keys, services
    finally:
        keys.close()


def test_revoking_a_key_here_closes_its_streams_at_once(keyed: tuple[TestClient, ApiKeys, Services]) -> None:
    client, keys, services = keyed
    _, token = keys.create("kiosk-7", [Scope.KIOSK], created_by="test")
    _, other = keys.create("kiosk-8", [Scope.KIOSK], created_by="test")
    header = {"X-API-Key": token}
    spare = ticket(client, header)
    with (
        client.stream("GET", f"/v1/events?ticket={ticket(client, header)}") as response,
        client.websocket_connect(WS_URL, headers=header) as ws,
        client.websocket_connect(WS_URL, headers={"X-API-Key": other}) as bystander,
    ):
        stream = response.iter_lines()
        assert next(stream) == ": connected"
        wait_for(lambda: services.hub.subscribers == 3, DEADLINE, "three subscribers")
        keys.revoke("kiosk-7")
        events, _ = read_sse(stream, services.hub, "closed")
        assert events[-1]["code"] == "unauthorized"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert (closed.value.code, closed.value.reason) == (1008, "unauthorized")
        assert services.hub.subscribers == 1  # the other client's stream stays
        bystander.close()
    assert len(services.tickets) == 0  # the revoked key's spare ticket is void too
    assert stream_status(client, f"/v1/events?ticket={spare}") == 401


def test_a_ticket_of_a_key_revoked_by_another_process_is_refused(
    keyed: tuple[TestClient, ApiKeys, Services], database: Database
) -> None:
    client, keys, _ = keyed
    _, token = keys.create("kiosk-7", [Scope.KIOSK], created_by="test")
    once = ticket(client, {"X-API-Key": token})
    elsewhere = ApiKeys(database)
    try:
        elsewhere.revoke("kiosk-7")  # `cardservice token revoke` beside the daemon: no announcement here
    finally:
        elsewhere.close()
    assert stream_status(client, f"/v1/events?ticket={once}") == 401
