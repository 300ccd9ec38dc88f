"""ResponseApdu: data || SW1 SW2 (ISO/IEC 7816-4 §5.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.apdu import ResponseApdu
from cardservice.errors import (
    CodecError,
    NotFoundError,
    StatusWordError,
    VerificationFailedError,
    WarningStatusError,
)
from tests.conftest import unhex


def test_decode_splits_data_and_sw() -> None:
    response = ResponseApdu.decode(unhex("39 03 13 01 85 90 00"))
    assert response.data == unhex("39 03 13 01 85")
    assert response.sw == 0x9000
    assert response.sw1 == 0x90
    assert response.sw2 == 0x00
    assert response.encode() == unhex("39 03 13 01 85 90 00")


@pytest.mark.parametrize("raw", ["", "90"])
def test_decode_needs_two_bytes(raw: str) -> None:
    with pytest.raises(CodecError):
        ResponseApdu.decode(unhex(raw))


@pytest.mark.parametrize(
    ("sw", "success"), [(0x9000, True), (0x6110, False), (0x6282, False), (0x63C2, False)]
)
def test_is_success_only_for_9000(sw: int, success: bool) -> None:
    assert ResponseApdu(b"", sw).is_success is success


def test_check_returns_self_on_9000() -> None:
    response = ResponseApdu(b"\x01", 0x9000)
    assert response.check() is response


def test_check_raises_mapped_error_with_data() -> None:
    with pytest.raises(NotFoundError) as info:
        ResponseApdu(b"", 0x6A82).check()
    assert info.value.sw == 0x6A82

    with pytest.raises(VerificationFailedError) as failed:
        ResponseApdu(b"", 0x63CE).check()
    assert failed.value.tries_left == 14

    with pytest.raises(WarningStatusError) as warning:
        ResponseApdu(b"\xaa\xbb", 0x6282).check()
    assert warning.value.data == b"\xaa\xbb"


def test_sixty_one_is_not_success_either() -> None:
    with pytest.raises(StatusWordError):
        ResponseApdu(b"", 0x6110).check()


@pytest.mark.parametrize("sw", [-1, 0x10000, True])
def test_sw_range(sw: int) -> None:
    with pytest.raises(CodecError):
        ResponseApdu(b"", sw)


def test_repr_does_not_show_data() -> None:
    response = ResponseApdu(b"110101199003071234", 0x9000)
    assert "1101" not in repr(response)
    assert repr(response) == "ResponseApdu(data=<18 bytes>, sw=0x9000)"


@given(st.binary(max_size=300))
def test_round_trip_and_fuzz(raw: bytes) -> None:
    try:
        response = ResponseApdu.decode(raw)
    except CodecError:
        assert len(raw) < 2
        return
    assert response.encode() == raw
