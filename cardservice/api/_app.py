"""The FastAPI application: /v1 routes over the reader manager, with keys, scopes, audit and events.

:func:`create_app` takes a :class:`Services` bundle, so tests build the app over an in-process backend
and an in-memory key check while ``cardservice serve`` builds it over pcscd and the database.

Every handler that touches a card: takes a rate-limit token, runs the card work on the reader's worker
(never on the event loop), waits at most ``card_timeout`` seconds, and writes one audit record (who,
which client, which card — masked, what, result) whatever the outcome.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Future
from dataclasses import replace
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, FastAPI, Header, Path, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ValidationError

from cardservice import __version__
from cardservice.api._deps import (
    Admin,
    ApiClient,
    CardIdHeader,
    His,
    Kiosk,
    ReaderId,
    Services,
    audit_access,
    card_view,
    services_of,
    token_from,
)
from cardservice.api._errors import install_error_handlers, responses
from cardservice.api._events import sse_format
from cardservice.api._hospital import hospital_router
from cardservice.api._metrics import MetricsMiddleware
from cardservice.api._models import (
    AllergyIn,
    CardOut,
    EncounterOut,
    EncountersOut,
    HealthOut,
    HealthStatus,
    IdentityOut,
    ImmunisationIn,
    ItemOut,
    ItemsOut,
    ReaderOut,
    ReadersOut,
    SamOut,
    SamsOut,
    TicketOut,
    UpdateItemsIn,
    WriteResult,
)
from cardservice.api._payments import payments_router
from cardservice.api._print import print_router
from cardservice.api._security import GuardMiddleware, loopback_hosts, scope_allows
from cardservice.healthcard import (
    CODE_TABLES,
    DATA_ITEMS,
    INTERFACE_FUNCTIONS,
    Allergy,
    CardFile,
    EncounterKind,
    HealthCardSession,
    Immunisation,
    InpatientRecord,
    OutpatientRecord,
    card_file,
    mask_id_number,
    models_by_file,
)
from cardservice.readers import CardView, ReaderInfo, ServiceError
from cardservice.render import file_data, identity_files, plain

__all__ = ["ApiClient", "Services", "create_app"]

log = logging.getLogger(__name__)
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


async def _on_card(
    request: Request,
    client: ApiClient,
    reader: str,
    action: str,
    operation: Callable[[HealthCardSession], T],
    *,
    card_id: str | None = None,
    writing: bool = False,
    target: str | None = None,
) -> tuple[CardView, T]:
    """Run *operation* on the card in *reader*, audited, within the card timeout."""
    services = services_of(request)
    services.limiter.take(client.name)
    view: CardView | None = None
    try:
        view = await card_view(services, reader, card_id)
        future: Future[T] = services.manager.submit(
            view.reader_id, operation, card_id=view.card_id, writing=writing
        )
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), services.card_timeout)
        except TimeoutError:
            raise ServiceError(
                "card_timeout",
                f"the card did not finish within {services.card_timeout:g} s"
                + ("; the write may be incomplete: re-insert the card and read it back" if writing else ""),
            ) from None
    except ServiceError as exc:
        services.metrics.card_operation(action, exc.code)
        await audit_access(
            request,
            client,
            action,
            exc.code,
            card=view.masked_card_number if view else None,
            target=target or (view.reader_id if view else reader),
        )
        raise
    services.metrics.card_operation(action, "ok")
    await audit_access(
        request, client, action, "ok", card=view.masked_card_number, target=target or view.reader_id
    )
    return view, result


# -- views of card data ---------------------------------------------------------------------------------

_MASKED_ITEMS = frozenset({"KH", "SFZH", "ZJHM", "BRDH1", "BRDH2", "LXRDH1", "LXRDH2", "LXRDH3"})


def _masked_files(files: dict[str, Any], masked: bool) -> dict[str, Any]:
    if not masked:
        return files
    out: dict[str, Any] = {}
    for path, data in files.items():
        if isinstance(data, dict):
            out[path] = {
                abbr: (mask_id_number(value) if abbr in _MASKED_ITEMS and isinstance(value, str) else value)
                for abbr, value in data.items()
            }
        else:
            out[path] = data
    return out


def _identity_out(view: CardView, *, masked: bool, photo: bytes | None = None) -> IdentityOut:
    identity = view.identity
    holder = identity.cardholder
    files: dict[str, Any] = {
        path: plain(file_data(value))
        for path, value in identity_files(identity).items()
        if path != "DDF1/EF07"
    }
    files = _masked_files(files, masked)
    sex = None if holder.sex is None else str(holder.sex)
    number = identity.issuer.card_number
    return IdentityOut(
        reader=view.reader_id,
        card_id=view.card_id,
        masked=masked,
        name=holder.name,
        sex=sex,
        sex_label=CODE_TABLES["sex"].label(sex) if sex is not None else None,
        ethnicity=holder.ethnicity,
        ethnicity_label=CODE_TABLES["ethnicity"].label(holder.ethnicity) if holder.ethnicity else None,
        birth_date=holder.birth_date,
        id_number=(mask_id_number(holder.id_number) if masked else holder.id_number)
        if holder.id_number
        else None,
        card_number=(mask_id_number(number) if masked else number) if number else None,
        files=files,
        photo_jpeg_base64=base64.b64encode(photo).decode() if photo else None,
    )


def _reader_out(info: ReaderInfo) -> ReaderOut:
    """The manager's problem carries its details beside code and message; the API nests them."""
    problem = info.problem
    if problem is not None:
        details = {k: v for k, v in problem.items() if k not in ("code", "message")}
        info = replace(
            info, problem={"code": problem["code"], "message": problem["message"], "details": details}
        )
    return ReaderOut.model_validate(info, from_attributes=True)


