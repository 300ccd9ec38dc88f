"""Whose signature an encounter record carries. The SM2 signature verifies under the key in the record's
own 190-byte SAM certificate area, so anyone who can write the slot can make a record that verifies: a
signature is ``valid`` only when its signer's fingerprint (SM3 of the uncompressed public key, hex) is on
the session's trusted list, ``valid_untrusted`` when it verifies under any other key."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from cardservice.errors import CodecError
from cardservice.healthcard import (
    EncounterKind,
    HealthCardSession,
    OutpatientRecord,
    SignatureStatus,
    card_file,
    encode_sam_certificate,
    signer_fingerprint,
)
from cardservice.healthcard._encounters import _check_signature
from cardservice.keys import KeyStore, Sam, ScryptParams, Sm2PrivateKey, SoftwareSam, sm3_digest
from simulators.health import demo_sam_fingerprint, demo_sm2_private_key, write_demo_keystore
from tests.healthcard.shared import connect
from tests.healthcard.test_flows import make_keystore
from tests.healthcard.test_session import outpatient

DEMO_SIGNER = demo_sam_fingerprint()
DATA = bytes(range(256)) * 6 + bytes(103)  # 1639 bytes: an inpatient data part


def test_fingerprint_is_sm3_of_the_public_key_in_upper_case_hex() -> None:
    public = demo_sm2_private_key().public_key()
    assert signer_fingerprint(public) == sm3_digest(public.to_bytes()).hex().upper() == DEMO_SIGNER
    assert public.to_bytes()[:1] == b"\x04"
    assert len(public.to_bytes()) == 65


def _signed(key: Sm2PrivateKey, data: bytes = DATA) -> bytes:
    return data + key.sign(data) + encode_sam_certificate(key.public_key(), key.sign)


def test_status_depends_on_the_trusted_list() -> None:
    demo, own = demo_sm2_private_key(), Sm2PrivateKey.generate()
    trusted = frozenset({DEMO_SIGNER})
    assert _check_signature(_signed(demo), 1639, trusted) == (SignatureStatus.VALID, demo.public_key())
    assert _check_signature(_signed(demo), 1639, frozenset()) == (
        SignatureStatus.VALID_UNTRUSTED,
        demo.public_key(),
    )
    # A self-made key and certificate: it verifies, and says whose it is.
    status, signer = _check_signature(_signed(own), 1639, trusted)
    assert (status, signer) == (SignatureStatus.VALID_UNTRUSTED, own.public_key())
    assert signer is not None
    assert signer_fingerprint(signer) != DEMO_SIGNER
    corrupted = bytearray(_signed(demo))
    corrupted[1639 + 10] ^= 0x01
    assert _check_signature(bytes(corrupted), 1639, trusted) == (SignatureStatus.INVALID, None)
    assert _check_signature(DATA + bytes(254), 1639, trusted) == (SignatureStatus.UNSIGNED, None)


def test_trusted_signers_must_be_fingerprints(tmp_path: Path) -> None:
    """A typo would silently trust nobody: refused when the session is made."""
    card = SimpleNamespace(atr=b"", transmit=lambda apdu: b"\x90\x00")
    sam = SoftwareSam(make_keystore(tmp_path))
    for wrong in (["abc"], [DEMO_SIGNER + "00"], ["Z" * 64]):
        with pytest.raises(CodecError):
            HealthCardSession(card, sam, trusted_signers=wrong)


def test_signature_values_are_the_apis() -> None:
    assert [s.value for s in SignatureStatus] == [
        "valid",
        "valid_untrusted",
        "invalid",
        "unsigned",
        "not-checked",
    ]


# -- end to end: the virtual health card ---------------------------------------------------------------


def test_e2e_a_record_signed_by_the_demo_psam_is_valid_only_when_trusted(
    card_path: Path, soft_sam: Sam
) -> None:
    writer = HealthCardSession(connect(card_path), soft_sam)
    writer.verify_sam_pin("123456")
    slot = writer.write_encounter(EncounterKind.OUTPATIENT, outpatient(5))
    for trusted, expected in (
        ([DEMO_SIGNER], SignatureStatus.VALID),
        ([DEMO_SIGNER.lower()], SignatureStatus.VALID),
        ([], SignatureStatus.VALID_UNTRUSTED),
        (["00" * 32], SignatureStatus.VALID_UNTRUSTED),
    ):
        reader = HealthCardSession(connect(card_path), soft_sam, trusted_signers=trusted)
        encounters = reader.read_encounters("outpatient")
        assert [(e.slot, e.signature) for e in encounters] == [(1, expected), (slot, expected)]
        assert {e.signer_fingerprint for e in encounters} == {DEMO_SIGNER}


def test_e2e_without_a_list_the_sam_in_use_is_trusted(card_path: Path, soft_sam: Sam) -> None:
    """The operator's command line (``cardservice read``) names no list: it trusts its own SAM."""
    (encounter,) = HealthCardSession(connect(card_path), soft_sam).read_encounters("outpatient")
    assert (encounter.signature, encounter.signer_fingerprint) == (SignatureStatus.VALID, DEMO_SIGNER)


def test_e2e_a_record_resigned_with_a_self_made_key_is_valid_untrusted(
    card_path: Path, tmp_path: Path
) -> None:
    """Someone with the card's update key (or any way to write the slot) signs with a key of their own
    and puts a matching self-signed certificate beside it."""
    forger_store = write_demo_keystore(tmp_path / "forger.json", kdf_params=ScryptParams(n=2**10))
    forged_key = Sm2PrivateKey.generate()
    forger_store.set_sm2_private_key(forged_key)
    forger = HealthCardSession(connect(card_path), SoftwareSam(forger_store))
    forger.verify_sam_pin("123456")
    forger.sign_encounter("outpatient", 1)
    slot = forger.write_encounter("outpatient", outpatient(9))
    reader = HealthCardSession(connect(card_path), SoftwareSam(forger_store), trusted_signers=[DEMO_SIGNER])
    encounters = reader.read_encounters("outpatient")
    assert [(e.slot, e.signature) for e in encounters] == [
        (1, SignatureStatus.VALID_UNTRUSTED),
        (slot, SignatureStatus.VALID_UNTRUSTED),
    ]
    assert {e.signer_fingerprint for e in encounters} == {signer_fingerprint(forged_key.public_key())}


def test_e2e_a_corrupted_signature_is_invalid(card_path: Path, demo_keystore: KeyStore) -> None:
    sam = SoftwareSam(demo_keystore)
    session = HealthCardSession(connect(card_path), sam, trusted_signers=[DEMO_SIGNER])
    path = "DDF1/DF03/ED01"
    raw = session.read_file(path)
    assert isinstance(raw, bytes)
    data_size = OutpatientRecord.LAYOUT.data_size
    flipped = bytes([raw[data_size] ^ 0x80])  # first byte of r
    target = card_file(path)
    session._open(path, target.update_key)
    session._write_binary(target, data_size, flipped)
    (encounter,) = HealthCardSession(connect(card_path), sam, trusted_signers=[DEMO_SIGNER]).read_encounters(
        "outpatient"
    )
    assert (encounter.signature, encounter.signer, encounter.signer_fingerprint) == (
        SignatureStatus.INVALID,
        None,
        None,
    )
