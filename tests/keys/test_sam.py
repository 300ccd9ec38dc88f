"""SoftwareSam: the PSAM behaviour of facts sheet §4.4-4.6 and §5.2 over a key store."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from cardservice.errors import (
    AuthenticationBlockedError,
    ConditionsNotSatisfiedError,
    SecurityNotSatisfiedError,
    VerificationFailedError,
    WrongLengthError,
    WrongParametersError,
)
from cardservice.keys import (
    BlockCipher,
    KeyStore,
    Sam,
    ScryptParams,
    Sm2PrivateKey,
    SoftwareSam,
    auth_cryptogram,
    diversify,
    encrypt_ecb,
    fold,
    mac_algorithm_1,
    pad_iso9797_m2,
    session_key,
)
from tests.conftest import unhex

MASTER_RK = unhex("00112233445566778899AABBCCDDEEFF")
MASTER_STK = unhex("FFEEDDCCBBAA99887766554433221100")
CARD_FACTOR = unhex("0085865300018034")
CITY_FACTOR = b"21000000"
CHALLENGE = unhex("0102030405060708")
TERMINAL_DATA = unhex("1122334455667788")


@pytest.fixture
def keystore(tmp_path: Path) -> KeyStore:
    store = KeyStore.create(tmp_path / "sam.json", "pw", kdf_params=ScryptParams(n=2**10))
    store.put_key("RK1DDF1", MASTER_RK, sam_p1=0x47, sam_p2=0x31, levels=2)
    store.put_key("STKDDF1", MASTER_STK, sam_p1=0x28, sam_p2=0x02, levels=1)
    store.set_sam_pin("123456")
    store.set_sm2_private_key(Sm2PrivateKey.generate())
    return store


@pytest.fixture
def sam(keystore: KeyStore) -> SoftwareSam:
    return SoftwareSam(keystore)


def test_is_a_sam(sam: SoftwareSam) -> None:
    assert isinstance(sam, Sam)


def test_external_authenticate_flow(sam: SoftwareSam) -> None:
    """§4.5: 80 DE with card factor || city factor || challenge, then 80 FA over terminal data ||
    00*8, folded: equals the recipe computed from the master key."""
    sam.derive_session_key("RK1DDF1", [CARD_FACTOR, CITY_FACTOR], CHALLENGE)
    result = sam.encrypt(TERMINAL_DATA + bytes(8))
    expected_session = session_key(diversify(MASTER_RK, [CARD_FACTOR, CITY_FACTOR]), CHALLENGE)
    assert result == encrypt_ecb(BlockCipher.SM4, expected_session, TERMINAL_DATA + bytes(8))
    assert fold(result) == auth_cryptogram(expected_session, TERMINAL_DATA)


def test_secure_messaging_mac(sam: SoftwareSam) -> None:
    """§4.6: 80 FA 05 00 over IV(16 zero) || header || ciphertext; 4 bytes kept."""
    sam.derive_session_key("STKDDF1", [CARD_FACTOR], CHALLENGE)
    header_and_data = unhex("04 DC 01 04 14") + bytes(16)
    mac = sam.mac(header_and_data)
    expected_session = session_key(diversify(MASTER_STK, [CARD_FACTOR]), CHALLENGE)
    assert mac == mac_algorithm_1(BlockCipher.SM4, expected_session, header_and_data)[:4]
    assert len(mac) == 4
    record = pad_iso9797_m2(unhex("02 5A 01 31"), 16)
    assert sam.encrypt(record) == encrypt_ecb(BlockCipher.SM4, expected_session, record)


def test_no_session_key_is_6985(sam: SoftwareSam) -> None:
    with pytest.raises(ConditionsNotSatisfiedError) as caught:
        sam.encrypt(bytes(16))
    assert caught.value.sw == 0x6985
    with pytest.raises(ConditionsNotSatisfiedError):
        sam.mac(b"data")


def test_failed_derivation_unloads_the_session_key(sam: SoftwareSam) -> None:
    sam.derive_session_key("RK1DDF1", [CARD_FACTOR, CITY_FACTOR], CHALLENGE)
    with pytest.raises(WrongParametersError) as caught:
        sam.derive_session_key("NOPE", [CARD_FACTOR], CHALLENGE)
    assert caught.value.sw == 0x6A88
    with pytest.raises(ConditionsNotSatisfiedError):
        sam.encrypt(bytes(16))


@pytest.mark.parametrize(
    ("factors", "challenge"),
    [
        ([CARD_FACTOR], CHALLENGE),  # the key is configured for two levels
        ([CARD_FACTOR, CITY_FACTOR, CITY_FACTOR], CHALLENGE),
        ([], CHALLENGE),
        ([CARD_FACTOR, CITY_FACTOR[:7]], CHALLENGE),
        ([CARD_FACTOR, CITY_FACTOR], CHALLENGE[:4]),
    ],
)
def test_wrong_factor_shape_is_refused(sam: SoftwareSam, factors: list[bytes], challenge: bytes) -> None:
    """A wrong factor would burn a try on the citizen's card (§4.4 warning): refuse it here."""
    with pytest.raises(WrongLengthError) as caught:
        sam.derive_session_key("RK1DDF1", factors, challenge)
    assert caught.value.sw == 0x6700


