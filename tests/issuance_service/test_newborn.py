"""Issue 16: a newborn's card (新生儿发卡) at a kiosk — the guardian's ID card, the child's birth certificate
(no ID number yet) — and the child's ID number recorded later. Over a real WebSocket and real HTTP on
loopback, the kiosk's dispenser the virtual K720 with card-sim blank cards; the registry on SQLite and
PostgreSQL.

The card's number is the certificate's and it is linked to the guardian; what the chip says is read back with
terminal keys. Later the child's ID number is checked against the card (birth date, sex) and against the
guardian it is linked to, recorded once, and from then on the child cannot get a second card under it."""

from __future__ import annotations

import datetime as _dt
import json

import pytest

from cardservice.healthcard import HealthCardSession, id_check_character
from cardservice.issuance import (
    BIRTH_CERTIFICATE_TYPE,
    CardStatus,
    ChildIn,
    IssuanceFailed,
    PersonIn,
)
from simulators.cardos import load_card
from tests.issuance.test_batch import _Card
from tests.issuance_service.conftest import KioskFactory, Service, people

CERTIFICATE = "O110000001"
BORN = _dt.date.today() - _dt.timedelta(days=40)


def id_number_of(born: _dt.date, *, sex: str, division: str = "110105", sequence: int = 12) -> str:
    """A valid GB 11643 number: *division*, *born*, a sequence whose last digit is odd for a boy."""
    odd = sequence * 10 + (1 if sex == "1" else 2)
    body = f"{division}{born:%Y%m%d}{odd:03d}"
    return body + id_check_character(body)


def child(certificate: str = CERTIFICATE, *, sex: str = "2", born: _dt.date = BORN) -> ChildIn:
    return ChildIn(birth_certificate=certificate, name="李小宝", sex=sex, birth_date=born, relation="51")  # type: ignore[arg-type]


def for_child(guardian: PersonIn, baby: ChildIn) -> PersonIn:
    return guardian.model_copy(update={"child": baby})


def test_a_newborn_card_linked_to_the_guardian(served: Service, make_kiosk: KioskFactory) -> None:
    guardian = people()[0]
    kiosk = make_kiosk(served)
    result = kiosk.issue(for_child(guardian, child()))

    assert result.status == "active"
    record = served.registry.live_card(CERTIFICATE)
    assert record is not None
    assert (record.card_number, record.guardian_number, record.id_number) == (
        CERTIFICATE,
        guardian.id_number,
        None,
    )
    assert served.registry.cards(guardian_number=guardian.id_number) == [record]
    assert served.registry.live_card(guardian.id_number) is None  # the guardian may still get a card

    # what the chip says, read back with terminal keys
    card = _Card(load_card(kiosk.machine.taken[0]))
    contents = HealthCardSession(card, served.service.setup.sam).read_all()
    issuer, holder = contents["DDF1/EF05"], contents["DDF1/EF06"]
    assert issuer.card_number == CERTIFICATE  # type: ignore[attr-defined]
    assert issuer.city_code == guardian.id_number[:6]  # type: ignore[attr-defined]
    assert (holder.name, holder.sex, holder.birth_date, holder.id_number) == ("李小宝", 2, BORN, None)  # type: ignore[attr-defined]
    documents, contacts = contents["DDF1/DF01/EF08"], contents["DDF1/DF01/EF06"]
    assert (documents.document_type, documents.document_number) == (BIRTH_CERTIFICATE_TYPE, CERTIFICATE)  # type: ignore[attr-defined]
    assert (contacts.contact1_name, contacts.contact1_relation, contacts.contact1_phone) == (  # type: ignore[attr-defined]
        guardian.name, "51", guardian.phone,
    )  # fmt: skip

    # the same child again: refused in the guardian's words, nothing dispensed
    with pytest.raises(IssuanceFailed) as again:
        kiosk.issue(for_child(guardian, child()))
    assert again.value.code == "already_has_card"
    assert "孩子" in again.value.message_zh
    assert len(kiosk.relay.ops("dispense")) == 1

    # a twin: another certificate, another card for the same guardian
    kiosk.issue(for_child(guardian, child("O110000002", sex="1")))
    assert len(served.registry.cards(guardian_number=guardian.id_number, status=CardStatus.ACTIVE)) == 2


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"birth_certificate": "1234567890"}, "string_pattern_mismatch"),
        ({"relation": "10"}, "literal_error"),
    ],
)
def test_a_child_document_off_the_form_is_refused_by_the_frame(change: dict[str, str], problem: str) -> None:
    from pydantic import ValidationError

    data = {**child().model_dump(), **change}
    with pytest.raises(ValidationError) as refused:
        ChildIn.model_validate(data)
    assert refused.value.errors()[0]["type"] == problem


@pytest.mark.parametrize(
    ("born", "why"),
    [
        (_dt.date.today() + _dt.timedelta(days=1), "in the future"),
        (_dt.date.today().replace(year=_dt.date.today().year - 17), "16 or older"),
        (_dt.date(1980, 1, 1), "16 or older"),
    ],
)
def test_a_child_who_cannot_be_refused_before_any_card_moves(
    served: Service, make_kiosk: KioskFactory, born: _dt.date, why: str
) -> None:
    kiosk = make_kiosk(served)
    with pytest.raises(IssuanceFailed) as refused:
        kiosk.issue(for_child(people()[0], child(born=born)))
    assert refused.value.code == "invalid_person"
    assert why in refused.value.message
    assert kiosk.relay.ops("dispense") == []
    assert served.registry.cards() == []


