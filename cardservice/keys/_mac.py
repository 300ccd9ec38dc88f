"""Padding and MACs of ISO/IEC 9797-1:2011.

* Padding method 2 (clause 6.3.3): append one ``80`` byte, then ``00`` bytes up to a multiple of
  the block size. It always adds at least one byte, so it is unambiguous.
* MAC algorithm 1 (clause 7.2): CBC-MAC, initial transformation 1, output transformation 1. The
  health card's secure messaging uses it with SM4 and keeps the leftmost 4 bytes
  (shared/spec/README.md, conventions table; facts sheet §4.6).
* MAC algorithm 3 (clause 7.4): the "retail MAC" of ANSI X9.19 / PBOC: single-DES CBC with K,
  then the last block is decrypted with K' and encrypted again with K.
"""

from __future__ import annotations

from cardservice.errors import CryptoError
from cardservice.keys._cipher import BlockCipher, decrypt_ecb, encrypt_cbc, encrypt_ecb

__all__ = ["mac_algorithm_1", "mac_algorithm_3", "pad_iso9797_m2", "unpad_iso9797_m2"]


def pad_iso9797_m2(data: bytes, block_size: int) -> bytes:
    """ISO/IEC 9797-1 padding method 2 (= ISO/IEC 7816-4 padding): ``80`` then ``00``.. to a
    multiple of *block_size*; a full block is added when *data* is already aligned."""
    if block_size <= 0:
        raise CryptoError("block size must be positive")
    filler = block_size - 1 - len(data) % block_size
    return bytes(data) + b"\x80" + bytes(filler)


def unpad_iso9797_m2(data: bytes, block_size: int) -> bytes:
    """Remove padding method 2. Any malformed padding raises the same opaque ``CryptoError``, so
    a decrypting caller does not become a padding oracle through distinct messages."""
    if block_size <= 0 or not data or len(data) % block_size:
        raise CryptoError()
    stripped = bytes(data).rstrip(b"\x00")
    # The marker must exist and sit in the last block (at most block_size bytes of padding).
    if not stripped or stripped[-1] != 0x80 or len(data) - len(stripped) >= block_size:
        raise CryptoError()
    return stripped[:-1]


def _iv(cipher: BlockCipher, iv: bytes | None) -> bytes:
    return bytes(cipher.block_size) if iv is None else bytes(iv)


def mac_algorithm_1(cipher: BlockCipher, key: bytes, data: bytes, *, iv: bytes | None = None) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 1 (CBC-MAC) with padding method 2.

    Returns the whole last CBC block (16 bytes for SM4, 8 for DES/3DES); the caller truncates
    (the health card keeps 4 bytes). *iv* defaults to a zero block; PBOC-style MACs pass the
    card's challenge here, which equals XOR-ing it into the first block.
    """
    padded = pad_iso9797_m2(data, cipher.block_size)
    return encrypt_cbc(cipher, key, _iv(cipher, iv), padded)[-cipher.block_size :]


def mac_algorithm_3(key: bytes, data: bytes, *, iv: bytes | None = None) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC") with DES and padding method 2: 8 bytes.

    *key* is 16 bytes K ‖ K'. Every block is chained with single DES under K; the output
    transformation 3 is ``E_K(D_K'(H))``.
    """
    if len(key) != 16:
        raise CryptoError("MAC algorithm 3 key must be 16 bytes (K || K')")
    k, k_prime = bytes(key[:8]), bytes(key[8:])
    padded = pad_iso9797_m2(data, 8)
    last = encrypt_cbc(BlockCipher.DES, k, _iv(BlockCipher.DES, iv), padded)[-8:]
    return encrypt_ecb(BlockCipher.DES, k, decrypt_ecb(BlockCipher.DES, k_prime, last))
