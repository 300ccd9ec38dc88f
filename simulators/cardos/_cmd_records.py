"""Record commands (ISO/IEC 7816-4 §11.3): READ RECORD(S), UPDATE RECORD, ERASE RECORD and APPEND
RECORD on linear fixed, linear variable and cyclic EFs. Handlers as described in :mod:`._commands`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from simulators.cardos._cmd_common import _check, _current_ef, _data, _ef_by_sfi, _fs, _rule
from simulators.cardos._fs import FileHeader, FileStructure, FileSystem, Path
from simulators.cardos._state import Command
from simulators.cardos._sw import (
    SW_INCOMPATIBLE_FILE,
    SW_NOT_ENOUGH_MEMORY,
    SW_RECORD_NOT_FOUND,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
    SwError,
)

if TYPE_CHECKING:
    from simulators.cardos._os import CardOS

__all__ = ["append_record", "erase_record", "read_record", "update_record"]


def _record_target(card: CardOS, sfi: int) -> tuple[Path, FileHeader]:
    if sfi == 31:
        raise SwError(SW_WRONG_P1P2)
    path, header = _ef_by_sfi(card, sfi) if sfi else _current_ef(card)
    if not header.structure.is_record:
        raise SwError(SW_INCOMPATIBLE_FILE)
    return path, header


def _locate(card: CardOS, records: list[bytes], p1: int, mode: int) -> int:
    """Record number addressed by P1 and P2 b3-b1 (§7.3.5): 100 absolute (P1 = 00: current
    record), 000/001/010/011 first/last/next/previous record with identifier P1 (= first byte)."""
    pointer = card.state.record_pointer
    if mode == 0b100:
        number = p1 or pointer
        if number is None or number > len(records):
            raise SwError(SW_RECORD_NOT_FOUND)
        return number
    if p1 == 0:
        raise SwError(SW_WRONG_P1P2)
    if mode == 0b000:
        order: Iterable[int] = range(1, len(records) + 1)
    elif mode == 0b001:
        order = range(len(records), 0, -1)
    elif mode == 0b010:
        order = range((pointer or 0) + 1, len(records) + 1)
    elif mode == 0b011:
        order = range((pointer or len(records) + 1) - 1, 0, -1)
    else:
        raise SwError(SW_WRONG_P1P2)
    for number in order:
        if records[number - 1][:1] == bytes([p1]):
            return number
    raise SwError(SW_RECORD_NOT_FOUND)


def read_record(card: CardOS, command: Command) -> bytes:
    """READ RECORD(S) (§11.3.3). P2 = SFI << 3 | mode; mode 101 returns records P1..last
    concatenated (as many whole records as fit in Ne)."""
    path, header = _record_target(card, command.p2 >> 3)
    _check(card, _rule(card, path, header, "read"))
    if command.data:
        raise SwError(SW_WRONG_LENGTH)
    records = _fs(card).records(path, header)
    mode = command.p2 & 0x07
    if mode == 0b101:
        first = command.p1 or card.state.record_pointer
        if first is None or first > len(records):
            raise SwError(SW_RECORD_NOT_FOUND)
        limit = command.ne if command.ne is not None else 256
        out = b""
        for number in range(first, len(records) + 1):
            if out and len(out) + len(records[number - 1]) > limit:
                break
            out += records[number - 1]
            card.state.record_pointer = number
        return out
    if mode in (0b110, 0b111):
        raise SwError(SW_WRONG_P1P2)
    number = _locate(card, records, command.p1, mode)
    card.state.record_pointer = number
    return records[number - 1]


def _check_record_length(header: FileHeader, data: bytes) -> None:
    if header.structure is FileStructure.LINEAR_VARIABLE:
        if not 1 <= len(data) <= header.record_length:
            raise SwError(SW_WRONG_LENGTH)
    elif len(data) != header.record_length:
        raise SwError(SW_WRONG_LENGTH)


def update_record(card: CardOS, command: Command) -> bytes:
    """UPDATE RECORD (§11.3.7), by number or by identifier, plain or with secure messaging."""
    path, header = _record_target(card, command.p2 >> 3)
    rule = _rule(card, path, header, "update")
    _check(card, rule, sm=command.secure_messaging)
    data = _data(card, command, rule)
    _check_record_length(header, data)
    records = _fs(card).records(path, header)
    number = _locate(card, records, command.p1, command.p2 & 0x07)
    card.image.nvm.commit({_fs(card).record_slot(path, header, number): data})
    card.state.record_pointer = number
    return b""


def erase_record(card: CardOS, command: Command) -> bytes:
    """ERASE RECORD (§11.3.9) of one record by number (P2 b3-b1 = 100): fills it with FF, the
    health card's "empty" mark of the DF03 index files. Needs the file's erase right; with secure
    messaging the command carries only its MAC."""
    if command.p2 & 0x07 != 0b100 or command.p1 == 0:
        raise SwError(SW_WRONG_P1P2)
    path, header = _record_target(card, command.p2 >> 3)
    if header.structure is FileStructure.CYCLIC:
        raise SwError(SW_INCOMPATIBLE_FILE)
    rule = _rule(card, path, header, "erase")
    _check(card, rule, sm=command.secure_messaging)
    if _data(card, command, rule):
        raise SwError(SW_WRONG_LENGTH)
    records = _fs(card).records(path, header)
    number = _locate(card, records, command.p1, 0b100)
    card.image.nvm.commit({_fs(card).record_slot(path, header, number): b"\xff" * header.record_length})
    card.state.record_pointer = number
    return b""


def append_record(card: CardOS, command: Command) -> bytes:
    """APPEND RECORD (§11.3.8). Linear: the next record, or 6A84 when full. Cyclic: the new record
    becomes record 1 and, when full, the oldest is overwritten."""
    if command.p1 or command.p2 & 0x07:
        raise SwError(SW_WRONG_P1P2)
    path, header = _record_target(card, command.p2 >> 3)
    rule = _rule(card, path, header, "append")
    _check(card, rule, sm=command.secure_messaging)
    data = _data(card, command, rule)
    _check_record_length(header, data)
    nvm = card.image.nvm
    if header.structure is FileStructure.CYCLIC:
        area = FileSystem.cyclic_area(path)
        newest, count = (nvm.get(area) or b"\x00\x00")[:2]
        slot = (newest + 1) % header.max_records if count else 0
        state = bytes([slot, min(count + 1, header.max_records)])
        nvm.commit({FileSystem.record_area(path, slot): data, area: state})
        card.state.record_pointer = 1
        return b""
    count = len(_fs(card).records(path, header))
    if count >= header.max_records:
        raise SwError(SW_NOT_ENOUGH_MEMORY)
    nvm.commit({FileSystem.record_area(path, count + 1): data})
    card.state.record_pointer = count + 1
    return b""
