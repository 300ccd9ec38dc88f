"""``python -m simulators.acquirer --port N --database sqlite:///PATH [--mode approve|decline|timeout]
[--token-env NAME]``: serve the simulated acquirer on 127.0.0.1 until interrupted (change the fault mode
with POST /control). With ``--token-env``, terminals must present the token that variable holds (it is
read from the environment, never from the command line, which other users can see)."""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from simulators.acquirer._app import Faults, create_app
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
    args = parser.parse_args(argv)
    token = None
    if args.token_env:
        token = os.environ.get(args.token_env, "").strip()
        if not token:
            parser.error(f"--token-env: ${args.token_env} is not set")
    store = AcquirerStore(args.database)
    app = create_app(store, Faults(mode=args.mode, delay=args.delay), token=token)
    print(f"acquirer: http://{args.host}:{args.port} ({args.mode})", flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
