"""Selecting the bank application and reading what the terminal needs: the PSE, the ADF's FCI, the AFL's
records, GET DATA, and offline data authentication (SDA over the records, DDA by INTERNAL AUTHENTICATE)
checked with the terminal side of :mod:`cardservice.pboc._oda` and the terminal's CA list."""

from __future__ import annotations

import datetime as _dt

import pytest

from cardservice.apdu import decode_ber_tlv
from cardservice.pboc._oda import (
    KeyCertificate,
    load_ca_keys,
    recover_icc_key,
    recover_issuer_key,
    select_ca_key,
    static_data_to_authenticate,
    verify_dda,
    verify_sda,
)
from simulators.cardos import CardOS
from tests.conftest import unhex
from tests.simulators.pboc.conftest import (
    AID,
    PAN,
    arpc,
    cdol1_data,
    cdol2_data,
    external_authenticate,
    generate_ac,
    get_data,
    gpo,
    select_application,
    send,
    start,
)

TODAY = _dt.date(2026, 12, 6)
AFL = [(1, 1, 2, 1), (2, 1, 2, 0), (3, 1, 1, 0)]


def read_record(card: CardOS, sfi: int, number: int) -> tuple[bytes, int]:
    return send(card, bytes([0x00, 0xB2, number, sfi << 3 | 0x04, 0x00]))


def read_application(card: CardOS) -> tuple[dict[int, bytes], list[tuple[int, bytes]]]:
    """Every AFL record: the data objects, and the ODA records as ``(sfi, record)``."""
    values: dict[int, bytes] = {}
    oda: list[tuple[int, bytes]] = []
    for sfi, first, last, signed in AFL:
        for number in range(first, last + 1):
            record, sw = read_record(card, sfi, number)
            assert sw == 0x9000
            (template,) = decode_ber_tlv(record)
            assert template.tag == 0x70
            for item in template.children:
                assert item.tag not in values, f"{item.tag:X} twice"
                values[item.tag] = item.value
            if number < first + signed:
                oda.append((sfi, record))
    return values, oda


def test_pse(card: CardOS) -> None:
    data, sw = send(card, "00 A4 04 00 0E" + b"1PAY.SYS.DDF01".hex() + "00")
    assert sw == 0x9000
    assert data == unhex("6F 1C 84 0E") + b"1PAY.SYS.DDF01" + unhex("A5 0A 88 01 01 5F 2D 04") + b"zhen"
    record, sw = read_record(card, 1, 1)
    assert sw == 0x9000
    assert record == unhex("70 1F 61 1D 4F 08 A000000333010101 50 0E") + b"UnionPay Debit" + unhex("87 01 01")
    assert read_record(card, 1, 2)[1] == 0x6A83


def test_adf_fci(card: CardOS) -> None:
    data, sw = send(card, "00 A4 04 00 08 A000000333010101 00")
    assert sw == 0x9000
    assert data == (
        unhex("6F 35 84 08 A000000333010101 A5 29 50 0E")
        + b"UnionPay Debit"
        + unhex("87 01 01 9F 38 0C 9F1A02 9F7A01 9F0206 5F2A02 5F 2D 04")
        + b"zhen"
    )
    assert send(card, "00 A4 04 0C 08 A000000333010101")[0] == b""  # P2=0C: no answer data


def test_the_ppse_stays_empty(card: CardOS) -> None:
    data, sw = send(card, "00 A4 04 00 0E" + b"2PAY.SYS.DDF01".hex() + "00")
    assert sw == 0x9000
    assert data == unhex("6F 12 84 0E") + b"2PAY.SYS.DDF01" + unhex("A5 00")


def test_records(card: CardOS) -> None:
    assert select_application(card) == 0x9000
    assert gpo(card)[1] == 0x9000
    values, _ = read_application(card)
    assert values[0x5A] == unhex("6228489999999996")
    assert values[0x57] == unhex("6228489999999996 D3412220")
    assert values[0x5F24] == unhex("341231")
    assert values[0x5F25] == unhex("240101")
    assert values[0x5F34] == unhex("01")
    assert values[0x5F20] == b"DEMO/CARDHOLDER"
    assert values[0x5F28] == values[0x9F42] == unhex("0156")
    assert values[0x8C] == unhex("9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704 9F2103 9F4E14")
    assert values[0x8D] == unhex("8A02 9505 9F3704")
    assert values[0x8E] == unhex("00000000 00000000 0203 1F03")
    assert values[0x9F49] == unhex("9F3704")
    assert values[0x9F4A] == unhex("82")
    assert values[0x9F07] == unhex("FF00")
    assert values[0x9F08] == unhex("0030")
    assert values[0x9F44] == unhex("02")
    assert {0x9F0D, 0x9F0E, 0x9F0F, 0x8F, 0x90, 0x92, 0x9F32, 0x93, 0x9F46, 0x9F47, 0x9F48} <= set(values)
    assert read_record(card, 3, 2)[1] == 0x6A83
    assert read_record(card, 4, 1)[1] == 0x6A82


