"""One error shape for every failure of the API, with a stable machine code and two messages::

    {"error": {"code": "card_removed", "message": "...", "message_zh": "...", "details": {...}}}

Two tables are the whole contract. :data:`ERRORS`: code → HTTP status and the Chinese message shown to
patients and HIS users. :data:`API_CODES`: which code an exception of the library becomes, looked up
along the exception's class hierarchy (:func:`cardservice.errors.lookup`); a :class:`CodedError` not
listed keeps its own ``code``, and the card chain's errors are classified by
:func:`cardservice.readers.classify`. Never a stack trace: unexpected exceptions become
``internal_error`` (logged on our side).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from cardservice.errors import CardserviceError, CodedError, ServiceError, lookup
from cardservice.his import NotFound as HisNotFound
from cardservice.idcard import (
    IdCardError,
    IdCardNoCard,
    IdCardProtocolError,
    IdCardReaderOffline,
    IdCardReadFailed,
    IdCardSamUnavailable,
    IdCardTimeout,
    IdCardUnknownReader,
    IdCardUnsupported,
)
from cardservice.payments import OrderNotFound
from cardservice.printing import InvalidJob, JobNotFound, NotPrintable, QueueUnavailable
from cardservice.readers import classify
from cardservice.store import IllegalTransition

__all__ = [
    "ALWAYS",
    "API_CODES",
    "ERRORS",
    "KEYED",
    "ErrorBody",
    "ErrorResponse",
    "api_error",
    "error_response",
    "install_error_handlers",
    "responses",
]

log = logging.getLogger(__name__)

# code: (HTTP status, 中文说明)
ERRORS: dict[str, tuple[int, str]] = {
    # request and client
    "invalid_request": (422, "请求参数不正确"),
    "not_found": (404, "请求的地址不存在"),
    "method_not_allowed": (405, "不支持该请求方法"),
    "unauthorized": (401, "缺少或无效的访问密钥"),
    "forbidden": (403, "该访问密钥无权执行此操作"),
    "host_not_allowed": (421, "请求的主机名不被允许"),
    "origin_not_allowed": (403, "该网页来源不被允许访问本服务"),
    "rate_limited": (429, "请求过于频繁，请稍后再试"),
    "payload_too_large": (413, "请求内容过大"),
    # readers and service
    "reader_not_found": (404, "未找到读卡器"),
    "reader_busy": (409, "读卡器正被其他程序占用"),
    "service_unavailable": (503, "读卡服务（PC/SC）未运行"),
    "sam_unavailable": (503, "安全模块（PSAM）不可用"),
    "sam_pin_refused": (503, "安全模块拒绝了配置的PIN"),
    "sam_blocked": (503, "安全模块PIN已锁定"),
    # the card
    "no_card": (409, "读卡器中没有卡，请插卡"),
    "card_not_ready": (409, "正在读卡，请稍候"),
    "card_removed": (409, "卡片已被拔出"),
    "card_changed": (409, "读卡器中已换成另一张卡"),
    "card_reset": (409, "卡片被其他程序复位，请重试"),
    "card_unresponsive": (504, "卡片无响应，请重新插卡"),
    "card_timeout": (504, "卡片操作超时，请重新插卡"),
    "card_unsupported": (422, "不支持此卡，请使用居民健康卡"),
    "card_blacklisted": (403, "此卡已挂失或停用"),
    "card_not_genuine": (403, "此卡未通过真伪验证，请到人工窗口办理"),
    "auth_failed": (403, "卡片认证失败"),
    "auth_blocked": (403, "卡片密钥已锁定"),
    "access_denied": (403, "卡片拒绝访问"),
    "card_refused": (422, "卡片拒绝执行命令"),
    "card_error": (500, "读卡出错"),
    "invalid_data": (422, "写卡数据不正确"),
    "invalid_card_data": (422, "卡内数据格式不正确"),
    "crypto_error": (500, "密码运算失败"),
    # the hospital information system (HIS), behind registration, payments and reports
    "his_unavailable": (503, "医院信息系统暂时无法连接，请稍后再试"),
    "his_timeout": (504, "医院信息系统响应超时，请稍后再试"),
    "his_protocol": (502, "医院信息系统返回的数据有误"),
    "his_rejected": (422, "医院信息系统拒绝了该请求"),
    "his_not_found": (404, "未找到该记录"),
    "slot_full": (409, "该号源已约满，请选择其他时段"),
    "already_cancelled": (409, "该挂号已取消"),
    "already_settled": (409, "该费用已缴清"),
    "amount_mismatch": (409, "缴费金额与账单不符"),
    # payments
    "payment_unavailable": (503, "支付服务暂时不可用，请稍后再试"),
    "payment_rejected": (422, "无法按此方式支付"),
    "payment_method_not_allowed": (403, "此终端不能使用该支付方式"),
    "bill_in_payment": (409, "该账单正在支付或已缴费，请勿重复支付"),
    "idempotency_conflict": (409, "该请求号已用于另一笔不同的请求"),
    "insufficient_funds": (409, "就诊卡账户余额不足"),
    "order_not_found": (404, "未找到该订单"),
    "no_payment_in_progress": (404, "当前没有正在进行的支付"),
    "ledger_error": (500, "账务处理出错"),
    "print_unavailable": (503, "打印服务暂时不可用"),
    "print_job_not_found": (404, "未找到该打印任务"),
    "unknown_printer": (422, "未配置该打印机"),
    "not_printable": (409, "该记录当前不能打印"),
    "job_not_cancellable": (409, "该打印任务已在打印或已结束，无法取消"),
    "job_not_finished": (409, "该打印任务尚未结束，无需补打"),
    "card_mismatch": (403, "只能由持卡人本人补打"),
    # the resident ID-card reader (身份证阅读器)
    "idcard_unavailable": (503, "未配置身份证阅读器"),
    "idcard_no_card": (409, "请将身份证放在阅读器上"),
    "idcard_read_failed": (409, "读取身份证失败，请拿开后重新放置"),
    "idcard_unsupported": (422, "暂不支持此类证件"),
    "idcard_sam_unavailable": (503, "身份证阅读器安全模块不可用，请联系工作人员"),
    "idcard_protocol": (502, "身份证阅读器返回的数据有误"),
    "idcard_timeout": (504, "身份证阅读器响应超时"),
    "idcard_reader_offline": (503, "身份证阅读器未连接，请联系工作人员"),
    # card issuance at the kiosk (自助发卡; the issuance service and the kiosk's dispenser)
    "issuance_unavailable": (503, "发卡服务暂时不可用，请到人工窗口办理"),
    "issuance_busy": (409, "本机正在发卡，请稍候"),
    "issuance_consent_required": (422, "请先阅读并同意写入卡片的信息"),
    "issuance_invalid_person": (422, "证件信息不能用于办理居民健康卡，请到人工窗口办理"),
    "issuance_has_card": (409, "您已有居民健康卡，无需重复办理"),
    "issuance_refused": (403, "您的证件暂不能自助办卡，请到人工窗口办理"),
    "issuance_card_spoiled": (502, "制卡失败，卡片已回收，请重新办理或到人工窗口办理"),
    "issuance_interrupted": (502, "发卡中断，请到人工窗口办理"),
    "issuance_failed": (502, "发卡失败，请到人工窗口办理"),
    # a child's ID number recorded on their card (/v1/issuance/reader/{reader}/id-number)
    "issuance_card_unknown": (404, "这张卡不在发卡登记中，请到人工窗口办理"),
    "issuance_not_child_card": (409, "这张卡已登记身份证号码，无需更新"),
    "issuance_not_guardian": (403, "请由办卡时登记的监护人办理"),
    "issuance_card_not_live": (409, "这张卡已挂失或注销，请到人工窗口办理"),
    "issuance_invalid_id_number": (422, "身份证号码与孩子的出生日期或性别不符，请核对"),
    "issuance_id_number_has_card": (409, "这个身份证号码已有居民健康卡，请到人工窗口办理"),
    "issuance_id_number_recorded": (409, "这张卡已登记了另一个身份证号码，请到人工窗口办理"),
    "dispenser_empty": (503, "发卡机卡箱已空，请补充卡片"),
    "dispenser_jam": (503, "发卡机卡堵塞，请清理卡道"),
    "dispenser_timeout": (503, "发卡机无响应"),
    "dispenser_protocol": (503, "发卡机通讯错误"),
    "dispenser_fault": (503, "发卡机故障，请联系工作人员"),
    "internal_error": (500, "服务内部错误"),
}


# The library's exceptions whose API code is not their own ``code`` (the services' generic names, and
# errors that are ours, not the client's).
API_CODES: dict[type[BaseException], str] = {
    HisNotFound: "his_not_found",
    OrderNotFound: "order_not_found",
    JobNotFound: "print_job_not_found",
    QueueUnavailable: "print_unavailable",
    InvalidJob: "not_printable",
    NotPrintable: "not_printable",
    IllegalTransition: "internal_error",
    # The ID-card reader's errors keep their own codes; listed so the table says where they come from.
    IdCardNoCard: "idcard_no_card",
    IdCardReadFailed: "idcard_read_failed",
    IdCardUnsupported: "idcard_unsupported",
    IdCardSamUnavailable: "idcard_sam_unavailable",
    IdCardProtocolError: "idcard_protocol",
    IdCardTimeout: "idcard_timeout",
    IdCardReaderOffline: "idcard_reader_offline",
    IdCardUnknownReader: "reader_not_found",
    IdCardError: "internal_error",  # the monitor's word for a driver that failed unexpectedly
}


def api_error(exc: BaseException) -> ServiceError:
    """*exc* as the API reports it: code (from :data:`API_CODES` along its class hierarchy, else its own),
    message and details."""
    if isinstance(exc, ServiceError):
        return exc
    code = lookup(API_CODES, exc)
    if isinstance(exc, CodedError):
        error = ServiceError(code or exc.code, exc.message, **exc.details)
        if exc.message_zh != exc.default_zh:  # said for this case (the HIS's own words): shown as said
            error.message_zh = exc.message_zh
        return error
    if code is not None and isinstance(exc, CardserviceError):
        return ServiceError(
            code, "unexpected error in the card service" if code == "internal_error" else str(exc)
        )
    return classify(exc)


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine code", examples=["card_removed"])
    message: str = Field(description="English message", examples=["the card was removed"])
    message_zh: str = Field(description="中文说明", examples=["卡片已被拔出"])
    details: dict[str, Any] = Field(
        default_factory=dict, description="machine-readable details (tries_left, ...)"
    )


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_response(
    code: str, message: str, details: dict[str, Any] | None = None, *, message_zh: str | None = None
) -> JSONResponse:
    """The error as the API answers it; *message_zh*: this case's own Chinese message, else the code's."""
    status, zh = ERRORS.get(code, ERRORS["internal_error"])
    body = ErrorResponse(
        error=ErrorBody(code=code, message=message, message_zh=message_zh or zh, details=details or {})
    )
    headers = None
    if code == "rate_limited":  # whole seconds, rounded up: a client that waits that long gets through
        headers = {"Retry-After": str(max(1, math.ceil(float((details or {}).get("retry_after", 1)))))}
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


# What any operation may answer, whatever it does: the guard's refusals (before any route: a foreign Host
# or Origin, a body too large), a request that is not valid, and an unexpected failure — among them an
# access that could not be audited, which is refused rather than answered.
ALWAYS = ("host_not_allowed", "origin_not_allowed", "payload_too_large", "invalid_request", "internal_error")
# ... and any operation that needs an API key.
KEYED = ("unauthorized", "forbidden")


def responses(*codes: str, keyed: bool = True) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the error codes an operation can answer: *codes* (what it does: the rate
    limit where it takes a token, the 503 of each hospital service it depends on, ...) with :data:`ALWAYS`
    and, unless it needs no key, :data:`KEYED`. Each status is described by the codes behind it.
    ``invalid_request`` is always there, also because without a 422 FastAPI would document its own
    ``HTTPValidationError`` body, which we never send.

    tests/api/test_openapi.py holds every operation to its list: it sends each one a well-formed request
    in every state that makes a shared refusal (rate limit, services not configured, no card, HIS down,
    audit failing, guard) and fails on a status the operation does not list."""
    by_status: dict[int, set[str]] = {}
    for code in (*(KEYED if keyed else ()), *ALWAYS, *codes):
        by_status.setdefault(ERRORS[code][0], set()).add(code)
    return {
        status: {"model": ErrorResponse, "description": "error codes: " + ", ".join(sorted(names))}
        for status, names in sorted(by_status.items())
    }


