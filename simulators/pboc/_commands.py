"""The bank application's commands (the card contract; EMV 4.3 Book 3 §6.5, JR/T 0025.5) as card OS
handlers, and the INS table the health profile adds to its cards.

Where an INS already means something on the health card (SELECT, EXTERNAL / INTERNAL AUTHENTICATE, GET DATA,
CHANGE REFERENCE DATA), the bank application's meaning applies only while its ADF is the current DF (GET DATA:
and only with CLA 80, PIN UNBLOCK only with secure messaging); everywhere else the card OS's own handler
answers exactly as before. Commands that exist only here answer 6D00 outside the ADF, as they did before.

Status words (beyond the card OS's): 6283 SELECT of a blocked application (with its FCI); 6300 issuer
authentication failed; 6700 data of the wrong length for its DOL; 6985 out of sequence (GPO twice in one
selection, GENERATE AC before GPO or after the transaction ended, EXTERNAL AUTHENTICATE without an ARQC or
twice, a script before any ARQC, GPO of a blocked application or at ATC FFFF); 6988 a script command's MAC;
6A80 GPO data not in tag 83, or a balance that is not BCD; 6A86 P1-P2; 6A88 GET DATA / PUT DATA of another
tag.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cardservice.apdu import decode_ber_tlv, encode_ber_tlv
from cardservice.errors import CodecError
from cardservice.keys import constant_time_equal
from cardservice.pboc import application_cryptogram, cryptogram_input, script_mac, verify_arpc
from cardservice.pboc._oda import sign_dynamic_data
from cardservice.pboc._profile import (
    AcType,
    CvrBit,
    card_verification_results,
    issuer_application_data,
)
from cardservice.pboc._tags import dol_data_length
from simulators.cardos import STANDARD_INSTRUCTIONS, CardOS, Command, Handler, Instruction, SwError
from simulators.pboc._layout import (
    FLAG_BLOCKED,
    FLAG_ISSUER_AUTH_FAILED,
    FLAG_ONLINE_PENDING,
    ICC_KEY_FID,
    MK_AC_REF,
    MK_SMI_REF,
)
from simulators.pboc._session import (
    Application,
    Transaction,
    application,
    begin_transaction,
    end_transaction,
    parameters_of,
    require_application,
    require_transaction,
    split_dol_data,
    take_fault,
    transaction,
)

__all__ = ["PBOC_INSTRUCTIONS"]

SW_BLOCKED_APPLICATION = 0x6283
SW_AUTHENTICATION_FAILED = 0x6300
SW_WRONG_LENGTH = 0x6700
SW_SM_NOT_SUPPORTED = 0x6882
SW_SECURITY = 0x6982
SW_CONDITIONS = 0x6985
SW_SM_INCORRECT = 0x6988
SW_WRONG_DATA = 0x6A80
SW_WRONG_P1P2 = 0x6A86
SW_REFERENCE_NOT_FOUND = 0x6A88
SW_CLA_NOT_SUPPORTED = 0x6E00

_ARC_APPROVED = b"00"  # 8A "3030"
_ATC_LIMIT = 0xFFFF
_ICC_DYNAMIC_NUMBER_LENGTH = 8
_MAC_LENGTH = 4
_GET_DATA_TAGS = (0x9F36, 0x9F13, 0x9F17, 0x9F79)
_BALANCE_TAG = 0x9F79


def _standard(ins: int) -> Handler:
    """The card OS's own handler for *ins*, with the CLA checks its table entry asks for (the table entry
    that replaces it here is wider)."""
    instruction = STANDARD_INSTRUCTIONS[ins]

    def handler(card: CardOS, command: Command) -> bytes:
        if instruction.proprietary_only and not command.proprietary:
            raise SwError(SW_CLA_NOT_SUPPORTED)
        if command.secure_messaging and not instruction.secure_messaging:
            raise SwError(SW_SM_NOT_SUPPORTED)
        return instruction.handler(card, command)

    return handler


_select = _standard(0xA4)
_external_authenticate = _standard(0x82)
_internal_authenticate = _standard(0x88)
_get_data = _standard(0xCA)
_change_reference_data = _standard(0x24)


def _p1p2(command: Command) -> int:
    return command.p1 << 8 | command.p2


def _require_proprietary(command: Command) -> None:
    if not command.proprietary or command.secure_messaging:
        raise SwError(SW_CLA_NOT_SUPPORTED)


# -- SELECT --------------------------------------------------------------------------------------------


def select(card: CardOS, command: Command) -> bytes:
    """SELECT: the card OS's, then the PSE's / ADF's FCI (``6F[84 name, A5 template]``) for P2=00, and
    6283 (FCI still given) when the application is blocked. Every successful SELECT ends a transaction."""
    answer = _select(card, command)
    end_transaction(card)
    if card.state.current_ef is not None:
        return answer
    df = card.state.current_df
    parameters = parameters_of(card, df)
    if parameters is None:
        return answer
    header = card.image.fs.header(df)
    if command.p2 & 0x0C == 0x00 and header is not None:
        answer = encode_ber_tlv(
            0x6F, encode_ber_tlv(0x84, header.name) + encode_ber_tlv(0xA5, parameters.fci)
        )
    found = application(card)
    if found is not None and found.counters.flag(FLAG_BLOCKED):
        raise SwError(SW_BLOCKED_APPLICATION, answer)
    return answer


# -- GET PROCESSING OPTIONS --------------------------------------------------------------------------------


def get_processing_options(card: CardOS, command: Command) -> bytes:
    """GPO ``80 A8 00 00 Lc 83 L pdol-data 00`` → ``80[AIP ‖ AFL]``; the ATC is incremented (one commit)."""
    app = require_application(card)
    _require_proprietary(command)
    if _p1p2(command):
        raise SwError(SW_WRONG_P1P2)
    counters = app.counters
    if transaction(card) is not None or counters.flag(FLAG_BLOCKED) or counters.atc >= _ATC_LIMIT:
        raise SwError(SW_CONDITIONS)
    try:
        items = decode_ber_tlv(command.data, allow_padding=False)
    except CodecError:
        raise SwError(SW_WRONG_LENGTH) from None
    if not items:
        raise SwError(SW_WRONG_LENGTH)
    if len(items) != 1 or items[0].tag != 0x83:
        raise SwError(SW_WRONG_DATA)
    try:
        expected = dol_data_length(app.parameters.pdol)
    except CodecError:
        expected = -1
    if len(items[0].value) != expected:
        raise SwError(SW_WRONG_LENGTH)
    counters = dataclasses.replace(counters, atc=counters.atc + 1)
    app.store(counters)
    begin_transaction(app, counters.atc, counters)
    return encode_ber_tlv(0x80, app.parameters.aip + app.parameters.afl)


# -- GENERATE AC -----------------------------------------------------------------------------------------


def _cryptogram(app: Application, txn: Transaction, values: dict[int, bytes], cvr: bytes) -> bytes:
    """The AC over the data of :func:`cardservice.pboc.cryptogram_input`, under MK-AC's session key."""
    data = cryptogram_input(values, app.parameters.aip, txn.atc, cvr)
    return application_cryptogram(app.session_key(MK_AC_REF, txn.atc), data, app.scheme)


