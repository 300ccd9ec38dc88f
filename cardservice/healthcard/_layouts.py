"""Fixed-offset record layouts: allergy and immunisation records, and the inpatient (EE0n) and outpatient
(ED0n) encounter records (fact sheet §2.2, §3.1, §3.2).

These files hold no TLV: each field sits at a fixed offset with the AN/CN/B padding rules of §0. The EE/ED
tables below are transcribed row by row from §3.1/§3.2 (vendor A's offset table and driver D's layout agree
field for field; confidence high). ``item`` is the national item index the vendor SDKs use (EE 64-212,
ED 213-384); allergy/immunisation use 58-61 (vendor A, medium).

Repeated groups (3 diagnoses, 20 fee lines, ...) carry ``group`` and a 1-based ``index``; the typed models
nest them as lists. Offsets are data, not computed, so the tests can check them against the sizes the sheet
gives (1639 + 64 + 190 = 1893, 3013 + 64 + 190 = 3267).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from cardservice.errors import CodecError
from cardservice.healthcard._formats import Format, Kind, decode_value, encode_value

__all__ = [
    "ALLERGY_LAYOUT",
    "IMMUNISATION_LAYOUT",
    "INPATIENT_LAYOUT",
    "OUTPATIENT_LAYOUT",
    "LayoutField",
    "RecordLayout",
]


@dataclass(frozen=True)
class LayoutField:
    """One field of a fixed layout."""

    item: int  # national item index used by the vendor SDKs
    offset: int
    length: int
    format: Format
    group: str | None
    index: int | None  # 1-based position inside the group
    name: str  # English identifier (model field name)
    kind: Kind
    label: str  # Chinese, spec wording
    abbreviation: str = ""  # only allergy/immunisation items have one

    @property
    def key(self) -> str:
        """Flat key: ``"admission_date"`` or ``"diagnoses[2].diagnosis_name"``."""
        return self.name if self.group is None else f"{self.group}[{self.index}].{self.name}"

    @property
    def end(self) -> int:
        return self.offset + self.length

    @property
    def display_name(self) -> str:
        return f"{self.abbreviation or self.key} (#{self.item} {self.label})"


@dataclass(frozen=True)
class RecordLayout:
    """A fixed record: ``size`` bytes on the card, of which ``data_size`` are the data part.

    For EE/ED the bytes after the data part (signature and SAM certificate) are only written by the
    signing step, so :meth:`encode` produces the data part unless ``full`` is asked for.
    """

    name: str
    size: int
    data_size: int
    fields: tuple[LayoutField, ...]

    def field(self, key: str) -> LayoutField:
        for f in self.fields:
            if f.key == key:
                return f
        raise CodecError(f"{self.name}: no field {key!r}")

    def decode(self, raw: bytes) -> dict[str, object | None]:
        """Decode the data part (``data_size`` bytes) or the whole record (``size`` bytes)."""
        raw = bytes(raw)
        if len(raw) not in (self.data_size, self.size):
            raise CodecError(f"{self.name}: {len(raw)} bytes, expected {self.data_size} or {self.size}")
        return {f.key: decode_value(f, raw[f.offset : f.end]) for f in self.fields if f.end <= len(raw)}

    def encode(self, values: Mapping[str, object | None], *, full: bool = False) -> bytes:
        """Encode ``values`` (flat keys, missing = absent) to the data part, or all ``size`` bytes."""
        known = {f.key for f in self.fields}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CodecError(f"{self.name}: unknown field(s) {', '.join(unknown)}")
        size = self.size if full else self.data_size
        out = bytearray()
        for f in self.fields:
            if f.end <= size:
                out += encode_value(f, values.get(f.key))
            elif values.get(f.key) is not None:
                raise CodecError(f"{f.display_name}: outside the data part; encode with full=True")
        return bytes(out)


AN, CN, B = Format.AN, Format.CN, Format.B
TEXT, DIGITS, NUMBER, DATE, DATETIME, BYTE, BYTES = (
    Kind.TEXT,
    Kind.DIGITS,
    Kind.NUMBER,
    Kind.DATE,
    Kind.DATETIME,
    Kind.BYTE,
    Kind.BYTES,
)
_f = LayoutField

ALLERGY_LAYOUT: Final = RecordLayout(
    "DF02/EF07 allergy record",
    120,
    120,
    (
        _f(58, 0, 20, AN, None, None, "substance", TEXT, "过敏物质名称", "GMWZMC"),
        _f(59, 20, 100, AN, None, None, "reaction", TEXT, "过敏反应", "GMFY"),
    ),
)

IMMUNISATION_LAYOUT: Final = RecordLayout(
    "DF02/EF08 immunisation record",
    24,
    24,
    (
        _f(60, 0, 20, AN, None, None, "vaccine", TEXT, "免疫接种名称", "MYJZMC"),
        _f(61, 20, 4, CN, None, None, "date", DATE, "免疫接种时间", "MYJZSJ"),
    ),
)

# fmt: off

_EE_FIELDS: Final = (
    # (item no., offset, length, format, group, index, name, kind, Chinese label)
    _f(64, 0, 70, AN, None, None, "institution_name", TEXT, "住院机构名称"),
    _f(65, 70, 10, AN, None, None, "institution_code", TEXT, "住院机构组织机构代码"),
    _f(66, 80, 4, CN, None, None, "admission_date", DATE, "入院日期"),
    _f(67, 84, 2, CN, None, None, "admission_count", NUMBER, "住院患者住院次数"),
    _f(68, 86, 18, AN, None, None, "case_number", TEXT, "病案号"),
    _f(69, 104, 50, AN, None, None, "admission_department", TEXT, "住院患者入院科室名称"),
    _f(70, 154, 1, CN, None, None, "admission_condition_code", DIGITS, "住院患者入院病情"),
    _f(71, 155, 50, AN, None, None, "hospital_infection", TEXT, "住院患者医院感染名称"),
    _f(72, 205, 7, AN, None, None, "injury_external_cause", TEXT, "住院患者损伤和中毒外部原因"),
    _f(73, 212, 1, CN, "diagnoses", 1, "serology_test_code", DIGITS, "住院患者血清学检查项目代码 1"),
    _f(74, 213, 1, CN, "diagnoses", 1, "serology_result_code", DIGITS, "住院患者血清学检查结果代码 1"),
    _f(75, 214, 50, AN, "diagnoses", 1, "diagnosis_name", TEXT, "疾病诊断名称 1"),
    _f(76, 264, 7, AN, "diagnoses", 1, "diagnosis_code", TEXT, "疾病诊断代码 1"),
    _f(77, 271, 4, CN, "diagnoses", 1, "diagnosis_date", DATE, "确诊日期 1"),
    _f(78, 275, 20, AN, "diagnoses", 1, "agreement_description", TEXT, "住院患者诊断符合情况-详细描述 1"),
    _f(79, 295, 1, CN, "diagnoses", 1, "agreement_code", DIGITS, "住院患者诊断符合情况-代码 1"),
    _f(80, 296, 20, AN, "diagnoses", 1, "diagnosis_type_detail", TEXT, "住院患者疾病诊断类型-详细描述 1"),
    _f(81, 316, 1, CN, "diagnoses", 1, "diagnosis_type_code", DIGITS, "住院患者疾病诊断类型-代码 1"),
    _f(82, 317, 1, CN, "diagnoses", 1, "treatment_result_code", DIGITS, "住院患者治疗结果代码 1"),
    _f(83, 318, 80, AN, "diagnoses", 1, "procedure_name", TEXT, "手术/操作-名称 1"),
    _f(84, 398, 5, AN, "diagnoses", 1, "procedure_code", TEXT, "手术/操作-代码 1"),
    _f(85, 403, 4, CN, "diagnoses", 1, "procedure_date", DATE, "手术/操作-日期 1"),
    _f(86, 407, 50, AN, "diagnoses", 1, "anaesthesia_method", TEXT, "麻醉-方法 1"),
    _f(87, 457, 1, CN, "diagnoses", 1, "anaesthesia_method_code", DIGITS, "麻醉-方法代码 1"),
    _f(88, 458, 1, CN, "diagnoses", 1, "incision_healing_code", DIGITS, "手术切口愈合等级代码 1"),
    _f(89, 459, 1, CN, "diagnoses", 2, "serology_test_code", DIGITS, "住院患者血清学检查项目代码 2"),
    _f(90, 460, 1, CN, "diagnoses", 2, "serology_result_code", DIGITS, "住院患者血清学检查结果代码 2"),
    _f(91, 461, 50, AN, "diagnoses", 2, "diagnosis_name", TEXT, "疾病诊断名称 2"),
    _f(92, 511, 7, AN, "diagnoses", 2, "diagnosis_code", TEXT, "疾病诊断代码 2"),
    _f(93, 518, 4, CN, "diagnoses", 2, "diagnosis_date", DATE, "确诊日期 2"),
    _f(94, 522, 20, AN, "diagnoses", 2, "agreement_description", TEXT, "住院患者诊断符合情况-详细描述 2"),
    _f(95, 542, 1, CN, "diagnoses", 2, "agreement_code", DIGITS, "住院患者诊断符合情况-代码 2"),
    _f(96, 543, 20, AN, "diagnoses", 2, "diagnosis_type_detail", TEXT, "住院患者疾病诊断类型-详细描述 2"),
    _f(97, 563, 1, CN, "diagnoses", 2, "diagnosis_type_code", DIGITS, "住院患者疾病诊断类型-代码 2"),
    _f(98, 564, 1, CN, "diagnoses", 2, "treatment_result_code", DIGITS, "住院患者治疗结果代码 2"),
    _f(99, 565, 80, AN, "diagnoses", 2, "procedure_name", TEXT, "手术/操作-名称 2"),
    _f(100, 645, 5, AN, "diagnoses", 2, "procedure_code", TEXT, "手术/操作-代码 2"),
    _f(101, 650, 4, CN, "diagnoses", 2, "procedure_date", DATE, "手术/操作-日期 2"),
    _f(102, 654, 50, AN, "diagnoses", 2, "anaesthesia_method", TEXT, "麻醉-方法 2"),
    _f(103, 704, 1, CN, "diagnoses", 2, "anaesthesia_method_code", DIGITS, "麻醉-方法代码 2"),
    _f(104, 705, 1, CN, "diagnoses", 2, "incision_healing_code", DIGITS, "手术切口愈合等级代码 2"),
    _f(105, 706, 1, CN, "diagnoses", 3, "serology_test_code", DIGITS, "住院患者血清学检查项目代码 3"),
    _f(106, 707, 1, CN, "diagnoses", 3, "serology_result_code", DIGITS, "住院患者血清学检查结果代码 3"),
    _f(107, 708, 50, AN, "diagnoses", 3, "diagnosis_name", TEXT, "疾病诊断名称 3"),
    _f(108, 758, 7, AN, "diagnoses", 3, "diagnosis_code", TEXT, "疾病诊断代码 3"),
    _f(109, 765, 4, CN, "diagnoses", 3, "diagnosis_date", DATE, "确诊日期 3"),
    _f(110, 769, 20, AN, "diagnoses", 3, "agreement_description", TEXT, "住院患者诊断符合情况-详细描述 3"),
    _f(111, 789, 1, CN, "diagnoses", 3, "agreement_code", DIGITS, "住院患者诊断符合情况-代码 3"),
    _f(112, 790, 20, AN, "diagnoses", 3, "diagnosis_type_detail", TEXT, "住院患者疾病诊断类型-详细描述 3"),
    _f(113, 810, 1, CN, "diagnoses", 3, "diagnosis_type_code", DIGITS, "住院患者疾病诊断类型-代码 3"),
    _f(114, 811, 1, CN, "diagnoses", 3, "treatment_result_code", DIGITS, "住院患者治疗结果代码 3"),
    _f(115, 812, 80, AN, "diagnoses", 3, "procedure_name", TEXT, "手术/操作-名称 3"),
    _f(116, 892, 5, AN, "diagnoses", 3, "procedure_code", TEXT, "手术/操作-代码 3"),
    _f(117, 897, 4, CN, "diagnoses", 3, "procedure_date", DATE, "手术/操作-日期 3"),
    _f(118, 901, 50, AN, "diagnoses", 3, "anaesthesia_method", TEXT, "麻醉-方法 3"),
    _f(119, 951, 1, CN, "diagnoses", 3, "anaesthesia_method_code", DIGITS, "麻醉-方法代码 3"),
    _f(120, 952, 1, CN, "diagnoses", 3, "incision_healing_code", DIGITS, "手术切口愈合等级代码 3"),
    _f(121, 953, 1, CN, "transfusions", 1, "product_code", DIGITS, "住院期间输血品种代码 1"),
    _f(122, 954, 2, CN, "transfusions", 1, "volume", NUMBER, "住院期间输血量 1"),
    _f(123, 956, 10, AN, "transfusions", 1, "unit", TEXT, "住院患者输血量计量单位 1"),
    _f(124, 966, 1, CN, "transfusions", 2, "product_code", DIGITS, "住院期间输血品种代码 2"),
    _f(125, 967, 2, CN, "transfusions", 2, "volume", NUMBER, "住院期间输血量 2"),
    _f(126, 969, 10, AN, "transfusions", 2, "unit", TEXT, "住院患者输血量计量单位 2"),
    _f(127, 979, 1, CN, "transfusions", 3, "product_code", DIGITS, "住院期间输血品种代码 3"),
    _f(128, 980, 2, CN, "transfusions", 3, "volume", NUMBER, "住院期间输血量 3"),
    _f(129, 982, 10, AN, "transfusions", 3, "unit", TEXT, "住院患者输血量计量单位 3"),
    _f(130, 992, 1, CN, "transfusions", 4, "product_code", DIGITS, "住院期间输血品种代码 4"),
    _f(131, 993, 2, CN, "transfusions", 4, "volume", NUMBER, "住院期间输血量 4"),
    _f(132, 995, 10, AN, "transfusions", 4, "unit", TEXT, "住院患者输血量计量单位 4"),
    _f(133, 1005, 2, CN, None, None, "rescue_count", NUMBER, "住院患者抢救次数"),
    _f(134, 1007, 2, CN, None, None, "rescue_success_count", NUMBER, "住院患者抢救成功次数"),
    _f(135, 1009, 4, CN, None, None, "discharge_date", DATE, "出院日期"),
    _f(136, 1013, 50, AN, None, None, "discharge_department", TEXT, "住院患者出院科室名称"),
    _f(137, 1063, 3, CN, None, None, "length_of_stay_days", NUMBER, "住院患者住院天数"),
    _f(138, 1066, 1, B, None, None, "autopsy_flag", BYTE, "住院患者尸检标志"),
    _f(139, 1067, 1, B, None, None, "follow_up_flag", BYTE, "住院患者随诊标志"),
    _f(140, 1068, 1, CN, None, None, "payment_type", DIGITS, "住院费用-医疗付款方式代码"),
    _f(141, 1069, 20, AN, "fees", 1, "category_name", TEXT, "住院费用-分类 1"),
    _f(142, 1089, 1, AN, "fees", 1, "category_code", TEXT, "住院费用-分类代码 1"),
    _f(143, 1090, 5, CN, "fees", 1, "amount", NUMBER, "住院费用-金额 1"),
    _f(144, 1095, 20, AN, "fees", 2, "category_name", TEXT, "住院费用-分类 2"),
    _f(145, 1115, 1, AN, "fees", 2, "category_code", TEXT, "住院费用-分类代码 2"),
    _f(146, 1116, 5, CN, "fees", 2, "amount", NUMBER, "住院费用-金额 2"),
    _f(147, 1121, 20, AN, "fees", 3, "category_name", TEXT, "住院费用-分类 3"),
    _f(148, 1141, 1, AN, "fees", 3, "category_code", TEXT, "住院费用-分类代码 3"),
    _f(149, 1142, 5, CN, "fees", 3, "amount", NUMBER, "住院费用-金额 3"),
    _f(150, 1147, 20, AN, "fees", 4, "category_name", TEXT, "住院费用-分类 4"),
    _f(151, 1167, 1, AN, "fees", 4, "category_code", TEXT, "住院费用-分类代码 4"),
    _f(152, 1168, 5, CN, "fees", 4, "amount", NUMBER, "住院费用-金额 4"),
    _f(153, 1173, 20, AN, "fees", 5, "category_name", TEXT, "住院费用-分类 5"),
    _f(154, 1193, 1, AN, "fees", 5, "category_code", TEXT, "住院费用-分类代码 5"),
    _f(155, 1194, 5, CN, "fees", 5, "amount", NUMBER, "住院费用-金额 5"),
    _f(156, 1199, 20, AN, "fees", 6, "category_name", TEXT, "住院费用-分类 6"),
    _f(157, 1219, 1, AN, "fees", 6, "category_code", TEXT, "住院费用-分类代码 6"),
    _f(158, 1220, 5, CN, "fees", 6, "amount", NUMBER, "住院费用-金额 6"),
    _f(159, 1225, 20, AN, "fees", 7, "category_name", TEXT, "住院费用-分类 7"),
    _f(160, 1245, 1, AN, "fees", 7, "category_code", TEXT, "住院费用-分类代码 7"),
    _f(161, 1246, 5, CN, "fees", 7, "amount", NUMBER, "住院费用-金额 7"),
    _f(162, 1251, 20, AN, "fees", 8, "category_name", TEXT, "住院费用-分类 8"),
    _f(163, 1271, 1, AN, "fees", 8, "category_code", TEXT, "住院费用-分类代码 8"),
    _f(164, 1272, 5, CN, "fees", 8, "amount", NUMBER, "住院费用-金额 8"),
    _f(165, 1277, 20, AN, "fees", 9, "category_name", TEXT, "住院费用-分类 9"),
    _f(166, 1297, 1, AN, "fees", 9, "category_code", TEXT, "住院费用-分类代码 9"),
    _f(167, 1298, 5, CN, "fees", 9, "amount", NUMBER, "住院费用-金额 9"),
    _f(168, 1303, 20, AN, "fees", 10, "category_name", TEXT, "住院费用-分类 10"),
    _f(169, 1323, 1, AN, "fees", 10, "category_code", TEXT, "住院费用-分类代码 10"),
    _f(170, 1324, 5, CN, "fees", 10, "amount", NUMBER, "住院费用-金额 10"),
    _f(171, 1329, 20, AN, "fees", 11, "category_name", TEXT, "住院费用-分类 11"),
    _f(172, 1349, 1, AN, "fees", 11, "category_code", TEXT, "住院费用-分类代码 11"),
    _f(173, 1350, 5, CN, "fees", 11, "amount", NUMBER, "住院费用-金额 11"),
    _f(174, 1355, 20, AN, "fees", 12, "category_name", TEXT, "住院费用-分类 12"),
    _f(175, 1375, 1, AN, "fees", 12, "category_code", TEXT, "住院费用-分类代码 12"),
    _f(176, 1376, 5, CN, "fees", 12, "amount", NUMBER, "住院费用-金额 12"),
    _f(177, 1381, 20, AN, "fees", 13, "category_name", TEXT, "住院费用-分类 13"),
    _f(178, 1401, 1, AN, "fees", 13, "category_code", TEXT, "住院费用-分类代码 13"),
    _f(179, 1402, 5, CN, "fees", 13, "amount", NUMBER, "住院费用-金额 13"),
    _f(180, 1407, 20, AN, "fees", 14, "category_name", TEXT, "住院费用-分类 14"),
    _f(181, 1427, 1, AN, "fees", 14, "category_code", TEXT, "住院费用-分类代码 14"),
    _f(182, 1428, 5, CN, "fees", 14, "amount", NUMBER, "住院费用-金额 14"),
    _f(183, 1433, 20, AN, "fees", 15, "category_name", TEXT, "住院费用-分类 15"),
    _f(184, 1453, 1, AN, "fees", 15, "category_code", TEXT, "住院费用-分类代码 15"),
    _f(185, 1454, 5, CN, "fees", 15, "amount", NUMBER, "住院费用-金额 15"),
    _f(186, 1459, 20, AN, "fees", 16, "category_name", TEXT, "住院费用-分类 16"),
    _f(187, 1479, 1, AN, "fees", 16, "category_code", TEXT, "住院费用-分类代码 16"),
    _f(188, 1480, 5, CN, "fees", 16, "amount", NUMBER, "住院费用-金额 16"),
    _f(189, 1485, 20, AN, "fees", 17, "category_name", TEXT, "住院费用-分类 17"),
    _f(190, 1505, 1, AN, "fees", 17, "category_code", TEXT, "住院费用-分类代码 17"),
    _f(191, 1506, 5, CN, "fees", 17, "amount", NUMBER, "住院费用-金额 17"),
    _f(192, 1511, 20, AN, "fees", 18, "category_name", TEXT, "住院费用-分类 18"),
    _f(193, 1531, 1, AN, "fees", 18, "category_code", TEXT, "住院费用-分类代码 18"),
    _f(194, 1532, 5, CN, "fees", 18, "amount", NUMBER, "住院费用-金额 18"),
    _f(195, 1537, 20, AN, "fees", 19, "category_name", TEXT, "住院费用-分类 19"),
    _f(196, 1557, 1, AN, "fees", 19, "category_code", TEXT, "住院费用-分类代码 19"),
    _f(197, 1558, 5, CN, "fees", 19, "amount", NUMBER, "住院费用-金额 19"),
    _f(198, 1563, 20, AN, "fees", 20, "category_name", TEXT, "住院费用-分类 20"),
    _f(199, 1583, 1, AN, "fees", 20, "category_code", TEXT, "住院费用-分类代码 20"),
    _f(200, 1584, 5, CN, "fees", 20, "amount", NUMBER, "住院费用-金额 20"),
    _f(201, 1589, 5, CN, None, None, "total_fee", NUMBER, "住院总费用"),
    _f(202, 1594, 5, CN, None, None, "bed_fee", NUMBER, "床位费"),
    _f(203, 1599, 5, CN, None, None, "nursing_fee", NUMBER, "住院护理费"),
    _f(204, 1604, 5, CN, None, None, "western_medicine_fee", NUMBER, "住院西药费"),
    _f(205, 1609, 5, CN, None, None, "chinese_medicine_fee", NUMBER, "住院中药费"),
    _f(206, 1614, 5, CN, None, None, "laboratory_fee", NUMBER, "住院化验费"),
    _f(207, 1619, 5, CN, None, None, "treatment_fee", NUMBER, "住院诊疗费"),
    _f(208, 1624, 5, CN, None, None, "surgery_fee", NUMBER, "住院手术费"),
    _f(209, 1629, 5, CN, None, None, "examination_fee", NUMBER, "住院检查费"),
    _f(210, 1634, 5, CN, None, None, "other_fee", NUMBER, "其他住院费用"),
    _f(211, 1639, 64, B, None, None, "signature", BYTES, "交易信息签名"),
    _f(212, 1703, 190, B, None, None, "sam_certificate", BYTES, "SAM卡证书"),
)

_ED_FIELDS: Final = (
    # (item no., offset, length, format, group, index, name, kind, Chinese label)
    _f(213, 0, 70, AN, None, None, "institution_name", TEXT, "就诊机构名称"),
    _f(214, 70, 10, AN, None, None, "institution_code", TEXT, "就诊机构组织机构代码"),
    _f(215, 80, 7, CN, None, None, "visit_time", DATETIME, "就诊日期时间"),
    _f(216, 87, 18, AN, None, None, "outpatient_number", TEXT, "门诊号"),
    _f(217, 105, 50, AN, None, None, "department", TEXT, "就医科室名称"),
    _f(218, 155, 1, CN, None, None, "payment_type", DIGITS, "医疗付款方式"),
    _f(219, 156, 50, AN, "diagnoses", 1, "symptom_name", TEXT, "症状名称 1"),
    _f(220, 206, 5, AN, "diagnoses", 1, "symptom_code", TEXT, "症状代码 1"),
    _f(221, 211, 4, CN, "diagnoses", 1, "diagnosis_date", DATE, "诊断日期 1"),
    _f(222, 215, 50, AN, "diagnoses", 1, "diagnosis_name", TEXT, "门诊诊断名称 1"),
    _f(223, 265, 7, AN, "diagnoses", 1, "diagnosis_code", TEXT, "门诊诊断代码 1"),
    _f(224, 272, 7, CN, "diagnoses", 1, "onset_time", DATETIME, "发病日期时间 1"),
    _f(225, 279, 2, CN, "diagnoses", 1, "symptom_duration", DIGITS, "症状持续时间 1"),
    _f(226, 281, 50, AN, "diagnoses", 2, "symptom_name", TEXT, "症状名称 2"),
    _f(227, 331, 5, AN, "diagnoses", 2, "symptom_code", TEXT, "症状代码 2"),
    _f(228, 336, 4, CN, "diagnoses", 2, "diagnosis_date", DATE, "诊断日期 2"),
    _f(229, 340, 50, AN, "diagnoses", 2, "diagnosis_name", TEXT, "门诊诊断名称 2"),
    _f(230, 390, 7, AN, "diagnoses", 2, "diagnosis_code", TEXT, "门诊诊断代码 2"),
    _f(231, 397, 7, CN, "diagnoses", 2, "onset_time", DATETIME, "发病日期时间 2"),
    _f(232, 404, 2, CN, "diagnoses", 2, "symptom_duration", DIGITS, "症状持续时间 2"),
    _f(233, 406, 50, AN, "diagnoses", 3, "symptom_name", TEXT, "症状名称 3"),
    _f(234, 456, 5, AN, "diagnoses", 3, "symptom_code", TEXT, "症状代码 3"),
    _f(235, 461, 4, CN, "diagnoses", 3, "diagnosis_date", DATE, "诊断日期 3"),
    _f(236, 465, 50, AN, "diagnoses", 3, "diagnosis_name", TEXT, "门诊诊断名称 3"),
    _f(237, 515, 7, AN, "diagnoses", 3, "diagnosis_code", TEXT, "门诊诊断代码 3"),
    _f(238, 522, 7, CN, "diagnoses", 3, "onset_time", DATETIME, "发病日期时间 3"),
    _f(239, 529, 2, CN, "diagnoses", 3, "symptom_duration", DIGITS, "症状持续时间 3"),
    _f(240, 531, 50, AN, "diagnoses", 4, "symptom_name", TEXT, "症状名称 4"),
    _f(241, 581, 5, AN, "diagnoses", 4, "symptom_code", TEXT, "症状代码 4"),
    _f(242, 586, 4, CN, "diagnoses", 4, "diagnosis_date", DATE, "诊断日期 4"),
    _f(243, 590, 50, AN, "diagnoses", 4, "diagnosis_name", TEXT, "门诊诊断名称 4"),
    _f(244, 640, 7, AN, "diagnoses", 4, "diagnosis_code", TEXT, "门诊诊断代码 4"),
    _f(245, 647, 7, CN, "diagnoses", 4, "onset_time", DATETIME, "发病日期时间 4"),
    _f(246, 654, 2, CN, "diagnoses", 4, "symptom_duration", DIGITS, "症状持续时间 4"),
    _f(247, 656, 50, AN, "diagnoses", 5, "symptom_name", TEXT, "症状名称 5"),
    _f(248, 706, 5, AN, "diagnoses", 5, "symptom_code", TEXT, "症状代码 5"),
    _f(249, 711, 4, CN, "diagnoses", 5, "diagnosis_date", DATE, "诊断日期 5"),
    _f(250, 715, 50, AN, "diagnoses", 5, "diagnosis_name", TEXT, "门诊诊断名称 5"),
    _f(251, 765, 7, AN, "diagnoses", 5, "diagnosis_code", TEXT, "门诊诊断代码 5"),
    _f(252, 772, 7, CN, "diagnoses", 5, "onset_time", DATETIME, "发病日期时间 5"),
    _f(253, 779, 2, CN, "diagnoses", 5, "symptom_duration", DIGITS, "症状持续时间 5"),
    _f(254, 781, 80, AN, "lab_tests", 1, "name", TEXT, "检查/检验项目名称 1"),
    _f(255, 861, 1, CN, "lab_tests", 1, "result_code", DIGITS, "检查/检验结果代码 1"),
    _f(256, 862, 5, CN, "lab_tests", 1, "quantitative_result", DIGITS, "检查/检验定量结果 1"),
    _f(257, 867, 20, AN, "lab_tests", 1, "unit", TEXT, "检查/检验计量单位 1"),
    _f(258, 887, 20, AN, "lab_tests", 1, "code", TEXT, "检查/检验项目代码 1"),
    _f(259, 907, 80, AN, "lab_tests", 2, "name", TEXT, "检查/检验项目名称 2"),
    _f(260, 987, 1, CN, "lab_tests", 2, "result_code", DIGITS, "检查/检验结果代码 2"),
    _f(261, 988, 5, CN, "lab_tests", 2, "quantitative_result", DIGITS, "检查/检验定量结果 2"),
    _f(262, 993, 20, AN, "lab_tests", 2, "unit", TEXT, "检查/检验计量单位 2"),
    _f(263, 1013, 20, AN, "lab_tests", 2, "code", TEXT, "检查/检验项目代码 2"),
    _f(264, 1033, 80, AN, "lab_tests", 3, "name", TEXT, "检查/检验项目名称 3"),
    _f(265, 1113, 1, CN, "lab_tests", 3, "result_code", DIGITS, "检查/检验结果代码 3"),
    _f(266, 1114, 5, CN, "lab_tests", 3, "quantitative_result", DIGITS, "检查/检验定量结果 3"),
    _f(267, 1119, 20, AN, "lab_tests", 3, "unit", TEXT, "检查/检验计量单位 3"),
    _f(268, 1139, 20, AN, "lab_tests", 3, "code", TEXT, "检查/检验项目代码 3"),
    _f(269, 1159, 80, AN, "lab_tests", 4, "name", TEXT, "检查/检验项目名称 4"),
    _f(270, 1239, 1, CN, "lab_tests", 4, "result_code", DIGITS, "检查/检验结果代码 4"),
    _f(271, 1240, 5, CN, "lab_tests", 4, "quantitative_result", DIGITS, "检查/检验定量结果 4"),
    _f(272, 1245, 20, AN, "lab_tests", 4, "unit", TEXT, "检查/检验计量单位 4"),
    _f(273, 1265, 20, AN, "lab_tests", 4, "code", TEXT, "检查/检验项目代码 4"),
    _f(274, 1285, 80, AN, "lab_tests", 5, "name", TEXT, "检查/检验项目名称 5"),
    _f(275, 1365, 1, CN, "lab_tests", 5, "result_code", DIGITS, "检查/检验结果代码 5"),
    _f(276, 1366, 5, CN, "lab_tests", 5, "quantitative_result", DIGITS, "检查/检验定量结果 5"),
    _f(277, 1371, 20, AN, "lab_tests", 5, "unit", TEXT, "检查/检验计量单位 5"),
    _f(278, 1391, 20, AN, "lab_tests", 5, "code", TEXT, "检查/检验项目代码 5"),
    _f(279, 1411, 80, AN, "lab_tests", 6, "name", TEXT, "检查/检验项目名称 6"),
    _f(280, 1491, 1, CN, "lab_tests", 6, "result_code", DIGITS, "检查/检验结果代码 6"),
    _f(281, 1492, 5, CN, "lab_tests", 6, "quantitative_result", DIGITS, "检查/检验定量结果 6"),
    _f(282, 1497, 20, AN, "lab_tests", 6, "unit", TEXT, "检查/检验计量单位 6"),
    _f(283, 1517, 20, AN, "lab_tests", 6, "code", TEXT, "检查/检验项目代码 6"),
    _f(284, 1537, 80, AN, "lab_tests", 7, "name", TEXT, "检查/检验项目名称 7"),
    _f(285, 1617, 1, CN, "lab_tests", 7, "result_code", DIGITS, "检查/检验结果代码 7"),
    _f(286, 1618, 5, CN, "lab_tests", 7, "quantitative_result", DIGITS, "检查/检验定量结果 7"),
    _f(287, 1623, 20, AN, "lab_tests", 7, "unit", TEXT, "检查/检验计量单位 7"),
    _f(288, 1643, 20, AN, "lab_tests", 7, "code", TEXT, "检查/检验项目代码 7"),
    _f(289, 1663, 80, AN, "lab_tests", 8, "name", TEXT, "检查/检验项目名称 8"),
    _f(290, 1743, 1, CN, "lab_tests", 8, "result_code", DIGITS, "检查/检验结果代码 8"),
    _f(291, 1744, 5, CN, "lab_tests", 8, "quantitative_result", DIGITS, "检查/检验定量结果 8"),
    _f(292, 1749, 20, AN, "lab_tests", 8, "unit", TEXT, "检查/检验计量单位 8"),
    _f(293, 1769, 20, AN, "lab_tests", 8, "code", TEXT, "检查/检验项目代码 8"),
    _f(294, 1789, 80, AN, "lab_tests", 9, "name", TEXT, "检查/检验项目名称 9"),
    _f(295, 1869, 1, CN, "lab_tests", 9, "result_code", DIGITS, "检查/检验结果代码 9"),
    _f(296, 1870, 5, CN, "lab_tests", 9, "quantitative_result", DIGITS, "检查/检验定量结果 9"),
    _f(297, 1875, 20, AN, "lab_tests", 9, "unit", TEXT, "检查/检验计量单位 9"),
    _f(298, 1895, 20, AN, "lab_tests", 9, "code", TEXT, "检查/检验项目代码 9"),
    _f(299, 1915, 80, AN, "lab_tests", 10, "name", TEXT, "检查/检验项目名称 10"),
    _f(300, 1995, 1, CN, "lab_tests", 10, "result_code", DIGITS, "检查/检验结果代码 10"),
    _f(301, 1996, 5, CN, "lab_tests", 10, "quantitative_result", DIGITS, "检查/检验定量结果 10"),
    _f(302, 2001, 20, AN, "lab_tests", 10, "unit", TEXT, "检查/检验计量单位 10"),
    _f(303, 2021, 20, AN, "lab_tests", 10, "code", TEXT, "检查/检验项目代码 10"),
    _f(304, 2041, 50, AN, "medications", 1, "name", TEXT, "药物名称 1"),
    _f(305, 2091, 1, CN, "medications", 1, "dosage_form_code", DIGITS, "药物剂型代码 1"),
    _f(306, 2092, 3, CN, "medications", 1, "days", NUMBER, "用药天数 1"),
    _f(307, 2095, 20, AN, "medications", 1, "frequency", TEXT, "药物使用频率 1"),
    _f(308, 2115, 6, AN, "medications", 1, "dose_unit", TEXT, "药物使用剂量单位 1"),
    _f(309, 2121, 3, CN, "medications", 1, "single_dose", DIGITS, "药物使用次剂量 1"),
    _f(310, 2124, 6, CN, "medications", 1, "total_dose", DIGITS, "药物使用总剂量 1"),
    _f(311, 2130, 2, CN, "medications", 1, "route_code", DIGITS, "药物使用途径代码 1"),
    _f(312, 2132, 50, AN, "medications", 2, "name", TEXT, "药物名称 2"),
    _f(313, 2182, 1, CN, "medications", 2, "dosage_form_code", DIGITS, "药物剂型代码 2"),
    _f(314, 2183, 3, CN, "medications", 2, "days", NUMBER, "用药天数 2"),
    _f(315, 2186, 20, AN, "medications", 2, "frequency", TEXT, "药物使用频率 2"),
    _f(316, 2206, 6, AN, "medications", 2, "dose_unit", TEXT, "药物使用剂量单位 2"),
    _f(317, 2212, 3, CN, "medications", 2, "single_dose", DIGITS, "药物使用次剂量 2"),
    _f(318, 2215, 6, CN, "medications", 2, "total_dose", DIGITS, "药物使用总剂量 2"),
    _f(319, 2221, 2, CN, "medications", 2, "route_code", DIGITS, "药物使用途径代码 2"),
    _f(320, 2223, 50, AN, "medications", 3, "name", TEXT, "药物名称 3"),
    _f(321, 2273, 1, CN, "medications", 3, "dosage_form_code", DIGITS, "药物剂型代码 3"),
    _f(322, 2274, 3, CN, "medications", 3, "days", NUMBER, "用药天数 3"),
    _f(323, 2277, 20, AN, "medications", 3, "frequency", TEXT, "药物使用频率 3"),
    _f(324, 2297, 6, AN, "medications", 3, "dose_unit", TEXT, "药物使用剂量单位 3"),
    _f(325, 2303, 3, CN, "medications", 3, "single_dose", DIGITS, "药物使用次剂量 3"),
    _f(326, 2306, 6, CN, "medications", 3, "total_dose", DIGITS, "药物使用总剂量 3"),
    _f(327, 2312, 2, CN, "medications", 3, "route_code", DIGITS, "药物使用途径代码 3"),
    _f(328, 2314, 50, AN, "medications", 4, "name", TEXT, "药物名称 4"),
    _f(329, 2364, 1, CN, "medications", 4, "dosage_form_code", DIGITS, "药物剂型代码 4"),
    _f(330, 2365, 3, CN, "medications", 4, "days", NUMBER, "用药天数 4"),
    _f(331, 2368, 20, AN, "medications", 4, "frequency", TEXT, "药物使用频率 4"),
    _f(332, 2388, 6, AN, "medications", 4, "dose_unit", TEXT, "药物使用剂量单位 4"),
    _f(333, 2394, 3, CN, "medications", 4, "single_dose", DIGITS, "药物使用次剂量 4"),
    _f(334, 2397, 6, CN, "medications", 4, "total_dose", DIGITS, "药物使用总剂量 4"),
    _f(335, 2403, 2, CN, "medications", 4, "route_code", DIGITS, "药物使用途径代码 4"),
    _f(336, 2405, 50, AN, "medications", 5, "name", TEXT, "药物名称 5"),
    _f(337, 2455, 1, CN, "medications", 5, "dosage_form_code", DIGITS, "药物剂型代码 5"),
    _f(338, 2456, 3, CN, "medications", 5, "days", NUMBER, "用药天数 5"),
    _f(339, 2459, 20, AN, "medications", 5, "frequency", TEXT, "药物使用频率 5"),
    _f(340, 2479, 6, AN, "medications", 5, "dose_unit", TEXT, "药物使用剂量单位 5"),
    _f(341, 2485, 3, CN, "medications", 5, "single_dose", DIGITS, "药物使用次剂量 5"),
    _f(342, 2488, 6, CN, "medications", 5, "total_dose", DIGITS, "药物使用总剂量 5"),
    _f(343, 2494, 2, CN, "medications", 5, "route_code", DIGITS, "药物使用途径代码 5"),
    _f(344, 2496, 80, AN, "procedures", 1, "name", TEXT, "手术/操作名称 1"),
    _f(345, 2576, 5, AN, "procedures", 1, "code", TEXT, "手术/操作代码 1"),
    _f(346, 2581, 4, CN, "procedures", 1, "date", DATE, "手术/操作日期 1"),
    _f(347, 2585, 80, AN, "procedures", 2, "name", TEXT, "手术/操作名称 2"),
    _f(348, 2665, 5, AN, "procedures", 2, "code", TEXT, "手术/操作代码 2"),
    _f(349, 2670, 4, CN, "procedures", 2, "date", DATE, "手术/操作日期 2"),
    _f(350, 2674, 80, AN, "procedures", 3, "name", TEXT, "手术/操作名称 3"),
    _f(351, 2754, 5, AN, "procedures", 3, "code", TEXT, "手术/操作代码 3"),
    _f(352, 2759, 4, CN, "procedures", 3, "date", DATE, "手术/操作日期 3"),
    _f(353, 2763, 20, AN, "fees", 1, "category_name", TEXT, "门诊费用分类名称 1"),
    _f(354, 2783, 1, CN, "fees", 1, "category_code", DIGITS, "门诊费用分类代码 1"),
    _f(355, 2784, 4, CN, "fees", 1, "amount", NUMBER, "门诊费用金额 1"),
    _f(356, 2788, 20, AN, "fees", 2, "category_name", TEXT, "门诊费用分类名称 2"),
    _f(357, 2808, 1, CN, "fees", 2, "category_code", DIGITS, "门诊费用分类代码 2"),
    _f(358, 2809, 4, CN, "fees", 2, "amount", NUMBER, "门诊费用金额 2"),
    _f(359, 2813, 20, AN, "fees", 3, "category_name", TEXT, "门诊费用分类名称 3"),
    _f(360, 2833, 1, CN, "fees", 3, "category_code", DIGITS, "门诊费用分类代码 3"),
    _f(361, 2834, 4, CN, "fees", 3, "amount", NUMBER, "门诊费用金额 3"),
    _f(362, 2838, 20, AN, "fees", 4, "category_name", TEXT, "门诊费用分类名称 4"),
    _f(363, 2858, 1, CN, "fees", 4, "category_code", DIGITS, "门诊费用分类代码 4"),
    _f(364, 2859, 4, CN, "fees", 4, "amount", NUMBER, "门诊费用金额 4"),
    _f(365, 2863, 20, AN, "fees", 5, "category_name", TEXT, "门诊费用分类名称 5"),
    _f(366, 2883, 1, CN, "fees", 5, "category_code", DIGITS, "门诊费用分类代码 5"),
    _f(367, 2884, 4, CN, "fees", 5, "amount", NUMBER, "门诊费用金额 5"),
    _f(368, 2888, 20, AN, "fees", 6, "category_name", TEXT, "门诊费用分类名称 6"),
    _f(369, 2908, 1, CN, "fees", 6, "category_code", DIGITS, "门诊费用分类代码 6"),
    _f(370, 2909, 4, CN, "fees", 6, "amount", NUMBER, "门诊费用金额 6"),
    _f(371, 2913, 20, AN, "fees", 7, "category_name", TEXT, "门诊费用分类名称 7"),
    _f(372, 2933, 1, CN, "fees", 7, "category_code", DIGITS, "门诊费用分类代码 7"),
    _f(373, 2934, 4, CN, "fees", 7, "amount", NUMBER, "门诊费用金额 7"),
    _f(374, 2938, 20, AN, "fees", 8, "category_name", TEXT, "门诊费用分类名称 8"),
    _f(375, 2958, 1, CN, "fees", 8, "category_code", DIGITS, "门诊费用分类代码 8"),
    _f(376, 2959, 4, CN, "fees", 8, "amount", NUMBER, "门诊费用金额 8"),
    _f(377, 2963, 20, AN, "fees", 9, "category_name", TEXT, "门诊费用分类名称 9"),
    _f(378, 2983, 1, CN, "fees", 9, "category_code", DIGITS, "门诊费用分类代码 9"),
    _f(379, 2984, 4, CN, "fees", 9, "amount", NUMBER, "门诊费用金额 9"),
    _f(380, 2988, 20, AN, "fees", 10, "category_name", TEXT, "门诊费用分类名称 10"),
    _f(381, 3008, 1, CN, "fees", 10, "category_code", DIGITS, "门诊费用分类代码 10"),
    _f(382, 3009, 4, CN, "fees", 10, "amount", NUMBER, "门诊费用金额 10"),
    _f(383, 3013, 64, B, None, None, "signature", BYTES, "交易信息签名"),
    _f(384, 3077, 190, B, None, None, "sam_certificate", BYTES, "SAM卡证书"),
)
# fmt: on

INPATIENT_LAYOUT: Final = RecordLayout("DF03/EE0n inpatient record", 1893, 1639, _EE_FIELDS)
OUTPATIENT_LAYOUT: Final = RecordLayout("DF03/ED0n outpatient record", 3267, 3013, _ED_FIELDS)
