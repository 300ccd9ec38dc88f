"""Key diversification, session keys and the terminal's authentication cryptogram.

The health card's rules are the conventions of shared/spec/README.md (facts sheet §4.4-4.5):

* diversification step, one level per 8-byte factor F: ``K' = SM4_enc(K, F || ~F)``;
* session key from the card's 8-byte challenge R: ``SM4_enc(K_card, R || ~R)``;
* cryptogram: ``fold(SM4_enc(session, terminal_data || 00*8))``, fold = first half XOR second half.

For 3DES the PBOC (JR/T 0025) form is used: ``K' = 3DES(K, F) || 3DES(K, ~F)`` for each level,
the same construction with the challenge for the session key, and the cryptogram is
``3DES(session, terminal_data)`` (an 8-byte block needs no folding). This table of rules is the one
place to change when a real card says otherwise.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence

from cardservice.errors import CryptoError
from cardservice.keys._cipher import BlockCipher, encrypt_ecb

__all__ = ["auth_cryptogram", "constant_time_equal", "diversify", "fold", "random_bytes", "session_key"]

_FACTOR_LENGTH = 8


def _complement(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def _derive_once(key: bytes, factor: bytes, cipher: BlockCipher) -> bytes:
    """One diversification step with an 8-byte factor."""
    if len(factor) != _FACTOR_LENGTH:
        raise CryptoError("diversification factor must be 8 bytes")
    if cipher is BlockCipher.DES:
        raise CryptoError("single DES keys cannot be diversified")
    # SM4: one 16-byte block F || ~F. 3DES: ECB over the same 16 bytes is two blocks,
    # E(K, F) || E(K, ~F), which is the PBOC (JR/T 0025) derivation.
    return encrypt_ecb(cipher, key, bytes(factor) + _complement(factor))


def diversify(master_key: bytes, factors: Sequence[bytes], *, cipher: BlockCipher = BlockCipher.SM4) -> bytes:
    """Derive a card key from *master_key*, one level per 8-byte factor, in order.

    Facts sheet §4.4: level 1 = card factor from the reset answer, level 2 = city factor. An empty
    *factors* returns the master key unchanged (zero levels). Result: 16 bytes.
    """
    if isinstance(factors, bytes | bytearray):
        # A bare bytes object is a Sequence of ints: a classic mistake worth a clear error.
        raise CryptoError("factors must be a sequence of 8-byte factors, not one bytes object")
    key = bytes(master_key)
    for factor in factors:
        key = _derive_once(key, factor, cipher)
    return key


def session_key(card_key: bytes, challenge: bytes, *, cipher: BlockCipher = BlockCipher.SM4) -> bytes:
    """Session key from the card key and the card's 8-byte GET CHALLENGE result R.

    SM4: ``SM4_enc(K, R || ~R)`` (health-card convention); 3DES: ``3DES(K, R) || 3DES(K, ~R)``.
    """
    if len(challenge) != _FACTOR_LENGTH:
        raise CryptoError("challenge must be 8 bytes")
    return _derive_once(bytes(card_key), challenge, cipher)


def fold(block: bytes) -> bytes:
    """First half XOR second half (16 -> 8 bytes): how the SAM's 16-byte output becomes the
    8-byte cryptogram (facts sheet §4.5 step 5)."""
    if not block or len(block) % 2:
        raise CryptoError("fold needs an even, non-empty length")
    half = len(block) // 2
    return bytes(a ^ b for a, b in zip(block[:half], block[half:], strict=True))


def auth_cryptogram(session: bytes, terminal_data: bytes, *, cipher: BlockCipher = BlockCipher.SM4) -> bytes:
    """The 8-byte EXTERNAL AUTHENTICATE cryptogram over 8 bytes of terminal data.

    SM4: ``fold(SM4_enc(session, terminal_data || 00*8))`` (facts sheet §4.5 steps 4-5);
    3DES/DES: ``E(session, terminal_data)``.
    """
    if len(terminal_data) != _FACTOR_LENGTH:
        raise CryptoError("terminal data must be 8 bytes")
    if cipher is BlockCipher.SM4:
        return fold(encrypt_ecb(cipher, session, bytes(terminal_data) + bytes(8)))
    return encrypt_ecb(cipher, session, bytes(terminal_data))


def constant_time_equal(a: bytes, b: bytes) -> bool:
    """Compare MACs, cryptograms and PINs without leaking where they differ."""
    return hmac.compare_digest(bytes(a), bytes(b))


def random_bytes(n: int) -> bytes:
    """*n* bytes from the operating system's CSPRNG (:func:`secrets.token_bytes`)."""
    if n < 0:
        raise CryptoError("byte count must not be negative")
    return secrets.token_bytes(n)
