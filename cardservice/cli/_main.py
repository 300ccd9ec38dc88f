"""``cardservice``: the operator's command line.

``readers`` and ``apdu`` go through the project's whole stack (PC/SC transport, GET RESPONSE handling,
status-word table, masking tracer). ``read``, ``write`` and ``record`` work on a Resident Health Card
with a PSAM in a second reader (``--sam-reader``) or a software SAM over an issuer key store
(``--keys``); see :mod:`cardservice.cli._operator`. ``serve`` runs the daemon (:mod:`cardservice.daemon`);
``token``, ``audit`` and ``blacklist`` manage its data directory (:mod:`cardservice.cli._admin`).

::

    cardservice read   [-r CARD] (--sam-reader SAM [--sam-pin-env VAR] | --keys STORE)
                       [--all] [--photo FILE] [--json]
    cardservice write  [-r CARD] (--sam-reader SAM | --keys STORE) FILE_PATH ABBR=VALUE...
    cardservice record add   [-r CARD] (...) allergy SUBSTANCE [REACTION] | immunisation VACCINE [DATE]
                                             | outpatient RECORD.json | inpatient RECORD.json
    cardservice record erase [-r CARD] (...) inpatient|outpatient SLOT

Card errors print one line and exit 1; a malformed command line exits 2. Secrets (key-store
passphrase, SAM PIN) come from environment variables or a terminal prompt, never from argv.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from cardservice import __version__
from cardservice.cli import _operator, _readers
from cardservice.errors import CardError, CodecError

if TYPE_CHECKING:
    from cardservice.healthcard import HealthCardSession

__all__ = ["main"]


def _parse_hex(text: str) -> bytes:
    cleaned = text.replace(" ", "").replace(":", "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise CodecError(f"not a hex APDU: {text!r}") from None


def _cmd_readers(args: argparse.Namespace) -> int:
    readers = _readers.reader_states()
    if not readers:
        print("no readers")
        return 0
    for index, (name, state) in enumerate(readers.items()):
        if state.mute:
            atr = "card present, cannot connect: the card does not answer"
        elif state.present:
            atr = state.atr.hex(" ").upper()
        else:
            atr = "no card"
        print(f"{index}: {name}  {atr}")
    return 0


def _cmd_apdu(args: argparse.Namespace) -> int:
    from cardservice.apdu import CommandApdu, LoggingTracer, describe_sw, transceive
    from cardservice.transport import Disposition

    commands = [CommandApdu.decode(_parse_hex(text)) for text in args.apdu]
    reader = _readers.resolve_reader(args.reader, _readers.reader_names())
    tracer = LoggingTracer(logging.getLogger("cardservice.apdu")) if args.trace else None
    transport = _readers.open_transport(reader)
    atr = transport.atr
    print(f"reader: {reader}\nATR: {atr.hex(' ').upper()}")
    try:
        with transport.transaction():
            for command in commands:
                print(f"> {command.encode().hex(' ').upper()}")
                if args.raw:
                    raw = transport.transmit(command.encode())
                    data, sw = raw[:-2], int.from_bytes(raw[-2:], "big")
                else:
                    response = transceive(transport.transmit, command, tracer=tracer)
                    data, sw = response.data, response.sw
                if data:
                    print(f"< {data.hex(' ').upper()}")
                print(f"< {sw:04X}  {describe_sw(sw)}")
    finally:
        transport.disconnect(Disposition.RESET if args.reset else Disposition.LEAVE)
    return 0


# -- health card ----------------------------------------------------------------------------------


@contextmanager
def _health_session(args: argparse.Namespace, pin: str | None) -> Iterator[HealthCardSession]:
    sam_reader = getattr(args, "sam_reader", None)
    readers = _readers.reader_names()
    card_reader = _readers.resolve_reader(args.reader, readers)
    sam_name = None if sam_reader is None else _readers.resolve_reader(sam_reader, readers)
    if sam_name == card_reader:
        raise CardError(f"the card reader and the SAM reader are the same: {card_reader}")
    with _operator.open_session(card_reader, sam_reader=sam_name, keystore=args.keys, pin=pin) as session:
        yield session


def _cmd_read(args: argparse.Namespace) -> int:

    pin = _operator.sam_pin(args.sam_pin_env, required=False)
    files: dict[str, object]
    with _health_session(args, pin) as session:
        if args.all:
            files = session.read_all()
        else:
            files = _operator.identity_files(session.read_identity(photo=args.photo is not None))
    photo_file = None
    if args.photo is not None:
        photo = files.get("DDF1/EF07")
        if isinstance(photo, bytes):
            try:
                Path(args.photo).write_bytes(photo)
            except OSError as exc:
                raise CardError(f"--photo {args.photo}: {exc.strerror or exc.__class__.__name__}") from None
            photo_file = args.photo
        else:
            print("cardservice: the card holds no photo", file=sys.stderr)
    render = _operator.render_json if args.json else _operator.render_human
    print(render(files, photo_file=photo_file))
    return 0


def _cmd_write(args: argparse.Namespace) -> int:
    from cardservice.healthcard import card_file

    file = card_file(args.file)  # a wrong path stops here; update_items checks items before any APDU
    fields = _operator.parse_assignments(args.items)
    with _health_session(args, None) as session:
        session.update_items(file.path, **fields)
    print(f"updated {file.path}: {', '.join(fields)}")
    return 0


_RECORD_ARGUMENTS = {
    "allergy": (1, 2, "allergy SUBSTANCE [REACTION]"),
    "immunisation": (1, 2, "immunisation VACCINE [DATE]"),
    "outpatient": (1, 1, "outpatient RECORD.json"),
    "inpatient": (1, 1, "inpatient RECORD.json"),
}


def _iso_date(text: str) -> _dt.date:
    try:
        return _dt.date.fromisoformat(text)
    except ValueError:
        raise CodecError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _cmd_record_add(args: argparse.Namespace) -> int:
    from cardservice.healthcard import EncounterKind

    low, high, usage = _RECORD_ARGUMENTS[args.kind]
    if not low <= len(args.values) <= high:
        args.parser.error(f"expected: {usage}")
    if args.kind in ("allergy", "immunisation"):
        vaccine_date = (
            _iso_date(args.values[1]) if args.kind == "immunisation" and len(args.values) > 1 else None
        )
        with _health_session(args, _operator.sam_pin(args.sam_pin_env, required=False)) as session:
            if args.kind == "allergy":
                session.append_allergy(args.values[0], args.values[1] if len(args.values) > 1 else None)
            else:
                session.append_immunisation(args.values[0], vaccine_date)
        print(f"{args.kind} added")
        return 0
    kind = EncounterKind(args.kind)
    record = _operator.encounter_record(kind, args.values[0])  # checked before the PIN and the card
    pin = _operator.sam_pin(args.sam_pin_env, required=True)  # signing needs the SAM PIN
    with _health_session(args, pin) as session:
        slot = session.write_encounter(kind, record)
    print(f"{kind.value} record written to slot {slot}, signed")
    return 0


def _cmd_record_erase(args: argparse.Namespace) -> int:
    from cardservice.healthcard import EncounterKind

    kind = EncounterKind(args.kind)
    with _health_session(args, None) as session:
        session.erase_encounter(kind, args.slot)
    print(f"{kind.value} slot {args.slot} erased")
    return 0


def _health_options(parser: argparse.ArgumentParser, *, pin: bool = True) -> None:
    parser.add_argument(
        "-r", "--reader", help="user-card reader: name, part of a name, or index (default: the first)"
    )
    sam = parser.add_mutually_exclusive_group(required=True)
    sam.add_argument("--sam-reader", metavar="NAME", help="PSAM reader: name, part of a name, or index")
    sam.add_argument(
        "--keys",
        metavar="KEYSTORE",
        help="software SAM over an issuer key store; passphrase in $CARDSERVICE_KEYS_PASSPHRASE or asked",
    )
    if pin:
        parser.add_argument(
            "--sam-pin-env",
            metavar="VAR",
            help="environment variable holding the SAM PIN (default for signing: CARDSERVICE_SAM_PIN; "
            "asked on a terminal)",
        )


def _cmd_serve(args: argparse.Namespace) -> int:
    from cardservice.daemon import ConfigError, load_settings, serve

    overrides: dict[str, object] = {}
    if args.port is not None:
        overrides["port"] = args.port
    if args.host is not None:
        overrides["host"] = args.host
    try:
        settings = load_settings(home=args.home, config_file=args.config, **overrides)
    except ConfigError as exc:
        print(f"cardservice serve: {exc}", file=sys.stderr)
        return 2
    return serve(settings, demo=args.demo)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cardservice", description="cardservice operator commands")
    parser.add_argument("--version", action="version", version=f"cardservice {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log at debug level (APDU traces are masked)"
    )
    parser.add_argument(
        "--home", type=Path, help="data directory of serve/token/audit/blacklist (default $CARDSERVICE_HOME)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    readers = commands.add_parser("readers", help="list PC/SC readers, card presence and ATR")
    readers.set_defaults(run=_cmd_readers)

    apdu = commands.add_parser(
        "apdu",
        help="send command APDUs to a card through the project's stack",
        description="Send APDUs (hex, spaces allowed) in one exclusive transaction. "
        "61xx and 6Cxx are handled (GET RESPONSE / re-issue with Le) unless --raw is given.",
    )
    apdu.add_argument("apdu", nargs="+", help="command APDU in hex, e.g. '00 A4 00 00 02 3F 00'")
    apdu.add_argument("-r", "--reader", help="reader name, part of a name, or index (default: the first)")
    apdu.add_argument("--raw", action="store_true", help="no GET RESPONSE / Le re-issue handling")
    apdu.add_argument("--trace", action="store_true", help="log each exchange (personal data masked)")
    apdu.add_argument("--reset", action="store_true", help="reset the card when done")
    apdu.set_defaults(run=_cmd_apdu)

    read = commands.add_parser(
        "read",
        help="read a health card: identity, or every file with --all",
        description="Identity by default (DDF1 EF05, EF06, EF08); --all reads and decodes every file, "
        "encounter records with their signature status.",
    )
    _health_options(read)
    read.add_argument("--all", action="store_true", help="every file, decoded")
    read.add_argument("--photo", metavar="FILE", help="save the cardholder's photo (DDF1/EF07) to FILE")
    read.add_argument("--json", action="store_true", help="one JSON document keyed by file path")
    read.set_defaults(run=_cmd_read)

    write = commands.add_parser(
        "write",
        help="update data items of a TLV file",
        description="e.g. cardservice write -r 0 --sam-reader 1 DF01/EF05 DZ1=北京市朝阳区 DZLB1=1",
    )
    _health_options(write, pin=False)
    write.add_argument("file", metavar="FILE_PATH", help="card file, e.g. DF01/EF05 or DDF1/EF08")
    write.add_argument("items", metavar="ABBR=VALUE", nargs="+", help="data item abbreviation and new value")
    write.set_defaults(run=_cmd_write)

    record = commands.add_parser("record", help="add or erase allergy, immunisation and encounter records")
    record_commands = record.add_subparsers(dest="record_command", required=True)
    add = record_commands.add_parser(
        "add",
        help="add a record",
        description="allergy SUBSTANCE [REACTION] | immunisation VACCINE [DATE] | outpatient RECORD.json | "
        "inpatient RECORD.json. Encounter records are signed by the SAM (needs the SAM PIN).",
    )
    _health_options(add)
    add.add_argument("kind", choices=tuple(_RECORD_ARGUMENTS))
    add.add_argument("values", nargs="+", metavar="VALUE")
    add.set_defaults(run=_cmd_record_add, parser=add)
    erase = record_commands.add_parser("erase", help="mark an inpatient/outpatient slot empty")
    _health_options(erase, pin=False)
    erase.add_argument("kind", choices=("inpatient", "outpatient"))
    erase.add_argument("slot", type=int)
    erase.set_defaults(run=_cmd_record_erase)

    serve = commands.add_parser(
        "serve",
        help="run the daemon: readers, cards and the localhost API",
        description="Configuration: HOME/cardservice.toml (or --config) and CARDSERVICE_* variables. --demo "
        "adds a virtual health card and PSAM (card-sim through pcscd, in-process where pcscd is not running) "
        "and prints a fresh demo API key.",
    )
    serve.add_argument("--demo", action="store_true", help="virtual card and SAM, and a demo API key")
    serve.add_argument("--port", type=_port, help="TCP port (default 8765)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1; others need TLS)")
    serve.add_argument("--config", type=Path, help="configuration file (default HOME/cardservice.toml)")
    serve.add_argument("--home", type=Path, default=argparse.SUPPRESS, help="data directory")
    serve.set_defaults(run=_cmd_serve)

    from cardservice.cli._admin import add_admin_commands

    add_admin_commands(commands)
    return parser


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if not hasattr(args, "run") and hasattr(args, "func"):
        args.run = args.func  # the admin command groups (token, audit, blacklist)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose or getattr(args, "trace", False) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args))
    except CardError as exc:
        print(f"cardservice: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
