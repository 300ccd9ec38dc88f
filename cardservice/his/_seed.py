"""Reference data for the embedded HIS: departments, doctors, a week of slots, and for the demo card
holder (the synthetic 李明 of simulators/health) outstanding bills and lab reports. Every name is
synthetic. :func:`seed` is idempotent: it inserts what is missing and never changes what is there
(a demo bill paid yesterday stays paid)."""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from cardservice.his._embedded import EmbeddedHis, _now
from cardservice.his._errors import HisUnavailable
from cardservice.his._values import CHINA_TZ, Patient
from cardservice.store import (
    Database,
    HisBillItemRow,
    HisBillRow,
    HisBirthRow,
    HisDepartmentRow,
    HisDoctorRow,
    HisLabItemRow,
    HisLabReportRow,
    HisSlotRow,
    describe,
)

__all__ = ["DEMO_BIRTH", "FEES_FEN", "SEED_DAYS", "open_embedded_his", "seed"]

_log = logging.getLogger("cardservice.his")

#: Days of slots from ``today`` on.
SEED_DAYS = 7
#: Registration fee by doctor title; ``None``: the department's general clinic (普通门诊).
FEES_FEN: dict[str | None, int] = {"主任医师": 5000, "副主任医师": 3000, "主治医师": 1500, None: 1000}
_CAPACITY: dict[str | None, int] = {"主任医师": 2, "副主任医师": 3, "主治医师": 4, None: 50}

_DEPARTMENTS = (
    ("D01", "内科", "门诊楼2层A区"),
    ("D02", "外科", "门诊楼2层B区"),
    ("D03", "儿科", "门诊楼1层C区"),
    ("D04", "妇产科", "门诊楼3层A区"),
    ("D05", "眼科", "门诊楼4层A区"),
    ("D06", "耳鼻咽喉科", "门诊楼4层B区"),
    ("D07", "口腔科", "门诊楼5层"),
    ("D08", "皮肤科", "门诊楼3层B区"),
    ("D09", "中医科", "门诊楼1层D区"),
)
_DOCTORS = {
    "D01": (
        ("王建国", "主任医师", "高血压、冠心病"),
        ("刘晓燕", "副主任医师", "糖尿病、甲状腺疾病"),
        ("陈志强", "主治医师", "呼吸道感染、慢性咳嗽"),
    ),
    "D02": (("赵立新", "主任医师", "肝胆外科、腹腔镜手术"), ("孙海涛", "主治医师", "外伤处理、体表肿物")),
    "D03": (
        ("周婷", "主任医师", "小儿呼吸、哮喘"),
        ("吴佳琪", "副主任医师", "小儿消化"),
        ("郑浩然", "主治医师", "儿童保健、发热"),
    ),
    "D04": (("冯丽华", "主任医师", "高危妊娠"), ("何雪梅", "主治医师", "妇科炎症、产前检查")),
    "D05": (("许明远", "副主任医师", "白内障、青光眼"), ("韩雨欣", "主治医师", "屈光不正、干眼")),
    "D06": (("邓国华", "主任医师", "鼻窦炎、睡眠呼吸暂停"), ("曹静", "主治医师", "中耳炎、咽喉炎")),
    "D07": (
        ("彭晓东", "副主任医师", "牙体牙髓"),
        ("曾思雨", "主治医师", "牙周病、洁牙"),
        ("蒋文博", "主治医师", "儿童口腔"),
    ),
    "D08": (("谢美玲", "副主任医师", "湿疹、银屑病"), ("罗俊杰", "主治医师", "痤疮、过敏性皮肤病")),
    "D09": (
        ("黄德明", "主任医师", "脾胃病、失眠"),
        ("林秀英", "副主任医师", "针灸推拿"),
        ("马春生", "主治医师", "颈肩腰腿痛"),
        ("朱慧敏", "主治医师", "月经不调、调理"),
    ),
}

_MORNING = (_dt.time(8, 0), _dt.time(11, 30))
_AFTERNOON = (_dt.time(13, 30), _dt.time(17, 0))
_SLOT = _dt.timedelta(minutes=30)


def _at(day: _dt.date, time: _dt.time) -> _dt.datetime:
    return _dt.datetime.combine(day, time, CHINA_TZ)


