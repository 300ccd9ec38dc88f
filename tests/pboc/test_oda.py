"""Offline data authentication, EMV 4.3 Book 2 §5 (SDA) and §6 (DDA), with the DEMO keys.

The issuer side makes the card's ODA data (90/92/9F32, 93, 9F46/9F48/9F47, 9F4B); the terminal side
recovers and checks it. Every :class:`OdaReason` has a test that provokes exactly that check.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

import simulators.pboc
from cardservice.errors import CodecError, CryptoError
from cardservice.pboc._oda import (
    CaPublicKey,
    KeyCertificate,
    OdaError,
    OdaReason,
    RsaPublicKey,
    ca_key_checksum,
    generate_icc_key,
    icc_certificate,
    issuer_certificate,
    load_ca_keys,
    recover_icc_key,
    recover_issuer_key,
    select_ca_key,
    sign_dynamic_data,
    sign_static_data,
    static_data_to_authenticate,
    verify_dda,
    verify_sda,
)
from tests.conftest import unhex

DEMO_RSA = Path(simulators.pboc.__file__).parent / "demo_rsa"
RID = unhex("A000000333")
PAN = "6228480000001234"
TODAY = dt.date(2026, 12, 6)
EXPIRES = dt.date(2030, 12, 1)
AIP = unhex("7C00")
RECORD_1 = unhex("70 14 5A 08 6228480000001234 5F24 03 301231 5F34 01 01")  # SFI 1, the ODA record
STATIC = RECORD_1[2:] + AIP


def _load(name: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key((DEMO_RSA / name).read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


CA = _load("ca.pem")
ISSUER = _load("issuer.pem")
ICC = generate_icc_key()


def _ca_key() -> CaPublicKey:
    return select_ca_key(load_ca_keys(), RID, 0x80)


def _raw(key: rsa.RSAPrivateKey, block: bytes) -> bytes:
    """The test's own raw RSA signature, to forge certificates with one wrong field."""
    numbers = key.private_numbers()
    return pow(int.from_bytes(block, "big"), numbers.d, numbers.public_numbers.n).to_bytes(len(block), "big")


def _open(key: rsa.RSAPrivateKey, signature: bytes) -> bytes:
    return RsaPublicKey.of(key).recover(signature)


#: What a damaged signature or certificate can fail on (a key or data that is absent or unknown cannot).
_DAMAGED = set(OdaReason) - {OdaReason.UNKNOWN_CA_INDEX, OdaReason.PAN_MISMATCH, OdaReason.MISSING_DATA}


def _reason(call: Callable[[], object]) -> OdaReason:
    with pytest.raises(OdaError) as caught:
        call()
    assert str(caught.value) == f"offline data authentication failed: {caught.value.reason.value}"
    return caught.value.reason


def _issuer_cert(**kwargs: object) -> KeyCertificate:
    args: dict[str, object] = {"issuer_identifier": "622848", "expires": EXPIRES} | kwargs
    return issuer_certificate(CA, ISSUER.public_key(), **args)  # type: ignore[arg-type]


def _icc_cert(static: bytes = STATIC, expires: dt.date = EXPIRES) -> KeyCertificate:
    return icc_certificate(ISSUER, ICC.public_key(), pan=PAN, expires=expires, static_data=static)


# -- the demo keys and the terminal's CA list -----------------------------------------------------------


def test_capk_toml_holds_the_public_half_of_the_demo_ca_pem() -> None:
    keys = load_ca_keys()
    assert list(keys) == [(RID, 0x80)]
    ca = keys[(RID, 0x80)]
    assert ca.key == RsaPublicKey.of(CA)
    assert (ca.key.length, ca.exponent) == (144, 3)  # 1152 bits, e = 3
    assert "DEMO" in ca.note
    assert "not a UnionPay key" in ca.note
    assert (ISSUER.key_size, RsaPublicKey.of(ISSUER).exponent) == (1024, 3)
    assert (ICC.key_size, RsaPublicKey.of(ICC).exponent) == (1024, 3)


