"""transceive: 61xx GET RESPONSE chains, 6Cxx re-issue, loop guards; run_flow."""

from __future__ import annotations

from collections.abc import Generator
from functools import partial

import pytest

from cardservice.apdu import (
    ApduTracer,
    CommandApdu,
    Flow,
    ResponseApdu,
    get_challenge,
    read_binary,
    run_flow,
    select_by_fid,
    transceive,
    transceive_checked,
)
from cardservice.apdu.testing import ScriptedTransmit
from cardservice.errors import (
    CardAbsentError,
    CodecError,
    NotFoundError,
    StatusWordError,
    VerificationFailedError,
    WrongLengthError,
)
from tests.conftest import unhex

DDF1_FCI = "6F 10 84 0C 57 53 2E 53 59 53 2E 44 44 46 30 31 A5 00"


def test_plain_exchange() -> None:
    card = ScriptedTransmit([("00 84 00 00 08", "01 02 03 04 05 06 07 08 90 00")])
    response = transceive(card, get_challenge())
    assert response == ResponseApdu(unhex("01 02 03 04 05 06 07 08"), 0x9000)
    card.assert_done()


def test_61xx_get_response() -> None:
    """T=0 SELECT of DDF1: ``61 12`` then ``00 C0 00 00 12`` (ISO/IEC 7816-4 §5.3.4, facts §1)."""
    card = ScriptedTransmit([("00 A4 00 00 02 DD F1", "61 12"), ("00 C0 00 00 12", DDF1_FCI + " 90 00")])
    response = transceive(card, select_by_fid(0xDDF1))
    assert response == ResponseApdu(unhex(DDF1_FCI), 0x9000)
    card.assert_done()


def test_61xx_chain_concatenates_and_61_00_means_256() -> None:
    card = ScriptedTransmit(
        [
            ("00 B0 00 00 00 04 00", "AA " * 2 + "61 00"),  # some cards give data with 61xx
            ("00 C0 00 00 00", "BB " * 256 + "61 02"),
            ("00 C0 00 00 02", "CC CC 62 82"),
        ]
    )
    response = transceive(card, read_binary(ne=1024))
    assert response.data == b"\xaa" * 2 + b"\xbb" * 256 + b"\xcc" * 2
    assert response.sw == 0x6282  # the final SW is returned, not checked
    card.assert_done()


def test_get_response_keeps_the_logical_channel_and_drops_proprietary_class() -> None:
    card = ScriptedTransmit([("01 A4 00 00 02 DD F1", "61 02"), ("01 C0 00 00 02", "AA BB 90 00")])
    transceive(card, CommandApdu(0x01, 0xA4, 0, 0, unhex("DD F1")))
    card.assert_done()
    sam = ScriptedTransmit([("80 FA 00 00 02 11 22", "61 10"), ("00 C0 00 00 10", "00 " * 16 + "90 00")])
    assert len(transceive(sam, CommandApdu(0x80, 0xFA, 0, 0, unhex("11 22"))).data) == 16
    sam.assert_done()


def test_6cxx_reissues_same_command_with_new_le() -> None:
    card = ScriptedTransmit([("00 B2 01 04 00", "6C 05"), ("00 B2 01 04 05", "39 03 13 01 85 90 00")])
    response = transceive(card, CommandApdu(0x00, 0xB2, 0x01, 0x04, ne=256))
    assert response == ResponseApdu(unhex("39 03 13 01 85"), 0x9000)
    card.assert_done()


def test_6cxx_on_case_3_adds_le_and_6c00_means_256() -> None:
    card = ScriptedTransmit([("00 CA 00 5A 01 00", "6C 00"), ("00 CA 00 5A 01 00 00", "90 00")])
    transceive(card, CommandApdu(0x00, 0xCA, 0x00, 0x5A, b"\x00"))
    card.assert_done()


def test_6cxx_twice_raises_wrong_length() -> None:
    card = ScriptedTransmit([("00 B0 00 00 00", "6C 10"), ("00 B0 00 00 10", "6C 08")])
    with pytest.raises(WrongLengthError) as info:
        transceive(card, read_binary())
    assert info.value.sw == 0x6C08
    card.assert_done()


def test_6cxx_then_61xx() -> None:
    card = ScriptedTransmit(
        [
            ("00 B0 00 00 00", "6C 04"),
            ("00 B0 00 00 04", "61 04"),
            ("00 C0 00 00 04", "6C 02"),
            ("00 C0 00 00 02", "01 02 90 00"),
        ]
    )
    assert transceive(card, read_binary()).data == b"\x01\x02"
    card.assert_done()


