"""The issuer's choices for the bank application on the health card's chip: what a personalised card carries.

This is the *issuer's* table: it fills in the card contract between card-sim and the terminal kernel.
card-sim builds its cards from it; the terminal kernel must not import it — a terminal learns all of this
from the card. Pure data and pure functions, no I/O.

Choices the contract leaves open, made here (change them here and nowhere else):

* Label ``"UnionPay Debit"``; language ``zhen``; application priority 01; PSE directory = SFI 1.
* Records (AFL ``08 01 02 01 | 10 01 02 00 | 18 01 01 00``):

  ====================  =============================================================================
  SFI 1 record 1 (ODA)  57 track 2, 5A PAN, 5F20 name, 5F24 expiry, 5F25 effective, 5F34 PSN, 5F28 country,
                        9F07 AUC, 8E CVM list, 9F0D/9F0E/9F0F IACs, 8C CDOL1, 8D CDOL2, 9F08 version,
                        9F42 currency, 9F44 exponent, 9F4A SDA tag list
  SFI 1 record 2        9F49 DDOL, 93 signed static application data
  SFI 2 record 1        8F CA index, 9F32 issuer exponent, 90 issuer certificate, 92 issuer remainder
  SFI 2 record 2        9F46 ICC certificate, 9F47 ICC exponent, 9F48 ICC remainder
  SFI 3 record 1        9F14 / 9F23 lower / upper consecutive offline limits (00: the card always goes online)
  ====================  =============================================================================

  A card built without ODA data (no CA/issuer keys) has AIP ``1C 00`` and AFL ``08 01 02 00 | 18 01 01 00``:
  no SFI 2, and no 93 in SFI 1 record 2 (:func:`application_interchange_profile`,
  :func:`application_file_locator`).
* Track 2 equivalent: PAN ‖ ``D`` ‖ YYMM ‖ service code ``220`` (international, IC, online authorisation,
  PIN required), no discretionary data, ``F``-padded to whole bytes.
* IACs: default ``DC4000A800``, denial ``0010000000``, online ``DC4004F800`` (common UnionPay/Visa values).
* Issuer application data (9F10, 8 bytes): ``07 ‖ DKI 01 ‖ CVN 01 ‖ CVR(4) ‖ algorithm`` (01 3DES, 04 SM4).
* CVR (4 bytes, the Visa/PBOC layout; :class:`CvrBit` and :func:`card_verification_results`):

  ======  ====  =====================================================================================
  byte 1  all   ``03`` (length of the CVR data that follows)
  byte 2  b8-7  AC returned in the 2nd GENERATE AC: 00 AAC, 01 TC, 10 not requested
          b6-5  AC returned in the 1st GENERATE AC: 00 AAC, 01 TC, 10 ARQC
          b4    issuer authentication performed and failed (EXTERNAL AUTHENTICATE answered 6300)
          b3    offline PIN verification performed (never: online PIN only)
          b2    offline PIN verification failed (never)
          b1    unable to go online (never: the card does not know)
  byte 3  b8    last online transaction not completed (an ARQC with no 2nd GENERATE AC after it)
          b7    PIN try limit exceeded (9F17 = 0)
          b6    velocity checking counters exceeded (never)
          b5    new card (no online transaction completed with issuer authentication yet)
          b4    issuer authentication failed on the last online transaction
          b3    issuer authentication not performed after online authorisation (2nd GENERATE AC only)
          b2    application blocked because the PIN try limit was exceeded (never)
          b1    SDA failed on the last transaction (never: the card cannot know)
  byte 4  b8-5  number of issuer script commands processed in this transaction (0-15)
          b4    issuer script processing failed (a script command with a bad MAC in this transaction)
          b3    DDA failed on the last transaction (never)
          b2    DDA performed (INTERNAL AUTHENTICATE in this transaction)
  ======  ====  =====================================================================================
* PIN try limit 3 (9F17); EC balance starts at zero; the demo account is :data:`DEMO_ACCOUNT`.

How the card behaves where the contract leaves it open (card-sim, ``simulators/pboc/_commands.py``):

* The second GENERATE AC's cryptogram covers the first's CDOL1 values with TVR (95) and UN (9F37) replaced by
  the CDOL2 data's (the ARC is not in :data:`~cardservice.pboc.CRYPTOGRAM_TAGS`); the ATC is the same.
* An AAC at the first GENERATE AC ends the transaction (a second → 6985). P1 ``80`` at the second is treated
  as "not a TC": AAC. A blocked application (a script in this transaction) answers AAC at the second.
* GPO is accepted once per selection of the ADF: a new transaction starts with SELECT. Any SELECT ends the
  transaction in progress; so does power loss.
* EXTERNAL AUTHENTICATE is accepted after an ARQC and before the second GENERATE AC, once.
* Script commands need an ARQC in this transaction (its ATC and ARQC are in the MAC) and are accepted
  before and after the second GENERATE AC. Since GPO answers 6985 on a blocked application, APPLICATION
  UNBLOCK can only undo a block given earlier in the same transaction.
* GET PROCESSING OPTIONS: data not a single tag 83 → 6A80; a PDOL value of the wrong length → 6700.
* INTERNAL AUTHENTICATE signs any non-empty data (the DDOL data, not checked against 9F49).
* Last online ATC (9F13) is set by a TC that followed a successful issuer authentication (the only TC).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
from collections.abc import Iterable, Mapping

from cardservice.apdu import encode_ber_tlv

__all__ = [
    "AFL",
    "AFL_WITHOUT_ODA",
    "AID",
    "AIP",
    "AIP_WITHOUT_ODA",
    "ALGORITHM_SM4",
    "ALGORITHM_TDES",
    "APPLICATION_LABEL",
    "APPLICATION_PRIORITY",
    "APPLICATION_VERSION",
    "AUC",
    "CDOL1",
    "CDOL2",
    "CURRENCY",
    "CURRENCY_EXPONENT",
    "CVM_LIST",
    "CVN",
    "DDOL",
    "DEMO_ACCOUNT",
    "DEMO_ACCOUNT_NUMBER",
    "DKI",
    "IAC_DEFAULT",
    "IAC_DENIAL",
    "IAC_ONLINE",
    "ISSUER_COUNTRY",
    "LANGUAGE",
    "ODA_TAGS",
    "PDOL",
    "PIN_TRY_LIMIT",
    "PSE_NAME",
    "PSE_SFI",
    "SDA_TAG_LIST",
    "SERVICE_CODE",
    "AcType",
    "BankAccount",
    "CvrBit",
    "adf_fci_proprietary",
    "application_file_locator",
    "application_interchange_profile",
    "card_records",
    "card_verification_results",
    "issuer_application_data",
    "luhn_check_digit",
    "pse_fci_proprietary",
    "pse_records",
    "track2_equivalent",
]

# -- the application and its selection --------------------------------------------------------------------

AID = bytes.fromhex("A000000333010101")  # UnionPay debit (facts sheet A1)
APPLICATION_LABEL = b"UnionPay Debit"
APPLICATION_PRIORITY = b"\x01"
LANGUAGE = b"zhen"
PSE_NAME = b"1PAY.SYS.DDF01"
PSE_SFI = 1
#: Terminal country, EC support indicator, amount authorised, transaction currency.
PDOL = bytes.fromhex("9F1A02 9F7A01 9F0206 5F2A02")

# -- processing options -------------------------------------------------------------------------------------

#: SDA, DDA, cardholder verification, terminal risk management, issuer authentication (EMV Book 3 C1).
AIP = bytes.fromhex("7C00")
AIP_WITHOUT_ODA = bytes.fromhex("1C00")
AFL = bytes.fromhex("08010201 10010200 18010100")
AFL_WITHOUT_ODA = bytes.fromhex("08010200 18010100")

# -- risk management and cardholder verification ----------------------------------------------------------

#: amount, other amount, country, TVR, currency, date, type, UN, time, merchant name and location.
CDOL1 = bytes.fromhex("9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704 9F2103 9F4E14")
#: ARC, TVR, UN. Issuer authentication goes by EXTERNAL AUTHENTICATE, not tag 91.
CDOL2 = bytes.fromhex("8A02 9505 9F3704")
#: X = Y = 0; online PIN if the terminal supports it (failure: CVM failed), else no CVM if supported.
CVM_LIST = bytes.fromhex("00000000 00000000 0203 1F03")
IAC_DEFAULT = bytes.fromhex("DC4000A800")
IAC_DENIAL = bytes.fromhex("0010000000")
IAC_ONLINE = bytes.fromhex("DC4004F800")
AUC = bytes.fromhex("FF00")
APPLICATION_VERSION = bytes.fromhex("0030")
ISSUER_COUNTRY = bytes.fromhex("0156")
CURRENCY = bytes.fromhex("0156")
CURRENCY_EXPONENT = bytes.fromhex("02")
SDA_TAG_LIST = bytes.fromhex("82")
DDOL = bytes.fromhex("9F3704")
SERVICE_CODE = "220"
PIN_TRY_LIMIT = 3
LOWER_CONSECUTIVE_OFFLINE_LIMIT = b"\x00"
UPPER_CONSECUTIVE_OFFLINE_LIMIT = b"\x00"

# -- cryptograms ---------------------------------------------------------------------------------------------

DKI = 0x01
CVN = 0x01
ALGORITHM_TDES = 0x01
ALGORITHM_SM4 = 0x04
_IAD_LENGTH = 0x07
_CVR_LENGTH = 0x03


class AcType(enum.IntEnum):
    """Cryptogram types: GENERATE AC P1 b8-b7 and the cryptogram information data (9F27)."""

    AAC = 0x00
    TC = 0x40
    ARQC = 0x80


# CVR byte 2: the 2-bit codes of the cryptogram returned by each GENERATE AC.
_CVR_AC_CODE = {AcType.AAC: 0b00, AcType.TC: 0b01, AcType.ARQC: 0b10}
_CVR_SECOND_NOT_REQUESTED = 0b10


class CvrBit(enum.Enum):
    """Single-bit CVR indicators, (byte index 0-3, mask); the table is in the module docstring."""

    ISSUER_AUTHENTICATION_FAILED = (1, 0x08)
    OFFLINE_PIN_PERFORMED = (1, 0x04)
    OFFLINE_PIN_FAILED = (1, 0x02)
    UNABLE_TO_GO_ONLINE = (1, 0x01)
    LAST_ONLINE_NOT_COMPLETED = (2, 0x80)
    PIN_TRY_LIMIT_EXCEEDED = (2, 0x40)
    VELOCITY_EXCEEDED = (2, 0x20)
    NEW_CARD = (2, 0x10)
    LAST_ISSUER_AUTHENTICATION_FAILED = (2, 0x08)
    ISSUER_AUTHENTICATION_NOT_PERFORMED = (2, 0x04)
    BLOCKED_BY_PIN_TRY_LIMIT = (2, 0x02)
    LAST_SDA_FAILED = (2, 0x01)
    SCRIPT_FAILED = (3, 0x08)
    LAST_DDA_FAILED = (3, 0x04)
    DDA_PERFORMED = (3, 0x02)


def card_verification_results(
    first: AcType, second: AcType | None = None, bits: Iterable[CvrBit] = (), scripts: int = 0
) -> bytes:
    """The 4-byte CVR: the cryptogram of each GENERATE AC (``second=None``: not requested yet), the
    indicator *bits*, and the number of issuer script commands processed (kept to 0-15)."""
    cvr = bytearray([_CVR_LENGTH, 0, 0, 0])
    second_code = _CVR_SECOND_NOT_REQUESTED if second is None else _CVR_AC_CODE[second]
    cvr[1] = second_code << 6 | _CVR_AC_CODE[first] << 4
    for bit in bits:
        index, mask = bit.value
        cvr[index] |= mask
    cvr[3] |= min(max(scripts, 0), 15) << 4
    return bytes(cvr)


def issuer_application_data(
    cvr: bytes, algorithm: int = ALGORITHM_TDES, dki: int = DKI, cvn: int = CVN
) -> bytes:
    """Tag 9F10: ``07 ‖ DKI ‖ CVN ‖ CVR(4) ‖ algorithm id`` (8 bytes)."""
    if len(cvr) != 4:
        raise ValueError("the CVR is 4 bytes")
    return bytes([_IAD_LENGTH, dki, cvn]) + bytes(cvr) + bytes([algorithm])


def application_interchange_profile(oda: bool = True) -> bytes:
    """AIP: with ODA data the card offers SDA and DDA; without, only the rest."""
    return AIP if oda else AIP_WITHOUT_ODA


def application_file_locator(oda: bool = True) -> bytes:
    """AFL: the SFI 2 certificate records exist only on a card with ODA data."""
    return AFL if oda else AFL_WITHOUT_ODA


# -- the account and the records ----------------------------------------------------------------------------


def luhn_check_digit(digits: str) -> str:
    """The ISO/IEC 7812-1 (Luhn) check digit of *digits* (the PAN without its last digit)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str(-total % 10)


