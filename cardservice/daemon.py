"""``cardservice serve``: wire configuration, database, audit log, API keys, readers and the API, then run
uvicorn until SIGINT/SIGTERM.

``--demo`` is the embedded default ``make run`` uses: virtual health card and virtual PSAM made by
``card-sim`` in ``$CARDSERVICE_HOME/sim``, served to pcscd through vpcd by a ``card-sim serve`` child
process, bound as card reader ``cardservice-vpcd 00 00`` with SAM ``cardservice-vpcd 00 01``; a fresh
demo API key (scope ``his``) printed at start. Where pcscd cannot be reached the same cards run
in-process instead, and the daemon says so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from cardservice.config import ReaderBinding, Settings
from cardservice.errors import CardError

__all__ = ["DEMO_BINDING", "configure_logging", "serve"]

log = logging.getLogger("cardservice.daemon")

DEMO_CARD_READER = "cardservice-vpcd 00 00"
DEMO_SAM_READER = "cardservice-vpcd 00 01"
DEMO_BINDING = ReaderBinding(card=DEMO_CARD_READER, sam=DEMO_SAM_READER)
DEMO_VPCD = "localhost:40000"
DEMO_SAM_VPCD = "localhost:40001"
_DAEMON_ACTOR = "cardservice"


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: easy for journald, logrotate and log shippers alike."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _not_escpos_chatter(record: logging.LogRecord) -> bool:
    """python-escpos logs every printer connection opened and closed on the root logger at INFO (a line a
    second while a printer is polled for its paper); its warnings and errors still pass."""
    return not (record.name == "root" and record.levelno < logging.WARNING and f"{os.sep}escpos{os.sep}"
                in record.pathname)  # fmt: skip


def configure_logging(settings: Settings) -> None:
    handler: logging.Handler
    if settings.log_file is not None:
        settings.log_file.parent.mkdir(parents=True, exist_ok=True)
        # WatchedFileHandler reopens the file after logrotate moved it (no copytruncate needed).
        handler = logging.handlers.WatchedFileHandler(settings.log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    handler.addFilter(_not_escpos_chatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # uvicorn's access log would repeat every path; request metrics and the audit log cover it.
    logging.getLogger("uvicorn.access").disabled = True
    # One line per HIS/acquirer request: the audit has them.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _pcscd_reachable() -> bool:
    from cardservice.errors import ServiceUnavailableError
    from cardservice.transport import list_readers

    try:
        list_readers()
    except ServiceUnavailableError:
        return False
    return True


@dataclass
class _Demo:
    card_image: Path
    sam_image: Path
    child: subprocess.Popen[bytes] | None = None


def _demo_images(home: Path) -> _Demo:
    import simulators.health  # noqa: F401 - registers the health and sam profiles
    from simulators.cardos import create_image

    sim = home / "sim"
    sim.mkdir(parents=True, exist_ok=True)
    demo = _Demo(sim / "card.json", sim / "sam.json")
    if not demo.card_image.exists():
        create_image(demo.card_image, "health")
    if not demo.sam_image.exists():
        create_image(demo.sam_image, "sam")
    return demo


def _start_card_sim(demo: _Demo) -> None:
    command = [
        sys.executable, "-m", "simulators.cli", "serve", "--vpcd", DEMO_VPCD, str(demo.card_image),
        "--sam-vpcd", DEMO_SAM_VPCD, str(demo.sam_image),
    ]  # fmt: skip
    demo.child = subprocess.Popen(  # noqa: S603
        command, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
    )


def _die_with_parent() -> None:
    """In a child (card-sim, acquirer, demo printer): SIGTERM when the daemon dies, however it dies."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop_child(demo: _Demo | None) -> None:
    if demo is None or demo.child is None:
        return
    demo.child.terminate()
    try:
        demo.child.wait(5)
    except subprocess.TimeoutExpired:
        demo.child.kill()


