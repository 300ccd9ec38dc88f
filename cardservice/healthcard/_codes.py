"""Value code tables of the health card's coded data items (fact sheet §2, §8; App. A of the 2012 notes).

A code is always the *string* form of the stored value: CN codes as their digit string (``"01"``), single
B bytes as their decimal value (``"1"``). Each table carries its source and a confidence; tables the sheet
lists as UNKNOWN (KLB card category, DZLB address type, LXRGX contact relation, ZJLB document type) are
deliberately absent (fact sheet §9: do not guess them in code).

Decoding never rejects a code missing from a table: a kiosk must still read a card whose issuer used a
local code. :meth:`CodeTable.label` returns ``None`` for such codes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cardservice.healthcard._dictionary import Confidence

__all__ = [
    "ABO_BLOOD_GROUP",
    "CODE_TABLES",
    "EDUCATION",
    "ETHNICITY",
    "INDEX_FLAG",
    "MARITAL_STATUS",
    "MEDICAL_ALERT_FLAG",
    "OCCUPATION",
    "PAYMENT_TYPE",
    "RH_NEGATIVE",
    "SEX",
    "Code",
    "CodeTable",
]


@dataclass(frozen=True)
class Code:
    """One value of a code table."""

    code: str
    label: str  # Chinese, as printed in the standard
    name: str  # English
    abbreviation: str = ""  # e.g. the GB 3304 roman-letter code


@dataclass(frozen=True)
class CodeTable:
    """A closed list of codes with its provenance."""

    key: str
    title: str
    standard: str
    confidence: Confidence
    codes: tuple[Code, ...]
    note: str = ""
    _by_code: Mapping[str, Code] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", MappingProxyType({c.code: c for c in self.codes}))

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Code]:
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)

    def get(self, code: str | int) -> Code | None:
        return self._by_code.get(str(code))

    def label(self, code: str | int) -> str | None:
        """Chinese label of ``code`` (an int is looked up by its decimal form), or ``None``."""
        entry = self.get(code)
        return entry.label if entry else None


def _codes(*rows: tuple[str, str, str] | tuple[str, str, str, str]) -> tuple[Code, ...]:
    return tuple(Code(*row) for row in rows)


SEX = CodeTable(
    "sex",
    "性别代码",
    "GB/T 2261.1-2003",
    Confidence.HIGH,
    _codes(
        ("0", "未知的性别", "unknown"),
        ("1", "男性", "male"),
        ("2", "女性", "female"),
        ("9", "未说明的性别", "not stated"),
    ),
    note="XB is a B byte: 01 male, 02 female observed on real cards.",
)

ETHNICITY = CodeTable(
    "ethnicity",
    "中国各民族名称的罗马字母拼写和代码",
    "GB 3304-1991",
    Confidence.HIGH,
    _codes(
        ("01", "汉族", "Han", "HA"),
        ("02", "蒙古族", "Mongol", "MG"),
        ("03", "回族", "Hui", "HU"),
        ("04", "藏族", "Zang (Tibetan)", "ZA"),
        ("05", "维吾尔族", "Uygur", "UG"),
        ("06", "苗族", "Miao", "MH"),
        ("07", "彝族", "Yi", "YI"),
        ("08", "壮族", "Zhuang", "ZH"),
        ("09", "布依族", "Buyei", "BY"),
        ("10", "朝鲜族", "Chosen (Korean)", "CS"),
        ("11", "满族", "Man (Manchu)", "MA"),
        ("12", "侗族", "Dong", "DO"),
        ("13", "瑶族", "Yao", "YA"),
        ("14", "白族", "Bai", "BA"),
        ("15", "土家族", "Tujia", "TJ"),
        ("16", "哈尼族", "Hani", "HN"),
        ("17", "哈萨克族", "Kazak", "KZ"),
        ("18", "傣族", "Dai", "DA"),
        ("19", "黎族", "Li", "LI"),
        ("20", "傈僳族", "Lisu", "LS"),
        ("21", "佤族", "Va", "VA"),
        ("22", "畲族", "She", "SH"),
        ("23", "高山族", "Gaoshan", "GS"),
        ("24", "拉祜族", "Lahu", "LH"),
        ("25", "水族", "Sui", "SU"),
        ("26", "东乡族", "Dongxiang", "DX"),
        ("27", "纳西族", "Naxi", "NX"),
        ("28", "景颇族", "Jingpo", "JP"),
        ("29", "柯尔克孜族", "Kirgiz", "KG"),
        ("30", "土族", "Tu", "TU"),
        ("31", "达斡尔族", "Daur", "DU"),
        ("32", "仫佬族", "Mulao", "ML"),
        ("33", "羌族", "Qiang", "QI"),
        ("34", "布朗族", "Blang", "BL"),
        ("35", "撒拉族", "Salar", "SL"),
        ("36", "毛南族", "Maonan", "MN"),
        ("37", "仡佬族", "Gelao", "GL"),
        ("38", "锡伯族", "Xibe", "XB"),
        ("39", "阿昌族", "Achang", "AC"),
        ("40", "普米族", "Pumi", "PM"),
        ("41", "塔吉克族", "Tajik", "TA"),
        ("42", "怒族", "Nu", "NU"),
        ("43", "乌孜别克族", "Uzbek", "UZ"),
        ("44", "俄罗斯族", "Russ", "RS"),
        ("45", "鄂温克族", "Ewenki", "EW"),
        ("46", "德昂族", "Deang", "DE"),
        ("47", "保安族", "Bonan", "BN"),
        ("48", "裕固族", "Yugur", "YG"),
        ("49", "京族", "Gin", "GI"),
        ("50", "塔塔尔族", "Tatar", "TT"),
        ("51", "独龙族", "Derung", "DR"),
        ("52", "鄂伦春族", "Oroqen", "OR"),
        ("53", "赫哲族", "Hezhen", "HZ"),
        ("54", "门巴族", "Monba", "MB"),
        ("55", "珞巴族", "Lhoba", "LB"),
        ("56", "基诺族", "Jino", "JN"),
        ("97", "其他", "other (unidentified)"),
        ("98", "外国血统中国籍人士", "Chinese citizen of foreign origin"),
    ),
    note="01-56 from GB 3304 (high); 97/98 as in GB 3304's supplementary codes (medium, from memory of the "
    "standard, not in the fact sheet). MZ is CN 1, so the two digits are one BCD byte (01 = Han, observed).",
)

ABO_BLOOD_GROUP = CodeTable(
    "abo",
    "ABO血型代码",
    "WS/T 543 App. A (2012 revision notes)",
    Confidence.MEDIUM,
    _codes(
        ("1", "A型", "A"), ("2", "B型", "B"), ("3", "O型", "O"), ("4", "AB型", "AB"), ("5", "不详", "unknown")
    ),
    note="ABOXX is a B byte; FF seen on an unfilled card (decodes as absent).",
)

RH_NEGATIVE = CodeTable(
    "rh",
    "RH阴性",
    "WS/T 543 App. A (2012 revision notes)",
    Confidence.MEDIUM,
    _codes(("1", "否", "not Rh negative"), ("2", "是", "Rh negative"), ("3", "不详", "unknown")),
    note="App. A asks 'RH negative?'; the card item is named RH血型代码.",
)

PAYMENT_TYPE = CodeTable(
    "payment_type",
    "医疗费用支付方式",
    "WS/T 543 App. A (2012 revision notes)",
    Confidence.MEDIUM,
    _codes(
        ("1", "城镇职工基本医疗保险", "urban employee basic medical insurance"),
        ("2", "城镇居民基本医疗保险", "urban resident basic medical insurance"),
        ("3", "新型农村合作医疗", "new rural cooperative medical scheme"),
        ("4", "贫困救助", "poverty relief"),
        ("5", "商业医疗保险", "commercial medical insurance"),
        ("6", "全公费", "fully state-funded"),
        ("7", "全自费", "fully self-paid"),
        ("8", "其他", "other"),
    ),
)

EDUCATION = CodeTable(
    "education",
    "文化程度",
    "WS/T 543 App. A form (after GB/T 4658)",
    Confidence.LOW,
    _codes(
        ("1", "研究生", "postgraduate"),
        ("2", "大学本科", "undergraduate"),
        ("3", "大学专科和专科学校", "junior college"),
        ("4", "中等专业学校", "secondary specialised school"),
        ("5", "技工学校", "technical school"),
        ("6", "高中", "senior high school"),
        ("7", "初中", "junior high school"),
        ("8", "小学", "primary school"),
        ("9", "文盲或半文盲", "illiterate or semi-literate"),
    ),
    note="Only 1 and 9 are in the fact sheet; 2-8 follow GB/T 4658's order (10..90) divided by ten. "
    "Whether cards store this 1-digit form code or the 2-digit GB code is UNKNOWN.",
)

MARITAL_STATUS = CodeTable(
    "marital_status",
    "婚姻状况",
    "WS/T 543 App. A form",
    Confidence.LOW,
    _codes(
        ("1", "未婚", "unmarried"),
        ("2", "已婚", "married"),
        ("3", "丧偶", "widowed"),
        ("4", "离婚", "divorced"),
        ("5", "其他", "other"),
    ),
    note="GB/T 2261.2 uses 10/20/30/40/90; whether the card holds the form code or the GB code is UNKNOWN.",
)

OCCUPATION = CodeTable(
    "occupation",
    "职业（大类）",
    "WS/T 543 App. A form (after GB/T 6565)",
    Confidence.MEDIUM,
    _codes(
        ("1", "国家机关、党群组织、企业、事业单位负责人", "heads of organisations"),
        ("2", "专业技术人员", "professionals and technicians"),
        ("3", "办事人员和有关人员", "clerks"),
        ("4", "商业、服务业人员", "commerce and service workers"),
        ("5", "农、林、牧、渔、水利业生产人员", "agriculture, forestry, husbandry, fishery, water"),
        ("6", "生产、运输设备操作人员及有关人员", "production and transport operators"),
        ("7", "军人", "military"),
        ("8", "其他", "other"),
    ),
    note="Top level only. ZY is AN 3; full GB/T 6565 codes are not listed.",
)

MEDICAL_ALERT_FLAG = CodeTable(
    "medical_alert_flag",
    "医学警示标志",
    "fact sheet §2.1 (observation)",
    Confidence.LOW,
    _codes(("0", "无", "not set"), ("1", "有", "set")),
    note="00 observed = not set; the 'set' value is UNKNOWN, 01 is the project's convention.",
)

INDEX_FLAG = CodeTable(
    "index_flag",
    "记录有效标志",
    "fact sheet §2.2 (DF03/EF05, EF06)",
    Confidence.HIGH,
    _codes(("0", "有效", "record in use"), ("255", "无效", "slot empty")),
    note="Single bytes 00 / FF; any other value is rejected by the index codec.",
)

CODE_TABLES: Mapping[str, CodeTable] = MappingProxyType(
    {
        t.key: t
        for t in (
            SEX,
            ETHNICITY,
            ABO_BLOOD_GROUP,
            RH_NEGATIVE,
            PAYMENT_TYPE,
            EDUCATION,
            MARITAL_STATUS,
            OCCUPATION,
            MEDICAL_ALERT_FLAG,
            INDEX_FLAG,
        )
    }
)
