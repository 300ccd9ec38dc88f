"""/v1/idcard: the person on an ID card — masked for a kiosk, in full for the issuer scope only; 409 without
a card, 503 without a reader configured, every read audited with the masked number; and the whole way from
the simulator's pty through the serial driver, the monitor and the API with the full number never logged."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cardservice.api import RateLimiter
from cardservice.his import Patient, open_embedded_his
from cardservice.idcard import IdCardMonitor, IdCardReaderOffline, IdCardSamUnavailable, decode_text
from cardservice.idcard.testing import FakeIdCardReader
from cardservice.store import open_database
from drivers.idcard import SerialIdCardReader
from simulators.idcard import PtyReader, VirtualIdCardReader, load_card
from tests.api.conftest import ADMIN, BASE_URL, HIS, ISSUER, KIOSK, Stack, StackFactory, assert_error
from tests.idcard.samples import HMT_NUMBER, HMT_TEXT, RESIDENT_NUMBER, RESIDENT_TEXT
from tests.virtualcards import wait_for

URL = "/v1/idcard"
PHOTO = bytes(range(256)) * 4
FINGERPRINT = b"\x5a" * 512
RESIDENT = decode_text(RESIDENT_TEXT, photo_wlt=PHOTO, fingerprint=FINGERPRINT)
HMT = decode_text(HMT_TEXT, photo_wlt=PHOTO)


class IdCards:
    def __init__(self, stack: Stack, monitor: IdCardMonitor, *readers: FakeIdCardReader) -> None:
        self.stack, self.monitor = stack, monitor
        self.desk, self.window = readers

    def place(self, person: Any = RESIDENT) -> None:
        self.desk.place(person)
        self.monitor.poll_once("desk")

    def reads(self) -> list[dict[str, Any]]:
        return [call for call in self.stack.audit_calls if call.get("action") == "idcard.read"]


@pytest.fixture
def idcards(make_stack: StackFactory) -> IdCards:
    desk, window = FakeIdCardReader(with_fingerprint=True), FakeIdCardReader()
    stacks: list[Stack] = []  # the hub is the stack's, made after the monitor
    monitor = IdCardMonitor(
        {"desk": desk, "window": window}, on_event=lambda event: stacks[0].services.hub.publish(event)
    )
    stacks.append(make_stack(idcard=monitor))
    return IdCards(stacks[0], monitor, desk, window)


@pytest.fixture
def api(idcards: IdCards) -> Iterator[TestClient]:
    with TestClient(idcards.stack.app, base_url=BASE_URL) as client:
        yield client


def test_a_kiosk_gets_the_masked_person(api: TestClient, idcards: IdCards) -> None:
    idcards.place()
    response = api.get(URL, headers=KIOSK)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["masked"] is True
    assert body["reader"] == "desk"
    assert (body["card_type"], body["card_type_label"]) == ("resident", "居民身份证")
    assert (body["name"], body["sex_label"], body["ethnicity_label"]) == ("测试人", "男性", "汉族")
    assert body["id_number"] == "1101************98"
    assert body["address"] == "北京市东城区***"
    assert (body["birth_date"], body["birth_year"]) == (None, 2000)
    assert body["valid_to"] == "长期"
    assert body["photo_wlt_base64"] is None
    assert body["fingerprint_base64"] is None
    for secret in (RESIDENT_NUMBER, "20000101", "2000-01-01", "测试路1号"):
        assert secret not in response.text


def test_an_his_key_gets_the_masked_person_too(api: TestClient, idcards: IdCards) -> None:
    idcards.place()
    assert api.get(URL, headers=HIS).json()["masked"] is True
    assert_error(api.get(URL, params={"full": True}, headers=HIS), 403, "forbidden")
    assert_error(api.get(URL, params={"full": True}, headers=KIOSK), 403, "forbidden")


@pytest.mark.parametrize("key", [ISSUER, ADMIN], ids=["issuer", "admin"])
def test_the_issuer_scope_gets_the_full_record(
    api: TestClient, idcards: IdCards, key: dict[str, str]
) -> None:
    idcards.place()
    body = api.get(URL, params={"full": "true"}, headers=key).json()
    assert body["masked"] is False
    assert body["id_number"] == RESIDENT_NUMBER
    assert body["address"] == "北京市东城区测试路1号测试楼101室"
    assert body["birth_date"] == "2000-01-01"
    assert base64.b64decode(body["photo_wlt_base64"]) == PHOTO  # the WLT bytes as they came, not decoded
    assert base64.b64decode(body["fingerprint_base64"]) == FINGERPRINT


def test_a_permit_and_another_reader(api: TestClient, idcards: IdCards) -> None:
    idcards.window.place(HMT)
    idcards.monitor.poll_once("window")
    body = api.get(URL, params={"reader": "window"}, headers=KIOSK).json()
    assert body["card_type"] == "hmt_residence_permit"
    assert body["permit_number"] == "H000***01"
    assert HMT_NUMBER not in str(body)
    full = api.get(URL, params={"reader": "window", "full": True}, headers=ISSUER).json()
    assert (full["permit_number"], full["issue_count"], full["ethnicity"]) == ("H00000001", "01", None)
    assert_error(api.get(URL, headers=KIOSK), 409, "idcard_no_card")  # desk is empty


def test_409_without_a_card_and_after_it_was_taken_off(api: TestClient, idcards: IdCards) -> None:
    error = assert_error(api.get(URL, headers=KIOSK), 409, "idcard_no_card")
    assert error["message_zh"] == "请将身份证放在阅读器上"
    idcards.place()
    assert api.get(URL, headers=KIOSK).status_code == 200
    idcards.desk.remove()
    idcards.monitor.poll_once("desk")
    assert_error(api.get(URL, headers=KIOSK), 409, "idcard_no_card")


def test_503_without_an_id_card_reader(make_stack: StackFactory) -> None:
    with TestClient(make_stack().app, base_url=BASE_URL) as api:
        error = assert_error(api.get(URL, headers=KIOSK), 503, "idcard_unavailable")
        assert error["message_zh"] == "未配置身份证阅读器"
        assert_error(api.get(URL), 401, "unauthorized")  # the key first, then the 503


def test_an_unknown_reader_is_404(api: TestClient) -> None:
    assert_error(api.get(URL, params={"reader": "counter"}, headers=KIOSK), 404, "reader_not_found")


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (IdCardSamUnavailable("SAM status: SW3 60 SAM self-test failed"), 503, "idcard_sam_unavailable"),
        (IdCardReaderOffline("cannot open /dev/ttyUSB1"), 503, "idcard_reader_offline"),
    ],
)
def test_a_failing_reader_says_why(
    api: TestClient, idcards: IdCards, error: Exception, status: int, code: str
) -> None:
    idcards.place()
    idcards.desk.fail(error)  # type: ignore[arg-type]
    idcards.monitor.poll_once("desk")
    assert_error(api.get(URL, headers=KIOSK), status, code)
    assert idcards.reads()[-1]["result"] == code


def test_every_read_is_audited_with_the_masked_number_only(api: TestClient, idcards: IdCards) -> None:
    api.get(URL, headers=KIOSK)
    idcards.place()
    api.get(URL, headers=KIOSK)
    api.get(URL, params={"full": True}, headers=ISSUER)
    api.get(URL, params={"full": True}, headers=KIOSK)
    reads = idcards.reads()
    assert [(r["actor"], r["result"], r["card"]) for r in reads] == [
        ("kiosk-1", "idcard_no_card", None),
        ("kiosk-1", "ok", "1101************98"),
        ("issuer-1", "ok", "1101************98"),
        ("kiosk-1", "forbidden", None),
    ]
    assert reads[2]["detail"] == {"full": True, "card_type": "resident"}
    assert reads[1]["target"] == "desk"
    assert RESIDENT_NUMBER not in repr(idcards.stack.audit_calls)
    assert "测试人" not in repr(idcards.stack.audit_calls)


def test_reads_are_rate_limited(make_stack: StackFactory) -> None:
    desk = FakeIdCardReader(RESIDENT)
    monitor = IdCardMonitor({"desk": desk})
    monitor.poll_once("desk")
    stack = make_stack(idcard=monitor, limiter=RateLimiter(0.001, 1))
    with TestClient(stack.app, base_url=BASE_URL) as api:
        assert api.get(URL, headers=KIOSK).status_code == 200
        assert_error(api.get(URL, headers=KIOSK), 429, "rate_limited")


def test_the_monitors_events_reach_the_hub(api: TestClient, idcards: IdCards) -> None:
    idcards.place()
    idcards.desk.remove()
    idcards.monitor.poll_once("desk")
    hub = idcards.stack.services.hub
    wait_for(lambda: hub.counts.get("idcard.removed"), 5, "the removal event")
    assert hub.counts["idcard.placed"] == 1
    assert RESIDENT_NUMBER not in repr(list(hub._recent))


def test_the_document_lists_the_route_and_its_refusals(api: TestClient) -> None:
    operation = api.get("/openapi.json").json()["paths"][URL]["get"]
    assert {"409", "503", "429", "404", "403", "401"} <= set(operation["responses"])
    assert "idcard_no_card" in operation["responses"]["409"]["description"]
    assert "idcard_unavailable" in operation["responses"]["503"]["description"]


# -- the whole way, logged at DEBUG -------------------------------------------------------------------------


def test_the_whole_flow_never_logs_a_full_number(
    make_stack: StackFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Simulator on a pty → serial driver → monitor thread → hub → API (kiosk, issuer) → card taken off,
    with a read failure and a bad checksum on the way, everything logged at DEBUG."""
    for name in ("", "cardservice", "drivers", "simulators"):
        caplog.set_level(logging.DEBUG, logger=name or None)
    card = load_card("resident")
    number = card.person.id_number
    device = VirtualIdCardReader()
    with PtyReader(device, link=tmp_path / "idcard"):
        driver = SerialIdCardReader(str(tmp_path / "idcard"), timeout=0.5, fingerprint=True)
        events: list[dict[str, Any]] = []
        monitor = IdCardMonitor({"desk": driver}, on_event=events.append, interval=0.02, retry=0.05)
        stack = make_stack(idcard=monitor)
        with TestClient(stack.app, base_url=BASE_URL) as api, monitor:
            device.set_fault("read_fail", times=1)
            device.place(card)
            wait_for(lambda: any(e["type"] == "idcard.placed" for e in events), 10, "the card to be read")
            device.set_fault("bad_chk", times=1)  # one probe's reply broken: the person is dropped ...
            wait_for(lambda: any(e["type"] == "idcard.removed" for e in events), 10, "the broken reply")
            device.place(card)  # ... and read again once the card is put back
            wait_for(lambda: sum(e["type"] == "idcard.placed" for e in events) == 2, 10, "the second read")
            masked = api.get(URL, headers=KIOSK)
            full = api.get(URL, params={"full": True}, headers=ISSUER)
            device.remove()
            wait_for(lambda: sum(e["type"] == "idcard.removed" for e in events) == 2, 10, "the removal")
            gone = api.get(URL, headers=KIOSK)
    assert masked.json()["id_number"] == card.person.masked_number
    assert full.json()["id_number"] == number
    assert base64.b64decode(full.json()["fingerprint_base64"]) == card.person.fingerprint
    assert gone.status_code == 409
    assert [e["type"] for e in events] == [
        "idcard.error", "idcard.placed", "idcard.removed", "idcard.error", "idcard.placed", "idcard.removed",
    ]  # fmt: skip
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert "ID card placed on desk: resident 1101************98" in logged
    assert "SW3" in logged  # the driver's debug lines are there, and the errors
    assert number not in logged
    assert number not in repr(events) + repr(stack.audit_calls)


