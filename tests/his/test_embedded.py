"""The embedded reference HIS: reads, booking (one place each, idempotent by key, safe when kiosks race
for the last place), cancelling, bills and their settlement, lab reports."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import TypeVar

import pytest
from sqlalchemy import func, select, update

from cardservice.errors import IdempotencyConflict
from cardservice.his import (
    CHINA_TZ,
    AlreadyCancelled,
    AlreadySettled,
    AmountMismatch,
    EmbeddedHis,
    HisError,
    HisRejected,
    NotFound,
    Registration,
    Slot,
    SlotFull,
)
from cardservice.his._embedded import check_idempotency_key
from cardservice.store import Database, HisRegistrationRow, HisSlotRow
from simulators.demo import demo_patient
from tests.his.conftest import TODAY, Clock, make_patient

T = TypeVar("T")
ALICE = make_patient(101, "王小红")
BOB = make_patient(202, "赵大伟")


def doctor_slot(his: EmbeddedHis, title: str = "主任医师") -> Slot:
    """Today's first slot of a doctor with that title in 内科."""
    for slot in his.slots("D01", date_from=TODAY, date_to=TODAY):
        if slot.doctor_title == title:
            return slot
    raise AssertionError(f"no {title} slot today")


def remaining(database: Database, slot_id: str) -> int:
    with database.session(readonly=True) as session:
        slot = session.get(HisSlotRow, slot_id)
        assert slot is not None
        return slot.remaining


def test_departments_doctors_and_slots(embedded: EmbeddedHis) -> None:
    departments = embedded.departments()
    names = [d.name for d in departments]
    assert names[:3] == ["内科", "外科", "儿科"]
    assert {"妇产科", "眼科", "耳鼻咽喉科", "口腔科", "皮肤科", "中医科"} <= set(names)
    for department in departments:
        doctors = embedded.doctors(department.id)
        assert 2 <= len(doctors) <= 4
        assert {d.title for d in doctors} <= {"主任医师", "副主任医师", "主治医师"}
    week = embedded.slots("D01", date_from=TODAY, date_to=TODAY + dt.timedelta(days=6))
    assert {s.start.date() for s in week} == {TODAY + dt.timedelta(days=n) for n in range(7)}
    assert [s.start for s in week] == sorted(s.start for s in week)
    general = [s for s in week if s.doctor_id is None]
    assert len(general) == 14
    assert {s.session for s in general} == {"上午", "下午"}
    assert all(s.fee_fen == 1000 and s.capacity == 50 for s in general)
    chief = [s for s in week if s.doctor_title == "主任医师"]
    assert chief
    assert all(s.fee_fen == 5000 and s.end - s.start == dt.timedelta(minutes=30) for s in chief)
    assert all(s.start.utcoffset() == dt.timedelta(hours=8) for s in week)
    morning = [s for s in week if s.session == "上午"]
    assert all(8 <= s.start.hour < 12 for s in morning)


def test_slots_filter_by_doctor_and_date(embedded: EmbeddedHis) -> None:
    tomorrow = TODAY + dt.timedelta(days=1)
    slots = embedded.slots("D01", doctor_id="D01-02", date_from=tomorrow, date_to=tomorrow)
    assert slots
    assert {(s.doctor_id, s.doctor_name, s.start.date()) for s in slots} == {("D01-02", "刘晓燕", tomorrow)}
    assert (
        embedded.slots("D01", date_from=TODAY + dt.timedelta(days=30), date_to=TODAY + dt.timedelta(days=30))
        == []
    )


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda his: his.doctors("D99"), NotFound),
        (lambda his: his.slots("D99", date_from=TODAY, date_to=TODAY), NotFound),
        (lambda his: his.slots("D01", doctor_id="D02-01", date_from=TODAY, date_to=TODAY), NotFound),
        (lambda his: his.slots("D01", date_from=TODAY, date_to=TODAY - dt.timedelta(days=1)), HisRejected),
        (lambda his: his.slots("D01", date_from=TODAY, date_to=TODAY + dt.timedelta(days=31)), HisRejected),
        (lambda his: his.book(ALICE, "nope", idempotency_key="k-1"), NotFound),
        (lambda his: his.book(ALICE, "D01-PT-20261123-AM", idempotency_key="bad key"), HisRejected),
        (lambda his: his.book(ALICE, "D01-PT-20261123-AM", idempotency_key=""), HisRejected),
        (lambda his: his.cancel_registration(ALICE, "GH0", idempotency_key="k-2"), NotFound),
    ],
)
def test_unknown_ids_and_bad_arguments_are_his_errors(
    embedded: EmbeddedHis, call: Callable[[EmbeddedHis], object], error: type[HisError]
) -> None:
    with pytest.raises(error) as raised:
        call(embedded)
    assert type(raised.value) is error


