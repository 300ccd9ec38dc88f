"""Data the card hands out outside its files: GET DATA (the card serial) and GET RESPONSE (the rest
of an answer announced with 61xx). Handlers as described in :mod:`._commands`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulators.cardos._state import Command
from simulators.cardos._sw import (
    SW_CONDITIONS,
    SW_REFERENCE_NOT_FOUND,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
    SwError,
)

if TYPE_CHECKING:
    from simulators.cardos._os import CardOS

__all__ = ["GET_DATA_SERIAL", "get_data", "get_response"]

#: GET DATA P1-P2 of the card serial (ISO/IEC 7816-4 §11.4.3: 0100-01FF = proprietary data).
GET_DATA_SERIAL = 0x0101


def get_data(card: CardOS, command: Command) -> bytes:
    """GET DATA (§11.4.3). P1-P2 0101: the 8-byte card serial (= the ATR's last 8 historical bytes)."""
    if command.data:
        raise SwError(SW_WRONG_LENGTH)
    if (command.p1 << 8 | command.p2) != GET_DATA_SERIAL:
        raise SwError(SW_REFERENCE_NOT_FOUND)
    return card.serial


def get_response(card: CardOS, command: Command) -> bytes:
    """GET RESPONSE (§11.7.1): hands out data the previous command announced with 61xx."""
    if command.p1 or command.p2:
        raise SwError(SW_WRONG_P1P2)
    pending = card.state.pending_response
    card.state.pending_response = None
    if pending is None:
        raise SwError(SW_CONDITIONS)
    if command.ne is None or command.data:
        card.state.pending_response = pending
        raise SwError(SW_WRONG_LENGTH)
    chunk, rest = pending[: command.ne], pending[command.ne :]
    if rest:
        card.state.pending_response = rest
        raise SwError(0x6100 | (len(rest) & 0xFF), chunk)
    return chunk
