"""Cards for children without an ID number (新生儿/儿童发卡, :mod:`cardservice.issuance._newborn`):

- ``POST /v1/issuance/birth-record``: the hospital's record of a child born here (HIS), shown to the parent
  whose ID card lies on the ID-card reader (its ``X-Card-Id``) and to nobody else (404 ``his_not_found``
  either way): what a kiosk shows for the parent to confirm, from the certificate number they typed.
- ``POST /v1/issuance/child``: the guardian's ID card lies on the ID-card reader (its ``X-Card-Id``), the
  child's data from the birth certificate in the body; the card — its number the certificate's — comes from
  the dispenser as in ``POST /v1/issuance`` (the same stages, errors and audit), linked to the guardian.
  With a HIS, the child must be the HIS's record of that certificate for this guardian (else 404
  ``his_not_found``, before any card moves): a kiosk issues no card for a child nobody registered.
- ``PUT /v1/issuance/reader/{reader}/id-number``: the child's ID number, once they have one. The child's card
  is in *reader* (its ``X-Card-Id``), the guardian's ID card on the ID-card reader. The number must be the
  child's (birth date and sex digit as on the card); the issuance service records it in the registry (the
  guardian must be the one the card is linked to), then this daemon writes it to the card's DF01/EF08 (ZJLB
  居民身份证, ZJHM) with its PSAM's update key. Repeating the request is harmless: the registry records a
  number once, and the write is the same. Audited as ``issuance.id_number``.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from cardservice.api._deps import (
    HIS_ERRORS,
    CardIdHeader,
    HisService,
    IssuanceService,
    Kiosk,
    ReaderId,
    audit_access,
    audited,
    call_service,
    card_view,
    patient_of,
    services_of,
)
from cardservice.api._errors import responses
from cardservice.api.routes.issuance import ISSUANCE_ERRORS, applicant, issued, with_photo
from cardservice.api.schemas.children import BirthRecordIn, ChildIssuanceIn, ChildOut, IdNumberIn, IdNumberOut
from cardservice.api.schemas.issuance import IssuanceOut
from cardservice.errors import CodecError, ServiceError
from cardservice.healthcard import Identity, id_sex_code, mask_id_number, validate_id_number
from cardservice.his import Patient
from cardservice.issuance import ID_CARD_TYPE, ChildIn, IssuanceFailed
from cardservice.readers import CardHandle

__all__ = ["ID_NUMBER_ERRORS", "router"]

router = APIRouter(prefix="/v1/issuance", tags=["issuance"])
_DOCUMENTS = "DDF1/DF01/EF08"  # ZJLB 证件类别, ZJHM 证件号码: what a terminal may update (EF05/EF06 are not)

# The service's refusals of an ID number → the API's codes.
_ID_NUMBER_CODES = {
    "card_unknown": "issuance_card_unknown",
    "not_a_child_card": "issuance_not_child_card",
    "not_guardian": "issuance_not_guardian",
    "card_not_live": "issuance_card_not_live",
    "invalid_id_number": "issuance_invalid_id_number",
    "id_number_has_card": "issuance_id_number_has_card",
    "id_number_recorded": "issuance_id_number_recorded",
    "issuance_unavailable": "issuance_unavailable",
}
ID_NUMBER_ERRORS = (
    "rate_limited", "idcard_unavailable", "idcard_no_card", "card_changed", "no_card", "reader_not_found",
    *sorted(set(_ID_NUMBER_CODES.values())), "card_timeout",
)  # fmt: skip


@router.post(
    "/birth-record", response_model=ChildOut, summary="The birth record of the parent's child (出生登记)",
    responses=responses(
        "rate_limited", "idcard_unavailable", "idcard_no_card", "idcard_unsupported", "card_changed",
        *HIS_ERRORS,
    ),
)  # fmt: skip
async def birth_record(
    request: Request, client: Kiosk, his: HisService, body: BirthRecordIn, x_card_id: CardIdHeader = None
) -> ChildOut:
    services = services_of(request)
    services.limiter.take(client.name)
    _, guardian = await patient_of(services, body.reader, x_card_id, client=client)
    certificate = body.birth_certificate.upper()
    record = await audited(
        request, client, "his.birth_record", lambda: his.birth_record(guardian, certificate),
        card=mask_id_number(certificate), target=None,
    )  # fmt: skip
    return ChildOut(birth_certificate=record.birth_certificate, name=record.name, sex=record.sex,
                    birth_date=record.birth_date, relation=record.relation, ethnicity=None)  # fmt: skip


@router.post(
    "/child", response_model=IssuanceOut, summary="A child's card, to the guardian on the ID card (新生儿)",
    description="As `POST /v1/issuance`, for a child without an ID number: the card's number is the birth "
    "certificate's and the registry links it to the guardian.",
    responses=responses(*ISSUANCE_ERRORS, *HIS_ERRORS),
)  # fmt: skip
async def issue_child(
    request: Request,
    client: Kiosk,
    desk: IssuanceService,
    body: ChildIssuanceIn,
    x_card_id: CardIdHeader = None,
) -> IssuanceOut:
    services = services_of(request)
    services.limiter.take(client.name)
    guardian = applicant(services, body.reader, x_card_id, phone=body.phone, consent=body.consent)
    child = ChildIn.model_validate(body.child.model_dump())
    his = services.his
    if his is not None:  # the child must be one born here, to this guardian, as registered
        parent = Patient(guardian.id_number.upper(), guardian.name)
        certificate = child.birth_certificate.upper()
        record = await call_service(lambda: his.birth_record(parent, certificate))
        given = (certificate, child.name.strip(), child.sex, child.birth_date, child.relation)
        if given != (record.birth_certificate, record.name, record.sex, record.birth_date, record.relation):
            raise ServiceError("his_not_found", "the child is not as the hospital's birth record says")
    person = await with_photo(guardian.model_copy(update={"child": child}), body.photo)
    return await issued(
        request, client, desk, person, body.reader, mask_id_number(child.birth_certificate.upper())
    )


@router.put(
    "/reader/{reader}/id-number", response_model=IdNumberOut, summary="A child's new ID number, on the card",
    responses=responses(*ID_NUMBER_ERRORS),
)  # fmt: skip
async def record_id_number(
    request: Request, client: Kiosk, desk: IssuanceService, reader: ReaderId, body: IdNumberIn,
    x_card_id: CardIdHeader = None,
) -> IdNumberOut:  # fmt: skip
    services = services_of(request)
    services.limiter.take(client.name)
    guardian = applicant(services, body.guardian_reader, body.guardian_card_id, phone=None, consent=False)
    view = await card_view(services, reader, x_card_id, client=client)
    masked = view.masked_card_number

    def record(number: str) -> None:
        issuer = view.identity.issuer
        try:
            desk.record_id_number(
                card_number=issuer.card_number or "", issuance_serial=issuer.issuance_serial or "",
                id_number=number, guardian_id_number=guardian.id_number,
            )  # fmt: skip
        except IssuanceFailed as exc:
            error = ServiceError(_ID_NUMBER_CODES.get(exc.code, "issuance_failed"), exc.message)
            error.message_zh = exc.message_zh
            raise error from None

    def write(card: CardHandle, number: str) -> None:
        card.health.update_items(_DOCUMENTS, document_type=ID_CARD_TYPE, document_number=number)

    try:
        number = _childs_id_number(view.identity, body.id_number)
        await call_service(lambda: record(number))
        future = services.manager.submit(
            view.reader_id, lambda card: write(card, number), card_id=view.card_id, writing=True
        )
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), services.card_timeout)
        except TimeoutError:
            raise ServiceError(
                "card_timeout", "the card did not finish: put it in again and repeat"
            ) from None
    except ServiceError as exc:
        await audit_access(
            request, client, "issuance.id_number", exc.code, card=masked, target=view.reader_id
        )
        raise
    await audit_access(request, client, "issuance.id_number", "ok", card=masked, target=view.reader_id)
    return IdNumberOut(card=masked, id_number=mask_id_number(number), written=_DOCUMENTS)


def _childs_id_number(identity: Identity, given: str) -> str:
    """*given* normalised, if the card is a child's without an ID number and *given* can be the child's
    (birth date, sex digit); the service checks it again against the registry's copy of the card."""
    issuer, holder = identity.issuer, identity.cardholder
    if holder.id_number is not None or not issuer.card_number or not issuer.issuance_serial:
        raise ServiceError("issuance_not_child_card", "the card carries an ID number already")
    try:
        number = validate_id_number(given, birth_date=holder.birth_date, field="id_number")
    except CodecError as exc:
        raise ServiceError("issuance_invalid_id_number", str(exc)) from None
    if holder.sex is not None and id_sex_code(number) != holder.sex:
        raise ServiceError("issuance_invalid_id_number", "id_number: its sex digit is not the child's (性别)")
    return number
