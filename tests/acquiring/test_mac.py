"""Field 64: the CUP POS "ECB" MAC (cardservice.acquiring._mac), checked against a published frame."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cardservice.acquiring import cup_pos_mac, verify_cup_pos_mac
from cardservice.keys import BlockCipher, encrypt_ecb
from tests.conftest import unhex

# A CUP POS 0200 posted with its MAC key and the MAC the host accepted (q.cnblogs.com/q/128930): length
# 007F, TPDU 60 0003 0000, header 60 32 10 32 00 72, then MTI ... field 63, then field 64 "B3A092AE".
PUBLISHED_FRAME = unhex(
    "007F600003000060321032007202003020048000C08015000000000000001234"
    "0000020300993030303030303031393532373138313832323137383735313536"
    "00192600000100060000000000435F0112323834343132333435363738393031"
    "3233345F03063136303033365F04063230303832365C02303142334130393241"
    "45"
)
PUBLISHED_KEY = unhex("0723C80DB5F4CD3D 0723C80DB5F4CD3D")  # K1 = K2: single DES, as such terminals use


def test_published_frame_mac() -> None:
    """The MAB runs from the MTI to the end of field 63 (no length, TPDU or header)."""
    mab = PUBLISHED_FRAME[13:-8]
    assert cup_pos_mac(PUBLISHED_KEY, mab) == b"B3A092AE" == PUBLISHED_FRAME[-8:]
    assert verify_cup_pos_mac(PUBLISHED_KEY, mab, b"B3A092AE")
    assert not verify_cup_pos_mac(PUBLISHED_KEY, mab, b"B3A092AF")


def _by_hand(key: bytes, mab: bytes) -> bytes:
    """The algorithm as the CUP POS spec writes it, step by step (a second reading, for the property)."""
    blocks = [mab[i : i + 8].ljust(8, b"\0") for i in range(0, len(mab), 8)] or [bytes(8)]
    result = bytes(8)
    for block in blocks:
        result = bytes(a ^ b for a, b in zip(result, block, strict=True))
    hexed = result.hex().upper().encode()
    enc1 = encrypt_ecb(BlockCipher.TDES, key, hexed[:8])
    temp = bytes(a ^ b for a, b in zip(enc1, hexed[8:], strict=True))
    return encrypt_ecb(BlockCipher.TDES, key, temp).hex().upper().encode()[:8]


@given(st.binary(min_size=16, max_size=16), st.binary(max_size=200))
def test_mac_is_eight_hex_characters_and_matches_the_spec_steps(key: bytes, mab: bytes) -> None:
    mac = cup_pos_mac(key, mab)
    assert len(mac) == 8
    assert all(c in b"0123456789ABCDEF" for c in mac)
    assert mac == _by_hand(key, mab)


def test_one_changed_byte_changes_the_mac() -> None:
    mab = PUBLISHED_FRAME[13:-8]
    changed = mab[:20] + bytes((mab[20] ^ 1,)) + mab[21:]
    assert cup_pos_mac(PUBLISHED_KEY, changed) != cup_pos_mac(PUBLISHED_KEY, mab)
