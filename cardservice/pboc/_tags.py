"""The EMV/PBOC data dictionary: every data object the card and the terminal exchange, as one table.

Sources: EMV 4.3 Book 3 Annex A (the data element dictionary; JR/T 0025.5 Annex A repeats it for PBOC 3.0
debit/credit), JR/T 0025.13 (electronic cash, 电子现金), JR/T 0025.12 (qPBOC) and the UnionPay field 55
usage of JR/T 0055.2. Each row names its clause; rows the public sources leave unsure say so in ``note``.

All lookups (:func:`data_object`, :func:`tag_name`) derive from :data:`DATA_OBJECTS`, and so do the DOL
codecs (EMV 4.3 Book 3 §5.4): :func:`build_dol_data` pads and truncates each value by its format, which is
why the format column exists. :func:`mask_pan` is the one way a PAN may reach a log or a screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from cardservice.errors import CodecError

__all__ = [
    "DATA_OBJECTS",
    "DataFormat",
    "DataObject",
    "Source",
    "build_dol_data",
    "data_object",
    "dol_data_length",
    "mask_pan",
    "parse_dol",
    "parse_dol_data",
    "parse_tag_list",
    "tag_name",
]


class DataFormat(StrEnum):
    """Data element formats (EMV 4.3 Book 3 §4.3)."""

    A = "a"  # alphabetic
    AN = "an"  # alphanumeric
    ANS = "ans"  # alphanumeric and special (ISO 8859 common character set)
    B = "b"  # binary; also every template
    CN = "cn"  # compressed numeric: BCD, left-justified, trailing F
    N = "n"  # numeric: BCD, right-justified, leading 0


class Source(StrEnum):
    """Who supplies the value (Annex A's "source" column)."""

    ICC = "ICC"
    TERMINAL = "terminal"
    ISSUER = "issuer"


@dataclass(frozen=True)
class DataObject:
    """One data object. Lengths are in bytes; a certificate's real length is its key's (NCA, NI, NIC)."""

    tag: int
    abbreviation: str  # short name used in logs and tests
    name: str  # English, as in Annex A
    label: str  # Chinese, as in JR/T 0025
    format: DataFormat
    min_length: int
    max_length: int
    source: Source
    clause: str
    note: str = ""

    @property
    def constructed(self) -> bool:
        """A template (b6 of the first tag byte); a DOL entry for one gets zeros (Book 3 §5.4)."""
        return bool(self.tag >> (8 * ((self.tag.bit_length() - 1) // 8)) & 0x20)

    @property
    def display_name(self) -> str:
        return f"{self.tag:02X} {self.name}"


_B, _N, _CN, _AN, _ANS = DataFormat.B, DataFormat.N, DataFormat.CN, DataFormat.AN, DataFormat.ANS
_ICC, _TERM, _ISS = Source.ICC, Source.TERMINAL, Source.ISSUER
_EMV = "EMV 4.3 Book 3 Annex A"
_EC = "JR/T 0025.13"


# fmt: off
DATA_OBJECTS: tuple[DataObject, ...] = (
    # -- selection: PSE, FCI, directory records ------------------------------------------------------
    DataObject(0x4F, "AID", "Application Identifier (ADF Name)", "应用标识符", _B, 5, 16, _ICC, _EMV),
    DataObject(0x50, "LABEL", "Application Label", "应用标签", _ANS, 1, 16, _ICC, _EMV),
    DataObject(0x61, "APP-TEMPLATE", "Application Template", "应用模板", _B, 0, 252, _ICC, _EMV),
    DataObject(0x6F, "FCI", "File Control Information Template", "文件控制信息模板", _B, 0, 252, _ICC, _EMV),
    DataObject(0x84, "DF-NAME", "Dedicated File Name", "专用文件名称", _B, 5, 16, _ICC, _EMV),
    DataObject(0x87, "API", "Application Priority Indicator", "应用优先指示器", _B, 1, 1, _ICC, _EMV),
    DataObject(0x88, "SFI", "Short File Identifier", "短文件标识符", _B, 1, 1, _ICC, _EMV,
               note="SFI of the directory EF, 1-30"),
    DataObject(0x9F38, "PDOL", "Processing Options Data Object List", "处理选项数据对象列表", _B, 0, 252,
               _ICC, _EMV),
    DataObject(0x9F11, "ICTI", "Issuer Code Table Index", "发卡行代码表索引", _N, 1, 1, _ICC, _EMV),
    DataObject(0x9F12, "APN", "Application Preferred Name", "应用首选名称", _ANS, 1, 16, _ICC, _EMV),
    DataObject(0xA5, "FCI-PROP", "File Control Information Proprietary Template", "FCI专用模板", _B, 0, 252,
               _ICC, _EMV),
    DataObject(0xBF0C, "FCI-IDD", "File Control Information Issuer Discretionary Data", "FCI发卡行自定义数据",
               _B, 0, 222, _ICC, _EMV),
    DataObject(0x5F2D, "LANG", "Language Preference", "首选语言", _AN, 2, 8, _ICC, _EMV),
    DataObject(0x9F4D, "LOG-ENTRY", "Log Entry", "日志入口", _B, 2, 2, _ICC, _EMV),
    # -- GET PROCESSING OPTIONS -----------------------------------------------------------------------
    DataObject(0x83, "CMD-TEMPLATE", "Command Template", "命令模板", _B, 0, 252, _TERM, _EMV),
    DataObject(0x80, "RMTF1", "Response Message Template Format 1", "响应报文模板格式1", _B, 0, 252, _ICC,
               _EMV),
    DataObject(0x77, "RMTF2", "Response Message Template Format 2", "响应报文模板格式2", _B, 0, 252, _ICC,
               _EMV),
    DataObject(0x82, "AIP", "Application Interchange Profile", "应用交互特征", _B, 2, 2, _ICC, _EMV),
    DataObject(0x94, "AFL", "Application File Locator", "应用文件定位器", _B, 4, 252, _ICC, _EMV,
               note="4 bytes per entry: SFI<<3, first record, last record, records for ODA"),
    # -- application data (READ RECORD) ---------------------------------------------------------------
    DataObject(0x70, "RECORD", "READ RECORD Response Message Template", "读记录响应报文模板", _B, 0, 252,
               _ICC, _EMV),
    DataObject(0x57, "TRACK2", "Track 2 Equivalent Data", "二磁道等效数据", _B, 0, 19, _ICC, _EMV,
               note="PAN 'D' YYMM service code discretionary data, F-padded"),
    DataObject(0x5A, "PAN", "Application Primary Account Number", "应用主账号", _CN, 1, 10, _ICC, _EMV,
               note="up to 19 digits"),
    DataObject(0x5F20, "NAME", "Cardholder Name", "持卡人姓名", _ANS, 2, 26, _ICC, _EMV),
    DataObject(0x9F0B, "NAME-EXT", "Cardholder Name Extended", "持卡人姓名扩展", _ANS, 27, 45, _ICC, _EMV),
    DataObject(0x5F24, "EXPIRY", "Application Expiration Date", "应用失效日期", _N, 3, 3, _ICC, _EMV,
               note="YYMMDD"),
    DataObject(0x5F25, "EFFECTIVE", "Application Effective Date", "应用生效日期", _N, 3, 3, _ICC, _EMV,
               note="YYMMDD"),
    DataObject(0x5F28, "ISSUER-COUNTRY", "Issuer Country Code", "发卡行国家代码", _N, 2, 2, _ICC, _EMV,
               note="ISO 3166 numeric; 0156 China"),
    DataObject(0x5F30, "SERVICE-CODE", "Service Code", "服务码", _N, 2, 2, _ICC, _EMV),
    DataObject(0x5F34, "PSN", "Application PAN Sequence Number", "应用主账号序列号", _N, 1, 1, _ICC, _EMV),
    DataObject(0x9F07, "AUC", "Application Usage Control", "应用用途控制", _B, 2, 2, _ICC, _EMV),
    DataObject(0x9F08, "AVN-ICC", "Application Version Number (ICC)", "应用版本号（卡片）", _B, 2, 2, _ICC,
               _EMV),
    DataObject(0x9F0D, "IAC-DEFAULT", "Issuer Action Code - Default", "发卡行行为代码-缺省", _B, 5, 5, _ICC,
               _EMV),
    DataObject(0x9F0E, "IAC-DENIAL", "Issuer Action Code - Denial", "发卡行行为代码-拒绝", _B, 5, 5, _ICC,
               _EMV),
    DataObject(0x9F0F, "IAC-ONLINE", "Issuer Action Code - Online", "发卡行行为代码-联机", _B, 5, 5, _ICC,
               _EMV),
    DataObject(0x8C, "CDOL1", "Card Risk Management Data Object List 1", "卡片风险管理数据对象列表1", _B, 0,
               252, _ICC, _EMV),
    DataObject(0x8D, "CDOL2", "Card Risk Management Data Object List 2", "卡片风险管理数据对象列表2", _B, 0,
               252, _ICC, _EMV),
    DataObject(0x8E, "CVM-LIST", "Cardholder Verification Method (CVM) List", "持卡人验证方法列表", _B, 10,
               252, _ICC, _EMV, note="amount X(4) ‖ amount Y(4) ‖ 2-byte rules"),
    DataObject(0x9F42, "APP-CURRENCY", "Application Currency Code", "应用货币代码", _N, 2, 2, _ICC, _EMV),
    DataObject(0x9F44, "APP-CURRENCY-EXP", "Application Currency Exponent", "应用货币指数", _N, 1, 1, _ICC,
               _EMV),
    DataObject(0x9F14, "LCOL", "Lower Consecutive Offline Limit", "连续脱机交易下限", _B, 1, 1, _ICC, _EMV),
    DataObject(0x9F23, "UCOL", "Upper Consecutive Offline Limit", "连续脱机交易上限", _B, 1, 1, _ICC, _EMV),
    DataObject(0x9F4F, "LOG-FORMAT", "Log Format", "日志格式", _B, 0, 252, _ICC, _EMV),
    # -- offline data authentication (EMV 4.3 Book 2 §5, §6) ------------------------------------------
    DataObject(0x8F, "CA-INDEX", "Certification Authority Public Key Index", "CA公钥索引", _B, 1, 1, _ICC,
               _EMV),
    DataObject(0x90, "ISSUER-CERT", "Issuer Public Key Certificate", "发卡行公钥证书", _B, 1, 248, _ICC,
               _EMV, note="length NCA"),
    DataObject(0x92, "ISSUER-REM", "Issuer Public Key Remainder", "发卡行公钥余项", _B, 0, 248, _ICC, _EMV,
               note="NI - NCA + 36 bytes"),
    DataObject(0x9F32, "ISSUER-EXP", "Issuer Public Key Exponent", "发卡行公钥指数", _B, 1, 3, _ICC, _EMV),
    DataObject(0x93, "SSAD", "Signed Static Application Data", "签名的静态应用数据", _B, 1, 248, _ICC, _EMV,
               note="length NI"),
    DataObject(0x9F4A, "SDA-TAGS", "Static Data Authentication Tag List", "静态数据认证标签列表", _B, 0, 252,
               _ICC, _EMV, note="only the AIP (82) may be listed"),
    DataObject(0x9F45, "DAC", "Data Authentication Code", "数据认证码", _B, 2, 2, _ICC, _EMV),
    DataObject(0x9F46, "ICC-CERT", "ICC Public Key Certificate", "IC卡公钥证书", _B, 1, 248, _ICC, _EMV,
               note="length NI"),
    DataObject(0x9F47, "ICC-EXP", "ICC Public Key Exponent", "IC卡公钥指数", _B, 1, 3, _ICC, _EMV),
    DataObject(0x9F48, "ICC-REM", "ICC Public Key Remainder", "IC卡公钥余项", _B, 0, 248, _ICC, _EMV,
               note="NIC - NI + 42 bytes"),
    DataObject(0x9F49, "DDOL", "Dynamic Data Authentication Data Object List", "动态数据认证数据对象列表",
               _B, 0, 252, _ICC, _EMV),
    DataObject(0x9F4B, "SDAD", "Signed Dynamic Application Data", "签名的动态应用数据", _B, 1, 248, _ICC,
               _EMV, note="length NIC"),
    DataObject(0x9F4C, "ICC-DN", "ICC Dynamic Number", "IC卡动态数", _B, 2, 8, _ICC, _EMV),
    # -- GENERATE AC and the card's counters ----------------------------------------------------------
    DataObject(0x9F27, "CID", "Cryptogram Information Data", "密文信息数据", _B, 1, 1, _ICC, _EMV,
               note="b8-b7: 00 AAC, 01 TC, 10 ARQC"),
    DataObject(0x9F36, "ATC", "Application Transaction Counter", "应用交易计数器", _B, 2, 2, _ICC, _EMV),
    DataObject(0x9F26, "AC", "Application Cryptogram", "应用密文", _B, 8, 8, _ICC, _EMV),
    DataObject(0x9F10, "IAD", "Issuer Application Data", "发卡行应用数据", _B, 0, 32, _ICC, _EMV),
    DataObject(0x9F13, "LAST-ONLINE-ATC", "Last Online Application Transaction Counter Register",
               "上次联机应用交易计数器", _B, 2, 2, _ICC, _EMV),
    DataObject(0x9F17, "PIN-TRY", "Personal Identification Number (PIN) Try Counter", "PIN尝试计数器", _B,
               1, 1, _ICC, _EMV),
    # -- terminal data: transaction, terminal, results -------------------------------------------------
    DataObject(0x9F02, "AMOUNT", "Amount, Authorised (Numeric)", "授权金额", _N, 6, 6, _TERM, _EMV),
    DataObject(0x9F03, "AMOUNT-OTHER", "Amount, Other (Numeric)", "其它金额", _N, 6, 6, _TERM, _EMV),
    DataObject(0x81, "AMOUNT-BIN", "Amount, Authorised (Binary)", "授权金额（二进制）", _B, 4, 4, _TERM,
               _EMV),
    DataObject(0x9F1A, "TERM-COUNTRY", "Terminal Country Code", "终端国家代码", _N, 2, 2, _TERM, _EMV),
    DataObject(0x5F2A, "CURRENCY", "Transaction Currency Code", "交易货币代码", _N, 2, 2, _TERM, _EMV),
    DataObject(0x5F36, "CURRENCY-EXP", "Transaction Currency Exponent", "交易货币指数", _N, 1, 1, _TERM,
               _EMV),
    DataObject(0x9A, "DATE", "Transaction Date", "交易日期", _N, 3, 3, _TERM, _EMV, note="YYMMDD"),
    DataObject(0x9F21, "TIME", "Transaction Time", "交易时间", _N, 3, 3, _TERM, _EMV, note="HHMMSS"),
    DataObject(0x9C, "TXN-TYPE", "Transaction Type", "交易类型", _N, 1, 1, _TERM, _EMV,
               note="00 goods and services, 31 balance inquiry"),
    DataObject(0x9F37, "UN", "Unpredictable Number", "不可预知数", _B, 4, 4, _TERM, _EMV),
    DataObject(0x95, "TVR", "Terminal Verification Results", "终端验证结果", _B, 5, 5, _TERM, _EMV),
    DataObject(0x9B, "TSI", "Transaction Status Information", "交易状态信息", _B, 2, 2, _TERM, _EMV),
    DataObject(0x9F33, "TERM-CAP", "Terminal Capabilities", "终端性能", _B, 3, 3, _TERM, _EMV),
    DataObject(0x9F40, "ADD-TERM-CAP", "Additional Terminal Capabilities", "附加终端性能", _B, 5, 5, _TERM,
               _EMV),
    DataObject(0x9F35, "TERM-TYPE", "Terminal Type", "终端类型", _N, 1, 1, _TERM, _EMV,
               note="22 = attended merchant, offline with online capability"),
    DataObject(0x9F1E, "IFD-SERIAL", "Interface Device (IFD) Serial Number", "接口设备序列号", _AN, 8, 8,
               _TERM, _EMV),
    DataObject(0x9F1C, "TERM-ID", "Terminal Identification", "终端标识", _AN, 8, 8, _TERM, _EMV),
    DataObject(0x9F15, "MCC", "Merchant Category Code", "商户分类码", _N, 2, 2, _TERM, _EMV),
    DataObject(0x9F16, "MERCHANT-ID", "Merchant Identifier", "商户标识", _ANS, 15, 15, _TERM, _EMV),
    DataObject(0x9F4E, "MERCHANT-NAME", "Merchant Name and Location", "商户名称", _ANS, 0, 252, _TERM, _EMV,
               note="PBOC CDOL1 asks for 20 bytes"),
    DataObject(0x9F06, "AID-TERM", "Application Identifier (AID) - terminal", "应用标识符（终端）", _B, 5,
               16, _TERM, _EMV),
    DataObject(0x9F09, "AVN-TERM", "Application Version Number (terminal)", "应用版本号（终端）", _B, 2, 2,
               _TERM, _EMV),
    DataObject(0x9F1B, "FLOOR-LIMIT", "Terminal Floor Limit", "终端最低限额", _B, 4, 4, _TERM, _EMV),
    DataObject(0x9F39, "POS-ENTRY", "Point-of-Service (POS) Entry Mode", "服务点输入方式", _N, 1, 1, _TERM,
               _EMV),
    DataObject(0x9F41, "TSC", "Transaction Sequence Counter", "交易序列计数器", _N, 2, 4, _TERM, _EMV),
    DataObject(0x9F34, "CVMR", "Cardholder Verification Method (CVM) Results", "持卡人验证方法结果", _B, 3,
               3, _TERM, _EMV, note="CVM performed ‖ condition ‖ result (00 unknown, 01 failed, 02 ok)"),
    # -- issuer response: authentication and scripts ---------------------------------------------------
    DataObject(0x8A, "ARC", "Authorisation Response Code", "授权响应码", _AN, 2, 2, _ISS, _EMV,
               note="'00' (3030) approved"),
    DataObject(0x91, "IAUTH", "Issuer Authentication Data", "发卡行认证数据", _B, 8, 16, _ISS, _EMV,
               note="ARPC(8) ‖ ARC(2) for ARPC method 1"),
    DataObject(0x71, "SCRIPT1", "Issuer Script Template 1", "发卡行脚本模板1", _B, 0, 252, _ISS, _EMV,
               note="run before the second GENERATE AC"),
    DataObject(0x72, "SCRIPT2", "Issuer Script Template 2", "发卡行脚本模板2", _B, 0, 252, _ISS, _EMV,
               note="run after the second GENERATE AC"),
    DataObject(0x86, "SCRIPT-CMD", "Issuer Script Command", "发卡行脚本命令", _B, 0, 261, _ISS, _EMV),
    DataObject(0x9F18, "SCRIPT-ID", "Issuer Script Identifier", "发卡行脚本标识", _B, 4, 4, _ISS, _EMV),
    DataObject(0xDF31, "SCRIPT-RESULTS", "Issuer Script Results", "发卡行脚本结果", _B, 0, 250, _TERM,
               "JR/T 0055.2 field 55",
               note="per script: result (high nibble 0 not done, 1 failed, 2 done; low nibble the failing "
                    "command) ‖ script identifier(4); unconfirmed beyond the UnionPay field 55 list"),
    # -- electronic cash and qPBOC (PBOC 3.0 only) -----------------------------------------------------
    DataObject(0x9F79, "EC-BALANCE", "Electronic Cash Balance", "电子现金余额", _N, 6, 6, _ICC, _EC),
    DataObject(0x9F77, "EC-LIMIT", "Electronic Cash Balance Limit", "电子现金余额上限", _N, 6, 6, _ICC, _EC),
    DataObject(0x9F78, "EC-SINGLE-LIMIT", "Electronic Cash Single Transaction Limit", "电子现金单笔交易限额",
               _N, 6, 6, _ICC, _EC),
    DataObject(0x9F6D, "EC-RESET", "Electronic Cash Reset Threshold", "电子现金重置阈值", _N, 6, 6, _ICC,
               _EC),
    DataObject(0x9F7A, "EC-TSI", "Electronic Cash Terminal Support Indicator", "电子现金终端支持指示器", _B,
               1, 1, _TERM, _EC, note="01 = the terminal supports electronic cash"),
    DataObject(0x9F5D, "AOSA", "Available Offline Spending Amount", "可用脱机消费金额", _N, 6, 6, _ICC,
               "JR/T 0025.12", note="qPBOC; EMV contactless kernels give 9F5D other meanings"),
)
# fmt: on

_BY_TAG: Mapping[int, DataObject] = MappingProxyType({d.tag: d for d in DATA_OBJECTS})


def data_object(tag: int) -> DataObject:
    """The dictionary row of *tag*."""
    try:
        return _BY_TAG[tag]
    except KeyError:
        raise CodecError(f"tag {tag:X} is not in the EMV/PBOC dictionary") from None


def tag_name(tag: int) -> str:
    """The English name of *tag*, or ``"unknown tag 9F99"``: for logs, never raises."""
    found = _BY_TAG.get(tag)
    return found.name if found else f"unknown tag {tag:X}"


# -- DOL (EMV 4.3 Book 3 §5.4) ------------------------------------------------------------------------


def _read_tag(data: bytes, pos: int) -> tuple[int, int]:
    """One BER tag at *pos* (X.690 §8.1.2: a low-5-bits 1F first byte continues while b8 is set)."""
    if pos >= len(data) or data[pos] in (0x00, 0xFF):
        raise CodecError("DOL: a tag is missing or is padding")
    end = pos + 1
    if data[pos] & 0x1F == 0x1F:
        while end < len(data) and data[end] & 0x80:
            end += 1
        end += 1
        if end > len(data) or end - pos > 3:
            raise CodecError("DOL: truncated or over-long tag")
    return int.from_bytes(data[pos:end], "big"), end


def parse_tag_list(data: bytes) -> list[int]:
    """A list of tags without lengths (the SDA tag list 9F4A)."""
    tags, pos = [], 0
    while pos < len(data):
        tag, pos = _read_tag(data, pos)
        tags.append(tag)
    return tags


def parse_dol(dol: bytes) -> list[tuple[int, int]]:
    """A DOL's entries, ``[(tag, length), ...]``; the length is one byte (lengths never exceed 252)."""
    entries, pos = [], 0
    while pos < len(dol):
        tag, pos = _read_tag(dol, pos)
        if pos >= len(dol):
            raise CodecError(f"DOL: tag {tag:X} has no length")
        length = dol[pos]
        if length & 0x80:
            raise CodecError(f"DOL: tag {tag:X} has a multi-byte length")
        entries.append((tag, length))
        pos += 1
    return entries


def dol_data_length(dol: bytes) -> int:
    """How many bytes of data the DOL asks for (the card checks a command's Lc against it)."""
    return sum(length for _, length in parse_dol(dol))


def _fit(tag: int, value: bytes, length: int) -> bytes:
    known = _BY_TAG.get(tag)
    fmt = known.format if known else DataFormat.B
    if len(value) > length:
        # Book 3 §5.4: numeric values keep their rightmost bytes, everything else its leftmost.
        return value[len(value) - length :] if fmt is DataFormat.N else value[:length]
    pad = length - len(value)
    if fmt is DataFormat.N:
        return bytes(pad) + value
    if fmt is DataFormat.CN:
        return value + b"\xff" * pad
    return value + bytes(pad)


def build_dol_data(dol: bytes, values: Mapping[int, bytes]) -> bytes:
    """The data a DOL asks for, value by value (EMV 4.3 Book 3 §5.4).

    A missing value or a constructed tag gives zeros of the asked length. A longer value is cut: format
    n keeps its rightmost bytes, the others their leftmost. A shorter one is padded: n with leading
    zeros, cn with trailing ``FF`` (as §5.4 says; the brief's "zeros" is for an/ans/b), others with
    trailing zeros. Unknown tags are treated as format b.
    """
    out = bytearray()
    for tag, length in parse_dol(dol):
        value = values.get(tag)
        constructed = bool(tag >> (8 * ((tag.bit_length() - 1) // 8)) & 0x20)
        if value is None or constructed:
            out += bytes(length)
        else:
            out += _fit(tag, bytes(value), length)
    return bytes(out)


def parse_dol_data(dol: bytes, data: bytes) -> dict[int, bytes]:
    """The card's side: split the data a command carries by its DOL. A wrong length raises
    :class:`CodecError` (the card answers 6700)."""
    entries = parse_dol(dol)
    if len(data) != sum(length for _, length in entries):
        raise CodecError(f"DOL data: {len(data)} bytes, the DOL asks for {dol_data_length(dol)}")
    values, pos = {}, 0
    for tag, length in entries:
        values[tag] = bytes(data[pos : pos + length])
        pos += length
    return values


def mask_pan(pan: str | bytes) -> str:
    """The PAN as logs and screens may show it: first 6 and last 4 digits (``622848******1234``).

    Takes the digits or the cn bytes of tag 5A (trailing F dropped). A value of 10 characters or fewer is
    masked completely, so that the rule never reveals a whole number."""
    text = pan.hex().upper() if isinstance(pan, bytes) else str(pan)
    text = text.rstrip("Ff")
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]
