"""ApduSam: the PSAM commands of facts sheet §5.2 (and the project-defined SM3/SM2 ones), byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.apdu.testing import ScriptedTransmit
from cardservice.errors import (
    AuthenticationBlockedError,
    CodecError,
    SecurityNotSatisfiedError,
    VerificationFailedError,
)
from cardservice.healthcard import (
    HEALTH_KEYS,
    ApduSam,
    encode_pin,
    encode_sam_certificate,
    sam_certificate_public_key,
)
from cardservice.keys import KeyStore, Sam, ScryptParams, SoftwareSam, sm3_digest
from cardservice.transport import InProcessTransport
from tests.conftest import unhex
from tests.healthcard.test_flows import CARD_FACTOR, CHALLENGE, CITY_FACTOR, make_keystore

SELECT_APP = [("00 A4 00 00 02 3F 00", "90 00"), ("00 A4 00 00 02 DF 01", "6F 00 90 00")]


def scripted(*steps: tuple[str | None, str]) -> ScriptedTransmit:
    card = ScriptedTransmit()
    for expected, reply in (*SELECT_APP, *steps):
        card.expect(expected, reply)
    return card


def test_is_a_sam() -> None:
    assert isinstance(ApduSam(ScriptedTransmit()), Sam)
    assert "hidden" in repr(ApduSam(ScriptedTransmit()))


@pytest.mark.parametrize(("pin", "bcd"), [("123456", "12 34 56"), ("1234", "12 34"), ("12345", "12 34 5F")])
def test_pin_is_bcd(pin: str, bcd: str) -> None:
    assert encode_pin(pin) == unhex(bcd)


@pytest.mark.parametrize("pin", ["", "1", "12a4", "１２３４", "1" * 17])
def test_malformed_pin_sends_nothing(pin: str) -> None:
    card = ScriptedTransmit()
    with pytest.raises(CodecError):
        ApduSam(card).verify_pin(pin)
    assert card.requests == []


def test_verify_pin_selects_application_once() -> None:
    # DF01 answers 61 14 (facts sheet §5.1); transceive collects the FCI with GET RESPONSE.
    card = ScriptedTransmit([
        ("00 A4 00 00 02 3F 00", "90 00"),
        ("00 A4 00 00 02 DF 01", "61 02"),
        ("00 C0 00 00 02", "6F 00 90 00"),
        ("00 20 00 00 03 12 34 56", "90 00"),
        ("00 20 00 00 03 12 34 56", "90 00"),
    ])  # fmt: skip
    sam = ApduSam(card)
    sam.verify_pin("123456")
    sam.verify_pin("123456")
    card.assert_done()


def test_wrong_pin_and_blocked_pin() -> None:
    card = scripted(("00 20 00 00 02 11 11", "63 C2"), ("00 20 00 00 02 11 11", "69 83"))
    sam = ApduSam(card)
    with pytest.raises(VerificationFailedError) as caught:
        sam.verify_pin("1111")
    assert caught.value.tries_left == 2
    with pytest.raises(AuthenticationBlockedError):
        sam.verify_pin("1111")
    assert "1111" not in str(caught.value)


def test_derive_two_levels() -> None:
    # RK1DF03: P1 47, P2 34 (facts sheet §4.4 table), Lc 18 = card ‖ city ‖ challenge.
    card = scripted(("80 DE 47 34 18 0085865300018034 3231303030303030 0102030405060708", "90 00"))
    ApduSam(card).derive_session_key("RK1DF03", [CARD_FACTOR, CITY_FACTOR], CHALLENGE)
    card.assert_done()


def test_derive_one_level() -> None:
    card = scripted(("80 DE 27 2A 10 0085865300018034 0102030405060708", "90 00"))
    ApduSam(card).derive_session_key("UK1DDF1", [CARD_FACTOR], CHALLENGE)
    card.assert_done()


@pytest.mark.parametrize(
    ("key", "factors"),
    [
        ("RK1DF03", [CARD_FACTOR]),
        ("UK1DDF1", [CARD_FACTOR, CITY_FACTOR]),
        ("RK1DF03", [b"short", CITY_FACTOR]),
    ],
)
def test_derive_with_wrong_factors_sends_nothing(key: str, factors: list[bytes]) -> None:
    card = ScriptedTransmit()
    with pytest.raises(CodecError):
        ApduSam(card).derive_session_key(key, factors, CHALLENGE)
    assert card.requests == []


def test_unknown_key_sends_nothing() -> None:
    card = ScriptedTransmit()
    with pytest.raises(CodecError):
        ApduSam(card).derive_session_key("XK9", [CARD_FACTOR], CHALLENGE)
    assert card.requests == []


def test_encrypt_uses_get_response() -> None:
    card = scripted(
        ("80 FA 00 00 10 1122334455667788 0000000000000000", "61 10"),
        ("00 C0 00 00 10", "F5780F57EFD334AB82FEB0C3899A53AC 90 00"),
    )
    block = ApduSam(card).encrypt(unhex("1122334455667788 0000000000000000"))
    assert block == unhex("F5780F57EFD334AB82FEB0C3899A53AC")


def test_encrypt_long_data_is_split_in_whole_blocks() -> None:
    data = bytes(range(256)) + bytes(16)  # 272 bytes: 240 + 32
    card = scripted(
        ("80 FA 00 00 F0" + data[:240].hex(), "61 F0"),
        ("00 C0 00 00 F0", "AA" * 240 + "9000"),
        ("80 FA 00 00 20" + data[240:].hex(), "61 20"),
        ("00 C0 00 00 20", "BB" * 32 + "9000"),
    )
    assert ApduSam(card).encrypt(data) == b"\xaa" * 240 + b"\xbb" * 32


def test_encrypt_needs_whole_blocks() -> None:
    with pytest.raises(CodecError):
        ApduSam(ScriptedTransmit()).encrypt(b"\x00" * 15)


def test_mac_sends_iv_then_data() -> None:
    card = scripted(
        ("80 FA 05 00 15" + "00" * 16 + "04 DC 01 04 14", "61 04"), ("00 C0 00 00 04", "52FC84FC 9000")
    )
    assert ApduSam(card).mac(unhex("04 DC 01 04 14")) == unhex("52FC84FC")


def test_no_session_key_is_the_sams_error() -> None:
    card = scripted(("80 FA 05 00 11" + "00" * 16 + "00", "69 85"))
    with pytest.raises(Exception, match="6985"):
        ApduSam(card).mac(b"\x00")


def test_sm3_digest() -> None:
    abc = sm3_digest(b"abc")
    card = scripted(("80 F6 00 00 03 616263", "61 20"), ("00 C0 00 00 20", abc.hex() + "9000"))
    assert ApduSam(card).sm3_digest(b"abc") == unhex(
        "66C7F0F462EEEDD9D1F2D46BDC10E4E24167C4875CF2F7A2297DA02B8F4BA8E0"
    )


def test_sm2_sign_sends_e_and_returns_r_s(tmp_path: Path) -> None:
    store = make_keystore(tmp_path)
    key = store.sm2_private_key
    assert key is not None
    public = key.public_key()
    e = public.digest(b"record data part")
    signature = key.sign_digest(e)
    card = scripted(("80 F8 00 00 20" + e.hex(), "61 40"), ("00 C0 00 00 40", signature.hex() + "9000"))
    sam = ApduSam(card, public_key=public)
    assert sam.sm2_sign(b"record data part") == signature
    public.verify(signature, b"record data part")


def test_sm2_sign_without_pin_is_refused_by_the_sam(tmp_path: Path) -> None:
    public = make_keystore(tmp_path).sm2_private_key.public_key()  # type: ignore[union-attr]
    card = scripted((None, "69 82"))
    with pytest.raises(SecurityNotSatisfiedError):
        ApduSam(card, public_key=public).sm2_sign(b"x")


# -- the same results as the software SAM over the same key store ----------------------------------


class _FakePsam:
    """Answers the PSAM APDUs from a SoftwareSam (a stand-in until the virtual PSAM is used)."""

    def __init__(self, sam: SoftwareSam) -> None:
        self.sam = sam
        self.pending = b""

    def __call__(self, raw: bytes) -> bytes:
        from cardservice.apdu import CommandApdu
        from cardservice.healthcard import HEALTH_KEYS

        command = CommandApdu.decode(raw)
        head = (command.cla, command.ins, command.p1)
        out = b""
        if command.ins == 0xA4:
            return b"\x90\x00"
        if command.ins == 0xC0:
            out, self.pending = self.pending, b""
            return out + b"\x90\x00"
        if head == (0x80, 0xDE, command.p1):
            key = next(k for k in HEALTH_KEYS if k.sam_index == command.p2)
            data = command.data
            self.sam.derive_session_key(
                key.name, [data[i : i + 8] for i in range(0, len(data) - 8, 8)], data[-8:]
            )
            return b"\x90\x00"
        if head == (0x80, 0xFA, 0x00):
            out = self.sam.encrypt(command.data)
        elif head == (0x80, 0xFA, 0x05):
            out = self.sam.mac(command.data[16:], iv=command.data[:16])
        self.pending = out
        return bytes([0x61, len(out)])


def test_apdu_sam_equals_software_sam(tmp_path: Path) -> None:
    store = make_keystore(tmp_path)
    reference = SoftwareSam(store)
    over_apdus = ApduSam(_FakePsam(SoftwareSam(store)))
    for sam in (reference, over_apdus):
        sam.derive_session_key("STKDF03", [CARD_FACTOR, CITY_FACTOR], CHALLENGE)
    data = bytes(range(48))
    assert over_apdus.encrypt(data) == reference.encrypt(data)
    assert over_apdus.mac(data[:20]) == reference.mac(data[:20])


# == end to end: ApduSam over the virtual PSAM (simulators.health) =====================================


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    from simulators.health import write_demo_keystore

    path = tmp_path_factory.mktemp("psam") / "demo.json"
    return write_demo_keystore(path, kdf_params=ScryptParams(n=2**10))


def virtual_psam(path: Path, store: KeyStore | None = None) -> InProcessTransport:
    from simulators.cardos import load_card
    from simulators.health import create_sam

    create_sam(path, keystore=store)
    transport = InProcessTransport(load_card(path))
    transport.connect()
    return transport


def test_virtual_psam_equals_software_sam_for_every_key(tmp_path: Path, demo_store: KeyStore) -> None:
    over_apdus = ApduSam(virtual_psam(tmp_path / "sam.json", demo_store))
    reference = SoftwareSam(demo_store)
    block = bytes(range(32))
    for key in HEALTH_KEYS:
        factors = [CARD_FACTOR, CITY_FACTOR][: key.levels]
        for sam in (over_apdus, reference):
            sam.derive_session_key(key.name, factors, CHALLENGE)
        assert over_apdus.encrypt(block) == reference.encrypt(block), key.name
        assert over_apdus.mac(block[:21]) == reference.mac(block[:21]), key.name


def test_virtual_psam_sm3_single_and_chained(tmp_path: Path) -> None:
    sam = ApduSam(virtual_psam(tmp_path / "sam.json"))
    for message in (b"abc", b"", bytes(range(256)) * 3):
        assert sam.sm3_digest(message) == sm3_digest(message)


def test_virtual_psam_public_key_from_001c_and_signature(tmp_path: Path, demo_store: KeyStore) -> None:
    sam = ApduSam(virtual_psam(tmp_path / "sam.json", demo_store))
    assert demo_store.sm2_private_key is not None
    assert sam.sm2_public_key() == demo_store.sm2_private_key.public_key()
    with pytest.raises(SecurityNotSatisfiedError):
        sam.sm2_sign(b"data part")
    sam.verify_pin("123456")
    signature = sam.sm2_sign(b"data part")
    sam.sm2_public_key().verify(signature, b"data part")


def test_virtual_psam_pin_tries_and_block(tmp_path: Path) -> None:
    sam = ApduSam(virtual_psam(tmp_path / "sam.json"))
    for left in (2, 1, 0):
        with pytest.raises(VerificationFailedError) as caught:
            sam.verify_pin("000000")
        assert caught.value.tries_left == left
    with pytest.raises(AuthenticationBlockedError):
        sam.verify_pin("123456")


# -- decoders never raise anything but CodecError -------------------------------------------------


@given(st.binary(min_size=0, max_size=200))
def test_certificate_decoder_only_raises_codec_error(raw: bytes) -> None:
    try:
        key = sam_certificate_public_key(raw)
    except CodecError:
        return
    assert len(raw) == 190  # only a full-size area can hold a certificate
    assert key.to_bytes() == raw[:65]


def test_certificate_round_trip_and_damage(tmp_path: Path) -> None:
    sam = SoftwareSam(make_keystore(tmp_path))
    sam.verify_pin("123456")
    certificate = encode_sam_certificate(sam.sm2_public_key(), sam.sm2_sign)
    assert len(certificate) == 190
    assert certificate[65:67] == b"\x01\x02"
    assert sam_certificate_public_key(certificate) == sam.sm2_public_key()
    damaged = certificate[:70] + b"\xee" + certificate[71:]
    with pytest.raises(CodecError):
        sam_certificate_public_key(damaged)
    assert sam_certificate_public_key(damaged, check_self_signature=False) == sam.sm2_public_key()


@given(st.text(alphabet="0123456789", min_size=2, max_size=16))
def test_pin_bcd_round_trip(pin: str) -> None:
    assert encode_pin(pin).hex().upper().rstrip("F") == pin
