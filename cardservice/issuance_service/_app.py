"""The issuance service's web side: one WebSocket per issuance (``/v1/issuances/relay``), the kiosk
authenticated by its API key (scope ``issuer``, the service's own keys in its database) — and a thin bridge
from that socket to the relay logic (:func:`cardservice.issuance.relay_issuance`), which runs on a worker
thread as the batch does: each APDU it sends waits for the kiosk's answer on the event loop
(:class:`_SocketChannel`), at most ``answer_timeout`` seconds; a socket that drops, or an answer that does
not come, is a card gone (:class:`~cardservice.issuance.RelayError`) and the registry's journal takes over.

One session per kiosk at a time (a kiosk has one dispenser): a second waits for the first to end (a kiosk
back at once after a drop finds its old session still noticing the drop), and is refused ``busy`` after
``claim_wait`` seconds. Every session is
audited: who (the kiosk's key), the person (masked), the outcome, the issuance serial.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import Depends, FastAPI, Header, HTTPException, Request, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cardservice import __version__
from cardservice.access import ApiClientInfo, Scope
from cardservice.healthcard import mask_id_number
from cardservice.issuance import (
    Answer,
    CardRecord,
    Done,
    Failed,
    IdNumberRefused,
    IssuerSetup,
    Opening,
    RelayError,
    record_id_number,
    relay_issuance,
)

__all__ = ["IssuanceService", "create_app"]

log = logging.getLogger("cardservice.issuance_service")

_ALLOWED = frozenset({Scope.ISSUER, Scope.ADMIN})
_POLICY_VIOLATION = 1008


@dataclass
class IssuanceService:
    """What the service issues with (:class:`~cardservice.issuance.IssuerSetup`), how it knows a kiosk
    (*authenticate*: a ``csk_`` key → its client, may block), where it records what was done (*audit*), what
    a card costs, and how long it waits for a kiosk's answer."""

    setup: IssuerSetup
    authenticate: Callable[[str], ApiClientInfo | None]
    audit: Callable[..., object] = lambda **record: None
    card_fee_fen: int = 0
    answer_timeout: float = 30.0
    claim_wait: float = 10.0  # a kiosk back at once may find its broken session still ending: it waits
    _busy: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, station: str) -> bool:
        with self._lock:
            if station in self._busy:
                return False
            self._busy.add(station)
            return True

    def release(self, station: str) -> None:
        with self._lock:
            self._busy.discard(station)


_ID_NUMBER = r"^[0-9]{17}[0-9Xx]$"


class IdNumberIn(BaseModel):
    """A child's ID number for their card (:func:`cardservice.issuance.record_id_number`): the card as its
    chip names it (KH, XPXLH) and the guardian on the kiosk's ID-card reader."""

    model_config = ConfigDict(extra="forbid")

    card_number: Annotated[str, Field(pattern=r"^[A-Za-z][0-9]{9}$")]
    issuance_serial: Annotated[str, Field(pattern=r"^[0-9]{1,16}$")]
    id_number: Annotated[str, Field(pattern=_ID_NUMBER)]
    guardian_id_number: Annotated[str, Field(pattern=_ID_NUMBER)]


class IdNumberOut(BaseModel):
    card: str  # the card number, masked
    id_number: str  # masked
    status: str


class TermsOut(BaseModel):
    """What a kiosk shows before the patient agrees: who issues the card and what it costs."""

    issuer_name: str
    issuer_code: str
    card_fee_fen: int
    bank_application: bool


