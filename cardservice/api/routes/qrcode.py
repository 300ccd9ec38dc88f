"""/v1/payments/qrcode/notify: the QR gateway tells this daemon a payment code was paid (扫码支付).

The caller is the gateway, not an API client: it has no API key and proves itself by the signature of
the body (``X-Qr-Signature``, HMAC-SHA256 under the secret shared with the gateway,
``payment_qrcode_secret_env``). A notification with a bad signature is refused (401) and does nothing.
A good one only wakes the charge waiting for that code; the charge then asks the gateway, so nothing
here decides a payment (:mod:`cardservice.payments._qrcode`). Notifications are idempotent: a repeat is
answered ``ok`` again and wakes nothing that is not waiting.

Not in the OpenAPI document: it is the gateway's callback, not part of the API the kiosks and the HIS use.
The gateway reaches the daemon through the Host/Origin guard like anyone: its Host must be listed in
``allowed_hosts`` when it calls from another machine.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel

from cardservice.api._deps import services_of
from cardservice.errors import ServiceError
from cardservice.payments import NotificationOutcome, QrCodeMethod

__all__ = ["router"]

router = APIRouter(prefix="/v1/payments/qrcode", tags=["payments"])


class NotifiedOut(BaseModel):
    status: Literal["ok"] = "ok"


def _qrcode_methods(request: Request) -> list[QrCodeMethod]:
    payments = services_of(request).payments
    if payments is None:
        return []
    return [method for method in payments.methods.values() if isinstance(method, QrCodeMethod)]


@router.post("/notify", response_model=NotifiedOut, include_in_schema=False)
async def notify(request: Request, x_qr_signature: Annotated[str | None, Header()] = None) -> NotifiedOut:
    methods = _qrcode_methods(request)
    if not methods:
        raise ServiceError("not_found", "no QR-code payment method is configured here")
    body = await request.body()  # the guard has bounded its size
    outcomes = {method.notification(body, x_qr_signature) for method in methods}
    if NotificationOutcome.ACCEPTED in outcomes:
        return NotifiedOut()
    if NotificationOutcome.MALFORMED in outcomes:
        raise ServiceError(
            "invalid_request",
            "the request is not valid",
            problems=[{"where": "body", "problem": "not a payment-code notification"}],
        )
    raise ServiceError("unauthorized", "the notification's signature is not the QR gateway's")
