"""Command handlers (ISO/IEC 7816-4 clause 11 and the personalisation commands) and the INS table.

A handler takes the card and the :class:`~._state.Command`, returns the response data (SW 9000),
or raises :class:`~._sw.SwError`. :class:`~._os.CardOS` turns errors into responses in one place.

The handlers live by kind: :mod:`._cmd_files` (SELECT, READ/UPDATE BINARY), :mod:`._cmd_records`
(READ/UPDATE/ERASE/APPEND RECORD), :mod:`._cmd_security` (GET CHALLENGE, EXTERNAL/INTERNAL
AUTHENTICATE, VERIFY, CHANGE REFERENCE DATA), :mod:`._cmd_personalise` (CREATE FILE, WRITE KEY,
ACTIVATE FILE), :mod:`._cmd_data` (GET DATA, GET RESPONSE); their shared helpers are
:mod:`._cmd_common`. This module holds the one INS → handler table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulators.cardos._cmd_data import get_data, get_response
from simulators.cardos._cmd_files import read_binary, select, update_binary
from simulators.cardos._cmd_personalise import activate_file, create_file, write_key
from simulators.cardos._cmd_records import append_record, erase_record, read_record, update_record
from simulators.cardos._cmd_security import (
    change_reference_data,
    external_authenticate,
    get_challenge,
    internal_authenticate,
    verify,
)
from simulators.cardos._state import Command

if TYPE_CHECKING:
    from simulators.cardos._os import CardOS

__all__ = ["STANDARD_INSTRUCTIONS", "Handler", "Instruction"]

Handler = Callable[["CardOS", Command], bytes]


@dataclass(frozen=True)
class Instruction:
    """An INS table entry. ``proprietary_only``: only with CLA 8X (e.g. WRITE KEY 80 D4);
    ``secure_messaging``: the command accepts an SM CLA (04/0C/84/8C)."""

    handler: Handler
    proprietary_only: bool = False
    secure_messaging: bool = False


#: The standard INS table; profiles extend it (see :func:`simulators.cardos.register_profile`).
STANDARD_INSTRUCTIONS: dict[int, Instruction] = {
    0xA4: Instruction(select),
    0xB0: Instruction(read_binary),
    0xD6: Instruction(update_binary, secure_messaging=True),
    0xB2: Instruction(read_record),
    0xDC: Instruction(update_record, secure_messaging=True),
    0xE2: Instruction(append_record, secure_messaging=True),
    0x0C: Instruction(erase_record, secure_messaging=True),
    0x84: Instruction(get_challenge),
    0x82: Instruction(external_authenticate),
    0x88: Instruction(internal_authenticate),
    0x20: Instruction(verify),
    0x24: Instruction(change_reference_data),
    0xCA: Instruction(get_data),
    0xE0: Instruction(create_file, secure_messaging=True),
    0xD4: Instruction(write_key, proprietary_only=True, secure_messaging=True),
    0x44: Instruction(activate_file),
    0xC0: Instruction(get_response),
}
