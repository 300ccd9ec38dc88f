"""Host and Origin allow-lists (DNS rebinding, cross-site requests and WebSocket hijacking), CORS for the
configured origins only, and the Private Network Access preflight."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cardservice.api._errors import error_response
from tests.api.conftest import EXTRA_HOST, HIS, HIS_ORIGIN, KIOSK, WS_URL, Stack, assert_error

IDENTITY = "/v1/readers/default/card/identity"
EVIL = "https://evil.example"


def test_foreign_host_is_refused(client: TestClient) -> None:
    assert_error(client.get("/v1/health", headers={"Host": "evil.example"}), 421, "host_not_allowed")
    assert_error(
        client.get(IDENTITY, headers={**KIOSK, "Host": "evil.example:8765"}), 421, "host_not_allowed"
    )


def test_loopback_name_on_another_port_is_refused(client: TestClient) -> None:
    assert_error(client.get("/v1/health", headers={"Host": "127.0.0.1:9999"}), 421, "host_not_allowed")


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.0.0.1:8765", "localhost", "LOCALHOST:8765", "[::1]", "[::1]:8765", EXTRA_HOST],
)
def test_loopback_and_configured_hosts_are_served(client: TestClient, host: str) -> None:
    assert client.get(IDENTITY, headers={**KIOSK, "Host": host}).status_code == 200


def test_websocket_with_a_foreign_host_is_refused(client: TestClient) -> None:
    ticket = client.post("/v1/events/tickets", headers=KIOSK).json()["ticket"]
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(f"{WS_URL}?ticket={ticket}", headers={"Host": "evil.example"}),
    ):
        pass
    assert (refused.value.code, refused.value.reason) == (1008, "host_not_allowed")


def test_foreign_origin_is_refused_even_with_a_valid_key(client: TestClient) -> None:
    response = client.get(IDENTITY, headers={**HIS, "Origin": EVIL})
    assert_error(response, 403, "origin_not_allowed")
    assert "access-control-allow-origin" not in response.headers


def test_null_origin_is_refused(client: TestClient) -> None:
    assert_error(client.get(IDENTITY, headers={**HIS, "Origin": "null"}), 403, "origin_not_allowed")


def test_configured_origin_gets_its_own_origin_back(client: TestClient) -> None:
    response = client.get(IDENTITY, headers={**KIOSK, "Origin": HIS_ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == HIS_ORIGIN
    assert response.headers["vary"] == "Origin"


def test_errors_to_a_configured_origin_carry_cors_headers(client: TestClient) -> None:
    """Else the page cannot read the error code."""
    response = client.get(IDENTITY, headers={"Origin": HIS_ORIGIN})
    assert_error(response, 401, "unauthorized")
    assert response.headers["access-control-allow-origin"] == HIS_ORIGIN


def test_own_loopback_origin_is_allowed(client: TestClient) -> None:
    response = client.get(IDENTITY, headers={**KIOSK, "Origin": "http://localhost:8765"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:8765"


def preflight(client: TestClient, origin: str, **extra: str) -> Any:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "x-api-key, content-type, x-card-id",
        **extra,
    }
    return client.options("/v1/readers/default/card/files/DDF1/DF01/EF05", headers=headers)


def test_preflight_from_a_configured_origin(client: TestClient) -> None:
    response = preflight(client, HIS_ORIGIN)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == HIS_ORIGIN
    assert "PATCH" in response.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"x-api-key", "content-type", "x-card-id", "authorization"} <= allowed
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-private-network" not in response.headers


def test_private_network_preflight_is_answered(client: TestClient) -> None:
    response = preflight(client, HIS_ORIGIN, **{"Access-Control-Request-Private-Network": "true"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-private-network"] == "true"


def test_preflight_from_a_foreign_origin_is_refused(client: TestClient) -> None:
    response = preflight(client, EVIL, **{"Access-Control-Request-Private-Network": "true"})
    assert_error(response, 403, "origin_not_allowed")
    assert "access-control-allow-private-network" not in response.headers
    assert "access-control-allow-origin" not in response.headers


def test_websocket_from_a_foreign_origin_is_refused_even_with_a_ticket(client: TestClient) -> None:
    ticket = client.post("/v1/events/tickets", headers=KIOSK).json()["ticket"]
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(f"{WS_URL}?ticket={ticket}", headers={"Origin": EVIL}),
    ):
        pass
    assert (refused.value.code, refused.value.reason) == (1008, "origin_not_allowed")


def test_websocket_from_a_configured_origin_is_accepted(client: TestClient, stack: Stack) -> None:
    ticket = client.post("/v1/events/tickets", headers=KIOSK).json()["ticket"]
    with client.websocket_connect(f"{WS_URL}?ticket={ticket}", headers={"Origin": HIS_ORIGIN}) as ws:
        assert stack.services.hub.subscribers == 1  # accepted and subscribed, not closed with 1008
        ws.close()


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({"Host": "evil.example"}, None, 421, "host_not_allowed"),
        ({"Origin": EVIL}, None, 403, "origin_not_allowed"),
        ({"Content-Length": "999999999"}, b"{}", 413, "payload_too_large"),
    ],
)
def test_guard_refusals_look_like_every_other_error(
    client: TestClient, headers: dict[str, str], body: bytes | None, status: int, code: str
) -> None:
    """The guard answers before FastAPI does, with the very bytes error_response makes for the code (the
    same JSON layout, content type and length as a 401 from a handler)."""
    response = client.request("POST" if body else "GET", IDENTITY, headers={**HIS, **headers}, content=body)
    error = assert_error(response, status, code)
    expected = error_response(code, error["message"], error["details"])
    assert response.content == expected.body
    assert response.headers["content-type"] == expected.headers["content-type"]
    handler_error = client.get(IDENTITY)  # 401 from the API's own handlers
    assert handler_error.content.startswith(b'{"error":{"code":"unauthorized","message":')
    assert response.content.startswith(b'{"error":{"code":"' + code.encode() + b'","message":')
