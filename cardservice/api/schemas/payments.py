"""Bodies of /v1/payments (缴费, 充值, 退费, 对账). The payment methods are the daemon's configured ones
(``GET /v1/payments/methods``), checked by the payments service, not listed here."""

from __future__ import annotations

import datetime as _dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

__all__ = [
    "AccountOut",
    "BillItemOut",
    "BillOut",
    "BillsOut",
    "MethodsOut",
    "OrderOut",
    "OrdersOut",
    "PayBillIn",
    "RefundIn",
    "TopUpIn",
]

_METHOD = r"^[a-z][a-z0-9_-]{0,31}$"
# Money in: a JSON integer of fen and nothing else — "3000" or true is refused, never coerced.
Fen = Annotated[int, Strict(), Field(gt=0, le=10**10)]


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
    status: str = Field(
        description="settled (paid and recorded at the HIS); charged (paid, the HIS not yet told); in_doubt "
        "(the method did not answer: asked again); declined, failed (no money taken); unsettled (the HIS "
        "refused the payment: the money is on its way back) then returned; refunded (a refund done); "
        "pending (under way)"
    )
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
    amount_fen: Fen = Field(description="the bill's total, in fen (a JSON integer; checked against the HIS)")
    method: str = Field(
        pattern=_METHOD,
        description="one of GET /v1/payments/methods: prepaid (就诊卡账户), gateway (bank card), cash, ...",
        examples=["prepaid"],
    )


class TopUpIn(_PatientIn):
    amount_fen: Fen = Field(description="in fen (a JSON integer)")
    method: str = Field(
        pattern=_METHOD, description="one of GET /v1/payments/methods `top_up`", examples=["cash"]
    )


class RefundIn(_PatientIn):
    amount_fen: Fen = Field(description="in fen (a JSON integer)")


class MethodsOut(BaseModel):
    methods: list[str] = Field(
        description="how a bill can be paid here, in the order to offer them",
        examples=[["prepaid", "gateway"]],
    )
    top_up: list[str] = Field(
        description="how the prepaid account (就诊卡账户) can be topped up here", examples=[["gateway"]]
    )
