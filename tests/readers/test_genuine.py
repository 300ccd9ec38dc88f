"""The reader manager proves every inserted card genuine before it is ``ready`` (INTERNAL AUTHENTICATE with
IRKDDF1, checked by the bound SAM); a card that cannot is ``refused`` with ``card_not_genuine``, like a
blacklisted card, and its identity is never served. Encounter signatures count as ``valid`` only for the
manager's trusted signers."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cardservice.healthcard import HealthCardSession, SignatureStatus, mask_id_number
from cardservice.keys import ScryptParams
from cardservice.readers import InProcessBackend, ReaderBinding, ReaderManager, ServiceError, load_profiles
from cardservice.transport import InProcessTransport, VirtualCard
from simulators.cardos import load_card
from simulators.health import DEMO_SAM_PIN, create_health_card, demo_sam_fingerprint, write_demo_keystore
from tests.healthcard.shared import DEMO, CloneCard
from tests.virtualcards import RecordingCard, make_card, wait_for

CARD, SAM = "vcard 00 00", "vcard 00 01"
READER = "vcard-00-00"
CARD_NUMBER = DEMO["DDF1/EF05"]["card_number"]


class Stack:
    def __init__(self, manager: ReaderManager, events: list[dict[str, Any]], audit: list[dict[str, Any]]):
        self.manager, self.events, self.audit = manager, events, audit

    def state(self) -> Any:
        def probe() -> Any:
            info = next((i for i in self.manager.readers() if i.id == READER), None)
            return info if info is not None and info.state not in ("reading", "empty") else None

        return wait_for(probe, 10, "the card to be read")


Factory = Callable[..., Stack]


@pytest.fixture
def make_manager(tmp_path: Path) -> Iterator[Factory]:
    managers: list[ReaderManager] = []

    def build(card: VirtualCard, **options: Any) -> Stack:
        events: list[dict[str, Any]] = []
        audit: list[dict[str, Any]] = []
        backend = InProcessBackend({CARD: card, SAM: make_card(tmp_path, "sam")})
        manager = ReaderManager(
            backend,
            bindings=[ReaderBinding(card=CARD, sam=SAM, kind="in-process")],
            profiles=options.pop("profiles", None) or load_profiles(),
            sam_pins={0: DEMO_SAM_PIN},
            on_event=events.append,
            audit=lambda **record: audit.append(record),
            **options,
        )
        managers.append(manager)
        manager.start()
        return Stack(manager, events, audit)

    yield build
    for manager in managers:
        manager.stop()


def psam(folder: Path) -> Any:
    from cardservice.healthcard import ApduSam

    transport = InProcessTransport(make_card(folder, "sam"))
    transport.connect()
    return ApduSam(transport)


def identity_apdus(folder: Path) -> int:
    """Card APDUs of the identity read alone (what the insertion read cost before the check)."""
    sent: list[bytes] = []
    transport = InProcessTransport(make_card(folder, "health"))
    transport.connect()

    class Counting:
        atr = transport.atr

        @staticmethod
        def transmit(apdu: bytes) -> bytes:
            sent.append(apdu)
            return transport.transmit(apdu)

    HealthCardSession(Counting(), psam(folder)).read_identity()
    return len(sent)


def test_the_demo_card_proves_it_is_genuine_at_insertion(make_manager: Factory, tmp_path: Path) -> None:
    card = RecordingCard(make_card(tmp_path, "health"), CARD, [])
    stack = make_manager(card)
    assert stack.state().state == "ready"
    assert stack.manager.card(READER).identity.cardholder.name == "李明"
    assert card.instructions[0x88] == 1  # one INTERNAL AUTHENTICATE
    (inserted,) = [e for e in stack.events if e["type"] == "card.inserted"]
    before = identity_apdus(tmp_path)
    print(f"card APDUs at insertion: {inserted['apdus']} (identity read alone: {before})")
    assert inserted["apdus"] == before + 1 == 11  # the INTERNAL AUTHENTICATE; DDF1 was selected anyway
    assert [a["result"] for a in stack.audit if a["action"] == "card.insert"] == ["ok"]


def _assert_not_genuine(stack: Stack) -> None:
    info = stack.state()
    assert info.state == "refused"
    assert info.problem is not None
    assert info.problem["code"] == "card_not_genuine"
    for ask in (
        lambda: stack.manager.card(READER),
        lambda: stack.manager.submit(READER, lambda card: card.health.read_all()),
    ):
        with pytest.raises(ServiceError) as refused:
            ask()
        assert refused.value.code == "card_not_genuine"
    inserts = [a for a in stack.audit if a["action"] == "card.insert"]
    # The number the card claims, masked: whose card was copied.
    assert [(a["result"], a["card"]) for a in inserts] == [("card_not_genuine", mask_id_number(CARD_NUMBER))]
    (inserted,) = [e for e in stack.events if e["type"] == "card.inserted"]
    assert (inserted["state"], inserted["code"]) == ("refused", "card_not_genuine")
    assert CARD_NUMBER not in repr(stack.events) + repr(stack.audit)


@pytest.mark.parametrize("guess", [False, True], ids=["no-such-key", "guessed-answer"])
def test_a_copy_with_the_victims_number_and_no_keys_is_refused_before_ready(
    make_manager: Factory, tmp_path: Path, guess: bool
) -> None:
    clone = CloneCard.copy_of(make_card(tmp_path, "health"), psam(tmp_path), guess=guess)
    stack = make_manager(clone)
    _assert_not_genuine(stack)
    assert 0x82 not in clone.instructions  # no key was presented to it


def test_a_card_made_with_another_issuers_keys_is_refused_and_loses_no_try(
    make_manager: Factory, tmp_path: Path
) -> None:
    other = write_demo_keystore(tmp_path / "other.keystore", kdf_params=ScryptParams(n=2**10))
    for name in other.names():
        other.put_key(name, secrets.token_bytes(16), **dict(other.get_entry(name).meta))
    other.save()
    path = tmp_path / "foreign.json"
    create_health_card(path, keystore=other)
    card = RecordingCard(load_card(path), CARD, [])
    stack = make_manager(card)
    _assert_not_genuine(stack)
    assert card.instructions[0x82] == 0


def _profiles(tmp_path: Path, options: str) -> Any:
    extra = tmp_path / "profiles.toml"
    extra.write_text(
        f'[[profile]]\nname = "site cards"\natr = "3B 8C 01 43 53 4F 53 *"\nmodel = "health"\n'
        f"options = {{ {options} }}\n",
        encoding="utf-8",
    )
    return load_profiles(extra)


def test_a_profile_that_turns_the_check_off_serves_a_copy(make_manager: Factory, tmp_path: Path) -> None:
    """``internal_auth = false`` is for old cards whose IRK reference is unknown: any card presenting
    that profile's ATR is then served unchecked — which is why no built-in profile says so."""
    clone = CloneCard.copy_of(make_card(tmp_path, "health"), psam(tmp_path))
    stack = make_manager(clone, profiles=_profiles(tmp_path, "internal_auth = false"))
    assert stack.state().state == "ready"
    assert 0x88 not in clone.instructions


