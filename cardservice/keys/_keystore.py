"""An encrypted file of issuer master keys, RSA private keys, an optional SM2 signing key and the SAM PIN.

File format (UTF-8 JSON, version 1 or 2)::

    {
      "format": "cardservice-keystore",
      "version": 2,
      "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "<base64, 16 bytes>"},
      "aead": "AES-256-GCM",
      "nonce": "<base64, 12 bytes>",
      "ciphertext": "<base64>"
    }

The passphrase goes through scrypt (RFC 7914) to a 32-byte key. Everything except ``ciphertext`` is
the *header*; its canonical JSON (sorted keys, no spaces) is the AEAD's associated data, so editing
the KDF parameters, the salt, the algorithm name or the version breaks authentication like editing
the ciphertext does.

AES-256-GCM rather than SM4-GCM: the store protects keys at rest on the terminal or issuing PC and
never meets a card, so the 256-bit key of AES is preferred over SM4's 128 bits; AES-GCM is also
hardware-accelerated and readable by any tool should the file need recovery. The SM algorithms stay
where the card protocols demand them.

Plaintext (JSON): ``{"keys": {name: {"algorithm", "key" (hex), "meta"}}, "sm2_private_key": hex|null,
"sam_pin": str|null}``; version 2 adds ``"rsa_keys": {name: {"private_key": PKCS#8 PEM, "meta"}}`` (the
bank issuer's ODA key, with its CA certificate in ``meta``). A store is written as version 1 while it holds
no RSA key, so older tools keep opening it; one with an RSA key is version 2, which those tools refuse
rather than open it and drop the key on their next save. Both versions open here. Python cannot wipe
memory, so decrypted secrets live as long as the :class:`KeyStore` object; keep its lifetime short on shared
machines.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Self

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from cardservice.errors import CodecError, CryptoError
from cardservice.keys._cipher import BlockCipher
from cardservice.keys._sm2 import Sm2PrivateKey

__all__ = ["KEYSTORE_FORMAT", "KEYSTORE_VERSION", "KeyEntry", "KeyStore", "RsaKeyEntry", "ScryptParams"]

KEYSTORE_FORMAT = "cardservice-keystore"
#: The newest version written (only by a store with RSA keys); every version up to it opens.
KEYSTORE_VERSION = 2
_VERSIONS = (1, 2)
_RSA_VERSION = 2
_AEAD = "AES-256-GCM"
_SALT_BYTES = 16
_NONCE_BYTES = 12
_KEY_BYTES = 32
_OPEN_FAILED = "key store cannot be opened: wrong passphrase or damaged file"


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt cost parameters (RFC 7914). The default costs ~0.1 s and 32 MiB; tests use n=2**10.

    Limits guard :meth:`KeyStore.open` against a file that asks for absurd work (a cheap DoS).
    """

    n: int = 2**15
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if not (2 <= self.n <= 2**20 and self.n & (self.n - 1) == 0):
            raise CryptoError("scrypt n must be a power of two between 2 and 2**20")
        if not (1 <= self.r <= 32 and 1 <= self.p <= 16):
            raise CryptoError("scrypt r must be 1..32 and p 1..16")


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One named symmetric key. ``meta`` is free-form JSON data (e.g. SAM P1/P2, levels)."""

    name: str
    algorithm: BlockCipher
    key: bytes = field(repr=False)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"KeyEntry(name={self.name!r}, algorithm={self.algorithm.name}, key=<hidden>)"


@dataclass(frozen=True, slots=True)
class RsaKeyEntry:
    """One named RSA private key (e.g. the issuer's ODA key); ``meta`` is free-form JSON data."""

    name: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"RsaKeyEntry(name={self.name!r}, bits={self.private_key.key_size}, key=<hidden>)"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text.encode("ascii"), validate=True)


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _derive(passphrase: str | bytes, salt: bytes, params: ScryptParams) -> bytes:
    secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)
    return Scrypt(salt=salt, length=_KEY_BYTES, n=params.n, r=params.r, p=params.p).derive(secret)


