"""The bank application on the health card's chip (PBOC 3.0 debit, 金融IC卡): crypto, tags, the terminal."""

from cardservice.pboc._crypto import (
    CRYPTOGRAM_TAGS,
    AcScheme,
    application_cryptogram,
    arpc_method_1,
    arpc_method_2,
    card_master_key,
    cryptogram_input,
    pan_psn_block,
    pin_block_format_0,
    pin_from_block_format_0,
    script_mac,
    session_key,
    verify_arpc,
)

__all__ = [
    "CRYPTOGRAM_TAGS",
    "AcScheme",
    "application_cryptogram",
    "arpc_method_1",
    "arpc_method_2",
    "card_master_key",
    "cryptogram_input",
    "pan_psn_block",
    "pin_block_format_0",
    "pin_from_block_format_0",
    "script_mac",
    "session_key",
    "verify_arpc",
]
