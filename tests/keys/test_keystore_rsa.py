"""RSA private keys in the key store (format version 2): round trip with metadata, version 1 while there is
none (older tools keep opening the file), both versions open, a newer version and a damaged key are the one
opaque error, and no repr shows the key."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from cardservice.errors import CryptoError
from cardservice.keys import BlockCipher, KeyStore, ScryptParams

FAST = ScryptParams(n=2**10, r=8, p=1)
PASSPHRASE = "correct horse"
OPEN_FAILED = "key store cannot be opened: wrong passphrase or damaged file"
META = {"ca_index": 0x80, "issuer_identifier": "622848", "expires": "2040-12", "certificate": "AB" * 4}


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=3, key_size=1024)


def _version(path: Path) -> int:
    return int(json.loads(path.read_text())["version"])


def test_an_rsa_key_round_trips_with_its_meta_and_makes_the_file_version_2(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    path = tmp_path / "keys.json"
    store = KeyStore.create(path, PASSPHRASE, kdf_params=FAST)
    store.put_key("PBOC-IMK-AC", bytes(range(16)), algorithm=BlockCipher.TDES)
    store.save()
    assert _version(path) == 1  # no RSA key: still readable by tools that know version 1 only
    store.put_rsa_key("PBOC-ISSUER-RSA", rsa_key, **META)
    store.save()
    assert _version(path) == 2
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert b"PRIVATE KEY" not in path.read_bytes()
    assert pem not in path.read_bytes()
    again = KeyStore.open(path, PASSPHRASE)
    entry = again.get_rsa_key("PBOC-ISSUER-RSA")
    assert entry.private_key.private_numbers() == rsa_key.private_numbers()
    assert dict(entry.meta) == META
    assert again.rsa_key_names() == ["PBOC-ISSUER-RSA"]
    assert again.names() == ["PBOC-IMK-AC"]  # symmetric keys are listed apart
    assert "PRIVATE" not in repr(entry)
    assert str(rsa_key.private_numbers().d) not in repr(entry)
    assert "rsa_keys=1" in repr(again)
    again.delete_rsa_key("PBOC-ISSUER-RSA")
    again.save()
    assert _version(path) == 1
    with pytest.raises(CryptoError, match="no RSA key"):
        KeyStore.open(path, PASSPHRASE).get_rsa_key("PBOC-ISSUER-RSA")


def _reseal(path: Path, edit_header: dict[str, object], payload: dict[str, object]) -> None:
    """Re-encrypt *path* with another header or payload, as another tool (or version) would write it."""
    envelope = json.loads(path.read_text())
    kdf = envelope["kdf"]
    key = Scrypt(salt=base64.b64decode(kdf["salt"]), length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(
        PASSPHRASE.encode()
    )
    header = {k: v for k, v in envelope.items() if k != "ciphertext"} | edit_header
    aad = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    nonce = base64.b64decode(header["nonce"])
    ciphertext = AESGCM(key).encrypt(nonce, json.dumps(payload).encode(), aad)
    path.write_text(json.dumps({**header, "ciphertext": base64.b64encode(ciphertext).decode()}))


def _payload(rsa_keys: object = None) -> dict[str, object]:
    payload: dict[str, object] = {"keys": {}, "sm2_private_key": None, "sam_pin": None}
    if rsa_keys is not None:
        payload["rsa_keys"] = rsa_keys
    return payload


def test_a_version_1_store_opens_and_a_future_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    KeyStore.create(path, PASSPHRASE, kdf_params=FAST)
    _reseal(path, {"version": 1}, _payload())
    assert KeyStore.open(path, PASSPHRASE).rsa_key_names() == []
    for version in (3, True, "2"):
        _reseal(path, {"version": version}, _payload())
        with pytest.raises(CryptoError) as caught:
            KeyStore.open(path, PASSPHRASE)
        assert str(caught.value) == OPEN_FAILED


@pytest.mark.parametrize(
    "entry",
    [
        {"private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "meta": {}},
        {"private_key": "not a pem", "meta": {}},
        {"meta": {}},
        {"private_key": None, "meta": {}},
        "not an object",
    ],
)
def test_a_damaged_rsa_entry_is_the_one_opaque_error(tmp_path: Path, entry: object) -> None:
    path = tmp_path / "keys.json"
    KeyStore.create(path, PASSPHRASE, kdf_params=FAST)
    _reseal(path, {"version": 2}, _payload({"PBOC-ISSUER-RSA": entry}))
    with pytest.raises(CryptoError) as caught:
        KeyStore.open(path, PASSPHRASE)
    assert str(caught.value) == OPEN_FAILED
    assert caught.value.__context__ is None


def test_an_ec_key_is_not_an_rsa_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    store = KeyStore.create(tmp_path / "keys.json", PASSPHRASE, kdf_params=FAST)
    with pytest.raises(CryptoError):
        store.put_rsa_key("X", ec.generate_private_key(ec.SECP256R1()))  # type: ignore[arg-type]
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _reseal(
        tmp_path / "keys.json", {"version": 2}, _payload({"X": {"private_key": pem.decode(), "meta": {}}})
    )
    with pytest.raises(CryptoError):
        KeyStore.open(tmp_path / "keys.json", PASSPHRASE)
