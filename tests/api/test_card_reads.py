"""Reading the card: identity (masked for kiosk keys), the card's life in the reader (removal,
re-insertion, never inserted), the blacklist, a card that cannot prove it is genuine, and the items view
keyed by the standard's abbreviations."""

from __future__ import annotations

import base64
from pathlib import Path

from fastapi.testclient import TestClient

from cardservice.healthcard import ApduSam, mask_id_number
from cardservice.transport import InProcessTransport
from tests.api.conftest import (
    BASE_URL,
    CARD_NUMBER,
    CARD_READER,
    HIS,
    HOLDER,
    ID_NUMBER,
    KIOSK,
    READER,
    SAM_READER,
    Stack,
    StackFactory,
    assert_error,
)
from tests.healthcard.shared import CloneCard
from tests.virtualcards import RecordingCard, make_card

IDENTITY = "/v1/readers/default/card/identity"
MASKED_ID = mask_id_number(ID_NUMBER)
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 3 + b"\xff\xd9"  # JPEG markers around filler


def test_kiosk_key_gets_masked_numbers(client: TestClient) -> None:
    body = client.get(IDENTITY, headers=KIOSK).json()
    assert body["masked"] is True
    assert body["id_number"] == MASKED_ID != ID_NUMBER
    assert body["card_number"] == mask_id_number(CARD_NUMBER)
    assert body["files"]["DDF1/EF06"]["SFZH"] == MASKED_ID
    assert body["files"]["DDF1/EF05"]["KH"] == mask_id_number(CARD_NUMBER)
    assert body["files"]["DDF1/EF08"]["BRDH1"] == mask_id_number(HOLDER["DDF1/EF08"]["phone1"])


def test_kiosk_response_holds_no_full_number_anywhere(client: TestClient) -> None:
    text = client.get(IDENTITY, headers=KIOSK).text
    assert ID_NUMBER not in text
    assert HOLDER["DDF1/EF08"]["phone1"] not in text


def test_the_kiosk_view_cannot_be_completed_into_the_id_number(client: TestClient) -> None:
    """Beside the masked number (first 4, last 2), the exact birth date (digits 7-14) and the city code
    (digits 1-6) would leave about nine candidates: a kiosk gets the birth year and age only, no codes."""
    response = client.get(IDENTITY, headers=KIOSK)
    body = response.json()
    born = HOLDER["DDF1/EF06"]["birth_date"]  # 1985-03-07
    assert body["birth_date"] is None
    assert body["birth_year"] == int(born[:4])
    assert isinstance(body["age"], int)
    assert 0 < body["age"] < 130
    assert body["files"]["DDF1/EF06"]["CSRQ"] == born[:4]
    issuer = body["files"]["DDF1/EF05"]
    assert {"YYCSDM", "FKJGDM", "AQM"}.isdisjoint(issuer)
    for narrowing in (
        born,
        born.replace("-", ""),
        ID_NUMBER[:6],
        ID_NUMBER[6:14],
        HOLDER["DDF1/EF05"]["issuer_code"],
    ):
        assert narrowing not in response.text, narrowing
    his = client.get(IDENTITY, headers=HIS).json()
    assert his["birth_date"] == born
    assert his["files"]["DDF1/EF05"]["YYCSDM"] == HOLDER["DDF1/EF05"]["city_code"]


def test_his_key_gets_the_numbers_in_full(client: TestClient) -> None:
    body = client.get(IDENTITY, headers=HIS).json()
    assert body["masked"] is False
    assert body["id_number"] == ID_NUMBER
    assert body["card_number"] == CARD_NUMBER
    assert body["files"]["DDF1/EF06"]["SFZH"] == ID_NUMBER
    assert body["files"]["DDF1/EF05"]["KH"] == CARD_NUMBER


