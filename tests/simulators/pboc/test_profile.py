"""The issuer's table (cardservice.pboc._profile): record layout, CVR and IAD encodings, the account."""

from __future__ import annotations

import datetime as _dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.apdu import decode_ber_tlv
from cardservice.pboc._profile import (
    DEMO_ACCOUNT,
    ODA_TAGS,
    AcType,
    BankAccount,
    CvrBit,
    adf_fci_proprietary,
    card_records,
    card_verification_results,
    issuer_application_data,
    luhn_check_digit,
    pse_records,
    track2_equivalent,
)
from tests.conftest import unhex

FAKE_ODA = {
    tag: bytes([0xA0 + i]) * (128 if tag in (0x90, 0x93, 0x9F46) else 3) for i, tag in enumerate(ODA_TAGS)
}
FAKE_ODA[0x90] = bytes(144)  # a 1152-bit CA key's certificate


def objects(record: bytes) -> dict[int, bytes]:
    (template,) = decode_ber_tlv(record)
    assert template.tag == 0x70
    return {item.tag: item.value for item in template.children}


def test_demo_pan_is_luhn_valid() -> None:
    assert DEMO_ACCOUNT.pan.startswith("622848")
    assert len(DEMO_ACCOUNT.pan) == 16
    assert luhn_check_digit(DEMO_ACCOUNT.pan[:-1]) == DEMO_ACCOUNT.pan[-1]
    assert luhn_check_digit("7992739871") == "3"  # the ISO/IEC 7812-1 textbook example


def test_account_repr_masks_the_pan() -> None:
    assert repr(DEMO_ACCOUNT) == "BankAccount(pan=622848******9996, psn=01)"
    assert "DEMO" not in repr(DEMO_ACCOUNT)


@pytest.mark.parametrize(
    "change",
    [
        {"pan": "62284800001"},
        {"pan": "62284800000000000001"},
        {"pan": "6228a80000000015"},
        {"psn": "1"},
        {"name": "李明"},
        {"name": "X"},
        {"effective": _dt.date(2035, 1, 1)},
    ],
)
def test_account_validation(change: dict[str, object]) -> None:
    fields = {
        "pan": "6228489999999996",
        "psn": "01",
        "expiry": _dt.date(2034, 12, 31),
        "effective": _dt.date(2024, 1, 1),
        "name": "LI/MING",
    } | change
    with pytest.raises(ValueError, match=r"PAN|sequence|name|effective"):
        BankAccount(**fields)  # type: ignore[arg-type]


@given(st.text("0123456789", min_size=12, max_size=19))
def test_pan_and_track2_encoding(pan: str) -> None:
    account = BankAccount(pan, "00", _dt.date(2030, 6, 30), _dt.date(2025, 1, 1), "LI/MING")
    values = objects(card_records(account)[1][0])
    assert values[0x5A].hex().upper().rstrip("F") == pan
    assert len(values[0x5A]) == (len(pan) + 1) // 2
    assert track2_equivalent(account).hex().upper().rstrip("F") == f"{pan}D3006220"


def test_records_without_oda() -> None:
    records = card_records(DEMO_ACCOUNT)
    assert set(records) == {1, 3}
    assert objects(records[1][1]) == {0x9F49: unhex("9F3704")}
    assert objects(records[3][0]) == {0x9F14: b"\x00", 0x9F23: b"\x00"}


def test_records_with_oda_keep_the_signed_record() -> None:
    plain, signed = card_records(DEMO_ACCOUNT), card_records(DEMO_ACCOUNT, FAKE_ODA)
    assert plain[1][0] == signed[1][0]
    assert set(objects(signed[2][0])) == {0x8F, 0x9F32, 0x90, 0x92}
    assert set(objects(signed[2][1])) == {0x9F46, 0x9F47, 0x9F48}
    assert objects(signed[1][1])[0x93] == FAKE_ODA[0x93]
    assert all(len(record) <= 255 for recs in signed.values() for record in recs)
    with pytest.raises(ValueError, match="9F48"):
        card_records(DEMO_ACCOUNT, {tag: value for tag, value in FAKE_ODA.items() if tag != 0x9F48})


def test_pse_and_fci() -> None:
    assert pse_records() == (
        unhex("70 1F 61 1D 4F 08 A000000333010101 50 0E") + b"UnionPay Debit" + unhex("870101"),
    )
    assert adf_fci_proprietary().endswith(unhex("5F 2D 04") + b"zhen")


@pytest.mark.parametrize(
    ("first", "second", "bits", "scripts", "cvr"),
    [
        (AcType.ARQC, None, (), 0, "03A00000"),
        (AcType.AAC, None, (), 0, "03800000"),
        (AcType.ARQC, AcType.TC, (), 0, "03600000"),
        (AcType.ARQC, AcType.AAC, (CvrBit.ISSUER_AUTHENTICATION_FAILED,), 0, "03280000"),
        (
            AcType.ARQC,
            AcType.AAC,
            (CvrBit.NEW_CARD, CvrBit.ISSUER_AUTHENTICATION_NOT_PERFORMED),
            0,
            "03201400",
        ),
        (AcType.ARQC, None, (CvrBit.LAST_ONLINE_NOT_COMPLETED, CvrBit.DDA_PERFORMED), 2, "03A08022"),
        (AcType.ARQC, AcType.TC, (CvrBit.SCRIPT_FAILED,), 99, "036000F8"),
    ],
)
def test_cvr(first: AcType, second: AcType | None, bits: tuple[CvrBit, ...], scripts: int, cvr: str) -> None:
    assert card_verification_results(first, second, bits, scripts) == unhex(cvr)


def test_iad() -> None:
    assert issuer_application_data(unhex("03A04002")) == unhex("07 01 01 03A04002 01")
    assert issuer_application_data(unhex("03A04002"), 0x04, dki=0) == unhex("07 00 01 03A04002 04")
    with pytest.raises(ValueError, match="CVR"):
        issuer_application_data(b"\x03")