def _header(params: ScryptParams, salt: bytes, nonce: bytes, version: int) -> dict[str, Any]:
    return {
        "format": KEYSTORE_FORMAT,
        "version": version,
        "kdf": {"name": "scrypt", "n": params.n, "r": params.r, "p": params.p, "salt": _b64(salt)},
        "aead": _AEAD,
        "nonce": _b64(nonce),
    }


def _write_atomically(path: Path, data: bytes) -> None:
    """tmp file (0600) in the same directory, fsync, rename over *path*, fsync the directory:
    a crash leaves either the old or the new file, never a torn one."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)  # in case the umask or a pre-existing ACL changed it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class KeyStore:
    """Named issuer master keys, an optional SM2 private key and SAM PIN, encrypted at rest.

    Changes are in memory until :meth:`save`. Wrong passphrase or any tampering gives one
    ``CryptoError`` on :meth:`open`; a missing file gives the usual ``FileNotFoundError``.
    """

    __slots__ = ("_entries", "_key", "_params", "_path", "_rng", "_rsa", "_salt", "_sam_pin", "_sm2_key")

    def __init__(
        self,
        path: Path,
        key: bytes,
        salt: bytes,
        params: ScryptParams,
        rng: Callable[[int], bytes],
    ) -> None:
        """Internal: use :meth:`create` or :meth:`open`."""
        self._path = path
        self._key = key
        self._salt = salt
        self._params = params
        self._rng = rng
        self._entries: dict[str, KeyEntry] = {}
        self._rsa: dict[str, RsaKeyEntry] = {}
        self._sm2_key: Sm2PrivateKey | None = None
        self._sam_pin: str | None = None

    # -- life cycle ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        passphrase: str | bytes,
        *,
        kdf_params: ScryptParams | None = None,
        rng: Callable[[int], bytes] = secrets.token_bytes,
    ) -> Self:
        """Create an empty store at *path* and write it (``FileExistsError`` if it exists)."""
        target = Path(path)
        if target.exists():
            raise FileExistsError(f"key store already exists: {target}")
        if not passphrase:
            raise CryptoError("key store passphrase must not be empty")
        params = kdf_params or ScryptParams()
        salt = rng(_SALT_BYTES)
        if len(salt) != _SALT_BYTES:
            raise CryptoError("random source returned the wrong length")
        store = cls(target, _derive(passphrase, salt, params), salt, params, rng)
        store.save()
        return store

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        passphrase: str | bytes,
        *,
        rng: Callable[[int], bytes] = secrets.token_bytes,
    ) -> Self:
        """Decrypt the store at *path*. One opaque ``CryptoError`` for every failure after the
        file was read (wrong passphrase, edited header or ciphertext, malformed content)."""
        target = Path(path)
        raw = target.read_bytes()
        store: Self | None = None
        try:
            store = cls._decrypt(target, raw, passphrase, rng)
        except (CryptoError, CodecError, ValueError, TypeError, KeyError, InvalidTag, binascii.Error):
            store = None
        except UnsupportedAlgorithm:  # a PEM of a key type this build cannot load
            store = None
        if store is None:
            # Raised outside the except block: no chained exception tells *what* was wrong.
            raise CryptoError(_OPEN_FAILED)
        return store

    @classmethod
    def _decrypt(cls, path: Path, raw: bytes, passphrase: str | bytes, rng: Callable[[int], bytes]) -> Self:
        envelope = json.loads(raw.decode("utf-8"))
        if not isinstance(envelope, dict):
            raise ValueError("envelope is not an object")
        header = {k: v for k, v in envelope.items() if k != "ciphertext"}
        kdf = header["kdf"]
        if (
            header.get("format") != KEYSTORE_FORMAT
            or type(header.get("version")) is not int
            or header["version"] not in _VERSIONS
            or header.get("aead") != _AEAD
            or not isinstance(kdf, dict)
            or kdf.get("name") != "scrypt"
            or set(header) != {"format", "version", "kdf", "aead", "nonce"}
        ):
            raise ValueError("unsupported header")
        if not all(type(kdf[k]) is int for k in ("n", "r", "p")):
            raise ValueError("bad kdf parameters")
        params = ScryptParams(n=kdf["n"], r=kdf["r"], p=kdf["p"])
        salt = _unb64(kdf["salt"])
        nonce = _unb64(header["nonce"])
        if len(salt) != _SALT_BYTES or len(nonce) != _NONCE_BYTES:
            raise ValueError("bad salt or nonce")
        key = _derive(passphrase, salt, params)
        plaintext = AESGCM(key).decrypt(nonce, _unb64(envelope["ciphertext"]), _canonical(header))
        store = cls(path, key, salt, params, rng)
        store._load_payload(json.loads(plaintext.decode("utf-8")), header["version"])
        return store

    def _load_payload(self, payload: object, version: int) -> None:
        if not isinstance(payload, dict) or not isinstance(payload["keys"], dict):
            raise ValueError("bad payload")
        rsa_keys = payload.get("rsa_keys", {}) if version >= _RSA_VERSION else {}
        if not isinstance(rsa_keys, dict):
            raise ValueError("bad RSA keys")
        for name, item in rsa_keys.items():
            if not isinstance(item, dict) or not isinstance(item["meta"], dict):
                raise ValueError("bad RSA key entry")
            if not isinstance(item["private_key"], str):
                raise ValueError("bad RSA key")
            key = serialization.load_pem_private_key(item["private_key"].encode("ascii"), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError("not an RSA key")
            self._put_rsa(name, key, item["meta"])
        for name, item in payload["keys"].items():
            if not isinstance(item, dict) or not isinstance(item["meta"], dict):
                raise ValueError("bad key entry")
            self._put(name, bytes.fromhex(item["key"]), BlockCipher(item["algorithm"]), item["meta"])
        if payload["sm2_private_key"] is not None:
            self._sm2_key = Sm2PrivateKey.from_bytes(bytes.fromhex(payload["sm2_private_key"]))
        if payload["sam_pin"] is not None:
            self.set_sam_pin(payload["sam_pin"])

    def _payload(self) -> bytes:
        rsa_keys = {
            entry.name: {
                "private_key": entry.private_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ).decode("ascii"),
                "meta": dict(entry.meta),
            }
            for entry in self._rsa.values()
        }
        return _canonical(
            {
                **({"rsa_keys": rsa_keys} if rsa_keys else {}),
                "keys": {
                    entry.name: {
                        "algorithm": entry.algorithm.value,
                        "key": entry.key.hex(),
                        "meta": dict(entry.meta),
                    }
                    for entry in self._entries.values()
                },
                "sm2_private_key": None if self._sm2_key is None else self._sm2_key.to_bytes().hex(),
                "sam_pin": self._sam_pin,
            }
        )

    def save(self) -> None:
        """Encrypt with a fresh nonce and replace the file atomically (mode 0600)."""
        nonce = self._rng(_NONCE_BYTES)
        if len(nonce) != _NONCE_BYTES:
            raise CryptoError("random source returned the wrong length")
        header = _header(self._params, self._salt, nonce, _RSA_VERSION if self._rsa else 1)
        ciphertext = AESGCM(self._key).encrypt(nonce, self._payload(), _canonical(header))
        envelope = {**header, "ciphertext": _b64(ciphertext)}
        _write_atomically(self._path, json.dumps(envelope, indent=2, sort_keys=True).encode("ascii") + b"\n")

    def change_passphrase(
        self, new_passphrase: str | bytes, *, kdf_params: ScryptParams | None = None
    ) -> None:
        """Re-key under *new_passphrase* (fresh salt) and save immediately."""
        if not new_passphrase:
            raise CryptoError("key store passphrase must not be empty")
        params = kdf_params or self._params
        salt = self._rng(_SALT_BYTES)
        if len(salt) != _SALT_BYTES:
            raise CryptoError("random source returned the wrong length")
        self._key = _derive(new_passphrase, salt, params)
        self._salt = salt
        self._params = params
        self.save()

    # -- contents -----------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    def put_key(
        self, name: str, key: bytes, *, algorithm: BlockCipher = BlockCipher.SM4, **meta: Any
    ) -> None:
        """Add or replace the key *name*. *meta* must be JSON-serialisable (e.g. ``sam_p2=0x31,
        levels=2``). Not persisted until :meth:`save`."""
        self._put(name, key, algorithm, meta)

    def _put(self, name: str, key: bytes, algorithm: BlockCipher, meta: Mapping[str, Any]) -> None:
        if not isinstance(name, str) or not name:
            raise CodecError("key name must be a non-empty string")
        if len(key) not in algorithm.key_sizes:
            sizes = " or ".join(map(str, algorithm.key_sizes))
            raise CryptoError(f"{algorithm.name} key must be {sizes} bytes")
        try:
            frozen_meta = json.loads(_canonical(meta))
        except (TypeError, ValueError):
            frozen_meta = None
        if frozen_meta is None:
            raise CodecError("key metadata must be JSON-serialisable")
        self._entries[name] = KeyEntry(name, algorithm, bytes(key), MappingProxyType(frozen_meta))

    def get_key(self, name: str) -> bytes:
        """The key bytes of *name*; ``CryptoError`` if there is no such key."""
        return self.get_entry(name).key

    def get_entry(self, name: str) -> KeyEntry:
        """Key, algorithm and metadata of *name*; ``CryptoError`` if there is no such key."""
        entry = self._entries.get(name)
        if entry is None:
            raise CryptoError(f"no key named {name!r} in the key store")
        return entry

    def delete_key(self, name: str) -> None:
        self.get_entry(name)
        del self._entries[name]

    def names(self) -> list[str]:
        """Names of the stored keys, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def put_rsa_key(self, name: str, private_key: rsa.RSAPrivateKey, **meta: Any) -> None:
        """Add or replace the RSA private key *name* (*meta*: JSON-serialisable, e.g. the key's
        certificate). Not persisted until :meth:`save`; the file becomes version 2."""
        self._put_rsa(name, private_key, meta)

    def _put_rsa(self, name: str, private_key: rsa.RSAPrivateKey, meta: Mapping[str, Any]) -> None:
        if not isinstance(name, str) or not name:
            raise CodecError("key name must be a non-empty string")
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise CryptoError("not an RSA private key")
        try:
            frozen_meta = json.loads(_canonical(meta))
        except (TypeError, ValueError):
            frozen_meta = None
        if frozen_meta is None:
            raise CodecError("key metadata must be JSON-serialisable")
        self._rsa[name] = RsaKeyEntry(name, private_key, MappingProxyType(frozen_meta))

    def get_rsa_key(self, name: str) -> RsaKeyEntry:
        """The RSA key *name* and its metadata; ``CryptoError`` if there is none."""
        entry = self._rsa.get(name)
        if entry is None:
            raise CryptoError(f"no RSA key named {name!r} in the key store")
        return entry

    def delete_rsa_key(self, name: str) -> None:
        self.get_rsa_key(name)
        del self._rsa[name]

    def rsa_key_names(self) -> list[str]:
        """Names of the stored RSA keys, sorted (not in :meth:`names`, which lists symmetric keys)."""
        return sorted(self._rsa)

    @property
    def sm2_private_key(self) -> Sm2PrivateKey | None:
        return self._sm2_key

    def set_sm2_private_key(self, key: Sm2PrivateKey | None) -> None:
        self._sm2_key = key

    @property
    def sam_pin(self) -> str | None:
        return self._sam_pin

    def set_sam_pin(self, pin: str | None) -> None:
        valid = isinstance(pin, str) and pin.isascii() and pin.isdigit() and 2 <= len(pin) <= 16
        if pin is not None and not valid:
            raise CodecError("SAM PIN must be 2-16 decimal digits")
        self._sam_pin = pin

    def __repr__(self) -> str:
        return (
            f"KeyStore(path={str(self._path)!r}, keys={len(self._entries)}, rsa_keys={len(self._rsa)}, "
            "<secrets hidden>)"
        )

    def __reduce__(self) -> Any:
        raise TypeError("KeyStore cannot be pickled")
