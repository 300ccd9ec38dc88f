"""Pure terminal flows of the health card: EXTERNAL AUTHENTICATE via the SAM (facts sheet §4.5) and
updates under secure messaging (§4.6), driven against scripted cards and the software SAM."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from cardservice.apdu import ResponseApdu, transceive, update_record
from cardservice.apdu.testing import ScriptedTransmit
from cardservice.errors import AuthenticationBlockedError, CodecError, VerificationFailedError
from cardservice.healthcard import (
    HEALTH_KEYS,
    CardFactorSource,
    card_file,
    health_key,
)
from cardservice.healthcard._flows import (
    DEFAULT_TERMINAL_DATA,
    SamCall,
    external_authenticate,
    factors_for,
    run,
    secure_update_binary,
    secure_update_record,
    stk_for,
    update_command,
)
from cardservice.keys import KeyStore, ScryptParams, Sm2PrivateKey, SoftwareSam
from tests.conftest import unhex

MASTER = unhex("00112233445566778899AABBCCDDEEFF")
MASTER_STK = unhex("FFEEDDCCBBAA99887766554433221100")
CARD_FACTOR = unhex("0085865300018034")
CITY_FACTOR = b"21000000"
CHALLENGE = unhex("0102030405060708")
CHALLENGE_2 = unhex("A1A2A3A4A5A6A7A8")


def _with_tck(atr: bytes) -> bytes:
    check = 0
    for byte in atr[1:]:
        check ^= byte
    return atr + bytes([check])


# T=1 ATR of the card OS: 3B 8C 01 'CSOS' serial(8) TCK; the last 8 historical bytes are the factor.
ATR = _with_tck(unhex("3B 8C 01 43 53 4F 53") + CARD_FACTOR)
BOTH = [CARD_FACTOR, CITY_FACTOR]


def make_keystore(directory: Path) -> KeyStore:
    """Every HEALTH_KEYS key: MASTER (STKs: MASTER_STK), with the SAM metadata."""
    store = KeyStore.create(directory / "keys.json", "pw", kdf_params=ScryptParams(n=2**10))
    for key in HEALTH_KEYS:
        value = MASTER_STK if key.name.startswith("STK") else MASTER
        store.put_key(key.name, value, sam_p1=key.sam_p1, sam_index=key.sam_index, levels=key.levels)
    store.set_sam_pin("123456")
    store.set_sm2_private_key(
        Sm2PrivateKey.from_bytes(unhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"))
    )
    return store


@pytest.fixture
def sam(tmp_path: Path) -> SoftwareSam:
    return SoftwareSam(make_keystore(tmp_path))


def card_exchange(card: ScriptedTransmit):  # type: ignore[no-untyped-def]
    return partial(transceive, card)


def drive(flow, card: ScriptedTransmit, sam: SoftwareSam):  # type: ignore[no-untyped-def]
    return run(flow, card_exchange(card), sam)


# -- factors ----------------------------------------------------------------------------------


def test_factors_one_and_two_levels() -> None:
    assert factors_for(health_key("UK1DDF1"), ATR, None) == [CARD_FACTOR]
    assert factors_for(health_key("RK1DF03"), ATR, "210000") == BOTH
    assert factors_for(health_key("RK1DF03"), ATR, "130185")[1] == b"13000000"


def test_factors_bytes_5_to_12() -> None:
    assert factors_for(health_key("UK1DDF1"), ATR, None, source=CardFactorSource.BYTES_5_TO_12) == [ATR[4:12]]


@pytest.mark.parametrize("yycsdm", [None, "", "1", "AB0000", "１３0000"])
def test_missing_or_malformed_city_code_sends_nothing(yycsdm: str | None) -> None:
    with pytest.raises(CodecError, match="YYCSDM"):
        factors_for(health_key("RK1DDF1"), ATR, yycsdm)


def test_wrong_factor_count_refused_before_any_apdu(sam: SoftwareSam) -> None:
    card = ScriptedTransmit()  # any command would fail the script
    with pytest.raises(CodecError, match="RK1DF03 needs 2"):
        drive(external_authenticate(health_key("RK1DF03"), [CARD_FACTOR]), card, sam)
    assert card.requests == []


# -- EXTERNAL AUTHENTICATE (§4.5) ---------------------------------------------------------------


def test_read_key_authentication_exact_bytes(sam: SoftwareSam) -> None:
    # SAM output for the fixed key/challenge: SM4(session, 1122334455667788 ‖ 00×8)
    # = F5780F57EFD334AB 82FEB0C3899A53AC, folded -> 7786BF9466496707.
    card = ScriptedTransmit([
        ("00 84 00 00 08", "01 02 03 04 05 06 07 08 90 00"),
        ("00 82 00 84 11 7786BF9466496707 1122334455667788 01", "90 00"),
    ])  # fmt: skip
    drive(external_authenticate(health_key("RK1DF03"), BOTH), card, sam)
    card.assert_done()


def test_update_key_uses_first_challenge_as_terminal_data(sam: SoftwareSam) -> None:
    # §4.5: terminal data = the first challenge, the SAM derives with the second.
    card = ScriptedTransmit([
        ("00 84 00 00 08", "01 02 03 04 05 06 07 08 90 00"),
        ("00 84 00 00 08", "A1 A2 A3 A4 A5 A6 A7 A8 90 00"),
        ("00 82 00 85 11 8D5CBEADDD014161 0102030405060708 01", "90 00"),
    ])  # fmt: skip
    drive(external_authenticate(health_key("UK1DF03"), BOTH), card, sam)
    card.assert_done()


def test_flow_yields_sam_calls_in_order() -> None:
    flow = external_authenticate(health_key("RK1DDF1"), BOTH, DEFAULT_TERMINAL_DATA)
    assert next(flow).encode() == unhex("00 84 00 00 08")
    derive = flow.send(ResponseApdu(CHALLENGE, 0x9000))
    assert derive == SamCall.derive("RK1DDF1", BOTH, CHALLENGE)
    encrypt = flow.send(b"")
    assert isinstance(encrypt, SamCall)
    assert encrypt.data == DEFAULT_TERMINAL_DATA + bytes(8)
    command = flow.send(bytes(8) + bytes.fromhex("FF" * 8))
    assert (
        command.encode()
        == unhex("00 82 00 04 11") + bytes.fromhex("FF" * 8) + DEFAULT_TERMINAL_DATA + b"\x01"
    )
    assert "1122" not in repr(encrypt)  # SAM requests never show their data


@pytest.mark.parametrize(
    ("sw", "error", "tries"),
    [("63 CE", VerificationFailedError, 14), ("63 C0", VerificationFailedError, 0),
     ("69 83", AuthenticationBlockedError, None)],
)  # fmt: skip
def test_failed_authentication_is_surfaced_and_never_retried(
    sam: SoftwareSam, sw: str, error: type[Exception], tries: int | None
) -> None:
    card = ScriptedTransmit([("00 84 00 00 08", "01 02 03 04 05 06 07 08 90 00"), (None, sw)])
    with pytest.raises(error) as caught:
        run(external_authenticate(health_key("RK1DF03"), BOTH), card_exchange(card), sam)
    if tries is not None:
        assert caught.value.tries_left == tries  # type: ignore[attr-defined]
    card.assert_done()
    assert [c.ins for c in card.commands].count(0x82) == 1


def test_short_challenge_is_refused(sam: SoftwareSam) -> None:
    card = ScriptedTransmit([("00 84 00 00 08", "01 02 03 04 90 00")])
    with pytest.raises(CodecError, match="GET CHALLENGE"):
        run(external_authenticate(health_key("RK1DF03"), BOTH), card_exchange(card), sam)


def test_secure_messaging_key_cannot_authenticate(sam: SoftwareSam) -> None:
    with pytest.raises(CodecError, match="not an external-authentication key"):
        run(
            external_authenticate(health_key("STKDF01"), [CARD_FACTOR]),
            card_exchange(ScriptedTransmit()),
            sam,
        )


# -- secure messaging (§4.6) ----------------------------------------------------------------------


def test_enciphered_update_record_exact_bytes(sam: SoftwareSam) -> None:
    # DZLB1 = "1": record 15 01 1F. Plain 03 15 01 1F 80 00.. -> SM4 with the STKDF01 session key;
    # MAC over 04 DC 01 04 14 ‖ ciphertext (zero IV), leftmost 4 bytes.
    card = ScriptedTransmit([
        ("00 84 00 00 08", "01 02 03 04 05 06 07 08 90 00"),
        ("04 DC 01 04 14 51A7BD1A8FC9718D45EE82442CC567AD 52FC84FC", "90 00"),
    ])  # fmt: skip
    flow = secure_update_record(1, unhex("15 01 1F"), stk_for("DF01"), [CARD_FACTOR])
    drive(flow, card, sam)
    card.assert_done()


def test_mac_only_update_keeps_data_plain(sam: SoftwareSam) -> None:
    card = ScriptedTransmit([("00 84 00 00 08", "01 02 03 04 05 06 07 08 90 00"), (None, "90 00")])
    run(secure_update_record(2, b"\x00", stk_for("DF03"), BOTH, encrypt=False),
        card_exchange(card), sam)  # fmt: skip
    sent = card.commands[-1]
    assert sent.header == unhex("04 DC 02 04")
    assert sent.data[:1] == b"\x00"
    assert len(sent.data) == 5


def test_secure_update_binary_header(sam: SoftwareSam) -> None:
    card = ScriptedTransmit([("00 84 00 00 08", "01 02 03 04 05 06 07 08 90 00"), (None, "90 00")])
    run(
        secure_update_binary(0x0102, b"ABC", stk_for("DF03"), BOTH),
        card_exchange(card),
        sam,
    )
    assert card.commands[-1].header == unhex("04 D6 01 02")
    assert card.commands[-1].data[:3] == b"ABC"


def test_update_command_follows_the_dictionary(sam: SoftwareSam) -> None:
    # DF01/EF05 is cipher+MAC with STKDF01 (one level); a plain file sends the command as is.
    seen: list[str] = []

    def factors_of(key):  # type: ignore[no-untyped-def]
        seen.append(key.name)
        return [CARD_FACTOR]

    card = ScriptedTransmit([
        ("00 84 00 00 08", "01 02 03 04 05 06 07 08 90 00"),
        ("04 DC 01 04 14 51A7BD1A8FC9718D45EE82442CC567AD 52FC84FC", "90 00"),
    ])  # fmt: skip
    run(update_command(card_file("DF01/EF05"), update_record(1, unhex("15 01 1F")), factors_of),
        card_exchange(card), sam)  # fmt: skip
    assert seen == ["STKDF01"]
    plain = ScriptedTransmit([("00 D6 00 00 02 AB CD", "90 00")])
    from cardservice.apdu import update_binary

    run(
        update_command(card_file("DF03/EE01"), update_binary(0, b"\xab\xcd"), factors_of),
        card_exchange(plain),
        sam,
    )
    plain.assert_done()


def test_prohibited_file_cannot_be_updated(sam: SoftwareSam) -> None:
    flow = update_command(card_file("DDF1/EF06"), update_record(1, b"\x0b"), lambda key: [CARD_FACTOR])
    with pytest.raises(CodecError, match="cannot be updated"):
        drive(flow, ScriptedTransmit(), sam)


def test_card_error_during_sm_update_propagates(sam: SoftwareSam) -> None:
    card = ScriptedTransmit([("00 84 00 00 08", "01 02 03 04 05 06 07 08 90 00"), (None, "69 88")])
    with pytest.raises(Exception, match="6988"):
        run(
            secure_update_record(1, unhex("15 01 1F"), stk_for("DF01"), [CARD_FACTOR]),
            card_exchange(card),
            sam,
        )
