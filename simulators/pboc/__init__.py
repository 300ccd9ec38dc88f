"""The card's bank application (PBOC 3.0 debit, 金融IC卡) on card-sim's card OS, and the DEMO bank keys.

The health profile (:mod:`simulators.health`) puts it on every card it makes unless told not to:
:func:`payment_dfs` lays out the PSE, PPSE and ADF from the issuer's table
(:mod:`cardservice.pboc._profile`), and :data:`PBOC_INSTRUCTIONS` adds the commands of
the card contract to the card OS. :func:`set_fault` arms the ``aac-at-second`` fault (also
``{"cmd": "pboc", "fault": ...}`` on card-sim's control socket). :mod:`._layout` says where everything lives.

Importing this package also adds :data:`PBOC_INSTRUCTIONS` to the ``blank`` profile: card-issuer writes the
bank application to blank cards (``cardservice.issuance``), and a card keeps its profile name for life.
Outside the application's ADF each of those handlers answers as the card OS's own (or 6D00, as before), so
a blank card, or one issued without the bank application, behaves as it did. Whatever serves blank cards
(card-sim, its feeder, the virtual dispenser) imports this package.
"""

from simulators.cardos import PROFILES, register_profile
from simulators.pboc._commands import PBOC_INSTRUCTIONS
from simulators.pboc._demo import DEMO_BANK_KEY_NAMES, DEMO_PIN, demo_bank_key
from simulators.pboc._layout import ADF_FID, PPSE_FID, PSE_FID, Counters
from simulators.pboc._personalise import (
    DEMO_ISSUER_CERTIFICATE,
    DEMO_RSA_DIR,
    ISSUER_KEY_NAMES,
    OdaIssuer,
    demo_issuer_oda_key,
    demo_oda_issuer,
    issuer_oda_key,
    payment_dfs,
    payment_shell,
)
from simulators.pboc._session import FAULTS, fault, set_fault

__all__ = [
    "ADF_FID",
    "DEMO_BANK_KEY_NAMES",
    "DEMO_ISSUER_CERTIFICATE",
    "DEMO_PIN",
    "DEMO_RSA_DIR",
    "FAULTS",
    "ISSUER_KEY_NAMES",
    "PBOC_INSTRUCTIONS",
    "PPSE_FID",
    "PSE_FID",
    "Counters",
    "OdaIssuer",
    "demo_bank_key",
    "demo_issuer_oda_key",
    "demo_oda_issuer",
    "fault",
    "issuer_oda_key",
    "payment_dfs",
    "payment_shell",
    "set_fault",
]

register_profile("blank", PROFILES["blank"], instructions=PBOC_INSTRUCTIONS)