def _slots(today: _dt.date) -> list[HisSlotRow]:
    """Doctors sit some half-days (a fixed rota) in 30-minute slots; the general clinic sits every
    half-day as one session slot."""
    rows: list[HisSlotRow] = []
    for offset in range(SEED_DAYS):
        day = today + _dt.timedelta(days=offset)
        stamp = day.strftime("%Y%m%d")
        weekday = day.weekday()
        for department_id, _, _ in _DEPARTMENTS:
            for session, (start, end) in (("上午", _MORNING), ("下午", _AFTERNOON)):
                half = "AM" if session == "上午" else "PM"
                rows.append(
                    HisSlotRow(
                        id=f"{department_id}-PT-{stamp}-{half}",
                        department_id=department_id,
                        doctor_id=None,
                        start_at=_at(day, start),
                        end_at=_at(day, end),
                        session=session,
                        fee_fen=FEES_FEN[None],
                        capacity=_CAPACITY[None],
                        remaining=_CAPACITY[None],
                        issued=0,
                    )
                )
            for index, (_, title, _) in enumerate(_DOCTORS[department_id], start=1):
                doctor_id = f"{department_id}-{index:02d}"
                for number, (session, (start, end)) in enumerate((("上午", _MORNING), ("下午", _AFTERNOON))):
                    if (weekday + index + number) % 2:
                        continue
                    at = _at(day, start)
                    while at + _SLOT <= _at(day, end):
                        rows.append(
                            HisSlotRow(
                                id=f"{doctor_id}-{stamp}-{at:%H%M}",
                                department_id=department_id,
                                doctor_id=doctor_id,
                                start_at=at,
                                end_at=at + _SLOT,
                                session=session,
                                fee_fen=FEES_FEN[title],
                                capacity=_CAPACITY[title],
                                remaining=_CAPACITY[title],
                                issued=0,
                            )
                        )
                        at += _SLOT
    return rows


class _Lab(NamedTuple):
    code: str
    name: str
    result: str
    unit: str | None
    low: str | None = None
    high: str | None = None
    text: str | None = None


