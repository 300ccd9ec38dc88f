"""What routes need, as ``Annotated`` dependencies: the :class:`Services` bundle, API-key authentication
with scopes (:data:`Kiosk`, :data:`His`, :data:`Admin`), the hospital services that answer 503 when this
daemon has none configured (:data:`HisService`, :data:`PaymentsService`, :data:`PrintService`,
:data:`IdCardService`), the card now in a reader and its patient, and the audit record of an access.

Routes live in :mod:`cardservice.api.routes`, one module per area.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, TypeVar

import anyio
from fastapi import Depends, Header, Path, Query, Request

from cardservice.api._errors import api_error
from cardservice.api._events import EventHub
from cardservice.api._kiosk import SESSION_COOKIE, KioskSession, KioskSessions, KioskSettings
from cardservice.api._metrics import Metrics
from cardservice.api._security import RateLimiter, TicketBook, scope_allows
from cardservice.errors import CardserviceError, ServiceError
from cardservice.healthcard import Cardholder, CardValidity, Identity, IssuerData
from cardservice.his import HisConnector, Patient
from cardservice.idcard import IdCardMonitor, IdCardPerson, IdCardType
from cardservice.issuance import IssuanceResult, PersonIn
from cardservice.payments import PaymentPolicy, Payments
from cardservice.printing import PrintQueue
from cardservice.readers import CardView, ReaderManager
from cardservice.store import API_KEY_PATTERN

__all__ = [
    "HIS_ERRORS",
    "PATIENT_ERRORS",
    "Admin",
    "ApiClient",
    "CardIdHeader",
    "His",
    "HisService",
    "IdCardService",
    "IdempotencyKey",
    "IssuanceDesk",
    "IssuanceService",
    "IssuanceTerms",
    "Kiosk",
    "PaymentsService",
    "PrintService",
    "ReaderId",
    "ReaderQuery",
    "Services",
    "audit_access",
    "audited",
    "authenticate",
    "call_service",
    "card_view",
    "client_address",
    "key_holds",
    "patient_of",
    "placed_idcard",
    "reader_of",
    "require",
    "services_of",
    "token_from",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

HIS_ERRORS = ("his_unavailable", "his_timeout", "his_protocol", "his_rejected", "his_not_found")
PATIENT_ERRORS = ("reader_not_found", "no_card", "card_not_ready", "card_removed", "card_changed",
                  "card_blacklisted", "card_not_genuine", "card_unsupported")  # fmt: skip


class ApiClient(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def scopes(self) -> Iterable[str]: ...


class IssuanceTerms(Protocol):
    """What the issuance service says a card issued here is: who issues it, what it costs, whether it
    carries the bank application."""

    @property
    def issuer_name(self) -> str: ...
    @property
    def card_fee_fen(self) -> int: ...
    @property
    def bank_application(self) -> bool: ...


class IssuanceDesk(Protocol):
    """Where this kiosk's cards are issued (:class:`cardservice.daemon._issuance.KioskIssuance` over a
    :class:`cardservice.issuance.KioskRelay`): blocks until done, raises
    :class:`cardservice.issuance.IssuanceFailed` (``issuance_unavailable`` when the service is away)."""

    def issue(self, person: PersonIn, *, on_stage: Callable[[str], None]) -> IssuanceResult: ...
    def terms(self) -> IssuanceTerms: ...
    def record_id_number(
        self, *, card_number: str, issuance_serial: str, id_number: str, guardian_id_number: str
    ) -> dict[str, str]: ...


@dataclass
class Services:
    """What the API needs from the rest of the daemon."""

    manager: ReaderManager
    authenticate: Callable[[str], ApiClient | None]  # may block on the database: called off the event loop
    audit: Callable[..., object]
    hub: EventHub = field(default_factory=EventHub)
    tickets: TicketBook = field(default_factory=TicketBook)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(10.0, 20))
    card_timeout: float = 15.0
    started: float = field(default_factory=time.monotonic)
    metrics: Metrics = field(default_factory=Metrics)
    his: HisConnector | None = None  # registration, bills, lab reports (None: those routes answer 503)
    payments: Payments | None = None  # /v1/payments (None: those routes answer 503)
    payment_policy: PaymentPolicy = field(default_factory=PaymentPolicy)  # which client may use which method
    print_queue: PrintQueue | None = None  # /v1/print (None: no printer configured, 503)
    idcard: IdCardMonitor | None = None  # /v1/idcard (None: no ID-card reader configured, 503)
    issuance: IssuanceDesk | None = None  # /v1/issuance (None: no [issuance] configured, 503)
    hospital_name: str = "示范医院"  # printed at the head of every ticket
    # Answers from memory when it can, without blocking: (known, client). Unset: always authenticate.
    authenticate_cached: Callable[[str], tuple[bool, ApiClient | None]] | None = None
    # Whether the key a client (as authenticate returned it) was authenticated with still holds — asked of
    # a redeemed event ticket and, every stream_recheck seconds, of an open event stream. May block on the
    # database (called off the event loop); raises when it cannot tell. Unset: keys are never revoked.
    key_active: Callable[[Any], bool] | None = None
    stream_recheck: float = 15.0  # seconds between an event stream's keep-alives and re-checks of its key
    stream_recheck_failures: int = 4  # failed re-checks in a row (the database down) that close a stream
    kiosk_sessions: KioskSessions = field(default_factory=KioskSessions)  # the kiosk page's credential
    kiosk: KioskSettings = field(default_factory=KioskSettings)
    # Interactive charges in flight, by (client, reader): what POST /v1/payments/cancel sets.
    charges: dict[tuple[str, str], Any] = field(default_factory=dict)

    def key_revoked(self, client: ApiClient) -> None:
        """*client*'s key was revoked in this process (wire it to ``ApiKeys.on_revoke``): its event tickets
        are void and its open streams close, at once. Thread-safe."""
        self.tickets.revoke(client.name)
        self.kiosk_sessions.revoke(client.name)
        self.hub.close_client(client.name)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


# -- authentication -------------------------------------------------------------------------------------


def token_from(authorization: str | None, api_key: str | None) -> str | None:
    if api_key:
        return api_key.strip()
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def require(scope: str) -> Callable[..., Any]:
    async def dependency(
        request: Request,
        authorization: Annotated[str | None, Header(description="Bearer csk_... API key")] = None,
        x_api_key: Annotated[str | None, Header(description="the API key, instead of Authorization")] = None,
    ) -> ApiClient:
        services = services_of(request)
        token = token_from(authorization, x_api_key)
        if token:
            client = await authenticate(services, token)
        else:
            client = await kiosk_session(request, services)
        if client is None:
            raise ServiceError("unauthorized", "an API key is required (Authorization: Bearer csk_...)")
        if not scope_allows(client.scopes, scope):
            raise ServiceError("forbidden", f"this key lacks the {scope!r} scope", needed=scope)
        request.state.client = client
        return client

    return dependency


async def kiosk_session(request: Request, services: Services) -> KioskSession | None:
    """The kiosk page's session, from its cookie — only on a request the browser says comes from our own
    origin (``Sec-Fetch-Site``, which no script can set): see :mod:`cardservice.api._kiosk`."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id or request.headers.get("sec-fetch-site") != "same-origin":
        return None
    sessions = services.kiosk_sessions
    session = sessions.find(session_id)
    if session is not None and sessions.needs_check(session):
        if not await key_holds(services, session):
            sessions.close(session_id)
            return None
        sessions.checked(session)
    return session


