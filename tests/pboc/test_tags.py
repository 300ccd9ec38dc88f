"""The EMV/PBOC data dictionary and the DOL codecs (EMV 4.3 Book 3 Annex A, §5.4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.apdu import encode_ber_tlv
from cardservice.errors import CodecError
from cardservice.pboc._tags import (
    DATA_OBJECTS,
    DataFormat,
    Source,
    build_dol_data,
    data_object,
    dol_data_length,
    mask_pan,
    parse_dol,
    parse_dol_data,
    parse_tag_list,
    tag_name,
)
from tests.conftest import unhex

# Every tag the card specification names (/tmp/briefs/card-spec.md) and the terminal tags of the brief.
CARD_TAGS = {
    0x6F, 0x84, 0xA5, 0x88, 0x5F2D, 0x70, 0x61, 0x4F, 0x50, 0x87, 0x9F38, 0x83, 0x80, 0x82, 0x94, 0x57,
    0x5A, 0x5F24, 0x5F25, 0x5F34, 0x5F20, 0x5F28, 0x9F07, 0x9F0D, 0x9F0E, 0x9F0F, 0x8C, 0x8D, 0x8E,
    0x9F08, 0x9F4A, 0x8F, 0x90, 0x92, 0x9F32, 0x93, 0x9F46, 0x9F47, 0x9F48, 0x9F49, 0x9F42, 0x9F44,
    0x77, 0x9F27, 0x9F36, 0x9F26, 0x9F10, 0x9F13, 0x9F17, 0x9F79, 0x9F4B, 0x8A, 0x9F37,
}  # fmt: skip
TERMINAL_TAGS = {
    0x95, 0x9B, 0x9F33, 0x9F35, 0x9F1E, 0x84, 0x9F09, 0x9F41, 0x9F34, 0x9F27, 0x9F26, 0x9F10, 0x9F36,
    0x9F37, 0x9F02, 0x9F03, 0x9F1A, 0x5F2A, 0x9A, 0x9C, 0x9F21, 0x9F4E, 0x8A, 0x91, 0x71, 0x72, 0x86,
    0x9F18, 0x9F5D, 0x9F7A, 0x9F79, 0x9F13, 0x9F17, 0xDF31,
}  # fmt: skip

PDOL = unhex("9F1A02 9F7A01 9F0206 5F2A02")
CDOL1 = unhex("9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704 9F2103 9F4E14")
CDOL2 = unhex("8A02 9505 9F3704")


def test_every_tag_of_the_card_and_the_terminal_is_in_the_table() -> None:
    missing = {f"{t:X}" for t in CARD_TAGS | TERMINAL_TAGS if t not in {d.tag for d in DATA_OBJECTS}}
    assert not missing


def test_rows_are_consistent() -> None:
    assert len({d.tag for d in DATA_OBJECTS}) == len(DATA_OBJECTS)
    assert len({d.abbreviation for d in DATA_OBJECTS}) == len(DATA_OBJECTS)
    for row in DATA_OBJECTS:
        assert 0 <= row.min_length <= row.max_length <= 261, row.display_name
        assert all((row.clause, row.name, row.label, row.abbreviation)), row.display_name
        # A template's tag says "constructed", and every template is binary.
        if row.constructed:
            assert row.format is DataFormat.B, row.display_name
        # The tag bytes must encode as BER-TLV (raises CodecError otherwise).
        encode_ber_tlv(row.tag, b"")


@pytest.mark.parametrize(
    ("tag", "fmt", "lengths", "source"),
    [
        (0x9F02, DataFormat.N, (6, 6), Source.TERMINAL),  # n 12
        (0x5A, DataFormat.CN, (1, 10), Source.ICC),  # cn, up to 19 digits
        (0x8A, DataFormat.AN, (2, 2), Source.ISSUER),
        (0x50, DataFormat.ANS, (1, 16), Source.ICC),
        (0x95, DataFormat.B, (5, 5), Source.TERMINAL),
        (0x9F41, DataFormat.N, (2, 4), Source.TERMINAL),
        (0x9F79, DataFormat.N, (6, 6), Source.ICC),
    ],
)
def test_rows_from_annex_a(tag: int, fmt: DataFormat, lengths: tuple[int, int], source: Source) -> None:
    row = data_object(tag)
    assert (row.format, (row.min_length, row.max_length), row.source) == (fmt, lengths, source)


def test_constructed_flag() -> None:
    assert data_object(0x70).constructed
    assert data_object(0x77).constructed
    assert data_object(0xBF0C).constructed
    assert not data_object(0x9F4B).constructed
    assert not data_object(0x82).constructed


def test_lookups() -> None:
    assert tag_name(0x82) == "Application Interchange Profile"
    assert tag_name(0x9F4E) == "Merchant Name and Location"
    assert tag_name(0x9F99) == "unknown tag 9F99"
    assert data_object(0x9F36).abbreviation == "ATC"
    with pytest.raises(CodecError):
        data_object(0x9F99)


# -- DOL ------------------------------------------------------------------------------------------------


def test_parse_the_card_dols() -> None:
    assert parse_dol(PDOL) == [(0x9F1A, 2), (0x9F7A, 1), (0x9F02, 6), (0x5F2A, 2)]
    assert parse_dol(CDOL2) == [(0x8A, 2), (0x95, 5), (0x9F37, 4)]
    assert dol_data_length(PDOL) == 11
    assert dol_data_length(CDOL1) == 6 + 6 + 2 + 5 + 2 + 3 + 1 + 4 + 3 + 20
    assert parse_dol(b"") == []


def test_parse_tag_list_and_three_byte_tags() -> None:
    assert parse_tag_list(unhex("82")) == [0x82]
    assert parse_tag_list(unhex("9F02 5F2A DF8101")) == [0x9F02, 0x5F2A, 0xDF8101]
    assert parse_dol(unhex("DF810104 82 02")) == [(0xDF8101, 4), (0x82, 2)]


@pytest.mark.parametrize(
    "bad",
    [
        "9F",  # truncated two-byte tag
        "9F02",  # tag without length
        "9F0281",  # multi-byte length
        "00 02",  # padding byte as a tag
        "9F818101",  # four-byte tag
    ],
)
def test_malformed_dols_raise_codec_error(bad: str) -> None:
    with pytest.raises(CodecError):
        parse_dol(unhex(bad))


def test_build_pdol_data() -> None:
    values = {
        0x9F1A: unhex("0156"),
        0x9F7A: unhex("01"),
        0x9F02: unhex("000000012345"),
        0x5F2A: unhex("0156"),
    }
    assert build_dol_data(PDOL, values) == unhex("0156 01 000000012345 0156")


def test_missing_values_and_templates_give_zeros() -> None:
    """§5.4: a tag the terminal does not know, or a constructed one, is sent as zeros."""
    assert build_dol_data(unhex("9F3704 7003"), {0x70: unhex("AABBCC")}) == bytes(7)


def test_numeric_n_is_left_padded_and_keeps_its_rightmost_bytes() -> None:
    # 9F02 is n 12: "1" in 2 bytes widens to 000000000001; 8 bytes shrink to the rightmost 6.
    assert build_dol_data(unhex("9F0206"), {0x9F02: unhex("0001")}) == unhex("000000000001")
    assert build_dol_data(unhex("9F0206"), {0x9F02: unhex("1122 334455667788")}) == unhex("334455667788")


def test_compressed_numeric_cn_is_right_padded_with_ff_and_keeps_its_leftmost_bytes() -> None:
    # 5A is cn: the PAN keeps its leading digits; padding is trailing FF (Book 3 §5.4).
    assert build_dol_data(unhex("5A0A"), {0x5A: unhex("6228480000001234")}) == unhex("6228480000001234 FFFF")
    assert build_dol_data(unhex("5A04"), {0x5A: unhex("6228480000001234")}) == unhex("62284800")


def test_other_formats_are_right_padded_with_zeros_and_keep_their_leftmost_bytes() -> None:
    # 9F4E ans, 8A an, 95 b, and a tag not in the dictionary (treated as b).
    assert build_dol_data(unhex("9F4E08"), {0x9F4E: b"SHOP"}) == b"SHOP" + bytes(4)
    assert build_dol_data(unhex("9F4E02"), {0x9F4E: b"SHOP"}) == b"SH"
    assert build_dol_data(unhex("8A03"), {0x8A: b"00"}) == b"00\x00"
    assert build_dol_data(unhex("9506"), {0x95: unhex("8000000000")}) == unhex("8000000000 00")
    assert build_dol_data(unhex("9F7F02"), {0x9F7F: unhex("ABCDEF")}) == unhex("ABCD")


def test_parse_dol_data_splits_and_checks_the_length() -> None:
    data = unhex("3030 0000000000 11223344")
    assert parse_dol_data(CDOL2, data) == {0x8A: b"00", 0x95: bytes(5), 0x9F37: unhex("11223344")}
    with pytest.raises(CodecError):
        parse_dol_data(CDOL2, data[:-1])


_values = st.dictionaries(
    st.sampled_from([0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37, 0x9F21, 0x9F4E]),
    st.binary(max_size=24),
)


@given(values=_values)
def test_dol_data_has_the_asked_length_and_splits_back(values: dict[int, bytes]) -> None:
    data = build_dol_data(CDOL1, values)
    assert len(data) == dol_data_length(CDOL1)
    split = parse_dol_data(CDOL1, data)
    for tag, length in parse_dol(CDOL1):
        value = values.get(tag)
        if value is not None and len(value) == length:
            assert split[tag] == value  # a value of the right length passes unchanged
        elif value is None:
            assert split[tag] == bytes(length)


# -- PAN masking ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pan", "masked"),
    [
        ("6228480000001234", "622848******1234"),
        ("6228480000000001234", "622848*********1234"),  # 19 digits
        ("6228000100001", "622800***0001"),
        (unhex("6228480000001234"), "622848******1234"),  # tag 5A bytes
        (unhex("6228480000000001234F"), "622848*********1234"),  # cn, F-padded
        ("1234567890", "**********"),  # too short to show anything
    ],
)
def test_mask_pan(pan: str | bytes, masked: str) -> None:
    assert mask_pan(pan) == masked


@given(st.text(alphabet="0123456789", min_size=11, max_size=19))
def test_mask_pan_shows_six_and_four(pan: str) -> None:
    masked = mask_pan(pan)
    assert len(masked) == len(pan)
    assert masked[:6] == pan[:6]
    assert masked[-4:] == pan[-4:]
    assert set(masked[6:-4]) == {"*"}
