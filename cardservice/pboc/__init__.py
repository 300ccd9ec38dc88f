"""The bank application on the health card's chip (PBOC 3.0 debit, 金融IC卡), terminal side, sans-I/O.

Layers, top to bottom::

    kernel     sale(): the online sale as a generator flow (card APDUs, PIN request, online request)
    terminal   TerminalConfig, TVR/TSI, the kernel's requests and answers, SaleOutcome
    oda        offline data authentication (SDA, DDA; RSA certificates both ways), CA public keys (capk.toml)
    tags       the data-object dictionary (one table), DOL building and parsing, PAN masking
    crypto     card keys, PBOC session keys, ARQC/ARPC, script MAC, ISO 9564 PIN blocks

The issuer's choices for the cards it personalises (what a card carries) are :mod:`._profile`; the terminal
never reads them: it reads the card. Facts and vectors: shared/spec/pboc-facts.md.
"""

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
from cardservice.pboc._kernel import PSE_NAME, SALE_ICC_TAGS, CardDataError, sale
from cardservice.pboc._oda import CaPublicKey, OdaError, OdaReason, load_ca_keys
from cardservice.pboc._tags import (
    DATA_OBJECTS,
    DataObject,
    build_dol_data,
    data_object,
    mask_pan,
    parse_dol,
    parse_dol_data,
    tag_name,
)
from cardservice.pboc._terminal import (
    UNIONPAY_AIDS,
    OnlineAnswer,
    OnlineRequest,
    OnlineResult,
    PinAnswer,
    PinRequest,
    SaleOutcome,
    SaleResult,
    TerminalConfig,
    Tsi,
    Tvr,
)

__all__ = [
    "CRYPTOGRAM_TAGS",
    "DATA_OBJECTS",
    "PSE_NAME",
    "SALE_ICC_TAGS",
    "UNIONPAY_AIDS",
    "AcScheme",
    "CaPublicKey",
    "CardDataError",
    "DataObject",
    "OdaError",
    "OdaReason",
    "OnlineAnswer",
    "OnlineRequest",
    "OnlineResult",
    "PinAnswer",
    "PinRequest",
    "SaleOutcome",
    "SaleResult",
    "TerminalConfig",
    "Tsi",
    "Tvr",
    "application_cryptogram",
    "arpc_method_1",
    "arpc_method_2",
    "build_dol_data",
    "card_master_key",
    "cryptogram_input",
    "data_object",
    "load_ca_keys",
    "mask_pan",
    "pan_psn_block",
    "parse_dol",
    "parse_dol_data",
    "pin_block_format_0",
    "pin_from_block_format_0",
    "sale",
    "script_mac",
    "session_key",
    "tag_name",
    "verify_arpc",
]
