"""/v1/kiosk: the kiosk page's credential (:mod:`cardservice.api._kiosk`) and its kiosk's settings.

The pages themselves (``/kiosk/``, the launch URL) are served by :func:`cardservice.api._pages.mount`.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request

from cardservice.api._deps import Kiosk, services_of
from cardservice.api._errors import responses
from cardservice.api._kiosk import KioskSession
from cardservice.api.schemas.kiosk import KioskSessionOut, LaunchTokenIn, LaunchTokenOut
from cardservice.errors import ServiceError

__all__ = ["router"]

router = APIRouter(prefix="/v1/kiosk", tags=["kiosk"])


@router.post(
    "/launch-tokens",
    status_code=201,
    response_model=LaunchTokenOut,
    summary="A one-time launch URL for the kiosk's browser (the kiosk launcher asks, with the kiosk key)",
    description="Opening `url` exchanges the token for an HttpOnly, SameSite=Strict session cookie and "
    "redirects to /kiosk/: the page never holds the API key. The session has the kiosk scope and only "
    "the readers named here. A kiosk session cannot ask for more.",
    responses=responses("rate_limited"),
)
async def launch_token(request: Request, client: Kiosk, body: LaunchTokenIn) -> LaunchTokenOut:
    if isinstance(client, KioskSession):
        raise ServiceError("forbidden", "a kiosk page cannot launch another")
    services = services_of(request)
    services.limiter.take(client.name)
    token = services.kiosk_sessions.launch_token(client, body.readers, body.lifetime)
    return LaunchTokenOut(token=token, url=f"/kiosk/launch?token={quote(token)}", expires_in=body.lifetime)


@router.get(
    "/session",
    response_model=KioskSessionOut,
    summary="What the kiosk page is told about its kiosk: readers, help desk, timeouts, top-up amounts",
    responses=responses(),
)
async def session(request: Request, client: Kiosk) -> KioskSessionOut:
    services = services_of(request)
    settings = services.kiosk
    return KioskSessionOut(
        readers=list(client.readers) if isinstance(client, KioskSession) else ["default"],
        hospital_name=services.hospital_name,
        help_desk=settings.help_desk,
        card_entry=settings.card_entry,
        idle_seconds=settings.idle_seconds,
        warning_seconds=settings.warning_seconds,
        top_up_amounts_fen=list(settings.top_up_amounts_fen),
    )
