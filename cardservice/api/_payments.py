"""/v1/payments: the card holder's bills and prepaid account (就诊卡账户), paying a bill, topping up,
refunds and the daily reconciliation (对账), over :class:`cardservice.payments.Payments`.

As for registration, the patient is the holder of the card in the named reader and every mutating call
needs an ``Idempotency-Key`` (per API client): the same request retried — 50 times at once, or after the
daemon was killed mid-payment — is charged once. A declined or in-doubt payment is an order ``status``,
not an error: ``settled`` (paid and recorded at the HIS), ``charged`` (paid; the HIS is told later),
``in_doubt`` (the payment method did not answer: resolved by asking it, at the latest at the next start),
``declined`` / ``failed`` (no money taken).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from cardservice.api._deps import (
    Admin,
    ApiClient,
    CardIdHeader,
    His,
    Kiosk,
    Services,
    audit_access,
    services_of,
)
from cardservice.api._errors import responses
from cardservice.api._hospital import (
    HIS_ERRORS,
    PATIENT_ERRORS,
    IdempotencyKey,
    ReaderQuery,
    call_service,
    patient_of,
)
from cardservice.payments import Payments
from cardservice.readers import ServiceError

__all__ = ["payments_router"]

payments_router = APIRouter(prefix="/v1/payments", tags=["payments"])

_PAYMENT_ERRORS = ("payment_rejected", "idempotency_conflict", "insufficient_funds", "payment_unavailable")
Method = Literal["prepaid", "gateway", "cash"]
_DAY = r"^\d{4}-\d{2}-\d{2}$"  # not pydantic's lax date: it takes "0" for 1970-01-01


# -- schemas ---------------------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class BillItemOut(_Out):
    name: str = Field(examples=["阿莫西林胶囊"])
    unit: str | None
    quantity: int
    unit_price_fen: int
    amount_fen: int


class BillOut(_Out):
    id: str
    title: str = Field(examples=["挂号费"])
    department: str | None
    items: list[BillItemOut]
    total_fen: int
    status: str = Field(examples=["outstanding"])
    created_at: _dt.datetime


class BillsOut(BaseModel):
    card: str = Field(description="the card holder, masked")
    bills: list[BillOut]


class AccountOut(BaseModel):
    card: str = Field(description="the card holder, masked")
    balance_fen: int = Field(description="prepaid balance (就诊卡账户余额) in fen")


class OrderOut(_Out):
    reference: str = Field(examples=["PO-2026112312-8f3a1c"])
    kind: str = Field(description="bill / top_up / refund")
    method: str = Field(examples=["prepaid"])
    status: str = Field(description="settled, charged, in_doubt, declined, failed, refunded, pending")
    amount_fen: int
    card: str = Field(description="masked card number")
    bill_id: str | None
    parent_reference: str | None
    method_transaction_id: str | None
    error_code: str | None
    message: str | None
    created_at: _dt.datetime
    updated_at: _dt.datetime
    final: bool = Field(description="no further change will happen by itself")


class OrdersOut(BaseModel):
    orders: list[OrderOut]


class _PatientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reader: str = Field(default="default", max_length=128, description="reader of the patient's card")


class PayBillIn(_PatientIn):
    bill_id: str = Field(min_length=1, max_length=64)
    amount_fen: int = Field(gt=0, le=10**10, description="the bill's total, in fen (checked against the HIS)")
    method: Method = Field(description="prepaid (就诊卡账户), gateway (bank card), cash")


class TopUpIn(_PatientIn):
    amount_fen: int = Field(gt=0, le=10**10)
    method: Literal["gateway", "cash"]


class RefundIn(_PatientIn):
    amount_fen: int = Field(gt=0, le=10**10)


# -- plumbing --------------------------------------------------------------------------------------------


def _payments(services: Services) -> Payments:
    if services.payments is None:
        raise ServiceError("payment_unavailable", "payments are not configured on this daemon")
    payments: Payments = services.payments
    return payments


async def _audited_order(
    request: Request, client: ApiClient, action: str, operation: Callable[[], Any], *, card: str, target: str
) -> OrderOut:
    try:
        order = await call_service(operation)
    except ServiceError as exc:
        await audit_access(request, client, action, exc.code, card=card, target=target)
        raise
    await audit_access(request, client, action, order.status, card=card, target=order.reference,
                       detail={"amount_fen": order.amount_fen, "method": order.method})  # fmt: skip
    return OrderOut.model_validate(order)


# -- routes ----------------------------------------------------------------------------------------------


@payments_router.get(
    "/bills", response_model=BillsOut, summary="The card holder's outstanding bills (待缴费用)",
    responses=responses(*PATIENT_ERRORS, *HIS_ERRORS),
)  # fmt: skip
async def list_bills(
    request: Request, client: Kiosk, reader: ReaderQuery = "default", x_card_id: CardIdHeader = None
) -> BillsOut:
    services = services_of(request)
    if services.his is None:
        raise ServiceError("his_unavailable", "no HIS is configured for this daemon")
    his = services.his
    view, patient = await patient_of(services, reader, x_card_id)
    bills = await call_service(lambda: his.bills(patient))
    return BillsOut(card=view.masked_card_number, bills=[BillOut.model_validate(b) for b in bills])


@payments_router.get(
    "/account", response_model=AccountOut, summary="The card holder's prepaid balance (就诊卡账户)",
    responses=responses(*PATIENT_ERRORS, *_PAYMENT_ERRORS),
)  # fmt: skip
async def account(
    request: Request, client: Kiosk, reader: ReaderQuery = "default", x_card_id: CardIdHeader = None
) -> AccountOut:
    services = services_of(request)
    payments = _payments(services)
    view, patient = await patient_of(services, reader, x_card_id)
    balance = await call_service(lambda: payments.balance(patient))
    return AccountOut(card=view.masked_card_number, balance_fen=balance)


@payments_router.post(
    "", response_model=OrderOut, summary="Pay one of the card holder's bills (缴费)",
    description="The bill's whole total, by prepaid account, bank card (gateway) or cash. The answer is "
    "the order: check `status` (settled / charged / in_doubt / declined / failed).",
    responses=responses(*PATIENT_ERRORS, *_PAYMENT_ERRORS, *HIS_ERRORS),
)  # fmt: skip
async def pay_bill(
    request: Request, client: Kiosk, body: PayBillIn, idempotency_key: IdempotencyKey,
    x_card_id: CardIdHeader = None,
) -> OrderOut:  # fmt: skip
    services = services_of(request)
    payments = _payments(services)
    services.limiter.take(client.name)
    view, patient = await patient_of(services, body.reader, x_card_id)
    return await _audited_order(
        request, client, "payment.pay_bill",
        lambda: payments.pay_bill(client.name, idempotency_key, patient, body.bill_id, body.amount_fen,
                                  body.method),
        card=view.masked_card_number, target=body.bill_id,
    )  # fmt: skip


@payments_router.post(
    "/top-ups", response_model=OrderOut, summary="Top up the card holder's prepaid account (充值)",
    responses=responses(*PATIENT_ERRORS, *_PAYMENT_ERRORS),
)  # fmt: skip
async def top_up(
    request: Request, client: Kiosk, body: TopUpIn, idempotency_key: IdempotencyKey,
    x_card_id: CardIdHeader = None,
) -> OrderOut:  # fmt: skip
    services = services_of(request)
    payments = _payments(services)
    services.limiter.take(client.name)
    view, patient = await patient_of(services, body.reader, x_card_id)
    return await _audited_order(
        request, client, "payment.top_up",
        lambda: payments.top_up(client.name, idempotency_key, patient, body.amount_fen, body.method),
        card=view.masked_card_number, target="prepaid",
    )  # fmt: skip


@payments_router.get(
    "/orders", response_model=OrdersOut, summary="The card holder's orders, newest first",
    responses=responses(*PATIENT_ERRORS, *_PAYMENT_ERRORS),
)  # fmt: skip
async def list_orders(
    request: Request, client: Kiosk, reader: ReaderQuery = "default", x_card_id: CardIdHeader = None
) -> OrdersOut:
    services = services_of(request)
    payments = _payments(services)
    _, patient = await patient_of(services, reader, x_card_id)
    orders = await call_service(lambda: payments.orders(patient))
    return OrdersOut(orders=[OrderOut.model_validate(o) for o in orders])


@payments_router.get(
    "/orders/{reference}", response_model=OrderOut, summary="One of the card holder's orders",
    description="An order still `in_doubt` is asked about again (its payment method is queried).",
    responses=responses(*PATIENT_ERRORS, *_PAYMENT_ERRORS, "order_not_found"),
)  # fmt: skip
async def get_order(
    request: Request, client: Kiosk, reference: str, reader: ReaderQuery = "default",
    x_card_id: CardIdHeader = None,
) -> OrderOut:  # fmt: skip
    services = services_of(request)
    payments = _payments(services)
    _, patient = await patient_of(services, reader, x_card_id)
    order = await call_service(lambda: payments.get_order(reference, patient=patient))
    if order.status == "in_doubt" or order.status == "charged":
        order = await call_service(lambda: payments.resolve(reference, actor=client.name))
    return OrderOut.model_validate(order)


@payments_router.post(
    "/orders/{reference}/refund", response_model=OrderOut, summary="Refund (part of) a settled order (退费)",
    description="HIS scope: refunds are a counter's decision, not a kiosk's.",
    responses=responses(*PATIENT_ERRORS, *_PAYMENT_ERRORS, "order_not_found"),
)  # fmt: skip
async def refund(
    request: Request, client: His, reference: str, body: RefundIn, idempotency_key: IdempotencyKey,
    x_card_id: CardIdHeader = None,
) -> OrderOut:  # fmt: skip
    services = services_of(request)
    payments = _payments(services)
    view, patient = await patient_of(services, body.reader, x_card_id)
    return await _audited_order(
        request, client, "payment.refund",
        lambda: payments.refund(client.name, idempotency_key, patient, reference, body.amount_fen),
        card=view.masked_card_number, target=reference,
    )  # fmt: skip


@payments_router.get(
    "/reconciliation", summary="Daily reconciliation (对账): ledger vs payment-method records",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}, "text/csv": {}}}, **responses(*_PAYMENT_ERRORS)},
)  # fmt: skip
async def reconciliation(
    request: Request,
    client: Admin,
    day: Annotated[str, Query(description="the day (Beijing time), YYYY-MM-DD", pattern=_DAY)],
    format: Annotated[Literal["text", "csv"], Query()] = "text",
) -> Response:
    payments = _payments(services_of(request))
    try:
        date = _dt.date.fromisoformat(day)
    except ValueError:
        raise ServiceError("invalid_request", "day is not a calendar date") from None
    report = await call_service(lambda: payments.reconcile(date))
    await audit_access(request, client, "payment.reconcile", "ok" if report.ok else "mismatches",
                       card=None, target=day)  # fmt: skip
    if format == "csv":
        return PlainTextResponse(report.csv(), media_type="text/csv")
    return PlainTextResponse(report.text())
