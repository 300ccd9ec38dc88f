"""ISO/IEC 7816-4 command behaviour of the card OS, byte for byte."""

from __future__ import annotations

import pytest

from cardservice.keys import BlockCipher, encrypt_ecb
from simulators.cardos import CardOS, build_atr
from tests.conftest import unhex
from tests.simulators.cardos.conftest import (
    APP_NAME,
    IRK,
    PIN,
    SERIAL,
    UK,
    build_image,
    challenge,
    ext_auth_health,
    send,
)


def test_atr_is_iso7816_3_with_serial_as_last_historical_bytes(card: CardOS) -> None:
    atr = card.power_on()
    assert atr == unhex("3B 8C 01 43 53 4F 53 01 02 03 04 05 06 07 08 89")
    tck = 0
    for byte in atr[1:]:
        tck ^= byte
    assert tck == 0  # ISO/IEC 7816-3 §8.2.5
    assert atr[-9:-1] == SERIAL
    assert build_atr(SERIAL, "T=0,T=1").startswith(unhex("3B 8C 80 01"))
    assert build_atr(SERIAL, "T=0") == unhex("3B 0C 43 53 4F 53") + SERIAL


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00 FF 00 00", 0x6D00),  # unknown INS
        ("FF A4 00 00 02 3F 00", 0x6E00),  # CLA FF
        ("10 A4 00 00 02 3F 00", 0x6E00),  # chaining not supported
        ("40 A4 00 00 02 3F 00", 0x6E00),  # further interindustry class
        ("01 A4 00 00 02 3F 00", 0x6881),  # logical channel 1
        ("00 D4 00 01 05 01 01 01 0F 00", 0x6E00),  # WRITE KEY needs class 80
        ("0C B0 00 00 00", 0x6882),  # READ BINARY under SM
        ("00", 0x6700),  # malformed
        ("00 A4 00 00 05 3F 00", 0x6700),  # Lc larger than data
        ("00 A4 00 00 01 3F", 0x6700),  # FID of one byte
        ("00 A4 05 00 02 3F 00", 0x6A86),
        ("00 A4 00 08 02 3F 00", 0x6A86),  # FMD not supported
        ("00 A4 00 00 02 12 34", 0x6A82),
        ("00 B0 00 00 00", 0x6986),  # no current EF
        ("00 84 00 00 05", 0x6700),
        ("00 84 01 00 08", 0x6A86),
        ("00 84 00 00", 0x6700),
        ("00 CA 9F 7F 00", 0x6A88),
        ("00 C0 00 00 10", 0x6985),  # nothing to get
        ("00 82 00 84 11" + "00" * 17, 0x6A88),  # key 84 is DF-local: not in the MF
    ],
)
def test_status_words_at_mf(card: CardOS, apdu: str, sw: int) -> None:
    assert send(card, apdu) == (b"", sw)


def test_select_df_by_fid_answers_fci(card: CardOS) -> None:
    data, sw = send(card, "00 A4 00 00 02 DF 01")
    assert sw == 0x9000
    assert data == unhex("6F 0F 84 0B") + APP_NAME + unhex("A5 00")


def test_select_mf_fci_without_name(card: CardOS) -> None:
    assert send(card, "00 A4 00 00 02 3F 00") == (unhex("6F 06 83 02 3F 00 A5 00"), 0x9000)
    assert send(card, "00 A4 00 00 00") == (unhex("6F 06 83 02 3F 00 A5 00"), 0x9000)


def test_select_ef_answers_nothing_unless_fcp(card: CardOS) -> None:
    send(card, "00 A4 00 00 02 DF 01")
    assert send(card, "00 A4 00 00 02 00 01") == (b"", 0x9000)
    data, sw = send(card, "00 A4 00 04 02 00 02 00")
    assert sw == 0x9000
    # 62: 82 record descriptor (linear variable simple-TLV, 32 x 5), 83 FID, 80 size, 88 SFI 2, 86 rules
    assert data[:2] == unhex("62 20")
    assert data[2:20] == unhex("82 05 05 21 00 20 05 83 02 00 02 80 02 00 A0 88 01 10")
    assert send(card, "00 A4 00 0C 02 00 01") == (b"", 0x9000)


