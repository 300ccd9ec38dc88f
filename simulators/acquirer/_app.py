"""The simulated acquirer's HTTP API (FastAPI).

    POST /v1/charges                      {"reference", "amount_fen"}: charge once per reference
    POST /v1/refunds                      {"charge_reference", "refund_reference", "amount_fen"}
    GET  /v1/transactions/{reference}     a charge or refund, 404 when unknown
    POST /v1/transactions/{reference}/close   the same, or close an unknown reference (then "closed")
    GET  /v1/transactions?day=YYYY-MM-DD  the day's charges and refunds (reconciliation file)
    GET|POST /control                     the fault mode: {"mode", "delay", "decline_amounts",
                                          "timeout_amounts"}

Fault modes: ``approve``; ``decline`` (every new charge and refund refused); ``timeout`` (the charge
or refund is recorded and approved, but the answer comes only after ``delay`` seconds — longer than the client
waits, so the client is in doubt while the money is taken). ``decline_amounts`` / ``timeout_amounts``
apply those faults to charges of exactly those amounts in any mode. A repeated request with a known
reference answers at once with the stored transaction: nothing is charged twice.

Closing (what the gateway's ``query`` does before the payments service fails an order): a reference the
acquirer knows answers as it is (an approved charge answers approved); an unknown one is closed for good
— a charge or refund arriving under it later answers ``declined`` and moves no money, and the closed
reference is never in the day's transaction list.

Terminals authenticate as at a real acquirer: built with a *token*, every ``/v1`` request must carry
``Authorization: Bearer <token>`` (401 otherwise, and nothing is done). ``/health`` and ``/control``
(the tester's fault switch) stay open.

QR-code payments (扫码支付: ``/v1/qr/...``, ``/control/qr/...``) are :mod:`simulators.acquirer._qr`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
from typing import Annotated, Literal

from fastapi import FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.middleware.base import RequestResponseEndpoint

from simulators.acquirer._qr import QrSettings, qr_router
from simulators.acquirer._store import AcquirerStore

__all__ = ["Faults", "create_app"]

_REF = r"^[A-Za-z0-9._:@-]{1,64}$"


@dataclasses.dataclass
class Faults:
    mode: Literal["approve", "decline", "timeout"] = "approve"
    delay: float = 2.0
    decline_amounts: list[int] = dataclasses.field(default_factory=list)
    timeout_amounts: list[int] = dataclasses.field(default_factory=list)


class ChargeIn(BaseModel):
    reference: str = Field(pattern=_REF)
    amount_fen: int = Field(gt=0)


class RefundIn(BaseModel):
    charge_reference: str = Field(pattern=_REF)
    refund_reference: str = Field(pattern=_REF)
    amount_fen: int = Field(gt=0)


class ControlIn(BaseModel):
    mode: Literal["approve", "decline", "timeout"] | None = None
    delay: float | None = Field(default=None, ge=0, le=60)
    decline_amounts: list[int] | None = None
    timeout_amounts: list[int] | None = None


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_app(
    store: AcquirerStore,
    faults: Faults | None = None,
    *,
    token: str | None = None,
    qr: QrSettings | None = None,
) -> FastAPI:
    """*qr*: the QR-code payments' notification settings (default: none sent)."""
    faults = faults or Faults()
    qr = qr or QrSettings()
    app = FastAPI(title="simulated acquirer", docs_url=None, redoc_url=None)
    app.state.faults = faults
    app.state.store = store
    app.state.qr = qr

    if token is not None:
        expected = f"Bearer {token}".encode()

        @app.middleware("http")
        async def authenticate(request: Request, call_next: RequestResponseEndpoint) -> Response:
            if request.url.path.startswith("/v1/"):
                given = request.headers.get("authorization", "").encode()
                if not hmac.compare_digest(given, expected):
                    response = _error(401, "unauthorized", "unknown terminal: Authorization: Bearer TOKEN")
                    response.headers["WWW-Authenticate"] = "Bearer"
                    return response
            return await call_next(request)

    def slow(amount_fen: int) -> bool:
        return faults.mode == "timeout" or amount_fen in faults.timeout_amounts

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/charges", response_model=None)
    async def charge(
        body: ChargeIn, idempotency_key: Annotated[str | None, Header()] = None
    ) -> dict[str, object] | JSONResponse:
        if idempotency_key is not None and idempotency_key != body.reference:
            return _error(400, "bad_request", "Idempotency-Key must be the reference")
        declined = faults.mode == "decline" or body.amount_fen in faults.decline_amounts
        txn, new = store.charge(body.reference, body.amount_fen, "declined" if declined else "approved")
        if not new:
            if txn.kind == "closed":
                return {**txn.as_json(), "status": "declined", "message": "reference closed"}
            if txn.kind != "charge" or txn.amount_fen != body.amount_fen:
                return _error(409, "reference_reused", "the reference was used for another transaction")
            return txn.as_json()
        if slow(body.amount_fen):
            await asyncio.sleep(faults.delay)
        return txn.as_json()

    @app.post("/v1/refunds", response_model=None)
    async def refund(
        body: RefundIn, idempotency_key: Annotated[str | None, Header()] = None
    ) -> dict[str, object] | JSONResponse:
        txn, new = store.refund(
            body.charge_reference, body.refund_reference, body.amount_fen, decline=faults.mode == "decline"
        )
        if not new:
            if txn.kind == "closed":
                return {**txn.as_json(), "status": "declined", "message": "reference closed"}
            if txn.kind != "refund" or txn.amount_fen != body.amount_fen:
                return _error(409, "reference_reused", "the reference was used for another transaction")
            return txn.as_json()
        if faults.mode == "timeout":
            await asyncio.sleep(faults.delay)
        return txn.as_json()

    @app.get("/v1/transactions/{reference}", response_model=None)
    def get_transaction(reference: str) -> dict[str, object] | JSONResponse:
        txn = store.get(reference)
        if txn is None:
            return _error(404, "not_found", "no such reference")
        return txn.as_json()

    @app.post("/v1/transactions/{reference}/close")
    def close(reference: str) -> dict[str, object]:
        return store.close_reference(reference).as_json()

    @app.get("/v1/transactions")
    def transactions(day: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")]) -> dict[str, object]:
        return {"day": day, "transactions": [t.as_json() for t in store.transactions(day)]}

    @app.get("/control")
    def get_control() -> dict[str, object]:
        return dataclasses.asdict(faults)

    @app.post("/control")
    def set_control(body: ControlIn) -> dict[str, object]:
        for name, value in body.model_dump(exclude_none=True).items():
            setattr(faults, name, value)
        return dataclasses.asdict(faults)

    app.include_router(qr_router(store, qr, delay=lambda: faults.delay if faults.mode == "timeout" else 0.0))
    return app
