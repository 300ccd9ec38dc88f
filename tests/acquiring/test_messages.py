"""Typed messages (cardservice.acquiring._messages): each encodes exactly the frame written out by hand
below from the field table, decodes back to itself, and refuses what is not authentic or not supported."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.acquiring import (
    DEFAULT_TPDU,
    Frame,
    Iso8583Error,
    MacError,
    RefundRequest,
    RefundResponse,
    ReversalRequest,
    ReversalResponse,
    SaleRequest,
    SaleResponse,
    SettlementRequest,
    SettlementResponse,
    SettlementTotals,
    build_icc_data,
    cup_pos_mac,
    decode_frame,
    decode_message,
    encode_frame,
    encode_message,
    issuer_script,
    reply_tpdu,
    track2_text,
)
from tests.conftest import unhex

TAK = unhex("11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF 00")
PAN = "6228480000000000017"  # 19 digits: the odd length exercises the pad nibble
TID, MID = "10000019", "850100082410002"
REPLY_TPDU = reply_tpdu(DEFAULT_TPDU)


def framed(tpdu: str, message: str) -> bytes:
    """Length ‖ TPDU ‖ header ‖ *message* (MTI ... field 63) ‖ field 64 = the CUP MAC of *message*."""
    body = unhex(message)
    whole = unhex(tpdu) + unhex("60 31 00 31 10 03") + body + cup_pos_mac(TAK, body)
    return len(whole).to_bytes(2, "big") + whole


SALE = SaleRequest(
    pan=PAN,
    amount_fen=1234,
    stan=7,
    terminal_id=TID,
    merchant_id=MID,
    batch=24,
    pos_entry_mode="051",
    psn="01",
    expiry="2812",
    track2=PAN + "D281220112345",
    pin_block=unhex("11 22 33 44 55 66 77 88"),
    icc_data=unhex("9F26 08 0102030405060708 9F36 02 0240"),
)


def _hex(text: str) -> str:
    """The hex at the start of each line (comments after two spaces)."""
    return " ".join(line.strip().split("  ")[0] for line in text.strip().splitlines())


SALE_HEX = framed(
    "60 0006 0000",
    _hex(
        """
        02 00
        70 24 06 C0 20 C0 9A 11
        19 62 28 48 00 00 00 00 00 01 70  2: LL 19 digits, BCD, pad 0 on the right
        00 00 00  3
        00 00 00 00 12 34  4: 12.34 yuan
        00 00 07  11
        28 12  14
        05 10  22: 051, left-aligned
        00 01  23: 001, right-aligned
        00  25
        12  26
        32 62 28 48 00 00 00 00 00 01 7D 28 12 20 11 23 45  35: 32 digits
        31 30 30 30 30 30 31 39  41
        38 35 30 31 30 30 30 38 32 34 31 30 30 30 32  42
        31 35 36  49
        11 22 33 44 55 66 77 88  52
        26 00 00 00 00 00 00 00  53: format 2, 3DES (6)
        00 16 9F 26 08 01 02 03 04 05 06 07 08 9F 36 02 02 40  55: LLL 16 bytes
        00 13 22 00 00 24 00 05 00  60: 22 | 000024 | 000 | 5 | 0 = 13 digits
        """
    ),
)

ANSWER = SaleResponse(
    response_code="00",
    amount_fen=1234,
    stan=7,
    terminal_id=TID,
    merchant_id=MID,
    batch=24,
    pan=PAN,
    rrn="000000000042",
    auth_code="123456",
    local_time="103015",
    local_date="1208",
    settlement_date="1208",
    icc_data=unhex("91 0A 11 22 33 44 55 66 77 88 30 30"),
)
ANSWER_HEX = framed(
    "60 0000 0006",
    _hex(
        """
        02 10
        70 3A 00 80 0E C0 82 11
        19 62 28 48 00 00 00 00 00 01 70  2
        00 00 00  3
        00 00 00 00 12 34  4
        00 00 07  11
        10 30 15  12
        12 08  13
        12 08  15
        00  25
        30 30 30 30 30 30 30 30 30 30 34 32  37
        31 32 33 34 35 36  38
        30 30  39
        31 30 30 30 30 30 31 39  41
        38 35 30 31 30 30 30 38 32 34 31 30 30 30 32  42
        31 35 36  49
        00 12 91 0A 11 22 33 44 55 66 77 88 30 30  55: 91 = ARPC | ARC "00"
        00 13 22 00 00 24 00 05 00  60
        """
    ),
)

REVERSAL = ReversalRequest.for_sale(SALE, "98")
REVERSAL_HEX = framed(
    "60 0006 0000",
    _hex(
        """
        04 00
        70 24 06 80 02 C0 80 11
        19 62 28 48 00 00 00 00 00 01 70  2
        00 00 00  3
        00 00 00 00 12 34  4
        00 00 07  11: the original's STAN
        28 12  14
        05 10  22
        00 01  23
        00  25
        39 38  39: reason 98, no answer
        31 30 30 30 30 30 31 39  41
        38 35 30 31 30 30 30 38 32 34 31 30 30 30 32  42
        31 35 36  49
        00 13 22 00 00 24 00 05 00  60: the original's type and batch
        """
    ),
)

REVERSAL_ANSWER = ReversalResponse(
    response_code="00",
    amount_fen=1234,
    stan=7,
    terminal_id=TID,
    merchant_id=MID,
    batch=24,
    pan=PAN,
    rrn="000000000042",
    local_time="103020",
    local_date="1208",
)
REVERSAL_ANSWER_HEX = framed(
    "60 0000 0006",
    _hex(
        """
        04 10
        70 38 00 80 0A C0 80 11
        19 62 28 48 00 00 00 00 00 01 70  2
        00 00 00  3
        00 00 00 00 12 34  4
        00 00 07  11
        10 30 20  12
        12 08  13
        00  25
        30 30 30 30 30 30 30 30 30 30 34 32  37
        30 30  39
        31 30 30 30 30 30 31 39  41
        38 35 30 31 30 30 30 38 32 34 31 30 30 30 32  42
        31 35 36  49
        00 13 22 00 00 24 00 05 00  60
        """
    ),
)


@pytest.mark.parametrize(
    ("message", "tpdu", "expected"),
    [
        (SALE, DEFAULT_TPDU, SALE_HEX),
        (ANSWER, REPLY_TPDU, ANSWER_HEX),
        (REVERSAL, DEFAULT_TPDU, REVERSAL_HEX),
        (REVERSAL_ANSWER, REPLY_TPDU, REVERSAL_ANSWER_HEX),
    ],
    ids=["0200", "0210", "0400", "0410"],
)
def test_encodes_the_hand_built_frame_and_decodes_it_back(
    message: object, tpdu: bytes, expected: bytes
) -> None:
    assert encode_message(message, mac_key=TAK, tpdu=tpdu) == expected  # type: ignore[arg-type]
    assert decode_message(expected, mac_key=TAK) == message


def test_the_answer_says_what_the_terminal_needs() -> None:
    answer = decode_message(ANSWER_HEX, mac_key=TAK)
    assert isinstance(answer, SaleResponse)
    assert answer.approved
    assert answer.auth_code == "123456"
    assert answer.rrn == "000000000042"
    assert answer.issuer_authentication_data == unhex("11 22 33 44 55 66 77 88 30 30")
    assert answer.issuer_scripts == []
    assert answer.scripts_before == () == answer.scripts_after
    declined = SaleResponse(**{**ANSWER.__dict__, "response_code": "55", "auth_code": None})
    assert not declined.approved


def test_issuer_scripts_come_out_whole_and_in_order() -> None:
    before = issuer_script(0x71, [unhex("84 24 00 00 04 01 02 03 04")])
    after = issuer_script(0x72, [unhex("84 1E 00 00 04 0A 0B 0C 0D")], unhex("00 00 00 01"))
    icc = build_icc_data({0x91: bytes(10)}) + before + after
    answer = SaleResponse(**{**ANSWER.__dict__, "icc_data": icc})
    assert answer.issuer_scripts == [before, after]
    assert answer.scripts_before == (before,)
    assert answer.scripts_after == (after,)
    assert after == unhex("72 12 9F18 04 00000001 86 09 841E0000040A0B0C0D")


def test_a_wrong_mac_is_not_an_approval() -> None:
    assert ANSWER_HEX[42] == 0x34  # the last byte of the amount
    tampered = ANSWER_HEX[:42] + b"\x35" + ANSWER_HEX[43:]  # 12.35 yuan
    with pytest.raises(MacError, match="does not verify"):
        decode_message(tampered, mac_key=TAK)
    with pytest.raises(MacError):
        decode_message(ANSWER_HEX, mac_key=bytes(16))
    frame = decode_frame(ANSWER_HEX)
    without_mac = encode_frame(Frame(frame.mti, {n: v for n, v in frame.fields.items() if n != 64}))
    with pytest.raises(MacError, match="carries no MAC"):
        decode_message(without_mac, mac_key=TAK)


def test_unsupported_transactions_are_refused() -> None:
    frame = decode_frame(SALE_HEX)
    balance = Frame("0200", {**frame.fields, 3: "310000"})
    with pytest.raises(Iso8583Error, match="field 3 is not 000000"):
        decode_message(encode_frame(balance, mac_key=TAK), mac_key=TAK)
    void = Frame("0200", {**frame.fields, 60: "2300002400050"})
    with pytest.raises(Iso8583Error, match=r"60\.1 '23', expected 22"):
        decode_message(encode_frame(void, mac_key=TAK), mac_key=TAK)
    with pytest.raises(Iso8583Error, match="MTI 0800 is not supported"):
        decode_message(encode_frame(Frame("0800", {11: "000001"}), mac_key=TAK), mac_key=TAK)
    missing = Frame("0200", {n: v for n, v in frame.fields.items() if n != 4})
    with pytest.raises(Iso8583Error, match="field 4 missing"):
        decode_message(encode_frame(missing, mac_key=TAK), mac_key=TAK)


def test_refund_names_its_original_in_37_and_61() -> None:
    refund = RefundRequest(
        pan=PAN,
        amount_fen=500,
        stan=8,
        terminal_id=TID,
        merchant_id=MID,
        batch=24,
        original_rrn="000000000042",
        original_batch=24,
        original_stan=7,
        original_date="1208",
        psn="01",
    )
    frame = refund.to_frame()
    assert (frame.mti, frame.text(3), frame.text(25)) == ("0220", "200000", "00")
    assert frame.text(37) == "000000000042"
    assert frame.text(61) == "0000240000071208"
    assert frame.text(60) == "2500002400050"
    assert decode_message(encode_message(refund, mac_key=TAK), mac_key=TAK) == refund
    answer = RefundResponse(
        response_code="00",
        amount_fen=500,
        stan=8,
        terminal_id=TID,
        merchant_id=MID,
        batch=24,
        rrn="000000000043",
    )
    back = decode_message(encode_message(answer, mac_key=TAK), mac_key=TAK)
    assert back == answer
    assert back.approved
    assert answer.to_frame().text(3) == "200000"


def test_settlement_totals_in_48() -> None:
    request = SettlementRequest(
        stan=9, terminal_id=TID, merchant_id=MID, batch=24, totals=SettlementTotals(3, 4500, 1, 500)
    )
    frame = request.to_frame()
    assert frame.text(48) == "0000000045000030000000005000010" + "0" * 31
    assert frame.text(60) == "0000002420150"
    assert decode_message(encode_message(request, mac_key=TAK), mac_key=TAK) == request
    answer = SettlementResponse(
        response_code="00",
        stan=9,
        terminal_id=TID,
        merchant_id=MID,
        batch=24,
        totals=request.totals,
        result="1",
    )
    back = decode_message(encode_message(answer, mac_key=TAK), mac_key=TAK)
    assert isinstance(back, SettlementResponse)
    assert back.balanced
    assert not SettlementResponse(**{**answer.__dict__, "result": "2"}).balanced


def test_reversal_answers_that_end_the_retries() -> None:
    assert REVERSAL_ANSWER.final
    assert ReversalResponse(**{**REVERSAL_ANSWER.__dict__, "response_code": "25"}).final
    assert not ReversalResponse(**{**REVERSAL_ANSWER.__dict__, "response_code": "96"}).final


def test_reprs_and_logs_never_show_card_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    shown = repr(SALE) + repr(REVERSAL) + repr(ANSWER) + repr(decode_frame(SALE_HEX))
    logging.getLogger("test").info("%r %r", SALE, decode_frame(SALE_HEX))
    for secret in (PAN, "D281220112345", "1122334455667788", "0102030405060708"):
        assert secret not in shown
        assert secret.lower() not in shown
        assert secret not in caplog.text
    assert "622848*********0017" in shown


def test_track2_from_the_card() -> None:
    assert track2_text(unhex("62 28 48 00 00 00 00 00 01 7D 28 12 20 11 23 45 FF")) == PAN + "D281220112345"
    with pytest.raises(Iso8583Error):
        track2_text(unhex("AB"))


def test_values_are_checked_when_building() -> None:
    with pytest.raises(Iso8583Error, match="PIN block: 8 bytes"):
        SaleRequest(**{**SALE.__dict__, "pin_block": b"\0" * 7})
    for change, message in (
        ({"amount_fen": 10**12}, "amount"),
        ({"terminal_id": "1234"}, "terminal id"),
        ({"pan": "1234"}, "PAN"),
        ({"stan": -1}, "STAN"),
        ({"batch": 10**6}, "batch"),
    ):
        with pytest.raises(Iso8583Error, match=message):
            encode_message(SaleRequest(**{**SALE.__dict__, **change}), mac_key=TAK)


@given(
    pan=st.text("0123456789", min_size=12, max_size=19),
    amount=st.integers(0, 10**12 - 1),
    stan=st.integers(0, 999999),
    batch=st.integers(0, 999999),
    psn=st.none() | st.text("0123456789", min_size=2, max_size=2),
    pin=st.none() | st.binary(min_size=8, max_size=8),
    icc=st.dictionaries(st.sampled_from([0x9F26, 0x9F36, 0x95, 0x82, 0x9F10]), st.binary(max_size=32)),
)
def test_sales_round_trip(
    pan: str, amount: int, stan: int, batch: int, psn: str | None, pin: bytes | None, icc: dict[int, bytes]
) -> None:
    sale = SaleRequest(
        pan=pan,
        amount_fen=amount,
        stan=stan,
        terminal_id=TID,
        merchant_id=MID,
        batch=batch,
        psn=psn,
        pin_block=pin,
        pos_entry_mode="051" if pin else "052",
        icc_data=build_icc_data(icc),
    )
    assert decode_message(encode_message(sale, mac_key=TAK), mac_key=TAK) == sale


@given(st.binary(max_size=300))
def test_random_frames_are_iso8583errors(body: bytes) -> None:
    message = DEFAULT_TPDU + unhex("60 31 00 31 10 03") + body
    try:
        decoded = decode_message(len(message).to_bytes(2, "big") + message, mac_key=TAK)
    except Iso8583Error:
        return
    # Random bytes almost never carry a right MAC: what decodes is a typed message of a known MTI.
    assert decoded.MTI in {"0200", "0210", "0400", "0410", "0220", "0230", "0500", "0510"}