async def key_holds(services: Services, client: ApiClient) -> bool:
    """Whether *client*'s key still holds (:attr:`Services.key_active`, off the event loop; a kiosk session
    asks of the key that launched it); a look-up that fails is a no, as for :func:`authenticate`."""
    check = services.key_active
    if check is None:
        return True
    key_client = client.parent if isinstance(client, KioskSession) else client
    try:
        return bool(await anyio.to_thread.run_sync(check, key_client))
    except Exception as exc:
        log.warning("the key of %s could not be checked: %s", client.name, exc.__class__.__name__)
        return False


async def authenticate(services: Services, token: str) -> ApiClient | None:
    """The client of *token*: from memory when the key store knows it now, else asked on a worker thread,
    so a database that is slow or locked by another process never stalls the event loop."""
    if services.authenticate_cached is not None:
        known, client = services.authenticate_cached(token)
        if known:
            return client
    return await anyio.to_thread.run_sync(services.authenticate, token)


Kiosk = Annotated[ApiClient, Depends(require("kiosk"))]
His = Annotated[ApiClient, Depends(require("his"))]
Admin = Annotated[ApiClient, Depends(require("admin"))]


# -- the hospital services, when configured ----------------------------------------------------------------


def _his(request: Request) -> HisConnector:
    his = services_of(request).his
    if his is None:
        raise ServiceError("his_unavailable", "no HIS is configured for this daemon")
    return his


