"""A kiosk's hospital services as a new HIS developer meets them: ``cardservice serve --demo`` (pcscd +
vpcd, the virtual card inserted, the embedded HIS), driven through the HTTP API only."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from tests.healthcard.shared import DEMO
from tests.pcsc.test_daemon_pcsc import Daemon, daemon

__all__ = ["daemon"]

pytestmark = pytest.mark.pcsc

MASKED = DEMO["DDF1/EF05"]["card_number"][:4] + "*" * 12 + DEMO["DDF1/EF05"]["card_number"][-2:]


def _a_slot_tomorrow(client: Any) -> dict[str, Any]:
    departments = client.get("/v1/registration/departments").json()["departments"]
    internal = next(d for d in departments if d["name"] == "内科")
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8, days=1)).date().isoformat()
    slots = client.get(
        "/v1/registration/slots",
        params={"department": internal["id"], "date_from": tomorrow, "date_to": tomorrow},
    ).json()["slots"]
    return next(s for s in slots if s["remaining"] > 0 and s["doctor_id"])


def test_book_a_slot_for_the_inserted_card(daemon: Daemon) -> None:
    with daemon.client() as client:
        slot = _a_slot_tomorrow(client)
        booked = client.post(
            "/v1/registration/bookings",
            json={"reader": "default", "slot_id": slot["id"]},
            headers={"Idempotency-Key": "e2e-book-1"},
        )
        assert booked.status_code == 201, booked.text
        registration = booked.json()
        assert registration["patient"] == MASKED
        assert registration["department_name"] == "内科"
        assert registration["fee_fen"] == slot["fee_fen"]
        again = client.post(
            "/v1/registration/bookings",
            json={"reader": "default", "slot_id": slot["id"]},
            headers={"Idempotency-Key": "e2e-book-1"},
        )
        assert again.json() == registration
    audit = daemon.cli("audit", "show", "--action", "registration.book", "--json")
    entries = [e for e in json.loads(audit.stdout) if e["result"] == "ok"]
    assert len(entries) == 2
    assert {e["card"] for e in entries} == {MASKED}