def test_chain_guard() -> None:
    card = ScriptedTransmit([(None, "00 61 01")] * 4)
    with pytest.raises(StatusWordError) as info:
        transceive(card, read_binary(), max_chained=3)
    assert info.value.sw == 0x6101
    assert len(card.requests) == 4  # the command and exactly 3 GET RESPONSEs
    assert info.value.data == b""  # partial data are not leaked through the exception


def test_endless_card_is_stopped_by_default_guard() -> None:
    class Endless:
        calls = 0

        def __call__(self, raw: bytes) -> bytes:
            self.calls += 1
            return unhex("61 01")

    card = Endless()
    with pytest.raises(StatusWordError):
        transceive(card, read_binary())
    assert card.calls == 65


def test_transmit_errors_propagate_unchanged() -> None:
    error = CardAbsentError("card removed")
    card = ScriptedTransmit([(None, error)])
    with pytest.raises(CardAbsentError) as info:
        transceive(card, get_challenge())
    assert info.value is error


def test_short_response_is_codec_error() -> None:
    with pytest.raises(CodecError):
        transceive(ScriptedTransmit([(None, "90")]), get_challenge())


def test_errors_are_returned_not_raised_unless_checked() -> None:
    card = ScriptedTransmit([(None, "6A 82"), (None, "6A 82"), (None, "63 CD")])
    assert transceive(card, select_by_fid(0xEF09)).sw == 0x6A82
    with pytest.raises(NotFoundError):
        transceive_checked(card, select_by_fid(0xEF09))
    with pytest.raises(VerificationFailedError) as info:
        transceive_checked(card, CommandApdu(0, 0x82, 0, 0x84, bytes(17)))
    assert info.value.tries_left == 13


def test_tracer_sees_every_physical_exchange() -> None:
    seen: list[str] = []

    class Recorder(ApduTracer):
        def on_command(self, command: CommandApdu) -> None:
            seen.append(f"> {command.encode().hex()}")

        def on_response(self, response: ResponseApdu, elapsed: float) -> None:
            seen.append(f"< {response.sw:04x} {elapsed:.1f}")

        def on_error(self, error: BaseException, elapsed: float) -> None:
            seen.append(f"! {type(error).__name__}")

    ticks = iter([0.0, 0.5, 1.0, 3.0, 10.0, 10.25])
    card = ScriptedTransmit([(None, "61 02"), (None, "01 02 90 00"), (None, CardAbsentError("gone"))])
    transceive(card, select_by_fid(0xDDF1), tracer=Recorder(), clock=lambda: next(ticks))
    with pytest.raises(CardAbsentError):
        transceive(card, get_challenge(), tracer=Recorder(), clock=lambda: next(ticks))
    assert seen == [
        "> 00a4000002ddf1",
        "< 6102 0.5",
        "> 00c0000002",
        "< 9000 2.0",
        "> 0084000008",
        "! CardAbsentError",
    ]


# -- flows -----------------------------------------------------------------------------------------


def _read_challenge_then_select() -> Flow[bytes]:
    challenge = (yield get_challenge()).check().data
    (yield select_by_fid(0xDDF1)).check()
    return challenge


def test_run_flow_over_transceive() -> None:
    card = ScriptedTransmit(
        [
            ("00 84 00 00 08", "11 " * 8 + "90 00"),
            ("00 A4 00 00 02 DD F1", "61 12"),
            ("00 C0 00 00 12", DDF1_FCI + " 90 00"),
        ]
    )
    assert run_flow(_read_challenge_then_select(), partial(transceive, card)) == b"\x11" * 8
    card.assert_done()


def test_flow_without_commands() -> None:
    def empty() -> Generator[CommandApdu, ResponseApdu, int]:
        return 7
        yield get_challenge()  # pragma: no cover

    assert run_flow(empty(), lambda command: ResponseApdu(b"", 0x9000)) == 7


def test_flow_status_error_propagates_and_flow_is_closed() -> None:
    closed: list[bool] = []

    def flow() -> Generator[CommandApdu, ResponseApdu, None]:
        try:
            (yield get_challenge()).check()
            yield get_challenge()  # pragma: no cover
        finally:
            closed.append(True)

    with pytest.raises(StatusWordError):
        run_flow(flow(), lambda command: ResponseApdu(b"", 0x6985))
    assert closed == [True]


def test_exchange_errors_are_thrown_into_the_flow() -> None:
    def flow() -> Generator[CommandApdu, ResponseApdu, str]:
        try:
            yield get_challenge()
        except CardAbsentError:
            return "card gone, cleaned up"
        return "unreachable"  # pragma: no cover

    def exchange(command: CommandApdu) -> ResponseApdu:
        raise CardAbsentError("removed")

    assert run_flow(flow(), exchange) == "card gone, cleaned up"

    def unhandled() -> Generator[CommandApdu, ResponseApdu, None]:
        yield get_challenge()

    with pytest.raises(CardAbsentError):
        run_flow(unhandled(), exchange)
