"""Field 64: the CUP POS terminal MAC ("ECB" algorithm of 中国银联POS终端规范), our choice over ANSI X9.19.

Why this one: it is what CUP POS hosts check, and its output shape (8 ASCII hex characters in the 8 bytes
of field 64) is what the real sale of facts sheet A5 carries (``38 46 36 35 31 42 32 36`` = "8F651B26").
It is checked against a published frame with its key (tests/acquiring/test_mac.py).

The MAC element block (MAB) is the message from the MTI up to the end of field 63 (no length, TPDU or
header). Steps: pad the MAB with 00 to a multiple of 8 (none if aligned); XOR all 8-byte blocks; write the
result as 16 uppercase hex characters; encrypt the first 8 under the key; XOR with the last 8; encrypt
again; write that as 16 hex characters and keep the first 8. "Encrypt" is 3DES with the double-length TAK
(single DES when K1 = K2, as on single-length-key terminals).
"""

from __future__ import annotations

import hmac

from cardservice.errors import CryptoError
from cardservice.keys import BlockCipher, encrypt_ecb

__all__ = ["cup_pos_mac", "verify_cup_pos_mac"]


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def cup_pos_mac(key: bytes, mab: bytes) -> bytes:
    """The 8 bytes of field 64 over *mab* under the terminal's MAC key (16 bytes)."""
    if len(key) != 16:
        raise CryptoError("MAC key: 16 bytes (double-length 3DES)")
    data = bytes(mab) + bytes(-len(mab) % 8)
    block = bytes(8)
    for offset in range(0, len(data), 8):
        block = _xor(block, data[offset : offset + 8])
    text = block.hex().upper().encode("ascii")
    first = encrypt_ecb(BlockCipher.TDES, key, text[:8])
    second = encrypt_ecb(BlockCipher.TDES, key, _xor(first, text[8:]))
    return second.hex().upper().encode("ascii")[:8]


def verify_cup_pos_mac(key: bytes, mab: bytes, mac: bytes) -> bool:
    """Constant-time check of field 64."""
    return hmac.compare_digest(cup_pos_mac(key, mab), bytes(mac))
