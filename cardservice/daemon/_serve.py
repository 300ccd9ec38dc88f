"""``cardservice serve``: assemble the daemon from its configuration — database, access control, readers,
HIS, payments, print queue, the API — and run uvicorn until SIGINT/SIGTERM, then take it apart in the
reverse order.

Devices come from drivers by their configured ``kind`` (:mod:`cardservice.plugins`). ``--demo`` adds the
embedded default (:class:`~cardservice.daemon._demo.Demo`, from the ``cardservice.demo`` entry point):
virtual card and PSAM, a printer and an acquirer, the demo patient's data; each only where the
configuration has none.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import hmac
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

from cardservice import plugins
from cardservice.access import ApiKeys, AuditLog, Blacklist
from cardservice.daemon._config import Settings
from cardservice.daemon._demo import Demo
from cardservice.daemon._logging import configure_logging
from cardservice.daemon._terminals import bankcard_method, qrcode_secret, qrcode_token
from cardservice.errors import CardError
from cardservice.readers import ReaderBackend, ReaderBinding, ReaderManager, ReservedReader, load_profiles
from cardservice.store import Database, open_database

__all__ = ["serve"]

log = logging.getLogger("cardservice.daemon")

_DAEMON_ACTOR = "cardservice"


def _software_sams(settings: Settings, bindings: list[ReaderBinding]) -> dict[int, Any]:
    from cardservice.keys import KeyStore, SoftwareSam, keystore_passphrase

    sams: dict[int, Any] = {}
    for index, binding in enumerate(bindings):
        if binding.keystore is None:
            continue
        path = binding.keystore if binding.keystore.is_absolute() else settings.home / binding.keystore
        try:
            sams[index] = SoftwareSam(KeyStore.open(path, keystore_passphrase(path)))
        except OSError as exc:
            raise CardError(f"key store {path}: {exc.strerror or exc.__class__.__name__}") from None
    return sams


def _sam_pins(bindings: list[ReaderBinding], known: Mapping[str, str]) -> dict[int, str]:
    """Each binding's SAM PIN: from the variable its ``sam_pin_env`` names, else one the demo knows."""
    pins: dict[int, str] = {}
    for index, binding in enumerate(bindings):
        if binding.sam_pin_env:
            value = os.environ.get(binding.sam_pin_env)
            if value is None:
                raise CardError(f"readers[{index}].sam_pin_env: ${binding.sam_pin_env} is not set")
            pins[index] = value
        elif binding.sam is not None and binding.sam in known:
            pins[index] = known[binding.sam]
    return pins


def _reader_backends(settings: Settings, demo: Demo | None) -> list[ReaderBackend]:
    """One backend per reader kind the configuration names (PC/SC when it names none)."""
    brought = dict(demo.reader_backends()) if demo is not None else {}
    kinds = list(dict.fromkeys(entry.kind for entry in settings.readers)) or ["pcsc"]
    backends: list[ReaderBackend] = []
    for kind in kinds:
        backend = brought.get(kind)
        backends.append(backend if backend is not None else plugins.load(plugins.READER_BACKENDS, kind)())
    return backends


def _reader_manager(
    settings: Settings,
    database: Database,
    audit_log: AuditLog,
    demo: Demo | None,
    on_event: Callable[..., None],
) -> ReaderManager:
    blacklist = Blacklist(database)
    bindings = [entry for entry in settings.readers if isinstance(entry, ReaderBinding)]
    reserved = [entry for entry in settings.readers if isinstance(entry, ReservedReader)]
    if settings.issuance is not None and settings.issuance.reader not in {entry.reader for entry in reserved}:
        reserved.append(ReservedReader(reader=settings.issuance.reader, role="issuer"))  # the dispenser's

    def daemon_audit(**fields: Any) -> None:
        audit_log.record(actor=_DAEMON_ACTOR, **fields)

    def refusal(card_number: str, issuance_serial: str | None) -> str | None:
        entry = blacklist.lookup(card_number, issuance_serial)
        return None if entry is None else (entry.reason or "blacklisted")

    return ReaderManager(
        _reader_backends(settings, demo),
        bindings=bindings,
        reserved=reserved,
        profiles=load_profiles(settings.card_profiles),
        software_sams=_software_sams(settings, bindings),
        sam_pins=_sam_pins(bindings, demo.sam_pins() if demo is not None else {}),
        blacklist=refusal,
        trusted_signers=settings.trusted_signers,
        on_event=on_event,
        audit=daemon_audit,
    )


def _his(settings: Settings, database: Database) -> Any:
    """The HIS connector: a hospital's HIS over HTTPS when ``his_url`` is configured, else the embedded
    reference HIS in the daemon's own database (seeded: departments, doctors, a week of slots)."""
    from cardservice.his import HttpHis, HttpHisConfig, open_embedded_his

    if settings.his_url:
        token = os.environ.get(settings.his_token_env) if settings.his_token_env else None
        return HttpHis(HttpHisConfig(settings.his_url, token=token))
    return open_embedded_his(database)


