"""The virtual PSAM (facts sheet §5.1/§5.2 and the project-defined SM3/SM2 commands)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardservice.healthcard import health_key
from cardservice.healthcard._psam import sam_certificate_public_key
from cardservice.keys import KeyStore, ScryptParams, SoftwareSam, sm3_digest
from simulators.cardos import CardOS, create_image, load_card
from simulators.health import create_health_card, create_sam, demo_master_keys
from tests.conftest import unhex
from tests.simulators.health.conftest import SERIAL, authenticate, derive, factors, sam_call, select, send

CHALLENGE = unhex("01 02 03 04 05 06 07 08")


def read_file(sam: CardOS, *fids: int) -> bytes:
    select(sam, *fids)
    data, sw = send(sam, "00 B0 00 00 00")
    assert sw == 0x9000
    return data


def test_files(sam: CardOS) -> None:
    info = read_file(sam, 0x3F00, 0x0015)
    assert len(info) == 14
    assert info[:10] == bytes(2) + sam.serial
    assert len(read_file(sam, 0x0016)) == 6
    assert len(read_file(sam, 0xDF01, 0x001A)) == 25
    assert len(read_file(sam, 0x001B)) == 180
    assert len(read_file(sam, 0x001C)) == 190
    select(sam, 0x00FE)  # the SM2 private key: internal
    assert send(sam, "00 B0 00 00 20")[1] == 0x6982


def test_pin_tries_and_block(sam: CardOS) -> None:
    assert send(sam, "00 20 00 00 00")[1] == 0x63C3
    assert send(sam, "00 20 00 00 03 65 43 21")[1] == 0x63C2
    assert send(sam, "00 20 00 00 03 12 34 56")[1] == 0x9000  # right PIN restores the counter
    assert send(sam, "00 20 00 00 00")[1] == 0x9000
    assert send(sam, "00 20 00 00 03 12 3A 56")[1] == 0x6A80  # not BCD: no try burnt
    for sw in (0x63C2, 0x63C1, 0x63C0):
        assert send(sam, "00 20 00 00 03 65 43 21")[1] == sw
    assert send(sam, "00 20 00 00 03 12 34 56")[1] == 0x6983
    again = load_card(sam.image_path or "")
    assert send(again, "00 20 00 00 03 12 34 56")[1] == 0x6983  # persisted


def test_change_pin(sam: CardOS) -> None:
    assert send(sam, "80 5E 01 00 06 12 34 56 FF 12 34")[1] == 0x9000
    assert send(sam, "00 20 00 00 03 12 34 56")[1] == 0x63C2
    assert send(sam, "00 20 00 00 02 12 34")[1] == 0x9000
    assert send(sam, "80 5E 01 00 03 12 34 56")[1] == 0x6A80  # no FF separator


def test_sm3_known_answer(sam: CardOS) -> None:
    """GB/T 32905-2016 Appendix A, example 1."""
    expected = unhex("66C7F0F4 62EEEDD9 D1F2D46B DC10E4E2 4167C487 5CF2F7A2 297DA02B 8F4BA8E0")
    _data, sw = send(sam, "80 F6 00 00 03 616263")
    assert sw == 0x6120
    assert send(sam, "00 C0 00 00 20") == (expected, 0x9000)
    assert send(sam, "80 F6 01 00 01 61")[1] == 0x9000
    assert send(sam, "80 F6 03 00 01 62")[1] == 0x9000
    assert sam_call(sam, unhex("80 F6 02 00 01 63")) == (expected, 0x9000)
    assert send(sam, "80 F6 03 00 01 62")[1] == 0x6985  # no chain open
    assert send(sam, "00 F6 00 00 03 616263")[1] == 0x6E00  # proprietary class only


def test_sm2_sign_needs_pin_and_verifies(sam: CardOS) -> None:
    message = b"inpatient record data part"
    public = sam_certificate_public_key(read_file(sam, 0x3F00, 0xDF01, 0x001C))
    e = public.digest(message)
    assert send(sam, unhex("80 F8 00 00 20") + e)[1] == 0x6982
    assert send(sam, "00 20 00 00 03 12 34 56")[1] == 0x9000
    signature, sw = sam_call(sam, unhex("80 F8 00 00 20") + e)
    assert sw == 0x9000
    assert len(signature) == 64
    public.verify(signature, message)
    assert send(sam, unhex("80 F8 00 00 1F") + e[:31])[1] == 0x6700
    sam.reset()
    assert send(sam, unhex("80 F8 00 00 20") + e)[1] == 0x6982  # PIN state is volatile


def test_certificate_is_self_signed(sam: CardOS) -> None:
    certificate = read_file(sam, 0x3F00, 0xDF01, 0x001C)
    public = sam_certificate_public_key(certificate)
    public.verify(certificate[126:], certificate[:126])
    assert certificate[65:67] == b"\x01\x02"
    assert certificate[67:77] == bytes(2) + sam.serial


def test_derive_errors(sam: CardOS, health_card: CardOS) -> None:
    rk = health_key("RK1DDF1")  # 2 levels
    two = factors(health_card, "RK1DDF1") + CHALLENGE
    assert send(sam, unhex("80 FA 00 00 10") + bytes(16))[1] == 0x6985  # no session key
    assert send(sam, bytes([0x80, 0xDE, 0x27, rk.sam_index, 0x10]) + two[8:])[1] == 0x6A86  # P1 says 1 level
    assert send(sam, bytes([0x80, 0xDE, 0x47, rk.sam_index, 0x10]) + two[8:])[1] == 0x6700  # Lc 10 for 2
    assert send(sam, bytes([0x80, 0xDE, 0x47, 0x77, 0x18]) + two)[1] == 0x6A88
    assert send(sam, bytes([0x80, 0xDE, 0x47, rk.sam_index, 0x18]) + two)[1] == 0x9000
    assert send(sam, "80 FA 00 00 0F" + "00" * 15)[1] == 0x6700
    assert send(sam, bytes([0x80, 0xDE, 0x47, 0x77, 0x18]) + two)[1] == 0x6A88
    assert send(sam, unhex("80 FA 00 00 10") + bytes(16))[1] == 0x6985  # failure unloaded the session
    assert send(sam, "00 88 00 01 10" + "00" * 16)[1] == 0x6D00  # no oracle on master keys


def test_software_sam_agrees_byte_for_byte(sam: CardOS, health_card: CardOS, demo_store: KeyStore) -> None:
    software = SoftwareSam(demo_store)
    for name in ("RK1DDF1", "UK2DF03", "STKDF01", "STKDF02"):
        key = health_key(name)
        parts = factors(health_card, name)
        software.derive_session_key(name, [parts[i : i + 8] for i in range(0, len(parts), 8)], CHALLENGE)
        assert (
            sam_call(sam, bytes([0x80, 0xDE, key.sam_p1, key.sam_index, len(parts) + 8]) + parts + CHALLENGE)[
                1
            ]
            == 0x9000
        )
        block = bytes(range(32))
        assert sam_call(sam, unhex("80 FA 00 00 20") + block) == (software.encrypt(block), 0x9000)
        data = unhex("04 DC 02 04 24") + bytes(range(32))
        mac, sw = sam_call(sam, bytes([0x80, 0xFA, 0x05, 0x00, 16 + len(data)]) + bytes(16) + data)
        assert (mac, sw) == (software.mac(data), 0x9000)
    assert demo_store.get_key("RK1DF03") == demo_master_keys()["RK1DF03"]


def test_keystore_options_through_create_image(tmp_path: Path, demo_store: KeyStore) -> None:
    """``create_image(path, "health"|"sam", keys=PATH, passphrase=STR)`` (the card-sim CLI path)."""
    create_image(tmp_path / "card.json", "health", serial=SERIAL, keys=demo_store.path, passphrase="demo")
    create_image(tmp_path / "sam.json", "sam", keys=demo_store.path, passphrase="demo", pin="1234")
    card, sam = load_card(tmp_path / "card.json"), load_card(tmp_path / "sam.json")
    select(card, 0xDDF1, 0xEF06)
    assert authenticate(card, sam, "RK1DDF1") == 0x9000
    assert send(sam, "00 20 00 00 02 12 34")[1] == 0x9000
    with pytest.raises(ValueError, match="passphrase"):
        create_image(tmp_path / "x.json", "sam", keys=demo_store.path)
    with pytest.raises(ValueError, match="unknown card option"):
        create_image(tmp_path / "y.json", "health", colour="red")


def test_keystore_object_and_missing_key(tmp_path: Path, demo_store: KeyStore) -> None:
    create_health_card(tmp_path / "card.json", keystore=demo_store, serial=SERIAL)
    create_sam(tmp_path / "sam.json", keystore=demo_store)
    card, sam = load_card(tmp_path / "card.json"), load_card(tmp_path / "sam.json")
    select(card, 0xDDF1, 0xDF02, 0xEF08)
    assert authenticate(card, sam, "RK1DF02") == 0x9000
    partial = KeyStore.create(tmp_path / "partial.keystore", "x", kdf_params=ScryptParams(n=2**4))
    with pytest.raises(ValueError, match="RK1DDF1"):
        create_sam(tmp_path / "bad.json", keystore=partial)
    assert not (tmp_path / "bad.json").exists()
    assert sm3_digest(b"") != bytes(32)


def test_verify_card_cryptogram(sam: CardOS, health_card: CardOS, demo_store: KeyStore) -> None:
    """Project-defined ``80 FC P1 P2 Lc factor(s) ‖ M ‖ C``: the PSAM derives the card's IRK from the
    factors (P1/P2 as for ``80 DE``) and answers 9000 if E_IRK(M) = C, else 6300. The card's answer is
    checked where the issuer master key is, and the key never leaves the SAM."""
    select(health_card, 0x3F00, 0xDDF1)
    challenge = bytes(range(16))
    answer, sw = send(health_card, unhex("00 88 00 0B 10") + challenge + b"\x00")
    assert (len(answer), sw) == (16, 0x9000)
    irk = health_key("IRKDDF1")
    data = factors(health_card, "IRKDDF1") + challenge + answer
    head = bytes([0x80, 0xFC, irk.sam_p1, irk.sam_index, len(data)])
    assert send(sam, head + data) == (b"", 0x9000)
    assert send(sam, head + data[:-1] + bytes([data[-1] ^ 1])) == (b"", 0x6300)
    assert send(sam, bytes([0x80, 0xFC, irk.sam_p1, 0x77, len(data)]) + data)[1] == 0x6A88
    assert send(sam, bytes([0x80, 0xFC, 0x47, irk.sam_index, len(data)]) + data)[1] == 0x6A86  # 2 levels
    assert send(sam, bytes([0x80, 0xFC, irk.sam_p1, irk.sam_index, len(data) - 1]) + data[:-1])[1] == 0x6700
    short = data[:8] + challenge[:15] + answer[:15]  # not whole blocks
    assert send(sam, bytes([0x80, 0xFC, irk.sam_p1, irk.sam_index, len(short)]) + short)[1] == 0x6700
    assert send(sam, bytes([0x00, 0xFC, irk.sam_p1, irk.sam_index, len(data)]) + data)[1] == 0x6E00
    software = SoftwareSam(demo_store)
    card_factor_ = data[:8]
    assert software.verify_card_cryptogram("IRKDDF1", [card_factor_], challenge, answer) is True
    assert software.verify_card_cryptogram("IRKDDF1", [card_factor_], challenge, bytes(16)) is False


def test_verify_card_cryptogram_leaves_the_session_key(sam: CardOS, health_card: CardOS) -> None:
    assert derive(sam, health_card, "RK1DDF1", CHALLENGE) == 0x9000
    irk = health_key("IRKDDF1")
    data = factors(health_card, "IRKDDF1") + bytes(32)
    assert send(sam, bytes([0x80, 0xFC, irk.sam_p1, irk.sam_index, len(data)]) + data)[1] == 0x6300
    assert sam_call(sam, unhex("80 FA 00 00 10") + bytes(16))[1] == 0x9000


def test_demo_sam_fingerprint_is_sm3_of_its_public_key(sam: CardOS) -> None:
    """What a deployment lists in ``trusted_signers`` to trust the demo PSAM's record signatures."""
    from simulators.health import demo_sam_fingerprint

    public = sam_certificate_public_key(read_file(sam, 0x3F00, 0xDF01, 0x001C))
    assert demo_sam_fingerprint() == sm3_digest(public.to_bytes()).hex().upper()
    assert len(demo_sam_fingerprint()) == 64