def _functions_by_item() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for function in INTERFACE_FUNCTIONS:
        for parameter in function.parameters:
            out.setdefault(parameter, []).append(function.name)
    return out


_FUNCTIONS_BY_ITEM = _functions_by_item()


def _items_view(files: dict[str, object], wanted: set[str] | None) -> dict[str, ItemOut]:
    items: dict[str, ItemOut] = {}
    for item in DATA_ITEMS:
        value = files.get(item.file)
        if value is None or not hasattr(value, "to_abbreviations"):
            continue
        abbreviations = value.to_abbreviations()
        if wanted is not None and item.abbreviation not in wanted:
            continue
        items[item.abbreviation] = ItemOut(
            value=plain(abbreviations.get(item.abbreviation)),
            label=item.label,
            file=item.file,
            functions=_FUNCTIONS_BY_ITEM.get(item.abbreviation, []),
        )
    return items


def _encounter_out(encounter: Any) -> EncounterOut:
    data = file_data(encounter)
    assert isinstance(data, dict)
    return EncounterOut(
        kind=data["kind"],
        slot=data["slot"],
        signature=data["signature"],
        items=plain(data["items"]),  # type: ignore[arg-type]
    )


# -- routes ---------------------------------------------------------------------------------------------

router = APIRouter(prefix="/v1")

_CARD_ERRORS = (
    "reader_not_found",
    "no_card",
    "card_not_ready",
    "card_removed",
    "card_changed",
    "card_blacklisted",
    "card_unsupported",
    "card_unresponsive",
    "card_timeout",
    "auth_failed",
    "auth_blocked",
    "sam_unavailable",
    "service_unavailable",
    "rate_limited",
)


@router.get(
    "/health", response_model=HealthStatus, tags=["system"], summary="Liveness and PC/SC state (no key)"
)
async def health(request: Request) -> HealthStatus:
    services = services_of(request)
    manager = services.manager
    readers = manager.readers()
    up = manager.service_up
    return HealthStatus(
        status="ok" if up else "degraded",
        version=__version__,
        backend=manager.backend.kind,
        pcsc="up" if up else "down",
        readers=len(readers),
        cards=sum(1 for r in readers if r.role == "card" and r.card_present),
        uptime_s=round(time.monotonic() - services.started, 1),
    )


@router.get(
    "/readers",
    response_model=ReadersOut,
    tags=["readers"],
    summary="Readers, their role and card state",
    responses=responses(),
)
async def list_readers(request: Request, client: Kiosk) -> ReadersOut:
    return ReadersOut(readers=[_reader_out(r) for r in services_of(request).manager.readers()])


