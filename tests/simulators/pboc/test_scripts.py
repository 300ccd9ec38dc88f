"""Issuer scripts (card contract: APPLICATION BLOCK / UNBLOCK, PIN UNBLOCK, PUT DATA 9F79), MAC'd by hand
under the session key of MK-SMI over ``CLA INS P1 P2 Lc ‖ ATC ‖ ARQC ‖ data``."""

from __future__ import annotations

import dataclasses

import pytest

from simulators.cardos import CardOS
from simulators.pboc import ADF_FID, Counters
from tests.conftest import unhex
from tests.simulators.pboc.conftest import (
    arpc,
    cdol2_data,
    external_authenticate,
    generate_ac,
    get_data,
    gpo,
    script,
    select_application,
    send,
    start,
)

BALANCE = unhex("000000012345")
_COUNTERS_AREA = f"3F00/{ADF_FID:04X}/EF11#d"


def test_put_data_sets_the_ec_balance(card: CardOS) -> None:
    first = start(card)
    assert get_data(card, 0x9F79) == bytes(6)
    assert send(card, script("04 DA 9F 79", BALANCE, 1, first.ac))[1] == 0x9000
    assert get_data(card, 0x9F79) == BALANCE


def test_a_bad_mac_changes_nothing(card: CardOS) -> None:
    first = start(card)
    assert send(card, script("04 DA 9F 79", BALANCE, 1, first.ac, good=False))[1] == 0x6988
    assert get_data(card, 0x9F79) == bytes(6)
    assert send(card, script("84 1E 00 00", b"", 1, first.ac, good=False))[1] == 0x6988
    assert select_application(card) == 0x9000  # not blocked


def test_script_count_and_failure_in_the_second_cvr(card: CardOS) -> None:
    first = start(card)
    assert external_authenticate(card, arpc(first.ac, 1)) == 0x9000
    assert send(card, script("04 DA 9F 79", BALANCE, 1, first.ac, good=False))[1] == 0x6988
    assert send(card, script("04 DA 9F 79", BALANCE, 1, first.ac))[1] == 0x9000
    second, _ = generate_ac(card, 0x40, cdol2_data())
    assert second is not None
    assert second.cid == 0x40
    assert second.cvr == unhex("03601018")  # one script processed, script processing failed


def test_script_with_the_mac_of_another_transaction(card: CardOS) -> None:
    first = start(card)
    assert send(card, script("04 DA 9F 79", BALANCE, 2, first.ac))[1] == 0x6988
    assert send(card, script("04 DA 9F 79", BALANCE, 1, bytes(8)))[1] == 0x6988
    assert get_data(card, 0x9F79) == bytes(6)


def test_application_block(card: CardOS) -> None:
    first = start(card)
    assert send(card, script("84 1E 00 00", b"", 1, first.ac))[1] == 0x9000
    assert external_authenticate(card, arpc(first.ac, 1)) == 0x9000
    second, _ = generate_ac(card, 0x40, cdol2_data())
    assert second is not None
    assert second.cid == 0x00  # a blocked application declines
    data, sw = send(card, unhex("00 A4 04 00 08 A000000333010101 00"))
    assert sw == 0x6283
    assert data.startswith(unhex("6F 35 84 08 A000000333010101 A5 29 50 0E"))
    assert gpo(card)[1] == 0x6985
    assert get_data(card, 0x9F36) == unhex("0001")


def test_application_unblock(card: CardOS) -> None:
    first = start(card)
    assert send(card, script("84 1E 00 00", b"", 1, first.ac))[1] == 0x9000
    assert send(card, script("84 18 00 00", b"", 1, first.ac))[1] == 0x9000
    assert external_authenticate(card, arpc(first.ac, 1)) == 0x9000
    second, _ = generate_ac(card, 0x40, cdol2_data())
    assert second is not None
    assert second.cid == 0x40
    assert select_application(card) == 0x9000


def test_pin_unblock(card: CardOS) -> None:
    nvm = card.image.nvm
    counters = Counters.decode(nvm.get(_COUNTERS_AREA) or b"")
    nvm.commit({_COUNTERS_AREA: dataclasses.replace(counters, pin_tries=0).encode()})
    first = start(card)
    assert first.cvr == unhex("03A05000")  # PIN try limit exceeded (byte 3 b7)
    assert get_data(card, 0x9F17) == b"\x00"
    assert send(card, script("84 24 00 00", b"", 1, first.ac, good=False))[1] == 0x6988
    assert get_data(card, 0x9F17) == b"\x00"
    assert send(card, script("84 24 00 00", b"", 1, first.ac))[1] == 0x9000
    assert get_data(card, 0x9F17) == b"\x03"


@pytest.mark.parametrize(
    ("header", "data", "sw"),
    [
        ("80 1E 00 00", b"", 0x6982),  # no secure messaging
        ("84 1E 00 01", b"", 0x6A86),
        ("84 18 01 00", b"", 0x6A86),
        ("84 24 00 01", b"", 0x6A86),
        ("04 DA 9F 77", BALANCE, 0x6A88),  # only the EC balance
        ("04 DA 9F 79", BALANCE[:5], 0x6700),
        ("04 DA 9F 79", unhex("00000001234A"), 0x6A80),  # not BCD
    ],
)
def test_script_errors(card: CardOS, header: str, data: bytes, sw: int) -> None:
    first = start(card)
    assert send(card, script(header, data, 1, first.ac))[1] == sw
    assert get_data(card, 0x9F79) == bytes(6)
    assert select_application(card) == 0x9000  # not blocked


def test_scripts_need_an_arqc(card: CardOS) -> None:
    assert select_application(card) == 0x9000
    assert send(card, script("84 1E 00 00", b"", 0, bytes(8)))[1] == 0x6985
    assert gpo(card)[1] == 0x9000
    assert send(card, script("84 1E 00 00", b"", 1, bytes(8)))[1] == 0x6985
    assert select_application(card) == 0x9000


def test_change_reference_data_outside_the_adf_is_unchanged(card: CardOS) -> None:
    """INS 24 without secure messaging, or outside the ADF, is still the card OS's CHANGE REFERENCE DATA."""
    assert send(card, "84 24 00 00 04 01020304")[1] == 0x6882
    assert select_application(card) == 0x9000
    assert send(card, "00 24 00 01 08 3132333435363738")[1] == 0x6A88  # no PIN in the ADF
