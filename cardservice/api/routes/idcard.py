"""/v1/idcard: the person on the resident ID card (身份证) lying on an ID-card reader.

The daemon polls its ID-card readers (:class:`cardservice.idcard.IdCardMonitor`) and holds the person
read only while the card lies there; this route answers from memory, never touching a reader. A kiosk
key gets the masked record; the full one (numbers, address, birth date, photo as opaque WLT bytes) needs
the ``issuer`` scope — the issuing flow, which copies an applicant's identity from the card instead of a
clerk's typing. Every request takes a rate-limit token and is audited (action ``idcard.read``, the masked
number as the card).
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Request

from cardservice.api._deps import ApiClient, IdCardService, Kiosk, audit_access, services_of
from cardservice.api._errors import api_error, responses
from cardservice.api._security import scope_allows
from cardservice.api.schemas.idcard import IdCardOut
from cardservice.errors import ServiceError
from cardservice.idcard import CARD_TYPES, DEFAULT_READER, IdCardError, IdCardPerson

__all__ = ["IDCARD_ERRORS", "router"]

router = APIRouter(prefix="/v1/idcard", tags=["idcard"])

IDCARD_ERRORS = (
    "rate_limited",
    "reader_not_found",
    "idcard_unavailable",
    "idcard_no_card",
    "idcard_read_failed",
    "idcard_unsupported",
    "idcard_sam_unavailable",
    "idcard_protocol",
    "idcard_timeout",
    "idcard_reader_offline",
)
_LABELS = {spec.card_type: spec.label_zh for spec in CARD_TYPES.values()}
_ACTION = "idcard.read"


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _out(reader: str, card_id: str, person: IdCardPerson, *, full: bool) -> IdCardOut:
    shown = person.masked()
    fields: dict[str, object] = {
        "reader": reader,
        "card_id": card_id,
        "masked": not full,
        "card_type": person.card_type.value,
        "card_type_label": _LABELS[person.card_type],
        "name": person.name,
        "sex": person.sex_code,
        "sex_label": person.sex_label,
        "ethnicity": person.ethnicity_code,
        "ethnicity_label": person.ethnicity_label,
        "birth_year": person.birth_date.year,
        "authority": person.authority,
        "valid_from": person.valid_from,
        "valid_to": person.valid_to_text,
        "english_name": person.english_name,
        "nationality": person.nationality,
        "issue_count": person.issue_count,
        "card_version": person.card_version,
        "renewal_count": person.renewal_count,
    }
    if full:
        fields |= {
            "birth_date": person.birth_date,
            "address": person.address,
            "id_number": person.id_number,
            "permit_number": person.permit_number,
            "photo_wlt_base64": _b64(person.photo_wlt),
            "fingerprint_base64": _b64(person.fingerprint),
        }
    else:
        fields |= {
            "birth_date": None,
            "address": shown.address,
            "id_number": shown.id_number,
            "permit_number": shown.permit_number,
        }
    return IdCardOut.model_validate(fields)


@router.get(
    "",
    response_model=IdCardOut,
    summary="The person on the ID card lying on an ID-card reader (身份证)",
    description="Answers from memory: the daemon polls its ID-card readers and keeps what it read while "
    "the card lies there (409 idcard_no_card otherwise). Kiosk keys get the masked record; `full=true` "
    "needs the issuer scope and adds the full numbers, address, birth date and the photo as opaque "
    "vendor WLT bytes (base64).",
    responses=responses(*IDCARD_ERRORS),
)
async def read_idcard(
    request: Request,
    client: Kiosk,
    idcard: IdCardService,
    reader: Annotated[
        str, Query(description="the ID-card reader's name (`default`: the first)", max_length=64)
    ] = DEFAULT_READER,
    full: Annotated[bool, Query(description="the full record, photo included (issuer scope)")] = False,
) -> IdCardOut:
    if full and not scope_allows(client.scopes, "issuer"):
        await _audit(request, client, "forbidden", reader, full=full)
        raise ServiceError("forbidden", "the full ID-card record needs the 'issuer' scope", needed="issuer")
    services_of(request).limiter.take(client.name)
    try:
        name, card_id, person = idcard.placed(reader)
    except IdCardError as exc:
        await _audit(request, client, api_error(exc).code, reader, full=full)
        raise
    await _audit(request, client, "ok", name, full=full, person=person)
    return _out(name, card_id, person, full=full)


async def _audit(
    request: Request,
    client: ApiClient,
    result: str,
    reader: str,
    *,
    full: bool,
    person: IdCardPerson | None = None,
) -> None:
    detail = {"full": full} | ({"card_type": person.card_type.value} if person is not None else {})
    await audit_access(
        request, client, _ACTION, result, card=person.masked_number if person else None, target=reader,
        detail=detail,
    )  # fmt: skip
