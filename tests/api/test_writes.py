"""Writing the card: data items, allergies and immunisations, signed encounter records (valid only for a
trusted signer). A refused write changes nothing; a write meant for another card never reaches the card
now in the reader."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cardservice.readers import ReaderManager
from simulators.health import demo_sam_fingerprint
from tests.api import conftest
from tests.api.conftest import BASE_URL, CARD_READER, HIS, HOLDER, KIOSK, Stack, StackFactory, assert_error

CARD = "/v1/readers/default/card"
EF05 = f"{CARD}/files/DDF1/DF01/EF05"
OUTPATIENT: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "examples" / "outpatient-record.json").read_text(encoding="utf-8")
)
NEW_ADDRESS = {"DZ1": "北京市海淀区中关村大街1号", "DZLB1": "1"}


def health(client: TestClient, path: str) -> Any:
    response = client.get(f"{CARD}/health", params={"files": [path]}, headers=HIS)
    assert response.status_code == 200, response.text
    return response.json()["files"][path]


def card_id(client: TestClient) -> str:
    value: str = client.get(CARD, headers=KIOSK).json()["card_id"]
    return value


def test_update_items_then_read_them_back(client: TestClient, stack: Stack) -> None:
    response = client.patch(EF05, json={"items": NEW_ADDRESS}, headers=HIS)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "reader": "vcard-00-00",
        "card_id": card_id(client),
        "written": "DDF1/DF01/EF05",
        "slot": None,
    }
    address = health(client, "DDF1/DF01/EF05")
    assert address["DZ1"] == NEW_ADDRESS["DZ1"]
    assert address["DZ2"] == HOLDER["DDF1/DF01/EF05"]["address2"]  # items not named stay
    audit = stack.audit_calls[-2]  # before the read back
    assert (audit["action"], audit["result"], audit["target"], audit["actor"]) == (
        "card.update_items",
        "ok",
        "DDF1/DF01/EF05",
        "his-1",
    )


def test_update_by_model_field_name(client: TestClient) -> None:
    response = client.patch(EF05, json={"items": {"address2": "上海市1号"}}, headers=HIS)
    assert response.status_code == 200, response.text
    assert health(client, "DDF1/DF01/EF05")["DZ2"] == "上海市1号"


def test_invalid_value_writes_nothing(client: TestClient) -> None:
    before = health(client, "DDF1/DF01/EF05")
    response = client.patch(EF05, json={"items": {"DZ1": "新地址", "DZLB1": "abc"}}, headers=HIS)
    error = assert_error(response, 422, "invalid_data")
    assert "DZLB1" in error["details"]["problems"][0]["problem"]
    assert health(client, "DDF1/DF01/EF05") == before


def test_unknown_item_is_invalid_data(client: TestClient) -> None:
    error = assert_error(client.patch(EF05, json={"items": {"NOPE": "x"}}, headers=HIS), 422, "invalid_data")
    assert error["details"]["problems"] == [{"where": "NOPE", "problem": "Extra inputs are not permitted"}]


def test_files_a_terminal_cannot_update_are_refused(client: TestClient) -> None:
    for path in ("DDF1/EF06", "DDF1/DF02/EF07", "DDF1/EF99", "nonsense"):
        response = client.patch(f"{CARD}/files/{path}", json={"items": {"XM": "张三"}}, headers=HIS)
        assert_error(response, 422, "invalid_request")
    assert client.get(f"{CARD}/identity", headers=HIS).json()["name"] == HOLDER["DDF1/EF06"]["name"]


def test_kiosk_key_cannot_write(client: TestClient) -> None:
    assert_error(client.patch(EF05, json={"items": NEW_ADDRESS}, headers=KIOSK), 403, "forbidden")
    assert_error(
        client.post(f"{CARD}/allergies", json={"substance": "花生"}, headers=KIOSK), 403, "forbidden"
    )


def test_write_for_a_card_that_was_swapped_out_changes_nothing(client: TestClient, stack: Stack) -> None:
    old = card_id(client)
    stack.backend.insert(CARD_READER, stack.new_card())  # a swap: the reader never looked empty to us
    stack.wait_state("ready", other_than=old)
    before = health(client, "DDF1/DF01/EF05")
    response = client.patch(EF05, json={"items": NEW_ADDRESS}, headers={**HIS, "X-Card-Id": old})
    assert_error(response, 409, "card_changed")
    response = client.post(f"{CARD}/allergies", json={"substance": "花生"}, headers={**HIS, "X-Card-Id": old})
    assert_error(response, 409, "card_changed")
    assert health(client, "DDF1/DF01/EF05") == before
    assert "花生" not in [a["GMWZMC"] for a in health(client, "DDF1/DF02/EF07")]


def test_write_for_a_card_that_was_reinserted_changes_nothing(client: TestClient, stack: Stack) -> None:
    old = card_id(client)
    stack.backend.remove(CARD_READER)
    stack.wait_state("empty")
    response = client.patch(EF05, json={"items": NEW_ADDRESS}, headers={**HIS, "X-Card-Id": old})
    assert_error(response, 409, "card_removed")
    stack.backend.insert(CARD_READER)  # the same card again: a new card_id
    stack.wait_state("ready", other_than=old)
    response = client.patch(EF05, json={"items": NEW_ADDRESS}, headers={**HIS, "X-Card-Id": old})
    assert_error(response, 409, "card_changed")
    assert health(client, "DDF1/DF01/EF05")["DZ1"] == HOLDER["DDF1/DF01/EF05"]["address1"]


def test_write_with_the_current_card_id(client: TestClient) -> None:
    response = client.patch(EF05, json={"items": NEW_ADDRESS}, headers={**HIS, "X-Card-Id": card_id(client)})
    assert response.status_code == 200, response.text


def test_append_allergy_then_read_it_first(client: TestClient) -> None:
    response = client.post(f"{CARD}/allergies", json={"substance": "花生", "reaction": "荨麻疹"}, headers=HIS)
    assert response.status_code == 201, response.text
    assert response.json()["written"] == "DDF1/DF02/EF07"
    allergies = health(client, "DDF1/DF02/EF07")
    assert allergies[0] == {"GMWZMC": "花生", "GMFY": "荨麻疹"}
    assert [a["GMWZMC"] for a in allergies[1:]] == [a["substance"] for a in HOLDER["DDF1/DF02/EF07"]]


def test_append_immunisation_then_read_it_first(client: TestClient) -> None:
    response = client.post(
        f"{CARD}/immunisations", json={"vaccine": "新冠疫苗", "date": "2025-05-06"}, headers=HIS
    )
    assert response.status_code == 201, response.text
    immunisations = health(client, "DDF1/DF02/EF08")
    assert immunisations[0] == {"MYJZMC": "新冠疫苗", "MYJZSJ": "2025-05-06"}
    assert len(immunisations) == 1 + len(HOLDER["DDF1/DF02/EF08"])


def test_allergy_that_does_not_fit_is_invalid_data(client: TestClient) -> None:
    before = health(client, "DDF1/DF02/EF07")
    response = client.post(f"{CARD}/allergies", json={"substance": "过敏物质" * 16}, headers=HIS)
    error = assert_error(response, 422, "invalid_data")
    assert "GMWZMC" in error["details"]["problems"][0]["problem"]
    assert health(client, "DDF1/DF02/EF07") == before


def test_immunisation_that_does_not_fit_is_invalid_data(client: TestClient) -> None:
    before = health(client, "DDF1/DF02/EF08")
    response = client.post(f"{CARD}/immunisations", json={"vaccine": "疫苗" * 20}, headers=HIS)
    assert_error(response, 422, "invalid_data")
    assert health(client, "DDF1/DF02/EF08") == before


def test_outpatient_record_is_written_signed_and_erased(client: TestClient, stack: Stack) -> None:
    response = client.post(f"{CARD}/encounters/outpatient", json=OUTPATIENT, headers=HIS)
    assert response.status_code == 201, response.text
    slot = response.json()["slot"]
    assert slot == 2  # the demo card uses slot 1
    listed = client.get(f"{CARD}/encounters/outpatient", headers=HIS).json()["encounters"]
    written = next(e for e in listed if e["slot"] == slot)
    # Signed by the demo PSAM; this stack trusts no signer, so the signature verifies but is not trusted.
    assert (written["signature"], written["signer"]) == ("valid_untrusted", demo_sam_fingerprint())
    assert written["kind"] == "outpatient"
    assert OUTPATIENT["outpatient_number"] in written["items"].values()
    assert OUTPATIENT["diagnoses"][0]["diagnosis_name"] in written["items"].values()
    response = client.delete(f"{CARD}/encounters/outpatient/{slot}", headers=HIS)
    assert response.status_code == 200, response.text
    assert response.json()["slot"] == slot
    listed = client.get(f"{CARD}/encounters/outpatient", headers=HIS).json()["encounters"]
    assert [e["slot"] for e in listed] == [1]
    actions = [c["action"] for c in stack.audit_calls if c.get("actor") == "his-1"]
    assert actions == [
        "card.write_outpatient",
        "card.read_outpatient",
        "card.erase_outpatient",
        "card.read_outpatient",
    ]


def test_invalid_encounter_record_writes_nothing(client: TestClient) -> None:
    response = client.post(
        f"{CARD}/encounters/outpatient", json={**OUTPATIENT, "visit_time": "yesterday"}, headers=HIS
    )
    error = assert_error(response, 422, "invalid_data")
    assert [p["where"] for p in error["details"]["problems"]] == ["visit_time"]
    listed = client.get(f"{CARD}/encounters/outpatient", headers=HIS).json()["encounters"]
    assert [e["slot"] for e in listed] == [1]


def test_erase_slot_out_of_range_is_invalid(client: TestClient) -> None:
    assert_error(client.delete(f"{CARD}/encounters/outpatient/11", headers=HIS), 422, "invalid_request")
    assert_error(client.delete(f"{CARD}/encounters/dental/1", headers=HIS), 422, "invalid_request")


def test_encounter_signatures_are_valid_for_trusted_signers_only(
    make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Security review, finding 2: the record's own certificate names its signer, so a verifying signature
    says nothing by itself; ``valid`` needs the signer's fingerprint on the daemon's trusted list."""
    trusted = demo_sam_fingerprint()
    monkeypatch.setattr(conftest, "ReaderManager", partial(ReaderManager, trusted_signers=[trusted]))
    stack = make_stack()
    with TestClient(stack.app, base_url=BASE_URL) as client:
        response = client.post(f"{CARD}/encounters/outpatient", json=OUTPATIENT, headers=HIS)
        assert response.status_code == 201, response.text
        listed = client.get(f"{CARD}/encounters/outpatient", headers=HIS).json()["encounters"]
    assert [(e["slot"], e["signature"], e["signer"]) for e in listed] == [
        (1, "valid", trusted),  # the demo card's own record, signed with the demo key set
        (2, "valid", trusted),
    ]