def test_identity_matches_the_demo_holder(client: TestClient) -> None:
    body = client.get(IDENTITY, headers=HIS).json()
    holder = HOLDER["DDF1/EF06"]
    assert (body["name"], body["sex"], body["sex_label"]) == (holder["name"], "1", "男性")
    assert (body["ethnicity"], body["ethnicity_label"]) == (holder["ethnicity"], "汉族")
    assert body["birth_date"] == holder["birth_date"]
    assert body["reader"] == READER
    assert body["files"]["DDF1/EF05"]["FKJGMC"] == HOLDER["DDF1/EF05"]["issuer_name"]
    assert "DDF1/EF07" not in body["files"]  # the photo only with ?photo=true
    assert body["photo_jpeg_base64"] is None


def test_identity_read_is_audited_with_the_client_and_a_masked_card(client: TestClient, stack: Stack) -> None:
    client.get(IDENTITY, headers=KIOSK)
    client.get(IDENTITY, headers=HIS)
    reads = [call for call in stack.audit_calls if call["action"] == "card.read_identity"]
    assert [(call["actor"], call["result"], call["card"], call["target"]) for call in reads] == [
        ("kiosk-1", "ok", mask_id_number(CARD_NUMBER), READER),
        ("his-1", "ok", mask_id_number(CARD_NUMBER), READER),
    ]
    assert ID_NUMBER not in repr(stack.audit_calls)
    assert HOLDER["DDF1/EF06"]["name"] not in repr(stack.audit_calls)


def test_card_view_has_no_personal_data(client: TestClient) -> None:
    response = client.get("/v1/readers/default/card", headers=KIOSK)
    body = response.json()
    assert body["card_number"] == mask_id_number(CARD_NUMBER)
    assert body["card_id"].startswith("c_")
    assert body["profile"]
    assert ID_NUMBER not in response.text
    assert HOLDER["DDF1/EF06"]["name"] not in response.text


def test_removed_card_answers_card_removed(client: TestClient, stack: Stack) -> None:
    stack.backend.remove(CARD_READER)
    stack.wait_state("empty")
    error = assert_error(client.get(IDENTITY, headers=KIOSK), 409, "card_removed")
    assert error["details"] == {"reader": READER}
    assert_error(client.get("/v1/readers/default/card/health", headers=HIS), 409, "card_removed")
    reader = client.get(f"/v1/readers/{READER}", headers=KIOSK).json()
    assert (reader["card_present"], reader["state"], reader["card_id"]) == (False, "empty", None)


def test_removal_is_audited_without_a_card(client: TestClient, stack: Stack) -> None:
    stack.backend.remove(CARD_READER)
    stack.wait_state("empty")
    client.get(IDENTITY, headers=KIOSK)
    assert stack.audit_calls[-1]["action"] == "card.read_identity"
    assert stack.audit_calls[-1]["result"] == "card_removed"


def test_reader_empty_since_start_answers_no_card(make_stack: StackFactory) -> None:
    stack = make_stack(cards={CARD_READER: None, SAM_READER: None}, wait=())
    with TestClient(stack.app, base_url=BASE_URL) as client:
        stack.wait_state("empty")
        assert_error(client.get(IDENTITY, headers=KIOSK), 409, "no_card")
        assert_error(client.get("/v1/readers/default/card", headers=KIOSK), 409, "no_card")


def test_reinserted_card_gets_a_new_card_id(client: TestClient, stack: Stack) -> None:
    first = client.get("/v1/readers/default/card", headers=KIOSK).json()["card_id"]
    stack.backend.remove(CARD_READER)
    stack.wait_state("empty")
    stack.backend.insert(CARD_READER)
    stack.wait_state("ready", other_than=first)
    body = client.get(IDENTITY, headers=KIOSK).json()
    assert body["card_id"] != first
    assert body["card_id"].startswith("c_")
    assert body["name"] == HOLDER["DDF1/EF06"]["name"]