def _payments(request: Request) -> Payments:
    payments = services_of(request).payments
    if payments is None:
        raise ServiceError("payment_unavailable", "payments are not configured on this daemon")
    return payments


def _print_queue(request: Request) -> PrintQueue:
    queue = services_of(request).print_queue
    if queue is None:
        raise ServiceError("print_unavailable", "no printer is configured for this daemon")
    return queue


def _idcard(request: Request) -> IdCardMonitor:
    monitor = services_of(request).idcard
    if monitor is None:
        raise ServiceError("idcard_unavailable", "no ID-card reader is configured for this daemon")
    return monitor


def _issuance(request: Request) -> IssuanceDesk:
    desk = services_of(request).issuance
    if desk is None:
        raise ServiceError("issuance_unavailable", "card issuance is not configured on this daemon")
    return desk


# Declared after the client in a route's signature, so a request without a key gets 401, not 503.
HisService = Annotated[HisConnector, Depends(_his)]
PaymentsService = Annotated[Payments, Depends(_payments)]
PrintService = Annotated[PrintQueue, Depends(_print_queue)]
IdCardService = Annotated[IdCardMonitor, Depends(_idcard)]
IssuanceService = Annotated[IssuanceDesk, Depends(_issuance)]


# -- request parameters -----------------------------------------------------------------------------------

ReaderId = Annotated[
    str,
    Path(
        description="reader id from /v1/readers, or `default` for the first card reader",
        examples=["default"],
        max_length=128,
    ),
]
ReaderQuery = Annotated[
    str, Query(description="reader of the patient's card (`default`: the first)", max_length=128)
]
CardIdHeader = Annotated[
    str | None,
    Header(
        description="card_id the client saw (identity, event): refused if another card is in now",
        max_length=64,
    ),
]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        description="a key of the client's choosing for this request; repeating it never does it twice",
        min_length=1,
        max_length=64,
        pattern=API_KEY_PATTERN,
    ),
]


# -- the card and its patient -----------------------------------------------------------------------------


IDCARD_PATIENT = "idcard"  # reader=idcard[:NAME]: the patient is the person on that ID-card reader's card


def reader_of(client: ApiClient, reader: str) -> str:
    """The reader *client* means by *reader*: a kiosk session's own (``default``: its first) and no other.
    An ID-card reader (``idcard[:NAME]``) is the kiosk's too: its own readers are all the daemon has."""
    if isinstance(client, KioskSession) and not _is_idcard(reader):
        return client.reader(reader)
    return reader


def _is_idcard(reader: str) -> bool:
    return reader == IDCARD_PATIENT or reader.startswith(IDCARD_PATIENT + ":")


async def card_view(
    services: Services, reader: str, card_id: str | None = None, *, client: ApiClient
) -> CardView:
    reader = reader_of(client, reader)
    try:
        return services.manager.card(reader, card_id=card_id)
    except ServiceError as exc:
        if exc.code != "card_not_ready":
            raise
    # Inserted a moment ago: wait for the identity read (a thread: the wait blocks).
    return await anyio.to_thread.run_sync(
        lambda: services.manager.card(reader, wait=services.card_timeout, card_id=card_id)
    )


