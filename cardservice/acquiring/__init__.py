"""The acquirer link: ISO 8583 over TCP to a CUP-style acquirer (收单机构) for online sales with the card's
bank application. Sans-I/O codec (field table ``_spec``, framing and MAC ``_frame``/``_mac``, typed messages
``_messages``, field 55 ``_icc``) under one thin client (``_client``).

Errors::

    CardserviceError
    └── AcquirerError
        ├── Iso8583Error           a malformed frame or field, an unsupported message, a mismatched answer
        │   └── MacError           field 64 missing or wrong: not authentic, never an approval
        ├── AcquirerUnavailable    nothing was sent (connect refused / timed out)
        └── AcquirerTimeout        sent, no whole answer: the host may have acted (reverse a sale)

A sale that went out and came back with anything but an authentic, matching answer must be reversed
(:class:`ReversalRequest`, reason 98 or A0) until a 0410 answers ``final``.
"""

from cardservice.acquiring._client import AcquirerLink
from cardservice.acquiring._errors import (
    AcquirerError,
    AcquirerTimeout,
    AcquirerUnavailable,
    Iso8583Error,
    MacError,
)
from cardservice.acquiring._frame import (
    DEFAULT_HEADER,
    DEFAULT_TPDU,
    LENGTH_PREFIX,
    FieldValue,
    Frame,
    body_length,
    check_mac,
    decode_frame,
    encode_frame,
    mask_pan,
    reply_tpdu,
)
from cardservice.acquiring._icc import IccData, build_icc_data, issuer_script, track2_text
from cardservice.acquiring._mac import cup_pos_mac, verify_cup_pos_mac
from cardservice.acquiring._messages import (
    CURRENCY_CNY,
    REVERSAL_BAD_MAC,
    REVERSAL_CARD_DECLINED,
    REVERSAL_FINAL_CODES,
    REVERSAL_NO_ANSWER,
    SECURITY_CONTROL_PIN,
    SETTLEMENT_BALANCED,
    SETTLEMENT_UNBALANCED,
    AnyMessage,
    Message,
    RefundRequest,
    RefundResponse,
    ReversalRequest,
    ReversalResponse,
    SaleRequest,
    SaleResponse,
    SettlementRequest,
    SettlementResponse,
    SettlementTotals,
    decode_message,
    encode_message,
    message_from_frame,
)
from cardservice.acquiring._spec import FIELDS, PYISO8583_SPEC, FieldDef, Kind

__all__ = [
    "CURRENCY_CNY",
    "DEFAULT_HEADER",
    "DEFAULT_TPDU",
    "FIELDS",
    "LENGTH_PREFIX",
    "PYISO8583_SPEC",
    "REVERSAL_BAD_MAC",
    "REVERSAL_CARD_DECLINED",
    "REVERSAL_FINAL_CODES",
    "REVERSAL_NO_ANSWER",
    "SECURITY_CONTROL_PIN",
    "SETTLEMENT_BALANCED",
    "SETTLEMENT_UNBALANCED",
    "AcquirerError",
    "AcquirerLink",
    "AcquirerTimeout",
    "AcquirerUnavailable",
    "AnyMessage",
    "FieldDef",
    "FieldValue",
    "Frame",
    "IccData",
    "Iso8583Error",
    "Kind",
    "MacError",
    "Message",
    "RefundRequest",
    "RefundResponse",
    "ReversalRequest",
    "ReversalResponse",
    "SaleRequest",
    "SaleResponse",
    "SettlementRequest",
    "SettlementResponse",
    "SettlementTotals",
    "body_length",
    "build_icc_data",
    "check_mac",
    "cup_pos_mac",
    "decode_frame",
    "decode_message",
    "encode_frame",
    "encode_message",
    "issuer_script",
    "mask_pan",
    "message_from_frame",
    "reply_tpdu",
    "track2_text",
    "verify_cup_pos_mac",
]