def _software_sams(settings: Settings) -> dict[int, Any]:
    from cardservice.keys import KeyStore, SoftwareSam
    from cardservice.secret_input import keystore_passphrase

    sams: dict[int, Any] = {}
    for index, binding in enumerate(settings.readers):
        if binding.keystore is None:
            continue
        path = binding.keystore if binding.keystore.is_absolute() else settings.home / binding.keystore
        try:
            sams[index] = SoftwareSam(KeyStore.open(path, keystore_passphrase(path)))
        except OSError as exc:
            raise CardError(f"key store {path}: {exc.strerror or exc.__class__.__name__}") from None
    return sams


def _sam_pins(bindings: list[ReaderBinding], demo: bool) -> dict[int, str]:
    pins: dict[int, str] = {}
    for index, binding in enumerate(bindings):
        if binding.sam_pin_env:
            value = os.environ.get(binding.sam_pin_env)
            if value is None:
                raise CardError(f"readers[{index}].sam_pin_env: ${binding.sam_pin_env} is not set")
            pins[index] = value
        elif demo and binding == DEMO_BINDING:
            from simulators.health import DEMO_SAM_PIN

            pins[index] = DEMO_SAM_PIN  # the demo PSAM's published PIN, so signed records work in the demo
    return pins


def _demo_key(keys: Any) -> str:
    """A fresh demo key each start (the plaintext is shown once and not stored)."""
    with contextlib.suppress(Exception):
        keys.revoke("demo")
    from cardservice.tokens import Scope

    _, token = keys.create("demo", [Scope.HIS], created_by=_DAEMON_ACTOR)
    return str(token)


def _his(settings: Settings, database: Any) -> Any:
    """The HIS connector: a hospital's HIS over HTTPS when ``his_url`` is configured, else the embedded
    reference HIS in the daemon's own database (seeded: departments, a week of slots, demo data)."""
    from cardservice.his import HttpHis, HttpHisConfig, open_embedded_his

    if settings.his_url:
        token = os.environ.get(settings.his_token_env) if settings.his_token_env else None
        return HttpHis(HttpHisConfig(settings.his_url, token=token))
    return open_embedded_his(database)


DEMO_PREPAID_TOP_UP_FEN = 50_000  # the demo patient starts with ¥500 on the prepaid account


