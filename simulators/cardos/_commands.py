"""Command handlers (ISO/IEC 7816-4 clause 11 and the personalisation commands) and the INS table.

A handler takes the card and the :class:`~._state.Command`, returns the response data (SW 9000),
or raises :class:`~._sw.SwError`. :class:`~._os.CardOS` turns errors into responses in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cardservice.apdu import encode_ber_tlv
from cardservice.keys import constant_time_equal, random_bytes
from simulators.cardos._fs import (
    MF_FID,
    AccessRule,
    AuthScheme,
    FileHeader,
    FileStructure,
    FileSystem,
    KeyRecord,
    KeyUsage,
    Lifecycle,
    Path,
    SmMode,
    new_file_areas,
)
from simulators.cardos._security import AUTH_SCHEMES, unwrap_sm
from simulators.cardos._security import internal_authenticate as _internal_answer
from simulators.cardos._state import Command
from simulators.cardos._sw import (
    SW_AUTH_BLOCKED,
    SW_CONDITIONS,
    SW_DF_NAME_EXISTS,
    SW_END_OF_FILE,
    SW_FILE_EXISTS,
    SW_FILE_NOT_FOUND,
    SW_INCOMPATIBLE_FILE,
    SW_NO_CURRENT_EF,
    SW_NOT_ENOUGH_MEMORY,
    SW_RECORD_NOT_FOUND,
    SW_REFERENCE_NOT_FOUND,
    SW_SECURITY,
    SW_SM_NOT_SUPPORTED,
    SW_WRONG_DATA,
    SW_WRONG_LENGTH,
    SW_WRONG_OFFSET,
    SW_WRONG_P1P2,
    SwError,
)

if TYPE_CHECKING:
    from simulators.cardos._os import CardOS

__all__ = ["GET_DATA_SERIAL", "STANDARD_INSTRUCTIONS", "Handler", "Instruction"]

Handler = Callable[["CardOS", Command], bytes]

#: GET DATA P1-P2 of the card serial (ISO/IEC 7816-4 §11.4.3: 0100-01FF = proprietary data).
GET_DATA_SERIAL = 0x0101
_CHALLENGE_LENGTHS = (4, 8, 16)
_UNBOUNDED_NE = (256, 65536)  # Le = 00 / 0000: "as many bytes as available"


@dataclass(frozen=True)
class Instruction:
    """An INS table entry. ``proprietary_only``: only with CLA 8X (e.g. WRITE KEY 80 D4);
    ``secure_messaging``: the command accepts an SM CLA (04/0C/84/8C)."""

    handler: Handler
    proprietary_only: bool = False
    secure_messaging: bool = False


def _sw_tries(tries: int) -> SwError:
    return SwError(0x63C0 | min(tries, 15))


# -- helpers: files and rights ---------------------------------------------------------------


def _fs(card: CardOS) -> FileSystem:
    return card.image.fs


def _require_header(card: CardOS, path: Path) -> FileHeader:
    header = _fs(card).header(path)
    if header is None:
        raise SwError(SW_FILE_NOT_FOUND)
    return header


def _ef_by_sfi(card: CardOS, sfi: int) -> tuple[Path, FileHeader]:
    """Select the EF with short identifier *sfi* in the current DF (it becomes current)."""
    if not 1 <= sfi <= 30:
        raise SwError(SW_WRONG_P1P2)
    for path, header in _fs(card).children(card.state.current_df):
        if header.sfi == sfi and header.structure is not FileStructure.DF:
            if card.state.current_ef != path:
                card.state.select_ef(path)
            return path, header
    raise SwError(SW_FILE_NOT_FOUND)


def _current_ef(card: CardOS) -> tuple[Path, FileHeader]:
    if card.state.current_ef is None:
        raise SwError(SW_NO_CURRENT_EF)
    return card.state.current_ef, _require_header(card, card.state.current_ef)


def _check(card: CardOS, rule: AccessRule, *, sm: bool = False) -> None:
    """Access rule check: NEVER, missing authentication or missing SM → 6982."""
    if rule.never or (rule.key is not None and rule.key not in card.state.granted):
        raise SwError(SW_SECURITY)
    if rule.sm is not SmMode.NONE and not sm:
        raise SwError(SW_SECURITY)


def _operational_ancestor(card: CardOS, path: Path, header: FileHeader) -> FileHeader | None:
    """``None`` when the file and all its ancestors are operational; otherwise the nearest
    operational ancestor DF, whose rights stand in while the file is personalised (:mod:`._fs`)."""
    fs = _fs(card)
    chain = [fs.header(path[:depth]) for depth in range(len(path) - 1, 0, -1)]
    if header.lifecycle is Lifecycle.OPERATIONAL and all(
        ancestor is not None and ancestor.lifecycle is Lifecycle.OPERATIONAL for ancestor in chain
    ):
        return None
    for ancestor in chain:
        if ancestor is not None and ancestor.lifecycle is Lifecycle.OPERATIONAL:
            return ancestor
    # An MF in initialisation has no stand-in: the MF's own create / write-key rights apply.
    mf = chain[-1] if chain else header
    return mf if mf is not None else header


def _rule(card: CardOS, path: Path, header: FileHeader, operation: str) -> AccessRule:
    """The access rule in force for *operation* on the file at *path* (its own, or the stand-in
    ancestor's ``create`` right — ``write_key`` for WRITE KEY — while it is personalised)."""
    stand_in = _operational_ancestor(card, path, header)
    if stand_in is None:
        return header.rule(operation)
    return stand_in.rule("write_key" if operation == "write_key" else "create")


def _find_key(card: CardOS, ref: int) -> tuple[Path, KeyRecord] | None:
    """Key lookup: the current DF; for a global reference (b8 = 0) also its ancestors up to the MF."""
    df = card.state.current_df
    while df:
        record = _fs(card).key(df, ref)
        if record is not None:
            return df, record
        if ref & 0x80:
            return None
        df = df[:-1]
    return None


def _key_for(card: CardOS, ref: int, usage: KeyUsage) -> tuple[Path, KeyRecord]:
    if ref in (0x00, 0xFF):
        raise SwError(SW_WRONG_P1P2)
    found = _find_key(card, ref)
    if found is None or found[1].usage is not usage:
        raise SwError(SW_REFERENCE_NOT_FOUND)
    return found


def _data(card: CardOS, command: Command, rule: AccessRule) -> bytes:
    """The command's plain data: unwrapped from secure messaging when the CLA says SM."""
    if not command.secure_messaging:
        return command.data
    stk = _stk(card, rule.stk)
    mode = rule.sm if rule.sm is not SmMode.NONE else SmMode.MAC
    # The challenge is single-use: an SM command consumes it whether or not the MAC is right.
    return unwrap_sm(command.mac_header, command.data, stk, card.state.take_challenge(), mode)


def _stk(card: CardOS, ref: int) -> KeyRecord:
    if ref:
        found = _find_key(card, ref)
        if found is not None and found[1].usage is KeyUsage.SECURE_MESSAGING:
            return found[1]
        raise SwError(SW_SM_NOT_SUPPORTED)
    for _, record in sorted(_fs(card).keys(card.state.current_df), key=lambda item: item[0]):
        if record.usage is KeyUsage.SECURE_MESSAGING:
            return record
    raise SwError(SW_SM_NOT_SUPPORTED)


def _try_secret(card: CardOS, df: Path, ref: int, record: KeyRecord, check: Callable[[], bool]) -> None:
    """Retry-counter discipline: decrement and persist BEFORE comparing (a card pulled right after
    a wrong value must still have lost the try), restore on success."""
    fs = _fs(card)
    tries = fs.tries_left(df, ref)
    if tries == 0:
        raise SwError(SW_AUTH_BLOCKED)
    counter = FileSystem.counter_area(df, ref)
    card.image.nvm.commit({counter: bytes([tries - 1])})
    if not check():
        card.state.granted.discard(ref)  # a failed attempt also ends an earlier success
        raise _sw_tries(tries - 1)
    card.image.nvm.commit({counter: bytes([record.max_tries])})
    card.state.granted.add(ref)


# -- SELECT ---------------------------------------------------------------------------------


def _fid(data: bytes) -> int:
    if len(data) != 2:
        raise SwError(SW_WRONG_LENGTH)
    return int.from_bytes(data, "big")


def _child(card: CardOS, df: Path, fid: int, structure: FileStructure | None = None) -> Path | None:
    for path, header in _fs(card).children(df):
        if header.fid == fid and (
            structure is None or (header.structure is FileStructure.DF) == (structure is FileStructure.DF)
        ):
            return path
    return None


def _select_by_fid(card: CardOS, fid: int) -> Path:
    """P1=00 search rule: 3F00 is the MF from anywhere; otherwise (1) a child of the current DF,
    (2) the current DF itself, (3) its parent DF, (4) a child of the parent (a sibling)."""
    if fid == MF_FID:
        return (MF_FID,)
    df = card.state.current_df
    found = _child(card, df, fid)
    if found is not None:
        return found
    if df[-1] == fid:
        return df
    if len(df) > 1:
        parent = df[:-1]
        if parent[-1] == fid:
            return parent
        found = _child(card, parent, fid)
        if found is not None:
            return found
    raise SwError(SW_FILE_NOT_FOUND)


def _select_by_name(card: CardOS, name: bytes, next_occurrence: bool) -> Path:
    """DF name (partial = prefix match), first or next occurrence in depth-first creation order."""
    if not 1 <= len(name) <= 16:
        raise SwError(SW_WRONG_LENGTH)
    matches = [
        path
        for path, header in _fs(card).walk()
        if header.structure is FileStructure.DF and header.name and header.name.startswith(name)
    ]
    if not next_occurrence:
        if not matches:
            raise SwError(SW_FILE_NOT_FOUND)
        return matches[0]
    current = card.state.current_df
    if current not in matches:
        if not matches:
            raise SwError(SW_FILE_NOT_FOUND)
        return matches[0]
    index = matches.index(current) + 1
    if index >= len(matches):
        raise SwError(SW_FILE_NOT_FOUND)
    return matches[index]


def _select_by_path(card: CardOS, data: bytes, start: Path) -> Path:
    if not data or len(data) % 2:
        raise SwError(SW_WRONG_LENGTH)
    fids = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if start == (MF_FID,) and fids[0] == MF_FID:
        fids = fids[1:]
    path = start
    for fid in fids:
        header = _fs(card).header(path)
        if header is None or header.structure is not FileStructure.DF:
            raise SwError(SW_FILE_NOT_FOUND)
        child = _child(card, path, fid)
        if child is None:
            raise SwError(SW_FILE_NOT_FOUND)
        path = child
    return path


def _fci(path: Path, header: FileHeader) -> bytes:
    """SELECT answer with P2=00: DFs give ``6F`` with ``84`` name (``83`` FID if unnamed) and an
    empty ``A5``, like the health card (``6F 10 84 0C 'WS.SYS.DDF01' A5 00``); EFs give nothing."""
    if header.structure is not FileStructure.DF:
        return b""
    if header.name:
        ident = encode_ber_tlv(0x84, header.name)
    else:
        ident = encode_ber_tlv(0x83, path[-1].to_bytes(2, "big"))
    return encode_ber_tlv(0x6F, ident + encode_ber_tlv(0xA5, b""))


def select(card: CardOS, command: Command) -> bytes:
    """SELECT (ISO/IEC 7816-4 §11.2.2). P1: 00 FID, 01 child DF, 02 child EF, 03 parent, 04 DF
    name, 08 path from MF, 09 path from current DF. P2: 00 FCI, 04 FCP, 0C no data; b2-b1 00 first,
    10 next occurrence (by name). FMD (08) is not supported (6A86)."""
    p1, p2, data = command.p1, command.p2, command.data
    answer, occurrence = p2 & 0x0C, p2 & 0x03
    if p2 & 0xF0 or answer == 0x08 or occurrence not in (0x00, 0x02) or (occurrence and p1 != 0x04):
        raise SwError(SW_WRONG_P1P2)
    state = card.state
    if p1 == 0x00:
        path = (MF_FID,) if not data else _select_by_fid(card, _fid(data))
    elif p1 in (0x01, 0x02):
        wanted = FileStructure.DF if p1 == 0x01 else FileStructure.TRANSPARENT
        found = _child(card, state.current_df, _fid(data), wanted)
        if found is None:
            raise SwError(SW_FILE_NOT_FOUND)
        path = found
    elif p1 == 0x03:
        if data:
            raise SwError(SW_WRONG_LENGTH)
        if len(state.current_df) == 1:
            raise SwError(SW_FILE_NOT_FOUND)
        path = state.current_df[:-1]
    elif p1 == 0x04:
        path = _select_by_name(card, data, occurrence == 0x02)
    elif p1 == 0x08:
        path = _select_by_path(card, data, (MF_FID,))
    elif p1 == 0x09:
        path = _select_by_path(card, data, state.current_df)
    else:
        raise SwError(SW_WRONG_P1P2)
    header = _require_header(card, path)
    if header.structure is FileStructure.DF:
        state.enter_df(path)
    else:
        state.select_ef(path)
    if answer == 0x0C:
        return b""
    return header.encode() if answer == 0x04 else _fci(path, header)


# -- transparent EFs ------------------------------------------------------------------------


def _binary_target(card: CardOS, command: Command) -> tuple[Path, FileHeader, int]:
    """Offset form (P1 b8 = 0: 15-bit offset) or SFI form (P1 = 100 SFI, P2 = offset)."""
    if command.p1 & 0x80:
        if command.p1 & 0x60:
            raise SwError(SW_WRONG_P1P2)
        path, header = _ef_by_sfi(card, command.p1 & 0x1F)
        offset = command.p2
    else:
        path, header = _current_ef(card)
        offset = (command.p1 << 8) | command.p2
    if header.structure is not FileStructure.TRANSPARENT:
        raise SwError(SW_INCOMPATIBLE_FILE)
    return path, header, offset


def read_binary(card: CardOS, command: Command) -> bytes:
    """READ BINARY (§11.3.3). Short file with an explicit Le → data ‖ 6282."""
    path, header, offset = _binary_target(card, command)
    _check(card, _rule(card, path, header, "read"))
    if command.ne is None or command.data:
        raise SwError(SW_WRONG_LENGTH)
    if offset >= header.size:
        raise SwError(SW_WRONG_OFFSET)
    content = card.image.nvm.get(FileSystem.data_area(path)) or b""
    data = content[offset : offset + command.ne]
    if len(data) < command.ne and command.ne not in _UNBOUNDED_NE:
        raise SwError(SW_END_OF_FILE, data)
    return data


def update_binary(card: CardOS, command: Command) -> bytes:
    """UPDATE BINARY (§11.3.5), plain or with secure messaging."""
    path, header, offset = _binary_target(card, command)
    rule = _rule(card, path, header, "update")
    _check(card, rule, sm=command.secure_messaging)
    data = _data(card, command, rule)
    if not data:
        raise SwError(SW_WRONG_LENGTH)
    if offset >= header.size:
        raise SwError(SW_WRONG_OFFSET)
    if offset + len(data) > header.size:
        raise SwError(SW_WRONG_LENGTH)
    area = FileSystem.data_area(path)
    content = card.image.nvm.get(area) or bytes(header.size)
    card.image.nvm.commit({area: content[:offset] + data + content[offset + len(data) :]})
    return b""


# -- record EFs -----------------------------------------------------------------------------


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


# -- security -------------------------------------------------------------------------------


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


# -- data objects, personalisation, GET RESPONSE ------------------------------------------------


def get_data(card: CardOS, command: Command) -> bytes:
    """GET DATA (§11.4.3). P1-P2 0101: the 8-byte card serial (= the ATR's last 8 historical bytes)."""
    if command.data:
        raise SwError(SW_WRONG_LENGTH)
    if (command.p1 << 8 | command.p2) != GET_DATA_SERIAL:
        raise SwError(SW_REFERENCE_NOT_FOUND)
    return card.serial


def create_file(card: CardOS, command: Command) -> bytes:
    """CREATE FILE (ISO/IEC 7816-9 §6.1; CLA 00 or 80): data = the ``62`` template of
    :mod:`._fs`; needs the current DF's create right. The new file becomes current."""
    if command.p1 or command.p2:
        raise SwError(SW_WRONG_P1P2)
    state = card.state
    df_header = _require_header(card, state.current_df)
    create = _rule(card, state.current_df, df_header, "create")
    _check(card, create, sm=command.secure_messaging)
    header = FileHeader.decode(_data(card, command, create))
    fs = _fs(card)
    if header.fid == MF_FID:
        raise SwError(SW_WRONG_DATA)
    if header.fid == state.current_df[-1]:
        raise SwError(SW_FILE_EXISTS)
    for _, sibling in fs.children(state.current_df):
        if sibling.fid == header.fid or (header.sfi is not None and sibling.sfi == header.sfi):
            raise SwError(SW_FILE_EXISTS)
    if header.name and any(existing.name == header.name for _, existing in fs.walk()):
        raise SwError(SW_DF_NAME_EXISTS)
    path = (*state.current_df, header.fid)
    card.image.nvm.commit(new_file_areas(path, header))
    if header.structure is FileStructure.DF:
        state.enter_df(path)
    else:
        state.select_ef(path)
    return b""


def write_key(card: CardOS, command: Command) -> bytes:
    """WRITE KEY (80 D4 00 <ref>): install or replace a key/PIN record of the current DF (format in
    :mod:`._fs`). Needs the DF's write-key right, except while the DF has no key at all."""
    if command.p1 or command.p2 in (0x00, 0xFF):
        raise SwError(SW_WRONG_P1P2)
    state = card.state
    df_header = _require_header(card, state.current_df)
    rule = _rule(card, state.current_df, df_header, "write_key")
    # An empty DF takes its first key freely (initial key loading) unless it is being personalised:
    # then the issuer's write-key right applies, so key values can be required to travel encrypted.
    personalising = _operational_ancestor(card, state.current_df, df_header) is not None
    if personalising or any(True for _ in _fs(card).keys(state.current_df)):
        _check(card, rule, sm=command.secure_messaging)
    record = KeyRecord.decode(_data(card, command, rule))
    card.image.nvm.commit(
        {
            FileSystem.key_area(state.current_df, command.p2): record.encode(),
            FileSystem.counter_area(state.current_df, command.p2): bytes([record.max_tries]),
        }
    )
    return b""


def activate_file(card: CardOS, command: Command) -> bytes:
    """ACTIVATE FILE (ISO/IEC 7816-9 §6.4; P1-P2 00 00, no data): the current EF, else the current
    DF with everything below it, leaves the initialisation state for good. Needs the right that
    stands in while the file is being personalised; an operational file answers 9000 unchanged."""
    if command.p1 or command.p2:
        raise SwError(SW_WRONG_P1P2)
    if command.data:
        raise SwError(SW_WRONG_LENGTH)
    state = card.state
    path = state.current_ef or state.current_df
    header = _require_header(card, path)
    targets = list(_fs(card).walk(path)) if header.structure is FileStructure.DF else [(path, header)]
    changes: dict[str, bytes | None] = {
        FileSystem.header_area(target): dataclasses.replace(h, lifecycle=Lifecycle.OPERATIONAL).encode()
        for target, h in targets
        if h.lifecycle is not Lifecycle.OPERATIONAL
    }
    if not changes:
        return b""  # nothing in the initialisation state: idempotent, nothing to protect
    _check(card, _rule(card, path, header, "create" if header.structure is FileStructure.DF else "update"))
    card.image.nvm.commit(changes)
    return b""


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
