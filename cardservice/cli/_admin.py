"""``cardservice token | audit | blacklist``: manage the daemon's data directory (the same one ``serve``
uses: ``--home``, else ``$CARDSERVICE_HOME``) and its database (``database_url`` of the configuration).

::

    cardservice token create NAME --scope kiosk [--scope his ...]   (the key is printed once)
    cardservice token list | revoke NAME
    cardservice audit verify [--anchor SEQ:HASH]
    cardservice audit show [--limit N] [--since SEQ] [--action A] [--card MASKED] [--json]
    cardservice blacklist add CARD_NUMBER [--serial XPXLH] --reason TEXT | remove CARD_NUMBER [--serial XPXLH]
    cardservice blacklist list | export FILE | import FILE

``blacklist remove`` takes the entries added by hand or imported; the card registry's (``card-issuer``:
lost, replaced, ...) follow the card's status, and removing one by hand is refused.

``audit verify`` only reads: it makes no key, migrates nothing, creates no SQLite file, writes no head
row and no anchor (a database or data directory under examination stays byte-identical).

Every change is itself audited, with the OS user as actor (``token.create``, ``token.revoke``,
``blacklist.add|remove|export|import``), refused ones too (result ``refused``); never the key. Errors
print one line (a refused import: one more line per bad row) and exit 1, never a traceback.

:func:`add_admin_commands` adds the three groups to the ``cardservice`` parser; each sub-command sets
``func`` to a handler ``(args) -> int``. The database layer is imported only when a handler runs, so
the card commands do not pay for SQLAlchemy.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datetime as _dt

    from cardservice.access import AuditAnchor, AuditLog
    from cardservice.daemon import Settings
    from cardservice.store import Database

__all__ = [
    "DataContext",
    "add_admin_commands",
    "add_blacklist_commands",
    "audited",
    "data_context",
    "guarded",
]

_SCOPES = ("kiosk", "his", "issuer", "admin")

Handler = Callable[[argparse.Namespace], int]


@dataclass
class DataContext:
    settings: Settings
    database: Database
    audit: AuditLog
    actor: str


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a container's arbitrary uid)
        return f"uid:{os.getuid()}"


@contextlib.contextmanager
def data_context(args: argparse.Namespace, *, readonly: bool = False) -> Iterator[DataContext]:
    """The data directory and its database. ``readonly``: as they are, for a check (see
    :func:`_open_as_it_is`); the audit key must exist."""
    from cardservice.access import AuditLog
    from cardservice.daemon import load_settings
    from cardservice.store import open_database

    settings = load_settings(home=getattr(args, "home", None))
    key = AuditLog.key_from_home(settings.home, create=False) if readonly else None
    database = _open_as_it_is(settings.database) if readonly else open_database(settings.database)
    try:
        if key is None:
            audit = AuditLog.for_home(database, settings.home)
        else:
            audit = AuditLog(database, key, home=settings.home)
        try:
            yield DataContext(settings, database, audit, _os_user())
        finally:
            audit.close()  # the anchor of the command's own records, written before it exits
    finally:
        database.close()


def _open_as_it_is(url: str) -> Database:
    """The database without migrating it, connected once (so that an unreachable one is named, as
    opening with migrations names it); an absent SQLite file is read as an empty database (in memory)
    rather than created."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from cardservice.store import StoreError, describe, open_database

    try:
        parsed = make_url(url)
    except (SQLAlchemyError, ValueError):
        return open_database(url, migrate=False)  # it says what is wrong with the URL
    path = parsed.database or ""
    in_memory = path in ("", ":memory:") or parsed.query.get("mode") == "memory"
    if parsed.get_backend_name() == "sqlite" and not in_memory and not Path(path).exists():
        return open_database("sqlite://", migrate=False)
    database = open_database(url, migrate=False)
    try:
        with database.engine.connect():
            pass
    except SQLAlchemyError as exc:
        database.close()
        raise StoreError(f"database {database.url}: {describe(exc)}") from None
    return database