def test_booking_takes_a_place_gives_a_queue_number_and_a_registration_fee_bill(
    embedded: EmbeddedHis, database: Database
) -> None:
    slot = doctor_slot(embedded)
    first = embedded.book(ALICE, slot.id, idempotency_key="book-alice")
    second = embedded.book(BOB, slot.id, idempotency_key="book-bob")
    assert (first.queue_number, second.queue_number) == (1, 2)
    assert first.status == "booked"
    assert first.fee_fen == 5000
    assert (first.department_name, first.doctor_name, first.start, first.end) == (
        "内科", slot.doctor_name, slot.start, slot.end,
    )  # fmt: skip
    assert remaining(database, slot.id) == slot.capacity - 2
    [bill] = embedded.bills(ALICE)
    assert (bill.id, bill.title, bill.total_fen, bill.status) == (
        first.bill_id,
        "挂号费",
        5000,
        "outstanding",
    )
    assert [(i.name, i.quantity, i.unit_price_fen, i.amount_fen) for i in bill.items] == [
        ("主任医师挂号费", 1, 5000, 5000)
    ]


def test_the_same_key_gives_the_same_registration_and_takes_no_second_place(
    embedded: EmbeddedHis, database: Database
) -> None:
    slot = doctor_slot(embedded)
    first = embedded.book(ALICE, slot.id, idempotency_key="kiosk-1:0001")
    again = embedded.book(ALICE, slot.id, idempotency_key="kiosk-1:0001")
    assert again == first
    assert remaining(database, slot.id) == slot.capacity - 1
    assert len(embedded.bills(ALICE)) == 1
    with pytest.raises(HisRejected, match="another book request"):
        embedded.book(BOB, slot.id, idempotency_key="kiosk-1:0001")
    with pytest.raises(HisRejected, match="booked in this slot already"):
        embedded.book(ALICE, slot.id, idempotency_key="kiosk-1:0002")
    assert remaining(database, slot.id) == slot.capacity - 1


def test_a_reused_or_malformed_key_is_his_rejected_as_the_contract_says(embedded: EmbeddedHis) -> None:
    """docs/his-contract.md: a key reused for another request is 422 his_rejected, not the API's
    idempotency_conflict."""
    slot = doctor_slot(embedded)
    embedded.book(ALICE, slot.id, idempotency_key="k-1")
    with pytest.raises(HisRejected) as reused:
        embedded.cancel_registration(ALICE, "GH0", idempotency_key="k-1")  # another operation: a new key
    assert reused.value.code == "not_found"
    with pytest.raises(HisRejected) as reused:
        embedded.book(ALICE, doctor_slot(embedded, "副主任医师").id, idempotency_key="k-1")
    assert type(reused.value) is HisRejected
    assert (reused.value.code, reused.value.message_zh) == ("his_rejected", "请求标识已用于其他请求")
    assert not isinstance(reused.value, IdempotencyConflict)
    with pytest.raises(HisRejected) as malformed:
        check_idempotency_key("k" * 129)
    assert (malformed.value.code, malformed.value.message_zh) == ("his_rejected", "请求标识格式错误")
    check_idempotency_key("kiosk-1:" + "k" * 120)  # 128 characters: the stored key's limit


def test_a_full_slot_and_a_past_slot_are_refused_and_a_failed_call_keeps_no_key(
    embedded: EmbeddedHis, database: Database, clock: Clock
) -> None:
    slot = doctor_slot(embedded)
    for n in range(slot.capacity):
        embedded.book(make_patient(300 + n), slot.id, idempotency_key=f"fill-{n}")
    with pytest.raises(SlotFull) as full:
        embedded.book(ALICE, slot.id, idempotency_key="late")
    assert full.value.code == "slot_full"
    assert full.value.message_zh == "该号源已约满"
    assert remaining(database, slot.id) == 0
    other = doctor_slot(embedded, "主治医师")
    # The refused call kept no claim on its key: the same key books another slot now.
    assert embedded.book(ALICE, other.id, idempotency_key="late").slot_id == other.id
    clock.now = other.end
    with pytest.raises(HisRejected, match="over"):
        embedded.book(BOB, other.id, idempotency_key="too-late")


