"""File-system commands: SELECT (ISO/IEC 7816-4 §11.2.2), READ BINARY and UPDATE BINARY (§11.3)
of transparent EFs. Handlers as described in :mod:`._commands`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cardservice.apdu import encode_ber_tlv
from simulators.cardos._cmd_common import _check, _current_ef, _data, _ef_by_sfi, _fs, _require_header, _rule
from simulators.cardos._fs import MF_FID, FileHeader, FileStructure, FileSystem, Path
from simulators.cardos._state import Command
from simulators.cardos._sw import (
    SW_END_OF_FILE,
    SW_FILE_NOT_FOUND,
    SW_INCOMPATIBLE_FILE,
    SW_WRONG_LENGTH,
    SW_WRONG_OFFSET,
    SW_WRONG_P1P2,
    SwError,
)

if TYPE_CHECKING:
    from simulators.cardos._os import CardOS

__all__ = ["read_binary", "select", "update_binary"]

_UNBOUNDED_NE = (256, 65536)  # Le = 00 / 0000: "as many bytes as available"


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
