"""/v1/readers/{reader}/card: the card in a reader — identity (read at insertion), health data, data
items, writes, encounter records.

Every handler that touches a card: takes a rate-limit token, runs the card work on the reader's worker
(never on the event loop) as an operation on the card's handle, waits at most ``card_timeout`` seconds,
and writes one audit record (who, which client, which card — masked, what, result) whatever the outcome.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as _dt
from collections.abc import Callable
from concurrent.futures import Future
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field, ValidationError

from cardservice.api._deps import (
    ApiClient,
    CardIdHeader,
    His,
    Kiosk,
    ReaderId,
    audit_access,
    card_view,
    services_of,
)
from cardservice.api._errors import responses
from cardservice.api._security import scope_allows
from cardservice.api.schemas.card import (
    AllergyIn,
    CardOut,
    EncounterOut,
    EncountersOut,
    HealthOut,
    IdentityOut,
    ImmunisationIn,
    ItemOut,
    ItemsOut,
    UpdateItemsIn,
    WriteResult,
)
from cardservice.errors import ServiceError
from cardservice.healthcard import (
    CARD_FILES,
    CODE_TABLES,
    DATA_ITEMS,
    INTERFACE_FUNCTIONS,
    Allergy,
    CardFile,
    EncounterKind,
    Immunisation,
    InpatientRecord,
    OutpatientRecord,
    card_file,
    file_data,
    identity_files,
    mask_id_number,
    models_by_file,
    plain,
)
from cardservice.his import CHINA_TZ
from cardservice.readers import CardHandle, CardView

__all__ = ["CARD_ERRORS", "router"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

router = APIRouter(prefix="/v1/readers/{reader}/card", tags=["card"])

CARD_ERRORS = (
    "reader_not_found",
    "no_card",
    "card_not_ready",
    "card_removed",
    "card_changed",
    "card_blacklisted",
    "card_not_genuine",
    "card_unsupported",
    "card_unresponsive",
    "card_timeout",
    "auth_failed",
    "auth_blocked",
    "sam_unavailable",
    "service_unavailable",
    "rate_limited",
)


def _with_short_forms(paths: list[str]) -> list[str]:
    """*paths*, and the sheet's short form of those under a DF (``DF01/EF05``): what card_file takes."""
    return [*paths, *(p.removeprefix("DDF1/") for p in paths if p.startswith("DDF1/DF0"))]


_ABBREVIATION = r"^[A-Za-z][A-Za-z0-9_]{0,31}$"  # a data item's abbreviation (XM, CSRQ, LXRXM1, ...)
# The files a request may name, for the document (the routes check them: the same 422 either way).
_READABLE = _with_short_forms([f.path for f in CARD_FILES])
_UPDATABLE = _with_short_forms([p for p in models_by_file() if card_file(p).update_key is not None])
_UPDATABLE_ENUM = {"enum": _UPDATABLE}


