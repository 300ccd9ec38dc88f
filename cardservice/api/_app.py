"""The FastAPI application: :func:`create_app` assembles the /v1 routes (:mod:`cardservice.api.routes`),
the error handlers, the request metrics and the Host/Origin guard over a :class:`Services` bundle — so
tests build it over an in-process backend and an in-memory key check, and ``cardservice serve`` over
pcscd and the database.

The interactive docs (``/docs``, Swagger UI) load their script, style and icon from the daemon itself
(``_static/swagger-ui``, vendored: its VENDOR.md), never from a CDN: hospital intranets have no internet.
ReDoc is not served."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from cardservice import __version__
from cardservice.api._deps import Services
from cardservice.api._errors import install_error_handlers
from cardservice.api._metrics import MetricsMiddleware
from cardservice.api._pages import kiosk_folder, mount_kiosk
from cardservice.api._security import GuardMiddleware, loopback_hosts
from cardservice.api.routes import ROUTERS

__all__ = ["create_app"]

_DESCRIPTION = (
    "Every endpoint but /v1/health needs an API key (`cardservice token create NAME --scope ...`), "
    "sent as `Authorization: Bearer csk_...` or `X-API-Key`. Scopes: kiosk (readers, identity with "
    "masked numbers, events), his (kiosk + full identity, health data, writes), admin (everything, "
    "/metrics). "
    'Errors: `{"error": {"code", "message", "message_zh", "details"}}` with a stable code.'
)
_SWAGGER_UI = Path(__file__).parent / "_static" / "swagger-ui"
_DOCS_ASSETS = "/docs/assets"
_TAGS = [
    {"name": "system", "description": "health and metrics"},
    {"name": "readers", "description": "readers and SAMs"},
    {"name": "card", "description": "the card in a reader: identity, health data, writes"},
    {"name": "events", "description": "card and reader events (SSE, WebSocket)"},
    {"name": "registration", "description": "挂号: departments, doctors, slots, bookings (HIS)"},
    {"name": "payments", "description": "缴费: bills, prepaid account, payments, refunds, 对账"},
    {"name": "printing", "description": "打印: registration slips, receipts, lab reports; the print queue"},
    {"name": "idcard", "description": "身份证: the person on the ID card lying on an ID-card reader"},
    {"name": "issuance", "description": "自助发卡: a card issued here by the issuance service"},
    {"name": "kiosk", "description": "the kiosk page (/kiosk/): its launch and its settings"},
]


def create_app(
    services: Services,
    *,
    port: int = 8765,
    allowed_hosts: Iterable[str] = (),
    allowed_origins: Iterable[str] = (),
    kiosk: Path | None = None,
) -> FastAPI:
    """The app over *services*; *kiosk*: the folder of the kiosk's pages (default: the shipped one)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.hub.bind(asyncio.get_running_loop())  # reader threads publish onto this loop
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="cardservice",
        version=__version__,
        summary="Localhost API for the Resident Health Card (居民健康卡): readers, cards, events",
        description=_DESCRIPTION,
        openapi_tags=_TAGS,
        docs_url=None,  # served by _serve_docs, from the package
        redoc_url=None,
    )
    app.state.services = services
    _serve_docs(app)
    folder = kiosk if kiosk is not None else kiosk_folder()
    if folder is not None:
        mount_kiosk(app, folder)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    own_origins = {f"{scheme}://{host}" for scheme in ("http", "https") for host in loopback_hosts(port)}
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    app.add_middleware(
        GuardMiddleware,
        allowed_hosts=loopback_hosts(port) | {h.lower() for h in allowed_hosts},
        allowed_origins=frozenset(own_origins | {o.lower() for o in allowed_origins}),
    )
    return app


def _serve_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the vendored files under ``/docs/assets`` (no key needed, as for
    ``/openapi.json``)."""
    app.mount(_DOCS_ASSETS, StaticFiles(directory=_SWAGGER_UI), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API docs",
            swagger_js_url=f"{_DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_DOCS_ASSETS}/favicon-32x32.png",
            # No spec validation by validator.swagger.io (Swagger UI's default where it shows the badge).
            swagger_ui_parameters={"validatorUrl": None},
        )
