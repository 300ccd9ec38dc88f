"""/v1/health (no key) and /metrics (admin): is the daemon up, and its figures."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cardservice import __version__
from cardservice.api._deps import Admin, services_of
from cardservice.api._errors import responses
from cardservice.api.schemas.card import HealthStatus

__all__ = ["router"]

router = APIRouter(tags=["system"])


@router.get(
    "/v1/health",
    response_model=HealthStatus,
    summary="Liveness and PC/SC state (no key)",
    responses=responses(keyed=False),
)
async def health(request: Request) -> HealthStatus:
    services = services_of(request)
    manager = services.manager
    readers = manager.readers()
    up = manager.service_up
    return HealthStatus(
        status="ok" if up else "degraded",
        version=__version__,
        backend=manager.backend_kinds,
        pcsc="up" if up else "down",
        readers=len(readers),
        cards=sum(1 for r in readers if r.role == "card" and r.card_present),
        uptime_s=round(time.monotonic() - services.started, 1),
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (admin key)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **responses()},
)
async def metrics(request: Request, client: Admin) -> Response:
    services = services_of(request)
    body, content_type = services.metrics.render(services)
    return Response(body, media_type=content_type)