@router.get(
    "/readers/{reader}",
    response_model=ReaderOut,
    tags=["readers"],
    summary="One reader",
    responses=responses("reader_not_found"),
)
async def get_reader(request: Request, client: Kiosk, reader: ReaderId) -> ReaderOut:
    readers = services_of(request).manager.readers()
    cards = [r for r in readers if r.role == "card"]
    for info in readers:
        if reader in (info.id, info.name) or (reader == "default" and cards and info is cards[0]):
            return _reader_out(info)
    raise ServiceError("reader_not_found", f"no reader {reader!r}", reader=reader)


@router.get(
    "/sams",
    response_model=SamsOut,
    tags=["readers"],
    summary="SAMs (PSAM readers and key stores)",
    responses=responses(),
)
async def list_sams(request: Request, client: Kiosk) -> SamsOut:
    return SamsOut(
        sams=[SamOut.model_validate(s, from_attributes=True) for s in services_of(request).manager.sams()]
    )


@router.get(
    "/readers/{reader}/card",
    response_model=CardOut,
    tags=["card"],
    summary="The card in the reader (no personal data)",
    responses=responses(*_CARD_ERRORS),
)
async def get_card(request: Request, client: Kiosk, reader: ReaderId) -> CardOut:
    view = await card_view(services_of(request), reader)
    return CardOut(
        reader=view.reader_id,
        card_id=view.card_id,
        profile=view.profile,
        atr=view.atr.hex().upper(),
        card_number=view.masked_card_number,
    )


@router.get(
    "/readers/{reader}/card/identity",
    response_model=IdentityOut,
    tags=["card"],
    summary="Cardholder identity (DDF1 EF05/EF06/EF08), read at insertion",
    description="Answers from the card session (no card I/O) unless `photo=true`. Kiosk keys get ID "
    "and phone numbers masked; HIS keys get them in full.",
    responses=responses(*_CARD_ERRORS),
)
async def get_identity(
    request: Request,
    client: Kiosk,
    reader: ReaderId,
    photo: Annotated[bool, Query(description="also read the photo (DDF1/EF07, a card read)")] = False,
) -> IdentityOut:
    masked = not scope_allows(client.scopes, "his")
    if photo:
        view, image = await _on_card(request, client, reader, "card.read_photo", lambda s: s.read_photo())
        return _identity_out(view, masked=masked, photo=image)
    services = services_of(request)
    services.limiter.take(client.name)
    try:
        view = await card_view(services, reader)
    except ServiceError as exc:
        await audit_access(request, client, "card.read_identity", exc.code, card=None, target=reader)
        raise
    await audit_access(
        request, client, "card.read_identity", "ok", card=view.masked_card_number, target=view.reader_id
    )
    return _identity_out(view, masked=masked)


@router.get(
    "/readers/{reader}/card/health",
    response_model=HealthOut,
    tags=["card"],
    summary="Health data: every file, or the files asked for",
    responses=responses(*_CARD_ERRORS),
)
async def get_health(
    request: Request,
    client: His,
    reader: ReaderId,
    files: Annotated[
        list[str] | None,
        Query(description="file paths to return (default all), e.g. DDF1/DF02/EF05", max_length=64),
    ] = None,
) -> HealthOut:
    wanted = _check_paths(files)
    view, everything = await _on_card(request, client, reader, "card.read_health", lambda s: s.read_all())
    chosen = {p: v for p, v in everything.items() if wanted is None or p in wanted}
    return HealthOut(
        reader=view.reader_id,
        card_id=view.card_id,
        files={
            p: plain(file_data(v)) if not isinstance(v, bytes) else {"length": len(v)}
            for p, v in chosen.items()
        },
    )


def _check_paths(files: list[str] | None) -> set[str] | None:
    if not files:
        return None
    wanted = set()
    for path in files:
        wanted.add(_card_file_at(path).path)
    return wanted