def race(threads: int, call: Callable[[int], T]) -> list[T | HisError]:
    """Run call(0..threads-1) at once; each thread's result or HisError."""
    barrier = threading.Barrier(threads)
    results: list[T | HisError | None] = [None] * threads

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = call(n)
        except HisError as exc:
            results[n] = exc

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert all(r is not None for r in results), "a thread did not finish"
    return results  # type: ignore[return-value]


def test_kiosks_racing_for_the_last_place_get_one_registration(
    embedded: EmbeddedHis, database: Database
) -> None:
    slot = doctor_slot(embedded)
    with database.session() as session:
        session.execute(update(HisSlotRow).where(HisSlotRow.id == slot.id).values(remaining=1))
    results = race(8, lambda n: embedded.book(make_patient(400 + n), slot.id, idempotency_key=f"race-{n}"))
    won = [r for r in results if isinstance(r, Registration)]
    lost = [r for r in results if not isinstance(r, Registration)]
    assert len(won) == 1, results
    assert all(type(r) is SlotFull for r in lost), lost
    assert remaining(database, slot.id) == 0
    with database.session(readonly=True) as session:
        count = session.scalar(select(func.count()).where(HisRegistrationRow.slot_id == slot.id))
    assert count == 1


def test_one_key_sent_by_racing_retries_books_once(embedded: EmbeddedHis, database: Database) -> None:
    slot = doctor_slot(embedded, "主治医师")
    results = race(6, lambda n: embedded.book(ALICE, slot.id, idempotency_key="retry-storm"))
    assert all(isinstance(r, Registration) for r in results), results
    assert len({r.id for r in results if isinstance(r, Registration)}) == 1
    assert remaining(database, slot.id) == slot.capacity - 1


def test_cancelling_returns_the_place_and_cancels_the_fee_bill(
    embedded: EmbeddedHis, database: Database
) -> None:
    slot = doctor_slot(embedded)
    booked = embedded.book(ALICE, slot.id, idempotency_key="b1")
    with pytest.raises(NotFound):
        embedded.cancel_registration(BOB, booked.id, idempotency_key="c0")  # not Bob's
    cancelled = embedded.cancel_registration(ALICE, booked.id, idempotency_key="c1")
    assert (cancelled.id, cancelled.status) == (booked.id, "cancelled")
    assert remaining(database, slot.id) == slot.capacity
    assert embedded.bills(ALICE) == []
    assert embedded.cancel_registration(ALICE, booked.id, idempotency_key="c1") == cancelled  # replay
    with pytest.raises(AlreadyCancelled):
        embedded.cancel_registration(ALICE, booked.id, idempotency_key="c2")
    assert remaining(database, slot.id) == slot.capacity
    # A place given back never repeats a queue number.
    assert embedded.book(BOB, slot.id, idempotency_key="b2").queue_number == 2


def test_a_paid_or_started_registration_is_not_cancelled_here(embedded: EmbeddedHis, clock: Clock) -> None:
    slot = doctor_slot(embedded)
    paid = embedded.book(ALICE, slot.id, idempotency_key="b1")
    embedded.settle_bill(ALICE, paid.bill_id, payment_reference="P1", amount_fen=5000, idempotency_key="s1")
    with pytest.raises(HisRejected, match="counter") as refused:
        embedded.cancel_registration(ALICE, paid.id, idempotency_key="c1")
    assert refused.value.message_zh == "已缴费的挂号请到人工窗口办理退号"
    unpaid = embedded.book(BOB, slot.id, idempotency_key="b2")
    clock.now = slot.start
    with pytest.raises(HisRejected, match="begun"):
        embedded.cancel_registration(BOB, unpaid.id, idempotency_key="c2")


