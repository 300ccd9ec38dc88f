"""A token bucket per client for the endpoints that touch a card or a patient's records, and for event
tickets: a burst, then 429 with Retry-After; other clients keep their own bucket."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cardservice.api import RateLimiter
from tests.api.conftest import BASE_URL, KIOSK, OTHER_KIOSK_KEY, StackFactory, assert_error

IDENTITY = "/v1/readers/default/card/identity"


def test_burst_then_rate_limited(make_stack: StackFactory) -> None:
    stack = make_stack(limiter=RateLimiter(per_second=1, burst=3))
    with TestClient(stack.app, base_url=BASE_URL) as client:
        assert [client.get(IDENTITY, headers=KIOSK).status_code for _ in range(3)] == [200, 200, 200]
        response = client.get(IDENTITY, headers=KIOSK)
        error = assert_error(response, 429, "rate_limited")
        assert 0 < error["details"]["retry_after"] <= 1
        assert response.headers["retry-after"] == "1"
        assert client.get(IDENTITY, headers={"X-API-Key": OTHER_KIOSK_KEY}).status_code == 200


def test_retry_after_says_how_long_to_wait(make_stack: StackFactory) -> None:
    stack = make_stack(limiter=RateLimiter(per_second=0.1, burst=1))
    with TestClient(stack.app, base_url=BASE_URL) as client:
        assert client.get(IDENTITY, headers=KIOSK).status_code == 200
        response = client.get(IDENTITY, headers=KIOSK)
        error = assert_error(response, 429, "rate_limited")
        assert 9 < error["details"]["retry_after"] <= 10
        assert response.headers["retry-after"] == "10"


def test_card_free_endpoints_are_not_limited(make_stack: StackFactory) -> None:
    stack = make_stack(limiter=RateLimiter(per_second=0.1, burst=1))
    with TestClient(stack.app, base_url=BASE_URL) as client:
        assert client.get(IDENTITY, headers=KIOSK).status_code == 200
        assert {client.get("/v1/readers", headers=KIOSK).status_code for _ in range(5)} == {200}
        assert_error(client.get(IDENTITY, headers=KIOSK), 429, "rate_limited")


def test_event_tickets_take_a_token(make_stack: StackFactory) -> None:
    """A ticket is a credential: minting them is limited like a card read (and capped per client)."""
    stack = make_stack(limiter=RateLimiter(per_second=0.1, burst=2))
    with TestClient(stack.app, base_url=BASE_URL) as client:
        assert [client.post("/v1/events/tickets", headers=KIOSK).status_code for _ in range(2)] == [200, 200]
        response = client.post("/v1/events/tickets", headers=KIOSK)
        assert_error(response, 429, "rate_limited")
        assert response.headers["retry-after"] == "10"
        assert client.post("/v1/events/tickets", headers={"X-API-Key": OTHER_KIOSK_KEY}).status_code == 200
