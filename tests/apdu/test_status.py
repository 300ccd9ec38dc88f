"""Status word table: ISO/IEC 7816-4 §5.1.3 Tables 5 and 6, the health card's 63Cx / 6983, PBOC 93xx."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.apdu import STATUS_TABLE, describe_sw, error_for_sw, lookup_sw
from cardservice.errors import (
    AuthenticationBlockedError,
    ClassFunctionError,
    ClassNotSupportedError,
    CodecError,
    CommandNotAllowedError,
    ConditionsNotSatisfiedError,
    ExecutionError,
    InstructionNotSupportedError,
    NotFoundError,
    SecurityNotSatisfiedError,
    StatusWordError,
    UnknownStatusError,
    VerificationFailedError,
    WarningStatusError,
    WrongLengthError,
    WrongParametersError,
)

EXPECTED = [
    (0x6200, WarningStatusError, "no information given, non-volatile memory unchanged"),
    (0x6281, WarningStatusError, "part of returned data may be corrupted"),
    (0x6282, WarningStatusError, "end of file or record reached before reading Ne bytes"),
    (0x6283, WarningStatusError, "selected file deactivated"),
    (0x6299, WarningStatusError, "state of non-volatile memory unchanged"),
    (0x6300, WarningStatusError, "no information given, non-volatile memory changed"),
    (0x6381, WarningStatusError, "file filled up by the last write"),
    (0x63CE, VerificationFailedError, "verification failed, 14 tries left"),
    (0x63C0, VerificationFailedError, "verification failed, 0 tries left"),
    (0x6400, ExecutionError, "no information given"),
    (0x6581, ExecutionError, "memory failure"),
    (0x6600, ExecutionError, "security-related"),
    (0x6700, WrongLengthError, "wrong length"),
    (0x6882, ClassFunctionError, "secure messaging not supported"),
    (0x6981, CommandNotAllowedError, "command incompatible with file structure"),
    (0x6982, SecurityNotSatisfiedError, "security status not satisfied"),
    (0x6983, AuthenticationBlockedError, "authentication method blocked"),
    (0x6984, CommandNotAllowedError, "reference data not usable"),
    (0x6985, ConditionsNotSatisfiedError, "conditions of use not satisfied"),
    (0x6986, CommandNotAllowedError, "no current EF"),
    (0x6987, CommandNotAllowedError, "secure messaging data objects missing"),
    (0x6988, CommandNotAllowedError, "incorrect secure messaging data objects"),
    (0x6A80, WrongParametersError, "incorrect parameters in the command data field"),
    (0x6A81, WrongParametersError, "function not supported"),
    (0x6A82, NotFoundError, "file or application not found"),
    (0x6A83, NotFoundError, "record not found"),
    (0x6A84, WrongParametersError, "not enough memory space"),
    (0x6A86, WrongParametersError, "incorrect parameters P1-P2"),
    (0x6A88, WrongParametersError, "reference data not found"),
    (0x6B00, WrongParametersError, "wrong parameters P1-P2"),
    (0x6C10, WrongLengthError, "wrong Le field: 16 data bytes available"),
    (0x6D00, InstructionNotSupportedError, "instruction code not supported"),
    (0x6E00, ClassNotSupportedError, "class not supported"),
    (0x6F00, UnknownStatusError, "no precise diagnosis"),
    (0x9302, CommandNotAllowedError, "MAC invalid"),
    (0x9303, CommandNotAllowedError, "application permanently blocked"),
]


@pytest.mark.parametrize(("sw", "error", "text"), EXPECTED)
def test_error_for_sw(sw: int, error: type[StatusWordError], text: str) -> None:
    exc = error_for_sw(sw, b"\x01")
    assert type(exc) is error
    assert exc.sw == sw
    assert exc.data == b"\x01"
    assert text in describe_sw(sw)
    assert text in str(exc)
    assert f"{sw:04X}" in str(exc)


def test_success_and_more_data_are_describable() -> None:
    assert describe_sw(0x9000) == "normal processing, no further qualification"
    assert "18 response bytes still available" in describe_sw(0x6112)


def test_most_specific_row_wins() -> None:
    exact, family = lookup_sw(0x6A82), lookup_sw(0x6AFF)
    assert exact is not None
    assert exact.pattern == 0x6A82
    assert family is not None
    assert family.pattern == 0x6A00


@pytest.mark.parametrize("sw", [0x0000, 0x1234, 0x9100, 0xA000])
def test_unknown_status_words(sw: int) -> None:
    assert lookup_sw(sw) is None
    assert describe_sw(sw) == "unknown status word"
    assert type(error_for_sw(sw)) is UnknownStatusError


def test_table_rows_are_unique_and_consistent() -> None:
    keys = [(entry.pattern, entry.mask) for entry in STATUS_TABLE]
    assert len(keys) == len(set(keys))
    for entry in STATUS_TABLE:
        assert entry.pattern & ~entry.mask & 0xFFFF == 0
        best = lookup_sw(entry.pattern)
        assert best is not None
        assert best is entry or best.specificity > entry.specificity


@pytest.mark.parametrize("sw", [-1, 0x10000])
def test_sw_range(sw: int) -> None:
    with pytest.raises(CodecError):
        describe_sw(sw)


@given(st.integers(0, 0xFFFF))
def test_every_sw_gets_an_error_and_a_description(sw: int) -> None:
    assert isinstance(error_for_sw(sw), StatusWordError)
    assert describe_sw(sw)