_CBC = (
    _Lab("WBC", "白细胞计数", "10.8", "10^9/L", "3.5", "9.5"),
    _Lab("NEUT%", "中性粒细胞百分比", "78.2", "%", "40", "75"),
    _Lab("LYMPH%", "淋巴细胞百分比", "15.1", "%", "20", "50"),
    _Lab("MONO%", "单核细胞百分比", "5.2", "%", "3", "10"),
    _Lab("EO%", "嗜酸性粒细胞百分比", "1.2", "%", "0.4", "8.0"),
    _Lab("BASO%", "嗜碱性粒细胞百分比", "0.3", "%", "0", "1"),
    _Lab("NEUT#", "中性粒细胞绝对值", "8.45", "10^9/L", "1.8", "6.3"),
    _Lab("LYMPH#", "淋巴细胞绝对值", "1.63", "10^9/L", "1.1", "3.2"),
    _Lab("MONO#", "单核细胞绝对值", "0.56", "10^9/L", "0.1", "0.6"),
    _Lab("EO#", "嗜酸性粒细胞绝对值", "0.13", "10^9/L", "0.02", "0.52"),
    _Lab("BASO#", "嗜碱性粒细胞绝对值", "0.03", "10^9/L", "0", "0.06"),
    _Lab("RBC", "红细胞计数", "4.62", "10^12/L", "4.3", "5.8"),
    _Lab("HGB", "血红蛋白", "138", "g/L", "130", "175"),
    _Lab("HCT", "红细胞压积", "41.5", "%", "40", "50"),
    _Lab("MCV", "平均红细胞体积", "89.8", "fL", "82", "100"),
    _Lab("MCH", "平均红细胞血红蛋白含量", "29.9", "pg", "27", "34"),
    _Lab("MCHC", "平均红细胞血红蛋白浓度", "333", "g/L", "316", "354"),
    _Lab("RDW-CV", "红细胞分布宽度变异系数", "12.8", "%", "11.5", "14.5"),
    _Lab("PLT", "血小板计数", "312", "10^9/L", "125", "350"),
    _Lab("MPV", "平均血小板体积", "10.1", "fL", "7.4", "12.5"),
    _Lab("PCT", "血小板压积", "0.32", "%", "0.108", "0.282"),
    _Lab("PDW", "血小板分布宽度", "16.2", "%", "9", "17"),
    _Lab("CRP", "C反应蛋白", "18.6", "mg/L", "0", "10"),
)
_LIVER = (
    _Lab("ALT", "丙氨酸氨基转移酶", "56", "U/L", "9", "50"),
    _Lab("AST", "天门冬氨酸氨基转移酶", "38", "U/L", "15", "40"),
    _Lab("AST/ALT", "谷草/谷丙比值", "0.68", None),
    _Lab("GGT", "γ-谷氨酰转移酶", "45", "U/L", "10", "60"),
    _Lab("ALP", "碱性磷酸酶", "82", "U/L", "45", "125"),
    _Lab("TBIL", "总胆红素", "15.2", "μmol/L", "0", "21"),
    _Lab("DBIL", "直接胆红素", "4.1", "μmol/L", None, "6.8"),
    _Lab("IBIL", "间接胆红素", "11.1", "μmol/L", "0", "15"),
    _Lab("TP", "总蛋白", "72.4", "g/L", "65", "85"),
    _Lab("ALB", "白蛋白", "44.6", "g/L", "40", "55"),
    _Lab("GLB", "球蛋白", "27.8", "g/L", "20", "40"),
    _Lab("A/G", "白球比", "1.6", None, "1.2", "2.4"),
)
_URINE = (
    _Lab("COL", "颜色", "淡黄色", None, text="淡黄色"),
    _Lab("CLA", "透明度", "清亮", None, text="清亮"),
    _Lab("SG", "比重", "1.020", None, "1.003", "1.030"),
    _Lab("PH", "酸碱度", "6.0", None, "4.5", "8.0"),
    _Lab("PRO", "尿蛋白", "阴性", None, text="阴性"),
    _Lab("GLU", "尿葡萄糖", "阴性", None, text="阴性"),
    _Lab("KET", "酮体", "阴性", None, text="阴性"),
    _Lab("BIL", "胆红素", "阴性", None, text="阴性"),
    _Lab("URO", "尿胆原", "正常", None, text="正常"),
    _Lab("BLD", "隐血", "弱阳性(±)", None, text="阴性"),
    _Lab("NIT", "亚硝酸盐", "阴性", None, text="阴性"),
    _Lab("LEU", "白细胞酯酶", "阴性", None, text="阴性"),
    _Lab("UWBC", "镜检白细胞", "3", "/μL", "0", "25"),
    _Lab("URBC", "镜检红细胞", "21", "/μL", "0", "17"),
)
# (id, title, specimen, days ago, collected, reported, items)
_REPORTS = (
    ("JY-DEMO-0001", "血常规", "全血", 2, _dt.time(8, 26), _dt.time(9, 41), _CBC),
    ("JY-DEMO-0002", "肝功能", "血清", 2, _dt.time(8, 26), _dt.time(11, 5), _LIVER),
    ("JY-DEMO-0003", "尿常规", "尿液", 1, _dt.time(9, 12), _dt.time(10, 3), _URINE),
)
# (id, title, days ago, [(name, unit, quantity, unit price)])
_BILLS = (
    (
        "SF-DEMO-0001",
        "药费",
        1,
        (
            ("阿莫西林胶囊 0.25g×24粒", "盒", 2, 1850),
            ("布洛芬缓释胶囊 0.3g×20粒", "盒", 1, 2260),
            ("复方甘草片 100片", "瓶", 1, 850),
            ("连花清瘟胶囊 0.35g×24粒", "盒", 1, 1480),
        ),
    ),
    (
        "SF-DEMO-0002",
        "检查费",
        2,
        (
            ("血常规(五分类)+C反应蛋白", "项", 1, 3500),
            ("肝功能11项", "项", 1, 4500),
            ("尿常规", "项", 1, 1000),
            ("静脉采血", "次", 1, 500),
            ("胸部正位DR", "次", 1, 6500),
        ),
    ),
)


#: The demo patient's newborn (新生儿发卡 at the kiosk): born here a month ago, the patient its father.
DEMO_BIRTH = ("O110000001", "李小宝", "2", 30)


