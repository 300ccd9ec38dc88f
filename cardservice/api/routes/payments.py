"""/v1/payments: the card holder's bills and prepaid account (就诊卡账户), paying a bill, topping up,
refunds and the daily reconciliation (对账), over :class:`cardservice.payments.Payments`.

As for registration, the patient is the holder of the card in the named reader and every mutating call
needs an ``Idempotency-Key`` (per API client): the same request retried — 50 times at once, or after the
daemon was killed mid-payment — is charged once. The methods offered are the daemon's configuration
(``payment_methods``; ``GET /v1/payments/methods``). A declined or in-doubt payment is an order
``status``, not an error: ``settled`` (paid and recorded at the HIS), ``charged`` (paid; the HIS is told
later), ``in_doubt`` (the payment method did not answer: resolved by asking it, at the latest at the next
start), ``declined`` / ``failed`` (no money taken).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from cardservice.api._deps import (
    HIS_ERRORS,
    PATIENT_ERRORS,
    Admin,
    ApiClient,
    CardIdHeader,
    His,
    HisService,
    IdempotencyKey,
    Kiosk,
    PaymentsService,
    ReaderQuery,
    Services,
    audit_access,
    audited,
    call_service,
    patient_of,
    reader_of,
    services_of,
)
from cardservice.api._errors import responses
from cardservice.api.schemas.payments import (
    AccountOut,
    BillOut,
    BillsOut,
    MethodsOut,
    OrderOut,
    OrdersOut,
    PayBillIn,
    RefundIn,
    TopUpIn,
)
from cardservice.errors import ServiceError
from cardservice.his import Patient
from cardservice.payments import ChargeContext, Order, Payments, charge_context
from cardservice.readers import CardView

__all__ = ["router"]

router = APIRouter(prefix="/v1/payments", tags=["payments"])

_PAYMENT_ERRORS = ("payment_rejected", "payment_method_not_allowed", "idempotency_conflict",
                   "insufficient_funds", "payment_unavailable")  # fmt: skip
_DAY = r"^\d{4}-\d{2}-\d{2}$"  # not pydantic's lax date: it takes "0" for 1970-01-01
_DATE = {"format": "date"}  # for the document: a calendar date (the route checks it)


def _methods(request: Request, client: ApiClient, payments: Payments) -> MethodsOut:
    """The methods this daemon offers that this client may use (configuration: payment_methods and
    payment_methods_by_scope)."""
    names = services_of(request).payment_policy.allowed(client.scopes, list(payments.methods))
    return MethodsOut(methods=names, top_up=[name for name in names if name != "prepaid"])


def _check_method(method: str, offered: list[str], allowed: list[str]) -> None:
    """Before anything is recorded: a method not offered here is a bad request; one offered, but not to
    this client (a kiosk naming the cash desk), is forbidden."""
    if method not in offered:
        raise ServiceError(
            "invalid_request",
            "the request is not valid",
            problems=[{"where": "body.method", "problem": f"not offered here; one of: {', '.join(offered)}"}],
        )
    if method not in allowed:
        raise ServiceError(
            "payment_method_not_allowed",
            f"this client may not pay with {method!r}",
            method=method,
            allowed=allowed,
        )


async def _reading(
    request: Request, client: ApiClient, reader: str, x_card_id: str | None
) -> tuple[CardView, Patient]:
    """A read of the patient's data: rate-limited like a card read (every such read is audited too)."""
    services = services_of(request)
    services.limiter.take(client.name)
    return await patient_of(services, reader, x_card_id, client=client)


def _charging(
    services: Services, client: ApiClient, view: CardView, operation: Callable[[], Order]
) -> Callable[[], Order]:
    """*operation* with the :class:`ChargeContext` an interactive method (bankcard, qrcode) needs: the reader
    the card is in, and its progress as ``payment.progress`` events to this client only."""
    reader = None if view.reader_id.startswith("idcard") else view.reader_id

    def progress(stage: str, detail: Mapping[str, Any]) -> None:
        event = {"type": "payment.progress", "reader": view.reader_id, "client": client.name, "stage": stage}
        services.hub.publish({**event, **detail})

    context = ChargeContext(reader=reader, progress=progress)
    key = (client.name, view.reader_id)

    def run() -> Order:
        services.charges[key] = context
        try:
            with charge_context(context):  # set on the worker thread the operation runs on
                return operation()
        finally:
            if services.charges.get(key) is context:
                del services.charges[key]

    return run


