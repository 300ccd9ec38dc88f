"""SM2 signatures: the published example of GB/T 32918.5-2017 / GM/T 0003.5-2012 Annex A (recommended
curve, ID "1234567812345678", message "message digest"), round trips, tampering, and cross-checks
with OpenSSL's CLI and with gmssl (pure Python)."""

from __future__ import annotations

import pickle
import subprocess
from pathlib import Path

import pytest
from gmssl.sm2 import CryptSM2

from cardservice.errors import CryptoError
from cardservice.keys import DEFAULT_SM2_USER_ID, Sm2PrivateKey, Sm2PublicKey, sm2_z, sm3_digest
from tests.conftest import unhex

D = unhex("3945208F 7B2144B1 3F36E38A C6D39F95 88939369 2860B51A 42FB81EF 4DF7C5B8")
X = unhex("09F9DF31 1E5421A1 50DD7D16 1E4BC5C6 72179FAD 1833FC07 6BB08FF3 56F35020")
Y = unhex("CCEA490C E26775A5 2DC6EA71 8CC1AA60 0AED05FB F35E084A 6632F607 2DA9AD13")
Z = unhex("B2E14C5C 79C6DF5B 85F4FE7E D8DB7A26 2B9DA7E0 7CCB0EA9 F4747B8C CDA8A4F3")
E = unhex("F0B43E94 BA45ACCA ACE692ED 534382EB 17E6AB5A 19CE7B31 F4486FDF C0D28640")
R = unhex("F5A03B06 48D2C463 0EEAC513 E1BB81A1 5944DA38 27D5B741 43AC7EAC EEE720B3")
S = unhex("B1B6AA29 DF212FD8 763182BC 0D421CA1 BB9038FD 1F7F42D4 840B69C4 85BBC1AA")
MESSAGE = b"message digest"


def test_published_key_pair() -> None:
    assert Sm2PrivateKey.from_bytes(D).public_key().to_bytes() == b"\x04" + X + Y
    assert Sm2PrivateKey.from_bytes(D).to_bytes() == D


def test_published_z_and_e() -> None:
    public = Sm2PublicKey.from_bytes(X + Y)
    assert sm2_z(public) == Z
    assert public.z_value(DEFAULT_SM2_USER_ID) == Z
    assert sm3_digest(Z + MESSAGE) == E
    assert public.digest(MESSAGE) == E


def test_published_signature_verifies() -> None:
    public = Sm2PublicKey.from_bytes(b"\x04" + X + Y)
    assert public.digest(MESSAGE) == E  # Z and e as published
    public.verify(R + S, MESSAGE)  # raises CryptoError unless the published (r, s) verifies
    public.verify_digest(R + S, E)


@pytest.mark.parametrize(
    ("signature", "message", "user_id"),
    [
        (R + S, b"message digesT", DEFAULT_SM2_USER_ID),
        (R + S, MESSAGE, b"ALICE123@YAHOO.COM"),
        (R + bytes([S[0] ^ 1]) + S[1:], MESSAGE, DEFAULT_SM2_USER_ID),
        (S + R, MESSAGE, DEFAULT_SM2_USER_ID),
        (bytes(64), MESSAGE, DEFAULT_SM2_USER_ID),
        (b"\xff" * 64, MESSAGE, DEFAULT_SM2_USER_ID),
        (R + S[:-1], MESSAGE, DEFAULT_SM2_USER_ID),
        (b"", MESSAGE, DEFAULT_SM2_USER_ID),
    ],
)
def test_tampering_is_crypto_error(signature: bytes, message: bytes, user_id: bytes) -> None:
    public = Sm2PublicKey.from_bytes(X + Y)
    with pytest.raises(CryptoError) as caught:
        public.verify(signature, message, user_id=user_id)
    assert caught.value.__context__ is None


