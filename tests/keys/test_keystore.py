"""The encrypted key store: round trip, tampering, atomic 0600 writes, no secrets in repr."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from cardservice.errors import CodecError, CryptoError
from cardservice.keys import BlockCipher, KeyStore, ScryptParams, Sm2PrivateKey
from tests.conftest import unhex

FAST = ScryptParams(n=2**10, r=8, p=1)  # the real default (2**15) costs ~0.1 s per open
MASTER = unhex("00112233445566778899AABBCCDDEEFF")
OPEN_FAILED = "key store cannot be opened: wrong passphrase or damaged file"


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    store = KeyStore.create(path, "correct horse", kdf_params=FAST)
    store.put_key("RK1DDF1", MASTER, algorithm=BlockCipher.SM4, sam_p1=0x47, sam_p2=0x31, levels=2)
    store.put_key("PBOC-MK", unhex("0123456789ABCDEF FEDCBA9876543210"), algorithm=BlockCipher.TDES)
    store.set_sm2_private_key(Sm2PrivateKey.from_bytes(bytes(31) + b"\x07"))
    store.set_sam_pin("123456")
    store.save()
    return path


def test_round_trip(store_path: Path) -> None:
    store = KeyStore.open(store_path, "correct horse")
    assert store.names() == ["PBOC-MK", "RK1DDF1"]
    assert store.get_key("RK1DDF1") == MASTER
    entry = store.get_entry("RK1DDF1")
    assert entry.algorithm is BlockCipher.SM4
    assert dict(entry.meta) == {"sam_p1": 0x47, "sam_p2": 0x31, "levels": 2}
    assert store.get_entry("PBOC-MK").algorithm is BlockCipher.TDES
    assert store.sam_pin == "123456"
    assert store.sm2_private_key is not None
    assert store.sm2_private_key.to_bytes() == bytes(31) + b"\x07"


def test_envelope_format_and_file_mode(store_path: Path) -> None:
    envelope = json.loads(store_path.read_text())
    assert envelope["format"] == "cardservice-keystore"
    assert envelope["version"] == 1
    assert envelope["aead"] == "AES-256-GCM"
    assert envelope["kdf"] | {"salt": None} == {"name": "scrypt", "n": 1024, "r": 8, "p": 1, "salt": None}
    assert len(base64.b64decode(envelope["nonce"])) == 12
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o600
    raw = store_path.read_bytes()
    assert MASTER.hex().encode() not in raw
    assert b"123456" not in raw
    # No temporary files are left behind.
    assert [p.name for p in store_path.parent.iterdir()] == ["keys.json"]


def test_wrong_passphrase(store_path: Path) -> None:
    with pytest.raises(CryptoError) as caught:
        KeyStore.open(store_path, "wrong horse")
    assert str(caught.value) == OPEN_FAILED
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


def _tamper(path: Path, edit: object) -> None:
    envelope = json.loads(path.read_text())
    edit(envelope)  # type: ignore[operator]
    path.write_text(json.dumps(envelope))


def _flip_ciphertext(envelope: dict[str, object]) -> None:
    data = bytearray(base64.b64decode(str(envelope["ciphertext"])))
    data[5] ^= 1
    envelope["ciphertext"] = base64.b64encode(bytes(data)).decode()


@pytest.mark.parametrize(
    "edit",
    [
        _flip_ciphertext,
        lambda e: e.update(version=2),
        lambda e: e.update(aead="SM4-GCM"),
        lambda e: e.update(format="other"),
        lambda e: e.update(nonce=base64.b64encode(bytes(12)).decode()),
        lambda e: e["kdf"].update(n=2048),  # header is associated data: a cheaper KDF is detected
        lambda e: e["kdf"].update(n=2**40),  # absurd cost refused before any work
        lambda e: e["kdf"].update(salt="!!!"),
        lambda e: e.update(extra=1),
        lambda e: e.pop("nonce"),
        lambda e: e.update(ciphertext=12),
    ],
)
def test_any_tampering_gives_the_one_error(store_path: Path, edit: object) -> None:
    _tamper(store_path, edit)
    with pytest.raises(CryptoError) as caught:
        KeyStore.open(store_path, "correct horse")
    assert str(caught.value) == OPEN_FAILED


@pytest.mark.parametrize(
    "content", [b"", b"not json", b"[]", b"\xff\xfe", b'{"format": "cardservice-keystore"}']
)
def test_garbage_file_gives_the_one_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "keys.json"
    path.write_bytes(content)
    with pytest.raises(CryptoError, match="wrong passphrase or damaged file"):
        KeyStore.open(path, "x")


def test_change_passphrase(store_path: Path) -> None:
    store = KeyStore.open(store_path, "correct horse")
    old_salt = json.loads(store_path.read_text())["kdf"]["salt"]
    store.change_passphrase("battery staple")
    assert json.loads(store_path.read_text())["kdf"]["salt"] != old_salt
    with pytest.raises(CryptoError):
        KeyStore.open(store_path, "correct horse")
    assert KeyStore.open(store_path, "battery staple").get_key("RK1DDF1") == MASTER


def test_save_uses_a_fresh_nonce(store_path: Path) -> None:
    store = KeyStore.open(store_path, "correct horse")
    before = json.loads(store_path.read_text())["nonce"]
    store.save()
    assert json.loads(store_path.read_text())["nonce"] != before


def test_changes_need_save(store_path: Path) -> None:
    store = KeyStore.open(store_path, "correct horse")
    store.delete_key("PBOC-MK")
    assert KeyStore.open(store_path, "correct horse").names() == ["PBOC-MK", "RK1DDF1"]
    store.save()
    assert KeyStore.open(store_path, "correct horse").names() == ["RK1DDF1"]


def test_create_refuses_existing_file(store_path: Path) -> None:
    with pytest.raises(FileExistsError):
        KeyStore.create(store_path, "x", kdf_params=FAST)


def test_reprs_hide_secrets(store_path: Path) -> None:
    store = KeyStore.open(store_path, "correct horse")
    text = repr(store) + repr(store.get_entry("RK1DDF1")) + repr(store.sm2_private_key)
    assert MASTER.hex() not in text.lower()
    assert "123456" not in text
    assert "correct horse" not in text


def test_input_validation(tmp_path: Path) -> None:
    store = KeyStore.create(tmp_path / "k.json", "pw", kdf_params=FAST)
    with pytest.raises(CryptoError):
        store.put_key("short", bytes(8), algorithm=BlockCipher.SM4)
    with pytest.raises(CodecError):
        store.put_key("", MASTER)
    with pytest.raises(CodecError):
        store.put_key("meta", MASTER, when=object())
    with pytest.raises(CodecError):
        store.set_sam_pin("12ab")
    with pytest.raises(CryptoError):
        store.get_key("missing")
    with pytest.raises(CryptoError):
        ScryptParams(n=1000)
    with pytest.raises(CryptoError):
        KeyStore.create(tmp_path / "empty.json", "", kdf_params=FAST)


def test_rng_is_a_parameter(tmp_path: Path) -> None:
    """Randomness is injectable: a deterministic source gives a reproducible file."""
    counter = iter(range(1000))

    def rng(n: int) -> bytes:
        return bytes([next(counter)]) * n

    contents = []
    for name in ("a.json", "b.json"):
        counter = iter(range(1000))
        KeyStore.create(tmp_path / name, "pw", kdf_params=FAST, rng=rng)
        contents.append((tmp_path / name).read_bytes())
    assert contents[0] == contents[1]
    assert os.path.getsize(tmp_path / "a.json") > 0
