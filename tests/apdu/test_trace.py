"""Tracing and masking: PINs, cryptograms, SM data and ID numbers never reach the log."""

from __future__ import annotations

import logging

import pytest

from cardservice.apdu import (
    DEFAULT_MASKING_POLICY,
    CommandApdu,
    LoggingTracer,
    MaskingPolicy,
    Visibility,
    change_reference_data,
    external_authenticate,
    get_challenge,
    mask_personal,
    mask_personal_bytes,
    read_record,
    select_by_fid,
    transceive,
    update_binary,
    verify,
)
from cardservice.apdu.testing import ScriptedTransmit
from cardservice.errors import CardAbsentError
from tests.conftest import unhex

LOGGER = "tests.apdu.trace"
ID_NUMBER = "110101199003071234"
# DDF1/EF06 record 5: tag 0F (SFZH), 18 bytes
ID_RECORD = bytes((0x0F, 18)) + ID_NUMBER.encode()
NAME_RECORD = bytes((0x0B, 30)) + "张三丰".encode("gbk").ljust(30, b"\x00")


@pytest.fixture
def tracer() -> LoggingTracer:
    return LoggingTracer(logging.getLogger(LOGGER))


def _run(tracer: LoggingTracer, script: list[tuple[str | None, str | bytes]], command: CommandApdu) -> None:
    transceive(ScriptedTransmit(script), command, tracer=tracer, clock=iter([0.0, 0.00042] * 8).__next__)


def _log(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records if record.name == LOGGER)


