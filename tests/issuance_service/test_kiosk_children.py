"""The kiosk daemon's child routes: ``POST /v1/issuance/child`` (the guardian's ID card on the reader, the
child's birth certificate in the body) and, later, ``PUT /v1/issuance/reader/{reader}/id-number`` with the
child's card in the daemon's card reader — the service records the number, the daemon writes DF01/EF08 with
its PSAM, and the card then reads with the ID number as its document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cardservice.healthcard import HealthCardSession
from cardservice.idcard import IdCardMonitor
from cardservice.idcard.testing import FakeIdCardReader
from cardservice.issuance import ID_CARD_TYPE
from simulators.cardos import load_card
from simulators.idcard import load_card as load_id_card
from tests.api.conftest import (
    BASE_URL,
    CARD_READER,
    KIOSK,
    READER,
    SAM_READER,
    Stack,
    StackFactory,
    assert_error,
    make_stack,
)
from tests.issuance.test_batch import _Card
from tests.issuance_service.conftest import Kiosk, KioskFactory, Service
from tests.issuance_service.test_newborn import BORN, CERTIFICATE, id_number_of
from tests.virtualcards import make_card

__all__ = ["make_stack"]

GUARDIAN = load_id_card("resident").person
BODY = {
    "reader": "idcard", "phone": "13800000009", "consent": True,
    "child": {"birth_certificate": CERTIFICATE, "name": "李小宝", "sex": "2", "birth_date": BORN.isoformat(),
              "relation": "52"},
}  # fmt: skip


@pytest.fixture
def kiosk_stack(
    make_stack: StackFactory, served: Service, make_kiosk: KioskFactory, tmp_path: Any
) -> tuple[Stack, Kiosk]:
    monitor = IdCardMonitor({"desk": FakeIdCardReader(GUARDIAN)})
    monitor.poll_once("desk")
    stack = make_stack(
        idcard=monitor, cards={CARD_READER: None, SAM_READER: make_card(tmp_path, "sam")}, wait=()
    )
    kiosk = make_kiosk(served)
    stack.services.issuance = kiosk.relay
    return stack, kiosk


def _placed(client: TestClient) -> str:
    card_id: str = client.get("/v1/idcard", headers=KIOSK).json()["card_id"]
    return card_id


def test_a_childs_card_then_its_id_number(kiosk_stack: tuple[Stack, Kiosk], served: Service) -> None:
    stack, kiosk = kiosk_stack
    with TestClient(stack.app, base_url=BASE_URL) as client:
        placed = _placed(client)
        response = client.post("/v1/issuance/child", json=BODY, headers={**KIOSK, "X-Card-Id": placed})
        assert response.status_code == 200, response.text
        issued = response.json()
        assert issued["card"] == "O110****01"
        record = served.registry.live_card(CERTIFICATE)
        assert record is not None
        assert record.guardian_number == GUARDIAN.id_number
        audited = [c for c in stack.audit_calls if c["action"] == "issuance.issue"]
        assert [(c["result"], c["card"]) for c in audited] == [("active", "O110****01")]

        again = client.post("/v1/issuance/child", json=BODY, headers={**KIOSK, "X-Card-Id": placed})
        assert assert_error(again, 409, "issuance_has_card")["message_zh"].startswith("这个孩子")

        # months later: the child's card in the kiosk's reader, the guardian's ID card on the ID-card reader
        stack.backend.insert(CARD_READER, load_card(kiosk.machine.taken[0]))
        ready = stack.wait_state("ready")
        url = f"/v1/issuance/reader/{READER}/id-number"
        number = id_number_of(BORN, sex="2")
        headers = {**KIOSK, "X-Card-Id": ready.card_id}
        body = {"id_number": number, "guardian_card_id": placed}

        wrong = id_number_of(BORN, sex="1")
        assert_error(client.put(url, json={**body, "id_number": wrong}, headers=headers), 422,
                     "issuance_invalid_id_number")  # fmt: skip
        assert_error(client.put(url, json={**body, "guardian_card_id": "i_other"}, headers=headers), 409,
                     "card_changed")  # fmt: skip
        assert served.registry.live_card(number) is None  # nothing recorded by the refusals

        done = client.put(url, json=body, headers=headers)
        assert done.status_code == 200, done.text
        assert done.json() == {"card": "O110****01", "id_number": number[:4] + "*" * 12 + number[-2:],
                               "written": "DDF1/DF01/EF08"}  # fmt: skip
        assert number not in done.text
        assert client.put(url, json=body, headers=headers).status_code == 200  # repeated: harmless
        recorded = served.registry.live_card(number)
        assert recorded is not None
        assert recorded.id == record.id
        audited = [c for c in stack.audit_calls if c["action"] == "issuance.id_number"]
        assert [c["result"] for c in audited] == ["issuance_invalid_id_number", "ok", "ok"]
        assert all(number not in json.dumps(c, default=str) for c in audited)

    # the chip: DF01/EF08 holds the ID number now; KH stays the certificate's (EF05/EF06 are never rewritten)
    card = _Card(load_card(kiosk.machine.taken[0]))
    contents = HealthCardSession(card, served.service.setup.sam).read_all()
    documents = contents["DDF1/DF01/EF08"]
    assert (documents.document_type, documents.document_number) == (ID_CARD_TYPE, number)  # type: ignore[attr-defined]
    assert contents["DDF1/EF05"].card_number == CERTIFICATE  # type: ignore[attr-defined]


def _png(width: int = 480, height: int = 640) -> bytes:
    """A camera-sized picture, as a kiosk page sends it (PNG: the daemon makes the card's JPEG)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 90)).save(out, "PNG")
    return out.getvalue()


def test_the_childs_photo_fitted_to_the_card_and_a_picture_that_is_none_refused(
    kiosk_stack: tuple[Stack, Kiosk], served: Service
) -> None:
    import base64

    stack, kiosk = kiosk_stack
    with TestClient(stack.app, base_url=BASE_URL) as client:
        placed = _placed(client)
        headers = {**KIOSK, "X-Card-Id": placed}
        garbage = base64.b64encode(b"\x89PNG not really").decode()
        refused = client.post("/v1/issuance/child", json={**BODY, "photo": garbage}, headers=headers)
        assert_error(refused, 422, "invalid_data")
        assert kiosk.relay.ops("dispense") == []
        photo = base64.b64encode(_png()).decode()
        done = client.post("/v1/issuance/child", json={**BODY, "photo": photo}, headers=headers)
        assert done.status_code == 200, done.text
    card = _Card(load_card(kiosk.machine.taken[0]))
    stored = HealthCardSession(card, served.service.setup.sam).read_photo()
    assert stored is not None
    assert stored[:3] == b"\xff\xd8\xff"
    assert 0 < len(stored) <= 3072


def test_an_adults_card_takes_no_id_number(
    make_stack: StackFactory, served: Service, make_kiosk: KioskFactory
) -> None:
    monitor = IdCardMonitor({"desk": FakeIdCardReader(GUARDIAN)})
    monitor.poll_once("desk")
    stack = make_stack(idcard=monitor)  # the demo card: an adult's, with its ID number
    stack.services.issuance = make_kiosk(served).relay
    with TestClient(stack.app, base_url=BASE_URL) as client:
        ready = stack.reader()
        response = client.put(
            f"/v1/issuance/reader/{READER}/id-number", json={"id_number": id_number_of(BORN, sex="2")},
            headers={**KIOSK, "X-Card-Id": ready.card_id or ""},
        )  # fmt: skip
        assert_error(response, 409, "issuance_not_child_card")


def test_with_a_his_the_child_is_the_hospitals_birth_record_of_this_guardian(
    make_stack: StackFactory, served: Service, make_kiosk: KioskFactory, database: Any, tmp_path: Any
) -> None:
    from cardservice.his import EmbeddedHis
    from cardservice.store import HisBirthRow

    with database.session() as session:  # born here; the person on the ID card is the father
        session.add(HisBirthRow(birth_certificate=CERTIFICATE, name="李小宝", sex="2", birth_date=BORN,
                                father_number=GUARDIAN.id_number))  # fmt: skip
        session.add(HisBirthRow(birth_certificate="O110000002", name="别人家", sex="1", birth_date=BORN,
                                mother_number="650102199002142425"))  # fmt: skip
    monitor = IdCardMonitor({"desk": FakeIdCardReader(GUARDIAN)})
    monitor.poll_once("desk")
    stack = make_stack(idcard=monitor, his=EmbeddedHis(database), wait=(),
                       cards={CARD_READER: None, SAM_READER: make_card(tmp_path, "sam")})  # fmt: skip
    kiosk = make_kiosk(served)
    stack.services.issuance = kiosk.relay
    with TestClient(stack.app, base_url=BASE_URL) as client:
        headers = {**KIOSK, "X-Card-Id": _placed(client)}
        shown = client.post(
            "/v1/issuance/birth-record", json={"birth_certificate": "o110000001"}, headers=headers
        )
        assert shown.status_code == 200, shown.text
        child = shown.json()
        assert child == {**BODY["child"], "relation": "51", "ethnicity": None}  # type: ignore[dict-item]
        assert any(c["action"] == "his.birth_record" and c["card"] == "O110****01" for c in stack.audit_calls)

        other = client.post(
            "/v1/issuance/birth-record", json={"birth_certificate": "O110000002"}, headers=headers
        )
        assert_error(other, 404, "his_not_found")  # another family's child: as if unknown
        for wrong in ({"name": "李大宝"}, {"relation": "52"}, {"birth_certificate": "O110000002"}):
            body = {**BODY, "child": {**child, **wrong}}
            assert_error(client.post("/v1/issuance/child", json=body, headers=headers), 404, "his_not_found")
        assert kiosk.relay.ops("dispense") == []

        done = client.post("/v1/issuance/child", json={**BODY, "child": child}, headers=headers)
        assert done.status_code == 200, done.text
        record = served.registry.live_card(CERTIFICATE)
        assert record is not None
        assert record.guardian_number == GUARDIAN.id_number
