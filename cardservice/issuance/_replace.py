"""Replacement (补卡 / 换卡): a new card for a person whose card is lost, locked or worn out.

The new card gets a new issuance serial (XPXLH), issue date, security code and validity; everything
else is carried over — from a read of the old card when it is at hand (so health data written by
hospitals since issuance survives), else from the registry's copy of what was written at issuance
(and the operator is told that later entries are lost). When the new card is verified, the old one
becomes ``replaced`` and goes onto the blacklist by its serial in the same transaction: the old card
is refused, the new one (same card number) is not.

Only a card the registry's transition table lets become ``replaced`` (active, lost, locked) is
replaced: an issued card awaiting handover, or a cancelled one, is refused before any card is
touched. Should the old card change meanwhile (cancelled while the new chip is written), the new
chip cannot be recorded as its replacement: it is spoiled and blacklisted, never left unrecorded.

The bank application (unless ``bank=False``) keeps the old card's PAN with the next PAN sequence number
(PSN 02 for the first replacement), so the new chip has card keys of its own (:mod:`._bank`).
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from cardservice.healthcard import Encounter, HealthCardSession, TlvFileModel, mask_id_number
from cardservice.issuance._bank import BankIssuer
from cardservice.issuance._batch import (
    CardSource,
    IssuedCard,
    bank_issuer_of,
    blank_card,
    chip_serial,
    new_security_code,
    write_card,
)
from cardservice.issuance._personalise import TransportKeys
from cardservice.issuance._registry import CardRecord, CardStatus, Registry, RegistryError
from cardservice.issuance._sealing import ContentCipher
from cardservice.keys import KeyStore, Sam
from cardservice.store import Database

__all__ = ["document_from_card", "replace_card"]

_VALIDITY_YEARS = 10
_INDEX_FILES = ("DDF1/DF03/EF05", "DDF1/DF03/EF06")  # derived from the records present


def _plain(model: BaseModel, *, drop: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A model as holder-format JSON values: dates ISO 8601, bytes hex, absent items left out."""
    values: dict[str, Any] = {}
    for name, value in model.model_dump().items():
        if value is None or name in drop:
            continue
        if isinstance(value, bytes):
            value = value.hex()
        elif isinstance(value, _dt.date | _dt.datetime):
            value = value.isoformat()
        elif hasattr(value, "value"):  # enums
            value = value.value
        values[name] = value
    return values


def document_from_card(files: dict[str, object]) -> dict[str, Any]:
    """The holder document (``cardservice.health-holder/1``) of what ``read_all`` read from a card."""
    document: dict[str, Any] = {"format": "cardservice.health-holder/1"}
    for path, value in files.items():
        if path in _INDEX_FILES or value is None:
            continue
        if path == "DDF1/EF07":
            if isinstance(value, bytes) and value:
                document[path] = {"image_base64": base64.b64encode(value).decode()}
        elif isinstance(value, Encounter):
            # signed again when written: the signature covers the new card's context
            document[path] = _plain(value.record, drop=frozenset({"signature", "sam_certificate"}))
        elif isinstance(value, list):
            document[path] = [_plain(entry) for entry in value]
        elif isinstance(value, TlvFileModel):
            plain = _plain(value, drop=frozenset({"issuer_certificate"}))
            if plain:
                document[path] = plain
    return document


def _renewed(document: dict[str, Any], issuance_serial: str, today: _dt.date) -> dict[str, Any]:
    renewed: dict[str, Any] = json.loads(json.dumps(document))
    issuer = renewed.setdefault("DDF1/EF05", {})
    issuer.update(
        issuance_serial=issuance_serial, issue_date=today.isoformat(), security_code=new_security_code()
    )
    issuer.pop("issuer_certificate", None)
    try:
        expiry = today.replace(year=today.year + _VALIDITY_YEARS)
    except ValueError:  # 29 February
        expiry = today.replace(year=today.year + _VALIDITY_YEARS, day=28)
    renewed.setdefault("DDF1/EF08", {})["expiry_date"] = expiry.isoformat()
    return renewed


def replace_card(
    card_number: str,
    database: Database,
    *,
    source: CardSource,
    keystore: KeyStore,
    sam: Sam,
    transport: TransportKeys,
    actor: str,
    station: str,
    read_old_card: Callable[[], dict[str, object]] | None = None,
    reason: str = "补卡",
    bank: BankIssuer | bool = True,
    on_note: Callable[[str], None] = lambda line: None,
    today: _dt.date | None = None,
) -> IssuedCard:
    """Issue the replacement of *card_number*'s live card on the next blank card of *source*.
    *read_old_card*: reads the old card (``HealthCardSession.read_all``) when it is at hand. *bank*: as for
    :func:`~._batch.run_batch`. :class:`RegistryError` before any card is touched when the card cannot be
    replaced."""
    bank_issuer = bank_issuer_of(bank, keystore)
    registry = Registry(database, ContentCipher.from_keystore(keystore))
    old = _card_to_replace(registry, card_number)
    if read_old_card is not None:
        document = document_from_card(read_old_card())
        on_note(f"card {old.issuance_serial}: health data read from the old card")
    else:
        content = registry.content(old.id)
        if content is None:
            raise RegistryError(f"card {old.issuance_serial}: the registry holds no copy of its contents")
        document = json.loads(content)
        on_note(
            f"card {old.issuance_serial}: the old card is not at hand; contents from the registry's copy "
            "(anything written to the old card after issuance is not carried over)"
        )
    started = _dt.datetime.now(_dt.UTC)
    card = blank_card(source, on_note)
    record = registry.begin(card_number, actor=actor, batch=f"replace:{old.issuance_serial}",
                            replaces=old.id, station=station)  # fmt: skip
    renewed = _renewed(document, record.issuance_serial or "", today or _dt.date.today())
    outcome, serial, detail = write_card(
        card, record, renewed, registry=registry, keystore=keystore, sam=sam, transport=transport,
        actor=actor, bank=bank_issuer,
    )  # fmt: skip
    source.eject(card)
    if outcome in ("active", "issued"):
        on_note(f"card {old.issuance_serial} replaced ({reason}) and blacklisted by its serial")
    seconds = (_dt.datetime.now(_dt.UTC) - started).total_seconds()
    return IssuedCard(0, record.masked, outcome, serial, chip_serial(card.atr), detail, seconds=seconds)


def _card_to_replace(registry: Registry, card_number: str) -> CardRecord:
    """The person's live card, or else their latest card (to name its status), if it may become
    replaced (the registry's transition table); else :class:`RegistryError`."""
    card = registry.live_card(card_number)
    if card is None:
        cards = [c for c in registry.cards(card_number=card_number) if c.status is not CardStatus.SPOILED]
        if not cards:
            raise RegistryError(f"{mask_id_number(card_number)} has no card to replace")
        card = cards[-1]
    registry.check_transition(card, CardStatus.REPLACED)
    return card


def old_card_reader(card: object, sam: Sam) -> Callable[[], dict[str, object]]:
    """``read_old_card`` for a card object with ``atr`` and ``transmit``."""
    return lambda: HealthCardSession(card, sam).read_all()
