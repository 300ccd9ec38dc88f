"""Security commands (ISO/IEC 7816-4 §11.5): GET CHALLENGE, EXTERNAL and INTERNAL AUTHENTICATE,
VERIFY and CHANGE REFERENCE DATA. The schemes themselves are in :mod:`._security`; retry counters
follow :func:`._cmd_common._try_secret`. Handlers as described in :mod:`._commands`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cardservice.keys import constant_time_equal, random_bytes
from simulators.cardos._cmd_common import _fs, _key_for, _sw_tries, _try_secret
from simulators.cardos._fs import AuthScheme, FileSystem, KeyRecord, KeyUsage
from simulators.cardos._security import AUTH_SCHEMES
from simulators.cardos._security import internal_authenticate as _internal_answer
from simulators.cardos._state import Command
from simulators.cardos._sw import (
    SW_AUTH_BLOCKED,
    SW_CONDITIONS,
    SW_SECURITY,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
    SwError,
)

if TYPE_CHECKING:
    from simulators.cardos._os import CardOS

__all__ = [
    "change_reference_data",
    "external_authenticate",
    "get_challenge",
    "internal_authenticate",
    "verify",
]

_CHALLENGE_LENGTHS = (4, 8, 16)


def get_challenge(card: CardOS, command: Command) -> bytes:
    """GET CHALLENGE (§11.5.3): 4, 8 or 16 bytes from the CSPRNG; replaces any earlier one."""
    if command.p1 or command.p2:
        raise SwError(SW_WRONG_P1P2)
    if command.data or command.ne not in _CHALLENGE_LENGTHS:
        raise SwError(SW_WRONG_LENGTH)
    challenge = random_bytes(command.ne)
    card.state.challenge = challenge
    return challenge


def external_authenticate(card: CardOS, command: Command) -> bytes:
    """EXTERNAL AUTHENTICATE (§11.5.4). P2 = key reference; the key's scheme checks the data
    (see :mod:`._security`). The challenge is consumed by every attempt."""
    if command.p1:
        raise SwError(SW_WRONG_P1P2)
    df, key = _key_for(card, command.p2, KeyUsage.EXTERNAL_AUTH)
    if _fs(card).tries_left(df, command.p2) == 0:
        raise SwError(SW_AUTH_BLOCKED)
    challenge = card.state.take_challenge()
    if challenge is None:
        raise SwError(SW_CONDITIONS)
    scheme = AUTH_SCHEMES[AuthScheme(key.scheme)]
    scheme.validate(key, challenge, command.data)
    _try_secret(card, df, command.p2, key, lambda: scheme.verify(key, challenge, command.data))
    return b""


def internal_authenticate(card: CardOS, command: Command) -> bytes:
    """INTERNAL AUTHENTICATE (§11.5.2): E_K(data) with an internal-authentication key."""
    if command.p1:
        raise SwError(SW_WRONG_P1P2)
    _, key = _key_for(card, command.p2, KeyUsage.INTERNAL_AUTH)
    if not command.data or len(command.data) > 64:
        raise SwError(SW_WRONG_LENGTH)
    return _internal_answer(key, command.data)


def verify(card: CardOS, command: Command) -> bytes:
    """VERIFY (§11.5.6). No data: 9000 if already verified in this DF, else 63Cx (tries left)."""
    if command.p1:
        raise SwError(SW_WRONG_P1P2)
    df, pin = _key_for(card, command.p2, KeyUsage.PIN)
    tries = _fs(card).tries_left(df, command.p2)
    if tries == 0:
        raise SwError(SW_AUTH_BLOCKED)
    if not command.data:
        if command.p2 in card.state.granted:
            return b""
        raise _sw_tries(tries)
    _try_secret(card, df, command.p2, pin, lambda: _same_secret(pin.value, command.data))
    return b""


def _same_secret(stored: bytes, given: bytes) -> bool:
    return len(stored) == len(given) and constant_time_equal(stored, given)


def change_reference_data(card: CardOS, command: Command) -> bytes:
    """CHANGE REFERENCE DATA (§11.5.7). P1=00: old PIN ‖ new PIN; P1=01: new PIN only, after
    VERIFY in this DF. The new PIN is 4..16 bytes."""
    if command.p1 not in (0x00, 0x01):
        raise SwError(SW_WRONG_P1P2)
    df, pin = _key_for(card, command.p2, KeyUsage.PIN)
    if _fs(card).tries_left(df, command.p2) == 0:
        raise SwError(SW_AUTH_BLOCKED)
    data = command.data
    if command.p1 == 0x00:
        old, new = data[: len(pin.value)], data[len(pin.value) :]
    else:
        if command.p2 not in card.state.granted:
            raise SwError(SW_SECURITY)
        old, new = pin.value, data
    if not 4 <= len(new) <= 16:
        raise SwError(SW_WRONG_LENGTH)
    if command.p1 == 0x00:
        _try_secret(card, df, command.p2, pin, lambda: _same_secret(pin.value, old))
    replaced = KeyRecord(pin.usage, pin.algorithm, pin.scheme, pin.max_tries, bytes(new))
    card.image.nvm.commit(
        {
            FileSystem.key_area(df, command.p2): replaced.encode(),
            FileSystem.counter_area(df, command.p2): bytes([pin.max_tries]),
        }
    )
    card.state.granted.add(command.p2)
    return b""
