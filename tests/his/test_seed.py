"""The reference data: idempotent seeding, a week of slots from today, the demo holder's bills and
reports (enough lines for a multi-page 58 mm print), nothing for anyone else."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from cardservice.his import EmbeddedHis, seed
from cardservice.store import Database, HisBillRow, HisDoctorRow, HisLabItemRow, HisSlotRow
from simulators.demo import demo_patient
from tests.his.conftest import TODAY, make_patient


def counts(database: Database) -> tuple[int, ...]:
    with database.session(readonly=True) as session:
        return tuple(
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (HisDoctorRow, HisSlotRow, HisBillRow, HisLabItemRow)
        )


def test_seeding_again_adds_nothing_and_keeps_what_changed(embedded: EmbeddedHis, database: Database) -> None:
    patient = demo_patient()
    assert patient is not None
    before = counts(database)
    assert before[0] >= 18
    assert before[1] > 500
    drugs = next(b for b in embedded.bills(patient) if b.title == "药费")
    embedded.settle_bill(
        patient, drugs.id, payment_reference="P-1", amount_fen=drugs.total_fen, idempotency_key="k"
    )
    seed(database, TODAY, patient=patient)
    assert counts(database) == before
    assert [b.title for b in embedded.bills(patient)] == ["检查费"]  # the paid bill stays paid


def test_a_later_day_adds_the_missing_days_slots(embedded: EmbeddedHis, database: Database) -> None:
    later = TODAY + dt.timedelta(days=3)
    assert (
        embedded.slots("D05", date_from=later + dt.timedelta(days=4), date_to=later + dt.timedelta(days=6))
        == []
    )
    seed(database, later)
    week = embedded.slots("D05", date_from=TODAY, date_to=later + dt.timedelta(days=6))
    assert {s.start.date() for s in week} == {TODAY + dt.timedelta(days=n) for n in range(10)}


def test_the_demo_holder_has_bills_and_a_long_lab_report_and_others_have_none(embedded: EmbeddedHis) -> None:
    patient = demo_patient()
    assert patient is not None
    assert patient.name == "李明"
    bills = embedded.bills(patient)
    assert {b.title for b in bills} == {"药费", "检查费"}
    assert all(len(b.items) >= 4 for b in bills)
    lines = sum(len(r.items) for r in embedded.lab_reports(patient))
    assert lines >= 45  # at ~20 lines a 58 mm page, several pages
    stranger = make_patient(555)
    assert embedded.bills(stranger) == []
    assert embedded.lab_reports(stranger) == []