async def _on_card(
    request: Request,
    client: ApiClient,
    reader: str,
    action: str,
    operation: Callable[[CardHandle], T],
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
        view = await card_view(services, reader, card_id, client=client)
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


async def _write(
    request: Request,
    client: ApiClient,
    reader: str,
    action: str,
    operation: Callable[[CardHandle], object],
    *,
    card_id: str | None,
    written: str,
    target: str | None = None,
    slot: int | None = None,
) -> WriteResult:
    """A write with :func:`_on_card` (exclusive, audited under *target*), answered with what it wrote."""
    view, _ = await _on_card(
        request, client, reader, action, operation, card_id=card_id, writing=True, target=target
    )
    return WriteResult(reader=view.reader_id, card_id=view.card_id, written=written, slot=slot)


# -- views of card data ---------------------------------------------------------------------------------

# What a kiosk key sees of the identity. The masked ID number keeps its first 4 and last 2 characters; the
# exact birth date (digits 7-14) and the city code (digits 1-6) beside it would leave about nine candidates
# for the whole number, so a kiosk gets the birth year at most and no code that names a place.
_MASKED_ITEMS = frozenset({"KH", "SFZH", "ZJHM", "BRDH1", "BRDH2", "LXRDH1", "LXRDH2", "LXRDH3"})
_WITHHELD_ITEMS = frozenset({"YYCSDM", "FKJGDM", "AQM"})  # city code, issuing organisation's code, 安全码
_YEAR_ONLY_ITEMS = frozenset({"CSRQ"})


def _kiosk_value(abbreviation: str, value: Any) -> Any:
    if abbreviation in _MASKED_ITEMS and isinstance(value, str):
        return mask_id_number(value)
    if abbreviation in _YEAR_ONLY_ITEMS and isinstance(value, str):
        return value[:4]
    return value


def _masked_files(files: dict[str, Any], masked: bool) -> dict[str, Any]:
    if not masked:
        return files
    out: dict[str, Any] = {}
    for path, data in files.items():
        if isinstance(data, dict):
            out[path] = {
                abbr: _kiosk_value(abbr, value) for abbr, value in data.items() if abbr not in _WITHHELD_ITEMS
            }
        else:
            out[path] = data
    return out


def _age(birth: _dt.date, today: _dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


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
    birth = holder.birth_date
    today = _dt.datetime.now(CHINA_TZ).date()
    return IdentityOut(
        reader=view.reader_id,
        card_id=view.card_id,
        masked=masked,
        name=holder.name,
        sex=sex,
        sex_label=CODE_TABLES["sex"].label(sex) if sex is not None else None,
        ethnicity=holder.ethnicity,
        ethnicity_label=CODE_TABLES["ethnicity"].label(holder.ethnicity) if holder.ethnicity else None,
        birth_date=None if masked else birth,
        birth_year=birth.year if birth else None,
        age=_age(birth, today) if birth else None,
        id_number=(mask_id_number(holder.id_number) if masked else holder.id_number)
        if holder.id_number
        else None,
        card_number=(mask_id_number(number) if masked else number) if number else None,
        files=files,
        photo_jpeg_base64=base64.b64encode(photo).decode() if photo else None,
    )


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
        signer=data["signer"],
        items=plain(data["items"]),  # type: ignore[arg-type]
    )


# -- routes ---------------------------------------------------------------------------------------------


@router.get(
    "",
    response_model=CardOut,
    summary="The card in the reader (no personal data)",
    responses=responses(*CARD_ERRORS),
)
async def get_card(request: Request, client: Kiosk, reader: ReaderId) -> CardOut:
    view = await card_view(services_of(request), reader, client=client)
    return CardOut(
        reader=view.reader_id,
        card_id=view.card_id,
        profile=view.profile,
        atr=view.atr.hex().upper(),
        card_number=view.masked_card_number,
    )


@router.get(
    "/identity",
    response_model=IdentityOut,
    summary="Cardholder identity (DDF1 EF05/EF06/EF08), read at insertion",
    description="Answers from the card session (no card I/O) unless `photo=true`. Kiosk keys get ID "
    "and phone numbers masked; HIS keys get them in full.",
    responses=responses(*CARD_ERRORS),
)
async def get_identity(
    request: Request,
    client: Kiosk,
    reader: ReaderId,
    photo: Annotated[bool, Query(description="also read the photo (DDF1/EF07, a card read)")] = False,
) -> IdentityOut:
    masked = not scope_allows(client.scopes, "his")
    if photo:
        view, image = await _on_card(
            request, client, reader, "card.read_photo", lambda card: card.health.read_photo()
        )
        return _identity_out(view, masked=masked, photo=image)
    services = services_of(request)
    services.limiter.take(client.name)
    try:
        view = await card_view(services, reader, client=client)
    except ServiceError as exc:
        await audit_access(request, client, "card.read_identity", exc.code, card=None, target=reader)
        raise
    await audit_access(
        request, client, "card.read_identity", "ok", card=view.masked_card_number, target=view.reader_id
    )
    return _identity_out(view, masked=masked)


@router.get(
    "/health",
    response_model=HealthOut,
    summary="Health data: every file, or the files asked for",
    responses=responses(*CARD_ERRORS),
)
async def get_health(
    request: Request,
    client: His,
    reader: ReaderId,
    files: Annotated[
        list[str] | None,
        Query(
            description="file paths to return (default all), e.g. DDF1/DF02/EF05",
            max_length=64,
            json_schema_extra={"items": {"type": "string", "enum": _READABLE}},
        ),
    ] = None,
) -> HealthOut:
    wanted = _check_paths(files)
    view, everything = await _on_card(
        request, client, reader, "card.read_health", lambda card: card.health.read_all()
    )
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
    "/items",
    response_model=ItemsOut,
    summary="Data items keyed by the standard's abbreviations",
    description="Every TLV data item on the card as `{abbreviation: {value, label, file, functions}}`: the "
    "`functions` are the vendor interface functions (iR_DDF1EF06Info, ...) whose parameters carry the item.",
    responses=responses(*CARD_ERRORS),
)
async def get_items(
    request: Request,
    client: His,
    reader: ReaderId,
    item: Annotated[
        list[Annotated[str, Field(pattern=_ABBREVIATION)]] | None,
        Query(description="abbreviations to return (default all)", max_length=128),
    ] = None,
    function: Annotated[
        str | None,
        Query(
            description="only the items of this interface function, e.g. iR_DDF1EF06Info",
            max_length=64,
            json_schema_extra={"enum": [f.name for f in INTERFACE_FUNCTIONS]},
        ),
    ] = None,
) -> ItemsOut:
    wanted: set[str] | None = set(item) if item else None
    if function is not None:
        match = next((f for f in INTERFACE_FUNCTIONS if f.name.lower() == function.lower()), None)
        if match is None:
            raise ServiceError("invalid_request", f"no interface function {function!r}")
        wanted = set(match.parameters) & wanted if wanted is not None else set(match.parameters)
    view, everything = await _on_card(
        request, client, reader, "card.read_items", lambda card: card.health.read_all()
    )
    return ItemsOut(reader=view.reader_id, card_id=view.card_id, items=_items_view(everything, wanted))


