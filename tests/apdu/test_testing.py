"""The shipped ScriptedTransmit fake."""

from __future__ import annotations

import pytest

from cardservice.apdu import ResponseApdu, get_challenge, select_by_fid
from cardservice.apdu.testing import ScriptedTransmit, ScriptError
from tests.conftest import unhex


def test_replays_and_records() -> None:
    card = (
        ScriptedTransmit().expect(select_by_fid(0xDDF1), ResponseApdu(b"", 0x9000)).expect(None, b"\x90\x00")
    )
    assert card(unhex("00 A4 00 00 02 DD F1")) == unhex("90 00")
    assert card.remaining == 1
    assert card(unhex("00 84 00 00 08")) == unhex("90 00")
    assert card.requests == [unhex("00 A4 00 00 02 DD F1"), unhex("00 84 00 00 08")]
    assert card.commands == [select_by_fid(0xDDF1), get_challenge()]
    card.assert_done()


def test_unexpected_command_is_a_clear_error_without_data() -> None:
    card = ScriptedTransmit([("00 20 00 00 03 12 34 56", "90 00")])
    with pytest.raises(ScriptError) as info:
        card(unhex("00 20 00 00 03 12 34 57"))
    message = str(info.value)
    assert "command #1" in message
    assert "first difference at byte 7" in message
    assert "12 34 5" not in message  # PINs stay out of messages


def test_too_many_and_too_few_commands() -> None:
    card = ScriptedTransmit([(None, "90 00")])
    with pytest.raises(ScriptError):
        card.assert_done()
    card(unhex("00 84 00 00 08"))
    with pytest.raises(ScriptError, match="after the end of the script"):
        card(unhex("00 84 00 00 08"))
