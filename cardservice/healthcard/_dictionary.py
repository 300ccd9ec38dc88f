"""The Resident Health Card data dictionary: every file and every TLV data item, as two tables.

Source: shared/spec/healthcard-facts.md §1 (file tree), §2.1 (data items, = table 8-2 of the MoH
2012 revision notes to WS/T 543), §4.1-§4.3 (keys, access rules). Every row carries a confidence and a
note; where the sheet says UNKNOWN the row states the project's choice so it is easy to find and change.

All lookups (:func:`item_by_tag`, :func:`items_by_abbreviation`, :func:`items_in_file`, :func:`card_file`)
are derived from :data:`DATA_ITEMS` and :data:`CARD_FILES`; nothing else lists items.

TLV record layout (§2.1): ``tag(1) ‖ length(1) ‖ value`` with the tag equal to the national data-item
number and the value always at its full fixed length, so a record is ``2 + length`` bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from cardservice.errors import CodecError
from cardservice.healthcard._formats import Format, Kind

__all__ = [
    "CARD_FILES",
    "DATA_ITEMS",
    "CardFile",
    "Confidence",
    "DataItem",
    "FileKind",
    "UpdateSm",
    "card_file",
    "item_by_abbreviation",
    "item_by_tag",
    "items_by_abbreviation",
    "items_in_file",
]


class Confidence(StrEnum):
    """Confidence of a fact, as defined in fact sheet §0."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    UNKNOWN = "unknown"


class FileKind(StrEnum):
    MF = "MF"
    DDF = "DDF"
    ADF = "ADF"
    TLV_RECORDS = "TLV record file"  # variable-length records, one TLV item each
    LINEAR_FIXED = "linear fixed"
    CYCLIC = "cyclic"
    TRANSPARENT = "transparent"


class UpdateSm(StrEnum):
    """Secure messaging the project uses when updating a file (fact sheet §4.2)."""

    PLAIN = "plain"
    MAC = "MAC"
    ENC_MAC = "cipher+MAC"
    PROHIBITED = "no update after issuance"
    NOT_APPLICABLE = "n/a"


@dataclass(frozen=True)
class CardFile:
    """One file of the card. ``read_key`` ``None`` means free reading; keys are named as in table 10-2."""

    path: str  # e.g. "DDF1/EF05"; also the key used everywhere else
    fid: int
    kind: FileKind
    label: str  # Chinese
    name: str  # English
    df_name: bytes | None = None  # DF name / AID of DDF and ADF
    record_sizes: tuple[int, ...] = ()  # per record, record files only
    size: int | None = None  # transparent files
    read_key: str | None = None
    update_key: str | None = None
    erase_key: str | None = None
    update_sm: UpdateSm = UpdateSm.NOT_APPLICABLE
    issuance_key: str | None = None  # key that writes the file during personalisation only
    confidence: Confidence = Confidence.HIGH
    note: str = ""

    @property
    def parent(self) -> str:
        return self.path.rpartition("/")[0]

    @property
    def record_count(self) -> int:
        return len(self.record_sizes)

    @property
    def is_df(self) -> bool:
        return self.kind in (FileKind.MF, FileKind.DDF, FileKind.ADF)


@dataclass(frozen=True)
class DataItem:
    """One TLV data item: tag = national item number (table 8-2)."""

    tag: int
    abbreviation: str
    label: str  # Chinese, spec wording
    name: str  # English identifier, the typed models' field name
    description: str  # English meaning
    file: str  # CardFile.path
    record: int  # record number used for UPDATE / READ RECORD
    length: int
    format: Format
    kind: Kind
    code_table: str | None = None  # key into CODE_TABLES
    confidence: Confidence = Confidence.HIGH
    note: str = ""
    aliases: tuple[str, ...] = ()  # other abbreviations seen in vendor code

    @property
    def record_size(self) -> int:
        return 2 + self.length

    @property
    def display_name(self) -> str:
        return f"{self.abbreviation} ({self.label})"


_H, _M, _L = Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW
AN, CN, B = Format.AN, Format.CN, Format.B
TEXT, DIGITS, DATE, BYTE, BYTES = Kind.TEXT, Kind.DIGITS, Kind.DATE, Kind.BYTE, Kind.BYTES


def _df(df_name: str) -> bytes:
    return bytes.fromhex(df_name)