@router.patch(
    "/files/{path:path}",
    response_model=WriteResult,
    summary="Update data items of one file (DDF1/EF08, DF01/EF05-EF08, DF02/EF05-EF06)",
    responses=responses(*CARD_ERRORS, "invalid_data", "invalid_request"),
)
async def update_file(
    request: Request,
    client: His,
    reader: ReaderId,
    path: Annotated[
        str,
        Path(description="file path, e.g. DDF1/DF01/EF05", max_length=32, json_schema_extra=_UPDATABLE_ENUM),
    ],
    body: UpdateItemsIn,
    x_card_id: CardIdHeader = None,
) -> WriteResult:
    file = _card_file_at(path)
    model = models_by_file().get(file.path)
    if model is None or file.update_key is None:
        raise ServiceError("invalid_request", f"{file.path} cannot be updated by a terminal")
    _validated(model, body.items, f"values not valid for {file.path}")
    fields = dict(body.items)
    return await _write(
        request,
        client,
        reader,
        "card.update_items",
        lambda card: card.health.update_items(file.path, **fields),
        card_id=x_card_id,
        written=file.path,
        target=file.path,
    )


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
    "/allergies",
    response_model=WriteResult,
    status_code=201,
    summary="Append an allergy (DDF1/DF02/EF07, cyclic)",
    responses=responses(*CARD_ERRORS, "invalid_data"),
)
async def add_allergy(
    request: Request, client: His, reader: ReaderId, body: AllergyIn, x_card_id: CardIdHeader = None
) -> WriteResult:
    _validated(Allergy, {"substance": body.substance, "reaction": body.reaction}, _DOES_NOT_FIT)
    return await _write(
        request,
        client,
        reader,
        "card.append_allergy",
        lambda card: card.health.append_allergy(body.substance, body.reaction),
        card_id=x_card_id,
        written="DDF1/DF02/EF07",
        target="DDF1/DF02/EF07",
    )


@router.post(
    "/immunisations",
    response_model=WriteResult,
    status_code=201,
    summary="Append an immunisation (DDF1/DF02/EF08, cyclic)",
    responses=responses(*CARD_ERRORS, "invalid_data"),
)
async def add_immunisation(
    request: Request, client: His, reader: ReaderId, body: ImmunisationIn, x_card_id: CardIdHeader = None
) -> WriteResult:
    _validated(Immunisation, {"vaccine": body.vaccine, "date": body.date}, _DOES_NOT_FIT)
    return await _write(
        request,
        client,
        reader,
        "card.append_immunisation",
        lambda card: card.health.append_immunisation(body.vaccine, body.date),
        card_id=x_card_id,
        written="DDF1/DF02/EF08",
        target="DDF1/DF02/EF08",
    )


Kind = Annotated[
    Literal["inpatient", "outpatient"], Path(description="住院 inpatient (EE) or 门诊 outpatient (ED)")
]


@router.get(
    "/encounters/{kind}",
    response_model=EncountersOut,
    summary="Encounter records in use, with their signature status and signer",
    description="`signature` is `valid` only for a signer on the daemon's trusted list (`trusted_signers`); "
    "one that verifies under any other key is `valid_untrusted`. `signer`: that key's SM3 fingerprint.",
    responses=responses(*CARD_ERRORS),
)
async def list_encounters(request: Request, client: His, reader: ReaderId, kind: Kind) -> EncountersOut:
    view, encounters = await _on_card(
        request,
        client,
        reader,
        f"card.read_{kind}",
        lambda card: card.health.read_encounters(EncounterKind(kind)),
    )
    return EncountersOut(
        reader=view.reader_id, card_id=view.card_id, encounters=[_encounter_out(e) for e in encounters]
    )


@router.post(
    "/encounters/{kind}",
    response_model=WriteResult,
    status_code=201,
    summary="Write an encounter record (free slot, else the oldest), SM2-signed by the SAM",
    description="The body uses the record model's field names (see examples/outpatient-record.json). The SAM "
    "signs first (the binding's SAM PIN must be configured), so a refused signature writes nothing.",
    responses=responses(*CARD_ERRORS, "invalid_data", "sam_pin_refused"),
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
        lambda card: card.health.write_encounter(EncounterKind(kind), record),
        card_id=x_card_id,
        writing=True,
    )
    return WriteResult(reader=view.reader_id, card_id=view.card_id, written=f"DDF1/DF03 {kind}", slot=slot)


@router.delete(
    "/encounters/{kind}/{slot}",
    response_model=WriteResult,
    summary="Erase an encounter slot (its index flag becomes FF)",
    responses=responses(*CARD_ERRORS, "invalid_data"),
)
async def erase_encounter(
    request: Request,
    client: His,
    reader: ReaderId,
    kind: Kind,
    slot: Annotated[int, Path(ge=1, le=10, description="slot number")],
    x_card_id: CardIdHeader = None,
) -> WriteResult:
    return await _write(
        request,
        client,
        reader,
        f"card.erase_{kind}",
        lambda card: card.health.erase_encounter(EncounterKind(kind), slot),
        card_id=x_card_id,
        written=f"DDF1/DF03 {kind}",
        slot=slot,
    )