def _payments(
    settings: Settings, database: Database, his: Any, audit: Callable[..., Any], readers: Any
) -> Any:
    """The payments service over the configured methods (prepaid account and cash desk in the ledger;
    the card gateway at ``payment_gateway_url``). Unfinished payments older than
    ``payment_recovery_min_age`` are resolved here, before the API answers (by asking their payment
    method); younger ones may still be in flight in another daemon on the same database, and a sweep in the
    background takes them once they are that old."""
    from cardservice.payments import Ledger, Payments, payment_methods

    token = None
    if settings.payment_gateway_token_env:
        token = os.environ.get(settings.payment_gateway_token_env, "").strip()
        if not token:
            raise CardError(f"payment_gateway_token_env: ${settings.payment_gateway_token_env} is not set")
    ledger = Ledger(database)
    methods = payment_methods(
        settings.offered_payment_methods,
        ledger,
        gateway_url=settings.payment_gateway_url,
        gateway_token=token,
        gateway_timeout=settings.payment_gateway_timeout,
        qrcode_url=settings.payment_qrcode_url,
        qrcode_secret=qrcode_secret(settings),
        qrcode_token=qrcode_token(settings),
        qrcode_notify_url=settings.payment_qrcode_notify_url,
        qrcode_lifetime=settings.payment_qrcode_lifetime,
        bankcard=bankcard_method(settings, database, readers),
    )
    payments = Payments(database, his, methods, ledger=ledger, audit=audit)
    min_age = settings.payment_recovery_min_age
    report = payments.recover(min_age=_dt.timedelta(seconds=min_age))
    if report.resolved or report.unresolved:
        log.warning(
            "payments recovery: %d unfinished orders resolved, %d still in doubt",
            len(report.resolved),
            len(report.unresolved),
        )
    payments.start_recovery(min_age=min_age, interval=max(1.0, min(30.0, min_age / 2)))
    return payments


def _print_queue(
    settings: Settings, database: Database, audit: Callable[..., Any], on_event: Callable[..., None]
) -> Any:
    """The print queue over the configured printers, or ``None`` without printers. Jobs a killed daemon
    left half-sent fail as interrupted when it starts."""
    from cardservice.printing import PrintQueue

    printers = settings.receipt_printers  # made by their drivers (cardservice.printers entry points)
    if not printers:
        return None
    # Ties a job to its card across restarts (a reprint needs the same card); derived, not stored.
    holder_key = hmac.new(AuditLog.key_from_home(settings.home), b"print-holder", hashlib.sha256).digest()
    queue = PrintQueue(database, printers, audit=audit, station=settings.print_station, holder_key=holder_key,
                       max_hold=settings.print_hold_minutes * 60, on_event=on_event)  # fmt: skip
    queue.start()
    return queue


def _idcard_monitor(settings: Settings, on_event: Callable[..., None]) -> Any:
    """The ID-card readers' monitor (it polls each on a thread of its own once started), or ``None``
    without readers."""
    from cardservice.idcard import IdCardMonitor

    readers = settings.id_card_readers  # made by their drivers (cardservice.idcard_readers entry points)
    if not readers:
        return None
    return IdCardMonitor(readers, on_event=on_event)


def _issuance(settings: Settings, parts: contextlib.ExitStack) -> Any:
    """The kiosk's relay to the issuance service (``[issuance]``), or ``None``. What a killed daemon left at
    the dispenser's read position is settled in the background now (and before every issuance anyway)."""
    import threading

    from cardservice.daemon._issuance import kiosk_relay
    from cardservice.issuance import IssuanceFailed

    if settings.issuance is None:
        return None
    relay = kiosk_relay(settings.issuance, announce=log.info)
    parts.callback(relay.close)

    def settle() -> None:
        try:
            for note in relay.settle():
                log.info("issuance: %s", note)
        except IssuanceFailed as exc:
            log.warning("issuance: could not settle the dispenser at start: %s [%s]", exc, exc.code)

    threading.Thread(target=settle, name="issuance-settle", daemon=True).start()
    return relay


_DEMO_LAUNCH_LIFETIME = 600.0  # the demo's kiosk link: time to open a browser; a real launcher takes 30 s


def _stopped(signum: int, frame: FrameType | None) -> None:
    """The signal uvicorn raises again once it has shut down: the stop is already under way."""


