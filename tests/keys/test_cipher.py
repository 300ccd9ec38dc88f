"""Block ciphers and SM3 against the published known answers."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from cardservice.errors import CryptoError
from cardservice.keys import (
    BlockCipher,
    decrypt_cbc,
    decrypt_ecb,
    encrypt_cbc,
    encrypt_ecb,
    sm3_digest,
)
from tests.conftest import unhex

SM4_KEY = unhex("01 23 45 67 89 AB CD EF FE DC BA 98 76 54 32 10")


def test_sm4_gbt32907_example_1() -> None:
    """GB/T 32907-2016 Appendix A, example 1: key = plaintext = 0123..3210."""
    assert encrypt_ecb(BlockCipher.SM4, SM4_KEY, SM4_KEY) == unhex(
        "68 1E DF 34 D2 06 96 5E 86 B3 E9 4F 53 6E 42 46"
    )
    assert decrypt_ecb(BlockCipher.SM4, SM4_KEY, unhex("681EDF34D206965E86B3E94F536E4246")) == SM4_KEY


@pytest.mark.slow
def test_sm4_gbt32907_example_2_million_iterations() -> None:
    """GB/T 32907-2016 Appendix A, example 2: the plaintext encrypted 1,000,000 times with the same key.

    One ECB encryptor context, one ``update`` per iteration (each output is the next input).
    """
    started = time.perf_counter()
    encryptor = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    block = SM4_KEY
    for _ in range(1_000_000):
        block = encryptor.update(block)
    assert block == unhex("59 52 98 C7 C6 FD 27 1F 04 02 F8 04 C3 3D 3F 66")
    # Our wrapper agrees with the primitive on the first step.
    assert encrypt_ecb(BlockCipher.SM4, SM4_KEY, SM4_KEY) == Cipher(
        algorithms.SM4(SM4_KEY), modes.ECB()
    ).encryptor().update(SM4_KEY)
    assert time.perf_counter() - started < 30


def test_sm3_gbt32905_example_1_abc() -> None:
    """GB/T 32905-2016 Appendix A.1: "abc"."""
    assert sm3_digest(b"abc") == unhex(
        "66c7f0f4 62eeedd9 d1f2d46b dc10e4e2 4167c487 5cf2f7a2 297da02b 8f4ba8e0"
    )


def test_sm3_gbt32905_example_2_512_bits() -> None:
    """GB/T 32905-2016 Appendix A.2: "abcd" x 16 (512 bits)."""
    assert sm3_digest(b"abcd" * 16) == unhex(
        "debe9ff9 2275b8a1 38604889 c18e5a4d 6fdb70e5 387e5765 293dcba3 9c0c5732"
    )


def test_des_fips81_example() -> None:
    """FIPS 81 Appendix B (ECB): key 0123456789ABCDEF, "Now is the time for all "."""
    key = unhex("01 23 45 67 89 AB CD EF")
    expected = unhex("3F A4 0E 8A 98 4D 48 15 6A 27 17 87 AB 88 83 F9 89 3D 51 EC 4B 56 3B 53")
    assert encrypt_ecb(BlockCipher.DES, key, b"Now is the time for all ") == expected
    assert decrypt_ecb(BlockCipher.DES, key, expected) == b"Now is the time for all "


def test_des_fips81_cbc_example() -> None:
    """FIPS 81 Appendix C (CBC): IV 1234567890ABCDEF."""
    key, iv = unhex("0123456789ABCDEF"), unhex("1234567890ABCDEF")
    expected = unhex("E5 C7 CD DE 87 2B F2 7C 43 E9 34 00 8C 38 9C 0F 68 37 88 49 9A 7C 05 F6")
    assert encrypt_cbc(BlockCipher.DES, key, iv, b"Now is the time for all ") == expected
    assert decrypt_cbc(BlockCipher.DES, key, iv, expected) == b"Now is the time for all "


def test_tdes_three_key_sp800_67_example() -> None:
    """NIST SP 800-67 (Rev. 1) Appendix B: three keys, "The qufck brown fox jump"."""
    key = unhex("0123456789ABCDEF 23456789ABCDEF01 456789ABCDEF0123")
    expected = unhex("A826FD8CE53B855F CCE21C8112256FE6 68D5C05DD9B6B900")
    assert encrypt_ecb(BlockCipher.TDES, key, b"The qufck brown fox jump") == expected
    assert decrypt_ecb(BlockCipher.TDES, key, expected) == b"The qufck brown fox jump"


def test_tdes_two_key_is_keying_option_2() -> None:
    """A 16-byte key means K1 K2 K1 (SP 800-67 keying option 2). Vector shared by PyCryptodome's
    self-test; also checked against the 24-byte form and against E(K1) D(K2) E(K1) with DES."""
    key = unhex("9b397ebf81b1181e 282f4bb8adbadc6b")
    plain, expected = unhex("21e81b7ade88a259"), unhex("5c577d4d9b20c0f8")
    assert encrypt_ecb(BlockCipher.TDES, key, plain) == expected
    assert encrypt_ecb(BlockCipher.TDES, key + key[:8], plain) == expected
    k1, k2 = key[:8], key[8:]
    ede = encrypt_ecb(
        BlockCipher.DES, k1, decrypt_ecb(BlockCipher.DES, k2, encrypt_ecb(BlockCipher.DES, k1, plain))
    )
    assert ede == expected


def test_tdes_sp800_20_variable_plaintext_first_entry() -> None:
    """SP 800-20 Table A.1 (K1 = K2 = K3 = 0101..01): plaintext 8000000000000000 -> 95F8A5E5DD31D900."""
    assert encrypt_ecb(BlockCipher.TDES, bytes([1]) * 24, unhex("8000000000000000")) == unhex(
        "95F8A5E5DD31D900"
    )
    assert encrypt_ecb(BlockCipher.DES, bytes([1]) * 8, unhex("8000000000000000")) == unhex(
        "95F8A5E5DD31D900"
    )


@pytest.mark.parametrize("cipher", list(BlockCipher))
def test_block_sizes(cipher: BlockCipher) -> None:
    assert cipher.block_size == {"sm4": 16, "3des": 8, "des": 8}[cipher.value]


@given(
    data=st.binary(max_size=64).map(lambda b: b[: len(b) - len(b) % 16]),
    iv=st.binary(min_size=16, max_size=16),
)
def test_sm4_cbc_round_trip_and_chaining(data: bytes, iv: bytes) -> None:
    ciphertext = encrypt_cbc(BlockCipher.SM4, SM4_KEY, iv, data)
    assert decrypt_cbc(BlockCipher.SM4, SM4_KEY, iv, ciphertext) == data
    # CBC = ECB of (block XOR previous ciphertext block): an independent recomputation.
    previous, expected = iv, b""
    for offset in range(0, len(data), 16):
        previous = encrypt_ecb(
            BlockCipher.SM4,
            SM4_KEY,
            bytes(a ^ b for a, b in zip(data[offset : offset + 16], previous, strict=True)),
        )
        expected += previous
    assert ciphertext == expected


@pytest.mark.parametrize(
    ("cipher", "key", "data"),
    [
        (BlockCipher.SM4, bytes(15), bytes(16)),
        (BlockCipher.SM4, bytes(16), bytes(15)),
        (BlockCipher.TDES, bytes(8), bytes(8)),
        (BlockCipher.DES, bytes(16), bytes(8)),
        (BlockCipher.DES, bytes(8), bytes(7)),
    ],
)
def test_bad_key_or_data_length_is_crypto_error(cipher: BlockCipher, key: bytes, data: bytes) -> None:
    with pytest.raises(CryptoError):
        encrypt_ecb(cipher, key, data)
    with pytest.raises(CryptoError):
        decrypt_ecb(cipher, key, data)


def test_bad_iv_is_crypto_error() -> None:
    with pytest.raises(CryptoError):
        encrypt_cbc(BlockCipher.SM4, SM4_KEY, bytes(8), bytes(16))


def test_crypto_error_has_no_chained_exception() -> None:
    """No __cause__ / __context__ leads back to a library exception or the frames holding keys."""
    with pytest.raises(CryptoError) as caught:
        encrypt_cbc(BlockCipher.SM4, SM4_KEY, bytes(8), bytes(16))
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    assert SM4_KEY.hex() not in str(caught.value).lower()