def test_the_key_reference_comes_from_the_profile(make_manager: Factory, tmp_path: Path) -> None:
    card = RecordingCard(make_card(tmp_path, "health"), CARD, [])
    stack = make_manager(card, profiles=_profiles(tmp_path, "internal_auth_key_ref = 0x0C"))
    info = stack.state()
    assert (info.state, info.problem["code"]) == ("refused", "card_not_genuine")  # the card has no key 0C
    assert info.problem["sw"] == "6A88"


def test_the_algorithm_comes_from_the_profile(make_manager: Factory, tmp_path: Path) -> None:
    stack = make_manager(
        RecordingCard(make_card(tmp_path, "health"), CARD, []),
        profiles=_profiles(tmp_path, 'internal_auth_algorithm = "ecb-8-zero"'),
    )
    assert stack.state().state == "ready"


def _signature(stack: Stack) -> SignatureStatus:
    future = stack.manager.submit(READER, lambda card: card.health.read_encounters("outpatient"))
    (encounter,) = future.result(10)
    return encounter.signature


def test_signatures_are_valid_only_for_the_trusted_signers(make_manager: Factory, tmp_path: Path) -> None:
    trusted = make_manager(make_card(tmp_path, "health"), trusted_signers=[demo_sam_fingerprint()])
    assert trusted.state().state == "ready"
    assert _signature(trusted) is SignatureStatus.VALID
    untrusted = make_manager(make_card(tmp_path, "health"))  # no list: nobody is trusted
    assert untrusted.state().state == "ready"
    assert _signature(untrusted) is SignatureStatus.VALID_UNTRUSTED
    with pytest.raises(ValueError, match="fingerprint"):
        make_manager(make_card(tmp_path, "health"), trusted_signers=["not a fingerprint"])


# -- the profile options ---------------------------------------------------------------------------------


def test_every_built_in_profile_checks_the_card() -> None:
    """Including the catch-all: an emulator chooses its ATR, so a profile without the check would be
    the way around it."""
    assert all(profile.internal_auth for profile in load_profiles())


def test_the_options_reach_the_session(tmp_path: Path) -> None:
    from cardservice.healthcard import InternalAuthAlgorithm

    table = _profiles(tmp_path, 'internal_auth_key_ref = 0x81, internal_auth_algorithm = "ecb-8-iso"')
    profile = table.profiles[0]
    assert profile.internal_auth
    assert profile.session_options() == {
        "internal_auth_key_ref": 0x81,
        "internal_auth_algorithm": InternalAuthAlgorithm.ECB_8_ISO,
    }
    assert not _profiles(tmp_path, "internal_auth = false").profiles[0].internal_auth
    assert "internal_auth" not in _profiles(tmp_path, "internal_auth = true").profiles[0].session_options()


@pytest.mark.parametrize(
    "options",
    [
        'internal_auth = "yes"',
        "internal_auth_key_ref = 0",
        "internal_auth_key_ref = 0xFF",
        "internal_auth_key_ref = 256",
        'internal_auth_key_ref = "0B"',
        'internal_auth_algorithm = "3des"',
    ],
)
def test_malformed_options_stop_the_daemon_at_start(tmp_path: Path, options: str) -> None:
    from cardservice.readers import ProfileError

    with pytest.raises(ProfileError, match=options.split(" ")[0]):
        _profiles(tmp_path, options)