def test_one_line_per_exchange_with_public_data(
    tracer: LoggingTracer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    _run(tracer, [(None, "61 08"), (None, "6F 06 84 04 DD F1 00 00 90 00")], select_by_fid(0xDDF1))
    lines = _log(caplog).splitlines()
    assert lines == [
        "00 A4 00 00 Lc=2 [DD F1] -> 6108 <0 bytes> 0.42 ms"
        " (normal processing, 8 response bytes still available (GET RESPONSE))",
        "00 C0 00 00 Le=8 -> 9000 [6F 06 84 04 DD F1 00 00] 0.42 ms"
        " (normal processing, no further qualification)",
    ]


@pytest.mark.parametrize(
    "command",
    [
        verify(unhex("12 34 56"), 0x00),
        change_reference_data(unhex("12 34 56"), unhex("65 43 21"), 0x00),
        external_authenticate(unhex("12 34 56 AB CD EF 01 23"), 0x84),
        CommandApdu(0x00, 0x88, 0x00, 0x01, unhex("12 34 56 00"), ne=8),  # INTERNAL AUTHENTICATE
        CommandApdu(0x04, 0xDC, 0x01, 0x04, unhex("12 34 56 77 88 99 AA BB")),  # SM
        CommandApdu(0x84, 0xD2, 0x01, 0x04, unhex("12 34 56 77")),  # PBOC MAC
        CommandApdu(0x80, 0x5E, 0x01, 0x00, unhex("12 34 56 FF 65 43 21")),  # SAM change PIN
    ],
)
def test_secret_command_data_never_logged(
    tracer: LoggingTracer, caplog: pytest.LogCaptureFixture, command: CommandApdu
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with tracer.non_personal():  # not even when the caller vouches for the exchange
        _run(tracer, [(None, "12 34 56 90 00")], command)
    text = _log(caplog)
    assert f"Lc={len(command.data)} <{len(command.data)} bytes>" in text
    assert "12 34 56" not in text
    assert "123456" not in text
    assert "<3 bytes>" in text  # the response of a secret command is masked too


def test_personal_response_masked_by_default(tracer: LoggingTracer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    _run(tracer, [(None, ID_RECORD.hex() + "9000")], read_record(5))
    text = _log(caplog)
    assert "<20 bytes>" in text
    assert ID_NUMBER not in text
    assert ID_NUMBER.encode().hex(" ").upper() not in text
    assert "31 31 30 31" not in text


def test_non_personal_shows_data_but_still_masks_detected_ids_and_names(
    tracer: LoggingTracer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with tracer.non_personal():
        _run(tracer, [(None, ID_RECORD.hex() + "9000")], read_record(5))
        _run(tracer, [(None, NAME_RECORD.hex() + "9000")], read_record(1))
        _run(tracer, [(None, "01 02 03 90 00")], read_record(2))
    text = _log(caplog)
    assert ID_NUMBER not in text
    assert "1101************34" in text
    assert "张三丰" not in text
    assert "三丰" not in text
    assert "张**" in text
    assert "personal data masked" in text
    assert "[01 02 03]" in text  # nothing personal detected: hex shown
    # After the block, masking is back.
    caplog.clear()
    _run(tracer, [(None, "01 02 03 90 00")], read_record(2))
    assert "[01 02 03]" not in _log(caplog)
    assert "<3 bytes>" in _log(caplog)


def test_personal_command_data_masked(tracer: LoggingTracer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    _run(tracer, [(None, "90 00")], update_binary(0, ID_NUMBER.encode()))
    text = _log(caplog)
    assert "Lc=18 <18 bytes>" in text
    assert ID_NUMBER.encode().hex(" ").upper() not in text


def test_challenge_response_is_public(tracer: LoggingTracer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    _run(tracer, [(None, "01 02 03 04 05 06 07 08 90 00")], get_challenge())
    assert "[01 02 03 04 05 06 07 08]" in _log(caplog)


def test_get_response_inherits_the_visibility_of_the_command(
    tracer: LoggingTracer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    _run(tracer, [(None, "61 14"), (None, ID_RECORD.hex() + "9000")], read_record(5))
    assert ID_NUMBER.encode().hex(" ").upper() not in _log(caplog)
    assert "<20 bytes>" in _log(caplog)


def test_transmit_error_logged_without_message(
    tracer: LoggingTracer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with pytest.raises(CardAbsentError):
        _run(tracer, [(None, CardAbsentError("removed"))], get_challenge())  # type: ignore[list-item]
    assert "00 84 00 00 Le=8 -> CardAbsentError" in _log(caplog)


def test_nothing_logged_above_level(tracer: LoggingTracer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    _run(tracer, [(None, "90 00")], get_challenge())
    assert _log(caplog) == ""


def test_policy_table() -> None:
    policy = DEFAULT_MASKING_POLICY
    assert policy.command_visibility(0x00, 0xA4) is Visibility.PUBLIC
    assert policy.command_visibility(0x00, 0x20) is Visibility.SECRET
    assert policy.command_visibility(0x00, 0xDC) is Visibility.PERSONAL
    assert policy.command_visibility(0x0C, 0xA4) is Visibility.SECRET  # SM
    assert policy.command_visibility(0x80, 0xA4) is Visibility.SECRET  # proprietary class
    assert policy.response_visibility(0x00, 0xA4) is Visibility.PUBLIC
    assert policy.response_visibility(0x00, 0xB0) is Visibility.PERSONAL
    relaxed = MaskingPolicy(public_response_ins=frozenset({0xA4, 0x84, 0xB0}))
    assert relaxed.response_visibility(0x00, 0xB0) is Visibility.PUBLIC


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("110101199003071234", "1101************34"),
        ("ID 11010119900307123X.", "ID 1101************3X."),
        ("张三", "张*"),
        ("阿依古丽·买买提", "阿*******"),
        ("王", "王"),  # a single character identifies nobody
        ("WS.SYS.DDF01 0002", "WS.SYS.DDF01 0002"),
        ("1101011990030712345", "1101011990030712345"),  # 19 digits: not an ID number (a PAN)
    ],
)
def test_mask_personal(text: str, masked: str) -> None:
    assert mask_personal(text) == masked


def test_mask_personal_bytes_decodes_gbk_and_utf8() -> None:
    assert mask_personal_bytes("张三丰".encode("gbk") + b"\x00\x00") == "张**.."
    assert mask_personal_bytes("李四".encode()) == "李*"