@dataclasses.dataclass(frozen=True)
class BankAccount:
    """What the issuer personalises per card: PAN (12-19 digits), PAN sequence number (2 digits), expiry and
    effective dates, and the cardholder's name in ASCII (pinyin, ``SURNAME/GIVEN``, 2-26 characters)."""

    pan: str
    psn: str
    expiry: _dt.date
    effective: _dt.date
    name: str

    def __post_init__(self) -> None:
        if not (self.pan.isascii() and self.pan.isdigit() and 12 <= len(self.pan) <= 19):
            raise ValueError("PAN: 12 to 19 digits")
        if not (self.psn.isascii() and self.psn.isdigit() and len(self.psn) == 2):
            raise ValueError("PAN sequence number: 2 digits")
        if not (self.name.isascii() and self.name.isprintable() and 2 <= len(self.name) <= 26):
            raise ValueError("cardholder name: 2 to 26 printable ASCII characters")
        if self.effective > self.expiry:
            raise ValueError("the effective date is after the expiry date")

    def __repr__(self) -> str:
        # A PAN is shown masked (first 6, last 4); the name not at all.
        return f"BankAccount(pan={self.pan[:6]}{'*' * (len(self.pan) - 10)}{self.pan[-4:]}, psn={self.psn})"


#: The account number card-sim's demo cards use, which no registry gives out (its accounts are card ids,
#: 1 … 999999998): an issued card never shares the demo card's PAN, PSN and so its keys.
DEMO_ACCOUNT_NUMBER = 999_999_999