def _token(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


async def kiosk(request: Request, authorization: Annotated[str | None, Header()] = None) -> ApiClientInfo:
    """The kiosk a request comes from, by its key (scope issuer). At module level: FastAPI resolves the
    annotations of a route's parameters from the module (a dependency local to ``create_app`` would be taken
    for a query parameter)."""
    service: IssuanceService = request.app.state.service
    token = _token(authorization)
    client = await anyio.to_thread.run_sync(service.authenticate, token) if token else None
    if client is None:
        raise HTTPException(401, "an API key of scope issuer is required")
    if not _ALLOWED & client.scopes:
        raise HTTPException(403, "this key lacks the issuer scope")
    return client


class _SocketChannel:
    """:class:`~cardservice.issuance.Channel` over the session's socket, for the worker thread: each call
    runs on the event loop (``anyio.from_thread``). Once broken (dropped, timed out, off the protocol) it
    stays broken: an answer arriving late must never be taken for the next one's."""

    def __init__(self, websocket: WebSocket, timeout: float) -> None:
        self._socket = websocket
        self._timeout = timeout
        self.broken = False

    def ask(self, frame: BaseModel) -> Answer:
        answer: Answer = anyio.from_thread.run(self._ask, frame)
        return answer

    def tell(self, frame: BaseModel) -> None:
        anyio.from_thread.run(self._send, frame)

    async def _send(self, frame: BaseModel) -> None:
        if self.broken:
            raise RelayError("the link to the kiosk is gone")
        try:
            await self._socket.send_text(frame.model_dump_json(exclude_none=True))
        except Exception as exc:  # starlette: WebSocketDisconnect, RuntimeError on a closed socket, OSError
            self.broken = True
            raise RelayError(f"the link to the kiosk dropped ({exc.__class__.__name__})") from None

    async def _ask(self, frame: BaseModel) -> Answer:
        await self._send(frame)
        try:
            with anyio.fail_after(self._timeout):
                message = await self._socket.receive()
        except TimeoutError:
            self.broken = True
            raise RelayError(f"the kiosk did not answer within {self._timeout:g} s") from None
        text = message.get("text")
        if message["type"] != "websocket.receive" or text is None:
            self.broken = True
            raise RelayError("the link to the kiosk dropped")
        try:
            return Answer.model_validate_json(text)
        except ValidationError:
            self.broken = True
            raise RelayError("the kiosk's answer is not the protocol") from None


def create_app(service: IssuanceService) -> FastAPI:
    """The service's app over *service* (tests build it over an in-memory key check)."""
    app = FastAPI(
        title="cardservice issuance service",
        version=__version__,
        summary="Issues Resident Health Cards at kiosks: the keys stay here, the kiosk relays APDUs",
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service

    @app.get("/v1/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/issuances/terms", response_model=TermsOut)
    async def terms(client: Annotated[ApiClientInfo, Depends(kiosk)]) -> TermsOut:
        setup = service.setup
        return TermsOut(
            issuer_name=setup.issuer.issuer_name, issuer_code=setup.issuer.issuer_code,
            card_fee_fen=service.card_fee_fen, bank_application=setup.bank is not None,
        )  # fmt: skip

    @app.post("/v1/issuances/id-number", response_model=IdNumberOut)
    async def id_number(
        body: IdNumberIn, client: Annotated[ApiClientInfo, Depends(kiosk)]
    ) -> IdNumberOut | JSONResponse:
        def record() -> tuple[CardRecord, str]:
            return record_id_number(
                service.setup.registry, card_number=body.card_number.upper(),
                issuance_serial=body.issuance_serial, id_number=body.id_number,
                guardian_number=body.guardian_id_number.upper(), actor=client.name, today=_dt.date.today(),
            )  # fmt: skip

        masked, serial = mask_id_number(body.card_number.upper()), body.issuance_serial
        try:
            card, number = await anyio.to_thread.run_sync(record)
        except IdNumberRefused as refused:
            await _audit(service, client, refused.code, masked, serial, {}, "issuance.id_number")
            status = 404 if refused.code == "card_unknown" else 409
            return JSONResponse(
                {"code": refused.code, "message": refused.message, "message_zh": refused.message_zh}, status
            )
        await _audit(service, client, "recorded", masked, serial, {}, "issuance.id_number")
        return IdNumberOut(card=masked, id_number=mask_id_number(number), status=str(card.status))

    @app.websocket("/v1/issuances/relay")
    async def relay(websocket: WebSocket) -> None:
        token = _token(websocket.headers.get("authorization"))
        client = await anyio.to_thread.run_sync(service.authenticate, token) if token else None
        if client is None or not _ALLOWED & client.scopes:
            await websocket.close(code=_POLICY_VIOLATION)  # before accept: the handshake gets 403
            return
        await websocket.accept()
        opening = await _opening(service, websocket, client)
        if opening is None:
            return
        station = f"kiosk:{client.name}"
        if not await _claimed(service, station):
            await _finish(websocket, Failed(code="busy", message="this kiosk has an issuance open",
                                            message_zh="本机正在发卡，请稍候"))  # fmt: skip
            return
        try:
            await _session(service, websocket, client, station, opening)
        finally:
            service.release(station)

    return app


async def _claimed(service: IssuanceService, station: str) -> bool:
    """The kiosk's session slot, once its previous session (if any) has ended, within ``claim_wait``."""
    deadline = anyio.current_time() + service.claim_wait
    while not service.claim(station):
        if anyio.current_time() >= deadline:
            return False
        await anyio.sleep(0.05)
    return True


async def _opening(service: IssuanceService, websocket: WebSocket, client: ApiClientInfo) -> Opening | None:
    """The kiosk's first frame, read before anything is answered (None: it sent none that is the protocol)."""
    try:
        with anyio.fail_after(service.answer_timeout):
            message = await websocket.receive()
        return Opening.model_validate_json(message.get("text") or "")
    except (TimeoutError, ValidationError) as exc:
        log.warning("kiosk %s: no valid opening (%s)", client.name, exc.__class__.__name__)
        await _finish(websocket, Failed(code="invalid_frame", message="the opening frame is not the protocol",
                                        message_zh="发卡终端通讯错误"))  # fmt: skip
        return None


async def _session(
    service: IssuanceService, websocket: WebSocket, client: ApiClientInfo, station: str, opening: Opening
) -> None:
    channel = _SocketChannel(websocket, service.answer_timeout)
    masked = mask_id_number(opening.person.id_number.upper()) if opening.person else None
    detail: dict[str, Any] = {"atr_at_read_position": opening.atr is not None}
    try:
        final = await anyio.to_thread.run_sync(
            lambda: relay_issuance(service.setup, channel, opening, actor=client.name, station=station)
        )
    except RelayError as exc:
        log.warning("kiosk %s: %s", client.name, exc)
        await _audit(service, client, "interrupted", masked, None, {**detail, "reason": str(exc)})
        return
    except Exception:
        log.exception("kiosk %s: the issuance failed unexpectedly", client.name)
        final = Failed(code="internal_error", message="unexpected error in the issuance service",
                       message_zh="发卡服务内部错误，请到人工窗口办理")  # fmt: skip
    if isinstance(final, Done):
        serial = final.card.serial if final.card else None
        result = final.card.status if final.card else "settled"
        await _audit(service, client, result, masked, serial, {**detail, "notes": final.notes})
    else:
        await _audit(service, client, final.code, masked, None, detail)
    if not channel.broken:
        await _finish(websocket, final)


async def _audit(
    service: IssuanceService, client: ApiClientInfo, result: str, masked: str | None, serial: str | None,
    detail: dict[str, Any], action: str = "issuance.kiosk",
) -> None:  # fmt: skip
    """Record the session (off the event loop: the audit log writes to the database)."""
    try:
        await anyio.to_thread.run_sync(
            lambda: service.audit(
                actor=client.name,
                action=action,
                result=result,
                card=masked,
                target=serial,
                detail=detail,
            )
        )
    except Exception:
        log.exception("audit record failed for a kiosk issuance (%s)", result)


async def _finish(websocket: WebSocket, frame: Done | Failed) -> None:
    try:
        await websocket.send_text(frame.model_dump_json(exclude_none=True))
        await websocket.close(code=1000)
    except Exception:  # the kiosk went first
        log.debug("kiosk gone before the last frame")