def test_select_search_rule_parent_and_sibling(card: CardOS) -> None:
    send(card, "00 A4 00 0C 02 DF 01")
    # sibling of DF01 under the MF, then the parent (MF) itself, then 3F00 from anywhere
    assert send(card, "00 A4 00 0C 02 2F 00") == (b"", 0x9000)
    assert card.state.current_df == (0x3F00,)
    send(card, "00 A4 00 0C 02 DF 01")
    assert send(card, "00 A4 03 0C")[1] == 0x9000
    assert card.state.current_df == (0x3F00,)
    send(card, "00 A4 08 0C 04 DF 01 00 01")
    assert card.state.current_ef == (0x3F00, 0xDF01, 0x0001)
    assert send(card, "00 A4 02 0C 02 DF 01")[1] == 0x6A82  # P1=02 wants an EF


def test_select_by_name_partial_first_and_next(card: CardOS) -> None:
    data, sw = send(card, "00 A4 04 00 04" + b"TEST".hex())
    assert sw == 0x9000
    assert APP_NAME in data
    assert send(card, "00 A4 04 02 04" + b"TEST".hex())[1] == 0x6A82  # only one occurrence
    assert send(card, "00 A4 04 00 04" + b"NOPE".hex())[1] == 0x6A82


def test_read_binary_offset_sfi_and_short_file(card: CardOS) -> None:
    send(card, "00 A4 00 0C 02 DF 01")
    assert send(card, "00 B0 81 00 05") == (b"hello", 0x9000)  # SFI 1
    assert card.state.current_ef == (0x3F00, 0xDF01, 0x0001)
    assert send(card, "00 B0 00 01 04") == (b"ello", 0x9000)
    data, sw = send(card, "00 B0 00 3E 04")
    assert (data, sw) == (b"\x00\x00", 0x6282)
    assert send(card, "00 B0 00 40 01") == (b"", 0x6B00)
    assert len(send(card, "00 B0 00 00 00")[0]) == 64  # Le=00: everything available
    assert send(card, "00 B0 E1 00 01")[1] == 0x6A86
    assert send(card, "00 B0 9E 00 01")[1] == 0x6A82
    assert send(card, "00 B2 01 04 00")[1] == 0x6981  # record command on a transparent EF
    assert send(card, "00 B0 82 00 01")[1] == 0x6981  # binary command on a record EF


def test_update_binary_needs_key_then_works(card: CardOS) -> None:
    send(card, "00 A4 00 0C 02 DF 01")
    send(card, "00 A4 00 0C 02 00 01")
    assert send(card, "00 D6 00 00 02 AB CD")[1] == 0x6982
    assert ext_auth_health(card, 0x85, UK) == 0x9000
    assert send(card, "00 D6 00 3F 02 AB CD")[1] == 0x6700  # past the end
    assert send(card, "00 D6 00 02 02 AB CD") == (b"", 0x9000)
    assert send(card, "00 B0 00 00 05")[0] == unhex("68 65 AB CD 6F")


def test_security_state_cleared_on_df_change_and_reset(card: CardOS) -> None:
    send(card, "00 A4 00 0C 02 DF 01")
    assert ext_auth_health(card, 0x85, UK) == 0x9000
    send(card, "00 A4 00 0C 02 00 01")  # an EF of the same DF keeps the state
    assert send(card, "00 D6 00 00 01 01")[1] == 0x9000
    send(card, "00 A4 00 0C 02 3F 00")
    send(card, "00 A4 00 0C 02 DF 01")
    assert send(card, "00 D6 81 00 01 01")[1] == 0x6982
    assert ext_auth_health(card, 0x85, UK) == 0x9000
    card.reset()
    send(card, "00 A4 00 0C 02 DF 01")
    assert send(card, "00 D6 81 00 01 01")[1] == 0x6982


