"""Personalisation commands: CREATE FILE and ACTIVATE FILE (ISO/IEC 7816-9) and the proprietary
WRITE KEY (80 D4). While a file is being personalised the rights of its nearest operational
ancestor stand in (:func:`._cmd_common._rule`). Handlers as described in :mod:`._commands`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from simulators.cardos._cmd_common import _check, _data, _fs, _operational_ancestor, _require_header, _rule
from simulators.cardos._fs import (
    MF_FID,
    FileHeader,
    FileStructure,
    FileSystem,
    KeyRecord,
    Lifecycle,
    new_file_areas,
)
from simulators.cardos._state import Command
from simulators.cardos._sw import (
    SW_DF_NAME_EXISTS,
    SW_FILE_EXISTS,
    SW_WRONG_DATA,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
    SwError,
)

if TYPE_CHECKING:
    from simulators.cardos._os import CardOS

__all__ = ["activate_file", "create_file", "write_key"]


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