async def patient_of(
    services: Services, reader: str, card_id: str | None, *, client: ApiClient
) -> tuple[CardView, Patient]:
    """The patient of the card in *reader* (its identity, read at insertion): the hospital services
    never take a typed ID number. With ``reader=idcard[:NAME]`` the patient is the person on the ID card
    lying on that ID-card reader (a patient without a health card): *card_id* names its placing."""
    if _is_idcard(reader):
        return _idcard_patient(services, reader, card_id)
    view = await card_view(services, reader, card_id, client=client)
    number = view.identity.issuer.card_number if view.identity.issuer else None
    name = view.identity.cardholder.name if view.identity.cardholder else None
    try:
        return view, Patient(number or "", (name or "").strip())
    except ValueError:
        raise ServiceError("invalid_card_data", "the card carries no usable card number and name") from None


def placed_idcard(services: Services, reader: str, card_id: str | None) -> tuple[str, str, IdCardPerson]:
    """The ID card lying on *reader* (``idcard[:NAME]``): the reader's name, this placing's id and the
    person; ``card_changed`` when *card_id* names another placing."""
    monitor = services.idcard
    if monitor is None:
        raise ServiceError("idcard_unavailable", "no ID-card reader is configured for this daemon")
    try:
        name, placed_id, person = monitor.placed(reader.partition(":")[2] or None)
    except CardserviceError as exc:
        raise api_error(exc) from None
    if card_id is not None and card_id != placed_id:
        raise ServiceError("card_changed", "another ID card lies on the reader now", reader=name)
    return name, placed_id, person


def _idcard_patient(services: Services, reader: str, card_id: str | None) -> tuple[CardView, Patient]:
    name, placed_id, person = placed_idcard(services, reader, card_id)
    resident = person.card_type in (IdCardType.RESIDENT, IdCardType.HMT_RESIDENCE_PERMIT)
    identity = Identity(
        issuer=IssuerData(card_number=person.id_number),
        cardholder=Cardholder(
            name=person.name, sex=int(person.sex_code) if person.sex_code.isdigit() else None,
            birth_date=person.birth_date, id_number=person.id_number if resident else None,
        ),
        validity=CardValidity(),
    )  # fmt: skip
    masked = person.masked_number
    view = CardView(f"{IDCARD_PATIENT}:{name}", placed_id, b"", IDCARD_PATIENT, identity, masked)
    try:
        return view, Patient(person.id_number, person.name.strip())
    except ValueError:  # a number of another form (the 15-character foreign permanent residence card)
        raise ServiceError("idcard_unsupported", "the hospital needs an 18-character ID number") from None


# -- blocking services and the audit ---------------------------------------------------------------------


async def call_service(operation: Callable[[], T]) -> T:
    """Run a blocking service call (HIS, payments, print queue: database or network) on a worker thread;
    its errors become the API's (:func:`cardservice.api._errors.api_error`)."""
    try:
        return await anyio.to_thread.run_sync(operation)
    except CardserviceError as exc:
        raise api_error(exc) from None


def client_address(request: Request) -> str:
    peer = request.client
    agent = request.headers.get("user-agent", "")[:60]
    return f"{peer.host if peer else '?'} {agent}".strip()


async def audit_access(
    request: Request,
    client: ApiClient,
    action: str,
    result: str,
    *,
    card: str | None,
    target: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    services = services_of(request)
    try:
        await anyio.to_thread.run_sync(
            lambda: services.audit(
                actor=client.name,
                client=client_address(request),
                action=action,
                result=result,
                card=card,
                target=target,
                detail=detail,
            )
        )
    except Exception:
        # An access that cannot be audited must not be answered.
        log.exception("audit record failed for %s", action)
        raise ServiceError("internal_error", "the access could not be audited; refused") from None


async def audited(
    request: Request,
    client: ApiClient,
    action: str,
    operation: Callable[[], T],
    *,
    card: str | None,
    target: str | None,
    result: Callable[[T], str] = lambda value: "ok",
    detail: Callable[[T], dict[str, Any] | None] = lambda value: None,
    target_of: Callable[[T], str | None] | None = None,
) -> T:
    """A blocking service call, audited whatever its outcome: the error code, or *result* of its value
    (with *target*, or what *target_of* names in the value, e.g. the order made)."""
    try:
        value = await call_service(operation)
    except ServiceError as exc:
        await audit_access(request, client, action, exc.code, card=card, target=target)
        raise
    done = target_of(value) if target_of is not None else target
    await audit_access(request, client, action, result(value), card=card, target=done, detail=detail(value))
    return value
