"""``python -m simulators.dispenser``: a virtual TTCE K720 card dispenser until SIGTERM / Ctrl-C.

::

    python -m simulators.dispenser --pty LINK [--vpcd HOST:PORT] [--cards N] [--dir DIR] [--low N]
                                   [--address N] [--control PATH]
    python -m simulators.dispenser ctl [--control PATH | --port N] CMD [KEY=VALUE ...]

``--pty LINK``: the symlink to the pty the host opens (``card-issuer batch --dispenser k720:LINK``);
``--vpcd``: the reader at the read position (default 127.0.0.1:40000, the project's ``cardservice-vpcd
00 00``; ``none``: no reader). ``ctl`` sends one control request (``jam at=present after=6``, ``empty``,
``refill count=8``, ``low threshold=2``, ``timeout``, ``answer``, ``dispenser``, or card-sim's
``status``, ``tear``, ...) and prints the reply; exit 1 when it is refused.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from drivers.feeders import ControlError, default_control_path, send_control
from simulators.dispenser._serve import DispenserSimulator

__all__ = ["main"]


def _endpoint(text: str) -> tuple[str, int] | None:
    if text == "none":
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT or none, got {text!r}")
    return host, int(port)


def _out(line: str) -> None:
    print(line, flush=True)


def _serve(args: argparse.Namespace) -> int:
    try:
        simulator = DispenserSimulator(
            Path(args.dir).resolve(), args.cards, link=Path(args.pty).absolute(), vpcd=args.vpcd,
            control=Path(args.control) if args.control else None, address=args.address, low=args.low,
            on_event=_out,
        )  # fmt: skip
    except (ValueError, OSError) as exc:
        _out(f"dispenser: {exc}")
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        simulator.start()
        _out(f"dispenser: {args.cards} blank card(s) in {simulator.machine.directory}")
        _out(f"serial line {simulator.line.path} ({args.pty}), address {args.address:02d}")
        if simulator.control_path is not None:
            _out(f"control socket {simulator.control_path}")
        while not stop.wait(0.5):
            pass
    except ControlError as exc:
        _out(f"dispenser: {exc}")
        return 1
    finally:
        simulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _out("dispenser stopped")
    return 0


def _value(text: str) -> object:
    return int(text) if text.isdigit() else text


def _ctl(args: argparse.Namespace) -> int:
    request: dict[str, object] = {"cmd": args.cmd}
    for item in args.fields:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"dispenser ctl: {item!r} is not KEY=VALUE")
        request[key] = _value(value)
    path = Path(args.control) if args.control else default_control_path(args.port)
    try:
        reply = send_control(path, request)
    except ControlError as exc:
        _out(f"dispenser ctl: {exc}")
        return 1
    _out(json.dumps(reply, indent=2, sort_keys=True))
    return 0 if reply.get("ok") else 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ctl"]:
        ctl = argparse.ArgumentParser(prog="python -m simulators.dispenser ctl")
        ctl.add_argument("--control", metavar="PATH", help="the control socket (default: per vpcd port)")
        ctl.add_argument("--port", type=int, default=40000, help="vpcd port of the reader (default 40000)")
        ctl.add_argument("cmd")
        ctl.add_argument("fields", nargs="*", metavar="KEY=VALUE")
        return _ctl(ctl.parse_args(argv[1:]))
    what = __doc__.splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m simulators.dispenser", description=what)
    parser.add_argument("--pty", required=True, metavar="LINK", help="symlink to the serial line (a pty)")
    parser.add_argument("--vpcd", type=_endpoint, default=("127.0.0.1", 40000), metavar="HOST:PORT")
    parser.add_argument("--cards", type=int, default=20, help="blank cards in the stack (default 20)")
    parser.add_argument("--dir", default="dispenser-cards", help="where the card images go")
    parser.add_argument("--low", type=int, default=3, help="low-stack sensor: N cards or fewer (default 3)")
    parser.add_argument("--address", type=int, default=0, choices=range(16), metavar="0..15")
    parser.add_argument("--control", metavar="PATH", help="control socket (default: card-sim's for the port)")
    return _serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