def test_ca_key_checksum_is_sha1_of_rid_index_modulus_exponent() -> None:
    ca = _ca_key()
    expected = hashlib.sha1(RID + b"\x80" + ca.modulus.to_bytes(144, "big") + b"\x03").digest()
    assert ca_key_checksum(RID, 0x80, ca.modulus, 3) == expected


def test_a_corrupt_ca_list_is_refused(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "cardservice" / "pboc" / "capk.toml").read_text(encoding="utf-8")
    bad_sum = tmp_path / "bad.toml"
    bad_sum.write_text(text.replace("exponent = 3", "exponent = 65537"), encoding="utf-8")
    with pytest.raises(CodecError, match="check sum"):
        load_ca_keys(bad_sum)
    broken = tmp_path / "broken.toml"
    broken.write_text('[[ca_key]]\nrid = "A0"\n', encoding="utf-8")
    with pytest.raises(CodecError):
        load_ca_keys(broken)


@pytest.mark.parametrize(("rid", "index"), [(RID, 0x81), (unhex("A000000003"), 0x80)])
def test_unknown_ca_index(rid: bytes, index: int) -> None:
    assert _reason(lambda: select_ca_key(load_ca_keys(), rid, index)) is OdaReason.UNKNOWN_CA_INDEX


# -- the static data to be authenticated (Book 3 §10.3) -------------------------------------------------


def test_static_data_to_authenticate() -> None:
    record_11 = unhex("70 03 9F0801")  # SFI 11-30: the whole record counts
    data = static_data_to_authenticate([(1, RECORD_1), (11, record_11)], unhex("82"), {0x82: AIP})
    assert data == RECORD_1[2:] + record_11 + AIP
    assert static_data_to_authenticate([(1, RECORD_1)], unhex("82"), {0x82: AIP}) == STATIC


@pytest.mark.parametrize(
    ("records", "tag_list"),
    [
        ([(1, unhex("71 03 9F0801"))], "82"),  # SFI 1-10 record that is not a 70 template
        ([(1, RECORD_1 + unhex("00"))], "82"),  # trailing bytes after the template
        ([(1, RECORD_1)], "9F02"),  # the SDA tag list may name only the AIP
        ([(1, RECORD_1)], "9F"),  # malformed tag list
    ],
)
def test_static_data_refusals(records: list[tuple[int, bytes]], tag_list: str) -> None:
    values = {0x82: AIP, 0x9F02: bytes(6)}
    assert _reason(lambda: static_data_to_authenticate(records, unhex(tag_list), values)) is (
        OdaReason.MISSING_DATA
    )


# -- round trips ----------------------------------------------------------------------------------------


def test_issuer_certificate_layout() -> None:
    """Book 2 Table 13, field by field, on the recovered certificate."""
    cert = _issuer_cert(serial=unhex("123456"))
    assert (len(cert.certificate), len(cert.remainder), cert.exponent) == (144, 128 - 108, b"\x03")
    data = _open(CA, cert.certificate)
    modulus = RsaPublicKey.of(ISSUER).modulus.to_bytes(128, "big")
    assert data[:15] == unhex("6A 02 622848FF 1230 123456 01 01 80 01")
    assert data[15:123] == modulus[:108]
    assert cert.remainder == modulus[108:]
    assert data[123:143] == hashlib.sha1(data[1:123] + cert.remainder + cert.exponent).digest()
    assert data[143] == 0xBC


def test_sda_round_trip() -> None:
    issuer = recover_issuer_key(_ca_key(), _issuer_cert(), pan=PAN, today=TODAY)
    assert issuer == RsaPublicKey.of(ISSUER)
    ssad = sign_static_data(ISSUER, STATIC, unhex("DAC1"))
    assert len(ssad) == 128
    assert verify_sda(issuer, ssad, STATIC) == unhex("DAC1")


