"""/v1/registration over the embedded HIS (SQLite and PostgreSQL): the patient is the card in the reader,
bookings are idempotent per client, HIS refusals keep the API's error shape, everything is audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cardservice.his import open_embedded_his
from cardservice.store import Database
from simulators.demo import demo_patient
from tests.api.conftest import BASE_URL, CARD_NUMBER, KIOSK, OTHER_KIOSK_KEY, StackFactory, assert_error
from tests.dbfixtures import database, database_url

__all__ = ["database", "database_url"]

MASKED = f"{CARD_NUMBER[:4]}{'*' * 12}{CARD_NUMBER[-2:]}"


@pytest.fixture
def client(make_stack: StackFactory, database: Database) -> Any:
    stack = make_stack(his=open_embedded_his(database, patient=demo_patient()))
    with TestClient(stack.app, base_url=BASE_URL) as test_client:
        test_client.stack = stack  # type: ignore[attr-defined]
        yield test_client


def _first_slot(client: TestClient) -> dict[str, Any]:
    departments = client.get("/v1/registration/departments", headers=KIOSK).json()["departments"]
    assert any(d["name"] == "内科" for d in departments)
    internal = next(d for d in departments if d["name"] == "内科")
    doctors = client.get(f"/v1/registration/departments/{internal['id']}/doctors", headers=KIOSK).json()
    assert doctors["doctors"]
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    slots = client.get(
        "/v1/registration/slots",
        params={"department": internal["id"], "date_from": tomorrow, "date_to": tomorrow},
        headers=KIOSK,
    ).json()["slots"]
    assert slots
    assert all(s["start"].startswith(tomorrow) or s["start"] > tomorrow for s in slots)
    return next(s for s in slots if s["remaining"] > 1)


def test_book_a_slot_for_the_card_in_the_reader_once_per_key(client: TestClient) -> None:
    slot = _first_slot(client)
    headers = {**KIOSK, "Idempotency-Key": "kiosk-3-0001"}
    booked = client.post("/v1/registration/bookings", json={"slot_id": slot["id"]}, headers=headers)
    assert booked.status_code == 201, booked.text
    body = booked.json()
    assert body["patient"] == MASKED  # the card holder, never a typed number
    assert (body["slot_id"], body["status"], body["fee_fen"]) == (slot["id"], "booked", slot["fee_fen"])
    assert body["queue_number"] >= 1
    again = client.post("/v1/registration/bookings", json={"slot_id": slot["id"]}, headers=headers)
    assert again.json()["id"] == body["id"]  # a retry books nothing new
    after = client.get(
        "/v1/registration/slots",
        params={"department": slot["department_id"], "date_from": slot["start"][:10],
                "date_to": slot["start"][:10]},
        headers=KIOSK,
    ).json()["slots"]  # fmt: skip
    assert next(s for s in after if s["id"] == slot["id"])["remaining"] == slot["remaining"] - 1

    cancelled = client.post(
        f"/v1/registration/bookings/{body['id']}/cancel", headers={**KIOSK, "Idempotency-Key": "c-1"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    twice = client.post(
        f"/v1/registration/bookings/{body['id']}/cancel", headers={**KIOSK, "Idempotency-Key": "c-2"}
    )
    assert_error(twice, 409, "already_cancelled")
    audit = [c for c in client.stack.audit_calls if c["action"].startswith("registration.")]  # type: ignore[attr-defined]
    assert [(c["action"], c["result"]) for c in audit] == [
        ("registration.book", "ok"),
        ("registration.book", "ok"),
        ("registration.cancel", "ok"),
        ("registration.cancel", "already_cancelled"),
    ]
    assert all(c["card"] == MASKED for c in audit)
    assert CARD_NUMBER not in repr(audit)


def test_keys_are_per_client_and_required(client: TestClient) -> None:
    slot = _first_slot(client)
    missing = client.post("/v1/registration/bookings", json={"slot_id": slot["id"]}, headers=KIOSK)
    assert_error(missing, 422, "invalid_request")
    bad = client.post("/v1/registration/bookings", json={"slot_id": slot["id"]},
                      headers={**KIOSK, "Idempotency-Key": "no spaces allowed"})  # fmt: skip
    assert_error(bad, 422, "invalid_request")
    first = client.post("/v1/registration/bookings", json={"slot_id": slot["id"]},
                        headers={**KIOSK, "Idempotency-Key": "k1"})  # fmt: skip
    assert first.status_code == 201
    other = client.post("/v1/registration/bookings", json={"slot_id": slot["id"]},
                        headers={"X-API-Key": OTHER_KIOSK_KEY, "Idempotency-Key": "k1"})  # fmt: skip
    # another kiosk's "k1" is another request: the HIS sees a second booking of the same patient
    assert other.status_code in (201, 409, 422), other.text
    assert other.json().get("id") != first.json()["id"]


def test_hostile_and_unknown_input_keeps_the_error_shape(client: TestClient) -> None:
    headers = {**KIOSK, "Idempotency-Key": "k2"}
    assert_error(client.post("/v1/registration/bookings", json={"slot_id": "NOPE"}, headers=headers),
                 404, "his_not_found")  # fmt: skip
    assert_error(client.post("/v1/registration/bookings", json={"slot_id": "x", "card_number": CARD_NUMBER},
                             headers=headers), 422, "invalid_request")  # fmt: skip
    assert_error(
        client.post("/v1/registration/bookings", content=b"{", headers=headers), 422, "invalid_request"
    )
    assert_error(client.get("/v1/registration/slots", params={"department": "NK", "date_from": "2026-13-01"},
                            headers=KIOSK), 422, "invalid_request")  # fmt: skip
    assert_error(client.get("/v1/registration/departments"), 401, "unauthorized")


def test_without_a_his_the_routes_say_so(make_stack: StackFactory) -> None:
    stack = make_stack()
    with TestClient(stack.app, base_url=BASE_URL) as test_client:
        assert_error(test_client.get("/v1/registration/departments", headers=KIOSK), 503, "his_unavailable")
