"""The reference HIS server: docs/his-contract.md served over any :class:`HisConnector` (normally an
:class:`EmbeddedHis`), so the contract is proven both ways and testers can run a fake HIS::

    python -m cardservice.his._server --database sqlite:////tmp/his.db --port 8780 --token s3cret

It is a test and demonstration tool: plain HTTP on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import secrets
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from cardservice.his._embedded import check_idempotency_key
from cardservice.his._errors import HisError, HisRejected
from cardservice.his._values import HisConnector, Patient
from cardservice.his._wire import (
    BillOut,
    BillsOut,
    BirthOut,
    BookIn,
    CancelIn,
    DepartmentsOut,
    DoctorsOut,
    ErrorOut,
    LabReportsOut,
    PatientIn,
    PatientQueryIn,
    RegistrationOut,
    RegistrationsOut,
    SettleIn,
    SlotsOut,
    wire,
)

__all__ = ["ERROR_STATUS", "create_app", "main"]

#: HTTP status of each error code (docs/his-contract.md, "Errors").
ERROR_STATUS: dict[str, int] = {
    "his_rejected": 422,
    "not_found": 404,
    "slot_full": 409,
    "already_cancelled": 409,
    "already_settled": 409,
    "amount_mismatch": 409,
    "his_unavailable": 503,
    "his_timeout": 504,
    "his_protocol": 502,
    "his_error": 500,
}


def _error(status: int, code: str, message: str, message_zh: str, details: dict[str, Any]) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "message_zh": message_zh, "details": details}}
    return JSONResponse(body, status_code=status)


def _patient(body: PatientIn) -> Patient:
    try:
        return body.value()
    except ValueError as exc:
        raise HisRejected(f"patient: {exc}", message_zh="患者信息格式错误") from None


def _key(key: str | None) -> str:
    if key is None:
        raise HisRejected("this call needs an Idempotency-Key header", message_zh="缺少请求标识")
    check_idempotency_key(key)
    return key


def create_app(his: HisConnector, *, token: str | None = None) -> FastAPI:
    """The contract's endpoints over ``his``. ``token``: the bearer token every request must carry
    (``Authorization: Bearer ...``); None accepts any request (tests, a desk demo)."""
    app = FastAPI(
        title="cardservice reference HIS",
        version="1",
        docs_url=None,
        redoc_url=None,
        responses={"4XX": {"model": ErrorOut}, "5XX": {"model": ErrorOut}},
    )

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Callable[[Request], Any]) -> Any:
        if token is not None:
            given = request.headers.get("authorization", "")
            if not secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return _error(
                    401, "his_rejected", "unauthorized: wrong or missing bearer token", "认证失败", {}
                )
        return await call_next(request)

    @app.exception_handler(HisError)
    async def his_error(request: Request, exc: HisError) -> JSONResponse:
        return _error(ERROR_STATUS.get(exc.code, 422), exc.code, exc.message, exc.message_zh, exc.details)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        return _error(
            400, "his_rejected", f"malformed request: {', '.join(fields)}", "请求格式错误", {"fields": fields}
        )

    @app.get("/v1/departments", response_model=DepartmentsOut)
    def departments() -> Any:
        return {"departments": wire(his.departments())}

    @app.get("/v1/departments/{department_id}/doctors", response_model=DoctorsOut)
    def doctors(department_id: str) -> Any:
        return {"doctors": wire(his.doctors(department_id))}

    @app.get("/v1/departments/{department_id}/slots", response_model=SlotsOut)
    def slots(
        department_id: str,
        date_from: Annotated[_dt.date, Query()],
        date_to: Annotated[_dt.date, Query()],
        doctor_id: Annotated[str | None, Query()] = None,
    ) -> Any:
        found = his.slots(department_id, doctor_id=doctor_id, date_from=date_from, date_to=date_to)
        return {"slots": wire(found)}

    @app.post("/v1/registrations", response_model=RegistrationOut)
    def book(body: BookIn, idempotency_key: Annotated[str | None, Header()] = None) -> Any:
        registration = his.book(_patient(body.patient), body.slot_id, idempotency_key=_key(idempotency_key))
        return {"registration": wire(registration)}

    @app.post("/v1/registrations/{registration_id}/cancel", response_model=RegistrationOut)
    def cancel(
        registration_id: str, body: CancelIn, idempotency_key: Annotated[str | None, Header()] = None
    ) -> Any:
        registration = his.cancel_registration(
            _patient(body.patient), registration_id, idempotency_key=_key(idempotency_key)
        )
        return {"registration": wire(registration)}

    @app.post("/v1/registrations/query", response_model=RegistrationsOut)
    def registrations(body: PatientQueryIn) -> Any:
        return {"registrations": wire(his.registrations(_patient(body.patient)))}

    @app.post("/v1/bills/query", response_model=BillsOut)
    def bills(body: PatientQueryIn) -> Any:
        return {"bills": wire(his.bills(_patient(body.patient)))}

    @app.post("/v1/bills/{bill_id}/query", response_model=BillOut)
    def bill(bill_id: str, body: PatientQueryIn) -> Any:
        return {"bill": wire(his.bill(_patient(body.patient), bill_id))}

    @app.post("/v1/bills/{bill_id}/settle", response_model=BillOut)
    def settle(bill_id: str, body: SettleIn, idempotency_key: Annotated[str | None, Header()] = None) -> Any:
        bill = his.settle_bill(
            _patient(body.patient),
            bill_id,
            payment_reference=body.payment_reference,
            amount_fen=body.amount_fen,
            idempotency_key=_key(idempotency_key),
        )
        return {"bill": wire(bill)}

    @app.post("/v1/births/{birth_certificate}/query", response_model=BirthOut)
    def birth(birth_certificate: str, body: PatientQueryIn) -> Any:
        return {"birth": wire(his.birth_record(_patient(body.patient), birth_certificate))}

    @app.post("/v1/lab-reports/query", response_model=LabReportsOut)
    def lab_reports(body: PatientQueryIn) -> Any:
        return {"lab_reports": wire(his.lab_reports(_patient(body.patient)))}

    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Run the reference HIS over an embedded HIS in ``--database`` (seeded at start)."""
    import uvicorn

    from cardservice.his._seed import open_embedded_his
    from cardservice.store import open_database

    parser = argparse.ArgumentParser(prog="python -m cardservice.his._server", description=main.__doc__)
    parser.add_argument("--database", required=True, help="sqlite:///PATH or postgresql+psycopg://...")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8780)
    parser.add_argument("--token", help="bearer token clients must send (default: none needed)")
    args = parser.parse_args(argv)
    database = open_database(args.database)
    try:
        app = create_app(open_embedded_his(database), token=args.token)
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    finally:
        database.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