async def _order(
    request: Request,
    client: ApiClient,
    action: str,
    operation: Callable[[], Order],
    *,
    card: str,
    target: str,
) -> OrderOut:
    order = await audited(
        request, client, action, operation, card=card, target=target,
        result=lambda o: o.status, target_of=lambda o: o.reference,
        detail=lambda o: {"amount_fen": o.amount_fen, "method": o.method},
    )  # fmt: skip
    return OrderOut.model_validate(order)


@router.get(
    "/methods", response_model=MethodsOut, summary="How this client may pay bills and top up, here",
    responses=responses("payment_unavailable"),
)  # fmt: skip
async def methods(request: Request, client: Kiosk, payments: PaymentsService) -> MethodsOut:
    return _methods(request, client, payments)


@router.get(
    "/bills", response_model=BillsOut, summary="The card holder's outstanding bills (待缴费用)",
    responses=responses("rate_limited", *PATIENT_ERRORS, *HIS_ERRORS),
)  # fmt: skip
async def list_bills(
    request: Request, client: Kiosk, his: HisService, reader: ReaderQuery = "default",
    x_card_id: CardIdHeader = None,
) -> BillsOut:  # fmt: skip
    view, patient = await _reading(request, client, reader, x_card_id)
    bills = await audited(
        request, client, "payment.list_bills", lambda: his.bills(patient), card=view.masked_card_number,
        target=None, detail=lambda found: {"bills": len(found)},
    )  # fmt: skip
    return BillsOut(card=view.masked_card_number, bills=[BillOut.model_validate(b) for b in bills])


@router.get(
    "/account", response_model=AccountOut, summary="The card holder's prepaid balance (就诊卡账户)",
    responses=responses("rate_limited", *PATIENT_ERRORS, *_PAYMENT_ERRORS),
)  # fmt: skip
async def account(
    request: Request, client: Kiosk, payments: PaymentsService, reader: ReaderQuery = "default",
    x_card_id: CardIdHeader = None,
) -> AccountOut:  # fmt: skip
    view, patient = await _reading(request, client, reader, x_card_id)
    balance = await audited(request, client, "payment.read_balance", lambda: payments.balance(patient),
                            card=view.masked_card_number, target="prepaid")  # fmt: skip
    return AccountOut(card=view.masked_card_number, balance_fen=balance)


@router.post(
    "", response_model=OrderOut, summary="Pay one of the card holder's bills (缴费)",
    description="The bill's whole total, by one of the methods of `GET /v1/payments/methods`. The answer "
    "is the order: check `status` (settled / charged / in_doubt / declined / failed).",
    responses=responses("rate_limited", *PATIENT_ERRORS, *_PAYMENT_ERRORS, *HIS_ERRORS, "bill_in_payment",
                        "amount_mismatch"),
)  # fmt: skip
async def pay_bill(
    request: Request, client: Kiosk, payments: PaymentsService, body: PayBillIn,
    idempotency_key: IdempotencyKey, x_card_id: CardIdHeader = None,
) -> OrderOut:  # fmt: skip
    offered = list(payments.methods)
    _check_method(body.method, offered, _methods(request, client, payments).methods)
    services = services_of(request)
    services.limiter.take(client.name)
    view, patient = await patient_of(services, body.reader, x_card_id, client=client)
    return await _order(
        request, client, "payment.pay_bill",
        _charging(services, client, view, lambda: payments.pay_bill(
            client.name, idempotency_key, patient, body.bill_id, body.amount_fen, body.method)),
        card=view.masked_card_number, target=body.bill_id,
    )  # fmt: skip


@router.post(
    "/top-ups", response_model=OrderOut, summary="Top up the card holder's prepaid account (充值)",
    responses=responses("rate_limited", *PATIENT_ERRORS, *_PAYMENT_ERRORS),
)  # fmt: skip
async def top_up(
    request: Request, client: Kiosk, payments: PaymentsService, body: TopUpIn,
    idempotency_key: IdempotencyKey, x_card_id: CardIdHeader = None,
) -> OrderOut:  # fmt: skip
    offered = [name for name in payments.methods if name != "prepaid"]
    _check_method(body.method, offered, _methods(request, client, payments).top_up)
    services = services_of(request)
    services.limiter.take(client.name)
    view, patient = await patient_of(services, body.reader, x_card_id, client=client)
    return await _order(
        request, client, "payment.top_up",
        _charging(services, client, view, lambda: payments.top_up(
            client.name, idempotency_key, patient, body.amount_fen, body.method)),
        card=view.masked_card_number, target="prepaid",
    )  # fmt: skip


