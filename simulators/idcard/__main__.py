"""``python -m simulators.idcard``: a virtual ID-card reader (GA/T 467 SAM_V) on a pty, until interrupted.

    python -m simulators.idcard --link /tmp/idcard [--card resident] [--control /tmp/idcard.ctl]
    python -m simulators.idcard ctl --control /tmp/idcard.ctl place hmt-permit | remove | status
    python -m simulators.idcard ctl --control /tmp/idcard.ctl fault read_fail [--times 1] | fault none

It prints ``pty PATH``, ``link PATH`` and ``control PATH`` (the daemon's ``device`` is the link), then one
line per change. Cards: a shipped card's name (resident, hmt-permit, foreign-permanent,
foreign-permanent-2023: synthetic people) or a card file's path.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from drivers.feeders import ControlError, send_control
from simulators._ptyport import serve
from simulators.idcard._cards import CardFileError, load_card, shipped_cards
from simulators.idcard._control import ControlSocket
from simulators.idcard._device import FAULTS, VirtualIdCardReader
from simulators.idcard._pty import PtyReader

__all__ = ["main"]


def _ctl(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.idcard ctl")
    parser.add_argument("--control", required=True, help="the simulator's control socket")
    commands = parser.add_subparsers(dest="cmd", required=True)
    commands.add_parser("status")
    commands.add_parser("remove")
    place = commands.add_parser("place")
    place.add_argument("card", help=f"a card file, or one of {', '.join(shipped_cards())}")
    fault = commands.add_parser("fault")
    fault.add_argument("fault", choices=[*FAULTS, "none"])
    fault.add_argument("--times", type=int, help="for this many commands (default: until 'fault none')")
    args = parser.parse_args(argv)
    request: dict[str, object] = {"cmd": args.cmd}
    if args.cmd == "place":
        request["card"] = args.card
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
    parser = argparse.ArgumentParser(prog="python -m simulators.idcard", description=__doc__.splitlines()[0])
    parser.add_argument("--link", required=True, help="a symlink to the pty's slave, made here (the device)")
    parser.add_argument("--card", help="a card on the reader from the start (name or file)")
    parser.add_argument("--control", help="the control socket (default: LINK.ctl)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command (never its data)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")

    try:
        card = load_card(args.card) if args.card else None
    except CardFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    reader = VirtualIdCardReader(card)

    def ready() -> None:
        if card is not None:
            print(
                f"card on the reader: {card.person.card_type.value} {card.person.masked_number}", flush=True
            )
        reader.on_event = lambda line: print(line, flush=True)  # after the addresses: they come first

    def control() -> ControlSocket:
        try:
            return ControlSocket(args.control or f"{args.link}.ctl", reader).start()
        except ControlError as exc:
            raise OSError(str(exc)) from None

    return serve(PtyReader(reader, link=args.link), control, ready)


if __name__ == "__main__":
    sys.exit(main())