def test_dda_round_trip() -> None:
    issuer = recover_issuer_key(_ca_key(), _issuer_cert(), pan=PAN, today=TODAY)
    cert = _icc_cert()
    assert (len(cert.certificate), len(cert.remainder)) == (128, 128 - 86)
    icc = recover_icc_key(issuer, cert, pan=PAN, static_data=STATIC, today=TODAY)
    assert icc == RsaPublicKey.of(ICC)
    un = unhex("11223344")  # DDOL 9F3704: the terminal's unpredictable number
    sdad = sign_dynamic_data(ICC, unhex("0102030405060708"), un)
    assert verify_dda(icc, sdad, un) == unhex("0102030405060708")
    # Table 17 on the recovered data: 6A 05 01 LDD(09) 08 ‖ number ‖ BB… ‖ hash ‖ BC.
    data = _open(ICC, sdad)
    assert data[:13] == unhex("6A 05 01 09 08 0102030405060708")
    assert data[13:-21] == b"\xbb" * (128 - 34)


def test_terminal_side_from_the_card_records() -> None:
    """The kernel's way: CA key by RID ‖ 8F bytes, certificates by tag from the records' data objects."""
    issuer_cert, icc_cert = _issuer_cert(), _icc_cert()
    card_data = {
        0x8F: b"\x80",
        0x90: issuer_cert.certificate,
        0x92: issuer_cert.remainder,
        0x9F32: issuer_cert.exponent,
        0x9F46: icc_cert.certificate,
        0x9F48: icc_cert.remainder,
        0x9F47: icc_cert.exponent,
    }
    ca = select_ca_key(load_ca_keys(), unhex("A000000333010101"), card_data[0x8F])
    issuer = recover_issuer_key(ca, KeyCertificate.issuer_from_card(card_data), pan=PAN, today=TODAY)
    icc = recover_icc_key(
        issuer, KeyCertificate.icc_from_card(card_data), pan=PAN, static_data=STATIC, today=TODAY
    )
    assert icc == RsaPublicKey.of(ICC)
    without_90 = {tag: value for tag, value in card_data.items() if tag != 0x90}
    without_9f32 = {tag: value for tag, value in card_data.items() if tag != 0x9F32}
    assert _reason(lambda: KeyCertificate.issuer_from_card(without_90)) is OdaReason.MISSING_DATA
    assert _reason(lambda: KeyCertificate.issuer_from_card(without_9f32)) is OdaReason.MISSING_DATA
    assert _reason(lambda: KeyCertificate.icc_from_card({})) is OdaReason.MISSING_DATA
    assert _reason(lambda: select_ca_key(load_ca_keys(), RID, b"\x80\x00")) is OdaReason.MISSING_DATA


def test_a_short_issuer_key_is_padded_with_bb_and_has_no_remainder() -> None:
    """NI ≤ NCA - 36: the key field is padded with BB; a 3-byte exponent (65537) also round-trips."""
    short = RsaPublicKey((1 << 799) | 0xABCDEF, 65537)
    cert = issuer_certificate(CA, short, issuer_identifier="622848", expires=EXPIRES)
    assert cert.remainder == b""
    assert cert.exponent == unhex("010001")
    assert _open(CA, cert.certificate)[15 + 100 : 123] == b"\xbb" * 8
    assert recover_issuer_key(_ca_key(), cert, pan=PAN, today=TODAY) == short


@settings(max_examples=25)
@given(static=st.binary(max_size=300), dac=st.binary(min_size=2, max_size=2), other=st.binary(max_size=300))
def test_sda_over_any_static_data(static: bytes, dac: bytes, other: bytes) -> None:
    issuer = RsaPublicKey.of(ISSUER)
    ssad = sign_static_data(ISSUER, static, dac)
    assert verify_sda(issuer, ssad, static) == dac
    if other != static:
        assert _reason(lambda: verify_sda(issuer, ssad, other)) is OdaReason.HASH_MISMATCH


