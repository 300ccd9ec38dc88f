"""Where the bank application lives on the card OS, and the encodings of its internal files.

The layout is defined once, in :mod:`cardservice.pboc._csos` (its docstring has the table), because
card-issuer writes the same files to blank cards with APDUs: the card and the issuer cannot drift apart.
This module is card-sim's name for it.
"""

from __future__ import annotations

from cardservice.pboc._csos import (
    ADF_FID,
    CARD_KEY_REFS,
    COUNTERS_FID,
    FLAG_BLOCKED,
    FLAG_ISSUER_AUTH_FAILED,
    FLAG_ONLINE_PENDING,
    ICC_KEY_FID,
    MK_AC_REF,
    MK_SMC_REF,
    MK_SMI_REF,
    PARAMETERS_FID,
    PPSE_FID,
    PSE_FID,
    RECORD_FIDS,
    RECORD_LENGTH,
    Counters,
    Parameters,
)

__all__ = [
    "ADF_FID",
    "CARD_KEY_REFS",
    "COUNTERS_FID",
    "FLAG_BLOCKED",
    "FLAG_ISSUER_AUTH_FAILED",
    "FLAG_ONLINE_PENDING",
    "ICC_KEY_FID",
    "MK_AC_REF",
    "MK_SMC_REF",
    "MK_SMI_REF",
    "PARAMETERS_FID",
    "PPSE_FID",
    "PSE_FID",
    "RECORD_FIDS",
    "RECORD_LENGTH",
    "Counters",
    "Parameters",
]