def serve(settings: Settings, *, demo: bool = False, announce: Callable[[str], None] = print) -> int:
    """Run the daemon until it is told to stop; the exit status."""
    import uvicorn

    from cardservice.api import EventHub, KioskSettings, RateLimiter, Services, create_app

    configure_logging(settings)
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.ExitStack() as parts:  # taken apart in reverse order, however serve() ends
        extras: Demo | None = None
        if demo:
            extras = plugins.load(plugins.DEMO, "default")(settings.home, announce)
            parts.callback(extras.close)
            settings = extras.configure(settings)
        database = open_database(settings.database)
        parts.callback(database.close)
        audit_log = AuditLog.for_home(database, settings.home)  # its anchor beside audit.key
        parts.callback(audit_log.close)  # the last anchor written, after everything that audits has stopped
        keys = ApiKeys(database)
        parts.callback(keys.close)
        hub = EventHub()
        manager = _reader_manager(settings, database, audit_log, extras, hub.publish)
        his = _his(settings, database)
        payments = _payments(settings, database, his, audit_log.record, manager)
        parts.callback(payments.stop_recovery)
        if extras is not None:
            extras.seed(database, payments)
        print_queue = _print_queue(settings, database, audit_log.record, hub.publish)
        if print_queue is not None:
            parts.callback(print_queue.stop)  # a ticket being sent is finished first
        idcards = _idcard_monitor(settings, hub.publish)
        issuance = _issuance(settings, parts)
        top_ups = tuple(settings.kiosk.top_up_amounts_fen)
        services = Services(
            manager=manager,
            authenticate=keys.authenticate,
            authenticate_cached=keys.cached,
            key_active=lambda client: keys.is_active(client.id),  # tickets and open streams re-check it
            audit=audit_log.record,
            hub=hub,
            limiter=RateLimiter(settings.rate_limit.per_second, settings.rate_limit.burst),
            card_timeout=settings.card_timeout,
            his=his,
            payments=payments,
            payment_policy=settings.payment_policy,
            print_queue=print_queue,
            idcard=idcards,
            issuance=issuance,
            hospital_name=settings.hospital_name,
            kiosk=KioskSettings(**{**settings.kiosk.model_dump(), "top_up_amounts_fen": top_ups}),
        )
        keys.on_revoke(services.key_revoked)  # a key revoked here closes its streams at once
        app = create_app(
            services, port=settings.port, allowed_hosts=settings.allowed_hosts,
            allowed_origins=settings.allowed_origins,
        )  # fmt: skip
        tls = settings.tls_certificate is not None
        config = uvicorn.Config(
            app, host=settings.host, port=settings.port, log_config=None, access_log=False, lifespan="on",
            timeout_graceful_shutdown=3,
            # The peer is the client: X-Forwarded-For from a local program must not become the audit's
            # client address (uvicorn trusts it from 127.0.0.1 by default).
            proxy_headers=False,
            ssl_certfile=str(settings.tls_certificate) if tls else None,
            ssl_keyfile=str(settings.tls_private_key) if tls else None,
        )  # fmt: skip
        server = uvicorn.Server(config)
        demo_token = extras.api_key(keys) if extras is not None else None  # before notes(): it adds to them
        manager.start()
        parts.callback(manager.stop)
        if idcards is not None:
            idcards.start()
            parts.callback(idcards.stop)  # the person read is forgotten with it
        scheme = "https" if tls else "http"
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
        url = f"{scheme}://{host}:{settings.port}"
        lines = [
            f"cardservice {url}  (API docs {url}/docs, OpenAPI {url}/openapi.json)",
            f"data directory {settings.home}; database {database.url}",
            f"readers via {manager.backend_kinds}",
        ]
        if idcards is not None:
            lines.append(f"ID-card readers: {', '.join(idcards.names)}")
        kiosk_key = extras.kiosk_key() if extras is not None else None
        kiosk_client = keys.authenticate(kiosk_key) if kiosk_key else None
        if kiosk_client is not None:
            launch = services.kiosk_sessions.launch_token(kiosk_client, (), _DEMO_LAUNCH_LIFETIME)
            lines += [
                f"kiosk (the patient screen, 1080x1920 portrait): {url}/kiosk/launch?token={launch}",
                "  open it once, within 10 min, in a browser on this machine; a new link: "
                "scripts/kiosk-launcher --demo --print-url",
            ]
        lines += extras.notes() if extras is not None else []
        if demo_token is not None:
            lines += [
                f"demo API key (scope his: full identity, health data, writes): {demo_token}",
                f"  curl -H 'Authorization: Bearer {demo_token}' {url}/v1/readers/default/card/identity",
            ]
        for line in lines:
            announce(line)
        # uvicorn handles SIGINT/SIGTERM with a graceful shutdown, then restores the handlers it found and
        # raises the signal again. With Python's defaults that would kill the process on SIGTERM before the
        # cleanup (readers, a ticket being printed, children, database) and print a KeyboardInterrupt
        # traceback on Ctrl-C: the handlers it finds are these, which let the cleanup run.
        previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
        parts.callback(lambda: [signal.signal(sig, handler) for sig, handler in previous.items()])
        started = time.monotonic()
        server.run()
    log.info("stopped after %.0f s", time.monotonic() - started)
    return 0 if server.started or not server.should_exit else 1