def test_settling_a_bill(embedded: EmbeddedHis) -> None:
    patient = demo_patient()
    assert patient is not None
    bills = {b.title: b for b in embedded.bills(patient)}
    drugs = bills["药费"]
    assert drugs.total_fen == sum(i.amount_fen for i in drugs.items) == 8290
    assert all(i.amount_fen == i.quantity * i.unit_price_fen for i in drugs.items)
    with pytest.raises(AmountMismatch) as mismatch:
        embedded.settle_bill(
            patient, drugs.id, payment_reference="PAY-1", amount_fen=8200, idempotency_key="s1"
        )
    assert mismatch.value.details == {"expected_fen": 8290, "amount_fen": 8200}
    with pytest.raises(NotFound):
        embedded.settle_bill(
            ALICE, drugs.id, payment_reference="PAY-1", amount_fen=8290, idempotency_key="s0"
        )
    settled = embedded.settle_bill(
        patient, drugs.id, payment_reference="PAY-1", amount_fen=8290, idempotency_key="s1"
    )
    assert (settled.status, settled.payment_reference, settled.settled_at) == (
        "settled", "PAY-1", dt.datetime.combine(TODAY, dt.time(7, 0), CHINA_TZ),
    )  # fmt: skip
    assert [b.title for b in embedded.bills(patient)] == ["检查费"]
    # The same payment again — same key, or the same reference under a new key — is not a second payment.
    assert (
        embedded.settle_bill(
            patient, drugs.id, payment_reference="PAY-1", amount_fen=8290, idempotency_key="s1"
        )
        == settled
    )
    assert (
        embedded.settle_bill(
            patient, drugs.id, payment_reference="PAY-1", amount_fen=8290, idempotency_key="s2"
        )
        == settled
    )
    with pytest.raises(AlreadySettled):
        embedded.settle_bill(
            patient, drugs.id, payment_reference="PAY-2", amount_fen=8290, idempotency_key="s3"
        )
    with pytest.raises(HisRejected, match="another settle request"):
        embedded.settle_bill(
            patient, bills["检查费"].id, payment_reference="PAY-1", amount_fen=16000, idempotency_key="s1"
        )


@pytest.mark.parametrize("amount", [-1, True, 10.0])
def test_a_malformed_amount_or_reference_is_refused(embedded: EmbeddedHis, amount: object) -> None:
    with pytest.raises(HisRejected, match="amount_fen"):
        embedded.settle_bill(
            ALICE, "SF-DEMO-0001", payment_reference="P", amount_fen=amount, idempotency_key="k"
        )  # type: ignore[arg-type]
    with pytest.raises(HisRejected, match="payment reference"):
        embedded.settle_bill(
            ALICE, "SF-DEMO-0001", payment_reference="支付 1", amount_fen=1, idempotency_key="k"
        )


def test_a_cancelled_registrations_bill_cannot_be_paid(embedded: EmbeddedHis) -> None:
    booked = embedded.book(ALICE, doctor_slot(embedded).id, idempotency_key="b1")
    embedded.cancel_registration(ALICE, booked.id, idempotency_key="c1")
    with pytest.raises(AlreadyCancelled):
        embedded.settle_bill(
            ALICE, booked.bill_id, payment_reference="P1", amount_fen=5000, idempotency_key="s1"
        )


def test_lab_reports_of_the_demo_holder(embedded: EmbeddedHis) -> None:
    patient = demo_patient()
    assert patient is not None
    reports = embedded.lab_reports(patient)
    assert [r.title for r in reports] == ["尿常规", "肝功能", "血常规"]  # newest first
    cbc = reports[2]
    assert (cbc.specimen, cbc.collected_at < cbc.reported_at) == ("全血", True)
    assert len(cbc.items) >= 20
    by_code = {i.code: i for i in cbc.items}
    assert {"WBC", "RBC", "HGB", "PLT"} <= set(by_code)
    assert (by_code["WBC"].unit, by_code["WBC"].reference_range, by_code["WBC"].abnormal) == (
        "10^9/L",
        "3.5-9.5",
        "↑",
    )
    assert by_code["LYMPH%"].abnormal == "↓"
    assert by_code["HGB"].abnormal == ""
    urine = {i.code: i for i in reports[0].items}
    assert (urine["PRO"].reference_text, urine["PRO"].abnormal) == ("阴性", "")
    assert urine["BLD"].abnormal == "*"
    assert embedded.lab_reports(ALICE) == []
    assert embedded.bills(ALICE) == []