def _start_acquirer(home: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """The demo's bank: simulators.acquirer in a child process (its own SQLite in HOME, so what it
    approved survives the daemon being killed; it dies with the daemon)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [sys.executable, "-m", "simulators.acquirer", "--port", str(port),
               "--database", f"sqlite:///{home / 'acquirer.db'}"]  # fmt: skip
    child = subprocess.Popen(  # noqa: S603
        command, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        time.sleep(0.1)
    return f"http://127.0.0.1:{port}", child


def _payments(
    settings: Settings, database: Any, his: Any, audit: Callable[..., Any], *, demo: bool
) -> tuple[Any, subprocess.Popen[bytes] | None]:
    """The payments service: prepaid account and cash desk in the ledger, and the card gateway at
    ``payment_gateway_url`` (the demo starts a simulated acquirer). Unfinished payments of an earlier
    run are resolved here, before the API answers (by asking their payment method)."""
    from cardservice.his import Patient, demo_patient
    from cardservice.payments import CashDesk, GatewayMethod, Ledger, Payments, PrepaidAccount

    ledger = Ledger(database)
    methods: list[Any] = [PrepaidAccount(ledger), CashDesk(ledger)]
    child = None
    url = settings.payment_gateway_url
    if url is None and demo:
        url, child = _start_acquirer(settings.home)
    if url is not None:
        methods.append(GatewayMethod(url))
    payments = Payments(database, his, methods, ledger=ledger, audit=audit)
    report = payments.recover()
    if report.resolved or report.unresolved:
        log.warning(
            "payments recovery: %d unfinished orders resolved, %d still in doubt",
            len(report.resolved),
            len(report.unresolved),
        )
    patient: Patient | None = demo_patient() if demo else None
    if patient is not None:  # once per database: the key makes a restart a replay
        payments.top_up("demo-seed", "demo-prepaid-1", patient, DEMO_PREPAID_TOP_UP_FEN, "cash")
    return payments, child


DEMO_PRINTER = "demo"
DEMO_PRINTER_DIR = "printer-out"


def _start_demo_printer(home: Path) -> tuple[Any, subprocess.Popen[bytes]]:
    """The demo's receipt printer: ``python -m simulators.escpos`` in a child process on a free local port,
    writing each ticket as PNG + text into ``HOME/printer-out``. A child, not a thread, so a tester can
    take its paper away (``kill -USR1 PID``) and the daemon meets the problem as with a real printer."""
    from drivers.printers import PrinterConfig

    out = home / DEMO_PRINTER_DIR
    out.mkdir(parents=True, exist_ok=True, mode=0o700)  # tickets carry masked names and amounts
    command = [sys.executable, "-m", "simulators.escpos", "--tcp", "127.0.0.1:0", "--out", str(out)]
    child = subprocess.Popen(  # noqa: S603
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )  # fmt: skip
    assert child.stdout is not None
    line = child.stdout.readline().decode(errors="replace").strip()  # "tcp 127.0.0.1:PORT", or EOF
    host, _, port = line.removeprefix("tcp ").rpartition(":")
    if not line.startswith("tcp ") or not port.isdigit():
        child.kill()
        raise CardError(f"the demo printer did not start ({line or 'no output'})")
    return PrinterConfig(kind="network", host=host, port=int(port), timeout=5), child


def _print_queue(
    settings: Settings, database: Any, audit: Callable[..., Any], *, demo: bool
) -> tuple[Any, subprocess.Popen[bytes] | None]:
    """The print queue over the configured printers (the demo adds a virtual one when none is configured);
    ``None`` without printers. Jobs a killed daemon left half-sent fail as interrupted when it starts."""
    import hashlib
    import hmac

    from cardservice.audit import AuditLog
    from cardservice.printing import PrintQueue

    printers = settings.printer_configs
    child = None
    if not printers and demo:
        config, child = _start_demo_printer(settings.home)
        printers = {DEMO_PRINTER: config}
    if not printers:
        return None, None
    # Ties a job to its card across restarts (a reprint needs the same card); derived, not stored.
    holder_key = hmac.new(AuditLog.key_from_home(settings.home), b"print-holder", hashlib.sha256).digest()
    queue = PrintQueue(database, printers, audit=audit, station=settings.print_station, holder_key=holder_key,
                       max_hold=settings.print_hold_minutes * 60)  # fmt: skip
    queue.start()
    return queue, child


def _stopped(signum: int, frame: FrameType | None) -> None:
    """The signal uvicorn raises again once it has shut down: the stop is already under way."""


def serve(settings: Settings, *, demo: bool = False, announce: Callable[[str], None] = print) -> int:
    """Run the daemon until it is told to stop; the exit status."""
    import uvicorn

    from cardservice.api import EventHub, RateLimiter, Services, create_app
    from cardservice.audit import AuditLog
    from cardservice.blacklist import Blacklist
    from cardservice.readers import InProcessBackend, PcscBackend, ReaderBackend, ReaderManager, load_profiles
    from cardservice.store import open_database
    from cardservice.tokens import ApiKeys

    configure_logging(settings)
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    database = open_database(settings.database)
    audit_log = AuditLog(database, AuditLog.key_from_home(settings.home))
    keys = ApiKeys(database)
    blacklist = Blacklist(database)
    profiles = load_profiles(settings.card_profiles)

    bindings = list(settings.readers)
    demo_cards: _Demo | None = None
    backend: ReaderBackend
    if demo:
        demo_cards = _demo_images(settings.home)
        bindings = bindings or [DEMO_BINDING]
    pcsc = _pcscd_reachable()
    if pcsc:
        backend = PcscBackend()
        if demo_cards is not None:
            _start_card_sim(demo_cards)
    elif demo_cards is not None:
        from simulators.cardos import load_card

        backend = InProcessBackend(
            {
                DEMO_CARD_READER: load_card(demo_cards.card_image),
                DEMO_SAM_READER: load_card(demo_cards.sam_image),
            }
        )
        announce(
            "pcscd is not reachable: the demo cards run in-process instead (no PC/SC tools will see them)"
        )
        log.warning("pcscd not reachable; demo cards in-process")
    else:
        backend = PcscBackend()  # keeps trying: readers appear once pcscd is up
        log.warning("pcscd not reachable yet; waiting for it")

    hub = EventHub()

    def daemon_audit(**fields: Any) -> None:
        audit_log.record(actor=_DAEMON_ACTOR, **fields)

    def refusal(card_number: str, issuance_serial: str | None) -> str | None:
        entry = blacklist.lookup(card_number, issuance_serial)
        return None if entry is None else (entry.reason or "blacklisted")

    manager = ReaderManager(
        backend,
        bindings=bindings,
        profiles=profiles,
        software_sams=_software_sams(settings),
        sam_pins=_sam_pins(bindings, demo),
        blacklist=refusal,
        on_event=hub.publish,
        audit=daemon_audit,
    )
    his = _his(settings, database)
    payments, acquirer = _payments(settings, database, his, audit_log.record, demo=demo)
    print_queue, demo_printer = _print_queue(settings, database, audit_log.record, demo=demo)
    services = Services(
        manager=manager,
        authenticate=keys.authenticate,
        audit=audit_log.record,
        hub=hub,
        limiter=RateLimiter(settings.rate_limit.per_second, settings.rate_limit.burst),
        card_timeout=settings.card_timeout,
        his=his,
        payments=payments,
        print_queue=print_queue,
        hospital_name=settings.hospital_name,
    )
    app = create_app(
        services,
        port=settings.port,
        allowed_hosts=settings.allowed_hosts,
        allowed_origins=settings.allowed_origins,
    )
    tls = settings.tls_certificate is not None
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, access_log=False, lifespan="on",
        timeout_graceful_shutdown=3,
        ssl_certfile=str(settings.tls_certificate) if tls else None,
        ssl_keyfile=str(settings.tls_private_key) if tls else None,
    )  # fmt: skip
    server = uvicorn.Server(config)
    demo_token = _demo_key(keys) if demo else None
    manager.start()
    scheme = "https" if tls else "http"
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    url = f"{scheme}://{host}:{settings.port}"
    lines = [
        f"cardservice {url}  (API docs {url}/docs, OpenAPI {url}/openapi.json)",
        f"data directory {settings.home}; database {database.url}",
        f"readers via {backend.kind}",
    ]
    if demo_printer is not None:
        lines.append(
            f"demo printer: tickets in {settings.home / DEMO_PRINTER_DIR} (PNG + text); "
            f"kill -USR1 {demo_printer.pid} takes its paper away / puts it back"
        )
    if demo_token is not None:
        lines += [
            f"demo API key (scope his, shown once): {demo_token}",
            f"  curl -H 'Authorization: Bearer {demo_token}' {url}/v1/readers/default/card/identity",
        ]
    for line in lines:
        announce(line)
    started = time.monotonic()
    # uvicorn handles SIGINT/SIGTERM with a graceful shutdown, then restores the handlers it found and
    # raises the signal again. With Python's defaults that would kill the process on SIGTERM before the
    # cleanup below (readers, a ticket being printed, children, database) and print a KeyboardInterrupt
    # traceback on Ctrl-C: the handlers it finds are these, which let the cleanup run.
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        try:
            manager.stop()
        finally:
            if print_queue is not None:
                print_queue.stop()  # a ticket being sent is finished first
            _stop_child(demo_cards)
            for child in (acquirer, demo_printer):
                if child is not None:
                    child.terminate()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        child.wait(5)
            database.close()
        log.info("stopped after %.0f s", time.monotonic() - started)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if server.started or not server.should_exit else 1
