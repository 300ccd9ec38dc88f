"""API keys and scopes: kiosk < his < admin; a key in ``Authorization: Bearer`` or ``X-API-Key``."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ADMIN, ADMIN_KEY, HIS, HIS_KEY, KIOSK, KIOSK_KEY, assert_error

IDENTITY = "/v1/readers/default/card/identity"
HEALTH = "/v1/readers/default/card/health"


def test_health_needs_no_key(client: TestClient) -> None:
    response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["cards"] == 1


def test_no_key_is_unauthorized(client: TestClient) -> None:
    assert_error(client.get("/v1/readers"), 401, "unauthorized")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "csk_unknown"},
        {"Authorization": "Bearer csk_unknown"},
        {"Authorization": f"Basic {KIOSK_KEY}"},  # not a bearer token
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"X-API-Key": " "},
    ],
)
def test_malformed_or_unknown_key_is_unauthorized(client: TestClient, headers: dict[str, str]) -> None:
    assert_error(client.get("/v1/readers", headers=headers), 401, "unauthorized")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": KIOSK_KEY},
        {"Authorization": f"Bearer {KIOSK_KEY}"},
        {"authorization": f"bearer {KIOSK_KEY}"},
    ],
)
def test_both_key_headers_work(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/v1/readers", headers=headers)
    assert response.status_code == 200
    assert [r["state"] for r in response.json()["readers"] if r["role"] == "card"] == ["ready"]


def test_kiosk_key_on_a_his_endpoint_is_forbidden_and_says_what_is_needed(client: TestClient) -> None:
    error = assert_error(client.get(HEALTH, headers=KIOSK), 403, "forbidden")
    assert error["details"] == {"needed": "his"}


def test_his_key_is_not_admin(client: TestClient) -> None:
    error = assert_error(client.get("/metrics", headers=HIS), 403, "forbidden")
    assert error["details"] == {"needed": "admin"}


@pytest.mark.parametrize(
    "path", ["/v1/readers", "/v1/sams", "/v1/readers/default", IDENTITY, HEALTH, "/metrics"]
)
def test_admin_key_works_everywhere(client: TestClient, path: str) -> None:
    assert client.get(path, headers=ADMIN).status_code == 200
    assert client.get(path, headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 200


def test_his_key_includes_kiosk(client: TestClient) -> None:
    assert client.get(IDENTITY, headers=HIS).status_code == 200
    assert (
        client.post("/v1/events/tickets", headers={"Authorization": f"Bearer {HIS_KEY}"}).status_code == 200
    )
