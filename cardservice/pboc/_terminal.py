"""The terminal's side of a PBOC debit sale, as values: its configuration, the verification results it
keeps (TVR, TSI), what the kernel asks of the world outside the card (a PIN, an online authorisation) and
what a sale came to. The flow itself is :mod:`._kernel`.

TVR and TSI bits are EMV 4.3 Book 3 Annex C5/C6 (JR/T 0025.5 uses the same); only the bits this terminal sets
are named. The terminal is a hospital kiosk: unattended, online only, IC contact, online PIN on an encrypting
PIN pad, SDA and DDA — its 9F33/9F35 say so.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
from collections.abc import Mapping

from cardservice.pboc._oda import CaPublicKey

__all__ = [
    "UNIONPAY_AIDS",
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
    "VerificationBits",
]

#: UnionPay's debit, credit and quasi-credit AIDs (facts sheet A1), in the order a PSE-less card is tried.
UNIONPAY_AIDS = (
    bytes.fromhex("A000000333010101"),
    bytes.fromhex("A000000333010102"),
    bytes.fromhex("A000000333010103"),
)


class Tvr(enum.Enum):
    """Terminal verification results (tag 95), (byte index, bit mask)."""

    ODA_NOT_PERFORMED = (0, 0x80)
    SDA_FAILED = (0, 0x40)
    ICC_DATA_MISSING = (0, 0x20)
    DDA_FAILED = (0, 0x08)
    DIFFERENT_APPLICATION_VERSIONS = (1, 0x80)
    EXPIRED_APPLICATION = (1, 0x40)
    NOT_YET_EFFECTIVE = (1, 0x20)
    SERVICE_NOT_ALLOWED = (1, 0x10)
    CARDHOLDER_VERIFICATION_FAILED = (2, 0x80)
    UNRECOGNISED_CVM = (2, 0x40)
    PIN_PAD_NOT_WORKING = (2, 0x10)
    ONLINE_PIN_ENTERED = (2, 0x04)
    FLOOR_LIMIT_EXCEEDED = (3, 0x80)
    UNABLE_TO_GO_ONLINE = (3, 0x08)
    ISSUER_AUTHENTICATION_FAILED = (4, 0x40)
    SCRIPT_FAILED_BEFORE_FINAL_GENAC = (4, 0x20)
    SCRIPT_FAILED_AFTER_FINAL_GENAC = (4, 0x10)


class Tsi(enum.Enum):
    """Transaction status information (tag 9B), (byte index, bit mask)."""

    ODA_PERFORMED = (0, 0x80)
    CARDHOLDER_VERIFICATION_PERFORMED = (0, 0x40)
    CARD_RISK_MANAGEMENT_PERFORMED = (0, 0x20)
    ISSUER_AUTHENTICATION_PERFORMED = (0, 0x10)
    TERMINAL_RISK_MANAGEMENT_PERFORMED = (0, 0x08)
    SCRIPT_PROCESSING_PERFORMED = (0, 0x04)


class VerificationBits:
    """A TVR (5 bytes) or TSI (2 bytes) being filled in."""

    def __init__(self, size: int) -> None:
        self._bytes = bytearray(size)

    def set(self, bit: Tvr | Tsi) -> None:
        index, mask = bit.value
        self._bytes[index] |= mask

    def __contains__(self, bit: Tvr | Tsi) -> bool:
        index, mask = bit.value
        return bool(self._bytes[index] & mask)

    def __bytes__(self) -> bytes:
        return bytes(self._bytes)

    def names(self, kind: type[Tvr] | type[Tsi]) -> list[str]:
        return [bit.name for bit in kind if bit in self]


@dataclasses.dataclass(frozen=True)
class TerminalConfig:
    """What the terminal tells the card about itself. ``terminal_type`` 24: merchant-controlled, unattended,
    online only; ``capabilities`` 9F33 ``20 48 C0``: IC with contacts; enciphered online PIN and no CVM;
    SDA and DDA. ``action_codes``: the terminal action codes denial / online / default (TACs, 5 bytes each).
    ``ca_keys``: the CA public keys by (RID, index) — an ``_oda.CaPublicKey`` each."""

    country: bytes = bytes.fromhex("0156")
    currency: bytes = bytes.fromhex("0156")
    terminal_type: int = 0x24
    capabilities: bytes = bytes.fromhex("2048C0")
    additional_capabilities: bytes = bytes.fromhex("6000F0A001")
    application_version: bytes = bytes.fromhex("0030")
    terminal_id: str = "00000001"
    ifd_serial: str = "KIOSK001"
    merchant_name: str = "HOSPITAL KIOSK"
    denial_code: bytes = bytes(5)
    online_code: bytes = bytes.fromhex("FFFFFFFFFF")
    default_code: bytes = bytes.fromhex("FFFFFFFFFF")
    aids: tuple[bytes, ...] = UNIONPAY_AIDS
    ca_keys: Mapping[tuple[bytes, int], CaPublicKey] = dataclasses.field(default_factory=dict)
    pin_pad: bool = True


@dataclasses.dataclass(frozen=True)
class PinRequest:
    """The kernel needs an online PIN: the PIN pad makes a format-0 block for *pan*, under its own key."""

    pan: str


@dataclasses.dataclass(frozen=True)
class PinAnswer:
    """``block``: the encrypted PIN block, or ``None`` when no PIN came (``status`` cancelled / timeout /
    unavailable)."""

    status: str
    block: bytes | None = None


@dataclasses.dataclass(frozen=True)
class OnlineRequest:
    """An online authorisation to make (ISO 8583 0200): the card data an acquirer needs and field 55's data
    objects. ``pin_block`` is the pad's encrypted block (never a clear PIN)."""

    pan: str
    psn: str | None
    expiry: str  # YYMMDD
    track2: bytes | None
    amount_fen: int
    icc_data: Mapping[int, bytes]
    pin_block: bytes | None


