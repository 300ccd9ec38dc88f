"""Key material of the virtual health card and PSAM: the DEMO issuer key set and key-store access.

**DEMO ONLY.** Every value here is derived from a published string, so anyone can recompute it:
these keys protect nothing and must never be loaded into a real SAM or onto a real card. They exist
so that a demo card and a demo SAM (and :class:`cardservice.keys.SoftwareSam` over the demo key
store) agree without any setup.

* master key of each ``HEALTH_KEYS`` entry = first 16 bytes of SM3("cardservice DEMO issuer key " ‖ name);
* SAM SM2 private key d = SM3("cardservice DEMO SAM SM2 key" ‖ counter) for the first counter
  (from 0) that gives 1 <= d <= n-2;
* SAM PIN ``"123456"`` (the value the vendor demos use, facts sheet §4.8).

The key store layout (what :func:`write_demo_keystore` writes and what the profiles read): one
SM4 entry per ``HEALTH_KEYS`` name with meta ``sam_p1``, ``sam_index`` and ``levels`` (facts sheet
§4.4), the SAM's ``sm2_private_key`` and its ``sam_pin``; and the bank issuer's keys card-issuer
personalises the bank application with: 3DES entries ``PBOC-IMK-AC`` / ``PBOC-IMK-SMI`` / ``PBOC-IMK-SMC``
(the DEMO bank keys, :func:`simulators.pboc.demo_bank_key`: the demo acquirer's issuer derives from the
same values) and the RSA entry ``PBOC-ISSUER-RSA`` (the DEMO issuer key with the certificate the DEMO CA
made for it, :func:`simulators.pboc.demo_issuer_oda_key`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cardservice.healthcard import HEALTH_KEYS, HealthKey, signer_fingerprint
from cardservice.keys import SM2_CURVE, BlockCipher, KeyStore, ScryptParams, Sm2PrivateKey, sm3_digest
from cardservice.pboc._issuing import KEYSTORE_KEY_NAMES, KEYSTORE_RSA_KEY_NAME
from simulators.pboc import demo_bank_key, demo_issuer_oda_key

__all__ = [
    "DEMO_SAM_PIN",
    "MasterKey",
    "demo_master_keys",
    "demo_sam_fingerprint",
    "demo_sm2_private_key",
    "master_keys",
    "open_keystore",
    "write_demo_keystore",
]

#: DEMO ONLY: the SAM PIN of the demo key store and of ``create_sam`` without options.
DEMO_SAM_PIN = "123456"

_MASTER_LABEL = b"cardservice DEMO issuer key "
_SM2_LABEL = b"cardservice DEMO SAM SM2 key"


def demo_master_keys() -> dict[str, bytes]:
    """DEMO ONLY: a deterministic 16-byte SM4 master key per ``HEALTH_KEYS`` name."""
    return {key.name: sm3_digest(_MASTER_LABEL + key.name.encode("ascii"))[:16] for key in HEALTH_KEYS}


def demo_sm2_private_key() -> Sm2PrivateKey:
    """DEMO ONLY: the deterministic SM2 key pair of the demo SAM."""
    for counter in range(256):
        d = sm3_digest(_SM2_LABEL + bytes([counter]))
        if 1 <= int.from_bytes(d, "big") <= SM2_CURVE.n - 2:
            return Sm2PrivateKey.from_bytes(d)
    raise AssertionError("unreachable: SM3 output is almost never out of the SM2 key range")


def demo_sam_fingerprint() -> str:
    """DEMO ONLY: the fingerprint of the demo SAM's SM2 key (SM3 of its public key, upper-case hex),
    as ``trusted_signers`` lists it, so the demo trusts the demo PSAM's encounter-record signatures."""
    return signer_fingerprint(demo_sm2_private_key().public_key())


def write_demo_keystore(
    path: str | os.PathLike[str],
    passphrase: str = "demo",  # noqa: S107 - DEMO key store, by design
    *,
    kdf_params: ScryptParams | None = None,
) -> KeyStore:
    """Write the DEMO key set as a real :class:`~cardservice.keys.KeyStore` at *path* and return it
    (``FileExistsError`` if the file exists). *kdf_params*: scrypt cost (tests use ``n=2**10``)."""
    store = KeyStore.create(path, passphrase, kdf_params=kdf_params)
    for name, value in demo_master_keys().items():
        key = _health_key(name)
        store.put_key(name, value, sam_p1=key.sam_p1, sam_index=key.sam_index, levels=key.levels, demo=True)
    for name, stored in KEYSTORE_KEY_NAMES.items():
        store.put_key(stored, demo_bank_key(name), algorithm=BlockCipher.TDES, demo=True)
    oda_key = demo_issuer_oda_key()
    store.put_rsa_key(KEYSTORE_RSA_KEY_NAME, oda_key.private_key, **oda_key.meta(), demo=True)
    store.set_sm2_private_key(demo_sm2_private_key())
    store.set_sam_pin(DEMO_SAM_PIN)
    store.save()
    return store


def open_keystore(
    keys: str | os.PathLike[str] | None, passphrase: str | None, keystore: KeyStore | None
) -> KeyStore | None:
    """The key store a profile factory was given: a path (``keys=`` + ``passphrase=``) or an
    opened ``keystore=``; ``None`` means the DEMO key set."""
    if keys is None:
        return keystore
    if keystore is not None:
        raise ValueError("give either keys= (a key store path) or keystore=, not both")
    if passphrase is None:
        raise ValueError("keys= needs passphrase= to open the key store")
    return KeyStore.open(keys, passphrase)


def _health_key(name: str) -> HealthKey:
    return next(key for key in HEALTH_KEYS if key.name == name)


@dataclass(frozen=True)
class MasterKey:
    """One issuer master key as the profiles need it (value hidden from repr)."""

    name: str
    value: bytes = field(repr=False)
    algorithm: BlockCipher
    sam_p1: int
    sam_index: int
    levels: int


def master_keys(keystore: KeyStore | None) -> dict[str, MasterKey]:
    """The master keys of every ``HEALTH_KEYS`` entry: from *keystore*, or the DEMO set for ``None``.

    The SAM addressing (P1/P2 of ``80 DE``) and the depth come from the store's meta when present
    (a store may remap indices) and from ``HEALTH_KEYS`` otherwise. A store that lacks one of the
    card's keys is refused: a card with a missing key could never be authenticated.
    """
    if keystore is None:
        return {
            key.name: MasterKey(key.name, value, BlockCipher.SM4, key.sam_p1, key.sam_index, key.levels)
            for key, value in zip(HEALTH_KEYS, demo_master_keys().values(), strict=True)
        }
    missing = [key.name for key in HEALTH_KEYS if key.name not in keystore]
    if missing:
        raise ValueError(f"the key store lacks the health-card key(s): {', '.join(missing)}")
    result: dict[str, MasterKey] = {}
    for key in HEALTH_KEYS:
        entry = keystore.get_entry(key.name)
        meta = entry.meta
        levels = int(meta.get("levels", key.levels))
        if levels != key.levels:
            raise ValueError(
                f"key {key.name}: the key store says {levels} level(s), HEALTH_KEYS {key.levels}"
            )
        result[key.name] = MasterKey(
            key.name,
            entry.key,
            entry.algorithm,
            int(meta.get("sam_p1", key.sam_p1)),
            int(meta.get("sam_index", key.sam_index)),
            levels,
        )
    return result
