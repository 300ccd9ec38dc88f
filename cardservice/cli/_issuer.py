"""``card-issuer``: personalise blank cards into Resident Health Cards, keep the card registry.

::

    card-issuer check FILE                                   every bad row, no card touched
    card-issuer batch FILE -r READER --keys STORE [--sam-reader SAM] [--feeder card-sim[:PORT|PATH]]
                          [--dispenser KIND:DEVICE[,OPTION=VALUE...]] [--no-bank]
                          [--report-dir DIR] [--hold] [--strict] [--wait S] [--issuer-name N --issuer-code C]
    card-issuer list [--status S] [--batch B] [--card NUMBER] [--json]
    card-issuer show CARD_NUMBER                             the person's cards and every transition
    card-issuer lost | found | lock | unlock | cancel | handover CARD_NUMBER [--reason TEXT]
    card-issuer replace CARD_NUMBER -r READER --keys STORE [--old-reader R] [--sam-reader SAM] [--no-bank]
    card-issuer blacklist list | export FILE | import FILE | add | remove
    card-issuer [--home DIR] serve                           the issuance service kiosks issue cards through

The registry, the blacklist and the audit log live in the daemon's database (``--home``, else
``$CARDSERVICE_HOME``; ``database_url`` of its configuration): a daemon on the same database refuses a
card from the moment it is reported lost. Card keys are diversified from the master keys of the key
store (``--keys``; passphrase from ``$CARDSERVICE_KEYS_PASSPHRASE`` or asked); the read-back uses the
PSAM in ``--sam-reader`` when given, as a terminal would. The blank cards' transport key comes from
``$CARDSERVICE_TRANSPORT_KEY`` (32 hex digits, or AUTH:SM), else the key store's ``TRANSPORT_AUTH`` /
``TRANSPORT_SM`` entries, else card-sim's published blank-card value (with a notice). Every card also gets
the bank application (PBOC debit; PAN from the registry, keys from the store's ``PBOC-IMK-*`` and
``PBOC-ISSUER-RSA``, see ``cardservice.issuance._bank``) unless ``--no-bank``.

``replace`` takes an active, lost or locked card (an issued or cancelled one is refused before any card
is touched); ``blacklist remove`` takes entries added by hand, the registry's follow the card's status.

A batch first settles what a killed run of this station left behind (the registry is the journal),
then issues a card to every valid person who has none; the same file again issues nothing new. With
``--dispenser`` the cards come from a card dispenser (发卡机) whose read position is READER: a finished card
is presented at its mouth, a spoiled one captured into its reject bin; a jam, an empty stack or a
dispenser that does not answer stops the batch (exit 3) — clear it and run the same command again. Exit
status: 0 all done, 1 something failed or was spoiled, 2 a bad command line or no usable input, 3 the
dispenser stopped the batch.
Personal data is masked in every line printed and logged; the registry keeps the full numbers.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from cardservice import __version__
from cardservice.cli import _operator, _readers
from cardservice.cli._admin import DataContext, add_blacklist_commands, audited, guarded
from cardservice.errors import CardError, CodecError, CryptoError

if TYPE_CHECKING:
    from cardservice.issuance import (
        BankIssuer,
        CardSource,
        IssuedCard,
        IssuerProfile,
        Person,
        RowError,
        TransportKeys,
    )
    from cardservice.keys import KeyStore, Sam

__all__ = ["main"]

PROGRAM = "card-issuer"
TRANSPORT_KEY_ENV = "CARDSERVICE_TRANSPORT_KEY"


class UsageError(Exception):
    """A command that cannot start: exit status 2."""


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _station(reader: str) -> str:
    return f"{socket.gethostname()}:{reader}"[:128]


# -- inputs -------------------------------------------------------------------------------------------


def _load(path: Path, encoding: str | None) -> tuple[list[Person], list[RowError]]:
    from cardservice.issuance import load_people

    try:
        return load_people(path, encoding=encoding)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc.__class__.__name__}") from None
    except CodecError as exc:
        raise UsageError(str(exc)) from None


def _transport_keys(store: KeyStore) -> TransportKeys:
    from cardservice.issuance import TransportKeys

    text = os.environ.get(TRANSPORT_KEY_ENV)
    if text is not None:
        parts = text.replace(" ", "").split(":")
        try:
            values = [bytes.fromhex(part) for part in parts]
        except ValueError:
            raise UsageError(f"${TRANSPORT_KEY_ENV} is not hex (32 hex digits, or AUTH:SM)") from None
        if len(values) not in (1, 2) or any(len(value) != 16 for value in values):
            raise UsageError(f"${TRANSPORT_KEY_ENV} must be 16 bytes (32 hex digits), or AUTH:SM")
        return TransportKeys(values[0], values[-1])
    if "TRANSPORT_AUTH" in store and "TRANSPORT_SM" in store:
        return TransportKeys(store.get_key("TRANSPORT_AUTH"), store.get_key("TRANSPORT_SM"))
    _say(
        f"notice: no ${TRANSPORT_KEY_ENV} and no TRANSPORT_AUTH/TRANSPORT_SM in the key store: using the "
        "published transport key of card-sim's blank cards (real blank cards come with their own)"
    )
    return TransportKeys.card_sim()


def _bank(args: argparse.Namespace, store: KeyStore) -> BankIssuer | bool:
    """The bank application's issuer from the key store, or False with ``--no-bank``."""
    from cardservice.issuance import BankIssuer

    if args.no_bank:
        return False
    try:
        bank = BankIssuer.from_keystore(store)
    except (CryptoError, CodecError) as exc:
        raise UsageError(f"--keys: no usable bank keys ({exc}); add them, or issue with --no-bank") from None
    if bank.oda_key is None:
        _say("notice: no PBOC-ISSUER-RSA in the key store: bank applications without SDA/DDA")
    return bank