def test_the_person_on_the_id_card_is_the_patient_of_reader_idcard(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    """A patient without a health card: bills and bookings by the ID card lying on the reader, the
    placing named by X-Card-Id as a health card's card_id is."""
    database = open_database(f"sqlite:///{tmp_path / 'his.db'}")
    desk = FakeIdCardReader()
    monitor = IdCardMonitor({"desk": desk})
    stack = make_stack(
        his=open_embedded_his(database, patient=Patient(RESIDENT_NUMBER, "测试人")), idcard=monitor
    )
    try:
        with TestClient(stack.app, base_url=BASE_URL) as client:
            bills = "/v1/payments/bills"
            assert_error(client.get(bills, params={"reader": "idcard"}, headers=KIOSK), 409, "idcard_no_card")
            desk.place(RESIDENT)
            monitor.poll_once("desk")
            card_id = client.get(URL, headers=KIOSK).json()["card_id"]
            mine = {**KIOSK, "X-Card-Id": card_id}
            answer = client.get(bills, params={"reader": "idcard"}, headers=mine)
            assert answer.status_code == 200, answer.text
            assert answer.json()["card"] == "1101************98"
            assert answer.json()["bills"]
            bookings = client.get("/v1/registration/bookings", params={"reader": "idcard:desk"}, headers=mine)
            assert bookings.status_code == 200, bookings.text
            desk.remove()
            monitor.poll_once("desk")
            desk.place(RESIDENT)  # the same card again is another placing: the old card_id is refused
            monitor.poll_once("desk")
            assert_error(client.get(bills, params={"reader": "idcard"}, headers=mine), 409, "card_changed")
            assert stack.audit_calls
            assert all(RESIDENT_NUMBER not in str(call) for call in stack.audit_calls)  # masked only
    finally:
        database.close()