@settings(max_examples=25)
@given(number=st.binary(min_size=2, max_size=8), ddol=st.binary(max_size=64), other=st.binary(max_size=64))
def test_dda_over_any_ddol_data(number: bytes, ddol: bytes, other: bytes) -> None:
    icc = RsaPublicKey.of(ICC)
    sdad = sign_dynamic_data(ICC, number, ddol)
    assert verify_dda(icc, sdad, ddol) == number
    if other != ddol:
        assert _reason(lambda: verify_dda(icc, sdad, other)) is OdaReason.HASH_MISMATCH


@settings(max_examples=30)
@given(position=st.integers(min_value=0, max_value=143), bit=st.integers(min_value=0, max_value=7))
def test_any_flipped_bit_in_the_issuer_certificate_fails(position: int, bit: int) -> None:
    cert = _issuer_cert()
    flipped = bytearray(cert.certificate)
    flipped[position] ^= 1 << bit
    forged = KeyCertificate(bytes(flipped), cert.remainder, cert.exponent)
    assert _reason(lambda: recover_issuer_key(_ca_key(), forged, pan=PAN, today=TODAY)) in _DAMAGED


# -- every failure, one check at a time -----------------------------------------------------------------


def _forge_issuer_cert(edit: Callable[[bytearray], None]) -> KeyCertificate:
    cert = _issuer_cert()
    data = bytearray(_open(CA, cert.certificate))
    edit(data)
    return KeyCertificate(_raw(CA, bytes(data)), cert.remainder, cert.exponent)


def _recover(cert: KeyCertificate, pan: str = PAN, today: dt.date = TODAY) -> Callable[[], object]:
    return lambda: recover_issuer_key(_ca_key(), cert, pan=pan, today=today)


def _recover_icc(
    cert: KeyCertificate, pan: str = PAN, static: bytes = STATIC, today: dt.date = TODAY
) -> Callable[[], object]:
    return lambda: recover_icc_key(RsaPublicKey.of(ISSUER), cert, pan=pan, static_data=static, today=today)


def test_wrong_header() -> None:
    forged = _forge_issuer_cert(lambda d: d.__setitem__(0, 0x6B))
    assert _reason(_recover(forged)) is OdaReason.WRONG_HEADER


def test_wrong_trailer() -> None:
    forged = _forge_issuer_cert(lambda d: d.__setitem__(-1, 0xBD))
    assert _reason(_recover(forged)) is OdaReason.WRONG_TRAILER


def test_wrong_certificate_format() -> None:
    forged = _forge_issuer_cert(lambda d: d.__setitem__(1, 0x04))  # an ICC certificate's format
    assert _reason(_recover(forged)) is OdaReason.WRONG_FORMAT


def test_unsupported_hash_algorithm() -> None:
    forged = _forge_issuer_cert(lambda d: d.__setitem__(11, 0x02))
    assert _reason(_recover(forged)) is OdaReason.UNSUPPORTED_ALGORITHM


def test_hash_mismatch_in_each_hashed_part() -> None:
    cert = _issuer_cert()
    other_remainder = KeyCertificate(cert.certificate, bytes(20), cert.exponent)
    assert _reason(_recover(other_remainder)) is OdaReason.HASH_MISMATCH
    forged_serial = _forge_issuer_cert(lambda d: d.__setitem__(10, d[10] ^ 1))
    assert _reason(_recover(forged_serial)) is OdaReason.HASH_MISMATCH
    assert _reason(_recover_icc(_icc_cert(), static=STATIC + b"\x00")) is OdaReason.HASH_MISMATCH


def test_missing_or_malformed_remainder_and_exponent() -> None:
    cert = _issuer_cert()
    for forged in (
        KeyCertificate(cert.certificate, b"", cert.exponent),  # 92 missing
        KeyCertificate(cert.certificate, cert.remainder[:-1], cert.exponent),
        KeyCertificate(cert.certificate, cert.remainder, unhex("000003")),  # 9F32 longer than announced
    ):
        assert _reason(_recover(forged)) is OdaReason.MISSING_DATA