def _answer(app: Application, txn: Transaction, kind: AcType, cryptogram: bytes, cvr: bytes) -> bytes:
    """Format 2: ``77[9F27 CID, 9F36 ATC, 9F26 AC, 9F10 IAD]``."""
    iad = issuer_application_data(cvr, app.parameters.algorithm, app.parameters.dki, app.parameters.cvn)
    body = (
        encode_ber_tlv(0x9F27, bytes([kind]))
        + encode_ber_tlv(0x9F36, txn.atc.to_bytes(2, "big"))
        + encode_ber_tlv(0x9F26, cryptogram)
        + encode_ber_tlv(0x9F10, iad)
    )
    return encode_ber_tlv(0x77, body)


def generate_ac(card: CardOS, command: Command) -> bytes:
    """GENERATE AC ``80 AE P1 00 Lc data 00``. First: P1 80/40 → ARQC, 00 → AAC (which ends the transaction).
    Second: TC only for P1 40 after a successful EXTERNAL AUTHENTICATE with ARC ``3030`` in the CDOL2 data on
    an unblocked application (and no ``aac-at-second`` fault), else AAC. Then the transaction is over."""
    app = require_application(card)
    _require_proprietary(command)
    if command.p2 or command.p1 not in (AcType.AAC, AcType.TC, AcType.ARQC):
        raise SwError(SW_WRONG_P1P2)
    txn = require_transaction(card)
    if txn.finished:
        raise SwError(SW_CONDITIONS)
    requested = AcType(command.p1)
    if txn.first is None:
        return _first_generate_ac(app, txn, requested, command.data)
    return _second_generate_ac(app, txn, requested, command.data)