@router.get(
    "/orders", response_model=OrdersOut, summary="The card holder's orders, newest first",
    responses=responses("rate_limited", *PATIENT_ERRORS, *_PAYMENT_ERRORS),
)  # fmt: skip
async def list_orders(
    request: Request, client: Kiosk, payments: PaymentsService, reader: ReaderQuery = "default",
    x_card_id: CardIdHeader = None,
) -> OrdersOut:  # fmt: skip
    view, patient = await _reading(request, client, reader, x_card_id)
    orders = await audited(
        request, client, "payment.list_orders", lambda: payments.orders(patient),
        card=view.masked_card_number, target=None, detail=lambda found: {"orders": len(found)},
    )  # fmt: skip
    return OrdersOut(orders=[OrderOut.model_validate(o) for o in orders])


@router.get(
    "/orders/{reference}", response_model=OrderOut, summary="One of the card holder's orders",
    description="An order not yet final is pushed on now: `in_doubt` asks its payment method, `charged` "
    "the HIS, `unsettled` (the HIS refused it) returns the money.",
    responses=responses("rate_limited", *PATIENT_ERRORS, *_PAYMENT_ERRORS, "order_not_found"),
)  # fmt: skip
async def get_order(
    request: Request, client: Kiosk, payments: PaymentsService, reference: str,
    reader: ReaderQuery = "default", x_card_id: CardIdHeader = None,
) -> OrderOut:  # fmt: skip
    view, patient = await _reading(request, client, reader, x_card_id)
    order = await audited(
        request, client, "payment.read_order", lambda: payments.get_order(reference, patient=patient),
        card=view.masked_card_number, target=reference,
    )  # fmt: skip
    # Pushed on now: in doubt, waiting for the HIS, or its money on the way back. Never a pending one: it
    # is in flight in another request (asking its method could close the reference under it).
    if order.status in ("in_doubt", "charged", "unsettled"):
        order = await call_service(lambda: payments.resolve(reference, actor=client.name))
    return OrderOut.model_validate(order)


@router.post(
    "/orders/{reference}/refund", response_model=OrderOut, summary="Refund (part of) a settled order (退费)",
    description="HIS scope: refunds are a counter's decision, not a kiosk's.",
    responses=responses(*PATIENT_ERRORS, *_PAYMENT_ERRORS, "order_not_found"),
)  # fmt: skip
async def refund(
    request: Request, client: His, payments: PaymentsService, reference: str, body: RefundIn,
    idempotency_key: IdempotencyKey, x_card_id: CardIdHeader = None,
) -> OrderOut:  # fmt: skip
    view, patient = await patient_of(services_of(request), body.reader, x_card_id, client=client)
    return await _order(
        request, client, "payment.refund",
        lambda: payments.refund(client.name, idempotency_key, patient, reference, body.amount_fen),
        card=view.masked_card_number, target=reference,
    )  # fmt: skip


@router.get(
    "/reconciliation", summary="Daily reconciliation (对账): ledger vs payment-method records",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}, "text/csv": {}}}, **responses(*_PAYMENT_ERRORS)},
)  # fmt: skip
async def reconciliation(
    request: Request,
    client: Admin,
    payments: PaymentsService,
    day: Annotated[
        str,
        Query(description="the day (Beijing time), YYYY-MM-DD", pattern=_DAY, json_schema_extra=_DATE),
    ],
    format: Annotated[Literal["text", "csv"], Query()] = "text",
) -> Response:
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


@router.post(
    "/cancel", status_code=204, summary="Cancel this client's payment in progress at a reader",
    description="For `bankcard` and `qrcode`, whose charge waits for the payer: the payer walked away or "
    "pressed 取消. The charge stops at its next safe point — a PIN entry is aborted on the pad, a payment "
    "code is closed at the gateway — and its order answers as usual (a code paid just before the cancel is "
    "still paid). Nothing in progress: 404 `no_payment_in_progress`.",
    responses=responses("rate_limited", "no_payment_in_progress"),
)  # fmt: skip
async def cancel_payment(request: Request, client: Kiosk, reader: ReaderQuery = "default") -> Response:
    services = services_of(request)
    services.limiter.take(client.name)
    try:
        reader_id = services.manager.resolve(reader_of(client, reader))
    except ServiceError:
        reader_id = reader
    context = services.charges.get((client.name, reader_id))
    if context is None:
        raise ServiceError(
            "no_payment_in_progress", "no payment of this client is in progress at this reader"
        )
    context.cancel.set()
    await audit_access(request, client, "payment.cancel", "ok", card=None, target=reader_id)
    return Response(status_code=204)