# fmt: off
CARD_FILES: tuple[CardFile, ...] = (
    CardFile("MF", 0x3F00, FileKind.MF, "主控文件", "master file",
             df_name=b"jmjkkyyhj", confidence=_L,
             note="FCI name 'jmjkkyyhj' 00-padded to 15/16 bytes seen on two cards; may be vendor specific"),
    CardFile("DDF1", 0xDDF1, FileKind.DDF, "居民健康卡应用系统环境", "health application environment",
             df_name=b"WS.SYS.DDF01"),
    CardFile("DDF1/EF05", 0xEF05, FileKind.TLV_RECORDS, "发卡机构基本数据", "issuer and card data",
             record_sizes=(3, 6, 32, 13, 182, 6, 20, 5, 12, 5),
             update_sm=UpdateSm.PROHIBITED, issuance_key="UK1DDF1",
             note="free read; written once at issuance with UK1DDF1 + cipher+MAC"),
    CardFile("DDF1/EF06", 0xEF06, FileKind.TLV_RECORDS, "持卡人基本信息", "cardholder identity",
             record_sizes=(32, 3, 3, 6, 20), read_key="RK1DDF1",
             update_sm=UpdateSm.PROHIBITED, issuance_key="UK1DDF1"),
    CardFile("DDF1/EF07", 0xEF07, FileKind.TRANSPARENT, "照片", "photo", size=3074,
             read_key="RK1DDF1", update_key="UK1DDF1", update_sm=UpdateSm.PLAIN,
             note="2-byte big-endian length + image (medium); spec lists no SM, vendor A writes plain"),
    CardFile("DDF1/EF08", 0xEF08, FileKind.TLV_RECORDS, "卡有效期及联系电话", "expiry, phones, payment types",
             record_sizes=(6, 22, 22, 3, 3, 3), read_key="RK1DDF1", update_key="UK1DDF1",
             update_sm=UpdateSm.ENC_MAC, confidence=_H,
             note="spec lists no SM; vendor A enciphers + MACs with STKDDF1 (medium), project follows A"),
    CardFile("DDF1/DF01", 0xDF01, FileKind.ADF, "身份识别应用", "identification application",
             df_name=_df("915600013200")),
    CardFile("DDF1/DF01/EF05", 0xEF05, FileKind.TLV_RECORDS, "地址信息", "addresses",
             record_sizes=(3, 102, 3, 102), read_key="RK1DF01", update_key="UK1DF01",
             update_sm=UpdateSm.ENC_MAC),
    CardFile("DDF1/DF01/EF06", 0xEF06, FileKind.TLV_RECORDS, "联系人信息", "emergency contacts",
             record_sizes=(32, 3, 22) * 3, read_key="RK1DF01", update_key="UK1DF01",
             update_sm=UpdateSm.ENC_MAC),
    CardFile("DDF1/DF01/EF07", 0xEF07, FileKind.TLV_RECORDS, "职业婚姻信息",
             "education, marital status, occupation",
             record_sizes=(3, 3, 5), read_key="RK1DF01", update_key="UK1DF01", update_sm=UpdateSm.ENC_MAC),
    CardFile("DDF1/DF01/EF08", 0xEF08, FileKind.TLV_RECORDS, "证件记录信息", "documents",
             record_sizes=(3, 20, 19, 20), read_key="RK1DF01", update_key="UK1DF01",
             update_sm=UpdateSm.ENC_MAC),
    CardFile("DDF1/DF02", 0xDF02, FileKind.ADF, "基础健康信息应用", "basic health application",
             df_name=_df("915600013201")),
    CardFile("DDF1/DF02/EF05", 0xEF05, FileKind.TLV_RECORDS, "临床基本数据", "clinical basics",
             record_sizes=(3,) * 14 + (42,), read_key="RK1DF02", update_key="UK1DF02",
             update_sm=UpdateSm.ENC_MAC),
    CardFile("DDF1/DF02/EF06", 0xEF06, FileKind.TLV_RECORDS, "特殊信息数据", "special information",
             record_sizes=(3,), read_key="RK1DF02", update_key="UK2DF02", update_sm=UpdateSm.ENC_MAC),
    CardFile("DDF1/DF02/EF07", 0xEF07, FileKind.CYCLIC, "过敏基本数据", "allergies",
             record_sizes=(120,) * 3, read_key="RK1DF02", update_key="UK3DF02",
             update_sm=UpdateSm.ENC_MAC, confidence=_M,
             note="spec: cipher+MAC; vendor A appends plain (conflict, untested). Newest entry = record 1"),
    CardFile("DDF1/DF02/EF08", 0xEF08, FileKind.CYCLIC, "免疫基本数据", "immunisations",
             record_sizes=(24,) * 10, read_key="RK1DF02", update_key="UK3DF02",
             update_sm=UpdateSm.ENC_MAC, confidence=_M,
             note="spec: cipher+MAC; vendor A appends plain (conflict, untested). Newest entry = record 1"),
    CardFile("DDF1/DF03", 0xDF03, FileKind.ADF, "管理业务应用", "management (encounter) application",
             df_name=_df("915600013202")),
    CardFile("DDF1/DF03/EF05", 0xEF05, FileKind.LINEAR_FIXED, "住院信息索引文件", "inpatient index",
             record_sizes=(1,) * 3, read_key="RK1DF03", update_key="UK1DF03", erase_key="UK2DF03",
             update_sm=UpdateSm.MAC, confidence=_M,
             note="00 = EE0n in use, FF = empty. Spec: MAC; vendor A sends no MAC (untested)"),
    CardFile("DDF1/DF03/EF06", 0xEF06, FileKind.LINEAR_FIXED, "门诊信息索引文件", "outpatient index",
             record_sizes=(1,) * 5, read_key="RK1DF03", update_key="UK1DF03", erase_key="UK2DF03",
             update_sm=UpdateSm.MAC, confidence=_M,
             note="00 = ED0n in use, FF = empty. Spec: MAC; vendor A sends no MAC (untested)"),
    *(
        CardFile(f"DDF1/DF03/EE0{n}", 0xEE00 + n, FileKind.TRANSPARENT, f"住院信息{n}",
                 f"inpatient record {n}", size=1893, read_key="RK1DF03", update_key="UK1DF03",
                 update_sm=UpdateSm.PLAIN,
                 note="1639 data + 64 signature + 190 SAM certificate; plain UPDATE BINARY works on a card")
        for n in range(1, 4)
    ),
    *(
        CardFile(f"DDF1/DF03/ED0{n}", 0xED00 + n, FileKind.TRANSPARENT, f"门诊信息{n}",
                 f"outpatient record {n}", size=3267, read_key="RK1DF03", update_key="UK1DF03",
                 update_sm=UpdateSm.PLAIN,
                 note="3013 data + 64 signature + 190 SAM certificate; plain UPDATE BINARY works on a card")
        for n in range(1, 6)
    ),
)

