"""FCI / FCP parsing (ISO/IEC 7816-4 §7.4), including the two FCIs real health cards return."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.apdu import Fci, FileDescriptor, FileType, LifeCycle, decode_fci
from cardservice.errors import CodecError
from tests.conftest import unhex


def test_health_card_ddf1_fci() -> None:
    """SELECT DDF1 on a real card: ``6F 10 84 0C 'WS.SYS.DDF01' A5 00`` (facts §1, source B)."""
    fci = decode_fci(unhex("6F 10 84 0C 57 53 2E 53 59 53 2E 44 44 46 30 31 A5 00"))
    assert fci.template == 0x6F
    assert fci.df_name == b"WS.SYS.DDF01"
    assert fci.proprietary == b""
    assert fci.is_df
    assert fci.fid is None
    assert fci.descriptor is None
    assert fci.file_type is None


def test_health_card_ddf1_fci_without_proprietary() -> None:
    fci = decode_fci(unhex("6F 0E 84 0C 57 53 2E 53 59 53 2E 44 44 46 30 31"))
    assert fci.df_name == b"WS.SYS.DDF01"
    assert fci.proprietary is None


def test_health_card_df01_fci() -> None:
    """SELECT DF01: ``6F 08 84 06 91 56 00 01 32 00`` (facts §1, source B)."""
    fci = decode_fci(unhex("6F 08 84 06 91 56 00 01 32 00"))
    assert fci.df_name == unhex("91 56 00 01 32 00")
    assert fci.is_df


def test_empty_response_of_an_ef() -> None:
    assert decode_fci(b"") == Fci()
    assert decode_fci(b"").template is None


def test_fcp_of_a_linear_fixed_ef() -> None:
    raw = unhex("62 18 80 02 00 40 82 05 02 21 00 20 02 83 02 EF 05 88 01 28 8A 01 05 85 01 AA")
    fci = decode_fci(raw)
    assert fci.template == 0x62
    assert fci.file_size == 0x40
    assert fci.descriptor == FileDescriptor(0x02, 0x21, 0x20, 0x02)
    assert fci.file_type is FileType.LINEAR_FIXED
    assert fci.fid == 0xEF05
    assert fci.sfi == 5  # ISO: b8-b4 of '28'
    assert fci.life_cycle is LifeCycle.ACTIVATED
    assert fci.proprietary == b"\xaa"
    assert not fci.is_df


@pytest.mark.parametrize(
    ("descriptor", "file_type", "tlv_records"),
    [
        ("38", FileType.DF, False),
        ("78", FileType.DF, False),  # shareable DF
        ("01", FileType.TRANSPARENT, False),
        ("41 21", FileType.TRANSPARENT, False),
        ("02 21 00 20", FileType.LINEAR_FIXED, False),
        ("03 21 20", FileType.LINEAR_FIXED, True),
        ("04 21 00 FF 0A", FileType.LINEAR_VARIABLE, False),
        ("05", FileType.LINEAR_VARIABLE, True),
        ("06 21 00 78 00 03", FileType.CYCLIC, False),
        ("07", FileType.CYCLIC, True),
        ("0A", FileType.LINEAR_FIXED, False),  # internal EF (keys)
        ("00", FileType.UNKNOWN, False),
        ("39", FileType.UNKNOWN, False),
        ("81", FileType.DATA_OBJECT, False),
    ],
)
def test_file_descriptor_types(descriptor: str, file_type: FileType, tlv_records: bool) -> None:
    parsed = FileDescriptor.decode(unhex(descriptor))
    assert parsed.file_type is file_type
    assert parsed.tlv_records is tlv_records


def test_file_descriptor_record_fields() -> None:
    assert FileDescriptor.decode(unhex("02 21 20")) == FileDescriptor(0x02, 0x21, 0x20, None)
    assert FileDescriptor.decode(unhex("06 21 00 78 03")) == FileDescriptor(0x06, 0x21, 0x78, 3)
    assert FileDescriptor.decode(unhex("06 21 00 78 01 00")).record_count == 256
    assert FileDescriptor.decode(unhex("0A")).is_internal
    assert FileDescriptor.decode(unhex("41")).shareable


def test_fci_with_nested_fcp_is_merged() -> None:
    raw = unhex("6F 10 84 02 DF 01 62 0A 82 01 38 83 02 DF 01 8A 01 05")
    fci = decode_fci(raw)
    assert fci.df_name == b"\xdf\x01"
    assert fci.fid == 0xDF01
    assert fci.file_type is FileType.DF
    assert fci.life_cycle is LifeCycle.ACTIVATED


def test_trailing_padding_tolerated() -> None:
    assert decode_fci(unhex("6F 08 84 06 91 56 00 01 32 00 00 00")).df_name == unhex("91 56 00 01 32 00")


@pytest.mark.parametrize(
    ("byte", "state"),
    [
        (0x01, LifeCycle.CREATION),
        (0x03, LifeCycle.INITIALISATION),
        (0x07, LifeCycle.ACTIVATED),
        (0x04, LifeCycle.DEACTIVATED),
        (0x06, LifeCycle.DEACTIVATED),
        (0x0C, LifeCycle.TERMINATED),
        (0x0F, LifeCycle.TERMINATED),
        (0x00, LifeCycle.NO_INFORMATION),
        (0x10, LifeCycle.PROPRIETARY),
    ],
)
def test_life_cycle(byte: int, state: LifeCycle) -> None:
    assert decode_fci(unhex(f"62 03 8A 01 {byte:02X}")).life_cycle is state


def test_empty_sfi_means_no_sfi() -> None:
    assert decode_fci(unhex("62 02 88 00")).sfi == 0


@pytest.mark.parametrize(
    "raw",
    [
        "84 02 DD F1",  # not a template
        "6F 02 84 05",  # truncated
        "6F 04 83 02 EF",  # malformed inside
        "62 03 83 01 EF",  # FID of 1 byte
        "62 04 88 02 01 02",  # SFI of 2 bytes
        "62 02 8A 00",  # empty life cycle
        "62 02 82 00",  # empty descriptor
        "62 09 82 07 01 02 03 04 05 06 07",  # descriptor too long
        "62 02 80 00",  # empty size
        "6F 13 84 11 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10",  # DF name > 16
        "6F 00 84 00",  # data after the template
    ],
)
def test_malformed_fci(raw: str) -> None:
    with pytest.raises(CodecError):
        decode_fci(unhex(raw))


@given(st.binary(max_size=80))
def test_fuzz_only_codec_error(raw: bytes) -> None:
    with contextlib.suppress(CodecError):
        assert isinstance(decode_fci(raw), Fci)  # anything but CodecError fails the test


@given(st.binary(max_size=60))
def test_fuzz_inside_template(body: bytes) -> None:
    raw = bytes((0x62, len(body))) + body
    try:
        fci = decode_fci(raw)
    except CodecError:
        return
    assert fci.template == 0x62
