"""/v1/issuance: a Resident Health Card issued at this kiosk (自助发卡) to the person whose ID card lies on
its ID-card reader (``reader=idcard[:NAME]`` with that placing's ``X-Card-Id``, as for other patients without
a card). The kiosk holds no issuer key: the card is personalised by the issuance service, this daemon moving
the card in its dispenser and relaying APDUs (:class:`cardservice.issuance.KioskRelay`, configured by
``[issuance]``).

The request blocks until the card is presented (or the issuance failed), and meanwhile this client — and no
other — gets ``issuance.progress`` events (stage settling, dispensing, writing, verifying, presenting,
capturing). A failure is an error with a code the kiosk screen can act on: the person already has a card,
is refused, the card was spoiled (captured into the reject bin), the dispenser is empty or jammed, the
issuance service cannot be reached. Audited as ``issuance.issue`` with the masked card number.

``GET /v1/issuance/terms`` is what the consent screen shows before the patient agrees: the issuer, the
card's fee, whether the bank application comes with it (the service's, kept a minute), and what is written
on the card about the person. It answers 503 ``issuance_unavailable`` when this kiosk cannot issue now (no
``[issuance]``, or the service cannot be reached): the kiosk offers issuance only when it answers.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request
from pydantic import ValidationError

from cardservice.api._deps import (
    ApiClient,
    CardIdHeader,
    IssuanceDesk,
    IssuanceService,
    Kiosk,
    Services,
    audited,
    call_service,
    placed_idcard,
    services_of,
)
from cardservice.api._errors import responses
from cardservice.api.schemas.issuance import IssuanceIn, IssuanceOut, IssuanceTermsOut
from cardservice.errors import CodecError, ServiceError
from cardservice.healthcard import mask_id_number
from cardservice.issuance import IssuanceFailed, IssuanceResult, PersonIn, fit_photo

__all__ = ["CARD_ITEMS", "ISSUANCE_ERRORS", "applicant", "issued", "router", "with_photo"]

router = APIRouter(prefix="/v1/issuance", tags=["issuance"])

# The service's (and the relay's) failure codes → the API's.
_DISPENSER = (
    "dispenser_empty",
    "dispenser_jam",
    "dispenser_timeout",
    "dispenser_protocol",
    "dispenser_fault",
)
_CODES = {
    "consent_required": "issuance_consent_required",
    "invalid_person": "issuance_invalid_person",
    "already_has_card": "issuance_has_card",
    "blacklisted": "issuance_refused",
    "card_spoiled": "issuance_card_spoiled",
    "busy": "issuance_busy",
    "issuance_busy": "issuance_busy",
    "registry_unavailable": "issuance_unavailable",
    "issuance_unavailable": "issuance_unavailable",
    "issuance_interrupted": "issuance_interrupted",
    **{code: code for code in _DISPENSER},
}
# What issue() below writes on the card about the person (its PersonIn: the ID card's fields, the phone
# typed at the kiosk; the birth date comes from the ID number), in the consent screen's words. A journey
# that writes more (a newborn's birth certificate) lists its own.
CARD_ITEMS = ("姓名", "性别", "民族", "出生日期", "身份证号码", "本人电话", "地址")
ISSUANCE_ERRORS = (
    "rate_limited", "invalid_data", "idcard_unavailable", "idcard_no_card", "reader_not_found",
    "card_changed",
    *sorted(set(_CODES.values())), "issuance_failed",
)  # fmt: skip


def _failure(exc: IssuanceFailed) -> ServiceError:
    error = ServiceError(_CODES.get(exc.code, "issuance_failed"), exc.message, cause=exc.code)
    error.message_zh = exc.message_zh
    return error


@router.get(
    "/terms", response_model=IssuanceTermsOut, summary="What a card issued here is (the consent screen)",
    responses=responses("rate_limited", "issuance_unavailable"),
)  # fmt: skip
async def terms(request: Request, client: Kiosk, desk: IssuanceService) -> IssuanceTermsOut:
    services_of(request).limiter.take(client.name)

    def fetch() -> IssuanceTermsOut:
        try:
            given = desk.terms()
        except IssuanceFailed as exc:
            raise _failure(exc) from None
        return IssuanceTermsOut(
            issuer_name=given.issuer_name, card_fee_fen=given.card_fee_fen,
            bank_application=given.bank_application, items=list(CARD_ITEMS),
        )  # fmt: skip

    return await call_service(fetch)


@router.post(
    "", response_model=IssuanceOut, summary="Issue a card to the person on the ID card (自助发卡)",
    description="Blocks until the card is presented at the dispenser's mouth; `issuance.progress` events "
    "(to this client only) tell the stages meanwhile.",
    responses=responses(*ISSUANCE_ERRORS),
)  # fmt: skip
async def issue(
    request: Request, client: Kiosk, desk: IssuanceService, body: IssuanceIn, x_card_id: CardIdHeader = None
) -> IssuanceOut:
    services = services_of(request)
    services.limiter.take(client.name)
    person = applicant(services, body.reader, x_card_id, phone=body.phone, consent=body.consent)
    person = await with_photo(person, body.photo)
    return await issued(request, client, desk, person, body.reader, mask_id_number(person.id_number))


def applicant(
    services: Services, reader: str, card_id: str | None, *, phone: str | None, consent: bool
) -> PersonIn:
    """The person on the ID card lying on *reader* (this placing of it) as the service takes them."""
    _, _, person = placed_idcard(services, reader, card_id)
    try:
        return PersonIn(
            id_number=person.id_number,
            name=person.name.strip() or "-",
            sex=person.sex_code if person.sex_code in ("1", "2") else None,  # type: ignore[arg-type]
            ethnicity=person.ethnicity_code,
            address=(person.address or "").strip()[:100] or None,
            phone=phone,
            consent=consent,
            photo=None,
        )
    except ValidationError:  # a number of another form (the 15-character foreign permanent residence card)
        raise ServiceError("issuance_invalid_person", "cards go to 18-character ID numbers") from None


async def with_photo(person: PersonIn, photo: str | None) -> PersonIn:
    """*person* with *photo* (base64) fitted to the card's photo file (a worker thread: Pillow decodes and
    recompresses); a picture that is not one is refused here, before any card moves."""
    if photo is None:
        return person

    def fitted() -> PersonIn:
        try:
            return person.model_copy(update={"photo": fit_photo(base64.b64decode(photo, validate=True))})
        except CodecError as exc:
            raise ServiceError("invalid_data", f"photo: {exc}") from None

    return await call_service(fitted)


async def issued(
    request: Request, client: ApiClient, desk: IssuanceDesk, person: PersonIn, reader: str, masked: str
) -> IssuanceOut:
    """*person*'s card from the dispenser (blocks; progress events to *client* only), audited under *masked*
    (the number of the card being made)."""
    services = services_of(request)

    def progress(stage: str) -> None:
        services.hub.publish({"type": "issuance.progress", "client": client.name, "reader": reader,
                              "stage": stage})  # fmt: skip

    def run() -> IssuanceResult:
        try:
            return desk.issue(person, on_stage=progress)
        except IssuanceFailed as exc:
            raise _failure(exc) from None

    result: IssuanceResult = await audited(
        request, client, "issuance.issue", run, card=masked, target=None,
        result=lambda r: r.status, target_of=lambda r: r.serial,
    )  # fmt: skip
    return IssuanceOut(card=result.masked, status=result.status, issuance_serial=result.serial)  # type: ignore[arg-type]
