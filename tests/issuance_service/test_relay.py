"""Issue 16: a card issued at a kiosk whose keys stay with the issuance service — over a real WebSocket on
loopback, the kiosk's dispenser the virtual K720 with card-sim blank cards.

One issuance end to end (active in the registry, readable with terminal keys, its bank application there,
the stages the patient saw, no key value in any frame the kiosk sent or received); a blacklisted person and a
person with a live card refused before any card moves; a kiosk unplugged mid-card (the card spoiled and, when
the kiosk is back with that chip at its read position, captured) or killed after the card was completed (the
card presented to its holder when it is back); a second session of one kiosk refused; a kiosk without an
issuer key refused at the handshake."""

from __future__ import annotations

from typing import Any

import pytest

from cardservice.access import Scope
from cardservice.apdu import run_flow, transceive
from cardservice.healthcard import HealthCardSession
from cardservice.issuance import CardStatus, IssuanceFailed, KioskRelay, check_bank
from cardservice.issuance._batch import card_keys, chip_serial
from cardservice.pboc import card_master_key
from simulators.cardos import BLANK_TRANSPORT_KEY, load_card
from tests.issuance.test_batch import _Card
from tests.issuance_service.conftest import KioskFactory, Service, people
from tests.virtualcards import wait_for


def _frames_text(frames: list[tuple[str, dict[str, Any]]]) -> str:
    import json

    return json.dumps(frames).upper()


def test_a_card_issued_end_to_end_keys_never_at_the_kiosk(served: Service, make_kiosk: KioskFactory) -> None:
    person = people()[0]
    kiosk = make_kiosk(served)
    result = kiosk.issue(person)

    assert result.status == "active"
    assert kiosk.stages == ["dispensing", "writing", "verifying", "presenting"]
    assert [path.name for path in kiosk.machine.taken] == ["card-0001.json"]  # presented, taken
    assert kiosk.machine.reject_bin == []
    record = served.registry.live_card(person.id_number)
    assert record is not None
    assert record.status is CardStatus.ACTIVE
    assert (record.issuance_serial, record.station) == (result.serial, "kiosk:kiosk-1")
    assert result.masked == record.masked
    assert person.id_number not in result.masked

    # the card works: its identity with terminal keys, its bank application with none
    card = _Card(load_card(kiosk.machine.taken[0]))
    assert record.chip_serial == chip_serial(card.atr)
    identity = HealthCardSession(card, served.service.setup.sam).read_identity()
    assert identity.cardholder is not None
    assert identity.cardholder.name == person.name
    assert identity.issuer is not None
    assert identity.issuer.card_number == person.id_number
    assert record.pan is not None
    assert record.psn == "01"
    assert run_flow(check_bank(record.pan, record.psn), lambda c: transceive(card.transmit, c)) == []

    # no key value crosses the kiosk: not the card's keys, not the bank card's, not the transport keys
    seen = _frames_text(kiosk.relay.frames)
    secrets = [key.value for key in card_keys(served.store, card.atr, person.id_number[:6]).values()]
    bank = served.service.setup.bank
    assert bank is not None
    secrets += [
        card_master_key(value, record.pan, record.psn, bank.scheme) for value in bank.master_keys.values()
    ]
    secrets += [*bank.master_keys.values(), BLANK_TRANSPORT_KEY]
    secrets += [served.store.get_key(name) for name in served.store.names()]  # every master key
    assert len(secrets) > 15
    assert person.id_number.encode().hex().upper() in seen  # control: what is written in clear is seen
    assert [key.hex() for key in secrets if key.hex().upper() in seen] == []
    assert len(kiosk.relay.ops("apdu")) > 100  # the check above looked at a whole personalisation

    audited = [r for r in served.audit.records if r["action"] == "issuance.kiosk"]
    assert [(r["actor"], r["result"], r["target"]) for r in audited] == [("kiosk-1", "active", result.serial)]
    assert audited[0]["card"] == record.masked


def test_a_blacklisted_person_is_refused_before_any_card_moves(
    served: Service, make_kiosk: KioskFactory
) -> None:
    person = people()[1]
    served.blacklist.add(person.id_number, "冒用证件", listed_by="clerk")
    kiosk = make_kiosk(served)
    with pytest.raises(IssuanceFailed) as refused:
        kiosk.issue(person)
    assert refused.value.code == "blacklisted"
    assert "人工窗口" in refused.value.message_zh
    assert kiosk.relay.ops("dispense") == []
    assert kiosk.relay.ops("apdu") == []
    assert (len(kiosk.machine.stack), kiosk.machine.position) == (4, None)
    assert served.registry.cards() == []