def guarded(
    group: str,
    handler: Callable[[argparse.Namespace, DataContext], int],
    *,
    program: str = "cardservice",
    readonly: bool = False,
) -> Handler:
    """The handler with the data directory open (``readonly``: see :func:`data_context`), and every
    expected failure as one line on stderr."""

    def run(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import SQLAlchemyError

        from cardservice.daemon import ConfigError
        from cardservice.store import StoreError, describe

        try:
            with data_context(args, readonly=readonly) as context:
                return handler(args, context)
        except (StoreError, ConfigError) as exc:
            print(f"{program} {group}: {exc}", file=sys.stderr)
        except SQLAlchemyError as exc:  # the database went away or refused mid-command
            print(f"{program} {group}: database error: {describe(exc)}", file=sys.stderr)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            print(f"{program} {group}: {where}{exc.strerror or exc.__class__.__name__}", file=sys.stderr)
        return 1

    return run


@contextlib.contextmanager
def audited(
    ctx: DataContext, action: str, *, target: str | None = None, card: str | None = None
) -> Iterator[dict[str, object]]:
    """Audit the change made in the block: ``ok`` with the detail the block filled in, or ``refused``
    when it raised :class:`StoreError` (then the error goes on to the user)."""
    from sqlalchemy.exc import SQLAlchemyError

    from cardservice.store import StoreError

    detail: dict[str, object] = {}
    try:
        yield detail
    except StoreError:
        with contextlib.suppress(StoreError, SQLAlchemyError):  # the user hears of the first failure
            ctx.audit.record(actor=ctx.actor, action=action, result="refused", target=target, card=card)
        raise
    ctx.audit.record(actor=ctx.actor, action=action, result="ok", target=target, card=card, detail=detail)


def _when(value: _dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def _masked(card_number: str) -> str:
    from cardservice.healthcard import mask_id_number

    return mask_id_number(card_number.upper())


# -- token -----------------------------------------------------------------------------------------------


def _token_create(args: argparse.Namespace, ctx: DataContext) -> int:
    from cardservice.access import ApiKeys

    with audited(ctx, "token.create", target=args.name) as detail:
        info, token = ApiKeys(ctx.database).create(args.name, args.scope, created_by=ctx.actor)
        detail.update(key_id=info.key_id, scopes=sorted(info.scopes))
    print(token)
    print(
        f"API key for {info.name!r} (key id {info.key_id}, scopes {', '.join(sorted(info.scopes))}). "
        "It will not be shown again: store it where the client keeps its secrets.",
        file=sys.stderr,
    )
    return 0


def _token_list(args: argparse.Namespace, ctx: DataContext) -> int:
    from cardservice.access import ApiKeys

    rows = ApiKeys(ctx.database).list()
    if not rows:
        print("no API keys (create one with: cardservice token create NAME --scope kiosk)")
        return 0
    print(f"{'name':20} {'key id':12} {'scopes':22} {'created':16} {'last used':16} revoked")
    for info in rows:
        print(
            f"{info.name:20} {info.key_id:12} {','.join(sorted(info.scopes)):22} {_when(info.created_at):16} "
            f"{_when(info.last_used_at):16} {_when(info.revoked_at)}"
        )
    return 0


def _token_revoke(args: argparse.Namespace, ctx: DataContext) -> int:
    from cardservice.access import ApiKeys

    with audited(ctx, "token.revoke", target=args.name) as detail:
        info = ApiKeys(ctx.database).revoke(args.name)
        detail.update(key_id=info.key_id)
    print(f"revoked the key of {info.name!r} ({info.key_id}); a running daemon refuses it within 5 s")
    return 0


# -- audit -----------------------------------------------------------------------------------------------


def _audit_verify(args: argparse.Namespace, ctx: DataContext) -> int:
    report = ctx.audit.verify(anchor=args.anchor)
    if report.ok:
        print(f"audit log intact: {report.records} records")
        return 0
    if not report.anchored and len(report.problems) == 1:  # an upgraded data directory, nothing else found
        print(f"audit log NOT verified to its end ({report.records} records read):", file=sys.stderr)
    else:
        print(f"audit log NOT intact ({report.records} records read):", file=sys.stderr)
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _audit_show(args: argparse.Namespace, ctx: DataContext) -> int:
    entries = ctx.audit.entries(since_seq=args.since, limit=args.limit, action=args.action, card=args.card)
    if args.json:
        print(json.dumps([dataclasses.asdict(entry) for entry in entries], ensure_ascii=False, indent=2))
        return 0
    for e in entries:
        print(
            f"{e.seq:>7} {e.at[:19]} {e.actor:16} {e.action:24} {e.result:18} "
            f"{e.card or '-':20} {e.target or '-'}"
        )
    return 0


# -- blacklist -------------------------------------------------------------------------------------------


def _serial_note(serial: str | None) -> str:
    return f" (card {serial})" if serial else ""


def _blacklist_add(args: argparse.Namespace, ctx: DataContext) -> int:
    from cardservice.access import Blacklist

    with audited(ctx, "blacklist.add", card=_masked(args.card_number)):
        Blacklist(ctx.database).add(
            args.card_number, args.reason, listed_by=ctx.actor, issuance_serial=args.serial or ""
        )
    print(f"blacklisted {_masked(args.card_number)}{_serial_note(args.serial)}")
    return 0


def _blacklist_remove(args: argparse.Namespace, ctx: DataContext) -> int:
    from cardservice.access import Blacklist

    blacklist = Blacklist(ctx.database)
    with audited(ctx, "blacklist.remove", card=_masked(args.card_number)):
        blacklist.remove(args.card_number, removed_by=ctx.actor, issuance_serial=args.serial)
    print(f"removed {_masked(args.card_number)}{_serial_note(args.serial)} from the blacklist")
    if args.serial is None:  # the registry's entries of the number stay: say so
        for e in blacklist.entries(args.card_number):
            if e.from_registry:
                print(f"card {e.issuance_serial} stays on it: listed by the card registry ({e.reason})")
    return 0


def _blacklist_list(args: argparse.Namespace, ctx: DataContext) -> int:
    from cardservice.access import Blacklist

    entries = Blacklist(ctx.database).entries()
    if not entries:
        print("the blacklist is empty")
    for e in entries:
        print(
            f"{e.card_number:20} {e.issuance_serial or '*':12} {_when(e.listed_at):16} {e.listed_by:16} "
            f"{e.source:24} {e.reason}"
        )
    return 0


def _blacklist_export(args: argparse.Namespace, ctx: DataContext) -> int:
    from cardservice.access import Blacklist

    with audited(ctx, "blacklist.export", target=str(args.file)) as detail:
        count = Blacklist(ctx.database).export(args.file)
        detail.update(entries=count)
    print(f"{count} entries written to {args.file}")
    return 0


def _blacklist_import(args: argparse.Namespace, ctx: DataContext) -> int:
    from cardservice.access import Blacklist

    with audited(ctx, "blacklist.import", target=str(args.file)) as detail:
        count = Blacklist(ctx.database).import_(args.file, listed_by=ctx.actor)
        detail.update(entries=count)
    print(f"{count} entries imported from {args.file}")
    return 0


# -- the parser ------------------------------------------------------------------------------------------


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return int(text)


def _seq(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a sequence number: {text!r}")
    return int(text)


def _anchor(text: str) -> AuditAnchor:
    from cardservice.access import AuditAnchor

    try:
        return AuditAnchor.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not SEQ:HASH (as the daemon logs it: audit anchor SEQ:HASH): {text!r}"
        ) from None


def add_admin_commands(commands: Any) -> None:
    """Add the ``token``, ``audit`` and ``blacklist`` command groups to *commands* (what
    ``ArgumentParser.add_subparsers()`` returns). Handlers read ``args.home`` (a Path, or None / absent
    for the default data directory)."""
    token = commands.add_parser("token", help="API keys of the daemon's clients")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    create = token_commands.add_parser("create", help="a new key (printed once)")
    create.add_argument("name", help="client name, e.g. kiosk-3 or his-outpatient")
    create.add_argument(
        "--scope", action="append", required=True, choices=_SCOPES,
        help="kiosk, his, issuer or admin (repeat for several)",
    )  # fmt: skip
    create.set_defaults(func=guarded("token", _token_create))
    token_commands.add_parser("list", help="keys, scopes, last use").set_defaults(
        func=guarded("token", _token_list)
    )
    revoke = token_commands.add_parser("revoke", help="revoke the active key of a client")
    revoke.add_argument("name")
    revoke.set_defaults(func=guarded("token", _token_revoke))

    audit = commands.add_parser("audit", help="the hash-chained audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    verify = audit_commands.add_parser("verify", help="detect any edited or deleted record (reads only)")
    verify.add_argument(
        "--anchor", type=_anchor, metavar="SEQ:HASH",
        help="also check an anchor from the daemon's log (line 'audit anchor SEQ:HASH')",
    )  # fmt: skip
    verify.set_defaults(func=guarded("audit", _audit_verify, readonly=True))
    show = audit_commands.add_parser("show", help="the newest records (or those after --since)")
    show.add_argument("--limit", type=_positive, default=50, metavar="N", help="at most N records (50)")
    show.add_argument("--since", type=_seq, metavar="SEQ", help="the records after SEQ, oldest first")
    show.add_argument("--action", help="only this action, e.g. card.read_identity")
    show.add_argument("--card", metavar="MASKED", help="only this masked card number")
    show.add_argument("--json", action="store_true", help="a JSON list")
    show.set_defaults(func=guarded("audit", _audit_show))

    add_blacklist_commands(commands)


def add_blacklist_commands(commands: Any, *, program: str = "cardservice") -> None:
    """The ``blacklist`` group (also part of ``card-issuer``: the issuer exports lists for other sites)."""
    blacklist = commands.add_parser("blacklist", help="cards the daemon refuses")
    blacklist_commands = blacklist.add_subparsers(dest="blacklist_command", required=True, metavar="COMMAND")
    add = blacklist_commands.add_parser("add", help="refuse a card (by card number KH)")
    add.add_argument("card_number")
    add.add_argument("--reason", required=True, help="e.g. 挂失 (reported lost)")
    add.add_argument("--serial", metavar="XPXLH", help="only the card with this issuance serial")
    add.set_defaults(func=guarded("blacklist", _blacklist_add, program=program))
    remove = blacklist_commands.add_parser(
        "remove", help="accept a card again (entries added by hand: the registry's follow the card's status)"
    )
    remove.add_argument("card_number")
    remove.add_argument("--serial", metavar="XPXLH", help="only the entry of this issuance serial")
    remove.set_defaults(func=guarded("blacklist", _blacklist_remove, program=program))
    blacklist_commands.add_parser("list", help="every blacklisted card").set_defaults(
        func=guarded("blacklist", _blacklist_list, program=program)
    )
    export = blacklist_commands.add_parser("export", help="CSV for other sites")
    export.add_argument("file", type=Path)
    export.set_defaults(func=guarded("blacklist", _blacklist_export, program=program))
    load = blacklist_commands.add_parser("import", help="CSV from another site (all rows checked first)")
    load.add_argument("file", type=Path)
    load.set_defaults(func=guarded("blacklist", _blacklist_import, program=program))
