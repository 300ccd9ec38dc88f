"""The /v1 routes, one module per area; :data:`ROUTERS` is what :func:`cardservice.api.create_app`
mounts, in the order of the OpenAPI document."""

from fastapi import APIRouter

from cardservice.api.routes import (
    card,
    children,
    events,
    idcard,
    issuance,
    kiosk,
    payments,
    printing,
    qrcode,
    readers,
    registration,
    system,
)

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    system.router,
    readers.router,
    card.router,
    events.router,
    registration.router,
    payments.router,
    qrcode.router,
    printing.router,
    idcard.router,
    issuance.router,
    children.router,
    kiosk.router,
)
