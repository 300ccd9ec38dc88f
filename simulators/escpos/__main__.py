"""``python -m simulators.escpos``: run the virtual printer until interrupted.

SIGUSR1 toggles the paper (out / loaded), SIGUSR2 toggles the cover (open / closed)::

    python -m simulators.escpos --tcp 127.0.0.1:9100 --out /tmp/tickets &
    kill -USR1 %1     # paper out: status answers "paper end", data is discarded
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from simulators.escpos._server import PrinterHandle, VirtualPrinter

__all__ = ["main"]


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError("expected HOST:PORT, e.g. 127.0.0.1:9100")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.escpos", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tcp", type=_address, metavar="HOST:PORT", help="listen for raw TCP (port 9100 style)"
    )
    parser.add_argument("--pty", action="store_true", help="create a pseudo-terminal and print its path")
    parser.add_argument("--out", required=True, help="folder for ticket-NNNN.png / .txt")
    parser.add_argument("--paper", type=int, choices=(58, 80), default=80, help="paper width in mm")
    parser.add_argument("--paper-out", action="store_true", help="start without paper")
    parser.add_argument(
        "--chinese", action="store_true", help="start in Chinese (Kanji) mode as many Chinese printers do"
    )
    args = parser.parse_args(argv)
    if args.tcp is None and not args.pty:
        parser.error("give --tcp HOST:PORT and/or --pty")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    printer = VirtualPrinter(args.out, paper=args.paper, paper_present=not args.paper_out,
                             chinese_default=args.chinese)  # fmt: skip
    done = threading.Event()

    def toggle_paper(_signum: int, _frame: FrameType | None) -> None:
        printer.set_paper(not printer.paper_present)

    def toggle_cover(_signum: int, _frame: FrameType | None) -> None:
        printer.set_cover(not printer.cover_open)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    # Before the address is printed: whoever reads it may signal at once.
    signal.signal(signal.SIGUSR1, toggle_paper)
    signal.signal(signal.SIGUSR2, toggle_cover)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    handles: list[PrinterHandle] = []
    try:
        if args.tcp is not None:
            handles.append(printer.serve_tcp(*args.tcp))
            print(f"tcp {handles[-1].host}:{handles[-1].port}", flush=True)
        if args.pty:
            handles.append(printer.serve_pty())
            print(f"pty {handles[-1].path}", flush=True)
    except OSError as exc:
        print(f"cannot listen: {exc}", file=sys.stderr)
        for handle in handles:
            handle.stop()
        return 1

    while not done.wait(1.0):
        pass
    for handle in handles:
        handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
