"""A batch from examples/people.csv onto in-process blank cards, with the registry on SQLite and
PostgreSQL (tests/dbfixtures.py): issue, re-run (nothing new), report lost (blacklisted), resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardservice.blacklist import Blacklist
from cardservice.issuance import TransportKeys
from cardservice.issuance._batch import resume, run_batch
from cardservice.issuance._people import IssuerProfile, load_people
from cardservice.issuance._registry import CardStatus, Registry, RegistryError
from cardservice.keys import KeyStore, SoftwareSam
from cardservice.store import Database
from simulators.cardos import BLANK_TRANSPORT_KEY, CardOS, create_image, load_card

EXAMPLES = Path(__file__).parents[2] / "examples"
TRANSPORT = TransportKeys(BLANK_TRANSPORT_KEY, BLANK_TRANSPORT_KEY)


class _Card:
    def __init__(self, card: CardOS) -> None:
        self.card = card
        self.atr = card.power_on()

    def transmit(self, apdu: bytes) -> bytes:
        return self.card.process(apdu)


class Feeder:
    """In-process stand-in for a card feeder: fresh blank images, one per next_card()."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.taken: list[Path] = []
        self.ejected = 0

    def next_card(self) -> _Card:
        path = self.directory / f"card-{len(self.taken) + 1:04d}.json"
        create_image(path)
        self.taken.append(path)
        return _Card(load_card(path))

    def eject(self, card: object) -> None:
        self.ejected += 1


@pytest.fixture
def registry(database: Database) -> Registry:
    return Registry(database)


def _run(people, registry, feeder, store):  # type: ignore[no-untyped-def]
    return run_batch(people, registry=registry, source=feeder, keystore=store, sam=SoftwareSam(store),
                     transport=TRANSPORT, issuer=IssuerProfile(), actor="tester", batch="b1")  # fmt: skip


def test_batch_issue_rerun_lose(
    tmp_path: Path, registry: Registry, database: Database, demo_store: KeyStore
) -> None:
    people, errors = load_people(EXAMPLES / "people.csv")
    assert (len(people), errors) == (20, [])
    people = people[:4]
    feeder = Feeder(tmp_path)
    result = _run(people, registry, feeder, demo_store)
    assert [c.outcome for c in result.cards] == ["active"] * 4
    assert feeder.ejected == 4
    active = registry.cards(status=CardStatus.ACTIVE)
    assert len(active) == 4
    assert len({c.issuance_serial for c in active}) == 4
    # the same input again issues nothing new and takes no card
    again = _run(people, registry, feeder, demo_store)
    assert [c.outcome for c in again.cards] == ["skipped"] * 4
    assert len(feeder.taken) == 4
    # 挂失: the card goes on the blacklist; 解挂 takes it off
    number = people[1].id_number
    registry.transition(number, CardStatus.LOST, actor="clerk", reason="patient called")
    assert Blacklist(database).lookup(number) is not None
    with pytest.raises(RegistryError):
        registry.begin(number, actor="clerk")  # a lost card is still the person's live card
    registry.transition(number, CardStatus.ACTIVE, actor="clerk")
    assert Blacklist(database).lookup(number) is None
    history = registry.history(registry.cards(status=CardStatus.ACTIVE)[1].id)
    assert [(h[2], h[3]) for h in history] == [
        (None, "personalising"),
        ("personalising", "active"),
        ("active", "lost"),
        ("lost", "active"),
    ]


def test_bad_rows_are_reported_before_any_card(tmp_path: Path) -> None:
    people, errors = load_people(EXAMPLES / "people-with-errors.csv")
    assert len(people) == 1
    text = [str(e) for e in errors]
    assert any("check character" in t for t in text)
    assert any("duplicates row 1" in t for t in text)
    assert any("XM" in t for t in text)
    assert not any("李明" in t or "110105198503071230" in t for t in text)  # no personal data in errors


def test_gb18030_input_reads_the_same(tmp_path: Path) -> None:
    utf8, _ = load_people(EXAMPLES / "people.csv")
    gb, _ = load_people(EXAMPLES / "people-gb18030.csv")
    assert [p.values for p in utf8] == [p.values for p in gb]


def test_interrupted_card_is_spoiled_or_completed(
    tmp_path: Path, registry: Registry, demo_store: KeyStore
) -> None:
    people, _ = load_people(EXAMPLES / "people.csv")
    feeder = Feeder(tmp_path)
    # a run killed after the registry reserved the card and recorded it, before any write
    record = registry.begin(people[0].id_number, actor="tester", batch="b1", batch_row=1)
    card = feeder.next_card()
    from cardservice.issuance._batch import chip_serial

    registry.attach(record.id, chip_serial=chip_serial(card.atr), content="{}")
    lines = resume(registry, card, SoftwareSam(demo_store), demo_store, actor="tester")
    assert "spoiled" in lines[0]
    assert registry.cards(status=CardStatus.SPOILED)[0].id == record.id
    # the person then gets a fresh card; nothing is issued twice
    result = _run(people[:1], registry, feeder, demo_store)
    assert [c.outcome for c in result.cards] == ["active"]
    assert len(registry.cards(status=CardStatus.ACTIVE)) == 1
