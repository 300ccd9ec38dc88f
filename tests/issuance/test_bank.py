"""The bank application on issued cards, in process: a card issued from a blank image with the DEMO key store
pays at the DEMO bank (a whole sale by ``cardservice.pboc.sale``: TC, SDA and DDA passed); PANs per person;
a replacement's PSN and card keys; no full PAN in a DEBUG log; cards without the bank application; a card
interrupted before its bank application was locked is not settled as complete; the DEMO issuer certificate.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from pathlib import Path

import pytest

from cardservice.errors import CryptoError
from cardservice.issuance import BankIssuer, IssuedCard, pan_for
from cardservice.issuance._batch import resume, run_batch
from cardservice.issuance._people import IssuerProfile, Person, load_people
from cardservice.issuance._registry import CardRecord, CardStatus, Registry
from cardservice.issuance._replace import replace_card
from cardservice.issuance._sealing import ContentCipher
from cardservice.keys import KeyStore, ScryptParams, SoftwareSam
from cardservice.pboc import SaleOutcome, SaleResult, card_master_key, load_ca_keys
from cardservice.pboc._csos import ADF_FID, MK_AC_REF, MK_SMI_REF
from cardservice.pboc._oda import recover_issuer_key, select_ca_key
from cardservice.pboc._profile import AID, luhn_check_digit
from cardservice.store import Database
from simulators.cardos import CardOS, load_card
from simulators.health import write_demo_keystore
from simulators.pboc import (
    DEMO_ISSUER_CERTIFICATE,
    demo_bank_key,
    demo_issuer_oda_key,
    demo_oda_issuer,
    issuer_oda_key,
)
from tests.issuance.test_batch import EXAMPLES, STATION, TRANSPORT, Hopper, Killed, _KillableCard
from tests.pboc.test_kernel import Drive, drive, issuer

TODAY = _dt.date(2026, 1, 5)  # the cards' issue date: effective before the kernel's NOW (2026-12-06)
MF = 0x3F00


@pytest.fixture
def registry(database: Database, demo_store: KeyStore) -> Registry:
    return Registry(database, ContentCipher.from_keystore(demo_store))


@pytest.fixture(scope="module")
def people() -> list[Person]:
    found, _ = load_people(EXAMPLES / "people.csv")
    return found


def _issue(
    people: list[Person], registry: Registry, hopper: Hopper, store: KeyStore, **options: object
) -> list[IssuedCard]:
    result = run_batch(people, registry=registry, source=hopper, keystore=store, sam=SoftwareSam(store),
                       transport=TRANSPORT, issuer=IssuerProfile(), actor="tester", batch="b1",
                       station=STATION, today=lambda: TODAY, **options)  # type: ignore[arg-type]  # fmt: skip
    return result.cards


def _replace(
    person: Person, registry: Registry, database: Database, hopper: Hopper, store: KeyStore
) -> IssuedCard:
    registry.transition(person.id_number, CardStatus.LOST, actor="clerk")
    return replace_card(person.id_number, database, source=hopper, keystore=store, sam=SoftwareSam(store),
                        transport=TRANSPORT, actor="clerk", station=STATION, today=TODAY)  # fmt: skip


def _pay(image: Path) -> tuple[SaleOutcome, Drive]:
    card = load_card(image)
    card.power_on()
    return drive(card, issuer("00"))  # the issuer derives from demo_bank_key("IMK-AC") by the card's PAN, PSN


def _card_key(image: Path, ref: int) -> bytes:
    record = load_card(image).image.fs.key((MF, ADF_FID), ref)
    assert record is not None
    return record.value


def _live(registry: Registry, person: Person) -> CardRecord:
    card = registry.live_card(person.id_number)
    assert card is not None
    return card


def test_an_issued_card_pays_at_the_demo_bank_with_sda_and_dda(
    tmp_path: Path, registry: Registry, demo_store: KeyStore, people: list[Person]
) -> None:
    hopper = Hopper(tmp_path)
    assert [card.outcome for card in _issue(people[:1], registry, hopper, demo_store)] == ["active"]
    record = _live(registry, people[0])
    assert record.pan == pan_for("622848", record.id)  # BIN ‖ the registry's account number ‖ Luhn digit
    assert record.pan is not None
    assert record.pan[-1] == luhn_check_digit(record.pan[:-1])
    assert (record.psn, record.masked_pan) == ("01", f"622848******{record.pan[-4:]}")
    outcome, seen = _pay(hopper.taken[0])
    assert outcome.result is SaleResult.APPROVED
    assert outcome.cid is not None
    assert outcome.cid & 0xC0 == 0x40
    assert outcome.masked_pan == record.masked_pan
    assert not outcome.tvr[0] & (0x80 | 0x40 | 0x08)  # ODA performed; SDA and DDA not failed
    assert outcome.tsi[0] & 0x80  # offline data authentication performed
    assert [c.ins for c in seen.commands].count(0x88) == 1  # DDA: INTERNAL AUTHENTICATE with the ICC key
    assert seen.online[0].psn == "01"
    # the card keys are card_master_key(IMK, PAN, PSN) of the key store's PBOC-IMK-* (the DEMO bank keys)
    assert _card_key(hopper.taken[0], MK_AC_REF) == card_master_key(demo_bank_key("IMK-AC"), record.pan, "01")


def test_two_people_get_different_pans_and_both_pay(
    tmp_path: Path, registry: Registry, demo_store: KeyStore, people: list[Person]
) -> None:
    hopper = Hopper(tmp_path)
    assert [card.outcome for card in _issue(people[:2], registry, hopper, demo_store)] == ["active"] * 2
    first, second = (_live(registry, person) for person in people[:2])
    assert first.pan != second.pan
    assert first.masked_pan != second.masked_pan
    assert first.psn == second.psn == "01"
    assert {first.bank_account, second.bank_account} == {first.id, second.id}
    for image, record in zip(hopper.taken, (first, second), strict=True):
        outcome, _ = _pay(image)
        assert outcome.result is SaleResult.APPROVED
        assert outcome.masked_pan == record.masked_pan


def test_a_replacement_keeps_the_pan_with_the_next_psn_and_its_own_keys(
    tmp_path: Path, registry: Registry, database: Database, demo_store: KeyStore, people: list[Person]
) -> None:
    person = people[2]
    hopper = Hopper(tmp_path)
    _issue([person], registry, hopper, demo_store)
    old = _live(registry, person)
    new = _replace(person, registry, database, hopper, demo_store)
    assert new.outcome == "active"
    replacement = _live(registry, person)
    assert (replacement.pan, replacement.psn) == (old.pan, "02")
    assert replacement.bank_account == old.bank_account
    for ref in (MK_AC_REF, MK_SMI_REF):
        assert _card_key(hopper.taken[1], ref) != _card_key(hopper.taken[0], ref)
    assert replacement.pan is not None
    assert _card_key(hopper.taken[1], MK_AC_REF) == card_master_key(
        demo_bank_key("IMK-AC"), replacement.pan, "02"
    )
    outcome, seen = _pay(hopper.taken[1])
    assert outcome.result is SaleResult.APPROVED
    assert seen.online[0].psn == "02"
    # lost again: the next replacement takes PSN 03 (never one a chip already has)
    assert _replace(person, registry, database, hopper, demo_store).outcome == "active"
    assert _live(registry, person).psn == "03"


def test_no_full_pan_in_a_debug_log(
    tmp_path: Path, registry: Registry, database: Database, demo_store: KeyStore, people: list[Person],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    hopper = Hopper(tmp_path)
    issued = _issue(people[3:5], registry, hopper, demo_store)
    replaced = _replace(people[3], registry, database, hopper, demo_store)
    _pay(hopper.taken[-1])
    pans = {card.pan for card in registry.cards()} - {None}
    assert len(pans) == 2
    logged = [record.getMessage() for record in caplog.records]
    masked = {card.masked_pan for card in registry.cards()}
    assert any(m in line for line in logged for m in masked if m)  # the bank card is logged, masked
    shown = [*logged, *(repr(card) for card in registry.cards()), *(str(c) for c in [*issued, replaced])]
    assert not [line for line in shown for pan in pans if pan and pan in line]


def test_without_the_bank_application(
    tmp_path: Path, registry: Registry, demo_store: KeyStore, people: list[Person]
) -> None:
    hopper = Hopper(tmp_path)
    issued = _issue(people[5:6], registry, hopper, demo_store, bank=False)
    assert [card.outcome for card in issued] == ["active"]
    record = _live(registry, people[5])
    assert (record.pan, record.psn, record.masked_pan) == (None, None, None)
    card = load_card(hopper.taken[0])
    card.power_on()
    assert card.process(bytes.fromhex("00A4040008") + AID + b"\x00")[-2:] == b"\x6a\x82"
    assert card.process(bytes.fromhex("80A8000002830000"))[-2:] == b"\x6d\x00"  # no GPO outside an ADF
    outcome, _ = drive(card, issuer("00"))
    assert outcome.result is SaleResult.DECLINED_BY_CARD
    assert outcome.reason == "no payment application on the card"


def test_a_store_without_bank_keys_is_refused_before_any_card(
    tmp_path: Path, registry: Registry, people: list[Person]
) -> None:
    store = write_demo_keystore(tmp_path / "old.json", kdf_params=ScryptParams(n=2**10))
    store.delete_key("PBOC-IMK-SMC")
    hopper = Hopper(tmp_path)
    with pytest.raises(CryptoError, match="PBOC-IMK-SMC"):
        _issue(people[:1], registry, hopper, store)
    assert hopper.taken == []
    assert registry.cards() == []


def test_a_store_without_the_issuer_rsa_key_issues_cards_without_oda_that_pay(
    tmp_path: Path, registry: Registry, people: list[Person]
) -> None:
    store = write_demo_keystore(tmp_path / "no-rsa.json", kdf_params=ScryptParams(n=2**10))
    store.delete_rsa_key("PBOC-ISSUER-RSA")
    assert BankIssuer.from_keystore(store).oda_key is None
    hopper = Hopper(tmp_path)
    assert [card.outcome for card in _issue(people[:1], registry, hopper, store)] == ["active"]
    outcome, seen = _pay(hopper.taken[0])
    assert outcome.result is SaleResult.APPROVED
    assert 0x88 not in [c.ins for c in seen.commands]  # AIP 1C00: no DDA offered


class _KillAtActivate(_KillableCard):
    """Killed at the *nth* ACTIVATE FILE (1 DDF1, 2 the PSE, 3 the ADF): before it is sent, or just after."""

    def __init__(self, card: CardOS, nth: int, *, after: bool) -> None:
        super().__init__(card, None)
        self.nth, self.after, self.seen, self.dead = nth, after, 0, False

    def transmit(self, apdu: bytes) -> bytes:
        if self.dead:
            raise Killed
        if apdu[1] == 0x44:
            self.seen += 1
            if self.seen == self.nth:
                self.dead = True
                if not self.after:
                    raise Killed
        return super().transmit(apdu)


@pytest.mark.parametrize(("after", "settled"), [(False, "spoiled"), (True, "active")])
def test_a_card_killed_at_its_bank_applications_activation(
    tmp_path: Path, registry: Registry, demo_store: KeyStore, people: list[Person], after: bool, settled: str
) -> None:
    """Every record is written before the ADF's ACTIVATE FILE, and the health application reads back
    complete: only the read-back without keys (records of an unlocked ADF need the transport key) tells a
    card killed just before its last write from one killed just after."""
    hopper = Hopper(tmp_path)
    hopper.next_card()
    hopper.current = _KillAtActivate(load_card(hopper.taken[0]), 3, after=after)
    with pytest.raises(Killed):
        _issue(people[6:7], registry, hopper, demo_store)
    card = _KillableCard(load_card(hopper.taken[0]), None)  # the next run connects afresh
    lines, eject = resume(
        registry, card, SoftwareSam(demo_store), demo_store, actor="tester", station=STATION
    )
    assert lines[0].endswith(settled)
    assert eject


def test_the_demo_issuer_certificate_is_the_demo_cas_and_in_the_demo_store(demo_store: KeyStore) -> None:
    shipped = demo_issuer_oda_key()
    made = issuer_oda_key(demo_oda_issuer(), "622848", _dt.date(2040, 12, 31))
    assert shipped.certificate == made.certificate
    assert shipped.meta() == {k: v for k, v in json.loads(DEMO_ISSUER_CERTIFICATE.read_text()).items()
                              if k in shipped.meta()}  # fmt: skip
    ca = select_ca_key(load_ca_keys(), AID, shipped.ca_index)
    key = recover_issuer_key(ca, shipped.certificate, pan="6228489999999996", today=_dt.date(2040, 12, 31))
    assert key.modulus == shipped.private_key.public_key().public_numbers().n
    entry = demo_store.get_rsa_key("PBOC-ISSUER-RSA")
    assert {k: v for k, v in entry.meta.items() if k != "demo"} == shipped.meta()
    assert entry.private_key.private_numbers() == shipped.private_key.private_numbers()
    bank = BankIssuer.from_keystore(demo_store)
    assert bank.bin == "622848"
    assert bank.master_keys == {name: demo_bank_key(name) for name in ("IMK-AC", "IMK-SMI", "IMK-SMC")}
