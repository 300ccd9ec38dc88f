"""Block ciphers (SM4, 3DES, DES) in ECB and CBC mode, and the SM3 hash.

Primitives come from ``cryptography`` (OpenSSL): SM4 per GB/T 32907-2016, SM3 per GB/T 32905-2016,
DES/TDEA per FIPS 46-3 / NIST SP 800-67. Single DES is run as TDEA with K1 = K2 = K3 (which reduces
to DES) because ``cryptography`` only offers TDEA, under ``hazmat.decrepit`` since version 43.
No padding happens here: callers pad explicitly (see :mod:`._mac`).
"""

from __future__ import annotations

import enum

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes

from cardservice.errors import CryptoError
from cardservice.keys._errors import opaque

__all__ = ["BlockCipher", "decrypt_cbc", "decrypt_ecb", "encrypt_cbc", "encrypt_ecb", "sm3_digest"]


class BlockCipher(enum.Enum):
    """The block ciphers a health card, a PSAM or a PBOC application may use."""

    SM4 = "sm4"
    TDES = "3des"
    DES = "des"

    @property
    def block_size(self) -> int:
        """Block size in bytes: 16 for SM4, 8 for DES and 3DES."""
        return 16 if self is BlockCipher.SM4 else 8

    @property
    def key_sizes(self) -> tuple[int, ...]:
        """Accepted key lengths in bytes (3DES: 16 = two-key K1 K2 K1, 24 = three-key)."""
        return _KEY_SIZES[self]


_KEY_SIZES: dict[BlockCipher, tuple[int, ...]] = {
    BlockCipher.SM4: (16,),
    BlockCipher.TDES: (16, 24),
    BlockCipher.DES: (8,),
}


def _algorithm(cipher: BlockCipher, key: bytes) -> BlockCipherAlgorithm:
    if len(key) not in cipher.key_sizes:
        raise CryptoError(f"{cipher.name} key must be {' or '.join(map(str, cipher.key_sizes))} bytes")
    if cipher is BlockCipher.SM4:
        return algorithms.SM4(bytes(key))
    # Expand to the 24-byte form: ``cryptography`` deprecates 8-byte TDEA keys, and the explicit
    # expansion documents the keying options of SP 800-67 (option 2: K3 = K1; DES: K1 = K2 = K3).
    if len(key) == 8:
        return TripleDES(bytes(key) * 3)
    if len(key) == 16:
        return TripleDES(bytes(key) + bytes(key[:8]))
    return TripleDES(bytes(key))


def _check_blocks(cipher: BlockCipher, data: bytes) -> None:
    if len(data) % cipher.block_size:
        raise CryptoError(f"{cipher.name} data must be a multiple of {cipher.block_size} bytes")


def _check_iv(cipher: BlockCipher, iv: bytes) -> None:
    if len(iv) != cipher.block_size:
        raise CryptoError(f"{cipher.name} IV must be {cipher.block_size} bytes")


@opaque
def encrypt_ecb(cipher: BlockCipher, key: bytes, data: bytes) -> bytes:
    """Encrypt *data* (a multiple of the block size, may be empty) in ECB mode."""
    _check_blocks(cipher, data)
    # ECB is what the card protocols specify (single-block derivations, enciphered record data).
    encryptor = Cipher(_algorithm(cipher, key), modes.ECB()).encryptor()  # noqa: S305
    return encryptor.update(bytes(data)) + encryptor.finalize()


@opaque
def decrypt_ecb(cipher: BlockCipher, key: bytes, data: bytes) -> bytes:
    """Decrypt *data* (a multiple of the block size) in ECB mode."""
    _check_blocks(cipher, data)
    decryptor = Cipher(_algorithm(cipher, key), modes.ECB()).decryptor()  # noqa: S305
    return decryptor.update(bytes(data)) + decryptor.finalize()


@opaque
def encrypt_cbc(cipher: BlockCipher, key: bytes, iv: bytes, data: bytes) -> bytes:
    """Encrypt *data* (a multiple of the block size) in CBC mode with the given IV."""
    _check_blocks(cipher, data)
    _check_iv(cipher, iv)
    encryptor = Cipher(_algorithm(cipher, key), modes.CBC(bytes(iv))).encryptor()
    return encryptor.update(bytes(data)) + encryptor.finalize()


@opaque
def decrypt_cbc(cipher: BlockCipher, key: bytes, iv: bytes, data: bytes) -> bytes:
    """Decrypt *data* (a multiple of the block size) in CBC mode with the given IV."""
    _check_blocks(cipher, data)
    _check_iv(cipher, iv)
    decryptor = Cipher(_algorithm(cipher, key), modes.CBC(bytes(iv))).decryptor()
    return decryptor.update(bytes(data)) + decryptor.finalize()


def sm3_digest(data: bytes) -> bytes:
    """SM3 hash (GB/T 32905-2016) of *data*: 32 bytes."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(bytes(data))
    return digest.finalize()
