"""``python -m simulators.acquirer --port N --database sqlite:///PATH [--mode approve|decline|timeout]
[--token-env NAME] [--qr-secret-env NAME] [--qr-notify-url URL]``: serve the simulated acquirer on 127.0.0.1
until interrupted (change the fault mode with POST /control). With ``--token-env``, terminals must present
the token that variable holds (it is read from the environment, never from the command line, which other
users can see). QR-code payments are notified to ``--qr-notify-url`` (the daemon's
``/v1/payments/qrcode/notify``), signed with the secret ``--qr-secret-env`` names. With ``--iso-port N``
it also serves ISO 8583 on TCP port N (0: any free port; the line ``acquirer iso8583: HOST:PORT`` says which)
to the simulated issuer, in the same database; its controls are under ``/iso`` (``_iso_control``)."""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from simulators.acquirer._app import Faults, create_app
from simulators.acquirer._iso_control import iso_control_router
from simulators.acquirer._iso_server import IsoAcquirerServer
from simulators.acquirer._iso_store import IsoStore
from simulators.acquirer._issuer import Issuer
from simulators.acquirer._qr import QrSettings
from simulators.acquirer._store import AcquirerStore

__all__ = ["main"]


def _path(url: str) -> str:
    if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
        raise argparse.ArgumentTypeError("expected sqlite:///PATH")
    return url.removeprefix("sqlite:///")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.acquirer", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", type=_path, required=True, metavar="sqlite:///PATH")
    parser.add_argument("--mode", choices=("approve", "decline", "timeout"), default="approve")
    parser.add_argument("--delay", type=float, default=2.0, help="seconds before a timeout-mode answer")
    parser.add_argument(
        "--token-env", metavar="NAME", help="environment variable holding the terminals' bearer token"
    )
    parser.add_argument(
        "--qr-secret-env", metavar="NAME", help="environment variable holding the QR notifications' secret"
    )
    parser.add_argument("--qr-notify-url", metavar="URL", help="where QR-code payments are notified")
    parser.add_argument("--iso-port", type=int, metavar="N", help="also serve ISO 8583 on this TCP port")
    args = parser.parse_args(argv)
    qr = QrSettings(notify_url=args.qr_notify_url)
    if args.qr_secret_env:
        secret = os.environ.get(args.qr_secret_env, "").strip()
        if not secret:
            parser.error(f"--qr-secret-env: ${args.qr_secret_env} is not set")
        qr.secret = secret.encode()
    token = None
    if args.token_env:
        token = os.environ.get(args.token_env, "").strip()
        if not token:
            parser.error(f"--token-env: ${args.token_env} is not set")
    store = AcquirerStore(args.database)
    app = create_app(store, Faults(mode=args.mode, delay=args.delay), token=token, qr=qr)
    iso: IsoAcquirerServer | None = None
    if args.iso_port is not None:
        iso = IsoAcquirerServer(Issuer(IsoStore(args.database)), host=args.host, port=args.iso_port).start()
        app.include_router(iso_control_router(iso))
        print(f"acquirer iso8583: {iso.address[0]}:{iso.address[1]}", flush=True)
    print(f"acquirer: http://{args.host}:{args.port} ({args.mode})", flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    finally:
        if iso is not None:
            iso.stop()
            iso.issuer.store.close()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
