"""A debit transaction against the card, with every cryptogram recomputed by hand from the issuer's keys
(card contract: GPO, GENERATE AC, EXTERNAL AUTHENTICATE; PBOC session key, facts sheet A2)."""

from __future__ import annotations

import pytest

from simulators.cardos import CardOS
from tests.conftest import unhex
from tests.simulators.pboc.conftest import (
    APPROVED,
    CDOL1_VALUES,
    arpc,
    cdol1_data,
    cdol2_data,
    expected_cryptogram,
    external_authenticate,
    generate_ac,
    get_data,
    gpo,
    select_application,
    send,
    start,
)

UN2 = unhex("11223344")


def second_values(tvr: bytes = bytes(5), un: bytes = UN2) -> dict[int, bytes]:
    """The second cryptogram's data: the first's CDOL1 values, TVR and UN from the CDOL2 data."""
    return {**CDOL1_VALUES, 0x95: tvr, 0x9F37: un}


# -- GET PROCESSING OPTIONS ------------------------------------------------------------------------------


def test_gpo_answers_format_1_and_counts_the_atc(card: CardOS) -> None:
    assert select_application(card) == 0x9000
    assert get_data(card, 0x9F36) == unhex("0000")
    answer, sw = gpo(card)
    assert sw == 0x9000
    assert answer == unhex("80 0E 7C00 08010201 10010200 18010100")
    assert get_data(card, 0x9F36) == unhex("0001")
    assert select_application(card) == 0x9000
    assert gpo(card)[1] == 0x9000
    assert get_data(card, 0x9F36) == unhex("0002")


def test_gpo_twice_in_one_selection(card: CardOS) -> None:
    assert select_application(card) == 0x9000
    assert gpo(card)[1] == 0x9000
    assert gpo(card)[1] == 0x6985
    assert get_data(card, 0x9F36) == unhex("0001")


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("80 A8 00 00 0C 83 0A 0156 00 000000000100 01 00", 0x6700),  # PDOL data one byte short
        ("80 A8 00 00 0E 83 0C 0156 00 000000000100 015600 00", 0x6700),  # one byte long
        ("80 A8 00 00 02 83 00 00", 0x6700),
        ("80 A8 00 00", 0x6700),  # no data at all
        ("80 A8 00 00 0D 84 0B 0156 00 000000000100 0156 00", 0x6A80),  # not tag 83
        ("80 A8 01 00 0D 83 0B 0156 00 000000000100 0156 00", 0x6A86),
        ("00 A8 00 00 0D 83 0B 0156 00 000000000100 0156 00", 0x6E00),
    ],
)
def test_gpo_errors_leave_the_atc(card: CardOS, apdu: str, sw: int) -> None:
    assert select_application(card) == 0x9000
    assert send(card, apdu)[1] == sw
    assert get_data(card, 0x9F36) == unhex("0000")
    assert gpo(card)[1] == 0x9000  # the selection is still good for a GPO


def test_bank_commands_outside_the_adf_do_not_exist(card: CardOS) -> None:
    assert send(card, "00 A4 04 00 0C" + b"WS.SYS.DDF01".hex())[1] == 0x9000
    assert gpo(card)[1] == 0x6D00
    assert send(card, "80 AE 80 00 01 00 00")[1] == 0x6D00
    assert send(card, "84 1E 00 00 04 01020304")[1] == 0x6D00


def test_generate_ac_before_gpo(card: CardOS) -> None:
    assert select_application(card) == 0x9000
    assert generate_ac(card, 0x80, cdol1_data())[1] == 0x6985


# -- the online transaction --------------------------------------------------------------------------------


def test_arqc_arpc_tc(card: CardOS) -> None:
    """ARQC verifies with the issuer's IMK-AC; ARPC → EXTERNAL AUTHENTICATE 9000; second GENERATE AC → TC."""
    first = start(card)
    assert first.cid == 0x80
    assert first.atc == 1
    assert first.iad == unhex(
        "07 01 01 03A01000 01"
    )  # DKI 01, CVN 01, CVR: ARQC, 2nd not requested, new card
    assert first.ac == expected_cryptogram(CDOL1_VALUES, 1, first.cvr)
    assert external_authenticate(card, arpc(first.ac, 1)) == 0x9000
    second, sw = generate_ac(card, 0x40, cdol2_data())
    assert sw == 0x9000
    assert second is not None
    assert second.cid == 0x40
    assert second.atc == 1
    assert second.cvr == unhex("03601000")  # TC in the 2nd, ARQC in the 1st
    assert second.ac == expected_cryptogram(second_values(), 1, second.cvr)
    assert get_data(card, 0x9F13) == unhex("0001")  # last online ATC: a TC after issuer authentication
    assert generate_ac(card, 0x40, cdol2_data())[1] == 0x6985  # a third GENERATE AC
    assert external_authenticate(card, arpc(first.ac, 1)) == 0x6985


def test_the_next_transaction_is_no_longer_a_new_card(card: CardOS) -> None:
    first = start(card)
    assert external_authenticate(card, arpc(first.ac, 1)) == 0x9000
    assert generate_ac(card, 0x40, cdol2_data())[1] == 0x9000
    again = start(card)
    assert again.atc == 2
    assert again.cvr == unhex("03A00000")
    assert again.ac == expected_cryptogram(CDOL1_VALUES, 2, again.cvr)