_EF05, _EF06, _EF08 = "DDF1/EF05", "DDF1/EF06", "DDF1/EF08"
_A05, _A06, _A07, _A08 = (f"DDF1/DF01/EF0{n}" for n in (5, 6, 7, 8))
_H05, _H06 = "DDF1/DF02/EF05", "DDF1/DF02/EF06"
_FLAG_NOTE = "00 observed = not set; 'set' value UNKNOWN, project uses 01"


def _i(tag: int, abbr: str, label: str, name: str, desc: str, file: str, rec: int, length: int,
       fmt: Format, kind: Kind, code: str | None = None, conf: Confidence = _H, note: str = "",
       aliases: tuple[str, ...] = ()) -> DataItem:
    return DataItem(tag, abbr, label, name, desc, file, rec, length, fmt, kind, code, conf, note, aliases)


def _contact(n: int) -> tuple[DataItem, ...]:
    base, rec = 25 + 3 * (n - 1), 1 + 3 * (n - 1)
    return (
        _i(base, f"LXRXM{n}", f"联系人姓名{n}", f"contact{n}_name", f"contact {n} name", _A06, rec, 30, AN,
           TEXT),
        _i(base + 1, f"LXRGX{n}", f"联系人关系{n}", f"contact{n}_relation", f"contact {n} relation", _A06,
           rec + 1, 1, CN, DIGITS, note="code list UNKNOWN (probably GB/T 4761 family relation)"),
        _i(base + 2, f"LXRDH{n}", f"联系人电话{n}", f"contact{n}_phone", f"contact {n} phone", _A06, rec + 2,
           20, AN, TEXT),
    )


_ALERTS = (
    ("XCBZ", "哮喘标志", "asthma"), ("XZBBZ", "心脏病标志", "heart_disease"),
    ("XNXGBBZ", "心脑血管病标志", "cardiovascular_disease"), ("DXBBZ", "癫痫病标志", "epilepsy"),
    ("NXWLBZ", "凝血紊乱标志", "coagulation_disorder"), ("TNBBZ", "糖尿病标志", "diabetes"),
    ("QGYBZ", "青光眼标志", "glaucoma"), ("TXBZ", "透析标志", "dialysis"),
    ("QGYZBZ", "器官移植标志", "organ_transplant"), ("QGQSBZ", "器官缺失标志", "missing_organ"),
    ("KZXYZBZ", "可装卸的义肢标志", "removable_prosthesis"), ("XZQBQBZ", "心脏起搏器标志", "pacemaker"),
)