def test_the_childs_id_number_recorded_later(served: Service, make_kiosk: KioskFactory) -> None:
    guardian, stranger = people()[0], people()[1]
    kiosk = make_kiosk(served)
    issued = kiosk.issue(for_child(guardian, child()))
    number = id_number_of(BORN, sex="2")
    ask = {"card_number": CERTIFICATE, "issuance_serial": issued.serial}

    def refused(code: str, **change: str) -> str:
        given = {**ask, "id_number": number, "guardian_id_number": guardian.id_number, **change}
        with pytest.raises(IssuanceFailed) as failed:
            kiosk.relay.record_id_number(**given)
        assert failed.value.code == code, failed.value
        return failed.value.message_zh

    assert "监护人" in refused("not_guardian", guardian_id_number=stranger.id_number)
    assert "出生日期" in refused(
        "invalid_id_number", id_number=id_number_of(BORN - _dt.timedelta(days=1), sex="2")
    )
    refused("invalid_id_number", id_number=id_number_of(BORN, sex="1"))  # a boy's number for a girl
    refused("card_unknown", issuance_serial="9999999999")

    answer = kiosk.relay.record_id_number(**ask, id_number=number, guardian_id_number=guardian.id_number)
    assert answer["status"] == "active"
    assert number not in json.dumps(answer)  # masked
    again = kiosk.relay.record_id_number(**ask, id_number=number, guardian_id_number=guardian.id_number)
    assert again == answer  # idempotent: a kiosk retrying after a lost answer
    refused("id_number_recorded", id_number=id_number_of(BORN, sex="2", sequence=13))

    record = served.registry.live_card(number)  # the ID number finds the card now
    assert record is not None
    assert (record.card_number, record.id_number) == (CERTIFICATE, number)
    assert served.registry.cards(card_number=number) == [record]  # card-issuer show/list by the ID number
    assert f"guardian {guardian.id_number[:4]}" in record.summary
    assert f"ID number {number[:4]}" in record.summary
    assert number not in record.summary
    assert guardian.id_number not in record.summary
    reasons = [reason for *_, reason in served.registry.history(record.id)]
    assert any(reason and "身份证号码登记" in reason and number not in reason for reason in reasons)

    # the child, later with their own ID card, cannot get a second card
    grown = PersonIn(id_number=number, name="李小宝", sex="2", consent=True)
    with pytest.raises(IssuanceFailed) as second:
        kiosk.issue(grown)
    assert second.value.code == "already_has_card"
    assert len(kiosk.relay.ops("dispense")) == 1

    # lost and replaced at the counter (补卡): the new card keeps the guardian and the ID number
    served.registry.transition(number, CardStatus.LOST, actor="counter", reason="挂失")
    new = served.registry.begin(CERTIFICATE, actor="counter", replaces=record.id)
    assert (new.guardian_number, new.id_number) == (guardian.id_number, number)
    served.registry.complete(new.id, actor="counter")
    live = served.registry.live_card(number)
    assert live is not None
    assert live.id == new.id

    audited = [r for r in served.audit.records if r["action"] == "issuance.id_number"]
    assert [r["result"] for r in audited][-3:] == ["recorded", "recorded", "id_number_recorded"]
    assert all(number not in json.dumps(r, default=str) for r in audited)


def test_an_id_number_that_already_has_a_card_is_not_recorded(
    served: Service, make_kiosk: KioskFactory
) -> None:
    guardian = people()[0]
    kiosk = make_kiosk(served, cards=3)
    issued = kiosk.issue(for_child(guardian, child()))
    number = id_number_of(BORN, sex="2")
    kiosk.issue(
        PersonIn(id_number=number, name="李小宝", sex="2", consent=True)
    )  # a card under the ID number
    with pytest.raises(IssuanceFailed) as refused:
        kiosk.relay.record_id_number(card_number=CERTIFICATE, issuance_serial=issued.serial, id_number=number,
                                     guardian_id_number=guardian.id_number)  # fmt: skip
    assert refused.value.code == "id_number_has_card"


@pytest.mark.parametrize(
    "photo", [b"GIF89a" + bytes(100), b"\xff\xd8\xff" + bytes(3070)], ids=["not a JPEG", "over 3,072 bytes"]
)
def test_a_photo_the_card_cannot_hold_is_not_a_frame(photo: bytes) -> None:
    import base64

    from pydantic import ValidationError

    data = {**people()[0].model_dump(), "photo": base64.b64encode(photo).decode()}
    with pytest.raises(ValidationError, match="a JPEG of at most 3072 bytes"):
        PersonIn.model_validate(data)
    fits = base64.b64encode(b"\xff\xd8\xff" + bytes(10)).decode()
    assert PersonIn.model_validate({**data, "photo": fits}).photo  # the control: a small JPEG is one
