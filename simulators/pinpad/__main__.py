"""``python -m simulators.pinpad``: a virtual encrypting PIN pad on a pty, until interrupted.

    python -m simulators.pinpad --link /tmp/pinpad [--control /tmp/pinpad.ctl] [--auto-pin 123456] [--no-key]
    python -m simulators.pinpad ctl --control /tmp/pinpad.ctl type 1234 | backspace | clear | enter | cancel
    python -m simulators.pinpad ctl --control /tmp/pinpad.ctl timeout | status | auto 123456 | auto none
    python -m simulators.pinpad ctl --control /tmp/pinpad.ctl fault garble [--times 1] | fault none

It prints ``pty PATH``, ``link PATH`` and ``control PATH`` (the daemon's ``device`` is the link), then one
line per change — digit counts, never digits. The pad holds the DEMO master key and, in slot 0, the demo
bank's TPK (``--no-key``: an empty slot, to load one).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from drivers.feeders import ControlError, send_control
from simulators._ptyport import serve
from simulators.pinpad._control import ControlSocket
from simulators.pinpad._device import FAULTS, VirtualPinPad
from simulators.pinpad._pty import PtyPinPad

__all__ = ["main"]


def _ctl(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.pinpad ctl")
    parser.add_argument("--control", required=True, help="the simulator's control socket")
    commands = parser.add_subparsers(dest="cmd", required=True)
    for name in ("status", "backspace", "clear", "enter", "cancel", "timeout"):
        commands.add_parser(name)
    commands.add_parser("type").add_argument("digits")
    commands.add_parser("auto").add_argument("pin", help="4-12 digits, or 'none'")
    fault = commands.add_parser("fault")
    fault.add_argument("fault", choices=[*FAULTS, "none"])
    fault.add_argument("--times", type=int, help="for this many frames (default: until 'fault none')")
    args = parser.parse_args(argv)
    request: dict[str, object] = {"cmd": args.cmd}
    if args.cmd == "type":
        request["digits"] = args.digits
    elif args.cmd == "auto":
        request["pin"] = None if args.pin == "none" else args.pin
    elif args.cmd == "fault":
        request.update(fault=args.fault, **({"times": args.times} if args.times else {}))
    try:
        reply = send_control(args.control, request)
    except ControlError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(json.dumps(reply, ensure_ascii=False))
    return 0 if reply.get("ok") else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ctl"]:
        return _ctl(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m simulators.pinpad", description=__doc__.splitlines()[0])
    parser.add_argument("--link", required=True, help="a symlink to the pty's slave, made here (the device)")
    parser.add_argument("--control", help="the control socket (default: LINK.ctl)")
    parser.add_argument("--auto-pin", help="type this PIN and Enter at every entry (unattended demos)")
    parser.add_argument("--no-key", action="store_true", help="start with no working key in slot 0")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the line (never a digit or key)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")

    pad = VirtualPinPad(demo_key=not args.no_key)
    if args.auto_pin is not None:
        if not (args.auto_pin.isascii() and args.auto_pin.isdigit() and 4 <= len(args.auto_pin) <= 12):
            print("--auto-pin: 4 to 12 digits", file=sys.stderr)
            return 1
        pad.auto_pin = args.auto_pin

    def ready() -> None:
        pad.on_event = lambda line: print(line, flush=True)  # after the addresses: they come first

    def control() -> ControlSocket:
        try:
            return ControlSocket(args.control or f"{args.link}.ctl", pad).start()
        except ControlError as exc:
            raise OSError(str(exc)) from None

    return serve(PtyPinPad(pad, link=args.link), control, ready)


if __name__ == "__main__":
    sys.exit(main())
