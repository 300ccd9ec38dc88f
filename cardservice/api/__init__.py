"""The daemon's localhost HTTP API (FastAPI), versioned under /v1. See :mod:`cardservice.api._app`."""

from cardservice.api._app import create_app
from cardservice.api._deps import ApiClient, Services
from cardservice.api._errors import ERRORS, ErrorResponse
from cardservice.api._events import EventHub
from cardservice.api._security import RateLimiter, TicketBook

__all__ = [
    "ERRORS",
    "ApiClient",
    "ErrorResponse",
    "EventHub",
    "RateLimiter",
    "Services",
    "TicketBook",
    "create_app",
]
