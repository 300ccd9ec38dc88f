"""Key diversification, session key and cryptogram: the conventions of shared/spec/README.md
and facts sheet §4.4-4.5, checked against the definitions computed independently with gmssl."""

from __future__ import annotations

import pytest
from gmssl.sm4 import SM4_ENCRYPT, CryptSM4
from hypothesis import given
from hypothesis import strategies as st

from cardservice.errors import CryptoError
from cardservice.keys import (
    BlockCipher,
    auth_cryptogram,
    constant_time_equal,
    diversify,
    encrypt_ecb,
    fold,
    random_bytes,
    session_key,
)
from tests.conftest import unhex

MASTER = unhex("00112233445566778899AABBCCDDEEFF")
CARD_FACTOR = unhex("00 81 86 6B 00 00 10 15")  # facts sheet §4.4, observed level-1 factor
CITY_FACTOR = b"13000000"  # facts sheet §4.4: YYCSDM 130185 -> "13" + "000000"
CHALLENGE = unhex("A1 B2 C3 D4 E5 F6 07 18")
TERMINAL_DATA = unhex("11 22 33 44 55 66 77 88")  # the vendor's fixed terminal data, §4.5 step 4


def _gmssl_sm4(key: bytes, block: bytes) -> bytes:
    engine = CryptSM4(padding_mode=-1)  # neither PKCS7 nor ZERO: raw blocks
    engine.set_key(key, SM4_ENCRYPT)
    return bytes(engine.crypt_ecb(block))


def _not(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def test_city_factor_is_ascii() -> None:
    assert unhex("31 33 30 30 30 30 30 30") == CITY_FACTOR


def test_diversify_two_levels_sm4() -> None:
    level_1 = _gmssl_sm4(MASTER, CARD_FACTOR + _not(CARD_FACTOR))
    level_2 = _gmssl_sm4(level_1, CITY_FACTOR + _not(CITY_FACTOR))
    assert diversify(MASTER, [CARD_FACTOR]) == level_1
    assert diversify(MASTER, [CARD_FACTOR, CITY_FACTOR]) == level_2
    assert diversify(MASTER, []) == MASTER


def test_diversify_3des_is_pboc_left_right() -> None:
    key = unhex("0123456789ABCDEF FEDCBA9876543210")
    left = encrypt_ecb(BlockCipher.TDES, key, CARD_FACTOR)
    right = encrypt_ecb(BlockCipher.TDES, key, _not(CARD_FACTOR))
    assert diversify(key, [CARD_FACTOR], cipher=BlockCipher.TDES) == left + right


def test_session_key_sm4() -> None:
    card_key = diversify(MASTER, [CARD_FACTOR, CITY_FACTOR])
    assert session_key(card_key, CHALLENGE) == _gmssl_sm4(card_key, CHALLENGE + _not(CHALLENGE))


def test_auth_cryptogram_is_folded_sm4() -> None:
    """§4.5 steps 4-5: SAM encrypts terminal_data || 00*8, the result is folded to 8 bytes."""
    session = session_key(diversify(MASTER, [CARD_FACTOR, CITY_FACTOR]), CHALLENGE)
    block = _gmssl_sm4(session, TERMINAL_DATA + bytes(8))
    expected = bytes(a ^ b for a, b in zip(block[:8], block[8:], strict=True))
    assert auth_cryptogram(session, TERMINAL_DATA) == expected
    assert len(expected) == 8


def test_auth_cryptogram_3des_is_one_block() -> None:
    session = unhex("0123456789ABCDEF FEDCBA9876543210")
    assert auth_cryptogram(session, TERMINAL_DATA, cipher=BlockCipher.TDES) == encrypt_ecb(
        BlockCipher.TDES, session, TERMINAL_DATA
    )


def test_fold_example() -> None:
    assert fold(unhex("0102030405060708 F0F0F0F0F0F0F0F0")) == unhex("F1F2F3F4F5F6F7F8")


@given(st.binary(min_size=1, max_size=16).map(lambda b: b + b))
def test_fold_of_two_equal_halves_is_zero(block: bytes) -> None:
    assert fold(block) == bytes(len(block) // 2)


@pytest.mark.parametrize(
    "call",
    [
        lambda: diversify(MASTER, [bytes(7)]),
        lambda: diversify(MASTER, CARD_FACTOR),  # type: ignore[arg-type]
        lambda: diversify(MASTER[:8], [CARD_FACTOR], cipher=BlockCipher.DES),
        lambda: diversify(bytes(15), [CARD_FACTOR]),
        lambda: session_key(MASTER, bytes(16)),
        lambda: auth_cryptogram(MASTER, bytes(16)),
        lambda: fold(bytes(3)),
        lambda: random_bytes(-1),
    ],
)
def test_misuse_is_crypto_error(call: object) -> None:
    with pytest.raises(CryptoError):
        call()  # type: ignore[operator]


def test_constant_time_equal_and_random_bytes() -> None:
    assert constant_time_equal(b"abc", b"abc")
    assert not constant_time_equal(b"abc", b"abd")
    assert not constant_time_equal(b"abc", b"ab")
    assert len(random_bytes(16)) == 16
    assert random_bytes(16) != random_bytes(16)


@pytest.mark.parametrize(
    ("sam_output", "terminal_data", "command"),
    [
        # RK1DF03 (P2 84), card answered 9000: SAM 80 FA over 1122334455667788 || 00*8.
        (
            "6C37FF3CB7DA5458 D84CE9E7475CD086",
            "1122334455667788",
            "00 82 00 84 11 B47B16DBF08684DE 1122334455667788 01",
        ),
        # UK1DF03 (P2 85), card answered 9000: terminal data = the first of two challenges.
        (
            "E2D4A93F625C0A49 389836CD56946F8C",
            "4D2C990895A9B3F1",
            "00 82 00 85 11 DA4C9FF234C865C5 4D2C990895A9B3F1 01",
        ),
    ],
)
def test_fold_on_real_card_trace(sam_output: str, terminal_data: str, command: str) -> None:
    """Facts sheet §4.5 step 5, source B (山东华能 Reader.log, 2015-10-15): the SAM's 16-byte
    output folded is the cryptogram the real card accepted."""
    cryptogram = fold(unhex(sam_output))
    assert unhex("00 82 00") + unhex(command)[3:5] + cryptogram + unhex(terminal_data) + b"\x01" == unhex(
        command
    )