def test_registrations_list_every_status_newest_visit_first(embedded: EmbeddedHis) -> None:
    chief = doctor_slot(embedded)  # today 13:30
    week = {s.id: s for s in embedded.slots("D01", date_from=TODAY, date_to=TODAY + dt.timedelta(days=1))}
    general = week[f"D01-PT-{TODAY:%Y%m%d}-PM"]  # today's afternoon clinic, 13:30
    tomorrow = week[f"D01-PT-{TODAY + dt.timedelta(days=1):%Y%m%d}-AM"]
    morning = embedded.slots("D02", date_from=TODAY, date_to=TODAY)[0]  # today 08:00
    assert (general.start, general.doctor_id) == (chief.start, None)
    assert morning.start < chief.start < tomorrow.start
    assert embedded.registrations(ALICE) == []
    first = embedded.book(ALICE, chief.id, idempotency_key="r1")
    second = embedded.book(ALICE, general.id, idempotency_key="r2")
    third = embedded.book(ALICE, tomorrow.id, idempotency_key="r3")
    oldest = embedded.book(ALICE, morning.id, idempotency_key="r4")
    bob = embedded.book(BOB, chief.id, idempotency_key="r5")
    assert {r.status for r in embedded.registrations(ALICE)} == {"booked"}
    cancelled = embedded.cancel_registration(ALICE, second.id, idempotency_key="c1")
    embedded.settle_bill(ALICE, first.bill_id, payment_reference="P1", amount_fen=5000, idempotency_key="s1")
    listed = embedded.registrations(ALICE)
    # Newest visit first; two visits at the same time in id order.
    same_time = sorted([first, cancelled], key=lambda r: r.id)
    assert listed == [third, *same_time, oldest]
    assert [r.status for r in listed if r.id == second.id] == ["cancelled"]
    # A paid registration stays booked; its bill says it is paid.
    assert [r.status for r in listed if r.id == first.id] == ["booked"]
    assert embedded.bill(ALICE, first.bill_id).status == "settled"
    assert embedded.registrations(BOB) == [bob]
    assert embedded.registrations(make_patient(999)) == []


def test_one_bill_in_any_state_and_only_the_patients_own(embedded: EmbeddedHis, clock: Clock) -> None:
    paid = embedded.book(ALICE, doctor_slot(embedded).id, idempotency_key="b1")
    dropped = embedded.book(ALICE, doctor_slot(embedded, "主治医师").id, idempotency_key="b2")
    outstanding = embedded.bill(ALICE, paid.bill_id)
    assert outstanding == next(b for b in embedded.bills(ALICE) if b.id == paid.bill_id)
    assert (outstanding.status, outstanding.settled_at, outstanding.payment_reference) == (
        "outstanding", None, None,
    )  # fmt: skip
    clock.now += dt.timedelta(minutes=5)
    settled = embedded.settle_bill(
        ALICE, paid.bill_id, payment_reference="WX-42", amount_fen=5000, idempotency_key="s1"
    )
    receipt = embedded.bill(ALICE, paid.bill_id)
    assert receipt == settled
    assert (receipt.status, receipt.payment_reference, receipt.settled_at) == (
        "settled", "WX-42", dt.datetime.combine(TODAY, dt.time(7, 5), CHINA_TZ),
    )  # fmt: skip
    assert [(i.name, i.amount_fen) for i in receipt.items] == [("主任医师挂号费", 5000)]
    embedded.cancel_registration(ALICE, dropped.id, idempotency_key="c1")
    assert embedded.bill(ALICE, dropped.bill_id).status == "cancelled"
    assert embedded.bills(ALICE) == []  # neither is outstanding any more
    for patient, bill_id in [(BOB, paid.bill_id), (BOB, dropped.bill_id), (ALICE, "SF-NONE"), (ALICE, "")]:
        with pytest.raises(NotFound) as missing:
            embedded.bill(patient, bill_id)
        assert missing.value.message_zh == "未找到该账单"
    demo = demo_patient()
    assert demo is not None
    with pytest.raises(NotFound):
        embedded.bill(ALICE, "SF-DEMO-0001")  # exists, but is the demo holder's
    assert embedded.bill(demo, "SF-DEMO-0001").total_fen == 8290


def test_a_newborns_birth_record_is_shown_to_its_parents_only(embedded: EmbeddedHis) -> None:
    from cardservice.his import Patient

    father = demo_patient()
    assert father is not None
    record = embedded.birth_record(father, "o110000001")  # as typed: the letter in either case
    assert (record.birth_certificate, record.name, record.sex, record.relation) == (
        "O110000001",
        "李小宝",
        "2",
        "51",
    )
    assert record.birth_date == TODAY - dt.timedelta(days=30)
    assert "李小宝" not in repr(record)
    for stranger, certificate in ((ALICE, "O110000001"), (father, "O110000002")):
        with pytest.raises(NotFound) as refused:
            embedded.birth_record(stranger, certificate)
        assert refused.value.message_zh == "未找到您孩子的出生登记，请到人工窗口办理"
    # the child, once their card (its number the certificate's) is in a kiosk's reader, is a patient too
    child = Patient("O110000001", "李小宝")
    assert embedded.bills(child) == []
    with pytest.raises(ValueError, match="card number"):
        Patient("o110000001", "李小宝")  # never a number as typed: as the card says it
