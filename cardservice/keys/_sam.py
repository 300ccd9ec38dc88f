"""The SAM (PSAM) as the terminal sees it, and a software SAM over a :class:`KeyStore`.

Facts sheet §4.4-4.6 and §5.2: the SAM holds the issuer master keys. ``80 DE`` derives a card key
from a master key with one or two 8-byte diversification factors plus the card's 8-byte challenge
and loads it as the *session key*; ``80 FA`` then encrypts (``P1 = 00``) or MACs (``P1 = 05``) with
it. ``00 20`` verifies the SAM PIN, which SM2 signing requires. The project-defined ``80 FC`` checks
a card's INTERNAL AUTHENTICATE answer with the card's own key (IRKDDF1: the card proves it is
genuine) inside the SAM, so the terminal never holds a key that could forge such an answer. The
SM3/SM2 APDUs are unknown (§9 item 5), so the protocol names operations, not APDUs: the PC/SC PSAM
maps them to commands, :class:`SoftwareSam` computes them directly. Failures are the status-word
errors a real SAM would cause, so callers handle both the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from cardservice.errors import (
    AuthenticationBlockedError,
    ConditionsNotSatisfiedError,
    SecurityNotSatisfiedError,
    VerificationFailedError,
    WrongLengthError,
    WrongParametersError,
)
from cardservice.keys import _cipher
from cardservice.keys._cipher import BlockCipher, encrypt_ecb
from cardservice.keys._derivation import constant_time_equal, diversify, session_key
from cardservice.keys._keystore import KeyStore
from cardservice.keys._mac import mac_algorithm_1
from cardservice.keys._sm2 import DEFAULT_SM2_USER_ID, Sm2PrivateKey, Sm2PublicKey

__all__ = ["SAM_MAC_LENGTH", "Sam", "SoftwareSam"]

#: Bytes of the CBC-MAC a SAM returns (facts sheet §4.6: "4 bytes kept").
SAM_MAC_LENGTH = 4


@runtime_checkable
class Sam(Protocol):
    """A secure access module holding issuer master keys (facts sheet §4.4-4.6, §5.2)."""

    def verify_pin(self, pin: str) -> None:
        """``00 20``: unlock the SAM. ``VerificationFailedError`` (63Cx, ``tries_left``) on a wrong
        PIN, ``AuthenticationBlockedError`` (6983) once blocked."""
        ...

    def derive_session_key(self, key_id: str, factors: Sequence[bytes], challenge: bytes) -> None:
        """``80 DE``: diversify master key *key_id* with 1-2 factors, then with the card's
        challenge, and load the result as the session key."""
        ...

    def encrypt(self, data: bytes) -> bytes:
        """``80 FA 00 00``: ECB-encrypt *data* (a multiple of 16) with the session key.
        ``ConditionsNotSatisfiedError`` (6985) if no session key is loaded."""
        ...

    def mac(self, data: bytes, *, iv: bytes = bytes(16)) -> bytes:
        """``80 FA 05 00``: 4-byte MAC (ISO/IEC 9797-1 algorithm 1, padding method 2) with the
        session key. ``ConditionsNotSatisfiedError`` (6985) if no session key is loaded."""
        ...

    def verify_card_cryptogram(
        self, key_id: str, factors: Sequence[bytes], message: bytes, cryptogram: bytes
    ) -> bool:
        """Project-defined ``80 FC``: check a card's INTERNAL AUTHENTICATE answer. Diversify master key
        *key_id* with 1-2 *factors* (no challenge: the card's own key), ECB-encrypt *message* (whole
        blocks) with it and compare with *cryptogram* in constant time. ``True`` if they are equal; the
        key and the expected value never leave the SAM. The session key is left as it was."""
        ...

    def sm3_digest(self, data: bytes) -> bytes:
        """SM3 hash computed by the SAM (32 bytes)."""
        ...

    def sm2_sign(self, data: bytes, *, user_id: bytes = DEFAULT_SM2_USER_ID) -> bytes:
        """SM2 signature ``r || s`` over ``SM3(Z || data)`` with the SAM's key. Needs the PIN:
        ``SecurityNotSatisfiedError`` (6982) otherwise."""
        ...

    def sm2_public_key(self) -> Sm2PublicKey:
        """The public half of the SAM's SM2 key."""
        ...


_SW_WRONG_LENGTH = 0x6700
_SW_SECURITY = 0x6982
_SW_BLOCKED = 0x6983
_SW_CONDITIONS = 0x6985
_SW_WRONG_DATA = 0x6A80
_SW_NOT_FOUND = 0x6A88