def test_a_past_card_on_the_blacklist_does_not_refuse_the_person(
    served: Service, make_kiosk: KioskFactory
) -> None:
    """The registry lists a spoiled or cancelled card by its serial: that is the card's, not the person's."""
    person = people()[1]
    served.blacklist.add(person.id_number, "制卡作废", listed_by="registry", issuance_serial="0000000009")
    assert make_kiosk(served).issue(person).status == "active"


def test_a_person_with_a_live_card_is_refused_before_any_card_moves(
    served: Service, make_kiosk: KioskFactory
) -> None:
    person = people()[2]
    kiosk = make_kiosk(served)
    kiosk.issue(person)
    other = make_kiosk(served, "kiosk-2")
    with pytest.raises(IssuanceFailed) as refused:
        other.issue(person)
    assert refused.value.code == "already_has_card"
    assert other.relay.ops("dispense") == []
    assert len(served.registry.cards(card_number=person.id_number)) == 1


def test_consent_and_the_id_number_are_checked_by_the_service(
    served: Service, make_kiosk: KioskFactory
) -> None:
    kiosk = make_kiosk(served)
    person = people()[0]
    with pytest.raises(IssuanceFailed) as refused:
        kiosk.issue(person.model_copy(update={"consent": False}))
    assert refused.value.code == "consent_required"
    wrong = person.id_number[:-1] + ("0" if person.id_number[-1] != "0" else "1")
    with pytest.raises(IssuanceFailed) as refused:
        kiosk.issue(person.model_copy(update={"id_number": wrong}))
    assert refused.value.code == "invalid_person"
    assert person.id_number not in refused.value.message
    assert wrong not in refused.value.message
    assert kiosk.relay.ops("dispense") == []


def test_a_kiosk_unplugged_mid_card_finds_it_spoiled_and_captured_when_back(
    served: Service, make_kiosk: KioskFactory
) -> None:
    person = people()[3]
    kiosk = make_kiosk(served, cut_after=40)  # well into the writes
    token = kiosk.relay._token
    with pytest.raises(IssuanceFailed) as broke:
        kiosk.issue(person)
    assert broke.value.code == "issuance_interrupted"
    spoiled = wait_for(lambda: served.registry.cards(status=CardStatus.SPOILED), 10, "the card spoiled")
    assert len(spoiled) == 1
    assert spoiled[0].card_number == person.id_number
    assert (
        served.blacklist.lookup(person.id_number, spoiled[0].issuance_serial) is not None
    )  # written: listed
    assert kiosk.machine.position == "read"  # the card is still in the kiosk
    in_the_kiosk = kiosk.machine.channel
    kiosk.relay.close()

    # the kiosk is back (a new process: a new source over the same machine, the same key)
    back = make_kiosk(served, token=token, machine=kiosk.machine)
    notes = back.relay.settle()
    assert back.stages == []
    assert [op["op"] for op in back.relay.ops("capture")] == ["capture"]
    assert kiosk.machine.reject_bin == [in_the_kiosk]
    assert kiosk.machine.position is None
    assert any("captured" in note for note in notes)
    # and the person gets a card at once, from the next blank one
    assert back.issue(person).status == "active"
    assert [c.status for c in served.registry.cards(card_number=person.id_number)] == [
        CardStatus.SPOILED, CardStatus.ACTIVE
    ]  # fmt: skip


def test_a_kiosk_gone_before_the_card_was_reserved_keeps_the_blank_for_the_next_person(
    served: Service, make_kiosk: KioskFactory
) -> None:
    """Dispensed, then the link broke before the registry reserved the card: nobody's card and still
    blank. Capturing it would put a card in the reject bin that the registry never spoiled."""
    person = people()[4]
    kiosk = make_kiosk(served, cut_after=1)  # the blank check's first answer never arrives
    token = kiosk.relay._token
    with pytest.raises(IssuanceFailed):
        kiosk.issue(person)
    assert served.registry.cards() == []
    assert kiosk.machine.position == "read"
    kiosk.relay.close()

    back = make_kiosk(served, token=token, machine=kiosk.machine)
    notes = back.relay.settle()
    assert any("blank, kept for the next person" in note for note in notes)
    assert (back.relay.ops("capture"), kiosk.machine.reject_bin, kiosk.machine.position) == ([], [], "read")
    assert back.issue(person).status == "active"
    assert back.relay.ops("dispense") == []  # made on the card that waited
    assert [path.name for path in kiosk.machine.taken] == ["card-0001.json"]


