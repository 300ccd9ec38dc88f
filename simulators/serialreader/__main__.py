"""``python -m simulators.serialreader --link PATH [--port 40002] [--pidfile FILE]``: the GemPC Twin serial
reader on a pty (PATH links to its slave) with its card port on 127.0.0.1; runs until SIGTERM/SIGINT.
pcscd's reader configuration names it ``DEVICENAME PATH:GemPCTwin`` (scripts/pcscd-ctl writes it)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from simulators.serialreader._server import SerialReaderServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.serialreader", description=__doc__)
    parser.add_argument("--link", required=True, type=Path, help="where to link the pty (no ':' in it)")
    parser.add_argument("--port", type=int, default=40002, help="TCP port where a card attaches (as to vpcd)")
    parser.add_argument("--pidfile", type=Path)
    args = parser.parse_args(argv)
    if ":" in str(args.link):
        parser.error("--link: pcscd's DEVICENAME takes no ':' in the path")
    logging.basicConfig(level=logging.INFO, format="serialreader: %(message)s", stream=sys.stderr)
    server = SerialReaderServer(args.link.absolute(), args.port)
    if args.pidfile is not None:
        args.pidfile.write_text(f"{os.getpid()}\n", encoding="ascii")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: threading.Thread(target=server.stop).start())
    print(f"serial reader {args.link} card port 127.0.0.1:{server.port}", flush=True)
    try:
        server.serve()
    finally:
        server.close()
        if args.pidfile is not None:
            args.pidfile.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
