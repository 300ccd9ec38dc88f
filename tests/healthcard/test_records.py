"""TLV records of the record files (fact sheet §2.1), with values observed on the traced cards (§2.1, §8)."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.errors import CodecError
from cardservice.healthcard import (
    DATA_ITEMS,
    DataItem,
    Kind,
    decode_record,
    encode_record,
    item_by_abbreviation,
    split_record,
)
from tests.conftest import unhex


def _item(abbreviation: str) -> DataItem:
    return item_by_abbreviation(abbreviation)


# Records rebuilt from values the fact sheet reports as seen on real cards (source B).
OBSERVED = [
    ("KLB", "01 01 31", "1"),
    ("GFBB", "02 04 56 31 2E 31", "V1.1"),
    ("GFBB", "02 04 30 30 30 32", "0002"),
    ("FKJGDM", "04 0B 00 02 24 83 AF FF FF FF FF FF FF", "00022483A"),
    ("XPXLH", "0A 0A 31 33 30 39 31 33 33 36 34 36", "1309133646"),
    ("AQM", "09 03 30 30 30", "000"),
    ("YYCSDM", "39 03 13 01 85", "130185"),  # answer to 00 B2 39 00 05
    ("XB", "0C 01 01", 1),
    ("MZ", "0D 01 01", "01"),
    ("DZLB1", "15 01 1F", "1"),
    ("XCBZ", "2B 01 00", 0),
]


@pytest.mark.parametrize(("abbreviation", "record", "value"), OBSERVED)
def test_observed_records(abbreviation: str, record: str, value: object) -> None:
    item = _item(abbreviation)
    assert decode_record(unhex(record)) == (item, value)
    assert encode_record(item, value) == unhex(record)


def test_blank_values_seen_on_cards_decode_as_absent() -> None:
    assert decode_record(unhex("09 03 00 00 00")) == (_item("AQM"), None)  # AQM 00 00 00
    assert decode_record(unhex("29 01 FF")) == (_item("ABOXX"), None)  # ABOXX unfilled


def test_issuer_name_record() -> None:
    raw = encode_record(_item("FKJGMC"), "石家庄市卫生局")
    assert raw[:2] == unhex("03 1E")
    assert len(raw) == 32
    assert decode_record(raw) == (_item("FKJGMC"), "石家庄市卫生局")


def test_issue_date_record() -> None:
    assert encode_record(_item("FKSJ"), dt.date(2013, 4, 1)) == unhex("06 04 20 13 04 01")


def test_trailing_padding_of_a_fixed_slot_is_tolerated() -> None:
    assert decode_record(unhex("39 03 13 01 85 00 00")) == (_item("YYCSDM"), "130185")
    assert decode_record(unhex("39 03 13 01 85 FF")) == (_item("YYCSDM"), "130185")
    with pytest.raises(CodecError, match="after the value"):
        decode_record(unhex("39 03 13 01 85 12"))


@pytest.mark.parametrize("raw", ["FF FF FF FF FF", "00 00 00", "", "FF"])
def test_empty_record_is_absent(raw: str) -> None:
    assert split_record(unhex(raw)) is None
    assert decode_record(unhex(raw)) is None


def test_malformed_records() -> None:
    with pytest.raises(CodecError, match="runs past"):
        decode_record(unhex("39 05 13 01 85"))
    with pytest.raises(CodecError, match="not a health-card TLV data item"):
        decode_record(unhex("50 01 00"))
    with pytest.raises(CodecError, match=r"YYCSDM \(应用城市代码\): record length byte 2"):
        decode_record(unhex("39 02 13 01"))
    with pytest.raises(CodecError, match="does not belong to DDF1/EF06"):
        decode_record(unhex("39 03 13 01 85"), file="DDF1/EF06")
    with pytest.raises(CodecError, match="no tag"):
        decode_record(unhex("39"))


def _value_for(item_kind: Kind, length: int) -> st.SearchStrategy[object]:
    if item_kind is Kind.TEXT:
        text = st.text(alphabet="0123456789ABCabc张王李·𠮷", min_size=1, max_size=length)
        return text.filter(lambda t: len(t.encode("gb18030")) <= length)
    if item_kind is Kind.DIGITS:
        return st.text(alphabet="0123456789", min_size=1, max_size=2 * length)
    if item_kind is Kind.DATE:
        return st.dates(min_value=dt.date(1000, 1, 1))
    if item_kind is Kind.BYTE:
        return st.integers(min_value=0, max_value=254)
    return st.binary(min_size=length, max_size=length).filter(lambda b: set(b) != {0xFF})


@given(st.data())
def test_every_item_round_trips(data: st.DataObject) -> None:
    item = data.draw(st.sampled_from(DATA_ITEMS))
    value = data.draw(_value_for(item.kind, item.length))
    raw = encode_record(item, value)
    assert len(raw) == item.record_size
    assert decode_record(raw, file=item.file) == (item, value)


@given(st.binary(max_size=200))
def test_decoder_only_raises_codec_error(raw: bytes) -> None:
    with contextlib.suppress(CodecError):
        decode_record(raw)
