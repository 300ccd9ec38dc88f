"""EmbeddedHis: a reference HIS in the project database (tables ``his_*``, migration 0004).

Booking takes a place with one conditional UPDATE (``remaining = remaining - 1 WHERE remaining > 0``):
on PostgreSQL the row lock makes a second booker wait and then re-check the condition, on SQLite the
writing session's BEGIN IMMEDIATE serialises writers, so two kiosks booking the last place get one
registration and one ``slot_full``. Idempotency is :func:`cardservice.store.once` over
``his_idempotency`` (one row per operation and key): the key is claimed first, in the transaction that
does the work, so a concurrent call with the same key waits on that row and then replays the first
call's result; a call that fails rolls its claim back with everything else. A key reused for another
request is :class:`HisRejected` (``his_rejected``, as the wire contract says), not the API's
``idempotency_conflict``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cardservice.healthcard import mask_id_number
from cardservice.his._errors import (
    AlreadyCancelled,
    AlreadySettled,
    AmountMismatch,
    HisError,
    HisRejected,
    HisUnavailable,
    NotFound,
    SlotFull,
)
from cardservice.his._values import (
    CHINA_TZ,
    Bill,
    BillItem,
    BirthRecord,
    Department,
    Doctor,
    LabItem,
    LabReport,
    Patient,
    Registration,
    Slot,
)
from cardservice.store import (
    Database,
    HisBillItemRow,
    HisBillRow,
    HisBirthRow,
    HisDepartmentRow,
    HisDoctorRow,
    HisIdempotencyRow,
    HisLabItemRow,
    HisLabReportRow,
    HisRegistrationRow,
    HisSlotRow,
    check_key,
    describe,
    once,
    request_hash,
)

__all__ = ["MAX_SLOT_DAYS", "EmbeddedHis", "check_idempotency_key", "check_payment_reference"]

_log = logging.getLogger("cardservice.his")
_NO_BIRTH = "未找到您孩子的出生登记，请到人工窗口办理"
_T = TypeVar("_T")

#: The longest date range one slots() call may ask for.
MAX_SLOT_DAYS = 31
_REFERENCE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def check_idempotency_key(key: str) -> None:
    """Refuse a malformed idempotency key (:data:`cardservice.store.KEY_PATTERN`) as :class:`HisRejected`."""
    check_key(key, _bad_key)


def _bad_key(text: str) -> HisRejected:
    return HisRejected(text, message_zh="请求标识格式错误")


def _unavailable(text: str) -> HisUnavailable:
    return HisUnavailable(f"embedded HIS database: {text}")


def check_payment_reference(reference: str) -> None:
    if not isinstance(reference, str) or not _REFERENCE.fullmatch(reference):
        raise HisRejected(
            "payment reference: 1-64 characters of A-Za-z0-9._:-", message_zh="支付流水号格式错误"
        )


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _local_midnight(day: _dt.date) -> _dt.datetime:
    return _dt.datetime.combine(day, _dt.time(), CHINA_TZ)


class EmbeddedHis:
    """A :class:`HisConnector` over the project database. ``clock`` gives the current UTC time
    (tests move it); :func:`open_embedded_his` seeds the reference data and returns one."""

    def __init__(self, database: Database, *, clock: Callable[[], _dt.datetime] = _now) -> None:
        self._db = database
        self._clock = clock

    def __repr__(self) -> str:
        return f"EmbeddedHis({self._db.url!r})"

    # -- reads -------------------------------------------------------------------------------------

    def departments(self) -> list[Department]:
        with self._read() as session:
            rows = session.scalars(select(HisDepartmentRow).order_by(HisDepartmentRow.sort_order))
            return [Department(r.id, r.name, r.location) for r in rows]

    def doctors(self, department_id: str) -> list[Doctor]:
        with self._read() as session:
            _department(session, department_id)
            rows = session.scalars(
                select(HisDoctorRow)
                .where(HisDoctorRow.department_id == department_id)
                .order_by(HisDoctorRow.id)
            )
            return [Doctor(r.id, r.department_id, r.name, r.title, r.specialty) for r in rows]

    def slots(
        self, department_id: str, *, doctor_id: str | None = None, date_from: _dt.date, date_to: _dt.date
    ) -> list[Slot]:
        if date_to < date_from:
            raise HisRejected("date_to is before date_from", message_zh="日期范围错误")
        if (date_to - date_from).days >= MAX_SLOT_DAYS:
            raise HisRejected(f"at most {MAX_SLOT_DAYS} days at a time", message_zh="日期范围过长")
        with self._read() as session:
            _department(session, department_id)
            query = (
                select(HisSlotRow, HisDoctorRow)
                .outerjoin(HisDoctorRow, HisSlotRow.doctor_id == HisDoctorRow.id)
                .where(
                    HisSlotRow.department_id == department_id,
                    HisSlotRow.start_at >= _local_midnight(date_from),
                    HisSlotRow.start_at < _local_midnight(date_to + _dt.timedelta(days=1)),
                    HisSlotRow.end_at > self._clock(),  # a slot that is over cannot be booked: not offered
                )
                .order_by(HisSlotRow.start_at, HisSlotRow.id)
            )
            if doctor_id is not None:
                doctor = session.get(HisDoctorRow, doctor_id)
                if doctor is None or doctor.department_id != department_id:
                    raise NotFound(f"no doctor {doctor_id!r} in department {department_id!r}")
                query = query.where(HisSlotRow.doctor_id == doctor_id)
            return [_slot(slot, doctor) for slot, doctor in session.execute(query)]

    def registrations(self, patient: Patient) -> list[Registration]:
        with self._read() as session:
            ids = session.scalars(
                select(HisRegistrationRow.id)
                .join(HisSlotRow, HisRegistrationRow.slot_id == HisSlotRow.id)
                .where(HisRegistrationRow.card_number == patient.card_number)
                .order_by(HisSlotRow.start_at.desc(), HisRegistrationRow.id)
            ).all()
            return [_registration(session, registration_id) for registration_id in ids]

    def bills(self, patient: Patient) -> list[Bill]:
        with self._read() as session:
            rows = session.scalars(
                select(HisBillRow)
                .where(HisBillRow.card_number == patient.card_number, HisBillRow.status == "outstanding")
                .order_by(HisBillRow.created_at, HisBillRow.id)
            ).all()
            return _bills(session, rows)

    def bill(self, patient: Patient, bill_id: str) -> Bill:
        with self._read() as session:
            row = session.get(HisBillRow, bill_id)
            if row is None or row.card_number != patient.card_number:
                raise NotFound(f"no bill {bill_id!r} for this patient", message_zh="未找到该账单")
            return _bills(session, [row])[0]

    def birth_record(self, guardian: Patient, birth_certificate: str) -> BirthRecord:
        with self._read() as session:
            row = session.get(HisBirthRow, birth_certificate.upper())
        if row is not None and guardian.card_number in (row.mother_number, row.father_number):
            relation = "52" if guardian.card_number == row.mother_number else "51"
            return BirthRecord(row.birth_certificate, row.name, row.sex, row.birth_date, relation)  # type: ignore[arg-type]
        raise NotFound("no birth record of that certificate for this guardian", message_zh=_NO_BIRTH)

    def lab_reports(self, patient: Patient) -> list[LabReport]:
        with self._read() as session:
            reports = session.scalars(
                select(HisLabReportRow)
                .where(HisLabReportRow.card_number == patient.card_number)
                .order_by(HisLabReportRow.reported_at.desc(), HisLabReportRow.id)
            ).all()
            items: dict[str, list[LabItem]] = {r.id: [] for r in reports}
            if reports:
                for item in session.scalars(
                    select(HisLabItemRow)
                    .where(HisLabItemRow.report_id.in_(list(items)))
                    .order_by(HisLabItemRow.report_id, HisLabItemRow.line)
                ):
                    items[item.report_id].append(
                        LabItem(
                            item.code,
                            item.name,
                            item.result,
                            item.unit,
                            item.reference_low,
                            item.reference_high,
                            item.reference_text,
                        )
                    )
            return [
                LabReport(
                    r.id,
                    r.title,
                    r.specimen,
                    r.department,
                    r.doctor_name,
                    r.collected_at.astimezone(CHINA_TZ),
                    r.reported_at.astimezone(CHINA_TZ),
                    tuple(items[r.id]),
                )
                for r in reports
            ]

    # -- mutating calls ----------------------------------------------------------------------------

    def book(self, patient: Patient, slot_id: str, *, idempotency_key: str) -> Registration:
        check_idempotency_key(idempotency_key)
        new_id = "GH" + secrets.token_hex(7).upper()

        def do(session: Session) -> None:
            self._book(session, patient, slot_id, new_id)

        registration = self._idempotent(
            "book", idempotency_key, request_hash(patient.card_number, slot_id), new_id, do, _registration
        )
        _log.info(
            "his booked %s for %s: slot %s no. %d",
            registration.id,
            mask_id_number(patient.card_number),
            slot_id,
            registration.queue_number,
        )
        return registration

    def cancel_registration(
        self, patient: Patient, registration_id: str, *, idempotency_key: str
    ) -> Registration:
        check_idempotency_key(idempotency_key)

        def do(session: Session) -> None:
            self._cancel(session, patient, registration_id)

        registration = self._idempotent(
            "cancel",
            idempotency_key,
            request_hash(patient.card_number, registration_id),
            registration_id,
            do,
            _registration,
        )
        _log.info("his cancelled %s for %s", registration_id, mask_id_number(patient.card_number))
        return registration

    def settle_bill(
        self, patient: Patient, bill_id: str, *, payment_reference: str, amount_fen: int, idempotency_key: str
    ) -> Bill:
        check_idempotency_key(idempotency_key)
        check_payment_reference(payment_reference)
        if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen < 0:
            raise HisRejected("amount_fen: a non-negative integer (fen)", message_zh="缴费金额格式错误")

        def do(session: Session) -> None:
            self._settle(session, patient, bill_id, payment_reference, amount_fen)

        request = request_hash(patient.card_number, bill_id, payment_reference, amount_fen)
        bill = self._idempotent("settle", idempotency_key, request, bill_id, do, _bill)
        _log.info(
            "his settled %s for %s: %d fen, payment %s",
            bill_id,
            mask_id_number(patient.card_number),
            amount_fen,
            payment_reference,
        )
        return bill

    # -- implementation ----------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with self._db.session(readonly=True) as session:
                yield session
        except SQLAlchemyError as exc:
            raise _unavailable(describe(exc)) from None

    def _idempotent(
        self,
        operation: str,
        key: str,
        request: str,
        result_id: str,
        do: Callable[[Session], None],
        load: Callable[[Session, str, bool], _T],
    ) -> _T:
        """The result (*load* of *result_id*) of *do*, done once per *operation* and *key*; the same key
        again replays the stored result, with another *request* it is :class:`HisRejected`. *load*'s last
        argument says whether to read the rows again (a replay) or take them from the session (*do* wrote
        them in it)."""

        def claim_and_do(session: Session) -> _T:
            # The claim comes first: a concurrent call with this key waits on it (PostgreSQL's unique
            # index) until this one commits, then fails and replays the stored result.
            session.add(
                HisIdempotencyRow(
                    operation=operation,
                    key=key,
                    request_hash=request,
                    result_id=result_id,
                    created_at=self._clock(),
                )
            )
            session.flush()
            do(session)
            return load(session, result_id, False)  # what *do* wrote is in the session as written

        def conflict(claimed: HisIdempotencyRow) -> HisRejected:
            return HisRejected(
                f"idempotency key already used for another {operation} request",
                message_zh="请求标识已用于其他请求",
            )

        result, _ = once(
            self._db,
            find=lambda session: session.get(HisIdempotencyRow, (operation, key)),
            request=request,
            create=claim_and_do,
            replay=lambda session, claimed: load(session, claimed.result_id, True),
            conflict=conflict,
            unavailable=_unavailable,
        )
        return result

    def _book(self, session: Session, patient: Patient, slot_id: str, registration_id: str) -> None:
        now = self._clock()
        # The place taken and the slot as it is now, in one statement (RETURNING the row).
        slot = session.scalars(
            update(HisSlotRow)
            .where(HisSlotRow.id == slot_id, HisSlotRow.remaining > 0, HisSlotRow.end_at > now)
            .values(remaining=HisSlotRow.remaining - 1, issued=HisSlotRow.issued + 1)
            .returning(HisSlotRow)
            .execution_options(synchronize_session=False, populate_existing=True)
        ).one_or_none()
        if slot is None:  # no place taken: say why
            slot = session.get(HisSlotRow, slot_id, populate_existing=True)
            if slot is None:
                raise NotFound(f"no slot {slot_id!r}", message_zh="未找到该号源")
            if slot.end_at <= now:
                raise HisRejected("the slot is over", message_zh="该号源已过期")
            raise SlotFull(f"slot {slot_id!r} is full")
        taken = slot.issued
        # After the UPDATE: this transaction holds the slot's row, so the check cannot race.
        twice = session.scalar(
            select(HisRegistrationRow.id).where(
                HisRegistrationRow.slot_id == slot_id,
                HisRegistrationRow.card_number == patient.card_number,
                HisRegistrationRow.status == "booked",
            )
        )
        if twice is not None:
            raise HisRejected("the patient is booked in this slot already", message_zh="您已预约该号源")
        department = _department(session, slot.department_id)
        doctor = session.get(HisDoctorRow, slot.doctor_id) if slot.doctor_id else None
        bill_id = "SF" + secrets.token_hex(7).upper()
        session.add(
            HisBillRow(
                id=bill_id,
                card_number=patient.card_number,
                title="挂号费",
                department=department.name,
                total_fen=slot.fee_fen,
                status="outstanding",
                created_at=now,
            )
        )
        session.flush()  # no ORM relationships: the bill must exist before its item refers to it
        item = f"{doctor.title}挂号费" if doctor is not None else "普通门诊挂号费"
        session.add(
            HisBillItemRow(
                bill_id=bill_id,
                line=1,
                name=item,
                unit="次",
                quantity=1,
                unit_price_fen=slot.fee_fen,
                amount_fen=slot.fee_fen,
            )
        )
        session.flush()
        session.add(
            HisRegistrationRow(
                id=registration_id,
                card_number=patient.card_number,
                patient_name=patient.name,
                slot_id=slot_id,
                queue_number=taken,
                fee_fen=slot.fee_fen,
                status="booked",
                bill_id=bill_id,
                created_at=now,
            )
        )
        session.flush()

    def _cancel(self, session: Session, patient: Patient, registration_id: str) -> None:
        now = self._clock()
        registration = session.get(HisRegistrationRow, registration_id, with_for_update=True)
        if registration is None or registration.card_number != patient.card_number:
            raise NotFound(f"no registration {registration_id!r} for this patient", message_zh="未找到该挂号")
        if registration.status == "cancelled":
            raise AlreadyCancelled(f"registration {registration_id!r} is cancelled already")
        bill = session.get(HisBillRow, registration.bill_id, with_for_update=True)
        if bill is not None and bill.status == "settled":
            # A refund is a payment-side operation this layer does not do: the counter does it.
            raise HisRejected(
                "the registration fee is paid: cancel at the counter",
                message_zh="已缴费的挂号请到人工窗口办理退号",
            )
        slot = session.get(HisSlotRow, registration.slot_id)
        if slot is not None and slot.start_at <= now:
            raise HisRejected("the visit time has begun", message_zh="就诊时间已到，无法取消")
        registration.status = "cancelled"
        registration.cancelled_at = now
        if bill is not None:
            bill.status = "cancelled"
        session.execute(
            update(HisSlotRow)
            .where(HisSlotRow.id == registration.slot_id)
            .values(remaining=HisSlotRow.remaining + 1)
            .execution_options(synchronize_session=False)
        )
        session.flush()

    def _settle(
        self, session: Session, patient: Patient, bill_id: str, reference: str, amount_fen: int
    ) -> None:
        bill = session.get(HisBillRow, bill_id, with_for_update=True)
        if bill is None or bill.card_number != patient.card_number:
            raise NotFound(f"no bill {bill_id!r} for this patient", message_zh="未找到该账单")
        if bill.status == "settled":
            if bill.payment_reference == reference:
                return  # the same payment reported again (another key): nothing to do
            raise AlreadySettled(f"bill {bill_id!r} is settled by another payment")
        if bill.status == "cancelled":
            raise AlreadyCancelled(f"bill {bill_id!r} is cancelled", message_zh="该账单已作废")
        if amount_fen != bill.total_fen:
            raise AmountMismatch(
                f"bill {bill_id!r} totals {bill.total_fen} fen, not {amount_fen}",
                details={"expected_fen": bill.total_fen, "amount_fen": amount_fen},
            )
        bill.status = "settled"
        bill.settled_at = self._clock()
        bill.payment_reference = reference
        session.flush()


def _department(session: Session, department_id: str) -> HisDepartmentRow:
    department = session.get(HisDepartmentRow, department_id)
    if department is None:
        raise NotFound(f"no department {department_id!r}", message_zh="未找到该科室")
    return department


def _slot(slot: HisSlotRow, doctor: HisDoctorRow | None) -> Slot:
    return Slot(
        id=slot.id,
        department_id=slot.department_id,
        doctor_id=slot.doctor_id,
        doctor_name=doctor.name if doctor else None,
        doctor_title=doctor.title if doctor else None,
        start=slot.start_at.astimezone(CHINA_TZ),
        end=slot.end_at.astimezone(CHINA_TZ),
        session=slot.session,
        fee_fen=slot.fee_fen,
        capacity=slot.capacity,
        remaining=slot.remaining,
    )


def _registration(session: Session, registration_id: str, refresh: bool = True) -> Registration:
    row = session.get(HisRegistrationRow, registration_id, populate_existing=refresh)
    if row is None:
        raise HisError(f"registration {registration_id!r} vanished")  # only a broken database
    slot = session.get(HisSlotRow, row.slot_id)
    if slot is None:
        raise HisError(f"slot of registration {registration_id!r} vanished")
    department = _department(session, slot.department_id)
    doctor = session.get(HisDoctorRow, slot.doctor_id) if slot.doctor_id else None
    return Registration(
        id=row.id,
        queue_number=row.queue_number,
        slot_id=slot.id,
        department_id=department.id,
        department_name=department.name,
        doctor_id=doctor.id if doctor else None,
        doctor_name=doctor.name if doctor else None,
        start=slot.start_at.astimezone(CHINA_TZ),
        end=slot.end_at.astimezone(CHINA_TZ),
        fee_fen=row.fee_fen,
        status=row.status,
        bill_id=row.bill_id,
    )


def _bill(session: Session, bill_id: str, refresh: bool = True) -> Bill:
    row = session.get(HisBillRow, bill_id, populate_existing=refresh)
    if row is None:
        raise HisError(f"bill {bill_id!r} vanished")
    return _bills(session, [row])[0]


def _bills(session: Session, rows: Sequence[HisBillRow]) -> list[Bill]:
    items: dict[str, list[BillItem]] = {r.id: [] for r in rows}
    if rows:
        for item in session.scalars(
            select(HisBillItemRow)
            .where(HisBillItemRow.bill_id.in_(list(items)))
            .order_by(HisBillItemRow.bill_id, HisBillItemRow.line)
        ):
            items[item.bill_id].append(
                BillItem(item.name, item.unit, item.quantity, item.unit_price_fen, item.amount_fen)
            )
    return [
        Bill(
            id=r.id,
            title=r.title,
            department=r.department,
            items=tuple(items[r.id]),
            total_fen=r.total_fen,
            status=r.status,
            created_at=r.created_at.astimezone(CHINA_TZ),
            settled_at=r.settled_at.astimezone(CHINA_TZ) if r.settled_at else None,
            payment_reference=r.payment_reference,
        )
        for r in rows
    ]