DATA_ITEMS: tuple[DataItem, ...] = (
    # DDF1/EF05 issuer data (free read)
    _i(1, "KLB", "卡的类别", "card_category", "card category", _EF05, 1, 1, AN, TEXT,
       note="'1' on both traced cards; code list UNKNOWN"),
    _i(2, "GFBB", "规范版本", "spec_version", "specification version", _EF05, 2, 4, AN, TEXT,
       note="'0002' and 'V1.1' observed"),
    _i(3, "FKJGMC", "发卡机构名称", "issuer_name", "issuer name", _EF05, 3, 30, AN, TEXT),
    _i(4, "FKJGDM", "发卡机构代码", "issuer_code", "issuer code", _EF05, 4, 11, CN, DIGITS,
       note="observed 00022483A + F: hex digits allowed"),
    _i(5, "FKJGZS", "发卡机构证书", "issuer_certificate", "issuer SM2 certificate", _EF05, 5, 180, B, BYTES,
       note="internal structure UNKNOWN"),
    _i(6, "FKSJ", "发卡时间", "issue_date", "issue date", _EF05, 6, 4, CN, DATE),
    _i(8, "KH", "卡号", "card_number", "card number (= citizen ID number)", _EF05, 7, 18, AN, TEXT),
    _i(9, "AQM", "安全码", "security_code", "security code", _EF05, 8, 3, AN, TEXT, note="purpose UNKNOWN"),
    _i(10, "XPXLH", "发卡序列号", "issuance_serial", "issuance serial number", _EF05, 9, 10, AN, TEXT,
       note="named 芯片序列号 before the 2012 revision"),
    _i(57, "YYCSDM", "应用城市代码", "city_code", "application city code (GB/T 2260)", _EF05, 10, 3, CN,
       DIGITS, note="first two digits feed level-2 key diversification"),
    # DDF1/EF06 cardholder
    _i(11, "XM", "姓名", "name", "name", _EF06, 1, 30, AN, TEXT),
    _i(12, "XB", "性别", "sex", "sex (GB/T 2261.1)", _EF06, 2, 1, B, BYTE, "sex"),
    _i(13, "MZ", "民族代码", "ethnicity", "ethnicity (GB 3304)", _EF06, 3, 1, CN, DIGITS, "ethnicity",
       note="code table medium"),
    _i(14, "CSRQ", "出生日期", "birth_date", "birth date", _EF06, 4, 4, CN, DATE),
    _i(15, "SFZH", "居民身份证号码", "id_number", "citizen ID number (GB 11643)", _EF06, 5, 18, AN, TEXT),
    # DDF1/EF08 validity, phones, payment
    _i(7, "KYXQ", "卡有效期", "expiry_date", "card expiry date", _EF08, 1, 4, CN, DATE),
    _i(16, "BRDH1", "本人电话1", "phone1", "own phone 1", _EF08, 2, 20, AN, TEXT),
    _i(17, "BRDH2", "本人电话2", "phone2", "own phone 2", _EF08, 3, 20, AN, TEXT),
    *(
        _i(17 + n, f"YLFYZFFS{n}", f"医疗费用支付方式{n}", f"payment_type{n}", f"medical payment type {n}",
           _EF08, 3 + n, 1, CN, DIGITS, "payment_type", note="codes medium (App. A)")
        for n in (1, 2, 3)
    ),
    # DF01/EF05 addresses
    _i(21, "DZLB1", "地址类别1", "address_type1", "address type 1", _A05, 1, 1, CN, DIGITS,
       note="'1' observed; App. A: 户籍地址/居住地址; code list UNKNOWN"),
    _i(22, "DZ1", "地址1", "address1", "address 1", _A05, 2, 100, AN, TEXT),
    _i(23, "DZLB2", "地址类别2", "address_type2", "address type 2", _A05, 3, 1, CN, DIGITS,
       note="'2' observed; code list UNKNOWN"),
    _i(24, "DZ2", "地址2", "address2", "address 2", _A05, 4, 100, AN, TEXT),
    # DF01/EF06 contacts
    *_contact(1), *_contact(2), *_contact(3),
    # DF01/EF07 education, marriage, occupation
    _i(34, "WHCD", "文化程度代码", "education", "education level", _A07, 1, 1, CN, DIGITS, "education",
       conf=_H, note="format high; codes low (form code vs GB/T 4658 code UNKNOWN)"),
    _i(35, "HYZK", "婚姻状况代码", "marital_status", "marital status", _A07, 2, 1, CN, DIGITS,
       "marital_status",
       note="format high; codes low (form code vs GB/T 2261.2 code UNKNOWN)"),
    _i(36, "ZY", "职业代码", "occupation", "occupation (GB/T 6565)", _A07, 3, 3, AN, TEXT, "occupation"),
    # DF01/EF08 documents
    _i(37, "ZJLB", "证件类别", "document_type", "identity document type", _A08, 1, 1, CN, DIGITS,
       note="code list UNKNOWN"),
    _i(38, "ZJHM", "证件号码", "document_number", "identity document number", _A08, 2, 18, AN, TEXT),
    _i(39, "JKDAH", "健康档案编号", "health_record_number", "health record number", _A08, 3, 17, AN, TEXT,
       aliases=("JKDABH",)),
    _i(40, "XNHZH", "新农合证（卡）号", "ncms_number", "NCMS (rural insurance) number", _A08, 4, 18, AN,
       TEXT),
    # DF02/EF05 clinical basics
    _i(41, "ABOXX", "ABO血型代码", "abo_blood_group", "ABO blood group", _H05, 1, 1, B, BYTE, "abo",
       note="codes medium; FF = unfilled"),
    _i(42, "RHXX", "RH血型代码", "rh_negative", "Rh negative", _H05, 2, 1, CN, DIGITS, "rh",
       note="codes medium; FF = unfilled"),
    *(
        _i(43 + n, abbr, label, name, name.replace("_", " ") + " flag", _H05, 3 + n, 1, B, BYTE,
           "medical_alert_flag", note=_FLAG_NOTE)
        for n, (abbr, label, name) in enumerate(_ALERTS)
    ),
    _i(55, "QTYXJSMC", "其他医学警示名称", "other_medical_alert", "other medical alert (free text)", _H05, 15,
       40, AN, TEXT),
    # DF02/EF06 special information
    _i(56, "JSBBZ", "精神病标志", "psychiatric_illness", "psychiatric illness flag", _H06, 1, 1, B, BYTE,
       "medical_alert_flag", note=_FLAG_NOTE),
)
# fmt: on

