"""``card-sim``: create and inspect virtual card images, serve them to pcscd through vpcd, control them.

::

    card-sim new IMAGE [--profile blank] [--serial HEX16] [--force] [--t0]
    card-sim info IMAGE
    card-sim serve --vpcd HOST:PORT IMAGE [--sam-vpcd HOST:PORT SAM_IMAGE] [--control PATH] [--latency MS]
    card-sim serve --vpcd HOST:PORT --feeder N [--profile blank] [--feeder-dir DIR] ...
    card-sim ctl [--control PATH | --port N] status|insert|remove|eject|swap IMAGE|tear N [--after-writes K]
                 |latency MS|mute|unmute [--slot card|sam]

User errors print one line and exit 1 (2 for a malformed command line); never a traceback.
See simulators/README.md, section "card-sim".
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from cardservice.errors import CardError
from cardservice.keys import KEYS_PASSPHRASE_ENV as PASSPHRASE_ENV
from cardservice.keys import keystore_passphrase
from simulators.cardos import PROFILES, ImageError, create_image, load_card
from simulators.control import ControlError, ControlServer, default_control_path, send_control
from simulators.feeder import Feeder
from simulators.vpcd import VpcdBridge

__all__ = ["main"]

DEFAULT_PORT = 40000  # the project's vpcd reader, slot 0 (etc/pcscd)


class UserError(Exception):
    """Reported as one line, exit status 1."""


def _endpoint(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _serial(text: str) -> bytes:
    try:
        value = bytes.fromhex(text.replace(" ", ""))
    except ValueError:
        value = b""
    if len(value) != 8:
        raise argparse.ArgumentTypeError(f"the serial is 16 hex digits (8 bytes), got {text!r}")
    return value


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 600_000:
        raise argparse.ArgumentTypeError(f"expected milliseconds 0..600000, got {text!r}")
    return value


def _out(line: str) -> None:
    print(line, flush=True)


# -- new / info -----------------------------------------------------------------------------------------


def _load_profiles() -> None:
    """Profiles beyond ``blank`` (health card, SAM) register themselves when their package is imported."""
    try:
        importlib.import_module("simulators.health")
    except ModuleNotFoundError as exc:
        if exc.name != "simulators.health":
            raise


def _cmd_new(args: argparse.Namespace) -> int:
    options: dict[str, object] = {"t0_get_response": True} if args.t0 else {}
    if args.holder is not None:
        options["holder"] = Path(args.holder)
    if args.keys is not None:
        options["keys"] = Path(args.keys)
        options["passphrase"] = keystore_passphrase(args.keys)
    if args.pin is not None:
        options["pin"] = args.pin
    if args.profile not in PROFILES:
        raise UserError(f"unknown profile {args.profile!r} (known: {', '.join(sorted(PROFILES))})")
    try:
        create_image(args.image, args.profile, serial=args.serial, overwrite=args.force, **options)
    except FileExistsError:
        raise UserError(f"{args.image} already exists (use --force to overwrite it)") from None
    card = load_card(args.image)
    _out(f"created {args.image}: profile {args.profile}, serial {card.serial.hex().upper()}")
    return 0


def _cmd_demo_keys(args: argparse.Namespace) -> int:
    from simulators.health import write_demo_keystore

    if Path(args.store).exists():
        raise UserError(f"{args.store} already exists; not overwritten")
    write_demo_keystore(args.store, keystore_passphrase(args.store))
    _out(f"wrote the DEMO issuer key set to {args.store} (public keys: for tests and demos only)")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    card = load_card(args.image)
    _out(f"image {args.image}")
    sys.stdout.write(card.describe())
    sys.stdout.flush()
    return 0


# -- serve ----------------------------------------------------------------------------------------------


def _cmd_serve(args: argparse.Namespace) -> int:
    host, port = args.vpcd
    feeder: Feeder | None = None
    if args.feeder is not None:
        if args.image is not None:
            raise UserError("give either IMAGE or --feeder N (the feeder makes its own images)")
        _load_profiles()
        directory = Path(args.feeder_dir or "card-feeder").resolve()
        try:
            feeder = Feeder.create(directory, args.feeder, args.profile)
        except (ValueError, OSError) as exc:
            raise UserError(f"--feeder: {exc}") from None
        _out(f"feeder: {args.feeder} {args.profile} card(s) in {directory}")
        image = feeder.images[0]
    elif args.image is None:
        raise UserError("give a card IMAGE (or --feeder N)")
    else:
        image = Path(args.image)
    slots: dict[str, tuple[tuple[str, int], Path]] = {"card": ((host, port), image)}
    if args.sam_vpcd is not None:
        try:
            slots["sam"] = (_endpoint(args.sam_vpcd[0]), Path(args.sam_vpcd[1]))
        except argparse.ArgumentTypeError as exc:
            raise UserError(f"--sam-vpcd: {exc}") from None
    cards = {name: load_card(image) for name, (_, image) in slots.items()}  # a bad image fails here, exit 1

    strict = args.control is None
    control_path = Path(args.control) if args.control else default_control_path(port)
    bridges = {
        name: VpcdBridge(cards[name], endpoint[0], endpoint[1], name=name, on_event=_out)
        for name, (endpoint, _) in slots.items()
    }
    bridges["card"].feeder = feeder
    if args.latency:
        for bridge in bridges.values():
            bridge.set_latency(args.latency)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    control = ControlServer(control_path, bridges, strict=strict)
    try:
        control.start()
        _out(f"control socket {control_path}")
        for bridge in bridges.values():
            bridge.start()
        while not stop.wait(0.5):
            pass
    finally:
        for bridge in bridges.values():
            bridge.stop()
        control.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _out("card-sim stopped")
    return 0


# -- ctl ------------------------------------------------------------------------------------------------


def _ctl_request(args: argparse.Namespace) -> dict[str, Any]:
    request: dict[str, Any] = {"cmd": args.ctl}
    if args.slot is not None:
        request["slot"] = args.slot
    if args.ctl == "swap":
        request["image"] = str(Path(args.swap_image).resolve())  # the simulator may run elsewhere
    elif args.ctl == "tear":
        request["after_commands"] = args.after_commands
        request["after_writes"] = args.after_writes
    elif args.ctl == "latency":
        request["ms"] = args.ms
    elif args.ctl == "mute":
        if args.timeout is not None:
            request["timeout"] = args.timeout
        if args.after:
            request["after_commands"] = args.after
    return request


def _cmd_ctl(args: argparse.Namespace) -> int:
    path = Path(args.control) if args.control else default_control_path(args.port)
    reply = send_control(path, _ctl_request(args))
    if not reply.get("ok"):
        raise UserError(str(reply.get("error", "the simulator refused the request")))
    _out(json.dumps(reply, indent=2, sort_keys=True))
    return 0


# -- parser ---------------------------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="card-sim", description="Virtual smart cards for pcscd (vpcd).")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: APDU headers)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    new = commands.add_parser("new", help="create a card image")
    new.add_argument("image", metavar="IMAGE")
    new.add_argument("--profile", default="blank", help="card profile (default: blank)")
    new.add_argument("--serial", type=_serial, help="card serial, 16 hex digits (default: random)")
    new.add_argument("--force", action="store_true", help="overwrite an existing image")
    new.add_argument(
        "--t0", action="store_true", help="T=0 style: answer 61xx and hand data out through GET RESPONSE"
    )
    new.add_argument("--holder", metavar="HOLDER.json", help="health profile: the cardholder (default: demo)")
    new.add_argument(
        "--keys",
        metavar="KEYSTORE",
        help=f"health/sam: issuer key store (default: the DEMO key set); passphrase in ${PASSPHRASE_ENV}",
    )
    new.add_argument("--pin", help="sam profile: the SAM PIN (default: 123456)")
    new.set_defaults(run=_cmd_new)

    demo_keys = commands.add_parser(
        "demo-keys",
        help="write the DEMO issuer key set as an encrypted key store (for --keys)",
        description="The keys behind the demo health card and SAM, as an encrypted key store. "
        f"Passphrase from ${PASSPHRASE_ENV}, else asked. The keys are public: tests and demos only.",
    )
    demo_keys.add_argument("store", metavar="STORE")
    demo_keys.set_defaults(run=_cmd_demo_keys)

    info = commands.add_parser("info", help="show a card image: ATR, serial, profile, files and keys")
    info.add_argument("image", metavar="IMAGE")
    info.set_defaults(run=_cmd_info)

    serve = commands.add_parser("serve", help="put card images into vpcd readers (foreground)")
    serve.add_argument("--vpcd", type=_endpoint, required=True, metavar="HOST:PORT", help="user-card slot")
    serve.add_argument("image", metavar="IMAGE", nargs="?")
    serve.add_argument("--feeder", type=int, metavar="N", help="present N fresh cards one after another")
    serve.add_argument("--profile", default="blank", help="--feeder: profile of its cards (default: blank)")
    serve.add_argument(
        "--feeder-dir", metavar="DIR", help="--feeder: where its images go (default: ./card-feeder)"
    )
    serve.add_argument(
        "--sam-vpcd", nargs=2, metavar=("HOST:PORT", "SAM_IMAGE"), help="second slot (the SAM) and its image"
    )
    serve.add_argument("--control", metavar="PATH", help="control socket (default: per vpcd port)")
    serve.add_argument("--latency", type=_milliseconds, default=0.0, metavar="MS", help="delay per APDU")
    serve.set_defaults(run=_cmd_serve)

    ctl = commands.add_parser("ctl", help="control a running `card-sim serve`")
    _ctl_target_options(ctl, suppress=False)
    actions = ctl.add_subparsers(dest="ctl", required=True, metavar="ACTION")
    for name, text in (
        ("status", "show both slots (or --slot)"),
        ("insert", "put the card in"),
        ("remove", "pull the card out"),
        ("eject", "eject the card (a feeder then presents the next)"),
        ("unmute", "answer again, the held command first"),
    ):
        _ctl_target_options(actions.add_parser(name, help=text), suppress=True)
    mute = actions.add_parser("mute", help="stop answering APDUs (without --timeout the reader hangs)")
    mute.add_argument(
        "--timeout", type=float, metavar="S", help="pull the card after S seconds, as a real reader gives up"
    )
    mute.add_argument("--after", type=int, default=0, metavar="N", help="answer N more commands first")
    _ctl_target_options(mute, suppress=True)
    swap = actions.add_parser("swap", help="exchange the card for another image")
    swap.add_argument("swap_image", metavar="IMAGE")
    _ctl_target_options(swap, suppress=True)
    tear = actions.add_parser("tear", help="cut power in the N-th next command (0 = the next)")
    tear.add_argument("after_commands", type=int, metavar="N")
    tear.add_argument("--after-writes", type=int, default=0, metavar="K", help="after K NVM operations")
    _ctl_target_options(tear, suppress=True)
    latency = actions.add_parser("latency", help="delay every APDU response")
    latency.add_argument("ms", type=_milliseconds, metavar="MS")
    _ctl_target_options(latency, suppress=True)
    ctl.set_defaults(run=_cmd_ctl)
    return parser


def _ctl_target_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """--control/--port/--slot, accepted before and after the action (``ctl status --slot sam``)."""
    default = argparse.SUPPRESS if suppress else None
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--control", metavar="PATH", default=default, help="control socket path")
    target.add_argument(
        "--port",
        type=int,
        default=argparse.SUPPRESS if suppress else DEFAULT_PORT,
        help=f"vpcd port of the card slot, to find the default socket (default {DEFAULT_PORT})",
    )
    parser.add_argument("--slot", choices=("card", "sam"), default=default, help="default: card")


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command != "ctl":
            _load_profiles()
        return int(args.run(args))
    except (UserError, ControlError, CardError, ImageError, OSError, ValueError) as exc:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
            message = f"{exc.filename}: {exc.strerror}"
        print(f"card-sim: {message}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