#: DEMO ONLY: the account of every demo card (BIN 622848 ‖ 999999999 ‖ Luhn; no real account).
DEMO_ACCOUNT = BankAccount(
    pan="6228489999999996",
    psn="01",
    expiry=_dt.date(2034, 12, 31),
    effective=_dt.date(2024, 1, 1),
    name="DEMO/CARDHOLDER",
)

#: The ODA data objects (from the CA, issuer and ICC keys), placed by :func:`card_records`.
ODA_TAGS = (0x8F, 0x90, 0x92, 0x9F32, 0x93, 0x9F46, 0x9F47, 0x9F48)
_CERTIFICATE_TAGS = ((0x8F, 0x9F32, 0x90, 0x92), (0x9F46, 0x9F47, 0x9F48))


def _bcd(digits: str) -> bytes:
    """Digits packed two per byte, ``F``-padded on the right (cn format)."""
    return bytes.fromhex(digits + "F" * (len(digits) % 2))


def _date(value: _dt.date) -> bytes:
    return bytes.fromhex(value.strftime("%y%m%d"))


def track2_equivalent(account: BankAccount) -> bytes:
    """Tag 57: PAN ‖ D ‖ YYMM ‖ service code, F-padded."""
    return _bcd(f"{account.pan}D{account.expiry.strftime('%y%m')}{SERVICE_CODE}")


