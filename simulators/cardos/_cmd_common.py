"""Shared helpers of the command handlers: file lookup, the access rule in force, keys, secure
messaging and the retry-counter discipline. Each handler module (:mod:`._cmd_files`,
:mod:`._cmd_records`, :mod:`._cmd_security`, :mod:`._cmd_personalise`, :mod:`._cmd_data`) builds on
these; the INS table is :data:`._commands.STANDARD_INSTRUCTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from simulators.cardos._fs import (
    AccessRule,
    FileHeader,
    FileStructure,
    FileSystem,
    KeyRecord,
    KeyUsage,
    Lifecycle,
    Path,
    SmMode,
)
from simulators.cardos._security import unwrap_sm
from simulators.cardos._state import Command
from simulators.cardos._sw import (
    SW_AUTH_BLOCKED,
    SW_FILE_NOT_FOUND,
    SW_NO_CURRENT_EF,
    SW_REFERENCE_NOT_FOUND,
    SW_SECURITY,
    SW_SM_NOT_SUPPORTED,
    SW_WRONG_P1P2,
    SwError,
)

if TYPE_CHECKING:
    from simulators.cardos._os import CardOS

__all__ = [
    "_check",
    "_current_ef",
    "_data",
    "_ef_by_sfi",
    "_fs",
    "_key_for",
    "_operational_ancestor",
    "_require_header",
    "_rule",
    "_sw_tries",
    "_try_secret",
]


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