class SoftwareSam:
    """A :class:`Sam` computed in software from a :class:`KeyStore` (simulators, tests, an
    issuing PC). Session key = ``session_key(diversify(master, factors), challenge)``.

    The PIN is the store's ``sam_pin``; without one the SAM cannot be unlocked (6985), so it can
    never sign. *pin_tries* is the retry counter: each wrong PIN decrements it and answers
    ``63Cx``; at 0 the PIN is blocked (``6983``), even for the right PIN. A right PIN resets it.
    """

    __slots__ = ("_cipher", "_keystore", "_max_tries", "_pin_verified", "_session", "_tries")

    def __init__(self, keystore: KeyStore, *, pin_tries: int = 3) -> None:
        if not 1 <= pin_tries <= 15:
            raise ValueError("pin_tries must be 1..15 (it is reported in one nibble of 63Cx)")
        self._keystore = keystore
        self._max_tries = pin_tries
        self._tries = pin_tries
        self._pin_verified = False
        self._session: bytes | None = None
        self._cipher = BlockCipher.SM4

    @property
    def tries_left(self) -> int:
        """Remaining PIN tries (0 = blocked)."""
        return self._tries

    @property
    def pin_verified(self) -> bool:
        return self._pin_verified

    def reset(self) -> None:
        """Power cycle: forget the PIN verification and the session key (the retry counter is
        persistent, as on a card)."""
        self._pin_verified = False
        self._session = None

    def verify_pin(self, pin: str) -> None:
        if not (isinstance(pin, str) and pin.isascii() and pin.isdigit() and 2 <= len(pin) <= 16):
            # Malformed data is rejected before comparison and burns no try (a card answers 6A80).
            raise WrongParametersError(_SW_WRONG_DATA, description="PIN must be 2-16 decimal digits")
        if self._tries == 0:
            raise AuthenticationBlockedError(_SW_BLOCKED, description="PIN blocked")
        expected = self._keystore.sam_pin
        if expected is None:
            raise ConditionsNotSatisfiedError(_SW_CONDITIONS, description="no SAM PIN configured")
        if constant_time_equal(pin.encode("ascii"), expected.encode("ascii")):
            self._tries = self._max_tries
            self._pin_verified = True
            return
        self._pin_verified = False
        self._tries -= 1
        raise VerificationFailedError(0x63C0 | self._tries, description="wrong PIN")

    def _card_key(self, key_id: str, factors: Sequence[bytes]) -> tuple[bytes, BlockCipher]:
        """The card's key: master *key_id* diversified with *factors* (checked first)."""
        if key_id not in self._keystore:
            raise WrongParametersError(_SW_NOT_FOUND, description="key not found")
        entry = self._keystore.get_entry(key_id)
        factors = list(factors)
        levels = entry.meta.get("levels")
        # A wrong number of factors derives a wrong key, and every failed EXTERNAL AUTHENTICATE
        # burns a try on the citizen's card (facts sheet §4.4 warning): refuse it here.
        if not 1 <= len(factors) <= 2 or (levels is not None and levels != len(factors)):
            raise WrongLengthError(_SW_WRONG_LENGTH, description="wrong number of diversification factors")
        if any(len(f) != 8 for f in factors):
            raise WrongLengthError(_SW_WRONG_LENGTH, description="factors must be 8 bytes")
        return diversify(entry.key, factors, cipher=entry.algorithm), entry.algorithm

    def derive_session_key(self, key_id: str, factors: Sequence[bytes], challenge: bytes) -> None:
        # Any failure unloads the previous key so nothing can run with a stale session.
        self._session = None
        card_key, cipher = self._card_key(key_id, factors)
        if len(challenge) != 8:
            raise WrongLengthError(_SW_WRONG_LENGTH, description="the challenge must be 8 bytes")
        self._session = session_key(card_key, challenge, cipher=cipher)
        self._cipher = cipher

    def verify_card_cryptogram(
        self, key_id: str, factors: Sequence[bytes], message: bytes, cryptogram: bytes
    ) -> bool:
        card_key, cipher = self._card_key(key_id, factors)
        if not message or len(message) % cipher.block_size or len(cryptogram) != len(message):
            raise WrongLengthError(_SW_WRONG_LENGTH, description="message and cryptogram: same whole blocks")
        return constant_time_equal(encrypt_ecb(cipher, card_key, bytes(message)), bytes(cryptogram))

    def _loaded(self) -> bytes:
        if self._session is None:
            raise ConditionsNotSatisfiedError(_SW_CONDITIONS, description="no session key loaded")
        return self._session

    def encrypt(self, data: bytes) -> bytes:
        key = self._loaded()
        if not data or len(data) % self._cipher.block_size:
            raise WrongLengthError(_SW_WRONG_LENGTH, description="data must be whole blocks")
        return encrypt_ecb(self._cipher, key, data)

    def mac(self, data: bytes, *, iv: bytes = bytes(16)) -> bytes:
        key = self._loaded()
        if len(iv) != self._cipher.block_size:
            raise WrongLengthError(_SW_WRONG_LENGTH, description="IV must be one block")
        return mac_algorithm_1(self._cipher, key, data, iv=iv)[:SAM_MAC_LENGTH]

    def sm3_digest(self, data: bytes) -> bytes:
        return _cipher.sm3_digest(data)

    def _sm2_key(self) -> Sm2PrivateKey:
        key = self._keystore.sm2_private_key
        if key is None:
            raise WrongParametersError(_SW_NOT_FOUND, description="no SM2 key")
        return key

    def sm2_sign(self, data: bytes, *, user_id: bytes = DEFAULT_SM2_USER_ID) -> bytes:
        if not self._pin_verified:
            raise SecurityNotSatisfiedError(_SW_SECURITY, description="verify the SAM PIN first")
        return self._sm2_key().sign(data, user_id=user_id)

    def sm2_public_key(self) -> Sm2PublicKey:
        return self._sm2_key().public_key()

    def __repr__(self) -> str:
        return "SoftwareSam(<hidden>)"

    def __reduce__(self) -> Any:
        raise TypeError("SoftwareSam cannot be pickled")
