"""The card's cryptographic conventions, each in one place.

Where the health-card sources are silent, these follow the project's conventions table
(shared/spec/README.md, "Conventions where the sources are silent"); the facts are in
shared/spec/healthcard-facts.md §4.3-4.6. Change a convention here and nowhere else.

EXTERNAL AUTHENTICATE schemes (a property of each key, :class:`~._fs.AuthScheme`):

=========  ==========================================================================================
scheme     command data and check (R = the card's last GET CHALLENGE, single-use)
=========  ==========================================================================================
HEALTH     ``cryptogram(8) ‖ terminal data(8) ‖ 01``; session = SM4_enc(K, R ‖ ~R) (R must be 8 bytes);
           cryptogram = fold(SM4_enc(session, terminal data ‖ 00×8)). 3DES keys: the PBOC forms of
           :mod:`cardservice.keys` (session = 3DES(K, R) ‖ 3DES(K, ~R), cryptogram = 3DES(session, td)).
PLAIN      ``E_K(R ‖ 00.. to one block)``: one cipher block (16 bytes SM4, 8 bytes DES/3DES), the
           ISO/PBOC style used by blank cards and transport keys.
=========  ==========================================================================================

Secure messaging (UPDATE BINARY / UPDATE RECORD / APPEND RECORD with an SM CLA): session =
SM4_enc(STK, R ‖ ~R) with R = the latest 8-byte challenge (consumed by the command); the last 4
data bytes are the MAC = leftmost 4 bytes of ISO/IEC 9797-1 MAC algorithm 1 (padding method 2,
IV = zero block) over ``CLA INS P1 P2 Lc ‖ data without MAC`` (Lc as sent, counting the MAC).
Encrypted data = SM4-ECB(session, len(1) ‖ plaintext ‖ 80 00.. to a block multiple).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cardservice.errors import CryptoError
from cardservice.keys import (
    BlockCipher,
    auth_cryptogram,
    constant_time_equal,
    decrypt_ecb,
    encrypt_ecb,
    mac_algorithm_1,
    session_key,
)
from simulators.cardos._fs import AuthScheme, KeyAlgorithm, KeyRecord, SmMode
from simulators.cardos._sw import (
    SW_CONDITIONS,
    SW_SM_INCORRECT,
    SW_SM_MISSING,
    SW_WRONG_DATA,
    SW_WRONG_LENGTH,
    SwError,
)

__all__ = ["AUTH_SCHEMES", "SM_MAC_LENGTH", "AuthCheck", "cipher_of", "internal_authenticate", "unwrap_sm"]

SM_MAC_LENGTH = 4
_HEALTH_TRAILER = 0x01

_CIPHERS = {
    KeyAlgorithm.SM4: BlockCipher.SM4,
    KeyAlgorithm.TDES: BlockCipher.TDES,
    KeyAlgorithm.DES: BlockCipher.DES,
}


def cipher_of(key: KeyRecord) -> BlockCipher:
    return _CIPHERS[key.algorithm]


@dataclass(frozen=True)
class AuthCheck:
    """One EXTERNAL AUTHENTICATE scheme: ``validate`` rejects malformed data before a try is
    spent (SwError), ``verify`` says whether the cryptogram is right."""

    validate: Callable[[KeyRecord, bytes, bytes], None]
    verify: Callable[[KeyRecord, bytes, bytes], bool]


def _health_validate(key: KeyRecord, challenge: bytes, data: bytes) -> None:
    if len(data) != 17:
        raise SwError(SW_WRONG_LENGTH)
    if data[16] != _HEALTH_TRAILER:
        raise SwError(SW_WRONG_DATA)
    if len(challenge) != 8:
        raise SwError(SW_CONDITIONS)


def _health_verify(key: KeyRecord, challenge: bytes, data: bytes) -> bool:
    cipher = cipher_of(key)
    session = session_key(key.value, challenge, cipher=cipher)
    return constant_time_equal(auth_cryptogram(session, data[8:16], cipher=cipher), data[:8])


def _plain_validate(key: KeyRecord, challenge: bytes, data: bytes) -> None:
    block = cipher_of(key).block_size
    if len(data) != block:
        raise SwError(SW_WRONG_LENGTH)
    if len(challenge) > block:
        raise SwError(SW_CONDITIONS)


def _plain_verify(key: KeyRecord, challenge: bytes, data: bytes) -> bool:
    cipher = cipher_of(key)
    expected = encrypt_ecb(cipher, key.value, challenge.ljust(cipher.block_size, b"\x00"))
    return constant_time_equal(expected, data)


#: The one table of EXTERNAL AUTHENTICATE schemes.
AUTH_SCHEMES: dict[AuthScheme, AuthCheck] = {
    AuthScheme.HEALTH: AuthCheck(_health_validate, _health_verify),
    AuthScheme.PLAIN: AuthCheck(_plain_validate, _plain_verify),
}


def internal_authenticate(key: KeyRecord, data: bytes) -> bytes:
    """INTERNAL AUTHENTICATE answer: E_K(data ‖ 00.. to a block multiple), ECB (PBOC style)."""
    cipher = cipher_of(key)
    padded = data + bytes(-len(data) % cipher.block_size)
    return encrypt_ecb(cipher, key.value, padded)


def unwrap_sm(header: bytes, data: bytes, stk: KeyRecord, challenge: bytes | None, mode: SmMode) -> bytes:
    """Check the command MAC (and decrypt when *mode* says so); returns the plain data.

    *header* is ``CLA INS P1 P2 Lc`` exactly as sent. No challenge → 6985; data too short to hold
    a MAC → 6987; wrong MAC, bad cryptogram or padding → 6988. A command whose only data is its
    MAC (ERASE RECORD, the DF03 index marks) is valid in MAC mode.
    """
    if challenge is None or len(challenge) != 8:
        raise SwError(SW_CONDITIONS)
    if len(data) < SM_MAC_LENGTH:
        raise SwError(SW_SM_MISSING)
    cipher = cipher_of(stk)
    body, mac = data[:-SM_MAC_LENGTH], data[-SM_MAC_LENGTH:]
    try:
        session = session_key(stk.value, challenge, cipher=cipher)
        expected = mac_algorithm_1(cipher, session, header + body, iv=bytes(cipher.block_size))
    except CryptoError:
        raise SwError(SW_SM_INCORRECT) from None
    if not constant_time_equal(expected[:SM_MAC_LENGTH], mac):
        raise SwError(SW_SM_INCORRECT)
    if mode is not SmMode.ENCRYPTED_MAC:
        return body
    if not body or len(body) % cipher.block_size:
        raise SwError(SW_SM_INCORRECT)
    plain = decrypt_ecb(cipher, session, body)
    length = plain[0]
    rest = plain[1 + length :]
    # The plaintext must fit, and what follows it is nothing or padding method 2 (80 00..).
    if 1 + length > len(plain) or (rest and (rest[0] != 0x80 or any(rest[1:]))) or length == 0:
        raise SwError(SW_SM_INCORRECT)
    return plain[1 : 1 + length]
