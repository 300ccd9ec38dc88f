"""Framing and the field table (cardservice.acquiring._frame, _spec): the real CUP sale of facts sheet A5
decodes and encodes back byte for byte; malformed frames raise Iso8583Error and nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.acquiring import (
    DEFAULT_HEADER,
    DEFAULT_TPDU,
    FIELDS,
    Frame,
    Iso8583Error,
    Kind,
    MacError,
    SaleRequest,
    body_length,
    decode_frame,
    encode_frame,
    mask_pan,
    message_from_frame,
    reply_tpdu,
)
from cardservice.apdu import decode_ber_tlv
from tests.conftest import unhex

# Facts sheet A5: the decoded real sale (codetd.com/article/5053461), as published.
REAL_0200 = unhex(
    """01 AA 60 00 06 00 00 60 31 00 31 10 03 02 00 70 24 06 C0 20 C1 9A 31 16 62 24 24 29 00
    00 01 13 00 00 00 00 00 00 00 00 01 00 04 03 28 06 07 10 00 00 00 12 34 62 24 24 29 00
    00 01 13 D2 80 62 01 39 49 03 10 13 31 30 30 30 30 30 31 39 38 35 30 31 30 30 30 38 32
    34 31 30 30 30 32 00 01 00 31 35 36 D1 EE F4 19 D0 AE 26 09 26 00 00 00 00 00 00 00 01
    39 9F 26 08 95 BB E3 72 27 1D DA 7C 9F 27 01 80 9F 10 13 07 01 01 03 A0 00 00 01 0A 01
    00 00 00 00 00 ED 53 8F E4 9F 37 04 7F 9F 34 9E 9F 36 02 01 57 95 05 00 00 00 00 00 9A
    03 19 08 30 9C 01 00 9F 02 06 00 00 00 00 00 01 5F 2A 02 01 56 82 02 7C 00 9F 1A 02 01
    56 9F 03 06 00 00 00 00 00 00 9F 33 03 E0 E1 C8 9F 35 01 22 9F 1E 08 31 30 30 30 30 30
    31 39 84 08 A0 00 00 03 33 01 01 02 9F 09 02 00 8C 9F 41 04 00 00 04 03 01 53 31 32 32
    30 38 39 38 36 30 36 31 37 30 38 30 30 30 32 35 38 33 39 39 33 31 33 31 31 48 46 54 31
    37 30 38 30 33 30 31 31 34 31 34 32 30 31 39 30 38 33 30 30 39 33 34 33 35 31 35 30 32
    30 30 31 37 32 32 42 44 33 30 2E 36 32 31 35 35 35 2C 31 31 34 2E 33 36 31 39 35 34 41
    32 36 30 30 31 30 32 30 32 30 32 31 36 30 30 30 30 32 39 30 32 31 30 30 31 35 37 30 38
    30 33 30 36 30 30 30 31 31 33 30 34 30 38 30 34 32 34 37 32 39 32 30 35 30 38 48 37 30
    36 32 38 30 31 00 14 22 00 00 24 00 06 00 38 46 36 35 31 42 32 36"""
)


def test_real_sale_decodes_as_published() -> None:
    """The values the article lists (field 22 ``0710`` is n3 left-aligned: "071"; 23 ``0000``: "000")."""
    frame = decode_frame(REAL_0200)
    assert frame.tpdu == unhex("60 0006 0000")
    assert frame.header == unhex("60 31 00 31 10 03")
    assert frame.mti == "0200"
    assert sorted(frame.fields) == [
        2,
        3,
        4,
        11,
        14,
        22,
        23,
        25,
        26,
        35,
        41,
        42,
        48,
        49,
        52,
        53,
        55,
        59,
        60,
        64,
    ]
    assert frame.text(2) == "6224242900000113"
    assert (frame.text(3), frame.text(4), frame.text(11), frame.text(14)) == (
        "000000",
        "000000000001",
        "000403",
        "2806",
    )
    assert (frame.text(22), frame.text(23), frame.text(25), frame.text(26)) == ("071", "000", "00", "12")
    assert frame.text(35) == "6224242900000113D28062013949031013"
    assert (frame.text(41), frame.text(42), frame.text(49)) == ("10000019", "850100082410002", "156")
    assert frame.binary(52) == unhex("D1 EE F4 19 D0 AE 26 09")
    assert frame.text(53) == "2600000000000000"
    assert frame.text(60) == "22000024000600"
    assert frame.binary(64) == b"8F651B26"  # the CUP POS MAC is 8 ASCII hex characters
    icc = decode_ber_tlv(frame.binary(55) or b"")
    assert [t.tag for t in icc][:5] == [0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36]
    assert len(frame.binary(55) or b"") == 139  # LLL "0139" counts bytes


def test_real_sale_encodes_back_byte_for_byte() -> None:
    assert encode_frame(decode_frame(REAL_0200)) == REAL_0200


def test_real_sale_as_a_typed_sale() -> None:
    sale = message_from_frame(decode_frame(REAL_0200))
    assert isinstance(sale, SaleRequest)
    assert (sale.amount_fen, sale.stan, sale.batch, sale.pos_entry_mode, sale.psn) == (
        1,
        403,
        24,
        "071",
        "00",
    )
    assert sale.icc.value(0x9F36) == unhex("01 57")


def test_the_repr_masks_the_pan_and_hides_secrets() -> None:
    text = repr(decode_frame(REAL_0200))
    assert "622424******0113" in text
    assert "6224242900000113" not in text
    assert "D28062013949031013" not in text
    assert "d1eef419" not in text.lower()
    assert "52='<8 bytes>'" in text
    assert "55='<139 bytes>'" in text


def test_mask_pan() -> None:
    assert mask_pan("6224242900000113") == "622424******0113"
    assert mask_pan("6228480000000000017") == "622848*********0017"
    assert mask_pan("123456") == "******"


def test_reply_tpdu_swaps_the_addresses() -> None:
    assert reply_tpdu(unhex("60 0006 0000")) == unhex("60 0000 0006")
    with pytest.raises(Iso8583Error):
        reply_tpdu(b"\x60")


def test_length_prefix() -> None:
    assert body_length(b"\x01\xaa") == 426
    with pytest.raises(Iso8583Error):
        body_length(b"\x01")


def test_the_table_matches_the_library_spec() -> None:
    """BCD lengths count digits for n fields and bytes for b/ans fields (facts sheet A6)."""
    assert FIELDS[2].pyiso8583()["len_count"] == "nibbles"
    assert "len_count" not in FIELDS[55].pyiso8583()
    assert FIELDS[23].pyiso8583()["left_pad"] == "0"
    assert FIELDS[22].pyiso8583()["right_pad"] == "0"
    assert {FIELDS[n].kind for n in (52, 55, 64)} == {Kind.BINARY}
    assert all(FIELDS[n].sensitive for n in (2, 35, 52, 55))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "shorter than its length prefix"),
        (b"\x00", "shorter than its length prefix"),
        (REAL_0200[:-1], "length prefix says 426 bytes, 425 follow"),
        (REAL_0200 + b"\0", "length prefix says 426 bytes, 427 follow"),
        (b"\x00\x05" + DEFAULT_TPDU, "too short"),
        (b"\x01\xaa\x61" + REAL_0200[3:], "TPDU id 61"),
    ],
)
def test_malformed_frames(data: bytes, message: str) -> None:
    with pytest.raises(Iso8583Error, match=message):
        decode_frame(data)


def _with_body(body: bytes) -> bytes:
    message = DEFAULT_TPDU + DEFAULT_HEADER + body
    return len(message).to_bytes(2, "big") + message


def test_secondary_bitmap_and_unknown_fields_are_refused() -> None:
    with pytest.raises(Iso8583Error, match="secondary bitmap"):
        decode_frame(_with_body(unhex("0200 8000000000000000 0000000000000000")))
    with pytest.raises(Iso8583Error, match="field 5 is not in this spec"):
        decode_frame(_with_body(unhex("0200 0800000000000000 000000000001")))


def test_bcd_letters_in_a_numeric_field_are_refused() -> None:
    with pytest.raises(Iso8583Error, match="field 3: not decimal digits"):
        decode_frame(_with_body(unhex("0200 2000000000000000 00A000")))


def test_truncated_field_and_trailing_bytes() -> None:
    with pytest.raises(Iso8583Error, match="field 4"):
        decode_frame(_with_body(unhex("0200 1000000000000000 0000")))
    with pytest.raises(Iso8583Error, match="Extra data"):
        decode_frame(_with_body(unhex("0200 2000000000000000 000000 FF")))


def test_a_frame_without_field_64_has_no_mac_to_check() -> None:
    data = encode_frame(Frame("0800", {11: "000001"}))
    assert decode_frame(data).fields == {11: "000001"}
    with pytest.raises(MacError, match="carries no MAC"):
        decode_frame(data, mac_key=bytes(16))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({3: "12345A"}, "field 3: decimal digits"),
        ({3: ""}, "field 3: decimal digits"),
        ({35: "1234=5678"}, "field 35: track 2"),
        ({41: "终端0001"}, "field 41: printable ASCII"),
        ({52: "not bytes"}, "field 52: bytes"),
        ({41: b"10000019"}, "field 41: str"),
        ({5: "000000000001"}, "field 5 is not in this spec"),
        ({3: "1234567"}, "field 3"),
        ({2: "1" * 20}, "field 2"),
    ],
)
def test_encoding_refuses_what_the_table_does_not_allow(fields: dict[int, object], message: str) -> None:
    with pytest.raises(Iso8583Error, match=message):
        encode_frame(Frame("0200", fields))  # type: ignore[arg-type]


def test_encoding_refuses_a_bad_mti_or_tpdu() -> None:
    with pytest.raises(Iso8583Error, match="MTI"):
        encode_frame(Frame("02A0", {}))
    with pytest.raises(Iso8583Error, match="TPDU"):
        encode_frame(Frame("0200", {}, tpdu=unhex("70 0006 0000")))


# -- fuzz -------------------------------------------------------------------------------------------------


@given(st.binary(max_size=600))
def test_random_bytes_decode_or_raise_iso8583error(data: bytes) -> None:
    try:
        frame = decode_frame(data)
    except Iso8583Error:
        return
    assert len(frame.mti) == 4
    assert frame.mti.isdigit()


@given(st.binary(max_size=400))
def test_random_bodies_decode_or_raise_iso8583error(body: bytes) -> None:
    try:
        frame = decode_frame(_with_body(body), mac_key=bytes(16))
    except Iso8583Error:
        return
    assert isinstance(frame, Frame)


@given(st.integers(min_value=0, max_value=len(REAL_0200) - 1), st.integers(min_value=0, max_value=255))
def test_one_changed_byte_of_the_real_sale(position: int, value: int) -> None:
    data = REAL_0200[:position] + bytes((value,)) + REAL_0200[position + 1 :]
    try:
        frame = decode_frame(data)
    except Iso8583Error:
        return
    assert encode_frame(frame) == data  # whatever decodes is canonical: it encodes back the same


@given(st.integers(min_value=0, max_value=len(REAL_0200)))
def test_every_truncation_of_the_real_sale_is_an_iso8583error(cut: int) -> None:
    data = REAL_0200[:cut]
    data = len(data[2:]).to_bytes(2, "big") + data[2:] if cut >= 2 else data
    if cut == len(REAL_0200):
        assert decode_frame(data).mti == "0200"
        return
    with pytest.raises(Iso8583Error):
        decode_frame(data)


@given(
    pan=st.text("0123456789", min_size=12, max_size=19),
    stan=st.text("0123456789", min_size=6, max_size=6),
    track=st.text("0123456789D", min_size=1, max_size=37),
    icc=st.binary(max_size=255),
    text=st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=8, max_size=8),
    field48=st.text("0123456789", max_size=322),
)
def test_typed_fields_round_trip(
    pan: str, stan: str, track: str, icc: bytes, text: str, field48: str
) -> None:
    fields: dict[int, str | bytes] = {2: pan, 11: stan, 35: track, 41: text, 55: icc, 48: field48, 23: "001"}
    frame = Frame("0200", fields)
    data = encode_frame(frame, mac_key=bytes(range(16)))
    back = decode_frame(data, mac_key=bytes(range(16)))
    assert {n: v for n, v in back.fields.items() if n != 64} == fields