def _first_generate_ac(app: Application, txn: Transaction, requested: AcType, data: bytes) -> bytes:
    values = split_dol_data(app.parameters.cdol1, data)
    kind = AcType.AAC if requested is AcType.AAC else AcType.ARQC  # the card always goes online
    cvr = card_verification_results(kind, None, txn.bits(), txn.scripts)
    cryptogram = _cryptogram(app, txn, values, cvr)
    txn.first, txn.values = kind, values
    if kind is AcType.ARQC:
        txn.arqc = cryptogram
        counters = app.counters
        if not counters.flag(FLAG_ONLINE_PENDING):
            app.store(counters.with_flag(FLAG_ONLINE_PENDING, True))
    else:
        txn.finished = True
    return _answer(app, txn, kind, cryptogram, cvr)


def _second_generate_ac(app: Application, txn: Transaction, requested: AcType, data: bytes) -> bytes:
    values = split_dol_data(app.parameters.cdol2, data)
    counters = app.counters
    # The fault is used up by the next second GENERATE AC, whatever that one would have answered.
    faulted = take_fault(app.card, "aac-at-second")
    approve = (
        requested is AcType.TC
        and txn.issuer_authentication is True
        and values.get(0x8A) == _ARC_APPROVED
        and not counters.flag(FLAG_BLOCKED)
        and not faulted
    )
    kind = AcType.TC if approve else AcType.AAC
    bits = txn.bits()
    if txn.issuer_authentication is None:
        bits.add(CvrBit.ISSUER_AUTHENTICATION_NOT_PERFORMED)
    cvr = card_verification_results(AcType.ARQC, kind, bits, txn.scripts)
    # The second cryptogram covers the first's CDOL1 data with the TVR and UN the CDOL2 data brings.
    cryptogram = _cryptogram(app, txn, {**txn.values, **values}, cvr)
    updated = counters.with_flag(FLAG_ONLINE_PENDING, False)
    if txn.issuer_authentication is not None:
        updated = updated.with_flag(FLAG_ISSUER_AUTH_FAILED, not txn.issuer_authentication)
    if kind is AcType.TC:
        updated = dataclasses.replace(updated, last_online_atc=txn.atc)
    app.store(updated)
    txn.second, txn.finished = kind, True
    return _answer(app, txn, kind, cryptogram, cvr)


# -- EXTERNAL / INTERNAL AUTHENTICATE ----------------------------------------------------------------------


def external_authenticate(card: CardOS, command: Command) -> bytes:
    """In the ADF: issuer authentication ``00 82 00 00 0A ARPC ‖ ARC`` → 9000 or 6300 (remembered: the
    second GENERATE AC then declines). Once per transaction, after an ARQC, before the second GENERATE AC."""
    app = application(card)
    if app is None:
        return _external_authenticate(card, command)
    if _p1p2(command):
        raise SwError(SW_WRONG_P1P2)
    if len(command.data) != 10:
        raise SwError(SW_WRONG_LENGTH)
    txn = require_transaction(card)
    if txn.arqc is None or txn.finished or txn.issuer_authentication is not None:
        raise SwError(SW_CONDITIONS)
    session = app.session_key(MK_AC_REF, txn.atc)
    arpc, arc = command.data[:8], command.data[8:]
    txn.issuer_authentication = verify_arpc(session, txn.arqc, arpc, arc, app.scheme)
    if not txn.issuer_authentication:
        raise SwError(SW_AUTHENTICATION_FAILED)
    return b""