def test_wrong_arpc_declines(card: CardOS) -> None:
    first = start(card)
    wrong = bytes([first.ac[0] ^ 0xFF]) + first.ac[1:]
    assert external_authenticate(card, arpc(wrong, 1)) == 0x6300
    assert external_authenticate(card, arpc(first.ac, 1)) == 0x6985  # only once per transaction
    second, sw = generate_ac(card, 0x40, cdol2_data())
    assert sw == 0x9000
    assert second is not None
    assert second.cid == 0x00
    assert second.cvr == unhex("03281000")  # AAC, ARQC, issuer authentication failed
    assert second.ac == expected_cryptogram(second_values(), 1, second.cvr)
    assert get_data(card, 0x9F13) == unhex("0000")
    # The failure is remembered for the next transaction's CVR (byte 3 b4), the new-card bit stays.
    assert start(card).cvr == unhex("03A01800")


def test_arc_other_than_00_declines(card: CardOS) -> None:
    first = start(card)
    assert external_authenticate(card, arpc(first.ac, 1, b"05"), b"05") == 0x9000
    second, _ = generate_ac(card, 0x40, cdol2_data(arc=b"05"))
    assert second is not None
    assert second.cid == 0x00
    assert second.cvr == unhex("03201000")
    assert second.ac == expected_cryptogram(second_values(), 1, second.cvr)


def test_second_generate_ac_without_issuer_authentication(card: CardOS) -> None:
    start(card)
    second, _ = generate_ac(card, 0x40, cdol2_data())
    assert second is not None
    assert second.cid == 0x00
    assert second.cvr == unhex("03201400")  # issuer authentication not performed after online


def test_terminal_asks_for_an_aac_at_the_second(card: CardOS) -> None:
    first = start(card)
    assert external_authenticate(card, arpc(first.ac, 1)) == 0x9000
    second, _ = generate_ac(card, 0x00, cdol2_data())
    assert second is not None
    assert second.cid == 0x00
    assert second.cvr == unhex("03201000")


def test_aac_at_the_first_ends_the_transaction(card: CardOS) -> None:
    assert select_application(card) == 0x9000
    assert gpo(card)[1] == 0x9000
    first, _ = generate_ac(card, 0x00, cdol1_data())
    assert first is not None
    assert first.cid == 0x00
    assert first.cvr == unhex("03801000")  # AAC in the 1st, 2nd not requested
    assert first.ac == expected_cryptogram(CDOL1_VALUES, 1, first.cvr)
    assert external_authenticate(card, bytes(8)) == 0x6985
    assert generate_ac(card, 0x40, cdol2_data())[1] == 0x6985


def test_tc_requested_first_still_goes_online(card: CardOS) -> None:
    assert select_application(card) == 0x9000
    assert gpo(card)[1] == 0x9000
    first, _ = generate_ac(card, 0x40, cdol1_data())
    assert first is not None
    assert first.cid == 0x80


@pytest.mark.parametrize(
    ("p1", "p2", "length", "sw"),
    [
        (0x80, 0x00, 51, 0x6700),
        (0x80, 0x00, 53, 0x6700),
        (0xC0, 0x00, 52, 0x6A86),
        (0x90, 0x00, 52, 0x6A86),
        (0x80, 0x01, 52, 0x6A86),
    ],
)
def test_generate_ac_errors(card: CardOS, p1: int, p2: int, length: int, sw: int) -> None:
    assert select_application(card) == 0x9000
    assert gpo(card)[1] == 0x9000
    data = (cdol1_data() + b"\x00")[:length]
    assert send(card, bytes([0x80, 0xAE, p1, p2, len(data)]) + data + b"\x00")[1] == sw
    assert generate_ac(card, 0x80, cdol1_data())[1] == 0x9000  # nothing was spent


def test_second_generate_ac_wrong_length(card: CardOS) -> None:
    first = start(card)
    assert external_authenticate(card, arpc(first.ac, 1)) == 0x9000
    assert generate_ac(card, 0x40, cdol2_data()[:-1])[1] == 0x6700
    assert generate_ac(card, 0x40, cdol2_data())[1] == 0x9000


def test_external_authenticate_errors(card: CardOS) -> None:
    assert select_application(card) == 0x9000
    assert gpo(card)[1] == 0x9000
    assert external_authenticate(card, bytes(8)) == 0x6985  # no ARQC yet
    first, _ = generate_ac(card, 0x80, cdol1_data())
    assert first is not None
    assert send(card, unhex("00 82 00 00 09") + arpc(first.ac, 1) + b"0")[1] == 0x6700
    assert send(card, unhex("00 82 00 01 0A") + arpc(first.ac, 1) + APPROVED)[1] == 0x6A86
    assert external_authenticate(card, arpc(first.ac, 1)) == 0x9000


def test_external_authenticate_outside_the_adf_is_the_health_card_s(card: CardOS) -> None:
    """The card OS's EXTERNAL AUTHENTICATE: 6985 without a challenge, 6A86 for key reference 00."""
    assert send(card, "00 A4 04 00 0C" + b"WS.SYS.DDF01".hex())[1] == 0x9000
    assert send(card, "00 82 00 04 11" + "00" * 17)[1] == 0x6985
    assert send(card, "00 82 00 00 0A" + "00" * 10)[1] == 0x6A86


def test_power_loss_ends_the_transaction(card: CardOS) -> None:
    first = start(card)
    card.power_off()
    card.power_on()
    assert select_application(card) == 0x9000
    assert external_authenticate(card, arpc(first.ac, 1)) == 0x6985
    assert generate_ac(card, 0x40, cdol2_data())[1] == 0x6985
    # The ARQC that never saw a second GENERATE AC shows in the next CVR: last online not completed.
    assert gpo(card)[1] == 0x9000
    again, _ = generate_ac(card, 0x80, cdol1_data())
    assert again is not None
    assert again.cvr == unhex("03A09000")


def test_a_new_selection_ends_the_transaction(card: CardOS) -> None:
    start(card)
    assert select_application(card) == 0x9000
    assert generate_ac(card, 0x40, cdol2_data())[1] == 0x6985
