"""API keys and scopes: kiosk < his < admin; a key in ``Authorization: Bearer`` or ``X-API-Key``."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cardservice.access import ApiKeys, Scope
from cardservice.api import Services, create_app
from cardservice.readers import InProcessBackend, ReaderManager, load_profiles
from cardservice.store import open_database
from tests.api.conftest import ADMIN, ADMIN_KEY, BASE_URL, HIS, HIS_KEY, KIOSK, KIOSK_KEY, assert_error
from tests.virtualcards import wait_for

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


def test_a_locked_database_never_stalls_the_event_loop(tmp_path: Path) -> None:
    """Another process holds SQLite's write lock (a card-issuer batch, `cardservice token` beside the
    daemon): a request with a key this process has not seen yet looks it up and notes its last use — off
    the event loop — while /v1/health, on the loop, keeps answering at once."""
    database = open_database(f"sqlite:///{tmp_path / 'keys.db'}")
    keys = ApiKeys(database)
    _, token = keys.create("kiosk-9", [Scope.KIOSK], created_by="test")
    manager = ReaderManager(InProcessBackend({}), bindings=[], profiles=load_profiles())
    services = Services(manager=manager, authenticate=keys.authenticate, audit=lambda **_: None,
                        authenticate_cached=keys.cached)  # fmt: skip
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_WRITE_LOCK, str(tmp_path / "keys.db")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with TestClient(create_app(services), base_url=BASE_URL) as client:
            slow = threading.Thread(target=lambda: client.get("/v1/readers", headers={"X-API-Key": token}))
            slow.start()
            # The look-up is done once the key is cached; its last-use write (a write lock) follows it.
            wait_for(lambda: keys.cached(token)[0], 10, "the key's look-up")
            started = time.perf_counter()
            assert client.get("/v1/health").status_code == 200
            took = time.perf_counter() - started
            slow.join(20)
        assert took < 0.1, f"/v1/health took {took:.3f} s while the database was locked"
    finally:
        holder.kill()
        holder.communicate()
        keys.close()
        database.close()


_HOLD_WRITE_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(4)
"""
