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
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from cardservice.api._deps import (
    ApiClient,
    CardIdHeader,
    IssuanceService,
    Kiosk,
    Services,
    audited,
    services_of,
)
from cardservice.api._errors import api_error, responses
from cardservice.api.schemas.issuance import IssuanceIn, IssuanceOut
from cardservice.errors import CardserviceError, ServiceError
from cardservice.healthcard import mask_id_number
from cardservice.idcard import IdCardPerson
from cardservice.issuance import IssuanceFailed, IssuanceResult, PersonIn

__all__ = ["ISSUANCE_ERRORS", "router"]

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
ISSUANCE_ERRORS = (
    "rate_limited", "idcard_unavailable", "idcard_no_card", "reader_not_found", "card_changed",
    *sorted(set(_CODES.values())), "issuance_failed",
)  # fmt: skip


def _applicant(services: Services, reader: str, card_id: str | None) -> IdCardPerson:
    """The person on the ID card lying on *reader* (``idcard[:NAME]``), this placing of it."""
    monitor = services.idcard
    if monitor is None:
        raise ServiceError("idcard_unavailable", "no ID-card reader is configured for this daemon")
    try:
        name, placed_id, person = monitor.placed(reader.partition(":")[2] or None)
    except CardserviceError as exc:
        raise api_error(exc) from None
    if card_id is not None and card_id != placed_id:
        raise ServiceError("card_changed", "another ID card lies on the reader now", reader=name)
    return person


def _failure(exc: IssuanceFailed) -> ServiceError:
    error = ServiceError(_CODES.get(exc.code, "issuance_failed"), exc.message, cause=exc.code)
    error.message_zh = exc.message_zh
    return error


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
    person = _applicant(services, body.reader, x_card_id)
    applicant = PersonIn(
        id_number=person.id_number,
        name=person.name.strip() or "-",
        sex=person.sex_code if person.sex_code in ("1", "2") else None,  # type: ignore[arg-type]
        ethnicity=person.ethnicity_code,
        address=(person.address or "").strip()[:100] or None,
        phone=body.phone,
        consent=body.consent,
    )

    def progress(stage: str) -> None:
        services.hub.publish({"type": "issuance.progress", "client": client.name, "reader": body.reader,
                              "stage": stage})  # fmt: skip

    def run() -> IssuanceResult:
        try:
            return desk.issue(applicant, on_stage=progress)
        except IssuanceFailed as exc:
            raise _failure(exc) from None

    result = await _audited(request, client, run, mask_id_number(person.id_number))
    return IssuanceOut(card=result.masked, status=result.status, issuance_serial=result.serial)  # type: ignore[arg-type]


async def _audited(request: Request, client: ApiClient, run: Any, masked: str) -> IssuanceResult:
    result: IssuanceResult = await audited(
        request, client, "issuance.issue", run, card=masked, target=None,
        result=lambda r: r.status, target_of=lambda r: r.serial,
    )  # fmt: skip
    return result
