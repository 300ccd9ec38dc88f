"""``cardservice token | audit | blacklist``: manage the daemon's data directory (the same one ``serve``
uses: ``--home``, else ``$CARDSERVICE_HOME``). Every change is itself audited, with the OS user as actor.

::

    cardservice token create NAME --scope kiosk [--scope his ...]   (the key is printed once)
    cardservice token list | revoke NAME
    cardservice audit verify | show [--limit N] [--since SEQ] [--action A] [--json]
    cardservice blacklist add CARD_NUMBER --reason TEXT | remove CARD_NUMBER
    cardservice blacklist list | export FILE | import FILE
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cardservice.config import ConfigError, Settings, load_settings

__all__ = ["add_admin_commands"]


@dataclass
class _Context:
    settings: Settings
    database: Any
    audit: Any
    actor: str


@contextmanager
def _context(args: argparse.Namespace) -> Iterator[_Context]:
    from cardservice.audit import AuditLog
    from cardservice.store import open_database

    settings = load_settings(home=args.home)
    database = open_database(settings.database)
    try:
        yield _Context(
            settings, database, AuditLog(database, AuditLog.key_from_home(settings.home)), getpass.getuser()
        )
    finally:
        database.close()


def _guarded(handler: Callable[[argparse.Namespace, _Context], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from cardservice.store import StoreError

        try:
            with _context(args) as context:
                return handler(args, context)
        except (StoreError, ConfigError) as exc:
            print(f"cardservice {args.command}: {exc}", file=sys.stderr)
            return 1

    return run


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


# -- token -----------------------------------------------------------------------------------------------


def _token_create(args: argparse.Namespace, ctx: _Context) -> int:
    from cardservice.tokens import ApiKeys

    info, token = ApiKeys(ctx.database).create(args.name, args.scope, created_by=ctx.actor)
    ctx.audit.record(
        actor=ctx.actor, action="token.create", result="ok", target=info.name,
        detail={"key_id": info.key_id, "scopes": sorted(info.scopes)},
    )  # fmt: skip
    print(token)
    print(
        f"API key for {info.name!r} (scopes: {', '.join(sorted(info.scopes))}). It is shown only now: "
        "store it where the client keeps secrets.",
        file=sys.stderr,
    )
    return 0


def _token_list(args: argparse.Namespace, ctx: _Context) -> int:
    from cardservice.tokens import ApiKeys

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


def _token_revoke(args: argparse.Namespace, ctx: _Context) -> int:
    from cardservice.tokens import ApiKeys

    info = ApiKeys(ctx.database).revoke(args.name)
    ctx.audit.record(actor=ctx.actor, action="token.revoke", result="ok", target=info.name,
                     detail={"key_id": info.key_id})  # fmt: skip
    print(f"revoked the key of {info.name!r} ({info.key_id}); a running daemon refuses it within 5 s")
    return 0


# -- audit -----------------------------------------------------------------------------------------------


def _audit_verify(args: argparse.Namespace, ctx: _Context) -> int:
    report = ctx.audit.verify()
    if report.ok:
        print(f"audit log intact: {report.records} records")
        return 0
    print(f"audit log NOT intact ({report.records} records read):", file=sys.stderr)
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _audit_show(args: argparse.Namespace, ctx: _Context) -> int:
    entries = ctx.audit.entries(since_seq=args.since, limit=args.limit, action=args.action)
    if args.json:
        print(json.dumps([entry.__dict__ for entry in entries], ensure_ascii=False, indent=2))
        return 0
    for e in entries:
        print(
            f"{e.seq:>7} {e.at[:19]} {e.actor:16} {e.action:24} {e.result:18} "
            f"{e.card or '-':20} {e.target or '-'}"
        )
    return 0


# -- blacklist -------------------------------------------------------------------------------------------


def _blacklist_add(args: argparse.Namespace, ctx: _Context) -> int:
    from cardservice.blacklist import Blacklist
    from cardservice.healthcard import mask_id_number

    Blacklist(ctx.database).add(args.card_number, args.reason, listed_by=ctx.actor)
    ctx.audit.record(
        actor=ctx.actor, action="blacklist.add", result="ok", card=mask_id_number(args.card_number)
    )
    print(f"blacklisted {mask_id_number(args.card_number)}")
    return 0


def _blacklist_remove(args: argparse.Namespace, ctx: _Context) -> int:
    from cardservice.blacklist import Blacklist
    from cardservice.healthcard import mask_id_number

    Blacklist(ctx.database).remove(args.card_number)
    ctx.audit.record(
        actor=ctx.actor, action="blacklist.remove", result="ok", card=mask_id_number(args.card_number)
    )
    print(f"removed {mask_id_number(args.card_number)} from the blacklist")
    return 0


def _blacklist_list(args: argparse.Namespace, ctx: _Context) -> int:
    from cardservice.blacklist import Blacklist

    for e in Blacklist(ctx.database).entries():
        print(f"{e.card_number:20} {_when(e.listed_at):16} {e.listed_by:16} {e.source:24} {e.reason}")
    return 0


def _blacklist_export(args: argparse.Namespace, ctx: _Context) -> int:
    from cardservice.blacklist import Blacklist

    count = Blacklist(ctx.database).export(args.file)
    ctx.audit.record(actor=ctx.actor, action="blacklist.export", result="ok", detail={"entries": count})
    print(f"{count} entries written to {args.file}")
    return 0


def _blacklist_import(args: argparse.Namespace, ctx: _Context) -> int:
    from cardservice.blacklist import Blacklist

    count = Blacklist(ctx.database).import_(args.file, listed_by=ctx.actor)
    ctx.audit.record(actor=ctx.actor, action="blacklist.import", result="ok", detail={"entries": count,
                     "file": args.file.name})  # fmt: skip
    print(f"{count} entries imported from {args.file}")
    return 0


def add_admin_commands(commands: Any) -> None:
    """Add the ``token``, ``audit`` and ``blacklist`` command groups to an argparse subparsers object."""
    token = commands.add_parser("token", help="API keys of the daemon's clients")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="a new key (printed once)")
    create.add_argument("name", help="client name, e.g. kiosk-3 or his-outpatient")
    create.add_argument(
        "--scope", action="append", required=True, choices=("kiosk", "his", "issuer", "admin"),
        help="kiosk, his, issuer or admin (repeat for several)",
    )  # fmt: skip
    create.set_defaults(func=_guarded(_token_create))
    token_commands.add_parser("list", help="keys, scopes, last use").set_defaults(func=_guarded(_token_list))
    revoke = token_commands.add_parser("revoke", help="revoke the active key of a client")
    revoke.add_argument("name")
    revoke.set_defaults(func=_guarded(_token_revoke))

    audit = commands.add_parser("audit", help="the hash-chained audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    audit_commands.add_parser("verify", help="detect any edited or deleted record").set_defaults(
        func=_guarded(_audit_verify)
    )
    show = audit_commands.add_parser("show", help="the newest records")
    show.add_argument("--limit", type=int, default=50)
    show.add_argument("--since", type=int, metavar="SEQ", help="records after SEQ")
    show.add_argument("--action", help="only this action, e.g. card.read_identity")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_guarded(_audit_show))

    blacklist = commands.add_parser("blacklist", help="cards the daemon refuses")
    blacklist_commands = blacklist.add_subparsers(dest="blacklist_command", required=True)
    add = blacklist_commands.add_parser("add", help="refuse a card (by card number KH)")
    add.add_argument("card_number")
    add.add_argument("--reason", required=True, help="e.g. 挂失 (reported lost)")
    add.set_defaults(func=_guarded(_blacklist_add))
    remove = blacklist_commands.add_parser("remove", help="accept a card again")
    remove.add_argument("card_number")
    remove.set_defaults(func=_guarded(_blacklist_remove))
    blacklist_commands.add_parser("list").set_defaults(func=_guarded(_blacklist_list))
    export = blacklist_commands.add_parser("export", help="CSV for other sites")
    export.add_argument("file", type=Path)
    export.set_defaults(func=_guarded(_blacklist_export))
    load = blacklist_commands.add_parser("import", help="CSV from another site (all rows checked first)")
    load.add_argument("file", type=Path)
    load.set_defaults(func=_guarded(_blacklist_import))