@router.get(
    "/readers/{reader}/card/items",
    response_model=ItemsOut,
    tags=["card"],
    summary="Data items keyed by the standard's abbreviations",
    description="Every TLV data item on the card as `{abbreviation: {value, label, file, functions}}`: the "
    "`functions` are the vendor interface functions (iR_DDF1EF06Info, ...) whose parameters carry the item.",
    responses=responses(*_CARD_ERRORS),
)
async def get_items(
    request: Request,
    client: His,
    reader: ReaderId,
    item: Annotated[
        list[str] | None, Query(description="abbreviations to return (default all)", max_length=128)
    ] = None,
    function: Annotated[
        str | None,
        Query(description="only the items of this interface function, e.g. iR_DDF1EF06Info", max_length=64),
    ] = None,
) -> ItemsOut:
    wanted: set[str] | None = set(item) if item else None
    if function is not None:
        match = next((f for f in INTERFACE_FUNCTIONS if f.name.lower() == function.lower()), None)
        if match is None:
            raise ServiceError("invalid_request", f"no interface function {function!r}")
        wanted = set(match.parameters) & wanted if wanted is not None else set(match.parameters)
    view, everything = await _on_card(request, client, reader, "card.read_items", lambda s: s.read_all())
    return ItemsOut(reader=view.reader_id, card_id=view.card_id, items=_items_view(everything, wanted))


@router.patch(
    "/readers/{reader}/card/files/{path:path}",
    response_model=WriteResult,
    tags=["card"],
    summary="Update data items of one file (DDF1/EF08, DF01/EF05-EF08, DF02/EF05-EF06)",
    responses=responses(*_CARD_ERRORS, "invalid_data", "invalid_request"),
)
async def update_file(
    request: Request,
    client: His,
    reader: ReaderId,
    path: Annotated[str, Path(description="file path, e.g. DDF1/DF01/EF05", max_length=32)],
    body: UpdateItemsIn,
    x_card_id: CardIdHeader = None,
) -> WriteResult:
    file = _card_file_at(path)
    model = models_by_file().get(file.path)
    if model is None or file.update_key is None:
        raise ServiceError("invalid_request", f"{file.path} cannot be updated by a terminal")
    _validated(model, body.items, f"values not valid for {file.path}")
    fields = dict(body.items)
    view, _ = await _on_card(
        request,
        client,
        reader,
        "card.update_items",
        lambda s: s.update_items(file.path, **fields),
        card_id=x_card_id,
        writing=True,
        target=file.path,
    )
    return WriteResult(reader=view.reader_id, card_id=view.card_id, written=file.path)


_DOES_NOT_FIT = "values do not fit the card's record"