def _issuer(args: argparse.Namespace) -> IssuerProfile:
    from cardservice.issuance import IssuerProfile

    default = IssuerProfile()
    return IssuerProfile(
        issuer_name=args.issuer_name or default.issuer_name,
        issuer_code=args.issuer_code or default.issuer_code,
    )


def _resolve(spec: str, what: str) -> str:

    try:
        return _readers.resolve_reader(spec, _readers.reader_names())
    except CardError as exc:
        raise UsageError(f"{what}: {exc}") from None


@contextmanager
def _terminal(args: argparse.Namespace, stack: ExitStack) -> Iterator[tuple[KeyStore, Sam]]:
    """The key store (card keys to load) and the SAM that checks the read-back."""
    from cardservice.healthcard import ApduSam
    from cardservice.keys import KeyStore, SoftwareSam

    passphrase = _operator.keystore_passphrase(args.keys)
    try:
        store = KeyStore.open(args.keys, passphrase)
    except OSError as exc:
        raise UsageError(f"--keys {args.keys}: {exc.strerror or exc.__class__.__name__}") from None
    sam: Sam = SoftwareSam(store)
    if args.sam_reader is not None:
        name = _resolve(args.sam_reader, "--sam-reader")
        transport = _readers.open_transport(name)
        stack.callback(transport.disconnect)
        stack.enter_context(transport.transaction())
        sam = ApduSam(transport)
        pin = _operator.sam_pin(args.sam_pin_env, required=False)
        if pin is not None:
            sam.verify_pin(pin)
    yield store, sam


def _dispenser_source(args: argparse.Namespace, reader: str) -> CardSource:
    """``--dispenser KIND:DEVICE[,OPTION=VALUE...]``: the dispenser's driver, its read position's reader."""
    from cardservice import plugins
    from cardservice.issuance import DispenserCardSource

    kind, _, rest = args.dispenser.partition(":")
    device, *fields = rest.split(",")
    if kind not in plugins.available(plugins.DISPENSERS):
        there = ", ".join(plugins.available(plugins.DISPENSERS)) or "none installed"
        raise UsageError(f"--dispenser: no dispenser driver {kind!r} (there are: {there})")
    options = dict(field.partition("=")[::2] for field in fields)
    try:
        dispenser = plugins.load(plugins.DISPENSERS, kind)(device, **options)
    except ValueError as exc:
        raise UsageError(f"--dispenser: {exc}") from None
    pcsc = plugins.load(plugins.CARD_SOURCES, "pcsc")
    wait = args.wait if args.wait is not None else 30.0
    source = DispenserCardSource(
        dispenser, lambda out: pcsc(reader, eject_via=out, wait=wait, announce=_say), announce=_say
    )
    try:
        source.prepare()
    except BaseException:
        source.close()
        raise
    return source