def test_get_challenge_lengths_and_randomness(card: CardOS) -> None:
    assert len({challenge(card, 8) for _ in range(4)}) == 4
    assert len(challenge(card, 4)) == 4
    assert len(challenge(card, 16)) == 16


def test_get_data_serial(card: CardOS) -> None:
    assert send(card, "00 CA 01 01 00") == (SERIAL, 0x9000)
    assert send(card, "00 CA 01 01 04") == (b"", 0x6C08)  # Le too short → 6Cxx


def test_internal_authenticate(card: CardOS) -> None:
    send(card, "00 A4 00 0C 02 DF 01")
    data, sw = send(card, "00 88 00 20 08 01 02 03 04 05 06 07 08 00")
    assert sw == 0x9000
    assert data == encrypt_ecb(BlockCipher.SM4, IRK, unhex("01 02 03 04 05 06 07 08") + bytes(8))
    assert send(card, "00 88 00 84 08 01 02 03 04 05 06 07 08 00")[1] == 0x6A88  # not an IRK


def test_verify_and_change_reference_data(card: CardOS) -> None:
    send(card, "00 A4 00 0C 02 DF 01")
    assert send(card, "00 20 00 81")[1] == 0x63C3  # tries query
    assert send(card, "00 20 00 81 06" + b"000000".hex())[1] == 0x63C2
    assert send(card, "00 20 00 81")[1] == 0x63C2
    assert send(card, "00 20 00 81 06" + PIN.hex())[1] == 0x9000
    assert send(card, "00 20 00 81")[1] == 0x9000  # already verified
    send(card, "00 A4 00 0C 02 00 05")
    assert send(card, "00 D6 00 00 02 01 02")[1] == 0x9000
    # change: old ‖ new
    assert send(card, "00 24 00 81 0A" + PIN.hex() + b"4321".hex())[1] == 0x9000
    card.reset()
    send(card, "00 A4 00 0C 02 DF 01")
    assert send(card, "00 20 00 81 06" + PIN.hex())[1] == 0x63C2
    assert send(card, "00 20 00 81 04" + b"4321".hex())[1] == 0x9000
    # change after verify with P1=01: new PIN only
    assert send(card, "00 24 01 81 05" + b"98765".hex())[1] == 0x9000
    assert send(card, "00 24 01 81 02 01 02")[1] == 0x6700  # too short a PIN
    card.reset()
    send(card, "00 A4 00 0C 02 DF 01")
    assert send(card, "00 24 01 81 04" + b"1111".hex())[1] == 0x6982
    for left in (2, 1, 0):
        assert send(card, "00 20 00 81 04" + b"0000".hex())[1] == 0x63C0 | left
    assert send(card, "00 20 00 81 05" + b"98765".hex())[1] == 0x6983
    assert send(card, "00 20 00 81")[1] == 0x6983


def test_t0_get_response_mode() -> None:
    card = CardOS(build_image(t0_get_response=True))
    card.power_on()
    assert send(card, "00 A4 00 00 02 DF 01") == (b"", 0x6111)
    data, sw = send(card, "00 C0 00 00 0F")
    assert (data, sw) == (unhex("6F 0F 84 0B") + APP_NAME, 0x6102)
    assert send(card, "00 C0 00 00 02") == (unhex("A5 00"), 0x9000)
    assert send(card, "00 C0 00 00 02")[1] == 0x6985  # consumed
    # case 2 with the right Le is answered directly; a wrong Le gets 6Cxx
    assert send(card, "00 CA 01 01 08") == (SERIAL, 0x9000)
    assert send(card, "00 CA 01 01 02") == (b"", 0x6C08)
    # any other command discards pending data
    assert send(card, "00 A4 00 00 02 DF 01")[1] == 0x6111
    send(card, "00 84 00 00 08")
    assert send(card, "00 C0 00 00 12")[1] == 0x6985