def _demo_rows(session: Session, patient: Patient, today: _dt.date) -> None:
    certificate, name, sex, days_ago = DEMO_BIRTH
    if session.get(HisBirthRow, certificate) is None:
        born = today - _dt.timedelta(days=days_ago)
        session.add(HisBirthRow(birth_certificate=certificate, name=name, sex=sex, birth_date=born,
                                father_number=patient.card_number))  # fmt: skip
    for bill_id, title, days_ago, lines in _BILLS:
        if session.get(HisBillRow, bill_id) is not None:
            continue
        day = today - _dt.timedelta(days=days_ago)
        session.add(
            HisBillRow(
                id=bill_id,
                card_number=patient.card_number,
                title=title,
                department="内科",
                total_fen=sum(q * p for _, _, q, p in lines),
                status="outstanding",
                created_at=_at(day, _dt.time(10, 20)),
            )
        )
        session.flush()
        session.add_all(
            HisBillItemRow(
                bill_id=bill_id,
                line=line,
                name=name,
                unit=unit,
                quantity=quantity,
                unit_price_fen=price,
                amount_fen=quantity * price,
            )
            for line, (name, unit, quantity, price) in enumerate(lines, start=1)
        )
    for report_id, title, specimen, days_ago, collected, reported, items in _REPORTS:
        if session.get(HisLabReportRow, report_id) is not None:
            continue
        day = today - _dt.timedelta(days=days_ago)
        session.add(
            HisLabReportRow(
                id=report_id,
                card_number=patient.card_number,
                title=title,
                specimen=specimen,
                department="内科",
                doctor_name="王建国",
                collected_at=_at(day, collected),
                reported_at=_at(day, reported),
            )
        )
        session.flush()
        session.add_all(
            HisLabItemRow(
                report_id=report_id,
                line=line,
                code=item.code,
                name=item.name,
                result=item.result,
                unit=item.unit,
                reference_low=item.low,
                reference_high=item.high,
                reference_text=item.text,
            )
            for line, item in enumerate(items, start=1)
        )


def _seed_once(session: Session, today: _dt.date, patient: Patient | None) -> int:
    have = set(session.scalars(select(HisDepartmentRow.id)))
    session.add_all(
        HisDepartmentRow(id=i, name=name, location=where, sort_order=n)
        for n, (i, name, where) in enumerate(_DEPARTMENTS, start=1)
        if i not in have
    )
    session.flush()
    have = set(session.scalars(select(HisDoctorRow.id)))
    for department_id, doctors in _DOCTORS.items():
        for index, (name, title, specialty) in enumerate(doctors, start=1):
            doctor_id = f"{department_id}-{index:02d}"
            if doctor_id not in have:
                session.add(
                    HisDoctorRow(
                        id=doctor_id, department_id=department_id, name=name, title=title, specialty=specialty
                    )
                )
    session.flush()
    slots = _slots(today)
    have = set(
        session.scalars(
            select(HisSlotRow.id).where(
                HisSlotRow.start_at >= _at(today, _dt.time()),
                HisSlotRow.start_at < _at(today + _dt.timedelta(days=SEED_DAYS), _dt.time()),
            )
        )
    )
    missing = [slot for slot in slots if slot.id not in have]
    session.add_all(missing)
    session.flush()
    if patient is not None:
        _demo_rows(session, patient, today)
    return len(missing)


def seed(database: Database, today: _dt.date, *, patient: Patient | None = None) -> None:
    """Insert the reference data that is missing: departments, doctors, slots for ``today`` and the
    following days, and — with *patient* (the demo card's holder) — that patient's bills and lab reports."""
    for attempt in (1, 2):
        try:
            with database.session() as session:
                added = _seed_once(session, today, patient)
            _log.info("his seed for %s: %d new slots", today.isoformat(), added)
            return
        except IntegrityError as exc:  # another daemon seeded the same rows at the same time
            if attempt == 2:
                raise HisUnavailable(f"embedded HIS database: {describe(exc)}") from None
        except SQLAlchemyError as exc:
            raise HisUnavailable(f"embedded HIS database: {describe(exc)}") from None


def open_embedded_his(
    database: Database,
    *,
    today: _dt.date | None = None,
    clock: Callable[[], _dt.datetime] = _now,
    patient: Patient | None = None,
) -> EmbeddedHis:
    """What the daemon calls at start: the reference data seeded (a week of slots from today, Beijing
    time; *patient*'s demo bills and reports), and an :class:`EmbeddedHis` over ``database``."""
    seed(database, today or clock().astimezone(CHINA_TZ).date(), patient=patient)
    return EmbeddedHis(database, clock=clock)