_FILES: Mapping[str, CardFile] = MappingProxyType({f.path: f for f in CARD_FILES})
_BY_TAG: Mapping[int, DataItem] = MappingProxyType({i.tag: i for i in DATA_ITEMS})
_BY_ABBREVIATION: Mapping[str, DataItem] = MappingProxyType({i.abbreviation: i for i in DATA_ITEMS})
_BY_ANY_ABBREVIATION: Mapping[str, DataItem] = MappingProxyType(
    {**_BY_ABBREVIATION, **{a: i for i in DATA_ITEMS for a in i.aliases}}
)


def _full_path(path: str) -> str:
    # The sheet writes "DF01/EF05"; the DFs all live under DDF1, so the short form is unambiguous.
    return f"DDF1/{path}" if path.startswith("DF0") else path


def card_file(path: str) -> CardFile:
    """The file at ``path``: ``"DDF1/DF01/EF05"`` or the sheet's short form ``"DF01/EF05"``."""
    try:
        return _FILES[_full_path(path)]
    except KeyError:
        raise CodecError(f"no card file {path!r} in the health-card dictionary") from None


def item_by_tag(tag: int) -> DataItem:
    """The TLV item whose national item number is ``tag``."""
    try:
        return _BY_TAG[tag]
    except KeyError:
        raise CodecError(f"tag {tag:02X} is not a health-card TLV data item") from None


def item_by_abbreviation(abbreviation: str) -> DataItem:
    """The item for an abbreviation (``"XM"``) or one of its vendor aliases (``"JKDABH"``)."""
    try:
        return _BY_ANY_ABBREVIATION[abbreviation.upper()]
    except KeyError:
        raise CodecError(f"{abbreviation!r} is not a health-card data-item abbreviation") from None


def items_by_abbreviation() -> Mapping[str, DataItem]:
    """All TLV items keyed by their primary abbreviation (the names of the iR_/iW_ parameters)."""
    return _BY_ABBREVIATION


def items_in_file(path: str) -> tuple[DataItem, ...]:
    """The items stored in a TLV record file, in record order."""
    full = card_file(path).path
    return tuple(sorted((i for i in DATA_ITEMS if i.file == full), key=lambda i: i.record))