def _source(args: argparse.Namespace, reader: str) -> CardSource:
    from cardservice import plugins

    if getattr(args, "dispenser", None) is not None:
        if args.feeder is not None:
            raise UsageError("give --feeder or --dispenser, not both")
        return _dispenser_source(args, reader)
    eject_via = None
    if args.feeder is not None:
        kind, _, spec = args.feeder.partition(":")
        if kind not in plugins.available(plugins.FEEDERS):
            raise UsageError("--feeder takes card-sim[:PORT|SOCKET] (other feeders eject by PC/SC alone)")
        eject_via = plugins.load(plugins.FEEDERS, kind)(reader, spec)
    wait = args.wait if args.wait is not None else (30.0 if args.feeder else 600.0)
    source: CardSource = plugins.load(plugins.CARD_SOURCES, "pcsc")(
        reader, eject_via=eject_via, wait=wait, announce=_say
    )
    return source


# -- progress -----------------------------------------------------------------------------------------


class _Progress:
    """One line per card on stdout; a progress bar on stderr when it is a terminal."""

    def __init__(self, total: int, out: TextIO = sys.stdout, bar: TextIO = sys.stderr) -> None:
        self.total, self.done = total, 0
        self.counts: dict[str, int] = {}
        self._out, self._bar = out, bar if bar.isatty() else None
        self._started = time.monotonic()

    def card(self, card: IssuedCard) -> None:
        self.done += 1
        self.counts[card.outcome] = self.counts.get(card.outcome, 0) + 1
        self._clear()
        serial = card.issuance_serial or "-"
        timing = f" {card.seconds:5.2f} s" if card.outcome not in ("skipped",) else ""
        detail = f"  {card.detail}" if card.detail else ""
        self._out.write(
            f"[{self.done:>{len(str(self.total))}}/{self.total}] row {card.row:<4} {card.masked:20} "
            f"{card.outcome:8} {serial:10}{timing}{detail}\n"
        )
        self._out.flush()
        self._draw()

    def note(self, line: str) -> None:
        self._clear()
        _say(line)
        self._draw()

    def _clear(self) -> None:
        if self._bar is not None:
            self._bar.write("\r\033[K")

    def _draw(self) -> None:
        if self._bar is None or self.done >= self.total:
            return
        width = 30
        filled = width * self.done // max(1, self.total)
        elapsed = time.monotonic() - self._started
        rate = f"{elapsed / self.done:.1f} s/card" if self.done else ""
        counts = " ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        self._bar.write(f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {counts} {rate}")
        self._bar.flush()


# -- commands -----------------------------------------------------------------------------------------


def _cmd_check(args: argparse.Namespace) -> int:
    people, errors = _load(args.file, args.encoding)
    for error in errors:
        print(error)
    print(f"{len(people)} good rows, {len(errors)} bad rows")
    return 1 if errors else 0


def _cmd_batch(args: argparse.Namespace, ctx: DataContext) -> int:
    from cardservice.issuance import DispenserError

    done: list[IssuedCard] = []
    try:
        return _run_batch(args, ctx, done)
    except DispenserError as exc:
        made = sum(card.outcome != "skipped" for card in done)
        _say(f"{PROGRAM} batch: stopped: {exc} [{exc.code}] after {made} card(s) in this run; clear the "
             "dispenser (refill it, remove a jammed card) and run the same command again")  # fmt: skip
        return 3


