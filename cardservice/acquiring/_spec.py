"""The CUP-style POS field spec: ONE table of the fields this terminal and its acquirer use, from which the
pyiso8583 spec dict is derived.

Sources: [POS] 中国银联POS终端消息域说明 (2002, the facts sheet's A5 source, m.31ppt.com/p-2398641) for field
numbers, names and attributes; [0200] the decoded real sale of facts sheet A5 (codetd.com/article/5053461)
for the byte layout it shows (BCD lengths in one byte for LL and two for LLL; n fields packed BCD, lengths
counted in digits; binary and text lengths counted in bytes); [ours] where neither settles it.

=====  ===================================  =========  ===========================================  ======
field  name                                 attribute  wire layout                                  source
=====  ===================================  =========  ===========================================  ======
2      primary account number               n..19      LL BCD digits, BCD left-aligned, pad 0       0200
3      processing code                      n6         3 bytes BCD                                  0200
4      amount (fen)                         n12        6 bytes BCD                                  0200
11     system trace audit number (STAN)     n6         3 bytes BCD                                  0200
12     local time hhmmss (responses)        n6         3 bytes BCD                                  POS
13     local date MMDD (responses)          n4         2 bytes BCD                                  POS
14     card expiry YYMM                     n4         2 bytes BCD                                  0200
15     settlement date MMDD (responses)     n4         2 bytes BCD                                  POS
22     POS entry mode                       n3         2 bytes BCD left-aligned (``0510``)          0200
23     card sequence number                 n3         2 bytes BCD right-aligned (``0001``)         0200
25     POS condition code                   n2         1 byte BCD                                   0200
26     PIN capture code (max PIN length)    n2         1 byte BCD                                   0200
32     acquiring institution id             n..11      LL BCD digits, left-aligned, pad 0           POS
35     track 2 equivalent (``D`` = sep.)    z..37      LL BCD digits, left-aligned, pad 0           0200
37     retrieval reference number (RRN)     an12       12 ASCII                                     POS
38     authorisation code                   an6        6 ASCII                                      POS
39     response / reversal reason code      an2        2 ASCII                                      POS
41     terminal id                          ans8       8 ASCII                                      0200
42     merchant id                          ans15      15 ASCII                                     0200
44     additional response data             an..25     LL BCD bytes, ASCII                          POS
48     additional data (settlement totals)  n...322    LLL BCD digits, BCD left-aligned, pad 0      0200
49     currency code                        an3        3 ASCII (``156``)                            0200
52     PIN block (encrypted under the TPK)  b64        8 bytes                                      0200
53     security control information         n16        8 bytes BCD (``26`` + 14 zeros)              0200
54     additional amounts (balance)         an...020   LLL BCD bytes, ASCII                         POS
55     ICC data (BER-TLV)                   b...255    LLL BCD bytes, binary                        0200
59     private (acquirer-defined)           ans...999  LLL BCD bytes, ASCII                         0200
60     reserved private (60.1 type, 60.2    n...017    LLL BCD digits, BCD left-aligned, pad 0      0200
       batch, 60.3 network mgmt, 60.4
       terminal capability, 60.5 IC cond.)
61     original message (61.1 batch, 61.2   n...029    LLL BCD digits, BCD left-aligned, pad 0      POS
       STAN, 61.3 date MMDD)
62     reserved private (batch upload)      b...512    LLL BCD bytes, binary                        POS
63     reserved private (63.1 card org)     ans...163  LLL BCD bytes, ASCII                         POS
64     MAC                                  b64        8 bytes (ASCII hex, see ``_mac``)            0200
=====  ===================================  =========  ===========================================  ======

Field 90 (original data elements) is not used: CUP POS identifies an original by its own fields (a reversal
repeats the original's 11, 4, 2...; a refund names it in 37 and 61), so there is no secondary bitmap, and a
frame that sets bit 1 is refused. A frame naming any field outside this table is refused too: a field we
cannot size would shift every field after it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["FIELDS", "PYISO8583_SPEC", "FieldDef", "Kind", "field_def"]


class Kind(enum.Enum):
    """How a field's value is held in Python: digits (``str``), track 2 (digits and ``D``), text, bytes."""

    NUMERIC = "n"
    TRACK = "z"
    TEXT = "ans"
    BINARY = "b"