_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method the request's path answers to. Starlette's 405 names only the methods of the first
    route whose path matched (OPTIONS on /encounters/{kind}: "GET", though POST is there too). Asked of
    the routes themselves, one method at a time (FastAPI nests included routers)."""
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    return ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CardserviceError)
    async def _library_error(request: Request, exc: CardserviceError) -> JSONResponse:
        problem = api_error(exc)
        if problem.code == "internal_error":
            log.error(
                "error on %s %s: %s", request.method, request.url.path, exc.__class__.__name__, exc_info=exc
            )
        own_zh = problem.message_zh if problem.message_zh != ServiceError.default_zh else None
        return error_response(problem.code, problem.message, problem.details, message_zh=own_zh)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"where": ".".join(str(part) for part in error.get("loc", ())), "problem": error.get("msg", "")}
            for error in exc.errors()
        ]
        return error_response("invalid_request", "the request is not valid", {"problems": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(
            exc.status_code, "invalid_request" if exc.status_code < 500 else "internal_error"
        )
        response = error_response(code, str(exc.detail))
        response.headers.update(exc.headers or {})  # e.g. Allow on a 405
        if exc.status_code == 405 and (allowed := _allowed_methods(request)):
            response.headers["Allow"] = allowed
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "unhandled error on %s %s: %s",
            request.method,
            request.url.path,
            exc.__class__.__name__,
            exc_info=exc,
        )
        return error_response("internal_error", "unexpected error in the card service")
