"""Card issuance (``card-issuer``): personalising blank cards into Resident Health Cards, in batches,
journaled in the card registry so that a killed run resumes; replacement cards; batch reports.

    load_people(file) -> people, bad rows        the batch input, every row checked first
    run_batch(people, source=CardSource, ...)    one card per person without a live card
    resume(...)                                  settle what a killed run of this station left
    replace_card(...)                            补卡 / 换卡
    Registry(database)                           the card registry and life cycle (挂失, 解挂, ...)
    BankIssuer.from_keystore(store)              the bank application every card gets (PAN rule: ._bank)
    relay_issuance(setup, channel, opening)      one card issued at a kiosk, from the issuance service
    record_id_number(registry, ...)              a child's card (._newborn) gets the child's ID number
    KioskRelay(url, token, source).issue(person) the kiosk's side: dispenser and APDUs relayed (._wire)

Blank cards come from a :class:`CardSource` (a reader swapped by hand, a feeder, a dispenser): the
sources are drivers (:mod:`drivers.readers`), found through :mod:`cardservice.plugins`. A card dispenser
(发卡机) is a :class:`CardDispenser` (drivers: :mod:`drivers.dispenser`); :class:`DispenserCardSource`
makes it and the reader at its read position a card source.
"""

from cardservice.issuance._bank import (
    DEFAULT_BIN,
    BankIssuer,
    check_bank,
    pan_for,
    personalise_bank,
)
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
from cardservice.issuance._newborn import (
    BIRTH_CERTIFICATE_TYPE,
    DOCUMENT_TYPES,
    GUARDIAN_RELATIONS,
    ID_CARD_TYPE,
    ID_NUMBER_REFUSALS,
    IdNumberRefused,
    child_person,
    record_id_number,
)
from cardservice.issuance._people import (
    COLUMNS,
    IssuerProfile,
    Person,
    RowError,
    fit_photo,
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
from cardservice.issuance._relay import IssuanceFailed, IssuanceResult, KioskRelay
from cardservice.issuance._remote import FAILURES, IssuerSetup, RelayError, RemoteCardSource, relay_issuance
from cardservice.issuance._replace import document_from_card, old_card_reader, replace_card
from cardservice.issuance._report import OUTCOME_LABELS, BatchReport
from cardservice.issuance._sealing import REGISTRY_KEY_NAME, ContentCipher
from cardservice.issuance._wire import (
    STAGES,
    Answer,
    ChildIn,
    Done,
    Failed,
    IssuedCardInfo,
    Opening,
    PersonIn,
    ServiceFrame,
    parse_service_frame,
)

__all__ = [
    "BIRTH_CERTIFICATE_TYPE",
    "CARD_SIM_TRANSPORT_KEY",
    "COLUMNS",
    "DEFAULT_BIN",
    "DOCUMENT_TYPES",
    "FAILURES",
    "GUARDIAN_RELATIONS",
    "ID_CARD_TYPE",
    "ID_NUMBER_REFUSALS",
    "OUTCOME_LABELS",
    "REGISTRY_KEY_NAME",
    "STAGES",
    "Answer",
    "BankIssuer",
    "BatchReport",
    "BatchResult",
    "CardDispenser",
    "CardKey",
    "CardRecord",
    "CardSource",
    "CardStatus",
    "ChildIn",
    "ContentCipher",
    "CsosEncoding",
    "DispenserCardSource",
    "DispenserError",
    "DispenserStatus",
    "Done",
    "Failed",
    "FeederEmptyError",
    "IdNumberRefused",
    "IssuanceFailed",
    "IssuanceResult",
    "IssuedCard",
    "IssuedCardInfo",
    "IssuerProfile",
    "IssuerSetup",
    "KioskRelay",
    "NotBlankError",
    "Opening",
    "Person",
    "PersonIn",
    "Registry",
    "RegistryError",
    "RelayError",
    "RemoteCardSource",
    "RowError",
    "ServiceFrame",
    "TransportKeys",
    "batch_id",
    "blank_card",
    "check_bank",
    "child_person",
    "discard",
    "document_from_card",
    "fit_photo",
    "holder_document",
    "load_people",
    "old_card_reader",
    "pan_for",
    "parse_service_frame",
    "personalise",
    "personalise_bank",
    "record_id_number",
    "relay_issuance",
    "release",
    "replace_card",
    "resume",
    "run_batch",
    "verify_contents",
    "write_card",
]