def test_records_are_read_only(card: CardOS) -> None:
    assert select_application(card) == 0x9000
    assert send(card, "00 DC 01 0C 04 70 02 5A 00")[1] == 0x6982
    for fid in ("EF10", "EF11", "EF12"):  # the internal EFs: parameters, counters, ICC key
        assert send(card, "00 A4 00 00 02" + fid)[1] == 0x9000
        assert send(card, "00 B0 00 00 04")[1] == 0x6982


def test_sda_and_dda(card: CardOS) -> None:
    """The terminal's checks (EMV 4.3 Book 2 §5, §6) with the CA key of capk.toml."""
    assert select_application(card) == 0x9000
    aip = gpo(card)[0][2:4]
    values, oda_records = read_application(card)
    static = static_data_to_authenticate(oda_records, values[0x9F4A], {0x82: aip})
    ca_key = select_ca_key(load_ca_keys(), AID[:5], values[0x8F][0])
    issuer = recover_issuer_key(
        ca_key, KeyCertificate(values[0x90], values[0x92], values[0x9F32]), pan=PAN, today=TODAY
    )
    assert verify_sda(issuer, values[0x93], static) == unhex("DAC0")
    icc = recover_icc_key(
        issuer,
        KeyCertificate(values[0x9F46], values[0x9F48], values[0x9F47]),
        pan=PAN,
        static_data=static,
        today=TODAY,
    )
    un = unhex("0A0B0C0D")
    answer, sw = send(card, unhex("00 88 00 00 04") + un + b"\x00")
    assert sw == 0x9000
    (template,) = decode_ber_tlv(answer)
    assert template.tag == 0x80
    number = verify_dda(icc, template.value, un)
    assert len(number) == 8
    # A second one signs a fresh ICC dynamic number.
    again, _ = send(card, unhex("00 88 00 00 04") + un + b"\x00")
    assert verify_dda(icc, decode_ber_tlv(again)[0].value, un) != number


def test_dda_shows_in_the_cvr(card: CardOS) -> None:
    assert select_application(card) == 0x9000
    assert gpo(card)[1] == 0x9000
    assert send(card, "00 88 00 00 04 01020304 00")[1] == 0x9000
    first, _ = generate_ac(card, 0x80, cdol1_data())
    assert first is not None
    assert first.cvr == unhex("03A01002")  # DDA performed


@pytest.mark.parametrize(("apdu", "sw"), [("00 88 00 01 04 01020304 00", 0x6A86), ("00 88 00 00 00", 0x6700)])
def test_internal_authenticate_errors(card: CardOS, apdu: str, sw: int) -> None:
    assert select_application(card) == 0x9000
    assert send(card, apdu)[1] == sw


def test_get_data(card: CardOS) -> None:
    assert select_application(card) == 0x9000
    assert send(card, "80 CA 9F 36 00") == (unhex("9F 36 02 00 00"), 0x9000)
    assert send(card, "80 CA 9F 13 00") == (unhex("9F 13 02 00 00"), 0x9000)
    assert send(card, "80 CA 9F 17 00") == (unhex("9F 17 01 03"), 0x9000)
    assert send(card, "80 CA 9F 79 00") == (unhex("9F 79 06 000000000000"), 0x9000)
    assert send(card, "80 CA 9F 77 00")[1] == 0x6A88
    assert send(card, "80 CA 9F 36 01 00 00")[1] == 0x6700
    # CLA 00 (and anywhere outside the ADF): the card OS's GET DATA, the card serial.
    assert send(card, "00 CA 01 01 08")[0] == card.serial
    assert send(card, "00 CA 9F 36 00")[1] == 0x6A88
    assert send(card, "00 A4 00 00 02 3F00")[1] == 0x9000
    assert send(card, "80 CA 01 01 08")[0] == card.serial


def test_last_online_atc_follows_a_tc(card: CardOS) -> None:
    for _ in range(2):
        first = start(card)
        assert external_authenticate(card, arpc(first.ac, first.atc)) == 0x9000
        assert generate_ac(card, 0x40, cdol2_data())[1] == 0x9000
    start(card)  # a third one that stops after the ARQC
    assert get_data(card, 0x9F36) == unhex("0003")
    assert get_data(card, 0x9F13) == unhex("0002")