def test_encrypt_needs_whole_blocks(sam: SoftwareSam) -> None:
    sam.derive_session_key("STKDDF1", [CARD_FACTOR], CHALLENGE)
    with pytest.raises(WrongLengthError):
        sam.encrypt(bytes(15))


def test_pin_counter_and_blocking(sam: SoftwareSam) -> None:
    with pytest.raises(VerificationFailedError) as first:
        sam.verify_pin("654321")
    assert first.value.sw == 0x63C2
    assert first.value.tries_left == 2
    sam.verify_pin("123456")  # right PIN resets the counter
    assert sam.tries_left == 3
    for expected in (2, 1, 0):
        with pytest.raises(VerificationFailedError) as caught:
            sam.verify_pin("000000")
        assert caught.value.tries_left == expected
    with pytest.raises(AuthenticationBlockedError) as blocked:
        sam.verify_pin("123456")
    assert blocked.value.sw == 0x6983
    assert not sam.pin_verified


def test_malformed_pin_burns_no_try(sam: SoftwareSam) -> None:
    with pytest.raises(WrongParametersError):
        sam.verify_pin("12ab")
    assert sam.tries_left == 3


def test_signing_needs_pin(sam: SoftwareSam) -> None:
    with pytest.raises(SecurityNotSatisfiedError) as caught:
        sam.sm2_sign(b"record")
    assert caught.value.sw == 0x6982
    sam.verify_pin("123456")
    signature = sam.sm2_sign(b"record")
    sam.sm2_public_key().verify(signature, b"record")
    sam.reset()
    with pytest.raises(SecurityNotSatisfiedError):
        sam.sm2_sign(b"record")


def test_sm3(sam: SoftwareSam) -> None:
    assert sam.sm3_digest(b"abc") == unhex("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")


def test_without_configured_pin_or_sm2_key(tmp_path: Path) -> None:
    store = KeyStore.create(tmp_path / "bare.json", "pw", kdf_params=ScryptParams(n=2**10))
    sam = SoftwareSam(store)
    with pytest.raises(ConditionsNotSatisfiedError):
        sam.verify_pin("123456")
    with pytest.raises(WrongParametersError):
        sam.sm2_public_key()


def test_repr_hides_everything(sam: SoftwareSam) -> None:
    sam.derive_session_key("RK1DDF1", [CARD_FACTOR, CITY_FACTOR], CHALLENGE)
    assert repr(sam) == "SoftwareSam(<hidden>)"
    with pytest.raises(TypeError):
        pickle.dumps(sam)
