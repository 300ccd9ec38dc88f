"""The card proves it is genuine: INTERNAL AUTHENTICATE with IRKDDF1 (table 10-2: "lets the terminal check
the card"), the answer checked by the SAM, never by the terminal (the SAM holds the issuer master key).

Key reference, challenge and padding are UNKNOWN in the sources (facts sheet §4.3, §9): the project's
conventions are in ``cardservice.healthcard._flows`` (INTERNAL_AUTH_ALGORITHMS) and HEALTH_KEYS."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardservice.apdu.testing import ScriptedTransmit
from cardservice.errors import CodecError, WrongParametersError
from cardservice.healthcard import (
    ApduSam,
    CardNotGenuineError,
    HealthCardSession,
    InternalAuthAlgorithm,
    health_key,
    internal_authenticate,
)
from cardservice.keys import BlockCipher, KeyStore, Sam, SoftwareSam, diversify, encrypt_ecb
from cardservice.transport import InProcessTransport
from tests.conftest import unhex
from tests.healthcard.shared import CloneCard, CountingTransport, connect
from tests.healthcard.test_flows import CARD_FACTOR, MASTER, drive, make_keystore
from tests.healthcard.test_psam import scripted

IRK = health_key("IRKDDF1")
CHALLENGE_16 = unhex("00112233445566778899AABBCCDDEEFF")
CARD_IRK = diversify(MASTER, [CARD_FACTOR], cipher=BlockCipher.SM4)  # the card's IRK (one level)


def answer(message: bytes, key: bytes = CARD_IRK) -> str:
    return encrypt_ecb(BlockCipher.SM4, key, message).hex() + "9000"


@pytest.fixture
def sam(tmp_path: Path) -> SoftwareSam:
    return SoftwareSam(make_keystore(tmp_path))


# -- the flow, byte for byte ---------------------------------------------------------------------------


def test_the_card_answers_its_irk_over_the_challenge_and_the_sam_agrees(sam: SoftwareSam) -> None:
    """``00 88 00 0B 10 <challenge> 00`` → E_IRK(challenge) (one SM4 block), checked by the SAM."""
    card = ScriptedTransmit([("00 88 00 0B 10 00112233445566778899AABBCCDDEEFF 00", answer(CHALLENGE_16))])
    drive(internal_authenticate(IRK, [CARD_FACTOR], CHALLENGE_16), card, sam)
    assert len(card.requests) == 1


@pytest.mark.parametrize(
    ("algorithm", "challenge", "message"),
    [
        ("ecb-8-zero", "0102030405060708", "0102030405060708 0000000000000000"),
        ("ecb-8-iso", "0102030405060708", "0102030405060708 8000000000000000"),
    ],
)
def test_eight_byte_challenges_are_padded_as_the_algorithm_says(
    sam: SoftwareSam, algorithm: str, challenge: str, message: str
) -> None:
    card = ScriptedTransmit([(f"00 88 00 0B 08 {challenge} 00", answer(unhex(message)))])
    chosen = InternalAuthAlgorithm(algorithm)
    drive(internal_authenticate(IRK, [CARD_FACTOR], unhex(challenge), algorithm=chosen), card, sam)
    assert card.requests == [unhex(f"00 88 00 0B 08 {challenge} 00")]  # the card gets the bare challenge
    # The SAM accepted E_IRK(padded challenge): with the other padding the same answer is refused.
    other = "ecb-8-iso" if algorithm == "ecb-8-zero" else "ecb-8-zero"
    refused = ScriptedTransmit([(f"00 88 00 0B 08 {challenge} 00", answer(unhex(message)))])
    flow = internal_authenticate(IRK, [CARD_FACTOR], unhex(challenge), algorithm=InternalAuthAlgorithm(other))
    with pytest.raises(CardNotGenuineError):
        drive(flow, refused, sam)


def test_the_key_reference_is_an_option(sam: SoftwareSam) -> None:
    card = ScriptedTransmit([("00 88 00 81 10 00112233445566778899AABBCCDDEEFF 00", answer(CHALLENGE_16))])
    drive(internal_authenticate(IRK, [CARD_FACTOR], CHALLENGE_16, card_ref=0x81), card, sam)
    assert [command.p2 for command in card.commands] == [0x81]  # P2 is the key reference asked for


@pytest.mark.parametrize(
    "reply",
    [
        answer(CHALLENGE_16, key=bytes(16)),  # another key: a card of another issuer, or a guess
        answer(CHALLENGE_16)[:-6] + "9000",  # one byte short
        "6A88",  # no such key: an emulator, or a card without the IRK
        "6982",
        "6D00",  # no INTERNAL AUTHENTICATE at all
    ],
)
def test_anything_but_the_right_cryptogram_is_not_genuine(sam: SoftwareSam, reply: str) -> None:
    card = ScriptedTransmit([(None, reply)])
    with pytest.raises(CardNotGenuineError):
        drive(internal_authenticate(IRK, [CARD_FACTOR], CHALLENGE_16), card, sam)
    assert len(card.requests) == 1  # never retried


def test_a_refusal_names_its_status_word(sam: SoftwareSam) -> None:
    card = ScriptedTransmit([(None, "6A88")])
    with pytest.raises(CardNotGenuineError) as caught:
        drive(internal_authenticate(IRK, [CARD_FACTOR], CHALLENGE_16), card, sam)
    assert caught.value.sw == 0x6A88


def test_wrong_inputs_send_nothing(sam: SoftwareSam) -> None:
    for flow in (
        internal_authenticate(IRK, [CARD_FACTOR], CHALLENGE_16[:8]),  # ecb-16 needs 16 bytes
        internal_authenticate(IRK, [CARD_FACTOR, CARD_FACTOR], CHALLENGE_16),  # IRK: one level
        internal_authenticate(health_key("RK1DDF1"), [CARD_FACTOR, CARD_FACTOR], CHALLENGE_16),
    ):
        card = ScriptedTransmit()
        with pytest.raises(CodecError):
            drive(flow, card, sam)
        assert card.requests == []


# -- the SAM's side: derive the card's IRK and compare, inside the SAM ------------------------------------


def test_software_sam_verifies_without_giving_out_the_key(sam: SoftwareSam) -> None:
    good = unhex(answer(CHALLENGE_16)[:-4])
    assert sam.verify_card_cryptogram("IRKDDF1", [CARD_FACTOR], CHALLENGE_16, good) is True
    assert sam.verify_card_cryptogram("IRKDDF1", [CARD_FACTOR], CHALLENGE_16, bytes(16)) is False
    with pytest.raises(WrongParametersError):
        sam.verify_card_cryptogram("NOSUCHKEY", [CARD_FACTOR], CHALLENGE_16, good)


def test_apdu_sam_sends_80_fc_and_reads_6300_as_no() -> None:
    """Project-defined ``80 FC <sam_p1> <sam_index> Lc factor(s) ‖ message ‖ cryptogram``."""
    good = answer(CHALLENGE_16)[:-4]
    command = f"80 FC 27 01 28 {CARD_FACTOR.hex()} {CHALLENGE_16.hex()} {good}"
    assert ApduSam(scripted((command, "9000"))).verify_card_cryptogram(
        "IRKDDF1", [CARD_FACTOR], CHALLENGE_16, unhex(good)
    )
    assert not ApduSam(scripted((command, "6300"))).verify_card_cryptogram(
        "IRKDDF1", [CARD_FACTOR], CHALLENGE_16, unhex(good)
    )
    card = ScriptedTransmit()
    with pytest.raises(CodecError):
        ApduSam(card).verify_card_cryptogram("IRKDDF1", [CARD_FACTOR, CARD_FACTOR], CHALLENGE_16, unhex(good))
    assert card.requests == []


# -- end to end: the virtual health card and the demo keys (software SAM and virtual PSAM) ---------------


def test_e2e_the_demo_card_is_genuine_for_one_command_more(card: CountingTransport, soft_sam: Sam) -> None:
    session = HealthCardSession(card, soft_sam)
    session.authenticate_card()
    assert session.read_identity().cardholder.name == "李明"
    commands = [(c.ins, c.p2) for c in card.commands()]
    # SELECT DDF1, INTERNAL AUTHENTICATE (IRKDDF1 at 0B), then the identity read from SELECT EF05 on.
    assert commands[:3] == [(0xA4, 0x00), (0x88, 0x0B), (0xA4, 0x00)]
    assert len(card.sent) == 11  # read_identity alone: 10
    assert len(card.commands()[1].data) == 16


def test_e2e_challenges_are_fresh(card: CountingTransport, soft_sam: Sam) -> None:
    session = HealthCardSession(card, soft_sam)
    session.authenticate_card()
    session.authenticate_card()
    challenges = [c.data for c in card.commands() if c.ins == 0x88]
    assert len(challenges) == 2
    assert challenges[0] != challenges[1]


@pytest.mark.parametrize(("algorithm", "genuine"), [("ecb-8-zero", True), ("ecb-8-iso", False)])
def test_e2e_the_virtual_card_pads_with_zeros(
    card: CountingTransport, soft_sam: Sam, algorithm: str, genuine: bool
) -> None:
    """The card OS answers E_K(data ‖ 00..) (simulators/cardos/_security.py): a profile that says
    ISO padding for it refuses it — the option must match the card."""
    session = HealthCardSession(card, soft_sam, internal_auth_algorithm=algorithm)
    if genuine:
        session.authenticate_card()
    else:
        with pytest.raises(CardNotGenuineError):
            session.authenticate_card()


def test_e2e_a_card_of_another_issuer_is_not_genuine_and_loses_no_try(
    card_path: Path, tmp_path: Path
) -> None:
    other = SoftwareSam(make_keystore(tmp_path))  # other master keys
    card = connect(card_path)
    with pytest.raises(CardNotGenuineError):
        HealthCardSession(card, other).authenticate_card()
    assert 0x82 not in [c.ins for c in card.commands()]  # refused before any EXTERNAL AUTHENTICATE


def test_e2e_a_clone_without_keys_is_not_genuine(card_path: Path, demo_keystore: KeyStore) -> None:
    from simulators.cardos import load_card

    sam = SoftwareSam(demo_keystore)
    for clone in (
        CloneCard.copy_of(load_card(card_path), sam),
        CloneCard.copy_of(load_card(card_path), sam, guess=True),
    ):
        transport = InProcessTransport(clone)
        transport.connect()
        # Without the check, the copy reads like the real card:
        assert HealthCardSession(transport, sam).read_identity().cardholder.name == "李明"
        with pytest.raises(CardNotGenuineError):
            HealthCardSession(transport, sam).authenticate_card()


def test_irk_is_documented_as_a_convention() -> None:
    assert IRK.confidence == "convention"
    assert (IRK.card_ref, IRK.levels) == (0x0B, 1)
