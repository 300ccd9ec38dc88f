"""/v1/readers and /v1/sams: the readers the daemon follows, their role and card state, and the SAMs."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Request

from cardservice.api._deps import Kiosk, ReaderId, services_of
from cardservice.api._errors import responses
from cardservice.api.schemas.card import ReaderOut, ReadersOut, SamOut, SamsOut
from cardservice.errors import ServiceError
from cardservice.readers import ReaderInfo

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["readers"])


def _reader_out(info: ReaderInfo) -> ReaderOut:
    """The manager's problem carries its details beside code and message; the API nests them."""
    problem = info.problem
    if problem is not None:
        details = {k: v for k, v in problem.items() if k not in ("code", "message")}
        info = replace(
            info, problem={"code": problem["code"], "message": problem["message"], "details": details}
        )
    return ReaderOut.model_validate(info, from_attributes=True)


@router.get(
    "/readers",
    response_model=ReadersOut,
    summary="Readers, their role and card state",
    responses=responses(),
)
async def list_readers(request: Request, client: Kiosk) -> ReadersOut:
    return ReadersOut(readers=[_reader_out(r) for r in services_of(request).manager.readers()])


@router.get(
    "/readers/{reader}",
    response_model=ReaderOut,
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
    summary="SAMs (PSAM readers and key stores)",
    responses=responses(),
)
async def list_sams(request: Request, client: Kiosk) -> SamsOut:
    return SamsOut(
        sams=[SamOut.model_validate(s, from_attributes=True) for s in services_of(request).manager.sams()]
    )