@dataclass(frozen=True)
class FieldDef:
    """One row of the table. ``prefix``: 0 fixed, 1 LL, 2 LLL (BCD bytes of the length prefix).
    ``size``: the fixed length or the maximum, in digits for numeric and track fields, else bytes.
    ``align``: where packed BCD digits sit when their count is odd ("left": pad 0 on the right)."""

    number: int
    name: str
    kind: Kind
    prefix: int
    size: int
    align: str = "left"
    sensitive: bool = False  # never shown in reprs or logs (2, 35, 52, 55)

    def pyiso8583(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "data_enc": "ascii" if self.kind is Kind.TEXT else "b",
            "len_enc": "bcd",
            "len_type": self.prefix,
            "max_len": self.size,
            "desc": self.name,
        }
        if self.kind in (Kind.NUMERIC, Kind.TRACK):
            spec["len_count"] = "nibbles"
            spec["right_pad" if self.align == "left" else "left_pad"] = "0"
        return spec


_N, _Z, _T, _B = Kind.NUMERIC, Kind.TRACK, Kind.TEXT, Kind.BINARY

FIELDS: Mapping[int, FieldDef] = MappingProxyType(
    {
        f.number: f
        for f in (
            FieldDef(2, "primary account number", _N, 1, 19, sensitive=True),
            FieldDef(3, "processing code", _N, 0, 6),
            FieldDef(4, "amount", _N, 0, 12),
            FieldDef(11, "STAN", _N, 0, 6),
            FieldDef(12, "local time", _N, 0, 6),
            FieldDef(13, "local date", _N, 0, 4),
            FieldDef(14, "expiry date", _N, 0, 4),
            FieldDef(15, "settlement date", _N, 0, 4),
            FieldDef(22, "POS entry mode", _N, 0, 3, "left"),
            FieldDef(23, "card sequence number", _N, 0, 3, "right"),
            FieldDef(25, "POS condition code", _N, 0, 2),
            FieldDef(26, "PIN capture code", _N, 0, 2),
            FieldDef(32, "acquiring institution id", _N, 1, 11),
            FieldDef(35, "track 2 equivalent", _Z, 1, 37, sensitive=True),
            FieldDef(37, "retrieval reference number", _T, 0, 12),
            FieldDef(38, "authorisation code", _T, 0, 6),
            FieldDef(39, "response code", _T, 0, 2),
            FieldDef(41, "terminal id", _T, 0, 8),
            FieldDef(42, "merchant id", _T, 0, 15),
            FieldDef(44, "additional response data", _T, 1, 25),
            FieldDef(48, "additional data", _N, 2, 322),
            FieldDef(49, "currency code", _T, 0, 3),
            FieldDef(52, "PIN block", _B, 0, 8, sensitive=True),
            FieldDef(53, "security control information", _N, 0, 16),
            FieldDef(54, "additional amounts", _T, 2, 20),
            FieldDef(55, "ICC data", _B, 2, 255, sensitive=True),
            FieldDef(59, "private data", _T, 2, 999),
            FieldDef(60, "reserved private (type, batch)", _N, 2, 17),
            FieldDef(61, "original message", _N, 2, 29),
            FieldDef(62, "reserved private", _B, 2, 512),
            FieldDef(63, "reserved private", _T, 2, 163),
            FieldDef(64, "MAC", _B, 0, 8),
        )
    }
)


def field_def(number: int) -> FieldDef | None:
    return FIELDS.get(number)


def _build() -> dict[str, dict[str, Any]]:
    spec: dict[str, dict[str, Any]] = {
        # TPDU and header are framed by us (they are not ISO 8583): no pyiso8583 header.
        "h": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 0, "desc": "none"},
        "t": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 2, "desc": "MTI, BCD"},
        "p": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 8, "desc": "primary bitmap"},
        "1": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 8, "desc": "secondary bitmap"},
    }
    for number, row in FIELDS.items():
        spec[str(number)] = row.pyiso8583()
    return spec


#: The spec dict handed to ``iso8583.encode`` / ``iso8583.decode``.
PYISO8583_SPEC: Mapping[str, Mapping[str, Any]] = MappingProxyType(_build())
