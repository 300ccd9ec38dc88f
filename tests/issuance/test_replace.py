"""补卡 of a card the registry cannot replace: refused before the blank card is touched; and a new
chip written for a card whose status changed meanwhile is recorded (spoiled, blacklisted), never lost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cardservice.access import Blacklist
from cardservice.healthcard import HealthCardSession
from cardservice.issuance._batch import resume, run_batch
from cardservice.issuance._people import IssuerProfile, Person, load_people
from cardservice.issuance._registry import CardStatus, Registry, RegistryError
from cardservice.issuance._replace import replace_card
from cardservice.issuance._sealing import ContentCipher
from cardservice.keys import KeyStore, SoftwareSam
from cardservice.store import Database
from simulators.cardos import CardOS, load_card
from tests.issuance.test_batch import EXAMPLES, STATION, TRANSPORT, Hopper, Killed, _KillableCard


@pytest.fixture
def registry(database: Database, demo_store: KeyStore) -> Registry:
    return Registry(database, ContentCipher.from_keystore(demo_store))


@pytest.fixture
def person() -> Person:
    people, _ = load_people(EXAMPLES / "people.csv")
    return people[3]


def _issue(
    person: Person, registry: Registry, hopper: Hopper, store: KeyStore, *, hold: bool = False
) -> None:
    result = run_batch([person], registry=registry, source=hopper, keystore=store, sam=SoftwareSam(store),
                       transport=TRANSPORT, issuer=IssuerProfile(), actor="tester", batch="b1",
                       station=STATION, hold=hold)  # fmt: skip
    assert [c.outcome for c in result.cards] == ["issued" if hold else "active"]


def _replace(person: Person, database: Database, hopper: Hopper, store: KeyStore, **kwargs: object):  # type: ignore[no-untyped-def]
    sam = SoftwareSam(store)
    return replace_card(person.id_number, database, source=hopper, keystore=store, sam=sam,
                        transport=TRANSPORT, actor="clerk", station=STATION, **kwargs)  # type: ignore[arg-type]  # fmt: skip


class _MeddledCard(_KillableCard):
    """A card in the reader; before its APDU number *at*, someone else acts on the registry."""

    def __init__(self, card: CardOS, at: int, meddle: Callable[[], object]) -> None:
        super().__init__(card, None)
        self.at, self.meddle = at, meddle

    def transmit(self, apdu: bytes) -> bytes:
        if self.sent == self.at:
            self.meddle()
        return super().transmit(apdu)


@pytest.mark.parametrize("at_hand", [False, True], ids=["registry-copy", "old-card-at-hand"])
@pytest.mark.parametrize("status", [CardStatus.ISSUED, CardStatus.CANCELLED])
def test_a_card_that_cannot_be_replaced_is_refused_before_any_apdu(
    tmp_path: Path, registry: Registry, database: Database, demo_store: KeyStore, person: Person,
    status: CardStatus, at_hand: bool,
) -> None:  # fmt: skip
    """An issued card (awaiting handover) cannot become replaced, nor a cancelled one: the refusal
    comes from the registry's transition table before the blank card (or the old one) is touched."""
    hopper = Hopper(tmp_path)
    _issue(person, registry, hopper, demo_store, hold=True)
    if status is CardStatus.CANCELLED:
        registry.transition(person.id_number, CardStatus.CANCELLED, actor="desk")
    [old] = registry.cards(card_number=person.id_number)
    blank = hopper.next_card()  # a blank card waits in the reader
    reads: list[str] = []

    def read_old_card() -> dict[str, object]:
        reads.append("old card read")
        return {}

    with pytest.raises(RegistryError) as refused:
        _replace(person, database, hopper, demo_store, read_old_card=read_old_card if at_hand else None)
    assert str(refused.value) == (
        f"card {old.issuance_serial} ({old.masked}) is {status}: "
        "only an active, lost or locked card can become replaced"
    )
    assert blank.sent == 0  # not one APDU to the blank card
    assert reads == []  # nor to the old one
    assert hopper.ejected == 1  # the issued card only: the blank one stays for the next person
    assert [(c.id, c.status) for c in registry.cards(card_number=person.id_number)] == [(old.id, status)]
    assert registry.pending() == []
    settled = resume(registry, blank, SoftwareSam(demo_store), demo_store, actor="t", station=STATION)
    assert settled == ([], False)


