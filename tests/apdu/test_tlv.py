"""BER-TLV (ISO/IEC 7816-4 §5.2.2) and SIMPLE-TLV (§5.2.1, the health card's record files)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.apdu import (
    MAX_TLV_DEPTH,
    SimpleTlv,
    Tlv,
    decode_ber_tlv,
    decode_simple_tlv,
    encode_ber_tlv,
    encode_simple_tlv,
    find,
    find_all,
)
from cardservice.errors import CodecError
from tests.conftest import unhex

# -- BER-TLV ---------------------------------------------------------------------------------------


def test_primitive_one_byte_tag() -> None:
    assert decode_ber_tlv(unhex("84 02 DD F1")) == [Tlv(0x84, unhex("DD F1"))]


def test_two_and_three_byte_tags() -> None:
    tlvs = decode_ber_tlv(unhex("9F 61 02 01 02 5F 20 01 41 BF 81 01 00"))
    assert [t.tag for t in tlvs] == [0x9F61, 0x5F20, 0xBF8101]
    assert tlvs[2].constructed
    assert tlvs[2].children == []


@pytest.mark.parametrize(
    ("length", "size"),
    [("7F", 0x7F), ("81 80", 0x80), ("81 FF", 0xFF), ("82 01 00", 0x100), ("83 00 01 00", 0x100)],
)
def test_long_form_lengths(length: str, size: int) -> None:
    raw = unhex("C0") + unhex(length) + bytes(size)
    (item,) = decode_ber_tlv(raw)
    assert item.value == bytes(size)


def test_encode_uses_minimal_lengths() -> None:
    assert encode_ber_tlv(0x84, bytes(0x7F))[:2] == unhex("84 7F")
    assert encode_ber_tlv(0x84, bytes(0x80))[:3] == unhex("84 81 80")
    assert encode_ber_tlv(0x84, bytes(0x100))[:4] == unhex("84 82 01 00")
    assert encode_ber_tlv(0x9F61, b"\x01") == unhex("9F 61 01 01")


def test_non_minimal_length_is_accepted_and_re_encoded_minimally() -> None:
    (item,) = decode_ber_tlv(unhex("84 81 02 DD F1"))
    assert item.value == unhex("DD F1")
    assert item.encode() == unhex("84 02 DD F1")


def test_constructed_children_and_find() -> None:
    raw = unhex("6F 10 84 0C 57 53 2E 53 59 53 2E 44 44 46 30 31 A5 00")
    (fci,) = decode_ber_tlv(raw)
    assert fci.constructed
    assert [c.tag for c in fci.children] == [0x84, 0xA5]
    found = find([fci], 0x84)
    assert found is not None
    assert found.value == b"WS.SYS.DDF01"
    assert find([fci], 0x88) is None
    assert Tlv.build(0x6F, fci.children).encode() == raw


def test_find_all_depth_first() -> None:
    raw = unhex("70 0A 61 03 4F 01 01 61 03 4F 01 02")
    assert [t.value for t in find_all(decode_ber_tlv(raw), 0x4F)] == [b"\x01", b"\x02"]


def test_padding_between_objects_is_skipped() -> None:
    raw = unhex("00 84 01 AA FF FF 85 01 BB 00 00")
    assert decode_ber_tlv(raw) == [Tlv(0x84, b"\xaa"), Tlv(0x85, b"\xbb")]
    with pytest.raises(CodecError):
        decode_ber_tlv(raw, allow_padding=False)


@pytest.mark.parametrize(
    "raw",
    [
        "84",  # length missing
        "84 03 01 02",  # value past the end
        "84 80",  # indefinite length
        "84 85 00 00 00 00 01",  # 5-byte length field
        "84 82 01",  # length field truncated
        "9F",  # tag truncated
        "9F 81",  # tag truncated after continuation
        "9F 81 81 81 01 00",  # tag longer than 4 bytes
        "6F 03 84 05 00",  # child runs past its parent
    ],
)
def test_malformed_ber_tlv(raw: str) -> None:
    with pytest.raises(CodecError):
        decode_ber_tlv(unhex(raw))


def test_nesting_limit() -> None:
    raw = b""
    for _ in range(MAX_TLV_DEPTH):
        raw = encode_ber_tlv(0x70, raw)
    assert decode_ber_tlv(raw)
    with pytest.raises(CodecError):
        decode_ber_tlv(encode_ber_tlv(0x70, raw))


@pytest.mark.parametrize("tag", [0, 0xFF, 0x1F, 0x9F01FF, 0x9F00 | 0x80, 1 << 32, -1])
def test_invalid_tags_cannot_be_encoded(tag: int) -> None:
    with pytest.raises(CodecError):
        encode_ber_tlv(tag, b"")


def test_primitive_cannot_have_children() -> None:
    with pytest.raises(CodecError):
        Tlv.build(0x84, [])
    assert Tlv(0x84, b"\x6f\x00").children == []


def test_repr_hides_value() -> None:
    assert "3131" not in repr(Tlv(0x5F20, b"110101199003071234"))


_first_bytes = st.integers(1, 0xFE).filter(lambda b: b & 0x1F != 0x1F)
_tags = st.one_of(
    _first_bytes,
    st.tuples(st.sampled_from([0x5F, 0x9F, 0xDF, 0x1F, 0x3F, 0x7F, 0xBF]), st.integers(0, 0x7F)).map(
        lambda t: t[0] << 8 | t[1]
    ),
    st.tuples(st.sampled_from([0x9F, 0xBF]), st.integers(0x81, 0xFF), st.integers(0, 0x7F)).map(
        lambda t: t[0] << 16 | t[1] << 8 | t[2]
    ),
)


@given(_tags, st.binary(max_size=300))
def test_ber_round_trip(tag: int, value: bytes) -> None:
    item = Tlv(tag, value)
    try:
        decoded = decode_ber_tlv(item.encode())
    except CodecError:
        # A constructed tag around arbitrary bytes is not necessarily valid nested TLV.
        assert item.constructed
        return
    assert decoded == [item]


@given(
    st.lists(
        st.tuples(
            _tags.filter(lambda t: not (t >> 8 * ((t.bit_length() - 1) // 8)) & 0x20), st.binary(max_size=40)
        ),
        max_size=6,
    )
)
def test_ber_sequence_round_trip(items: list[tuple[int, bytes]]) -> None:
    raw = b"".join(encode_ber_tlv(t, v) for t, v in items)
    assert decode_ber_tlv(raw) == [Tlv(t, v) for t, v in items]


@given(st.binary(max_size=200))
def test_ber_fuzz_only_codec_error(raw: bytes) -> None:
    try:
        tlvs = decode_ber_tlv(raw)
    except CodecError:
        return
    # Already validated: walking the tree must not raise either.
    assert all(isinstance(child, Tlv) for item in tlvs for child in item.children)
    find(tlvs, 0x84)


# -- SIMPLE-TLV ------------------------------------------------------------------------------------


def test_health_card_record_by_identifier() -> None:
    """DDF1/EF05 record read by identifier 39: ``00 B2 39 00 05`` -> ``39 03 13 01 85`` (facts §2.1)."""
    assert decode_simple_tlv(unhex("39 03 13 01 85")) == [SimpleTlv(0x39, unhex("13 01 85"))]


def test_fixed_size_record_with_trailing_padding() -> None:
    record = unhex("0C 01 01") + bytes(5)
    assert decode_simple_tlv(record) == [SimpleTlv(0x0C, b"\x01")]
    assert decode_simple_tlv(unhex("0C 01 02 FF FF")) == [SimpleTlv(0x0C, b"\x02")]
    assert decode_simple_tlv(bytes(8)) == []


def test_name_item_round_trip() -> None:
    name = "张三".encode("gbk").ljust(30, b"\x00")
    raw = encode_simple_tlv(0x0B, name)
    assert raw[:2] == unhex("0B 1E")
    assert decode_simple_tlv(raw) == [SimpleTlv(0x0B, name)]


def test_three_byte_length() -> None:
    raw = encode_simple_tlv(0x05, bytes(300))
    assert raw[:4] == unhex("05 FF 01 2C")
    assert decode_simple_tlv(raw)[0].value == bytes(300)
    assert encode_simple_tlv(0x05, bytes(254))[:2] == unhex("05 FE")


@pytest.mark.parametrize(
    "raw",
    [
        "0B",  # length missing
        "0B 05 41 42",  # value past the end
        "0B 01 41 00 0C 01 01",  # data after padding
        "05 FF 01",  # 3-byte length truncated
    ],
)
def test_malformed_simple_tlv(raw: str) -> None:
    with pytest.raises(CodecError):
        decode_simple_tlv(unhex(raw))


@pytest.mark.parametrize("tag", [0x00, 0xFF, 0x100])
def test_invalid_simple_tags(tag: int) -> None:
    with pytest.raises(CodecError):
        encode_simple_tlv(tag, b"")


@given(st.lists(st.tuples(st.integers(1, 0xFE), st.binary(max_size=300)), max_size=5), st.integers(0, 8))
def test_simple_round_trip_with_padding(items: list[tuple[int, bytes]], padding: int) -> None:
    raw = b"".join(encode_simple_tlv(t, v) for t, v in items) + bytes(padding)
    assert decode_simple_tlv(raw) == [SimpleTlv(t, v) for t, v in items]


@given(st.binary(max_size=200))
def test_simple_fuzz_only_codec_error(raw: bytes) -> None:
    try:
        items = decode_simple_tlv(raw)
    except CodecError:
        return
    assert decode_simple_tlv(b"".join(item.encode() for item in items)) == items