def test_sign_verify_round_trip_with_custom_id() -> None:
    key = Sm2PrivateKey.generate()
    public = key.public_key()
    signature = key.sign(b"EE01 record", user_id=b"ALICE123@YAHOO.COM")
    assert len(signature) == 64
    public.verify(signature, b"EE01 record", user_id=b"ALICE123@YAHOO.COM")
    with pytest.raises(CryptoError):
        public.verify(signature, b"EE01 record")  # default ID: different Z
    # Randomised nonce: two signatures of the same data differ, both verify.
    assert key.sign(b"x") != key.sign(b"x")


def test_sign_digest_is_sign_of_prehashed_e() -> None:
    key = Sm2PrivateKey.from_bytes(D)
    signature = key.sign_digest(E)
    key.public_key().verify(signature, MESSAGE)
    with pytest.raises(CryptoError):
        key.sign_digest(E[:31])


def test_gmssl_verifies_ours_and_we_verify_gmssls() -> None:
    """An independent pure-Python SM2 (default ID 1234567812345678) agrees both ways."""
    key = Sm2PrivateKey.from_bytes(D)
    other = CryptSM2(private_key=D.hex(), public_key=(X + Y).hex())
    assert other.verify_with_sm3(key.sign(b"health card").hex(), b"health card")
    theirs = bytes.fromhex(other.sign_with_sm3(b"health card"))
    key.public_key().verify(theirs, b"health card")


def test_openssl_cli_verifies_our_signature(tmp_path: Path) -> None:
    key = Sm2PrivateKey.generate()
    data = b"record to sign"
    raw = key.sign(data)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    (tmp_path / "sig.der").write_bytes(encode_dss_signature(r, s))
    (tmp_path / "data.bin").write_bytes(data)
    # SubjectPublicKeyInfo DER for an SM2 point: id-ecPublicKey + curve OID 1.2.156.10197.1.301.
    spki = unhex("3059301306072A8648CE3D020106082A811CCF5501822D034200") + key.public_key().to_bytes()
    (tmp_path / "pub.der").write_bytes(spki)
    command = [
        "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.der"), "-keyform", "DER",
        "-rawin", "-digest", "sm3", "-in", str(tmp_path / "data.bin"), "-sigfile", str(tmp_path / "sig.der"),
        "-pkeyopt", "distid:1234567812345678",
    ]  # fmt: skip
    ok = subprocess.run(command, capture_output=True, check=False, timeout=30)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (tmp_path / "data.bin").write_bytes(data + b"!")
    bad = subprocess.run(command, capture_output=True, check=False, timeout=30)
    assert bad.returncode != 0


def test_bad_keys_are_rejected() -> None:
    with pytest.raises(CryptoError):
        Sm2PrivateKey.from_bytes(bytes(32))  # d = 0
    with pytest.raises(CryptoError):
        Sm2PrivateKey.from_bytes(b"\xff" * 32)  # d > n - 2
    with pytest.raises(CryptoError):
        Sm2PrivateKey.from_bytes(D[:31])
    with pytest.raises(CryptoError):
        Sm2PublicKey.from_bytes(X + bytes([Y[0] ^ 1]) + Y[1:])  # not on the curve
    with pytest.raises(CryptoError):
        Sm2PublicKey.from_bytes(b"\x02" + X)  # compressed form is not accepted


def test_reprs_hide_keys_and_private_key_cannot_be_pickled() -> None:
    key = Sm2PrivateKey.from_bytes(D)
    assert repr(key) == "Sm2PrivateKey(<hidden>)"
    assert D.hex() not in repr(key).lower()
    assert X.hex() not in repr(key.public_key()).lower()
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_public_key_equality() -> None:
    assert Sm2PublicKey.from_bytes(X + Y) == Sm2PrivateKey.from_bytes(D).public_key()
    assert len({Sm2PublicKey.from_bytes(X + Y), Sm2PublicKey.from_bytes(b"\x04" + X + Y)}) == 1
