"""Card issuance (``card-issuer``): personalising blank cards into Resident Health Cards, in batches,
journaled in the card registry so that a killed run resumes; replacement cards; batch reports.

    load_people(file) -> people, bad rows        the batch input, every row checked first
    run_batch(people, source=CardSource, ...)    one card per person without a live card
    resume(...)                                  settle what a killed run of this station left
    replace_card(...)                            补卡 / 换卡
    Registry(database)                           the card registry and life cycle (挂失, 解挂, ...)

Blank cards come from a :class:`CardSource` (a reader swapped by hand, a feeder, a dispenser): the
sources are drivers (:mod:`drivers.readers`), found through :mod:`cardservice.plugins`. A card dispenser
(发卡机) is a :class:`CardDispenser` (drivers: :mod:`drivers.dispenser`); :class:`DispenserCardSource`
makes it and the reader at its read position a card source.
"""

from cardservice.issuance._batch import (
    BatchResult,
    CardSource,
    FeederEmptyError,
    IssuedCard,
    batch_id,
    blank_card,
    discard,
    release,
    resume,
    run_batch,
    write_card,
)
from cardservice.issuance._dispenser import (
    CardDispenser,
    DispenserCardSource,
    DispenserError,
    DispenserStatus,
)
from cardservice.issuance._people import (
    COLUMNS,
    IssuerProfile,
    Person,
    RowError,
    holder_document,
    load_people,
)
from cardservice.issuance._personalise import (
    CARD_SIM_TRANSPORT_KEY,
    CardKey,
    CsosEncoding,
    NotBlankError,
    TransportKeys,
    personalise,
    verify_contents,
)
from cardservice.issuance._registry import CardRecord, CardStatus, Registry, RegistryError
from cardservice.issuance._replace import document_from_card, old_card_reader, replace_card
from cardservice.issuance._report import OUTCOME_LABELS, BatchReport
from cardservice.issuance._sealing import REGISTRY_KEY_NAME, ContentCipher

__all__ = [
    "CARD_SIM_TRANSPORT_KEY",
    "COLUMNS",
    "OUTCOME_LABELS",
    "REGISTRY_KEY_NAME",
    "BatchReport",
    "BatchResult",
    "CardDispenser",
    "CardKey",
    "CardRecord",
    "CardSource",
    "CardStatus",
    "ContentCipher",
    "CsosEncoding",
    "DispenserCardSource",
    "DispenserError",
    "DispenserStatus",
    "FeederEmptyError",
    "IssuedCard",
    "IssuerProfile",
    "NotBlankError",
    "Person",
    "Registry",
    "RegistryError",
    "RowError",
    "TransportKeys",
    "batch_id",
    "blank_card",
    "discard",
    "document_from_card",
    "holder_document",
    "load_people",
    "old_card_reader",
    "personalise",
    "release",
    "replace_card",
    "resume",
    "run_batch",
    "verify_contents",
    "write_card",
]
