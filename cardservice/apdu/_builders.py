"""Builders for the interindustry commands of ISO/IEC 7816-4 (2013 edition clause numbers).

Each returns a :class:`CommandApdu` with CLA ``00``; use :meth:`CommandApdu.with_cla_sm` or
``dataclasses.replace(cmd, cla=...)`` for other classes. Bad parameters raise :class:`CodecError`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from cardservice.apdu._command import CommandApdu
from cardservice.errors import CodecError

__all__ = [
    "MF_FID",
    "Occurrence",
    "RecordMode",
    "SelectResponse",
    "append_record",
    "change_reference_data",
    "external_authenticate",
    "get_challenge",
    "get_data",
    "get_response",
    "internal_authenticate",
    "read_binary",
    "read_record",
    "select_by_fid",
    "select_by_name",
    "select_by_path",
    "select_mf",
    "select_parent",
    "update_binary",
    "update_record",
    "verify",
]

MF_FID = 0x3F00

_SHORT_NE = 256


class SelectResponse(enum.IntEnum):
    """SELECT P2 b4-b3: what the card returns (ISO/IEC 7816-4 §11.2.2, Table 63)."""

    FCI = 0x00  # file control information template '6F'
    FCP = 0x04  # file control parameters template '62'
    FMD = 0x08  # file management data template '64'
    NONE = 0x0C  # no response data


class Occurrence(enum.IntEnum):
    """SELECT P2 b2-b1 for selection by DF name (ISO/IEC 7816-4 §11.2.2, Table 63)."""

    FIRST = 0x00
    LAST = 0x01
    NEXT = 0x02
    PREVIOUS = 0x03


class RecordMode(enum.IntEnum):
    """READ/UPDATE RECORD P2 b3-b1 (ISO/IEC 7816-4 §11.4.2, Table 70).

    The ``ID_*`` modes read by record identifier in P1 (on the health card's SIMPLE-TLV record
    files the identifier is the first byte of the record, i.e. the data-item tag: ``00 B2 39 00 05``).
    ``NUMBER`` reads record P1; ``FROM_NUMBER`` all records from P1 to the last;
    ``UP_TO_NUMBER`` all records from the last up to P1.
    """

    ID_FIRST = 0b000
    ID_LAST = 0b001
    ID_NEXT = 0b010
    ID_PREVIOUS = 0b011
    NUMBER = 0b100
    FROM_NUMBER = 0b101
    UP_TO_NUMBER = 0b110


_BY_NUMBER = frozenset({RecordMode.NUMBER, RecordMode.FROM_NUMBER, RecordMode.UP_TO_NUMBER})


# -- validation helpers ---------------------------------------------------------------------------


def _int_in(name: str, value: int, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise CodecError(f"{name} must be an integer {low}..{high}, got {value!r}")
    return value


def _sfi(sfi: int | None) -> int:
    """Short EF identifier 1..30 (ISO/IEC 7816-4 §7.2.2); ``None`` = current EF -> 0."""
    return 0 if sfi is None else _int_in("SFI", sfi, 1, 30)


def _ne(ne: int) -> int:
    return _int_in("Ne", ne, 1, 65536)


def _nonempty(name: str, data: bytes) -> bytes:
    data = bytes(data)
    if not data:
        raise CodecError(f"{name} must not be empty")
    if len(data) > 65535:
        raise CodecError(f"{name} too long: {len(data)} bytes")
    return data


def _fid_bytes(fid: int | bytes) -> bytes:
    if isinstance(fid, int) and not isinstance(fid, bool):
        return _int_in("file identifier", fid, 0, 0xFFFF).to_bytes(2, "big")
    if isinstance(fid, bytes | bytearray) and len(fid) == 2:
        return bytes(fid)
    raise CodecError(f"file identifier must be an int 0..FFFF or 2 bytes, got {fid!r}")


# -- SELECT (§11.2.2) -----------------------------------------------------------------------------


def _select(
    p1: int, data: bytes, response: SelectResponse, occurrence: Occurrence, ne: int | None
) -> CommandApdu:
    response = SelectResponse(response)
    if response is SelectResponse.NONE and ne is not None:
        raise CodecError("SELECT with P2=0C (no response data) cannot expect response bytes")
    p2 = response | Occurrence(occurrence)
    return CommandApdu(0x00, 0xA4, p1, p2, data, None if ne is None else _ne(ne))


def select_by_fid(
    fid: int | bytes, *, p2: SelectResponse = SelectResponse.FCI, ne: int | None = None
) -> CommandApdu:
    """SELECT by file identifier, P1=00 (ISO/IEC 7816-4 §11.2.2): MF, DF or EF by its 2-byte FID.

    Without ``ne`` this is case 3, exactly as the health card is addressed (``00 A4 00 00 02 DD F1``);
    a T=0 card then hands the FCI out through ``61xx`` / GET RESPONSE, which :func:`transceive` does.
    """
    return _select(0x00, _fid_bytes(fid), p2, Occurrence.FIRST, ne)


def select_mf(*, p2: SelectResponse = SelectResponse.FCI, ne: int | None = None) -> CommandApdu:
    """SELECT the MF by its reserved FID 3F00 (ISO/IEC 7816-4 §7.1.1, §11.2.2)."""
    return select_by_fid(MF_FID, p2=p2, ne=ne)


def select_parent(*, p2: SelectResponse = SelectResponse.FCI, ne: int | None = None) -> CommandApdu:
    """SELECT the parent DF of the current DF, P1=03, no data (ISO/IEC 7816-4 §11.2.2, Table 62)."""
    return _select(0x03, b"", p2, Occurrence.FIRST, ne)


def select_by_name(
    aid: bytes,
    *,
    occurrence: Occurrence = Occurrence.FIRST,
    fci: bool = True,
    ne: int | None = None,
) -> CommandApdu:
    """SELECT by DF name (AID), P1=04 (ISO/IEC 7816-4 §11.2.2): ``00 A4 04 00 Lc <name> 00``.

    ``fci=True`` asks for the FCI (P2 b4-b3 = 00) with Le=00 unless ``ne`` says otherwise;
    ``fci=False`` asks for no response data (P2 b4-b3 = 11, case 3). ``occurrence`` selects the
    first / last / next / previous DF whose name starts with ``aid`` (partial names, §7.1.1).
    """
    aid = bytes(aid)
    _int_in("DF name length", len(aid), 1, 16)
    if fci:
        return _select(0x04, aid, SelectResponse.FCI, occurrence, _SHORT_NE if ne is None else ne)
    return _select(0x04, aid, SelectResponse.NONE, occurrence, ne)


def select_by_path(
    path: bytes | Iterable[int],
    *,
    from_mf: bool = True,
    p2: SelectResponse = SelectResponse.FCI,
    ne: int | None = None,
) -> CommandApdu:
    """SELECT by path, P1=08 from the MF or P1=09 from the current DF (ISO/IEC 7816-4 §11.2.2).

    ``path`` is a byte string of concatenated FIDs or a sequence of 2-byte FIDs as ints. The standard
    path from the MF omits 3F00; a leading 3F00 given with ``from_mf=True`` is therefore dropped.
    """
    raw = bytes(path) if isinstance(path, bytes | bytearray) else b"".join(_fid_bytes(fid) for fid in path)
    if from_mf and raw[:2] == b"\x3f\x00":
        raw = raw[2:]
    if not raw or len(raw) % 2:
        raise CodecError(f"path must be a non-empty sequence of 2-byte FIDs, got {len(raw)} bytes")
    if len(raw) > 255:
        raise CodecError("path too long")
    return _select(0x08 if from_mf else 0x09, raw, p2, Occurrence.FIRST, ne)


# -- READ / UPDATE BINARY (§11.3.3, §11.3.5) -------------------------------------------------------


def _binary_p1p2(offset: int, sfi: int | None) -> tuple[int, int]:
    """P1-P2 of a binary command: 15-bit offset, or P1 = 100 b5..b1 (SFI) with an 8-bit offset."""
    if sfi is None:
        _int_in("offset", offset, 0, 0x7FFF)
        return offset >> 8, offset & 0xFF
    return 0x80 | _sfi(sfi), _int_in("offset (with SFI)", offset, 0, 0xFF)


def read_binary(offset: int = 0, ne: int = _SHORT_NE, sfi: int | None = None) -> CommandApdu:
    """READ BINARY, INS B0 (ISO/IEC 7816-4 §11.3.3).

    Without ``sfi`` P1-P2 is a 15-bit offset into the current EF; with ``sfi`` (1..30) P1 = 80|SFI
    selects the EF implicitly and P2 is an 8-bit offset. ``ne=256`` is coded Le=00.
    """
    p1, p2 = _binary_p1p2(offset, sfi)
    return CommandApdu(0x00, 0xB0, p1, p2, ne=_ne(ne))


def update_binary(offset: int, data: bytes, sfi: int | None = None) -> CommandApdu:
    """UPDATE BINARY, INS D6 (ISO/IEC 7816-4 §11.3.5); P1-P2 as :func:`read_binary`."""
    p1, p2 = _binary_p1p2(offset, sfi)
    return CommandApdu(0x00, 0xD6, p1, p2, _nonempty("UPDATE BINARY data", data))


# -- records (§11.4) ------------------------------------------------------------------------------


def _record_p1(number: int, mode: RecordMode) -> int:
    if mode in _BY_NUMBER:
        # P1=00 would mean "the current record" and FF is RFU; the health card only uses 1..n.
        return _int_in("record number", number, 1, 0xFE)
    return _int_in("record identifier", number, 0, 0xFF)


def read_record(
    number: int, *, sfi: int | None = None, ne: int = _SHORT_NE, mode: RecordMode = RecordMode.NUMBER
) -> CommandApdu:
    """READ RECORD(S), INS B2 (ISO/IEC 7816-4 §11.4.3).

    P1 is the record number or record identifier (per ``mode``); P2 = SFI (b8-b4, 0 = current EF)
    | mode (b3-b1). The health card: ``read_record(1)`` = ``00 B2 01 04 00``;
    ``read_record(0x39, mode=RecordMode.ID_FIRST, ne=5)`` = ``00 B2 39 00 05``.
    """
    mode = RecordMode(mode)
    return CommandApdu(0x00, 0xB2, _record_p1(number, mode), _sfi(sfi) << 3 | mode, ne=_ne(ne))


def update_record(
    number: int, data: bytes, *, sfi: int | None = None, mode: RecordMode = RecordMode.NUMBER
) -> CommandApdu:
    """UPDATE RECORD, INS DC (ISO/IEC 7816-4 §11.4.5). Multi-record modes are not allowed here."""
    mode = RecordMode(mode)
    if mode in (RecordMode.FROM_NUMBER, RecordMode.UP_TO_NUMBER):
        raise CodecError(f"UPDATE RECORD does not take the multi-record mode {mode.name}")
    return CommandApdu(0x00, 0xDC, _record_p1(number, mode), _sfi(sfi) << 3 | mode, _nonempty("record", data))


def append_record(data: bytes, sfi: int | None = None) -> CommandApdu:
    """APPEND RECORD, INS E2 (ISO/IEC 7816-4 §11.4.6): P1=00, P2 = SFI (b8-b4) | 000.

    On a cyclic EF the new record becomes record 1 and the oldest falls off.
    """
    return CommandApdu(0x00, 0xE2, 0x00, _sfi(sfi) << 3, _nonempty("record", data))


# -- security (§11.5) -----------------------------------------------------------------------------


def verify(pin: bytes | None, ref: int) -> CommandApdu:
    """VERIFY, INS 20 (ISO/IEC 7816-4 §11.5.6): P1=00, P2 = reference data qualifier.

    ``pin=None`` sends no data (case 1): the card answers ``63Cx`` (tries left) or ``9000``
    (already verified) without spending a try.
    """
    _int_in("reference", ref, 0, 0xFF)
    if pin is None:
        return CommandApdu(0x00, 0x20, 0x00, ref)
    pin = bytes(pin)
    _int_in("PIN length", len(pin), 1, 255)
    return CommandApdu(0x00, 0x20, 0x00, ref, pin)


def change_reference_data(old: bytes | None, new: bytes, ref: int) -> CommandApdu:
    """CHANGE REFERENCE DATA, INS 24 (ISO/IEC 7816-4 §11.5.7).

    P1=00 with data = old || new; ``old=None`` gives P1=01 with the new reference data only.
    """
    _int_in("reference", ref, 0, 0xFF)
    new = bytes(new)
    _int_in("new reference data length", len(new), 1, 255)
    if old is None:
        return CommandApdu(0x00, 0x24, 0x01, ref, new)
    old = bytes(old)
    _int_in("old reference data length", len(old), 1, 255)
    return CommandApdu(0x00, 0x24, 0x00, ref, _nonempty("reference data", old + new))


def get_challenge(n: int = 8) -> CommandApdu:
    """GET CHALLENGE, INS 84 (ISO/IEC 7816-4 §11.5.3): ``00 84 00 00 08`` for the health card."""
    return CommandApdu(0x00, 0x84, 0x00, 0x00, ne=_int_in("challenge length", n, 1, 256))


def external_authenticate(data: bytes, key_ref: int, algorithm: int = 0) -> CommandApdu:
    """EXTERNAL AUTHENTICATE, INS 82 (ISO/IEC 7816-4 §11.5.4): P1 = algorithm, P2 = key reference.

    The health card: ``00 82 00 84 11 <cryptogram(8) || terminal data(8) || 01>``.
    """
    _int_in("algorithm", algorithm, 0, 0xFF)
    _int_in("key reference", key_ref, 0, 0xFF)
    return CommandApdu(0x00, 0x82, algorithm, key_ref, _nonempty("authentication data", data))


def internal_authenticate(data: bytes, key_ref: int, ne: int = _SHORT_NE, algorithm: int = 0) -> CommandApdu:
    """INTERNAL AUTHENTICATE, INS 88 (ISO/IEC 7816-4 §11.5.2): P1 = algorithm, P2 = key reference."""
    _int_in("algorithm", algorithm, 0, 0xFF)
    _int_in("key reference", key_ref, 0, 0xFF)
    return CommandApdu(0x00, 0x88, algorithm, key_ref, _nonempty("authentication data", data), _ne(ne))


# -- transmission and data objects (§11.6, §11.7) ---------------------------------------------------


def get_response(ne: int, *, cla: int = 0x00) -> CommandApdu:
    """GET RESPONSE, INS C0 (ISO/IEC 7816-4 §11.7.1): ``00 C0 00 00 Le``."""
    return CommandApdu(cla, 0xC0, 0x00, 0x00, ne=_ne(ne))


def get_data(tag: int, ne: int = _SHORT_NE) -> CommandApdu:
    """GET DATA, INS CA (ISO/IEC 7816-4 §11.6.1): P1-P2 = tag (a 1-byte tag goes to P2 with P1=00)."""
    _int_in("tag", tag, 0, 0xFFFF)
    return CommandApdu(0x00, 0xCA, tag >> 8, tag & 0xFF, ne=_ne(ne))
