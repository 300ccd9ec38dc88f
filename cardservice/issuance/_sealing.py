"""The registry's copy of each card's contents, encrypted at rest.

The copy holds everything written to the card (name, ID number, phone, address, photo): it is what a
replacement is made from when the old card is gone, and what a resumed batch verifies against. A
database dump, a backup or a curious DBA must not read it, so it is stored as AES-256-GCM
ciphertext bound to its registry row (the associated data is the row id and the issuance serial: a
copy moved to another row does not open).

The key comes from the issuer key store — every issuing station has it, and it is what gates card
personalisation anyway: the store's ``REGISTRY_CONTENT`` entry when present, else derived with
HKDF-SHA256 from the store's SM2 private key (a separate label, so the derived key reveals nothing
of the signing key). Stored form: ``v1:`` + base64(nonce ‖ ciphertext ‖ tag).
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cardservice.errors import CryptoError
from cardservice.keys import KeyStore

__all__ = ["REGISTRY_KEY_NAME", "ContentCipher"]

REGISTRY_KEY_NAME = "REGISTRY_CONTENT"
_PREFIX = "v1:"
_NONCE = 12
_LABEL = b"cardservice issuer registry content v1"


class ContentCipher:
    """Seals and opens card contents for the registry (see the module docstring)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise CryptoError("the registry content key must be 32 bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "ContentCipher(<key>)"

    @classmethod
    def from_keystore(cls, store: KeyStore) -> ContentCipher:
        if REGISTRY_KEY_NAME in store:
            secret = store.get_key(REGISTRY_KEY_NAME)
        elif store.sm2_private_key is not None:
            secret = store.sm2_private_key.to_bytes()
        else:
            raise CryptoError(f"the key store has neither {REGISTRY_KEY_NAME} nor an SM2 private key")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(secret)
        return cls(key)

    @staticmethod
    def _context(card_id: int, issuance_serial: str | None) -> bytes:
        return f"card {card_id} serial {issuance_serial or ''}".encode()

    def seal(self, card_id: int, issuance_serial: str | None, content: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, content.encode(), self._context(card_id, issuance_serial))
        return _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, card_id: int, issuance_serial: str | None, stored: str) -> str:
        """The contents; :class:`CryptoError` for a wrong key, another row's copy, or damage."""
        if not stored.startswith(_PREFIX):
            raise CryptoError("the registry copy is not sealed content")
        try:
            raw = base64.b64decode(stored[len(_PREFIX) :], validate=True)
            plain = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], self._context(card_id, issuance_serial))
        except (InvalidTag, ValueError, binascii.Error):
            raise CryptoError(
                "the registry copy does not open with this key store (another issuer's keys, or damaged)"
            ) from None
        return plain.decode()
