"""The HIS connector: what the daemon asks of the hospital information system (HIS) — departments,
doctors and slots, booking and cancelling a registration (挂号) and listing the patient's
registrations, outstanding bills and their settlement, one bill in any state (to reprint a receipt),
lab reports. The daemon is not the HIS: these belong to the hospital, and the daemon only relays them
for the card holder in front of the kiosk.

    his = open_embedded_his(database)                      # the reference HIS in the project database
    his = HttpHis(HttpHisConfig("https://his.hospital.example/cardservice", token=...))  # a real one
    patient = Patient(card_number, name)                   # as read from the inserted card
    registration = his.book(patient, slot.id, idempotency_key=key)

**The patient always comes from the card.** A :class:`Patient` is the card number (KH, the
18-character ID number) and name the daemon read from the inserted card; no connector method takes a
number typed on a kiosk, so nobody can book, pay or read reports for another person by typing their
ID number. Money is integer fen everywhere (no floats, no yuan). Mutating calls take an idempotency
key: the same key again returns the first result and does nothing twice (a kiosk retrying after a
timeout cannot book two places or pay twice). The wire contract of :class:`HttpHis` is
``docs/his-contract.md``; ``cardservice.his._server`` serves it over any connector.

Errors, one tree (``code`` is stable; ``message_zh`` is for the kiosk screen)::

    HisError                   his_error          anything the connector could not do
    ├── HisUnavailable         his_unavailable    unreachable / down (refused, 502, 503, 504): try later
    │   └── HisTimeout         his_timeout        no answer in time: for a mutating call the outcome is
    │                                             unknown; repeat it with the same idempotency key
    ├── HisProtocolError       his_protocol       the reply is not the contract (bad JSON, fields, types)
    └── HisRejected            his_rejected       refused (bad credentials, past slot, key reused, ...)
        ├── NotFound           not_found          no such department/doctor/slot/registration/bill
        ├── SlotFull           slot_full          no place left in the slot
        ├── AlreadyCancelled   already_cancelled  the registration (or its bill) is cancelled
        ├── AlreadySettled     already_settled    the bill was paid by another payment
        └── AmountMismatch     amount_mismatch    amount paid is not the bill's total (details.expected_fen)
"""

from cardservice.his._embedded import MAX_SLOT_DAYS, EmbeddedHis
from cardservice.his._errors import (
    AlreadyCancelled,
    AlreadySettled,
    AmountMismatch,
    HisError,
    HisProtocolError,
    HisRejected,
    HisTimeout,
    HisUnavailable,
    NotFound,
    SlotFull,
    error_for_code,
)
from cardservice.his._http import RETRY_STATUSES, HttpHis, HttpHisConfig
from cardservice.his._seed import FEES_FEN, SEED_DAYS, open_embedded_his, seed
from cardservice.his._values import (
    ABNORMAL_HIGH,
    ABNORMAL_LOW,
    ABNORMAL_TEXT,
    CHINA_TZ,
    Bill,
    BillItem,
    BirthRecord,
    Department,
    Doctor,
    HisConnector,
    LabItem,
    LabReport,
    Patient,
    Registration,
    Slot,
    abnormal_flag,
)

__all__ = [
    "ABNORMAL_HIGH",
    "ABNORMAL_LOW",
    "ABNORMAL_TEXT",
    "CHINA_TZ",
    "FEES_FEN",
    "MAX_SLOT_DAYS",
    "RETRY_STATUSES",
    "SEED_DAYS",
    "AlreadyCancelled",
    "AlreadySettled",
    "AmountMismatch",
    "Bill",
    "BillItem",
    "BirthRecord",
    "Department",
    "Doctor",
    "EmbeddedHis",
    "HisConnector",
    "HisError",
    "HisProtocolError",
    "HisRejected",
    "HisTimeout",
    "HisUnavailable",
    "HttpHis",
    "HttpHisConfig",
    "LabItem",
    "LabReport",
    "NotFound",
    "Patient",
    "Registration",
    "Slot",
    "SlotFull",
    "abnormal_flag",
    "error_for_code",
    "open_embedded_his",
    "seed",
]