class OnlineResult(enum.Enum):
    APPROVED = "approved"  # the issuer approved (field 39 "00")
    DECLINED = "declined"  # the issuer declined: nothing was taken
    NOT_SENT = "not_sent"  # the acquirer could not be reached: nothing was sent
    NO_ANSWER = "no_answer"  # sent, no (valid) answer: it may have been approved — a reversal is due


@dataclasses.dataclass(frozen=True)
class OnlineAnswer:
    """The host's answer. ``arc``: the authorisation response code as it goes to the card (field 39's two
    ASCII characters; ``Z3`` when the terminal could not go online). ``issuer_authentication``: tag 91
    (ARPC ‖ ARC). ``scripts_before`` / ``scripts_after``: tag 71 / 72 templates, whole."""

    result: OnlineResult
    arc: bytes = b"Z3"
    issuer_authentication: bytes | None = None
    scripts_before: tuple[bytes, ...] = ()
    scripts_after: tuple[bytes, ...] = ()
    response_code: str = ""
    message: str = ""


class SaleResult(enum.Enum):
    """What a sale came to, for the payment method. Only ``APPROVED`` took money and keeps it;
    ``REVERSAL_NEEDED`` means the host may have taken it and the card did not agree (or never heard)."""

    APPROVED = "approved"
    DECLINED_BY_ISSUER = "declined_by_issuer"
    DECLINED_BY_CARD = "declined_by_card"  # before going online (AAC at the first GENERATE AC, or blocked)
    CANCELLED = "cancelled"  # the payer cancelled or let the PIN entry time out: nothing was sent
    NOT_SENT = "not_sent"
    REVERSAL_NEEDED = "reversal_needed"


@dataclasses.dataclass(frozen=True)
class SaleOutcome:
    """A finished sale. ``reason`` is a short English phrase for logs and the audit (no card data);
    ``masked_pan`` is the only form of the PAN it carries."""

    result: SaleResult
    reason: str
    masked_pan: str = ""
    atc: int | None = None
    tvr: bytes = bytes(5)
    tsi: bytes = bytes(2)
    cid: int | None = None
    online: OnlineAnswer | None = None
    script_results: tuple[bytes, ...] = ()
    at: _dt.datetime | None = None
