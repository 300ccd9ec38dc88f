"""ISO/IEC 9797-1 padding method 2 and MAC algorithms 1 and 3 (Annex B examples)."""

from __future__ import annotations

import pytest
from gmssl.sm4 import SM4_ENCRYPT, CryptSM4
from hypothesis import given
from hypothesis import strategies as st

from cardservice.errors import CryptoError
from cardservice.keys import (
    BlockCipher,
    encrypt_cbc,
    mac_algorithm_1,
    mac_algorithm_3,
    pad_iso9797_m2,
    unpad_iso9797_m2,
)
from tests.conftest import unhex

DATA_1 = b"Now is the time for all "  # 24 bytes: padding method 2 adds a whole block
DATA_2 = b"Now is the time for it"  # 22 bytes


def test_padding_method_2_examples() -> None:
    assert pad_iso9797_m2(DATA_1, 8) == DATA_1 + unhex("80 00 00 00 00 00 00 00")
    assert pad_iso9797_m2(DATA_2, 8) == DATA_2 + unhex("80 00")
    assert pad_iso9797_m2(b"", 16) == unhex("80" + "00" * 15)
    assert pad_iso9797_m2(bytes(15), 16) == bytes(15) + unhex("80")


@given(data=st.binary(max_size=70), block_size=st.sampled_from([8, 16]))
def test_padding_round_trip(data: bytes, block_size: int) -> None:
    padded = pad_iso9797_m2(data, block_size)
    assert len(padded) % block_size == 0
    assert 1 <= len(padded) - len(data) <= block_size
    assert unpad_iso9797_m2(padded, block_size) == data


@given(data=st.binary(max_size=48), block_size=st.sampled_from([8, 16]))
def test_unpad_rejects_anything_else_with_crypto_error(data: bytes, block_size: int) -> None:
    """The decoder either returns the unpadded data or raises CryptoError, never anything else."""
    try:
        result = unpad_iso9797_m2(data, block_size)
    except CryptoError:
        return
    assert pad_iso9797_m2(result, block_size) == data


@pytest.mark.parametrize(
    "bad",
    [
        b"",  # nothing at all
        bytes(16),  # no marker
        b"A" * 16,  # no marker
        b"A" * 15 + b"\x81",  # wrong marker
        b"A" * 7 + b"\x80" + bytes(24),  # more than one block of padding
        b"A" * 15,  # not a multiple of the block size
    ],
)
def test_unpad_bad_padding_gives_one_opaque_error(bad: bytes) -> None:
    with pytest.raises(CryptoError) as caught:
        unpad_iso9797_m2(bad, 16)
    assert str(caught.value) == str(CryptoError())


def test_mac_algorithm_1_des_annex_b2() -> None:
    """ISO/IEC 9797-1:2011 Annex B.2 (DES, K = 0123456789ABCDEF), padding method 2: the published
    32-bit MACs are the leftmost bytes of our full block."""
    key = unhex("0123456789ABCDEF")
    assert mac_algorithm_1(BlockCipher.DES, key, DATA_1)[:4] == unhex("10E1F0F1")
    assert mac_algorithm_1(BlockCipher.DES, key, DATA_2)[:4] == unhex("A924C721")
    assert len(mac_algorithm_1(BlockCipher.DES, key, DATA_1)) == 8


def test_mac_algorithm_3_des_annex_b4() -> None:
    """ISO/IEC 9797-1:2011 Annex B.4 (K = 0123456789ABCDEF, K' = FEDCBA9876543210), padding method 2."""
    key = unhex("0123456789ABCDEF FEDCBA9876543210")
    assert mac_algorithm_3(key, DATA_1)[:4] == unhex("E9086230")
    assert mac_algorithm_3(key, DATA_2)[:4] == unhex("5A692CE6")
    assert len(mac_algorithm_3(key, DATA_1)) == 8


def test_mac_algorithm_3_with_equal_halves_is_algorithm_1() -> None:
    """With K' = K the output transformation E_K(D_K(H)) is the identity."""
    k = unhex("0123456789ABCDEF")
    assert mac_algorithm_3(k + k, DATA_2) == mac_algorithm_1(BlockCipher.DES, k, DATA_2)


def test_mac_algorithm_1_iv_equals_xor_into_first_block() -> None:
    key = unhex("0123456789ABCDEF FEDCBA9876543210")
    iv = unhex("1122334455667788 99AABBCCDDEEFF00")
    xored = bytes(a ^ b for a, b in zip(DATA_1[:16], iv, strict=True)) + DATA_1[16:]
    assert mac_algorithm_1(BlockCipher.SM4, key, DATA_1, iv=iv) == mac_algorithm_1(
        BlockCipher.SM4, key, xored
    )


@given(data=st.binary(max_size=100))
def test_sm4_cbc_mac_matches_gmssl(data: bytes) -> None:
    """Cross-check against an independent pure-Python SM4 (gmssl): CBC over the M2-padded data;
    gmssl adds its own PKCS#7 block, so its second-to-last block is our MAC."""
    key = unhex("0123456789ABCDEF FEDCBA9876543210")
    engine = CryptSM4()
    engine.set_key(key, SM4_ENCRYPT)
    reference = engine.crypt_cbc(bytes(16), pad_iso9797_m2(data, 16))[-32:-16]
    assert mac_algorithm_1(BlockCipher.SM4, key, data) == reference


def test_sm4_cbc_mac_is_last_cbc_block() -> None:
    key = unhex("0123456789ABCDEF FEDCBA9876543210")
    expected = encrypt_cbc(BlockCipher.SM4, key, bytes(16), pad_iso9797_m2(DATA_1, 16))[-16:]
    assert mac_algorithm_1(BlockCipher.SM4, key, DATA_1) == expected


def test_mac_errors() -> None:
    with pytest.raises(CryptoError):
        mac_algorithm_3(bytes(8), DATA_1)
    with pytest.raises(CryptoError):
        mac_algorithm_1(BlockCipher.SM4, bytes(16), DATA_1, iv=bytes(8))
