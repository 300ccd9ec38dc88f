"""Running the issuance service: open the database (migrated), the key store, the registry and the audit log
from its settings, serve the app with uvicorn until SIGINT/SIGTERM; and its command line::

    python -m cardservice.issuance_service [--home DIR] [--config FILE] serve
    python -m cardservice.issuance_service [--home DIR] token create NAME     a kiosk's key (scope issuer)
    python -m cardservice.issuance_service [--home DIR] token revoke NAME
    card-issuer [--home DIR] serve                                            the same service

A kiosk's key is shown once; the kiosk takes it from the environment variable its ``[issuance]``
``token_env`` names.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

from cardservice.access import ApiKeys, AuditLog, Blacklist, Scope
from cardservice.errors import CardserviceError
from cardservice.issuance import BankIssuer, ContentCipher, IssuerProfile, IssuerSetup, Registry
from cardservice.issuance_service._app import IssuanceService, create_app
from cardservice.issuance_service._settings import ServiceSettings, load_service_settings, transport_keys
from cardservice.keys import KeyStore, SoftwareSam
from cardservice.store import Database, open_database

__all__ = ["main", "open_service", "serve", "serve_command"]

log = logging.getLogger("cardservice.issuance_service")
PROGRAM = "cardservice-issuance"


def _bank(settings: ServiceSettings, store: KeyStore) -> BankIssuer | None:
    if not settings.bank:
        return None
    bank = BankIssuer.from_keystore(store)
    if bank.oda_key is not None and not settings.bank_oda:
        # The ICC's private key would travel in clear through the kiosk (see ServiceSettings.bank_oda).
        return BankIssuer(bank.master_keys, bank.scheme, None, bank.bin)
    return bank


@contextlib.contextmanager
def open_service(settings: ServiceSettings, *, database: Database | None = None) -> Iterator[IssuanceService]:
    """The service over *settings* (its database unless *database* is given), closed on exit."""
    with contextlib.ExitStack() as parts:
        if database is None:
            database = open_database(settings.database)
            parts.callback(database.close)
        passphrase = os.environ.get(settings.keystore_passphrase_env)
        if passphrase is None:
            raise CardserviceError(f"keystore: ${settings.keystore_passphrase_env} is not set")
        try:
            store = KeyStore.open(settings.keystore_path, passphrase)
        except OSError as exc:
            raise CardserviceError(f"keystore {settings.keystore_path}: {exc.strerror or exc}") from None
        keys = ApiKeys(database)
        parts.callback(keys.close)
        audit = AuditLog.for_home(database, settings.home)
        parts.callback(audit.close)
        setup = IssuerSetup(
            registry=Registry(database, ContentCipher.from_keystore(store)), blacklist=Blacklist(database),
            keystore=store, sam=SoftwareSam(store), transport=transport_keys(settings, store),
            issuer=IssuerProfile(issuer_name=settings.issuer_name, issuer_code=settings.issuer_code),
            bank=_bank(settings, store),
        )  # fmt: skip
        yield IssuanceService(
            setup, keys.authenticate, audit.record, card_fee_fen=settings.card_fee_fen,
            answer_timeout=settings.answer_timeout, claim_wait=settings.answer_timeout + 5,
        )  # fmt: skip


def _stopped(signum: int, frame: FrameType | None) -> None:
    """The signal uvicorn raises again once it has shut down: the stop is already under way."""


def serve(settings: ServiceSettings, *, announce: Callable[[str], None] = print) -> int:
    """Run the service until it is told to stop; the exit status."""
    import uvicorn

    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open_service(settings) as service:
        tls = settings.tls_certificate is not None
        config = uvicorn.Config(
            create_app(service), host=settings.host, port=settings.port, log_config=None, access_log=False,
            lifespan="off", ws="websockets-sansio", ws_max_size=64 * 1024, proxy_headers=False,
            timeout_graceful_shutdown=5,
            ssl_certfile=str(settings.tls_certificate) if tls else None,
            ssl_keyfile=str(settings.tls_private_key) if tls else None,
        )  # fmt: skip
        server = uvicorn.Server(config)
        scheme = "wss" if tls else "ws"
        bank = "with the bank application" if service.setup.bank is not None else "health only"
        announce(f"issuance service {scheme}://{settings.host}:{settings.port}/v1/issuances/relay ({bank})")
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again with the handlers it
        # found: with these, that lets the key store, the audit log and the database close (as the daemon).
        previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            server.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return 0 if server.started else 1


# -- the command line ---------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROGRAM, description="The issuance service: kiosks issue cards")
    parser.add_argument("--home", type=Path, help="data directory ($CARDSERVICE_ISSUANCE_HOME)")
    parser.add_argument("--config", type=Path, help="configuration file (default HOME/issuance-service.toml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("serve", help="run the service")
    token = commands.add_parser("token", help="kiosks' keys (scope issuer)")
    token.add_argument("action", choices=("create", "revoke"))
    token.add_argument("name", help="the kiosk's name (its cards' station is kiosk:NAME)")
    return parser


def _token(settings: ServiceSettings, action: str, name: str) -> int:
    database = open_database(settings.database)
    keys = ApiKeys(database)
    try:
        if action == "create":
            _, token = keys.create(name, [Scope.ISSUER], created_by=os.environ.get("USER", PROGRAM))
            print(token)
        else:
            keys.revoke(name)
            print(f"revoked the key of {name}")
    finally:
        keys.close()
        database.close()
    return 0


def serve_command(home: Path | None, config: Path | None) -> int:
    """``card-issuer [--home DIR] serve [--config FILE]``: the service, *home* its data directory."""
    return main(
        [*(["--home", str(home)] if home else []), *(["--config", str(config)] if config else []), "serve"]
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_service_settings(home=args.home, config_file=args.config)
        logging.getLogger().setLevel(settings.log_level)
        if args.command == "token":
            return _token(settings, args.action, args.name)
        return serve(settings)
    except CardserviceError as exc:
        print(f"{PROGRAM}: {exc}", file=sys.stderr)
        return 2