def _run_batch(args: argparse.Namespace, ctx: DataContext, done: list[IssuedCard]) -> int:
    from cardservice.issuance import BatchReport, ContentCipher, Registry, batch_id, resume, run_batch
    from cardservice.issuance import release as release_card

    people, errors = _load(args.file, args.encoding)
    for error in errors:
        _say(f"{args.file.name}: {error}; skipped")
    if errors and args.strict:
        raise UsageError(f"{len(errors)} bad rows and --strict: no card issued")
    reader = _resolve(args.reader, "--reader")
    station = _station(reader)
    batch = args.batch or batch_id()
    report = BatchReport(
        batch, args.file.name, station, ctx.actor, _dt.datetime.now(_dt.UTC), rejected=list(errors)
    )
    progress = _Progress(len(people))

    def note(line: str) -> None:
        report.notes.append(line)
        progress.note(line)

    def on_card(card: IssuedCard) -> None:
        done.append(card)
        progress.card(card)
        if card.outcome != "skipped":
            ctx.audit.record(
                actor=ctx.actor, action="issuer.issue", result=card.outcome, card=card.masked, target=batch,
                detail={"issuance_serial": card.issuance_serial, "chip": card.chip_serial},
            )  # fmt: skip

    with ExitStack() as stack, _terminal(args, stack) as (store, sam):
        registry = Registry(ctx.database, ContentCipher.from_keystore(store))
        transport = _transport_keys(store)
        bank = _bank(args, store)
        source = _source(args, reader)
        stack.callback(getattr(source, "close", lambda: None))
        pending = registry.pending(station=station)
        if pending:
            note(f"{len(pending)} card(s) left in personalisation by an interrupted run: settling them")
            card = source.next_card()
            lines, eject = resume(registry, card, sam, store, actor=ctx.actor, station=station)
            for line in lines:
                note(line)
            if eject:
                note(f"the interrupted card: {release_card(source, card, registry)}")
        with audited(ctx, "issuer.batch", target=batch) as detail:
            result = run_batch(
                people, registry=registry, source=source, keystore=store, sam=sam, transport=transport,
                issuer=_issuer(args), actor=ctx.actor, batch=batch, station=station, hold=args.hold,
                bank=bank, on_card=on_card, on_note=note,
            )  # fmt: skip
            report.cards = result.cards
            report.finished = _dt.datetime.now(_dt.UTC)
            detail.update(report.counts())
    csv_path, text_path = report.write(args.report_dir)
    counts = report.counts()
    _say(
        f"batch {batch}: "
        + ", ".join(f"{counts[k]} {k}" for k in sorted(counts))
        + f"; report {csv_path} and {text_path}"
    )
    return 1 if counts.get("spoiled") or counts.get("failed") else 0