def test_wrong_length() -> None:
    cert = _issuer_cert()
    short = KeyCertificate(cert.certificate[1:], cert.remainder, cert.exponent)
    assert _reason(_recover(short)) is OdaReason.WRONG_LENGTH
    too_big = KeyCertificate(b"\xff" * 144, cert.remainder, cert.exponent)  # not below the modulus
    assert _reason(_recover(too_big)) is OdaReason.WRONG_LENGTH
    assert _reason(lambda: verify_sda(RsaPublicKey.of(ISSUER), bytes(127), STATIC)) is OdaReason.WRONG_LENGTH


def test_expiry_is_the_last_day_of_the_month() -> None:
    cert = _issuer_cert(expires=dt.date(2028, 2, 10))
    assert recover_issuer_key(_ca_key(), cert, pan=PAN, today=dt.date(2028, 2, 29))
    assert _reason(_recover(cert, today=dt.date(2028, 3, 1))) is OdaReason.EXPIRED
    old = _issuer_cert(expires=dt.date(2019, 12, 31))
    assert _reason(_recover(old)) is OdaReason.EXPIRED
    expired_icc = _icc_cert(expires=dt.date(2026, 11, 30))
    assert _reason(_recover_icc(expired_icc)) is OdaReason.EXPIRED


def test_issuer_identifier_must_lead_the_pan() -> None:
    assert _reason(_recover(_issuer_cert(), pan="6217000000001234")) is OdaReason.ISSUER_MISMATCH


def test_icc_certificate_pan_must_be_the_application_pan() -> None:
    issuer = RsaPublicKey.of(ISSUER)
    assert _reason(_recover_icc(_icc_cert(), pan="6228480000001235")) is OdaReason.PAN_MISMATCH
    # The F padding of tag 5A does not matter.
    padded = recover_icc_key(issuer, _icc_cert(), pan=PAN + "FFF", static_data=STATIC, today=TODAY)
    assert padded == RsaPublicKey.of(ICC)


def test_signed_data_of_the_other_kind_has_the_wrong_format() -> None:
    """An SDAD where an SSAD belongs and the reverse: same key, format 05 versus 03."""
    issuer = RsaPublicKey.of(ISSUER)
    assert _reason(lambda: verify_sda(issuer, sign_dynamic_data(ISSUER, bytes(8), STATIC), STATIC)) is (
        OdaReason.WRONG_FORMAT
    )
    icc = RsaPublicKey.of(ICC)
    assert _reason(lambda: verify_dda(icc, sign_static_data(ICC, b"un"), b"un")) is OdaReason.WRONG_FORMAT


def test_a_certificate_under_the_wrong_key_has_the_wrong_length() -> None:
    assert (
        _reason(_recover_icc(_issuer_cert())) is OdaReason.WRONG_LENGTH
    )  # a 144-byte certificate for a 128-byte key
    icc_cert_as_issuer = KeyCertificate(_icc_cert().certificate, b"", b"\x03")
    assert _reason(_recover(icc_cert_as_issuer)) is OdaReason.WRONG_LENGTH


def test_a_signature_by_another_key_fails() -> None:
    other = generate_icc_key()
    signed = sign_dynamic_data(other, bytes(8), b"un")
    assert _reason(lambda: verify_dda(RsaPublicKey.of(ICC), signed, b"un")) in _DAMAGED


def test_signing_side_refuses_bad_input() -> None:
    with pytest.raises(CryptoError):
        sign_dynamic_data(ICC, b"\x01", b"")  # ICC dynamic number of 1 byte
    with pytest.raises(CryptoError):
        sign_static_data(ISSUER, STATIC, b"\x01")
    with pytest.raises(CryptoError):
        issuer_certificate(ISSUER, CA.public_key(), issuer_identifier="622848", expires=EXPIRES)  # NCA > NI
    with pytest.raises(CodecError):
        _issuer_cert(issuer_identifier="62")
    with pytest.raises(CryptoError):
        _issuer_cert(serial=b"\x01")
