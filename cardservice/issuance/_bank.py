"""The bank application (PBOC 3.0 debit) on every card card-issuer makes: the issuer's bank keys from the key
store, the PAN rule, and the APDU flows that write the application to a blank card and read it back, sans I/O.

**PAN rule** (:func:`pan_for`): ``BIN ‖ account number (9 digits) ‖ Luhn check digit``, 16 digits.

* BIN: the issuer certificate's issuer identifier (6 digits; the certificate binds it, so a PAN outside it
  fails ODA); an issuer without an ODA key uses :data:`DEFAULT_BIN` ``622848``.
* account number: allocated by the card registry (:meth:`Registry.assign_pan`) — the registry id of the card
  that opened the account, zero-padded; unique and never reused (the registry never deletes a card).
* PSN (5F34): ``01`` for an account's first card; a replacement (补卡) keeps the PAN and takes the account's
  highest PSN + 1, so it has its own card keys. Spoiled cards count: a written chip keeps the keys it got.

A full PAN is never logged nor shown: :func:`~cardservice.pboc.mask_pan` (first 6, last 4).

**What goes on the card** (:func:`personalise_bank`, after the health application's ACTIVATE; card-sim's card
OS encodings, :class:`CsosEncoding`; layout :mod:`cardservice.pboc._csos`), each DF as the health flow does
it — CREATE FILE in the initialisation state, EXTERNAL AUTHENTICATE with the transport key, contents, then
SELECT it again (by name, from inside: the security state stays) and ACTIVATE FILE:

1. PSE DDF AF01 ``1PAY.SYS.DDF01``: EF01 (SFI 1, the directory record), EF10 (its FCI template);
2. ADF AD01 named by the AID: keys 81-83 (MK-AC, MK-SMI, MK-SMC = ``card_master_key(IMK, PAN, PSN)``) by
   WRITE KEY under secure messaging exactly as the health keys (encrypted and MACed under the transport SM
   key: no key value crosses the reader in clear); the internal EFs EF10 parameters, EF11 counters, EF12
   the ICC's RSA key (PKCS#8); last the record EFs EF01-EF03 (SFI 1-3).

The record EFs come last and ACTIVATE after them, and the records of an EF in the initialisation state can
be read only after EXTERNAL AUTHENTICATE: so a read-back that finds every record without any key
(:func:`check_bank`) proves that every earlier write was answered 9000 and the application is locked.

**Not protected on the wire**: the ICC private key travels in UPDATE BINARY in clear. The card-sim card OS
takes encrypted data only in WRITE KEY, and has no on-card key generation; a real COS gets the ICC key
encrypted (EMV CPS DGIs under the KEK) or generates it itself — the change belongs in :class:`CsosEncoding`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
from collections.abc import Generator, Mapping

from cardservice.apdu import (
    CommandApdu,
    ResponseApdu,
    Tlv,
    append_record,
    decode_ber_tlv,
    encode_ber_tlv,
    read_record,
    select_by_fid,
    select_by_name,
)
from cardservice.errors import CodecError, CryptoError
from cardservice.healthcard import Access, EfShape, EfStructure, KeyRole
from cardservice.issuance._personalise import (
    CsosEncoding,
    TransportKeys,
    _create,
    _transport_auth,
    _write_contents,
    _write_key_record,
)
from cardservice.keys import BlockCipher, KeyStore
from cardservice.pboc import AcScheme, mask_pan
from cardservice.pboc import _profile as profile
from cardservice.pboc._csos import (
    ADF_FID,
    COUNTERS_FID,
    ICC_KEY_FID,
    PARAMETERS_FID,
    PSE_FID,
    RECORD_FIDS,
    RECORD_LENGTH,
)
from cardservice.pboc._issuing import (
    KEYSTORE_KEY_NAMES,
    KEYSTORE_RSA_KEY_NAME,
    BankApplication,
    IssuerOdaKey,
    bank_application,
)

__all__ = [
    "ACCOUNT_DIGITS",
    "CARDHOLDER_NAME",
    "DEFAULT_BIN",
    "BankIssuer",
    "check_bank",
    "pan_for",
    "personalise_bank",
]

log = logging.getLogger(__name__)

Flow = Generator[CommandApdu, ResponseApdu, int]

DEFAULT_BIN = "622848"
ACCOUNT_DIGITS = 9
#: 5F20 of every issued card: ISO/IEC 7813's "no name" (the batch input has no Latin-script name, and the
#: cardholder's name need not be on the bank application).
CARDHOLDER_NAME = " /"
_SCHEMES = {BlockCipher.TDES: AcScheme.PBOC_TDES, BlockCipher.SM4: AcScheme.PBOC_SM4}
_CIPHERS = {scheme: cipher for cipher, scheme in _SCHEMES.items()}
_SW_OK, _SW_FILE_NOT_FOUND, _SW_RECORD_NOT_FOUND = 0x9000, 0x6A82, 0x6A83
_MAX_RECORDS = 16


def pan_for(bin_digits: str, account: int) -> str:
    """The PAN of *account* under the 6-digit *bin_digits*: BIN ‖ account (9 digits) ‖ Luhn digit."""
    if not (len(bin_digits) == 6 and bin_digits.isascii() and bin_digits.isdigit()):
        raise CodecError("BIN: 6 digits")
    if not 0 < account < 10**ACCOUNT_DIGITS:
        raise CodecError(f"account number: 1 to {ACCOUNT_DIGITS} digits")
    body = f"{bin_digits}{account:0{ACCOUNT_DIGITS}d}"
    return body + profile.luhn_check_digit(body)


@dataclasses.dataclass(frozen=True)
class BankIssuer:
    """The bank issuer's keys, from the key store (:meth:`from_keystore`): the three issuer master keys, the
    cryptogram scheme their algorithm implies, the ODA key with its CA certificate (None: cards without
    SDA/DDA), and the BIN of the PANs."""

    master_keys: Mapping[str, bytes] = dataclasses.field(repr=False)
    scheme: AcScheme = AcScheme.PBOC_TDES
    oda_key: IssuerOdaKey | None = None
    bin: str = DEFAULT_BIN

    def __post_init__(self) -> None:
        pan_for(self.bin, 1)  # a well-formed BIN
        if self.oda_key is not None and not self.bin.startswith(self.oda_key.issuer_identifier):
            raise CodecError("the BIN is outside the issuer certificate's issuer identifier")

    @classmethod
    def from_keystore(cls, keystore: KeyStore) -> BankIssuer:
        """The bank keys of *keystore*: ``PBOC-IMK-AC`` / ``-SMI`` / ``-SMC`` (all 3DES, or all SM4) and, if
        present, the RSA entry ``PBOC-ISSUER-RSA`` whose meta is the CA's certificate. ``CryptoError`` names
        a missing key; ``CodecError`` a malformed one."""
        entries = {name: keystore.get_entry(stored) for name, stored in KEYSTORE_KEY_NAMES.items()}
        algorithms = {entry.algorithm for entry in entries.values()}
        if len(algorithms) != 1 or next(iter(algorithms)) not in _SCHEMES:
            raise CryptoError("the PBOC-IMK-* keys must be all 3DES or all SM4")
        oda_key = None
        if KEYSTORE_RSA_KEY_NAME in keystore.rsa_key_names():
            entry = keystore.get_rsa_key(KEYSTORE_RSA_KEY_NAME)
            try:
                oda_key = IssuerOdaKey.from_meta(entry.private_key, entry.meta)
            except ValueError as exc:
                raise CodecError(f"{KEYSTORE_RSA_KEY_NAME}: {exc}") from None
        bin_digits = DEFAULT_BIN
        if oda_key is not None:
            bin_digits = oda_key.issuer_identifier
            if len(bin_digits) != 6:
                raise CodecError(f"{KEYSTORE_RSA_KEY_NAME}: the issuer identifier must be a 6-digit BIN")
        masters = {name: entry.key for name, entry in entries.items()}
        return cls(masters, _SCHEMES[algorithms.pop()], oda_key, bin_digits)

    def account(self, pan: str, psn: str, *, effective: _dt.date, expiry: _dt.date) -> profile.BankAccount:
        """The account personalised on one card; it expires with the health card, or with the issuer
        certificate if that comes first (a card may not outlive the key that certifies it)."""
        if self.oda_key is not None:
            ends = self.oda_key.expires
            next_month = _dt.date(ends.year + ends.month // 12, ends.month % 12 + 1, 1)
            expiry = min(expiry, next_month - _dt.timedelta(days=1))
        return profile.BankAccount(pan, psn, expiry, min(effective, expiry), CARDHOLDER_NAME)

    def application(self, account: profile.BankAccount) -> BankApplication:
        """Everything the card for *account* holds; a fresh ICC key when the issuer has an ODA key."""
        app = bank_application(account, self.master_keys, scheme=self.scheme, oda_key=self.oda_key)
        log.info("bank application for %s PSN %s (%s, ODA %s)", mask_pan(account.pan), account.psn,
                 self.scheme.value, "yes" if app.oda else "no")  # fmt: skip
        return app


# -- writing -------------------------------------------------------------------------------------------


def _new_df(fid: int, name: bytes, transport: TransportKeys) -> Flow:
    """From the MF: CREATE the DF (it becomes current, the security state goes), authenticate in it."""
    (yield select_by_fid(0x3F00)).check()
    sent = 1 + (yield from _transport_auth(transport))
    (yield _create(CsosEncoding.named_df_template(fid, name))).check()
    return sent + 1 + (yield from _transport_auth(transport))


def _activate(name: bytes) -> Flow:
    """SELECT the DF by its name from inside it — no EF current, the security state kept (the same DF; the
    bank application's EXTERNAL AUTHENTICATE would not take the transport key once EF10 exists) — and
    ACTIVATE FILE: the DF and its files leave the initialisation state."""
    (yield select_by_name(name, fci=False)).check()
    (yield CommandApdu(0x00, 0x44, 0x00, 0x00)).check()
    return 2


def _records_file(sfi: int, records: tuple[bytes, ...]) -> Flow:
    shape = EfShape(
        RECORD_FIDS[sfi], EfStructure.LINEAR_VARIABLE, record_length=RECORD_LENGTH,
        max_records=len(records), sfi=sfi,
    )  # fmt: skip
    (yield _create(CsosEncoding.ef_template(shape))).check()
    sent = 1
    for record in records:
        (yield append_record(record)).check()
        sent += 1
    return sent


def _internal_file(fid: int, content: bytes) -> Flow:
    shape = EfShape(fid, EfStructure.TRANSPARENT, size=len(content), read=Access(never=True))
    (yield _create(CsosEncoding.ef_template(shape))).check()
    return 1 + (yield from _write_contents(shape, content))


def personalise_bank(app: BankApplication, transport: TransportKeys) -> Flow:
    """Write *app* to the card (after the health application; see the module docstring); returns the number
    of APDUs sent. Any status word but 9000 raises :class:`~cardservice.errors.StatusWordError`."""
    sent = yield from _new_df(PSE_FID, profile.PSE_NAME, transport)
    sent += yield from _records_file(profile.PSE_SFI, app.pse_records)
    sent += yield from _internal_file(PARAMETERS_FID, app.pse_parameters.encode())
    sent += yield from _activate(profile.PSE_NAME)
    sent += yield from _new_df(ADF_FID, profile.AID, transport)
    cipher = _CIPHERS[app.scheme]
    for key in app.keys:
        role = KeyRole.SECURE_MESSAGING if key.secure_messaging else KeyRole.INTERNAL_AUTH
        record = CsosEncoding.role_key_record(role, cipher, key.value)
        sent += yield from _write_key_record(key.ref, record, transport)
    sent += yield from _internal_file(PARAMETERS_FID, app.parameters.encode())
    sent += yield from _internal_file(COUNTERS_FID, app.counters.encode())
    if app.icc_key is not None:
        sent += yield from _internal_file(ICC_KEY_FID, app.icc_key)
    for sfi, records in app.records.items():
        sent += yield from _records_file(sfi, records)
    sent += yield from _activate(profile.AID)
    return sent


# -- reading back --------------------------------------------------------------------------------------

ReadFlow = Generator[CommandApdu, ResponseApdu, list[str]]


def _fci(name: bytes, proprietary: bytes) -> bytes:
    return encode_ber_tlv(0x6F, encode_ber_tlv(0x84, name) + encode_ber_tlv(0xA5, proprietary))


def _read_all(sfi: int) -> Generator[CommandApdu, ResponseApdu, tuple[list[bytes], int]]:
    """Records 1, 2, ... of *sfi* until "record not found"; (records, the SW that ended the read)."""
    records: list[bytes] = []
    for number in range(1, _MAX_RECORDS + 1):
        answer = yield read_record(number, sfi=sfi)
        if answer.sw != _SW_OK:
            return records, answer.sw
        records.append(answer.data)
    return records, _SW_OK


def _record_items(record: bytes) -> dict[int, bytes] | None:
    """The data objects inside a record's ``70`` template, or None if it is not one."""
    try:
        outer = decode_ber_tlv(record, allow_padding=False)
        if len(outer) != 1 or outer[0].tag != 0x70:
            return None
        inner: list[Tlv] = decode_ber_tlv(outer[0].value, allow_padding=False)
    except CodecError:
        return None
    return {item.tag: item.value for item in inner}


def _counts(oda: bool) -> dict[int, int]:
    """SFI → number of records, from the profile's AFL."""
    afl = profile.application_file_locator(oda)
    return {afl[i] >> 3: afl[i + 2] - afl[i + 1] + 1 for i in range(0, len(afl), 4)}


def check_bank(pan: str, psn: str, expected: BankApplication | None = None) -> ReadFlow:
    """Read the bank application back with no key, as a terminal reads it: the PSE and its directory, the
    ADF and every record. With *expected* (right after writing) each FCI and record must be exactly its
    value; without (settling an interrupted card) the records must have the profile's layout and carry
    *pan* and *psn*. Returns what differs, by name only (never a value: the records hold the PAN)."""
    answer = yield select_by_name(profile.PSE_NAME)
    if answer.sw != _SW_OK:
        return [f"bank: no PSE ({answer.sw:04X})"]
    wrong: list[str] = []
    if expected is not None and answer.data != _fci(profile.PSE_NAME, expected.pse_parameters.fci):
        wrong.append("bank: PSE FCI")
    directory, _ = yield from _read_all(profile.PSE_SFI)
    if directory != list(expected.pse_records if expected else profile.pse_records()):
        wrong.append("bank: PSE directory")
    answer = yield select_by_name(profile.AID)
    if answer.sw != _SW_OK:
        return [*wrong, f"bank: no application ({answer.sw:04X})"]
    if expected is not None and answer.data != _fci(profile.AID, expected.parameters.fci):
        wrong.append("bank: application FCI")
    found: dict[int, list[bytes]] = {}
    for sfi in RECORD_FIDS:
        records, sw = yield from _read_all(sfi)
        if sw not in (_SW_RECORD_NOT_FOUND, _SW_FILE_NOT_FOUND):
            wrong.append(f"bank: SFI {sfi} unreadable ({sw:04X})")
        if records:
            found[sfi] = records
    if expected is not None:
        wrong += [f"bank: SFI {sfi}" for sfi in RECORD_FIDS
                  if found.get(sfi, []) != list(expected.records.get(sfi, ()))]  # fmt: skip
        return wrong
    if {sfi: len(records) for sfi, records in found.items()} not in (_counts(True), _counts(False)):
        wrong.append("bank: records missing")
    items = [_record_items(record) for records in found.values() for record in records]
    if any(item is None for item in items):
        wrong.append("bank: a record is not a 70 template")
    first = _record_items(found[1][0]) if found.get(1) else None
    if first is None or first.get(0x5A, b"").hex().upper().rstrip("F") != pan:
        wrong.append("bank: PAN")
    if first is None or first.get(0x5F34) != bytes.fromhex(psn):
        wrong.append("bank: PSN")
    return wrong