def test_card_inserted_into_an_empty_reader_is_read(make_stack: StackFactory) -> None:
    stack = make_stack(cards={CARD_READER: None, SAM_READER: None}, wait=())
    stack.backend.insert(SAM_READER, make_card(stack.folder, "sam"))
    stack.backend.insert(CARD_READER, make_card(stack.folder, "health"))
    stack.wait_state("ready")
    with TestClient(stack.app, base_url=BASE_URL) as client:
        assert client.get(IDENTITY, headers=KIOSK).json()["name"] == HOLDER["DDF1/EF06"]["name"]


def test_blacklisted_card_is_refused_with_the_reason(make_stack: StackFactory) -> None:
    numbers: list[tuple[str, str | None]] = []

    def blacklist(number: str, serial: str | None) -> str:
        numbers.append((number, serial))
        return "reported lost"

    stack = make_stack(blacklist=blacklist, wait=())
    info = stack.wait_state("refused")
    assert info.problem == {
        "code": "card_blacklisted",
        "message": "this card is blacklisted",
        "reason": "reported lost",
    }
    assert numbers == [(CARD_NUMBER, HOLDER["DDF1/EF05"]["issuance_serial"])]
    with TestClient(stack.app, base_url=BASE_URL) as client:
        error = assert_error(client.get(IDENTITY, headers=HIS), 403, "card_blacklisted")
        assert error["details"] == {"reason": "reported lost"}
        assert_error(client.get("/v1/readers/default/card/health", headers=HIS), 403, "card_blacklisted")
        reader = client.get(f"/v1/readers/{READER}", headers=KIOSK).json()
        assert reader["state"] == "refused"
        assert reader["problem"] == {
            "code": "card_blacklisted",
            "message": "this card is blacklisted",
            "details": {"reason": "reported lost"},
        }