def test_a_kiosk_killed_before_presenting_presents_the_card_when_back(
    served: Service, make_kiosk: KioskFactory
) -> None:
    person = people()[4]
    kiosk = make_kiosk(served, cut_at_op="present")
    token = kiosk.relay._token
    with pytest.raises(IssuanceFailed):
        kiosk.issue(person)
    wait_for(lambda: served.registry.live_card(person.id_number), 10, "the card completed")
    assert kiosk.machine.position == "read"
    card = kiosk.machine.channel
    kiosk.relay.close()

    back = make_kiosk(served, token=token, machine=kiosk.machine)
    other = people()[5]
    assert back.issue(other).status == "active"  # settles first: the old card to its holder
    assert kiosk.machine.taken[0] == card
    assert len(kiosk.machine.taken) == 2
    assert kiosk.machine.reject_bin == []
    assert back.relay.ops("present")[:1] == [{"op": "present"}]


def test_one_session_per_kiosk_and_only_issuer_keys(served: Service, make_kiosk: KioskFactory) -> None:
    kiosk = make_kiosk(served)
    served.service.claim_wait = 0.3
    assert served.service.claim("kiosk:kiosk-1")  # as if a session of this kiosk were open
    try:
        with pytest.raises(IssuanceFailed) as busy:
            kiosk.issue(people()[0])
        assert busy.value.code == "busy"
    finally:
        served.service.release("kiosk:kiosk-1")
    _, token = served.keys.create("a-kiosk-page", ["kiosk"], created_by="test")
    relay = KioskRelay(served.url, token, kiosk.source)
    with pytest.raises(IssuanceFailed) as refused:
        relay.settle()
    assert refused.value.code == "issuance_unavailable"
    assert "403" in refused.value.message
    with pytest.raises(IssuanceFailed) as refused:
        KioskRelay(served.url, "csk_000000000000_" + "x" * 43, kiosk.source).settle()
    assert refused.value.code == "issuance_unavailable"


def test_an_empty_dispenser_fails_with_its_code(served: Service, make_kiosk: KioskFactory) -> None:
    kiosk = make_kiosk(served, cards=1)
    kiosk.issue(people()[0])
    with pytest.raises(IssuanceFailed) as empty:
        kiosk.issue(people()[1])
    assert empty.value.code == "dispenser_empty"
    assert empty.value.message_zh == "发卡机卡箱已空，请补充卡片"
    assert served.registry.live_card(people()[1].id_number) is None


def test_a_person_whose_card_is_being_made_elsewhere_gets_none_and_the_blank_waits_for_the_next(
    served: Service, make_kiosk: KioskFactory
) -> None:
    """The race the registry settles: another kiosk began this person's card a moment ago. The blank card
    dispensed for them was never the registry's: it stays at the read position (the reject bin holds only
    what the registry spoiled), and the next person's card is made on it."""
    person, other = people()[6], people()[7]
    served.registry.begin(person.id_number, actor="kiosk-2", station="kiosk:kiosk-2")
    kiosk = make_kiosk(served)
    with pytest.raises(IssuanceFailed) as refused:
        kiosk.issue(person)
    assert refused.value.code == "already_has_card"
    assert kiosk.machine.reject_bin == []
    assert kiosk.machine.position == "read"
    assert [c.station for c in served.registry.cards(card_number=person.id_number)] == ["kiosk:kiosk-2"]

    kiosk.issue(other)
    assert len(kiosk.relay.ops("dispense")) == 1  # the waiting blank, not a second one
    assert [path.name for path in kiosk.machine.taken] == ["card-0001.json"]
    assert kiosk.machine.reject_bin == []


def test_the_service_answers_its_http_routes_only_to_an_issuer_key(served: Service) -> None:
    """Its dependency on the kiosk's key once sat inside create_app, where FastAPI took it for a query
    parameter: every HTTP route answered 422."""
    import httpx

    base = "http" + served.url.removeprefix("ws")
    with httpx.Client(base_url=base, trust_env=False) as client:
        assert client.get("/v1/issuances/terms").status_code == 401
        his = served.keys.create("his-1", [Scope.HIS], created_by="test")[1]
        wrong_scope = client.get("/v1/issuances/terms", headers={"Authorization": f"Bearer {his}"})
        assert wrong_scope.status_code == 403
        terms = client.get("/v1/issuances/terms", headers={"Authorization": f"Bearer {served.token('k')}"})
        assert terms.status_code == 200, terms.text
        assert terms.json()["issuer_name"] == "演示发卡机构DEMO"