def _when(moment: _dt.datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "-"


def _cmd_list(args: argparse.Namespace, ctx: DataContext) -> int:
    from cardservice.issuance import CardStatus, Registry

    status = CardStatus(args.status) if args.status else None
    cards = Registry(ctx.database).cards(status=status, batch=args.batch, card_number=args.card)
    if args.json:
        rows = [
            {
                "card": card.masked,
                "issuance_serial": card.issuance_serial,
                "chip_serial": card.chip_serial,
                "status": str(card.status),
                "batch": card.batch,
                "batch_row": card.batch_row,
                "replaces": card.replaces,
                "bank_card": card.masked_pan,
                "updated_at": card.updated_at.isoformat(),
            }
            for card in cards
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not cards:
        print("no cards")
        return 0
    print(f"{'serial':10}  {'card':20} {'status':13} {'chip':16} {'batch':26} updated")
    for card in cards:
        print(
            f"{card.issuance_serial or '-':10}  {card.masked:20} {card.status:13} "
            f"{card.chip_serial or '-':16} {(card.batch or '-')[:26]:26} {_when(card.updated_at)}"
        )
    print(f"{len(cards)} cards")
    return 0


def _cmd_show(args: argparse.Namespace, ctx: DataContext) -> int:
    from cardservice.issuance import Registry

    registry = Registry(ctx.database)
    cards = registry.cards(card_number=args.card_number)
    if not cards:
        print("no cards for that card number")
        return 1
    for card in cards:
        print(card.summary)
        for at, actor, old, new, reason in registry.history(card.id):
            print(f"  {_when(at)}  {actor:16} {old or '-':13} -> {new:13} {reason or ''}".rstrip())
    return 0


_TRANSITIONS = {
    "lost": ("lost", "挂失", "reported lost (挂失): the daemon refuses it"),
    "found": ("active", "解挂", "active again (解挂)"),
    "lock": ("locked", "锁定", "locked: the daemon refuses it"),
    "unlock": ("active", "解锁", "active again"),
    "cancel": ("cancelled", "注销", "cancelled (注销): the daemon refuses it"),
    "handover": ("active", "领卡", "handed over: active"),
}


def _cmd_transition(args: argparse.Namespace, ctx: DataContext) -> int:
    from cardservice.healthcard import mask_id_number
    from cardservice.issuance import CardStatus, Registry

    status, label, outcome = _TRANSITIONS[args.command]
    masked = mask_id_number(args.card_number.upper())
    with audited(ctx, f"issuer.{args.command}", card=masked) as detail:
        record = Registry(ctx.database).transition(
            args.card_number.upper(), CardStatus(status), actor=ctx.actor, reason=args.reason or label
        )
        detail.update(issuance_serial=record.issuance_serial)
    print(f"card {record.issuance_serial} ({record.masked}) {outcome}")
    return 0


def _cmd_replace(args: argparse.Namespace, ctx: DataContext) -> int:
    from cardservice.healthcard import mask_id_number
    from cardservice.issuance import old_card_reader, replace_card

    reader = _resolve(args.reader, "--reader")
    old_reader = _resolve(args.old_reader, "--old-reader") if args.old_reader else None
    if old_reader == reader:
        raise UsageError("--old-reader must be another reader than the blank cards' one")
    number = args.card_number.upper()
    with ExitStack() as stack, _terminal(args, stack) as (store, sam):
        transport = _transport_keys(store)
        bank = _bank(args, store)
        read_old = None
        if old_reader is not None:
            old = _readers.open_transport(old_reader)
            stack.callback(old.disconnect)
            read_old = old_card_reader(old, sam)
        source = _source(args, reader)
        stack.callback(getattr(source, "close", lambda: None))
        with audited(ctx, "issuer.replace", card=mask_id_number(number)) as detail:
            outcome = replace_card(
                number, ctx.database, source=source, keystore=store, sam=sam, transport=transport,
                actor=ctx.actor, station=_station(reader), read_old_card=read_old,
                reason=args.reason or "补卡", bank=bank, on_note=_say,
            )  # fmt: skip
            detail.update(outcome=outcome.outcome, issuance_serial=outcome.issuance_serial)
    print(f"{outcome.masked}: {outcome.outcome} {outcome.issuance_serial or ''} {outcome.detail}".rstrip())
    return 0 if outcome.outcome in ("active", "issued") else 1


def _cmd_serve(args: argparse.Namespace) -> int:
    from cardservice.issuance_service import serve_command  # --home: the service's data directory

    return serve_command(args.home, None)


# -- the parser ---------------------------------------------------------------------------------------


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


def _card_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-r", "--reader", required=True, help="the reader of the blank cards (name or index)")
    parser.add_argument(
        "--keys", required=True, metavar="STORE",
        help="issuer key store (master keys); passphrase in $CARDSERVICE_KEYS_PASSPHRASE or asked",
    )  # fmt: skip
    parser.add_argument("--sam-reader", metavar="NAME", help="verify the read-back with this PSAM")
    parser.add_argument("--sam-pin-env", metavar="VAR", help="environment variable holding the SAM PIN")
    parser.add_argument(
        "--feeder", metavar="card-sim[:PORT|SOCKET]",
        help="a card-sim feeder: eject through its control socket (default: by the reader's vpcd slot)",
    )  # fmt: skip
    parser.add_argument("--wait", type=_seconds, metavar="S", help="seconds to wait for each card")
    parser.add_argument("--issuer-name", help="发卡机构名称 (default: the demo issuer)")
    parser.add_argument("--issuer-code", help="发卡机构代码, 11 characters (default: the demo issuer)")
    parser.add_argument("--no-bank", action="store_true", help="no bank application (health-only cards)")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM, description="Personalise Resident Health Cards and keep the card registry."
    )
    parser.add_argument("--version", action="version", version=f"{PROGRAM} {__version__}")
    parser.add_argument("--home", type=Path, help="data directory shared with the daemon ($CARDSERVICE_HOME)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="validate a batch file (every bad row), touch no card")
    check.add_argument("file", type=Path)
    check.add_argument("--encoding", help="input encoding (default: UTF-8, else GB18030)")
    check.set_defaults(run=_cmd_check)

    batch = commands.add_parser("batch", help="issue a card to every person in FILE who has none")
    batch.add_argument("file", type=Path, help="CSV (UTF-8 or GB18030) or JSON; see examples/people.csv")
    _card_options(batch)
    batch.add_argument("--encoding", help="input encoding (default: UTF-8, else GB18030)")
    batch.add_argument("--batch", help="batch name for the registry and the report (default: generated)")
    batch.add_argument(
        "--report-dir", type=Path, default=Path("issuance-reports"), help="where the report goes"
    )
    batch.add_argument("--hold", action="store_true", help="issued, awaiting handover (not yet active)")
    batch.add_argument("--strict", action="store_true", help="issue nothing if any row is bad")
    batch.add_argument(
        "--dispenser", metavar="KIND:DEVICE[,OPT=V]",
        help="cards from a card dispenser whose read position is the reader (k720:/dev/ttyUSB0[,address=N])",
    )  # fmt: skip
    batch.set_defaults(func=guarded("batch", _cmd_batch, program=PROGRAM))

    listing = commands.add_parser("list", help="cards in the registry")
    listing.add_argument("--status", choices=("personalising", "issued", "active", "lost", "locked",
                                              "replaced", "cancelled", "spoiled"))  # fmt: skip
    listing.add_argument("--batch")
    listing.add_argument("--card", metavar="CARD_NUMBER")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=guarded("list", _cmd_list, program=PROGRAM))

    show = commands.add_parser("show", help="a person's cards and every status change")
    show.add_argument("card_number")
    show.set_defaults(func=guarded("show", _cmd_show, program=PROGRAM))

    helps = {
        "lost": "report the card lost (挂失)",
        "found": "cancel the loss report (解挂)",
        "lock": "lock the card",
        "unlock": "unlock a locked card",
        "cancel": "cancel the card for good (注销)",
        "handover": "the cardholder received a held card",
    }
    for name, text in helps.items():
        command = commands.add_parser(name, help=text)
        command.add_argument("card_number")
        command.add_argument("--reason", help="recorded with the change")
        command.set_defaults(func=guarded(name, _cmd_transition, program=PROGRAM))

    replace = commands.add_parser("replace", help="a new card for the same person (补卡/换卡)")
    replace.add_argument("card_number")
    _card_options(replace)
    replace.add_argument("--old-reader", help="the old card, to carry its health data over")
    replace.add_argument("--reason", help="recorded with the change (default 补卡)")
    replace.set_defaults(func=guarded("replace", _cmd_replace, program=PROGRAM))

    commands.add_parser("serve", help="the issuance service (--home: its own)").set_defaults(run=_cmd_serve)

    add_blacklist_commands(commands, program=PROGRAM)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    args = _build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run: Callable[[argparse.Namespace], int] = getattr(args, "run", None) or args.func
    try:
        return int(run(args))
    except UsageError as exc:
        _say(f"{PROGRAM} {args.command}: {exc}")
        return 2
    except CardError as exc:
        _say(f"{PROGRAM} {args.command}: {exc}")
        return 1
    except KeyboardInterrupt:
        _say(f"{PROGRAM}: interrupted; run the same command again to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
