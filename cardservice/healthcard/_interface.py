"""The vendor interface functions of 《居民健康卡应用接口技术规范》 (fact sheet §6) and the files they touch.

HIS developers know the data items by the parameter names of these functions (``iR_DDF1EF06Info(handle,
XM, XB, MZ, CSRQ, SFZH)``), which are the national abbreviations. Section numbers come from source H and
are only known for the first two functions; the others are left ``""``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cardservice.errors import CodecError

__all__ = ["INTERFACE_FUNCTIONS", "InterfaceFunction", "Operation", "interface_function"]


class Operation(StrEnum):
    READ = "read"
    WRITE = "write"
    APPEND = "append"  # cyclic files: the new entry becomes record 1
    ERASE = "erase"  # DF03 index: set the slot flag to FF


@dataclass(frozen=True)
class InterfaceFunction:
    name: str
    file: str  # CardFile path; "DDF1/DF03/EE0n" / "ED0n" stand for the slot chosen by recNo
    operation: Operation
    parameters: tuple[str, ...]  # abbreviations, in the function's order (handle omitted)
    section: str = ""
    note: str = ""


def _rw(suffix: str, file: str, params: str, section: str = "") -> tuple[InterfaceFunction, ...]:
    names = tuple(params.split())
    return (
        InterfaceFunction(f"iR_{suffix}Info", file, Operation.READ, names, section),
        InterfaceFunction(f"iW_{suffix}Info", file, Operation.WRITE, names, ""),
    )


INTERFACE_FUNCTIONS: tuple[InterfaceFunction, ...] = (
    *_rw("DDF1EF05", "DDF1/EF05", "KLB GFBB FKJGMC FKJGDM FKJGZS FKSJ KH AQM XPXLH YYCSDM", "6.2.1"),
    *_rw("DDF1EF06", "DDF1/EF06", "XM XB MZ CSRQ SFZH", "6.2.2"),
    *_rw("DDF1EF07", "DDF1/EF07", "ZHAOPIAN"),
    *_rw("DDF1EF08", "DDF1/EF08", "KYXQ BRDH1 BRDH2 YLFYZFFS1 YLFYZFFS2 YLFYZFFS3"),
    *_rw("DF01EF05", "DDF1/DF01/EF05", "DZLB1 DZ1 DZLB2 DZ2"),
    *_rw("DF01EF06", "DDF1/DF01/EF06", "LXRXM1 LXRGX1 LXRDH1 LXRXM2 LXRGX2 LXRDH2 LXRXM3 LXRGX3 LXRDH3"),
    *_rw("DF01EF07", "DDF1/DF01/EF07", "WHCD HYZK ZY"),
    *_rw("DF01EF08", "DDF1/DF01/EF08", "ZJLB ZJHM JKDAH XNHZH"),
    *_rw(
        "DF02EF05",
        "DDF1/DF02/EF05",
        "ABOXX RHXX XCBZ XZBBZ XNXGBBZ DXBBZ NXWLBZ TNBBZ QGYBZ TXBZ QGYZBZ QGQSBZ KZXYZBZ XZQBQBZ QTYXJSMC",
    ),
    *_rw("DF02EF06", "DDF1/DF02/EF06", "JSBBZ"),
    InterfaceFunction(
        "iR_DF02EF07Info", "DDF1/DF02/EF07", Operation.READ, ("GMWZMC", "GMFY"), note="takes recNo 1-3"
    ),
    InterfaceFunction("iW_DF02EF07Info", "DDF1/DF02/EF07", Operation.APPEND, ("GMWZMC", "GMFY")),
    InterfaceFunction(
        "iR_DF02EF08Info", "DDF1/DF02/EF08", Operation.READ, ("MYJZMC", "MYJZSJ"), note="takes recNo 1-10"
    ),
    InterfaceFunction("iW_DF02EF08Info", "DDF1/DF02/EF08", Operation.APPEND, ("MYJZMC", "MYJZSJ")),
    InterfaceFunction("iR_DF03EF05Info", "DDF1/DF03/EF05", Operation.READ, ("ZYJLBS1", "ZYJLBS2", "ZYJLBS3")),
    InterfaceFunction("iW_DF03EF05Info", "DDF1/DF03/EF05", Operation.WRITE, (), note="recNo: set flag to 00"),
    InterfaceFunction("iErase_DF03EF05Info", "DDF1/DF03/EF05", Operation.ERASE, (), note="recNo: set to FF"),
    InterfaceFunction(
        "iR_DF03EF06Info",
        "DDF1/DF03/EF06",
        Operation.READ,
        ("MZJLBS1", "MZJLBS2", "MZJLBS3", "MZJLBS4", "MZJLBS5"),
    ),
    InterfaceFunction("iW_DF03EF06Info", "DDF1/DF03/EF06", Operation.WRITE, (), note="recNo: set flag to 00"),
    InterfaceFunction("iErase_DF03EF06Info", "DDF1/DF03/EF06", Operation.ERASE, (), note="recNo: set to FF"),
    InterfaceFunction(
        "iR_DF03EEInfo",
        "DDF1/DF03/EE01",
        Operation.READ,
        (),
        note="recNo 1-3 selects EE01-EE03; pos/len are byte offsets of §3.1 (max 1639)",
    ),
    InterfaceFunction(
        "iW_DF03EEInfo",
        "DDF1/DF03/EE01",
        Operation.WRITE,
        (),
        note="recNo 1-3 selects EE01-EE03; pos/len are byte offsets of §3.1 (max 1639)",
    ),
    InterfaceFunction(
        "iR_DF03EDInfo",
        "DDF1/DF03/ED01",
        Operation.READ,
        (),
        note="recNo 1-5 selects ED01-ED05; pos/len are byte offsets of §3.2 (max 3013)",
    ),
    InterfaceFunction(
        "iW_DF03EDInfo",
        "DDF1/DF03/ED01",
        Operation.WRITE,
        (),
        note="recNo 1-5 selects ED01-ED05; pos/len are byte offsets of §3.2 (max 3013)",
    ),
)


def interface_function(name: str) -> InterfaceFunction:
    """Look up an interface function by name (case-insensitive)."""
    for function in INTERFACE_FUNCTIONS:
        if function.name.lower() == name.lower():
            return function
    raise CodecError(f"{name!r} is not a known health-card interface function")