def _icc_key(app: Application) -> rsa.RSAPrivateKey:
    raw = app.internal_ef(ICC_KEY_FID)
    if raw is None:
        raise SwError(SW_CONDITIONS)  # a card without ODA data cannot do DDA
    key = serialization.load_der_private_key(raw, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SwError(SW_CONDITIONS)
    return key


def internal_authenticate(card: CardOS, command: Command) -> bytes:
    """In the ADF: DDA ``00 88 00 00 Lc DDOL-data 00`` → ``80[signed dynamic application data]`` with a
    fresh 8-byte ICC dynamic number (EMV 4.3 Book 2 §6.5)."""
    app = application(card)
    if app is None:
        return _internal_authenticate(card, command)
    if _p1p2(command):
        raise SwError(SW_WRONG_P1P2)
    if not command.data:
        raise SwError(SW_WRONG_LENGTH)
    key = _icc_key(app)
    signed = sign_dynamic_data(key, secrets.token_bytes(_ICC_DYNAMIC_NUMBER_LENGTH), command.data)
    txn = transaction(card)
    if txn is not None:
        txn.dda_performed = True
    return encode_ber_tlv(0x80, signed)


# -- GET DATA -------------------------------------------------------------------------------------------


def get_data(card: CardOS, command: Command) -> bytes:
    """In the ADF with CLA 80: ``80 CA 9F36|9F13|9F17|9F79 00`` → the tag's TLV; otherwise the card OS's."""
    app = application(card)
    if app is None or command.cla != 0x80:
        return _get_data(card, command)
    if command.data:
        raise SwError(SW_WRONG_LENGTH)
    tag = _p1p2(command)
    if tag not in _GET_DATA_TAGS:
        raise SwError(SW_REFERENCE_NOT_FOUND)
    counters = app.counters
    values = {
        0x9F36: counters.atc.to_bytes(2, "big"),
        0x9F13: counters.last_online_atc.to_bytes(2, "big"),
        0x9F17: bytes([counters.pin_tries]),
        0x9F79: counters.balance,
    }
    return encode_ber_tlv(tag, values[tag])


# -- issuer scripts ---------------------------------------------------------------------------------------


def _script(
    card: CardOS,
    command: Command,
    *,
    p1p2: int = 0x0000,
    data_length: int = 0,
    unknown_reference: int = SW_WRONG_P1P2,
    validate: Callable[[bytes], bool] | None = None,
) -> tuple[Application, bytes]:
    """The checks every script command shares; returns the application and the data without the MAC.

    MAC (:func:`cardservice.pboc.script_mac`, session key of MK-SMI) over ``CLA INS P1 P2 Lc ‖ ATC ‖ ARQC ‖
    data``, Lc counting the MAC. Needs an ARQC in this transaction; a bad MAC → 6988, nothing changes."""
    app = require_application(card)
    if not command.secure_messaging:
        raise SwError(SW_SECURITY)
    if _p1p2(command) != p1p2:
        raise SwError(unknown_reference)
    if len(command.data) != data_length + _MAC_LENGTH:
        raise SwError(SW_WRONG_LENGTH)
    body, mac = command.data[:-_MAC_LENGTH], command.data[-_MAC_LENGTH:]
    if validate is not None and not validate(body):
        raise SwError(SW_WRONG_DATA)
    txn = require_transaction(card)
    if txn.arqc is None:
        raise SwError(SW_CONDITIONS)
    session = app.session_key(MK_SMI_REF, txn.atc)
    signed = command.mac_header + txn.atc.to_bytes(2, "big") + txn.arqc + body
    if not constant_time_equal(script_mac(session, signed, app.scheme), mac):
        txn.script_failed = True
        raise SwError(SW_SM_INCORRECT)
    txn.scripts += 1
    return app, body


def application_block(card: CardOS, command: Command) -> bytes:
    """``84 1E 00 00 04 MAC``: later SELECTs answer 6283, GPO 6985 (a second GENERATE AC now declines)."""
    app, _ = _script(card, command)
    app.store(app.counters.with_flag(FLAG_BLOCKED, True))
    return b""


def application_unblock(card: CardOS, command: Command) -> bytes:
    """``84 18 00 00 04 MAC``."""
    app, _ = _script(card, command)
    app.store(app.counters.with_flag(FLAG_BLOCKED, False))
    return b""


def pin_unblock(card: CardOS, command: Command) -> bytes:
    """In the ADF with secure messaging: PIN UNBLOCK ``84 24 00 00 04 MAC`` (9F17 back to the PIN try
    limit); otherwise the card OS's CHANGE REFERENCE DATA."""
    if application(card) is None or not command.secure_messaging:
        return _change_reference_data(card, command)
    app, _ = _script(card, command)
    app.store(dataclasses.replace(app.counters, pin_tries=app.parameters.pin_try_limit))
    return b""


def _is_bcd(data: bytes) -> bool:
    return all(nibble <= 9 for byte in data for nibble in (byte >> 4, byte & 0x0F))


def put_data(card: CardOS, command: Command) -> bytes:
    """PUT DATA ``04 DA 9F 79 0A balance(6) MAC``: the EC balance (n12)."""
    app, balance = _script(
        card,
        command,
        p1p2=_BALANCE_TAG,
        data_length=6,
        unknown_reference=SW_REFERENCE_NOT_FOUND,
        validate=_is_bcd,
    )
    app.store(dataclasses.replace(app.counters, balance=balance))
    return b""


#: What the health profile adds to (and widens in) the card OS's INS table.
PBOC_INSTRUCTIONS: dict[int, Instruction] = {
    0xA4: Instruction(select),
    0xA8: Instruction(get_processing_options),
    0xAE: Instruction(generate_ac),
    0x82: Instruction(external_authenticate),
    0x88: Instruction(internal_authenticate),
    0xCA: Instruction(get_data),
    0x1E: Instruction(application_block, secure_messaging=True),
    0x18: Instruction(application_unblock, secure_messaging=True),
    0x24: Instruction(pin_unblock, secure_messaging=True),
    0xDA: Instruction(put_data, secure_messaging=True),
}
