"""Issue 16: the registry and the blacklist as another kiosk sees them. Two kiosk daemons, each with its own
ID-card reader, dispenser and connection to the shared database (as two processes would have), one issuance
service; on SQLite and on a real PostgreSQL.

A person issued a card at kiosk A is refused a second one at kiosk B; the counter's 挂失 (report lost) puts
the card on the blacklist and kiosk B refuses that card in its reader at once, 解挂 lets it in again; a person
the counter blacklisted is refused issuance at kiosk B; a child's card issued at A is refused again at B."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cardservice.access import Blacklist
from cardservice.idcard import IdCardMonitor
from cardservice.idcard.testing import FakeIdCardReader
from cardservice.issuance import CardStatus
from cardservice.store import Database, open_database
from simulators.cardos import load_card
from simulators.idcard import load_card as load_id_card
from tests.api.conftest import (
    BASE_URL,
    CARD_READER,
    KIOSK,
    SAM_READER,
    Stack,
    StackFactory,
    assert_error,
    make_stack,
)
from tests.issuance_service.conftest import Kiosk, KioskFactory, Service
from tests.issuance_service.test_kiosk_children import BODY as CHILD_BODY
from tests.virtualcards import make_card

__all__ = ["make_stack"]

RESIDENT = load_id_card("resident").person
PATIENT = dataclasses.replace(RESIDENT, id_number="110105198503071230", name="李明")
STRANGER = dataclasses.replace(RESIDENT, id_number="650102199002142425", name="阿依古丽", sex_code="2")


@dataclasses.dataclass
class Site:
    stack: Stack
    kiosk: Kiosk
    idcard: FakeIdCardReader

    def issue(self, client: TestClient, person: object, body: dict[str, object] | None = None) -> object:
        monitor = self.stack.services.idcard
        assert monitor is not None
        self.idcard.remove()  # the last person took their ID card
        monitor.poll_once("desk")
        self.idcard.place(person)  # type: ignore[arg-type]
        monitor.poll_once("desk")
        placed = client.get("/v1/idcard", headers=KIOSK).json()["card_id"]
        url = "/v1/issuance/child" if body and "child" in body else "/v1/issuance"
        payload = body or {"reader": "idcard", "phone": "13800000009", "consent": True}
        return client.post(url, json=payload, headers={**KIOSK, "X-Card-Id": placed})


@pytest.fixture
def own_database(database_url: str) -> Iterator[Database]:
    """The database as a second process opens it: its own engine and connections."""
    database = open_database(database_url)
    yield database
    database.close()


def _site(make_stack: StackFactory, make_kiosk: KioskFactory, served: Service, name: str, db: Database,
          folder: Path) -> Site:  # fmt: skip
    blacklist = Blacklist(db)

    def refusal(number: str, serial: str | None) -> str | None:
        entry = blacklist.lookup(number, serial)
        return None if entry is None else (entry.reason or "blacklisted")

    idcard = FakeIdCardReader()
    stack = make_stack(
        idcard=IdCardMonitor({"desk": idcard}), blacklist=refusal, wait=(),
        cards={CARD_READER: None, SAM_READER: make_card(folder, "sam")},
    )  # fmt: skip
    kiosk = make_kiosk(served, name)
    stack.services.issuance = kiosk.relay
    return Site(stack, kiosk, idcard)


def test_the_registry_and_blacklist_as_another_kiosk_sees_them(
    make_stack: StackFactory,
    make_kiosk: KioskFactory,
    served: Service,
    own_database: Database,
    tmp_path: Path,
) -> None:
    a = _site(make_stack, make_kiosk, served, "kiosk-a", served.registry._db, tmp_path)
    b = _site(make_stack, make_kiosk, served, "kiosk-b", own_database, tmp_path)
    with (
        TestClient(a.stack.app, base_url=BASE_URL) as at_a,
        TestClient(b.stack.app, base_url=BASE_URL) as at_b,
    ):
        issued = a.issue(at_a, PATIENT)
        assert issued.status_code == 200, issued.text  # type: ignore[attr-defined]

        # the same person at kiosk B: refused, nothing dispensed there
        assert_error(b.issue(at_b, PATIENT), 409, "issuance_has_card")  # type: ignore[arg-type]
        assert b.kiosk.relay.ops("dispense") == []

        # the card in kiosk B's reader works; reported lost at the counter, B refuses it at once
        card = a.kiosk.machine.taken[0]
        b.stack.backend.insert(CARD_READER, load_card(card))
        assert b.stack.wait_state("ready").card_id
        served.registry.transition(
            PATIENT.id_number, CardStatus.LOST, actor="counter", reason="patient called"
        )
        b.stack.backend.remove(CARD_READER)
        b.stack.wait_state("empty")
        b.stack.backend.insert(CARD_READER, load_card(card))
        refused = b.stack.wait_state("refused")
        assert refused.problem == {
            "code": "card_blacklisted",
            "message": "this card is blacklisted",
            "reason": "挂失",
        }
        assert_error(at_b.get("/v1/readers/default/card/identity", headers=KIOSK), 403, "card_blacklisted")

        # found again (解挂): B takes it
        served.registry.transition(PATIENT.id_number, CardStatus.ACTIVE, actor="counter", reason="found")
        b.stack.backend.remove(CARD_READER)
        b.stack.wait_state("empty")
        b.stack.backend.insert(CARD_READER, load_card(card))
        assert b.stack.wait_state("ready").card_id

        # a person the counter blacklisted (冒用证件) is refused at B before any card moves
        served.blacklist.add(STRANGER.id_number, "冒用证件", listed_by="counter")
        assert_error(b.issue(at_b, STRANGER), 403, "issuance_refused")  # type: ignore[arg-type]
        assert b.kiosk.relay.ops("dispense") == []

        # a child's card issued at A: the same child at B is refused
        assert a.issue(at_a, PATIENT, CHILD_BODY).status_code == 200  # type: ignore[attr-defined]
        again = b.issue(at_b, PATIENT, CHILD_BODY)
        assert assert_error(again, 409, "issuance_has_card")["message_zh"].startswith("这个孩子")  # type: ignore[arg-type]
        assert b.kiosk.relay.ops("dispense") == []
