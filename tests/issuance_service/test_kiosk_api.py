"""The kiosk daemon's ``POST /v1/issuance``: the applicant is the person on the ID card (``reader=idcard`` +
the placing's X-Card-Id), the card comes from the kiosk's dispenser, personalised by the issuance service
over the relay; ``issuance.progress`` events go to the issuing client only; failures are coded errors the
screen can act on; every issuance is audited with the masked number."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cardservice.api.routes.events import _visible
from cardservice.idcard import IdCardMonitor
from cardservice.idcard.testing import FakeIdCardReader
from cardservice.issuance import CardStatus
from simulators.idcard import load_card
from tests.api.conftest import (
    BASE_URL,
    KEYS,
    KIOSK,
    OTHER_KIOSK_KEY,
    Stack,
    StackFactory,
    assert_error,
    make_stack,
)
from tests.issuance_service.conftest import Kiosk, KioskFactory, Service

__all__ = ["make_stack"]

URL = "/v1/issuance"
PERSON = load_card("resident").person


@pytest.fixture
def kiosk_stack(make_stack: StackFactory, served: Service, make_kiosk: KioskFactory) -> tuple[Stack, Kiosk]:
    monitor = IdCardMonitor({"desk": FakeIdCardReader(PERSON)})
    monitor.poll_once("desk")
    stack = make_stack(idcard=monitor)
    kiosk = make_kiosk(served)
    stack.services.issuance = kiosk.relay
    return stack, kiosk


def _placed(client: TestClient) -> str:
    card_id: str = client.get("/v1/idcard", headers=KIOSK).json()["card_id"]
    return card_id


def test_a_card_issued_through_the_kiosk_api(kiosk_stack: tuple[Stack, Kiosk], served: Service) -> None:
    stack, kiosk = kiosk_stack
    events: list[dict[str, Any]] = []
    publish = stack.services.hub.publish

    def recorded(event: dict[str, Any]) -> None:
        events.append(event)
        publish(event)

    stack.services.hub.publish = recorded  # type: ignore[method-assign]
    with TestClient(stack.app, base_url=BASE_URL) as client:
        card_id = _placed(client)
        body = {"reader": "idcard", "phone": "13800000009", "consent": True}
        response = client.post(URL, json=body, headers={**KIOSK, "X-Card-Id": card_id})
        assert response.status_code == 200, response.text
        issued = response.json()
        assert issued["status"] == "active"
        assert issued["card"] == "1101************98"
        assert PERSON.id_number not in response.text

        record = served.registry.live_card(PERSON.id_number)
        assert record is not None
        assert record.status is CardStatus.ACTIVE
        assert record.issuance_serial == issued["issuance_serial"]
        progress = [e for e in events if e["type"] == "issuance.progress"]
        assert [e["stage"] for e in progress] == ["dispensing", "writing", "verifying", "presenting"]
        assert {e["client"] for e in progress} == {"kiosk-1"}
        other = KEYS[OTHER_KIOSK_KEY]
        assert all(_visible(stack.services, KEYS["csk_kiosk"], e) for e in progress)
        assert not any(_visible(stack.services, other, e) for e in progress)
        audited = [c for c in stack.audit_calls if c["action"] == "issuance.issue"]
        assert [(c["result"], c["card"], c["target"]) for c in audited] == [
            ("active", "1101************98", issued["issuance_serial"])
        ]

        # the same person again: refused, nothing dispensed
        again = client.post(URL, json=body, headers={**KIOSK, "X-Card-Id": card_id})
        error = assert_error(again, 409, "issuance_has_card")
        assert error["message_zh"] == "您已有居民健康卡，无需重复办理"
        assert len(kiosk.relay.ops("dispense")) == 1

        # another ID card placed since the screen read it
        assert_error(
            client.post(URL, json=body, headers={**KIOSK, "X-Card-Id": "i_other"}), 409, "card_changed"
        )
        # no consent: refused by the document, before anything
        refused = client.post(URL, json={**body, "consent": False}, headers=KIOSK)
        assert_error(refused, 422, "invalid_request")


def test_without_issuance_configured_the_route_answers_503(make_stack: StackFactory) -> None:
    stack = make_stack()
    with TestClient(stack.app, base_url=BASE_URL) as client:
        response = client.post(URL, json={"phone": "13800000009", "consent": True}, headers=KIOSK)
        assert_error(response, 503, "issuance_unavailable")


def test_an_id_card_without_an_18_character_number_is_refused_clearly(
    make_stack: StackFactory, served: Service, make_kiosk: KioskFactory
) -> None:
    """The 15-character foreign permanent residence card (外国人永久居留证, before 2023): no card is issued to
    it, and the hospital's services do not take it — a coded refusal, not a server error."""
    monitor = IdCardMonitor({"desk": FakeIdCardReader(load_card("foreign-permanent").person)})
    monitor.poll_once("desk")
    stack = make_stack(idcard=monitor)
    kiosk = make_kiosk(served)
    stack.services.issuance = kiosk.relay
    with TestClient(stack.app, base_url=BASE_URL) as client:
        headers = {**KIOSK, "X-Card-Id": _placed(client)}
        body = {"reader": "idcard", "phone": "13800000009", "consent": True}
        assert_error(client.post(URL, json=body, headers=headers), 422, "issuance_invalid_person")
        assert kiosk.relay.ops("dispense") == []
        record = {"birth_certificate": "O110000001"}
        stack.services.his = object()  # type: ignore[assignment]  # refused before the HIS is asked
        assert_error(
            client.post(f"{URL}/birth-record", json=record, headers=headers), 422, "idcard_unsupported"
        )
