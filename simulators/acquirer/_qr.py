"""The simulated acquirer's QR-code payments (扫码支付): the terminal asks for a payment code and shows it,
the payer's phone pays it, the acquirer tells the terminal (a signed notification) and answers its polls.

    POST /v1/qr/codes                         {"reference", "amount_fen", "expires_in"?, "notify_url"?}:
                                              a code, once per reference (Idempotency-Key = reference)
    GET  /v1/qr/transactions/{reference}      a code or a refund, 404 when unknown
    POST /v1/qr/transactions/{reference}/close    close a code; a paid code or a refund answers as it
                                              is; an unknown reference is closed for good ("closed")
    POST /v1/qr/refunds                       {"charge_reference", "refund_reference", "amount_fen"}
    GET  /v1/qr/transactions?day=YYYY-MM-DD   the day's paid codes (kind "charge", "approved") and refunds
    POST /control/qr/{reference}/pay          the payer's phone pays the code
    POST /control/qr/scan                     {"code": code_url}: the same, by the code the kiosk shows;
                                              no body: the newest open code (the one on screen now)
    GET  /control/qr/{reference}              the code and every payment a phone made on it
    GET|POST /control/qr                      {"notify_url", "drop_notifications"}

A code is ``open`` until it is paid (``paid``) or closed (``closed``; ``reason`` ``expired`` once its
time is up, ``closed`` when the terminal closed it). Only an open code takes a payment: a phone paying a
closed or already paid code is refused and its money goes back to it at once (``qr_payments``, result
``returned``) — the merchant is never charged twice nor without a code it can see.

On a payment the acquirer POSTs ``{"reference", "status": "paid", "transaction_id", "amount_fen",
"paid_at"}`` to the code's ``notify_url`` (else the configured one) with ``X-Qr-Signature: sha256=<hex
HMAC-SHA256 of the body under the shared secret>``: once, and not at all while ``drop_notifications``
counts down (a lost notification, which the terminal's polling must make up for). The fault mode
``timeout`` of :class:`~simulators.acquirer._app.Faults` delays every ``/v1/qr`` answer after the
acquirer acted, as for card charges.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Annotated

import httpx
from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from simulators.acquirer._store import AcquirerStore, QrPayment, QrTransaction

__all__ = ["SIGNATURE_HEADER", "QrSettings", "qr_router", "sign"]

_REF = r"^[A-Za-z0-9._:@-]{1,64}$"
SIGNATURE_HEADER = "X-Qr-Signature"
_NOTIFY_TIMEOUT = httpx.Timeout(5.0, connect=2.0)


@dataclasses.dataclass
class QrSettings:
    """``secret``: the key notifications are signed with (none: nothing is notified); ``notify_url``:
    where, unless the code names its own; ``drop_notifications``: how many of the next to lose."""

    secret: bytes | None = None
    notify_url: str | None = None
    drop_notifications: int = 0


class CodeIn(BaseModel):
    reference: str = Field(pattern=_REF)
    amount_fen: int = Field(gt=0)
    expires_in: float = Field(default=120.0, gt=0, le=7200)
    notify_url: str | None = Field(default=None, pattern=r"^https?://")


class QrRefundIn(BaseModel):
    charge_reference: str = Field(pattern=_REF)
    refund_reference: str = Field(pattern=_REF)
    amount_fen: int = Field(gt=0)


class ScanIn(BaseModel):
    code: str | None = Field(default=None, min_length=1, max_length=200)


class QrControlIn(BaseModel):
    notify_url: str | None = Field(default=None, pattern=r"^https?://")
    drop_notifications: int | None = Field(default=None, ge=0)


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Qr-Signature`` of *body*."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _listed(txn: QrTransaction) -> dict[str, object]:
    """A line of the day's list, shaped as the card charges' (a paid code is an approved charge)."""
    paid = txn.kind == "code"
    return {
        "reference": txn.reference,
        "kind": "charge" if paid else "refund",
        "charge_reference": txn.charge_reference,
        "amount_fen": txn.amount_fen,
        "status": "approved" if paid else txn.status,
        "transaction_id": txn.transaction_id,
        "day": txn.day,
        "at": txn.paid_at if paid else txn.at,
    }


def qr_router(store: AcquirerStore, settings: QrSettings, *, delay: Callable[[], float]) -> APIRouter:
    """The QR routes over *store*; *delay*: the seconds the fault mode holds a ``/v1/qr`` answer now."""
    router = APIRouter()

    def answer(txn: QrTransaction) -> dict[str, object]:
        return txn.as_json(store.now())

    async def late(body: dict[str, object]) -> dict[str, object]:
        seconds = delay()
        if seconds > 0:
            await asyncio.sleep(seconds)
        return body

    @router.post("/v1/qr/codes", response_model=None)
    async def create_code(
        body: CodeIn, idempotency_key: Annotated[str | None, Header()] = None
    ) -> dict[str, object] | JSONResponse:
        if idempotency_key is not None and idempotency_key != body.reference:
            return _error(400, "bad_request", "Idempotency-Key must be the reference")
        txn, new = store.qr_create(body.reference, body.amount_fen, body.expires_in, body.notify_url)
        if not new and txn.kind != "closed" and (txn.kind != "code" or txn.amount_fen != body.amount_fen):
            return _error(409, "reference_reused", "the reference was used for another transaction")
        return await late(answer(txn))

    @router.get("/v1/qr/transactions/{reference}", response_model=None)
    async def get_transaction(reference: str) -> dict[str, object] | JSONResponse:
        txn = store.qr_get(reference)
        if txn is None:
            return _error(404, "not_found", "no such reference")
        return await late(answer(txn))

    @router.post("/v1/qr/transactions/{reference}/close")
    async def close(reference: str) -> dict[str, object]:
        return await late(answer(store.qr_close(reference)))

    @router.post("/v1/qr/refunds", response_model=None)
    async def refund(
        body: QrRefundIn, idempotency_key: Annotated[str | None, Header()] = None
    ) -> dict[str, object] | JSONResponse:
        if idempotency_key is not None and idempotency_key != body.refund_reference:
            return _error(400, "bad_request", "Idempotency-Key must be the refund reference")
        txn, new = store.qr_refund(body.charge_reference, body.refund_reference, body.amount_fen)
        if not new:
            if txn.kind == "closed":
                return {**answer(txn), "status": "declined", "reason": "reference closed"}
            if txn.kind != "refund" or txn.amount_fen != body.amount_fen:
                return _error(409, "reference_reused", "the reference was used for another transaction")
        return await late(answer(txn))

    @router.get("/v1/qr/transactions")
    def transactions(day: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")]) -> dict[str, object]:
        return {"day": day, "transactions": [_listed(t) for t in store.qr_transactions(day)]}

    # -- the tester's side: the payer's phone, the notification switch -------------------------------

    @router.get("/control/qr")
    def get_control() -> dict[str, object]:
        return {
            "notify_url": settings.notify_url,
            "drop_notifications": settings.drop_notifications,
            "signing": settings.secret is not None,
        }

    @router.post("/control/qr")
    def set_control(body: QrControlIn) -> dict[str, object]:
        for name, value in body.model_dump(exclude_none=True).items():
            setattr(settings, name, value)
        return get_control()

    @router.get("/control/qr/{reference}", response_model=None)
    def inspect(reference: str) -> dict[str, object] | JSONResponse:
        txn = store.qr_get(reference)
        if txn is None:
            return _error(404, "not_found", "no such reference")
        return {"transaction": answer(txn), "payments": [p.as_json() for p in store.qr_payments(reference)]}

    @router.post("/control/qr/scan", response_model=None)
    async def scan(body: ScanIn | None = None) -> dict[str, object] | JSONResponse:
        # No code given: the payer scans the code on the kiosk's screen now (the newest open one; demos).
        code = body.code if body is not None else None
        reference = store.qr_reference_of(code) if code is not None else store.qr_newest_open()
        if reference is None:
            return _error(404, "not_found", "no such code")
        return await pay(reference)

    @router.post("/control/qr/{reference}/pay", response_model=None)
    async def pay(reference: str) -> dict[str, object] | JSONResponse:
        paid = store.qr_pay(reference)
        if paid is None:
            return _error(404, "not_found", "no such code")
        txn, payment = paid
        notification = None
        if payment.result == "accepted":
            notification = await _notify(txn, payment)
            store.qr_notified(payment.id, notification)
        return {
            "result": "paid" if payment.result == "accepted" else "returned",
            "reason": payment.reason,
            "notification": notification,
            "transaction": answer(txn),
        }

    async def _notify(txn: QrTransaction, payment: QrPayment) -> str:
        url = txn.notify_url or settings.notify_url
        if url is None or settings.secret is None:
            return "none"
        if settings.drop_notifications > 0:
            settings.drop_notifications -= 1
            return "dropped"
        body = json.dumps(
            {
                "reference": txn.reference,
                "status": "paid",
                "transaction_id": txn.transaction_id,
                "amount_fen": txn.amount_fen,
                "paid_at": txn.paid_at,
                "payment_id": payment.id,
            },
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(settings.secret, body)}
        try:
            async with httpx.AsyncClient(timeout=_NOTIFY_TIMEOUT) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"failed:{type(exc).__name__}"
        return f"sent:{response.status_code}"

    return router