def _validated(model: type[M], values: Any, what: str) -> M:
    """*values* as *model*, every problem reported now (a text too long for its field, ...), before
    any card I/O."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = [{"where": ".".join(map(str, e["loc"])), "problem": e["msg"]} for e in exc.errors()]
        raise ServiceError("invalid_data", what, problems=problems) from None


def _card_file_at(path: str) -> CardFile:
    try:
        return card_file(path)
    except Exception:
        raise ServiceError("invalid_request", f"{path!r} is not a file of the health card") from None


@router.post(
    "/readers/{reader}/card/allergies",
    response_model=WriteResult,
    status_code=201,
    tags=["card"],
    summary="Append an allergy (DDF1/DF02/EF07, cyclic)",
    responses=responses(*_CARD_ERRORS, "invalid_data"),
)
async def add_allergy(
    request: Request, client: His, reader: ReaderId, body: AllergyIn, x_card_id: CardIdHeader = None
) -> WriteResult:
    _validated(Allergy, {"substance": body.substance, "reaction": body.reaction}, _DOES_NOT_FIT)
    view, _ = await _on_card(
        request,
        client,
        reader,
        "card.append_allergy",
        lambda s: s.append_allergy(body.substance, body.reaction),
        card_id=x_card_id,
        writing=True,
        target="DDF1/DF02/EF07",
    )
    return WriteResult(reader=view.reader_id, card_id=view.card_id, written="DDF1/DF02/EF07")


@router.post(
    "/readers/{reader}/card/immunisations",
    response_model=WriteResult,
    status_code=201,
    tags=["card"],
    summary="Append an immunisation (DDF1/DF02/EF08, cyclic)",
    responses=responses(*_CARD_ERRORS, "invalid_data"),
)
async def add_immunisation(
    request: Request, client: His, reader: ReaderId, body: ImmunisationIn, x_card_id: CardIdHeader = None
) -> WriteResult:
    _validated(Immunisation, {"vaccine": body.vaccine, "date": body.date}, _DOES_NOT_FIT)
    view, _ = await _on_card(
        request,
        client,
        reader,
        "card.append_immunisation",
        lambda s: s.append_immunisation(body.vaccine, body.date),
        card_id=x_card_id,
        writing=True,
        target="DDF1/DF02/EF08",
    )
    return WriteResult(reader=view.reader_id, card_id=view.card_id, written="DDF1/DF02/EF08")


Kind = Annotated[
    Literal["inpatient", "outpatient"], Path(description="住院 inpatient (EE) or 门诊 outpatient (ED)")
]


@router.get(
    "/readers/{reader}/card/encounters/{kind}",
    response_model=EncountersOut,
    tags=["card"],
    summary="Encounter records in use, with their signature status",
    responses=responses(*_CARD_ERRORS),
)
async def list_encounters(request: Request, client: His, reader: ReaderId, kind: Kind) -> EncountersOut:
    view, encounters = await _on_card(
        request, client, reader, f"card.read_{kind}", lambda s: s.read_encounters(EncounterKind(kind))
    )
    return EncountersOut(
        reader=view.reader_id, card_id=view.card_id, encounters=[_encounter_out(e) for e in encounters]
    )


@router.post(
    "/readers/{reader}/card/encounters/{kind}",
    response_model=WriteResult,
    status_code=201,
    tags=["card"],
    summary="Write an encounter record (free slot, else the oldest), SM2-signed by the SAM",
    description="The body uses the record model's field names (see examples/outpatient-record.json). The SAM "
    "signs first (the binding's SAM PIN must be configured), so a refused signature writes nothing.",
    responses=responses(*_CARD_ERRORS, "invalid_data", "sam_pin_refused"),
)
async def write_encounter(
    request: Request,
    client: His,
    reader: ReaderId,
    kind: Kind,
    body: dict[str, Any],
    x_card_id: CardIdHeader = None,
) -> WriteResult:
    model: type[InpatientRecord | OutpatientRecord] = (
        InpatientRecord if kind == "inpatient" else OutpatientRecord
    )
    record = _validated(model, body, f"not a valid {kind} record")
    view, slot = await _on_card(
        request,
        client,
        reader,
        f"card.write_{kind}",
        lambda s: s.write_encounter(EncounterKind(kind), record),
        card_id=x_card_id,
        writing=True,
    )
    return WriteResult(reader=view.reader_id, card_id=view.card_id, written=f"DDF1/DF03 {kind}", slot=slot)


@router.delete(
    "/readers/{reader}/card/encounters/{kind}/{slot}",
    response_model=WriteResult,
    tags=["card"],
    summary="Erase an encounter slot (its index flag becomes FF)",
    responses=responses(*_CARD_ERRORS, "invalid_data"),
)
async def erase_encounter(
    request: Request,
    client: His,
    reader: ReaderId,
    kind: Kind,
    slot: Annotated[int, Path(ge=1, le=10, description="slot number")],
    x_card_id: CardIdHeader = None,
) -> WriteResult:
    view, _ = await _on_card(
        request,
        client,
        reader,
        f"card.erase_{kind}",
        lambda s: s.erase_encounter(EncounterKind(kind), slot),
        card_id=x_card_id,
        writing=True,
    )
    return WriteResult(reader=view.reader_id, card_id=view.card_id, written=f"DDF1/DF03 {kind}", slot=slot)


# -- events ---------------------------------------------------------------------------------------------


@router.post(
    "/events/tickets",
    response_model=TicketOut,
    tags=["events"],
    summary="A one-time ticket for EventSource / WebSocket (which cannot send headers)",
    responses=responses(),
)
async def event_ticket(request: Request, client: Kiosk) -> TicketOut:
    tickets = services_of(request).tickets
    return TicketOut(ticket=tickets.issue(client), expires_in=tickets.lifetime)


def _event_client(
    services: Services, authorization: str | None, api_key: str | None, ticket: str | None
) -> ApiClient:
    client: ApiClient | None = None
    if ticket:
        client = services.tickets.redeem(ticket)
    else:
        token = token_from(authorization, api_key)
        client = services.authenticate(token) if token else None
    if client is None:
        raise ServiceError("unauthorized", "an API key or a ticket (POST /v1/events/tickets) is required")
    if not scope_allows(client.scopes, "kiosk"):
        raise ServiceError("forbidden", "this key lacks the 'kiosk' scope", needed="kiosk")
    return client


@router.get(
    "/events",
    tags=["events"],
    summary="Card and reader events (Server-Sent Events)",
    description="`text/event-stream`; event types: card.inserted, card.removed, card.error, "
    "reader.added, reader.removed, sam.inserted, sam.removed, service.down, service.up. Reconnect with "
    "Last-Event-ID to get missed events. Authenticate with a key header or `?ticket=`.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "event stream"}, **responses()},
)
async def events_sse(
    request: Request,
    ticket: Annotated[str | None, Query(max_length=64)] = None,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
) -> StreamingResponse:
    services = services_of(request)
    _event_client(services, authorization, x_api_key, ticket)
    hub = services.hub

    async def stream() -> Any:
        async with hub.subscribe(last_event_id) as queue:
            yield b": connected\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), 15.0)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                yield sse_format(event)
                if event["type"] == "overflow":
                    return

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.websocket("/events/ws")
async def events_ws(
    websocket: WebSocket,
    ticket: str | None = None,
) -> None:
    services: Services = websocket.app.state.services
    try:
        _event_client(
            services, websocket.headers.get("authorization"), websocket.headers.get("x-api-key"), ticket
        )
    except ServiceError as exc:
        await websocket.close(code=1008, reason=exc.code)
        return
    await websocket.accept()
    async with services.hub.subscribe() as queue:
        receiver = asyncio.ensure_future(websocket.receive())
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                if receiver in done:
                    getter.cancel()
                    message = receiver.result()
                    if message["type"] == "websocket.disconnect":
                        return
                    receiver = asyncio.ensure_future(websocket.receive())
                    continue
                event = getter.result()
                await websocket.send_json(event)
                if event["type"] == "overflow":
                    await websocket.close(code=1013)
                    return
        except WebSocketDisconnect:
            return
        finally:
            receiver.cancel()


# -- the application ------------------------------------------------------------------------------------


def create_app(
    services: Services,
    *,
    port: int = 8765,
    allowed_hosts: Iterable[str] = (),
    allowed_origins: Iterable[str] = (),
) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.hub.bind(asyncio.get_running_loop())  # reader threads publish onto this loop
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="cardservice",
        version=__version__,
        summary="Localhost API for the Resident Health Card (居民健康卡): readers, cards, events",
        description=(
            "Every endpoint but /v1/health needs an API key (`cardservice token create NAME --scope ...`), "
            "sent as `Authorization: Bearer csk_...` or `X-API-Key`. Scopes: kiosk (readers, identity with "
            "masked numbers, events), his (kiosk + full identity, health data, writes), admin (everything, "
            "/metrics). "
            'Errors: `{"error": {"code", "message", "message_zh", "details"}}` with a stable code.'
        ),
        openapi_tags=[
            {"name": "system", "description": "health and metrics"},
            {"name": "readers", "description": "readers and SAMs"},
            {"name": "card", "description": "the card in a reader: identity, health data, writes"},
            {"name": "events", "description": "card and reader events (SSE, WebSocket)"},
            {"name": "registration", "description": "挂号: departments, doctors, slots, bookings (HIS)"},
            {"name": "payments", "description": "缴费: bills, prepaid account, payments, refunds, 对账"},
            {
                "name": "printing",
                "description": "打印: registration slips, receipts, lab reports; the print queue",
            },
        ],
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(hospital_router)
    app.include_router(payments_router)
    app.include_router(print_router)

    @app.get(
        "/metrics",
        tags=["system"],
        summary="Prometheus metrics (admin key)",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}, **responses()},
    )
    async def metrics(request: Request, client: Admin) -> Response:
        body, content_type = services.metrics.render(services)
        return Response(body, media_type=content_type)

    own_origins = {f"{scheme}://{host}" for scheme in ("http", "https") for host in loopback_hosts(port)}
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    app.add_middleware(
        GuardMiddleware,
        allowed_hosts=loopback_hosts(port) | {h.lower() for h in allowed_hosts},
        allowed_origins=frozenset(own_origins | {o.lower() for o in allowed_origins}),
    )
    return app
