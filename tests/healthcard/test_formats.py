"""AN / CN / B codecs and typed values (fact sheet §0)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.errors import CodecError
from cardservice.healthcard import (
    Format,
    Kind,
    decode_an,
    decode_cn,
    decode_value,
    encode_an,
    encode_b,
    encode_cn,
    encode_value,
    item_by_abbreviation,
)
from tests.conftest import unhex


@dataclass(frozen=True)
class Spec:
    format: Format
    kind: Kind
    length: int
    display_name: str = "T (测试)"


XM = item_by_abbreviation("XM")  # AN 30

# Text that survives the GB18030 round trip: any character but NUL and lone surrogates.
_text = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)


# --- AN ------------------------------------------------------------------------------------


def test_an_is_gb18030_right_padded_with_00() -> None:
    """石家庄市卫生局 (the traced Hebei issuer) is 7 double-byte characters."""
    raw = encode_an("石家庄市卫生局", 30)
    assert raw == unhex("CA AF BC D2 D7 AF CA D0 CE C0 C9 FA BE D6") + bytes(16)
    assert decode_an(raw) == "石家庄市卫生局"


def test_an_rare_characters_count_their_true_length() -> None:
    """𠮷 (U+20BB7) is a four-byte GB18030 sequence; 䶮 (U+4DAE) takes two."""
    assert encode_an("𠮷", 4) == unhex("95 34 B2 35")
    assert encode_an("䶮", 2) == unhex("FE 9F")
    with pytest.raises(CodecError, match="needs 4 bytes"):
        encode_an("𠮷", 3)
    # 14 two-byte characters + 𠮷 = 32 bytes: does not fit the 30-byte XM even though it is 15 characters.
    with pytest.raises(CodecError, match=r"XM \(姓名\)"):
        encode_value(XM, "张" * 14 + "𠮷")
    assert decode_value(XM, encode_value(XM, "张" * 13 + "𠮷")) == "张" * 13 + "𠮷"


def test_an_minority_name_with_middle_dot() -> None:
    """Ethnic-minority names use · (U+00B7, GB18030 A1A4) between name parts."""
    name = "阿依古丽·买买提"
    raw = encode_value(XM, name)
    assert raw[:16] == "阿依古丽".encode("gb18030") + unhex("A1 A4") + "买买提".encode("gb18030")
    assert decode_value(XM, raw) == name


def test_an_too_wide_names_the_field_and_never_truncates() -> None:
    with pytest.raises(CodecError) as info:
        encode_value(XM, "A" * 31)
    assert "XM (姓名)" in str(info.value)
    assert "A" * 31 not in str(info.value)


def test_an_unencodable_character_names_the_field_and_position() -> None:
    with pytest.raises(CodecError, match=r"XM \(姓名\): character U\+D800 at position 1"):
        encode_value(XM, "张\ud800")
    with pytest.raises(CodecError, match="NUL"):
        encode_an("a\x00b", 5)


def test_an_decoding_strips_padding_and_unwritten_memory() -> None:
    assert decode_an(b"12\x00\x00") == "12"
    assert decode_an(b"12\xff\xff") == "12"
    assert decode_value(XM, bytes(30)) is None
    assert decode_value(XM, b"\xff" * 30) is None


def test_an_invalid_gb18030_bytes_raise() -> None:
    with pytest.raises(CodecError, match="not valid GB18030"):
        decode_an(unhex("81 20"))


@given(_text, st.integers(min_value=0, max_value=8))
def test_an_round_trip(text: str, extra: int) -> None:
    length = len(text.encode("gb18030")) + extra
    raw = encode_an(text, length)
    assert len(raw) == length
    assert decode_an(raw) == text


@given(_text)
def test_an_never_truncates(text: str) -> None:
    size = len(text.encode("gb18030"))
    if size:
        with pytest.raises(CodecError):
            encode_an(text, size - 1)


# --- CN ------------------------------------------------------------------------------------


def test_cn_is_left_aligned_and_f_padded() -> None:
    assert encode_cn("1", 1) == unhex("1F")
    assert encode_cn("130185", 3) == unhex("13 01 85")
    assert encode_cn("20130401", 4) == unhex("20 13 04 01")


def test_cn_accepts_the_hex_digit_seen_in_a_real_issuer_code() -> None:
    """§2.1 FKJGDM observed as 00022483A + F padding."""
    raw = unhex("00 02 24 83 AF FF FF FF FF FF FF")
    assert decode_cn(raw) == "00022483A"
    assert encode_cn("00022483a", 11) == raw


def test_cn_validation() -> None:
    with pytest.raises(CodecError, match="position 1"):
        encode_cn("1F", 1)  # F is padding, never a digit
    with pytest.raises(CodecError, match="do not fit CN 1"):
        encode_cn("123", 1)
    with pytest.raises(CodecError, match="follow the F padding"):
        decode_cn(unhex("1F 23"))
    assert decode_cn(unhex("FF FF")) == ""


@given(st.text(alphabet="0123456789ABCDE", max_size=22), st.integers(min_value=0, max_value=3))
def test_cn_round_trip(digits: str, extra: int) -> None:
    length = (len(digits) + 1) // 2 + extra or 1
    assert decode_cn(encode_cn(digits, length)) == digits


# --- B -------------------------------------------------------------------------------------


def test_b_is_exact_length() -> None:
    assert encode_b(b"\x01\x02", 2) == b"\x01\x02"
    with pytest.raises(CodecError, match="exactly 3"):
        encode_b(b"\x01\x02", 3)


@given(st.binary(min_size=1, max_size=64))
def test_bytes_value_round_trip(data: bytes) -> None:
    spec = Spec(Format.B, Kind.BYTES, len(data))
    expected = None if set(data) == {0xFF} else data
    assert decode_value(spec, encode_value(spec, data)) == expected


def test_single_byte_values() -> None:
    spec = Spec(Format.B, Kind.BYTE, 1)
    assert encode_value(spec, 2) == b"\x02"
    assert decode_value(spec, b"\x00") == 0
    assert decode_value(spec, b"\xff") is None  # ABOXX FF seen on an unfilled card
    with pytest.raises(CodecError, match=r"0\.\.254"):
        encode_value(spec, 255)
    with pytest.raises(CodecError):
        encode_value(spec, True)


# --- typed values: numbers, dates ----------------------------------------------------------

DATE = Spec(Format.CN, Kind.DATE, 4, "CSRQ (出生日期)")
DATETIME = Spec(Format.CN, Kind.DATETIME, 7, "就诊日期时间")
NUMBER = Spec(Format.CN, Kind.NUMBER, 5, "金额")


def test_dates_are_cn4_yyyymmdd() -> None:
    assert encode_value(DATE, dt.date(1949, 12, 31)) == unhex("19 49 12 31")
    assert decode_value(DATE, unhex("20 13 04 01")) == dt.date(2013, 4, 1)
    assert decode_value(DATE, unhex("FF FF FF FF")) is None
    assert decode_value(DATE, unhex("00 00 00 00")) is None


def test_datetimes_are_cn7() -> None:
    moment = dt.datetime(2015, 11, 3, 14, 5, 9)
    assert encode_value(DATETIME, moment) == unhex("20 15 11 03 14 05 09")
    assert decode_value(DATETIME, unhex("20 15 11 03 14 05 09")) == moment
    with pytest.raises(CodecError, match="naive"):
        encode_value(DATETIME, moment.replace(tzinfo=dt.UTC))


def test_invalid_dates_name_the_field() -> None:
    with pytest.raises(CodecError, match=r"CSRQ \(出生日期\): not a valid calendar date"):
        decode_value(DATE, unhex("20 13 02 30"))
    with pytest.raises(CodecError, match="needs 8 digits"):
        decode_value(DATE, unhex("20 13 04 FF"))
    with pytest.raises(CodecError, match="non-decimal"):
        decode_value(DATE, unhex("20 13 04 0A"))
    with pytest.raises(CodecError, match="cannot be stored"):
        encode_value(DATE, dt.datetime(2020, 1, 1))


@given(st.dates(min_value=dt.date(1000, 1, 1)))
def test_date_round_trip(day: dt.date) -> None:
    assert decode_value(DATE, encode_value(DATE, day)) == day


@given(st.datetimes(min_value=dt.datetime(1000, 1, 1)))
def test_datetime_round_trip_at_one_second(moment: dt.datetime) -> None:
    assert decode_value(DATETIME, encode_value(DATETIME, moment)) == moment.replace(microsecond=0)


@given(st.integers(min_value=0, max_value=10**10 - 1))
def test_number_round_trip(amount: int) -> None:
    assert decode_value(NUMBER, encode_value(NUMBER, amount)) == amount


def test_number_limits() -> None:
    assert encode_value(NUMBER, 12345) == unhex("12 34 5F FF FF")
    with pytest.raises(CodecError, match="do not fit"):
        encode_value(NUMBER, 10**10)
    with pytest.raises(CodecError, match="negative"):
        encode_value(NUMBER, -1)


def test_wrong_field_length_and_type() -> None:
    with pytest.raises(CodecError, match="expected 30"):
        decode_value(XM, bytes(29))
    with pytest.raises(CodecError, match="int cannot be stored as text"):
        encode_value(XM, 5)
    assert encode_value(XM, None) == bytes(30)
    assert encode_value(DATE, None) == b"\xff" * 4
