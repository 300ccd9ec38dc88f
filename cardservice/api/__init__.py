"""The daemon's localhost HTTP API (FastAPI), versioned under /v1.

_app.py      create_app(services): routes, error handlers, metrics, the Host/Origin guard
_deps.py     Services; Annotated dependencies: API keys and scopes, the hospital services (503 when
             not configured), the card and patient in a reader, the audit of an access
_errors.py   the error shape; code → HTTP status; exception class → code
routes/      one module per area: system, readers, card, events, registration, payments, printing
schemas/     the request and response bodies, by area
_events.py, _metrics.py, _security.py    event hub, Prometheus metrics, guard / tickets / rate limit
"""

from cardservice.api._app import create_app
from cardservice.api._deps import ApiClient, Services
from cardservice.api._errors import ERRORS, ErrorResponse
from cardservice.api._events import EventHub
from cardservice.api._kiosk import KioskSessions, KioskSettings
from cardservice.api._security import RateLimiter, TicketBook

__all__ = [
    "ERRORS",
    "ApiClient",
    "ErrorResponse",
    "EventHub",
    "KioskSessions",
    "KioskSettings",
    "RateLimiter",
    "Services",
    "TicketBook",
    "create_app",
]