def test_a_written_replacement_whose_old_card_changed_meanwhile_is_spoiled_and_blacklisted(
    tmp_path: Path, registry: Registry, database: Database, demo_store: KeyStore, person: Person
) -> None:
    """The old card is cancelled while the new chip is being written (after the check): the new chip
    works, but cannot be recorded as the replacement — it is spoiled and refused, not lost."""
    hopper = Hopper(tmp_path)
    _issue(person, registry, hopper, demo_store)
    registry.transition(person.id_number, CardStatus.LOST, actor="desk")
    hopper.next_card()
    cancel = lambda: registry.transition(person.id_number, CardStatus.CANCELLED, actor="desk")  # noqa: E731
    hopper.current = _MeddledCard(load_card(hopper.taken[-1]), 20, cancel)  # mid-personalisation

    new = _replace(person, database, hopper, demo_store)
    assert new.outcome == "spoiled"
    assert new.detail.endswith("cancelled cannot become replaced)")
    assert hopper.ejected == 2  # the issued card, then the spoiled one: nothing left in the reader
    statuses = [(c.issuance_serial, c.status) for c in registry.cards(card_number=person.id_number)]
    assert statuses[1] == (new.issuance_serial, CardStatus.SPOILED)
    assert statuses[0][1] is CardStatus.CANCELLED
    chip = HealthCardSession(_KillableCard(load_card(hopper.taken[-1]), None), SoftwareSam(demo_store))
    assert chip.read_identity().issuer.issuance_serial == new.issuance_serial  # a working chip...
    refused = Blacklist(database).lookup(person.id_number, new.issuance_serial)
    assert refused is not None  # ...that the daemon refuses
    assert refused.source == "registry"
    assert registry.pending() == []
    card = hopper.next_card()
    settled = resume(registry, card, SoftwareSam(demo_store), demo_store, actor="t", station=STATION)
    assert settled == ([], False)  # a later run's resume: nothing left to settle, nothing raised


def test_resume_settles_a_replacement_that_can_no_longer_be_recorded(
    tmp_path: Path,
    registry: Registry,
    database: Database,
    demo_store: KeyStore,
    person: Person,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Killed after writing the replacement, before recording it; the old card is cancelled before
    the next run: resume verifies the chip, cannot complete it, spoils and blacklists it — no raise."""
    hopper = Hopper(tmp_path)
    _issue(person, registry, hopper, demo_store)
    registry.transition(person.id_number, CardStatus.LOST, actor="desk")

    def killed(*args: object, **kwargs: object) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(Registry, "complete", killed)
        with pytest.raises(Killed):
            _replace(person, database, hopper, demo_store)
    [pending] = registry.pending(station=STATION)
    registry.transition(person.id_number, CardStatus.CANCELLED, actor="desk")
    card = hopper.next_card()  # the written chip is still in the reader
    card.atr = card.card.power_on()
    lines, eject = resume(registry, card, SoftwareSam(demo_store), demo_store, actor="t", station=STATION)
    assert eject
    assert lines == [
        f"card {pending.issuance_serial} ({pending.masked}): interrupted after writing; verified, but "
        f"not recorded (card {registry.cards(card_number=person.id_number)[0].issuance_serial}: "
        "cancelled cannot become replaced); spoiled"
    ]
    assert registry.pending() == []
    assert registry.cards(status=CardStatus.SPOILED)[0].id == pending.id
    assert Blacklist(database).lookup(person.id_number, pending.issuance_serial) is not None