def _tlvs(items: Iterable[tuple[int, bytes]]) -> bytes:
    return b"".join(encode_ber_tlv(tag, value) for tag, value in items)


def _record(items: Iterable[tuple[int, bytes]]) -> bytes:
    return encode_ber_tlv(0x70, _tlvs(items))


def card_records(
    account: BankAccount, oda: Mapping[int, bytes] | None = None
) -> dict[int, tuple[bytes, ...]]:
    """The ADF's records, ``{SFI: (record 1, record 2, ...)}``, each ``70[...]`` (layout in the module
    docstring). *oda*: the values of :data:`ODA_TAGS` (all of them, or none: a card without ODA).

    SFI 1 record 1 is the one record that ODA signs, and it does not depend on *oda*: build the records
    without ODA, sign that record's contents ‖ AIP, then build them again with the results."""
    if oda is not None and set(oda) != set(ODA_TAGS):
        missing = ", ".join(f"{tag:X}" for tag in ODA_TAGS if tag not in oda)
        raise ValueError(f"ODA data must hold every tag of ODA_TAGS (missing: {missing or 'none'})")
    signed = _record(
        (
            (0x57, track2_equivalent(account)),
            (0x5A, _bcd(account.pan)),
            (0x5F20, account.name.encode("ascii")),
            (0x5F24, _date(account.expiry)),
            (0x5F25, _date(account.effective)),
            (0x5F34, bytes.fromhex(account.psn)),
            (0x5F28, ISSUER_COUNTRY),
            (0x9F07, AUC),
            (0x8E, CVM_LIST),
            (0x9F0D, IAC_DEFAULT),
            (0x9F0E, IAC_DENIAL),
            (0x9F0F, IAC_ONLINE),
            (0x8C, CDOL1),
            (0x8D, CDOL2),
            (0x9F08, APPLICATION_VERSION),
            (0x9F42, CURRENCY),
            (0x9F44, CURRENCY_EXPONENT),
            (0x9F4A, SDA_TAG_LIST),
        )
    )
    second = [(0x9F49, DDOL)] + ([(0x93, oda[0x93])] if oda is not None else [])
    records: dict[int, tuple[bytes, ...]] = {1: (signed, _record(second))}
    if oda is not None:
        records[2] = tuple(_record([(tag, oda[tag]) for tag in tags]) for tags in _CERTIFICATE_TAGS)
    records[3] = (
        _record(((0x9F14, LOWER_CONSECUTIVE_OFFLINE_LIMIT), (0x9F23, UPPER_CONSECUTIVE_OFFLINE_LIMIT))),
    )
    return records


def adf_fci_proprietary() -> bytes:
    """The value of the ADF's FCI proprietary template (A5): label, priority, PDOL, language."""
    return _tlvs(
        ((0x50, APPLICATION_LABEL), (0x87, APPLICATION_PRIORITY), (0x9F38, PDOL), (0x5F2D, LANGUAGE))
    )


def pse_fci_proprietary() -> bytes:
    """The value of the PSE's FCI proprietary template (A5): the directory's SFI and the language."""
    return _tlvs(((0x88, bytes([PSE_SFI])), (0x5F2D, LANGUAGE)))


def pse_records() -> tuple[bytes, ...]:
    """The PSE directory (SFI 1): one record with the one application entry (61)."""
    entry = _tlvs(((0x4F, AID), (0x50, APPLICATION_LABEL), (0x87, APPLICATION_PRIORITY)))
    return (encode_ber_tlv(0x70, encode_ber_tlv(0x61, entry)),)
