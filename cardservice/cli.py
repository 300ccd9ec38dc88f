"""``cardservice``: the operator's command line.

``readers`` and ``apdu`` work today and go through the project's whole stack (PC/SC transport, GET RESPONSE
handling, status-word table, masking tracer). ``serve`` (the daemon) is not built yet and says so.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from cardservice import __version__
from cardservice.errors import CardError, CodecError

__all__ = ["main"]


def _parse_hex(text: str) -> bytes:
    cleaned = text.replace(" ", "").replace(":", "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise CodecError(f"not a hex APDU: {text!r}") from None


def _resolve_reader(spec: str | None, readers: Sequence[str]) -> str:
    if not readers:
        raise CardError("no PC/SC readers found (is pcscd running? scripts/pcscd-ctl start)")
    if spec is None:
        return readers[0]
    if spec.isdigit() and int(spec) < len(readers):
        return readers[int(spec)]
    if spec in readers:
        return spec
    matches = [name for name in readers if spec.lower() in name.lower()]
    if len(matches) == 1:
        return matches[0]
    listing = ", ".join(f"{i}: {name}" for i, name in enumerate(readers))
    raise CardError(f"reader {spec!r} not found or ambiguous; readers are {listing}")


def _cmd_readers(args: argparse.Namespace) -> int:
    from cardservice.transport import PcscTransport, list_readers

    readers = list_readers()
    if not readers:
        print("no readers")
        return 0
    for index, name in enumerate(readers):
        transport = PcscTransport(name)
        if transport.is_card_present():
            try:
                atr = transport.connect().hex(" ").upper()
            except CardError as exc:
                atr = f"card present, cannot connect: {exc}"
            finally:
                transport.disconnect()
        else:
            atr = "no card"
        print(f"{index}: {name}  {atr}")
    return 0


def _cmd_apdu(args: argparse.Namespace) -> int:
    from cardservice.apdu import CommandApdu, LoggingTracer, describe_sw, transceive
    from cardservice.transport import Disposition, PcscTransport, list_readers

    commands = [CommandApdu.decode(_parse_hex(text)) for text in args.apdu]
    reader = _resolve_reader(args.reader, list_readers())
    transport = PcscTransport(reader)
    tracer = LoggingTracer(logging.getLogger("cardservice.apdu")) if args.trace else None
    atr = transport.connect()
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


def _cmd_serve(args: argparse.Namespace) -> int:
    print(
        "cardservice serve: the daemon and its localhost API are not built yet.\n"
        "What works now: 'cardservice readers', 'cardservice apdu', and the card simulator 'card-sim'.",
        file=sys.stderr,
    )
    return 2


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cardservice", description="cardservice operator commands")
    parser.add_argument("--version", action="version", version=f"cardservice {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log at debug level (APDU traces are masked)"
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

    serve = commands.add_parser("serve", help="run the daemon (not built yet)")
    serve.add_argument("--demo", action="store_true")
    serve.add_argument("--port", type=int)
    serve.set_defaults(run=_cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
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