def test_items_of_an_interface_function(client: TestClient) -> None:
    response = client.get(
        "/v1/readers/default/card/items", params={"function": "iR_DDF1EF06Info"}, headers=HIS
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert list(items) == ["XM", "XB", "MZ", "CSRQ", "SFZH"]
    assert items["XM"] == {
        "value": HOLDER["DDF1/EF06"]["name"],
        "label": "姓名",
        "file": "DDF1/EF06",
        "functions": ["iR_DDF1EF06Info", "iW_DDF1EF06Info"],
    }
    assert items["SFZH"]["value"] == ID_NUMBER
    assert all(item["label"] and item["file"] == "DDF1/EF06" for item in items.values())


def test_items_filtered_by_abbreviation(client: TestClient) -> None:
    response = client.get("/v1/readers/default/card/items", params={"item": ["XM", "KH"]}, headers=HIS)
    items = response.json()["items"]
    assert set(items) == {"XM", "KH"}
    assert items["KH"]["value"] == CARD_NUMBER


def test_items_of_an_unknown_function_are_invalid(client: TestClient) -> None:
    response = client.get("/v1/readers/default/card/items", params={"function": "iR_Nothing"}, headers=HIS)
    assert_error(response, 422, "invalid_request")


def test_health_of_chosen_files(client: TestClient) -> None:
    response = client.get(
        "/v1/readers/default/card/health", params={"files": ["DDF1/DF02/EF07", "DDF1/EF06"]}, headers=HIS
    )
    files = response.json()["files"]
    assert set(files) == {"DDF1/DF02/EF07", "DDF1/EF06"}
    assert [a["GMWZMC"] for a in files["DDF1/DF02/EF07"]] == [
        a["substance"] for a in HOLDER["DDF1/DF02/EF07"]
    ]


def test_health_of_a_file_that_does_not_exist_is_invalid(client: TestClient) -> None:
    response = client.get("/v1/readers/default/card/health", params={"files": ["DDF1/EF99"]}, headers=HIS)
    assert_error(response, 422, "invalid_request")


def test_photo_is_read_on_request_and_audited(make_stack: StackFactory, tmp_path: Path) -> None:
    holder = {**HOLDER, "DDF1/EF07": {"image_base64": base64.b64encode(PHOTO).decode("ascii")}}
    card = make_card(tmp_path, "health", holder=holder)
    stack = make_stack(cards={CARD_READER: card, SAM_READER: make_card(tmp_path, "sam")})
    with TestClient(stack.app, base_url=BASE_URL) as client:
        assert client.get(IDENTITY, headers=KIOSK).json()["photo_jpeg_base64"] is None
        body = client.get(IDENTITY, params={"photo": "true"}, headers=KIOSK).json()
    assert base64.b64decode(body["photo_jpeg_base64"]) == PHOTO
    assert body["id_number"] == MASKED_ID
    assert [c["action"] for c in stack.audit_calls if "actor" in c] == [
        "card.read_identity",
        "card.read_photo",
    ]


def test_slow_card_answers_card_timeout(make_stack: StackFactory, tmp_path: Path) -> None:
    slow = RecordingCard(make_card(tmp_path, "health"), READER, [])
    stack = make_stack(cards={CARD_READER: slow, SAM_READER: make_card(tmp_path, "sam")}, card_timeout=0.2)
    slow.delay = 0.05  # from now on: a health read takes seconds
    with TestClient(stack.app, base_url=BASE_URL) as client:
        error = assert_error(client.get("/v1/readers/default/card/health", headers=HIS), 504, "card_timeout")
        assert "0.2 s" in error["message"]
        slow.delay = 0.0
        assert client.get("/v1/readers/default/card/health", headers=HIS).status_code == 200
    results = [c["result"] for c in stack.audit_calls if c["action"] == "card.read_health"]
    assert results == ["card_timeout", "ok"]


def _psam(folder: Path) -> ApduSam:
    transport = InProcessTransport(make_card(folder, "sam"))
    transport.connect()
    return ApduSam(transport)


def test_the_demo_card_proves_it_is_genuine_before_it_is_served(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    card = RecordingCard(make_card(tmp_path, "health"), READER, [])
    stack = make_stack(cards={CARD_READER: card, SAM_READER: make_card(tmp_path, "sam")})
    assert card.instructions[0x88] == 1  # INTERNAL AUTHENTICATE, once, at insertion
    with TestClient(stack.app, base_url=BASE_URL) as client:
        assert client.get(IDENTITY, headers=HIS).json()["card_number"] == CARD_NUMBER


def test_a_copy_of_a_card_is_refused_as_not_genuine(make_stack: StackFactory, tmp_path: Path) -> None:
    """Security review, finding 1: an emulator that reports a victim's card number (every file copied, no
    keys) must not pay with the victim's prepaid balance nor print their lab reports."""
    clone = CloneCard.copy_of(make_card(tmp_path, "health"), _psam(tmp_path), guess=True)
    stack = make_stack(cards={CARD_READER: clone, SAM_READER: make_card(tmp_path, "sam")}, wait=())
    info = stack.wait_state("refused")
    assert info.problem is not None
    assert info.problem["code"] == "card_not_genuine"
    with TestClient(stack.app, base_url=BASE_URL) as client:
        response = client.get(IDENTITY, headers=HIS)
        assert_error(response, 403, "card_not_genuine")
        assert CARD_NUMBER not in response.text
        assert HOLDER["DDF1/EF06"]["name"] not in response.text
        assert_error(client.get("/v1/readers/default/card", headers=KIOSK), 403, "card_not_genuine")
        assert_error(client.get("/v1/readers/default/card/health", headers=HIS), 403, "card_not_genuine")
        reader = client.get(f"/v1/readers/{READER}", headers=KIOSK).json()
        assert (reader["state"], reader["problem"]["code"]) == ("refused", "card_not_genuine")
    inserts = [c for c in stack.audit_calls if c["action"] == "card.insert"]
    assert [(c["result"], c["card"]) for c in inserts] == [("card_not_genuine", mask_id_number(CARD_NUMBER))]
    reads = [c for c in stack.audit_calls if c["action"] == "card.read_identity"]
    assert [c["result"] for c in reads] == ["card_not_genuine"]
    assert 0x82 not in clone.instructions  # no key was ever presented to it
