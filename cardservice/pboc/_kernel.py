"""The PBOC debit sale as a sans-I/O flow: from SELECT to the second GENERATE AC and the issuer scripts.

:func:`sale` is a generator in the style of the health card's flows: it yields a
:class:`~cardservice.apdu.CommandApdu` for the card, a :class:`~._terminal.PinRequest` for the PIN pad and an
:class:`~._terminal.OnlineRequest` for the acquirer, and receives the answer of each. It performs no I/O and
keeps no state beyond one sale, so the payment method drives it over a reader, and the tests over a card-sim
card in process.

The steps (EMV 4.3 Book 3 §10 / JR/T 0025.6, facts sheet A1) and the choices made where they allow one:

1. **Application selection**: the PSE's directory (``1PAY.SYS.DDF01``), else the terminal's AID list;
   the candidate with the highest priority (``87``) this terminal supports. A blocked application
   (``6283``) or one whose GPO says ``6985`` is dropped and the next one tried.
2. **Initiate application processing**: GPO with the PDOL's data. **Read application data**: the AFL's
   records, only those — the baseline in ``bench/`` reads every record it can find; this flow reads what
   the card says the transaction needs and asks for no data object with GET DATA.
3. **Offline data authentication**: DDA when both sides support it, else SDA; failures set TVR bits (the sale
   goes online anyway, where the issuer decides) — never an exception.
4. **Processing restrictions**, **cardholder verification** (online PIN on the pad; cancel or timeout ends the
   sale with nothing sent), **terminal risk management** (floor limit 0: always online).
5. **First GENERATE AC** asks for an ARQC (or an AAC when the denial codes say so). **Online authorisation**;
   **issuer authentication** by EXTERNAL AUTHENTICATE when the AIP says so; scripts ``71``; **second GENERATE
   AC** (TC when approved, AAC otherwise); scripts ``72``.
6. **Reversal rule**: the host approved but the card answered AAC, or the request went out and no answer came
   → :attr:`SaleResult.REVERSAL_NEEDED`. A card pulled after the request went out surfaces as the transport's
   exception thrown into the flow: the payment method owns that case (it knows whether the request was sent).
"""

from __future__ import annotations

import datetime as _dt
import secrets
from collections.abc import Callable, Generator, Mapping

from cardservice.apdu import CommandApdu, ResponseApdu, Tlv, decode_ber_tlv, find
from cardservice.errors import CodecError
from cardservice.pboc import _oda
from cardservice.pboc._tags import build_dol_data, mask_pan
from cardservice.pboc._terminal import (
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
    VerificationBits,
)

__all__ = ["PSE_NAME", "SALE_ICC_TAGS", "CardDataError", "Request", "sale"]

PSE_NAME = b"1PAY.SYS.DDF01"

#: Field 55 of the sale (facts sheet A5: the cryptogram's tags plus 9F33, 9F35, 9F1E, 84, 9F09, 9F41).
SALE_ICC_TAGS = (
    0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82, 0x9F1A, 0x9F03,
    0x9F33, 0x9F34, 0x9F35, 0x9F1E, 0x84, 0x9F09, 0x9F41,
)  # fmt: skip

Request = CommandApdu | PinRequest | OnlineRequest
Answer = ResponseApdu | PinAnswer | OnlineAnswer

_CID_AAC, _CID_TC, _CID_ARQC = 0x00, 0x40, 0x80


class CardDataError(CodecError):
    """The card's bank application answered something a sale cannot go on with (missing mandatory data,
    malformed records, a status word out of turn). Nothing was sent online when this is raised."""


def _card(command: CommandApdu) -> Generator[Request, Answer, ResponseApdu]:
    answer = yield command
    if not isinstance(answer, ResponseApdu):
        raise TypeError("the card's answer must be a ResponseApdu")
    return answer


def _tlvs(data: bytes, what: str) -> list[Tlv]:
    try:
        return decode_ber_tlv(data)
    except CodecError as exc:
        raise CardDataError(f"{what}: {exc}") from None


def _select(name: bytes) -> CommandApdu:
    return CommandApdu(0x00, 0xA4, 0x04, 0x00, name, ne=256)


def _read_record(sfi: int, number: int) -> CommandApdu:
    return CommandApdu(0x00, 0xB2, number, (sfi << 3) | 0x04, ne=256)


def _candidates(config: TerminalConfig) -> Generator[Request, Answer, list[bytes]]:
    """The AIDs to try, best first: the PSE's directory entries this terminal supports, else its own list."""
    fci = yield from _card(_select(PSE_NAME))
    if fci.sw != 0x9000:
        return list(config.aids)
    sfi_tlv = find(_tlvs(fci.data, "PSE FCI"), 0x88)
    if sfi_tlv is None or len(sfi_tlv.value) != 1:
        return list(config.aids)
    entries: list[tuple[int, bytes]] = []
    for number in range(1, 17):
        record = yield from _card(_read_record(sfi_tlv.value[0], number))
        if record.sw != 0x9000:
            break
        for entry in _tlvs(record.data, "PSE record"):
            for app in (child for child in entry.children if child.tag == 0x61) if entry.tag == 0x70 else ():
                aid = find(app.children, 0x4F)
                priority = find(app.children, 0x87)
                if aid is not None and any(aid.value.startswith(ours) for ours in config.aids):
                    entries.append(
                        ((priority.value[0] & 0x0F) if priority and priority.value else 15, aid.value)
                    )
    ordered = [aid for _, aid in sorted(entries, key=lambda entry: entry[0])]
    return ordered or list(config.aids)


def _amount(amount_fen: int) -> bytes:
    return bytes.fromhex(f"{amount_fen:012d}")


def _terminal_values(
    config: TerminalConfig, amount_fen: int, now: _dt.datetime, unpredictable: bytes
) -> dict[int, bytes]:
    return {
        0x9F02: _amount(amount_fen),
        0x9F03: bytes(6),
        0x9F1A: config.country,
        0x5F2A: config.currency,
        0x9A: bytes.fromhex(now.strftime("%y%m%d")),
        0x9F21: bytes.fromhex(now.strftime("%H%M%S")),
        0x9C: b"\x00",
        0x9F37: unpredictable,
        0x9F35: bytes([config.terminal_type]),
        0x9F33: config.capabilities,
        0x9F40: config.additional_capabilities,
        0x9F09: config.application_version,
        0x9F1E: config.ifd_serial.encode("ascii")[:8].ljust(8),
        0x9F1C: config.terminal_id.encode("ascii")[:8].ljust(8),
        0x9F4E: config.merchant_name.encode("ascii")[:20],
        0x9F7A: b"\x00",  # electronic cash: not supported by this terminal
        0x9F66: bytes(4),
    }


def _gpo(pdol_data: bytes) -> CommandApdu:
    return CommandApdu(0x80, 0xA8, 0x00, 0x00, Tlv(0x83, pdol_data).encode(), ne=256)


def _aip_afl(data: bytes) -> tuple[bytes, bytes]:
    tlvs = _tlvs(data, "GPO answer")
    if tlvs and tlvs[0].tag == 0x80 and len(tlvs[0].value) >= 2:
        return tlvs[0].value[:2], tlvs[0].value[2:]
    aip, afl = find(tlvs, 0x82), find(tlvs, 0x94)
    if aip is None or afl is None or len(aip.value) != 2:
        raise CardDataError("GPO answer without AIP and AFL")
    return aip.value, afl.value


def _afl_entries(afl: bytes) -> list[tuple[int, int, int, int]]:
    if len(afl) % 4:
        raise CardDataError("AFL length is not a multiple of 4")
    entries = []
    for i in range(0, len(afl), 4):
        sfi, first, last, oda = afl[i] >> 3, afl[i + 1], afl[i + 2], afl[i + 3]
        if not 1 <= sfi <= 30 or first == 0 or last < first or oda > last - first + 1:
            raise CardDataError(f"malformed AFL entry {afl[i : i + 4].hex().upper()}")
        entries.append((sfi, first, last, oda))
    return entries


def _cvm_rules(cvm_list: bytes) -> list[tuple[int, int]]:
    if len(cvm_list) < 8 or len(cvm_list) % 2:
        raise CardDataError("malformed CVM list")
    return [(cvm_list[i], cvm_list[i + 1]) for i in range(8, len(cvm_list), 2)]


def _generate_ac(p1: int, data: bytes) -> CommandApdu:
    return CommandApdu(0x80, 0xAE, p1, 0x00, data, ne=256)


def _ac_answer(data: bytes) -> dict[int, bytes]:
    tlvs = _tlvs(data, "GENERATE AC answer")
    if tlvs and tlvs[0].tag == 0x80:  # format 1: CID ‖ ATC ‖ AC ‖ IAD
        value = tlvs[0].value
        if len(value) < 11:
            raise CardDataError("GENERATE AC format 1 answer too short")
        return {0x9F27: value[:1], 0x9F36: value[1:3], 0x9F26: value[3:11], 0x9F10: value[11:]}
    wanted = {tag: find(tlvs, tag) for tag in (0x9F27, 0x9F36, 0x9F26, 0x9F10)}
    answer = {tag: tlv.value for tag, tlv in wanted.items() if tlv is not None}
    # CID 1 byte, ATC 2, AC 8 (EMV Book 3 Annex A): anything else is not an answer to act on.
    if [len(answer.get(tag, b"")) for tag in (0x9F27, 0x9F36, 0x9F26)] != [1, 2, 8]:
        raise CardDataError("GENERATE AC answer lacks a well-formed CID, ATC or AC")
    return answer


def _scripts(
    templates: tuple[bytes, ...], tvr: VerificationBits, failed: Tvr, tsi: VerificationBits
) -> Generator[Request, Answer, list[bytes]]:
    """Run issuer scripts (EMV Book 3 §10.10): each ``86`` command in order; the first failure ends its
    script. Results are 5 bytes each (DF31 style: result nibble ‖ sequence, then the script id)."""
    results: list[bytes] = []
    for template in templates:
        tsi.set(Tsi.SCRIPT_PROCESSING_PERFORMED)
        try:
            items = decode_ber_tlv(template)
            body = items[0].children if items and items[0].constructed else []
        except CodecError:
            tvr.set(failed)
            results.append(b"\x10\x00\x00\x00\x00")
            continue
        ident = next((item.value for item in body if item.tag == 0x9F18), b"\x00\x00\x00\x00")[:4]
        outcome = b"\x20"
        for sequence, item in enumerate((item for item in body if item.tag == 0x86), start=1):
            try:
                command = CommandApdu.decode(item.value)
            except CodecError:
                outcome = bytes([0x10 | min(sequence, 15)])
                break
            answer = yield from _card(command)
            if answer.sw1 not in (0x90, 0x62, 0x63):
                outcome = bytes([0x10 | min(sequence, 15)])
                break
        if outcome[0] & 0xF0 == 0x10:
            tvr.set(failed)
        results.append(outcome + ident.ljust(4, b"\x00"))
    return results


def sale(
    config: TerminalConfig,
    amount_fen: int,
    *,
    now: Callable[[], _dt.datetime] = _dt.datetime.now,
    unpredictable: Callable[[], bytes] = lambda: secrets.token_bytes(4),
    sequence: int = 1,
) -> Generator[Request, Answer, SaleOutcome]:
    """One online sale of *amount_fen* (分) with the card in front of the terminal. *sequence*: the
    terminal's transaction sequence counter (9F41; the payment method passes the STAN)."""
    if not 0 < amount_fen < 10**12:
        raise ValueError("amount_fen: 1 .. 999999999999")
    started = now()
    tvr, tsi = VerificationBits(5), VerificationBits(2)
    values = _terminal_values(config, amount_fen, started, unpredictable())
    values[0x9F41] = bytes.fromhex(f"{sequence % 10**8:08d}")
    card = _card

    def outcome(result: SaleResult, reason: str, **extra: object) -> SaleOutcome:
        pan = card_data.get(0x5A, b"").hex().upper().rstrip("F")
        atc = card_data.get(0x9F36)
        return SaleOutcome(
            result,
            reason,
            masked_pan=mask_pan(pan) if pan else "",
            atc=int.from_bytes(atc, "big") if atc else None,
            tvr=bytes(tvr),
            tsi=bytes(tsi),
            at=started,
            **extra,  # type: ignore[arg-type]
        )

    card_data: dict[int, bytes] = {}
    # 1. Application selection.
    candidates = yield from _candidates(config)
    chosen: tuple[bytes, bytes, bytes] | None = None
    for aid in candidates:
        fci = yield from card(_select(aid))
        if fci.sw != 0x9000:
            continue
        fci_tlvs = _tlvs(fci.data, "application FCI")
        pdol = find(fci_tlvs, 0x9F38)
        df_name = find(fci_tlvs, 0x84)
        values[0x84] = df_name.value if df_name is not None else aid
        try:
            pdol_data = build_dol_data(pdol.value if pdol is not None else b"", values)
        except CodecError as exc:
            raise CardDataError(f"PDOL: {exc}") from None
        gpo = yield from card(_gpo(pdol_data))
        if gpo.sw == 0x6985:
            continue  # conditions of use not satisfied: the next application
        if gpo.sw != 0x9000:
            raise CardDataError(f"GET PROCESSING OPTIONS answered {gpo.sw:04X}")
        aip, afl = _aip_afl(gpo.data)
        chosen = (aid, aip, afl)
        break
    if chosen is None:
        return outcome(SaleResult.DECLINED_BY_CARD, "no payment application on the card")
    _, aip, afl = chosen
    card_data[0x82] = aip

    # 2. Read application data.
    oda_records: list[tuple[int, bytes]] = []
    for sfi, first, last, oda in _afl_entries(afl):
        for number in range(first, last + 1):
            record = yield from card(_read_record(sfi, number))
            if record.sw != 0x9000:
                raise CardDataError(f"READ RECORD SFI {sfi} record {number} answered {record.sw:04X}")
            tlvs = _tlvs(record.data, "record")
            if len(tlvs) != 1 or tlvs[0].tag != 0x70:
                raise CardDataError(f"SFI {sfi} record {number} is not a 70 template")
            if number - first < oda:
                oda_records.append((sfi, record.data))
            for item in tlvs[0].children:
                if item.tag in card_data:
                    raise CardDataError(f"tag {item.tag:X} appears twice in the card's records")
                card_data[item.tag] = item.value
    for tag in (0x5A, 0x5F24, 0x8C, 0x8D):
        if tag not in card_data:
            raise CardDataError(f"the card lacks mandatory data object {tag:X}")
    pan = card_data[0x5A].hex().upper().rstrip("F")
    if not pan.isdigit():
        raise CardDataError("the card's PAN is not numeric")
    psn = card_data[0x5F34].hex() if 0x5F34 in card_data else None

    # 3. Offline data authentication (a failure is a TVR bit: the issuer decides online).
    use_dda = bool(aip[0] & 0x20) and bool(config.capabilities[2] & 0x40)
    use_sda = bool(aip[0] & 0x40) and bool(config.capabilities[2] & 0x80)
    if use_dda or use_sda:
        tsi.set(Tsi.ODA_PERFORMED)
        try:
            static = _oda.static_data_to_authenticate(oda_records, card_data.get(0x9F4A, b""), {0x82: aip})
            ca_key = _oda.select_ca_key(config.ca_keys, chosen[0][:5], card_data.get(0x8F, b""))
            issuer_key = _oda.recover_issuer_key(
                ca_key, _oda.KeyCertificate.issuer_from_card(card_data), pan=pan, today=started.date()
            )
            if use_dda:
                icc_key = _oda.recover_icc_key(
                    issuer_key, _oda.KeyCertificate.icc_from_card(card_data), pan=pan, static_data=static,
                    today=started.date(),
                )  # fmt: skip
                ddol_data = build_dol_data(card_data.get(0x9F49, bytes.fromhex("9F3704")), values)
                signed = yield from card(CommandApdu(0x00, 0x88, 0x00, 0x00, ddol_data, ne=256))
                if signed.sw != 0x9000:
                    raise _oda.OdaError(_oda.OdaReason.MISSING_DATA)
                sdad = _tlvs(signed.data, "INTERNAL AUTHENTICATE answer")
                signature = sdad[0] if sdad and sdad[0].tag == 0x80 else find(sdad, 0x9F4B)
                if signature is None:
                    raise _oda.OdaError(_oda.OdaReason.MISSING_DATA)
                _oda.verify_dda(icc_key, signature.value, ddol_data)
            else:
                _oda.verify_sda(issuer_key, card_data.get(0x93, b""), static)
        except _oda.OdaError as exc:
            if exc.reason is _oda.OdaReason.MISSING_DATA:
                tvr.set(Tvr.ICC_DATA_MISSING)
            tvr.set(Tvr.DDA_FAILED if use_dda else Tvr.SDA_FAILED)
        except CodecError:
            tvr.set(Tvr.ICC_DATA_MISSING)
            tvr.set(Tvr.DDA_FAILED if use_dda else Tvr.SDA_FAILED)
    else:
        tvr.set(Tvr.ODA_NOT_PERFORMED)

    # 4. Processing restrictions.
    today = started.strftime("%y%m%d")
    if card_data.get(0x9F08, config.application_version) != config.application_version:
        tvr.set(Tvr.DIFFERENT_APPLICATION_VERSIONS)
    if card_data[0x5F24].hex() < today:
        tvr.set(Tvr.EXPIRED_APPLICATION)
    if 0x5F25 in card_data and card_data[0x5F25].hex() > today:
        tvr.set(Tvr.NOT_YET_EFFECTIVE)
    usage = card_data.get(0x9F07)
    if usage is not None and len(usage) >= 1:
        domestic = card_data.get(0x5F28) == config.country
        if not usage[0] & (0x08 if domestic else 0x04) or not usage[0] & 0x01:
            tvr.set(Tvr.SERVICE_NOT_ALLOWED)

    # 5. Cardholder verification: online PIN on the pad, or no CVM where the card allows it.
    pin_block: bytes | None = None
    cvm_result = bytes.fromhex("3F0000")  # no CVM performed
    if 0x8E in card_data and aip[0] & 0x10:
        tsi.set(Tsi.CARDHOLDER_VERIFICATION_PERFORMED)
        verified = False
        for code, condition in _cvm_rules(card_data[0x8E]):
            method = code & 0x3F
            supported = (method == 0x02 and config.pin_pad) or method == 0x1F
            if condition == 0x03 and not supported:
                continue
            if condition not in (0x00, 0x03):
                continue  # amount- and cash-conditioned rules do not apply to this purchase-only terminal
            if method == 0x02:
                answer = yield PinRequest(pan)
                if not isinstance(answer, PinAnswer):
                    raise TypeError("the PIN pad's answer must be a PinAnswer")
                if answer.status in ("cancelled", "timeout"):
                    return outcome(SaleResult.CANCELLED, f"PIN entry {answer.status}")
                if answer.block is None:
                    tvr.set(Tvr.PIN_PAD_NOT_WORKING)
                    if code & 0x40:
                        continue
                    tvr.set(Tvr.CARDHOLDER_VERIFICATION_FAILED)
                    cvm_result = bytes([code, condition, 0x01])
                    verified = True
                    break
                pin_block = answer.block
                tvr.set(Tvr.ONLINE_PIN_ENTERED)
                cvm_result = bytes([code, condition, 0x00])
                verified = True
                break
            if method == 0x1F:
                cvm_result = bytes([code, condition, 0x02])
                verified = True
                break
            tvr.set(Tvr.UNRECOGNISED_CVM)
            if not code & 0x40:
                break
        if not verified:
            tvr.set(Tvr.CARDHOLDER_VERIFICATION_FAILED)
            cvm_result = bytes.fromhex("3F0001")
    values[0x9F34] = cvm_result

    # 6. Terminal risk management: floor limit 0, so every sale goes online.
    tsi.set(Tsi.TERMINAL_RISK_MANAGEMENT_PERFORMED)
    tvr.set(Tvr.FLOOR_LIMIT_EXCEEDED)

    # 7. Terminal action analysis and the first GENERATE AC.
    values[0x95] = bytes(tvr)
    denial = _denies(bytes(tvr), config.denial_code, card_data.get(0x9F0E, bytes(5)))
    first_ac = yield from card(
        _generate_ac(_CID_AAC if denial else _CID_ARQC, build_dol_data(card_data[0x8C], values))
    )
    tsi.set(Tsi.CARD_RISK_MANAGEMENT_PERFORMED)
    if first_ac.sw != 0x9000:
        raise CardDataError(f"GENERATE AC answered {first_ac.sw:04X}")
    ac = _ac_answer(first_ac.data)
    card_data[0x9F36] = ac[0x9F36]
    cid = ac[0x9F27][0] & 0xC0
    if cid != _CID_ARQC:
        reason = (
            "the card declined offline"
            if cid == _CID_AAC
            else "the card approved offline on an online-only terminal"
        )
        return outcome(SaleResult.DECLINED_BY_CARD, reason, cid=ac[0x9F27][0])

    # 8. Online authorisation.
    icc = {**values, **card_data, **ac, 0x82: aip, 0x95: bytes(tvr)}
    icc_data = {tag: icc[tag] for tag in SALE_ICC_TAGS if tag in icc}
    reply = yield OnlineRequest(
        pan=pan,
        psn=psn,
        expiry=card_data[0x5F24].hex(),
        track2=card_data.get(0x57),
        amount_fen=amount_fen,
        icc_data=icc_data,
        pin_block=pin_block,
    )
    if not isinstance(reply, OnlineAnswer):
        raise TypeError("the acquirer's answer must be an OnlineAnswer")
    if reply.result is OnlineResult.NOT_SENT:
        tvr.set(Tvr.UNABLE_TO_GO_ONLINE)

    # 9. Issuer authentication, scripts before, the second GENERATE AC, scripts after.
    if reply.issuer_authentication and aip[0] & 0x04:
        tsi.set(Tsi.ISSUER_AUTHENTICATION_PERFORMED)
        auth = yield from card(CommandApdu(0x00, 0x82, 0x00, 0x00, reply.issuer_authentication))
        if auth.sw != 0x9000:
            tvr.set(Tvr.ISSUER_AUTHENTICATION_FAILED)
    results = yield from _scripts(reply.scripts_before, tvr, Tvr.SCRIPT_FAILED_BEFORE_FINAL_GENAC, tsi)
    values[0x8A] = reply.arc if reply.result is not OnlineResult.NOT_SENT else b"Z3"
    values[0x91] = reply.issuer_authentication or b""
    values[0x95] = bytes(tvr)
    approved = reply.result is OnlineResult.APPROVED
    second = yield from card(
        _generate_ac(_CID_TC if approved else _CID_AAC, build_dol_data(card_data[0x8D], values))
    )
    if second.sw != 0x9000:
        raise CardDataError(f"second GENERATE AC answered {second.sw:04X}")
    final = _ac_answer(second.data)
    results += yield from _scripts(reply.scripts_after, tvr, Tvr.SCRIPT_FAILED_AFTER_FINAL_GENAC, tsi)
    final_cid = final[0x9F27][0]
    done = {"cid": final_cid, "online": reply, "script_results": tuple(results)}
    if reply.result is OnlineResult.NO_ANSWER:
        return outcome(SaleResult.REVERSAL_NEEDED, "the acquirer did not answer", **done)
    if reply.result is OnlineResult.NOT_SENT:
        return outcome(SaleResult.NOT_SENT, "the acquirer could not be reached", **done)
    if not approved:
        return outcome(SaleResult.DECLINED_BY_ISSUER, f"the issuer declined ({reply.response_code})", **done)
    if final_cid & 0xC0 != _CID_TC:
        why = (
            "issuer authentication failed" if Tvr.ISSUER_AUTHENTICATION_FAILED in tvr else "the card declined"
        )
        return outcome(SaleResult.REVERSAL_NEEDED, f"approved online, but {why}", **done)
    return outcome(SaleResult.APPROVED, "approved", **done)


def _denies(tvr: bytes, terminal_denial: bytes, issuer_denial: bytes) -> bool:
    """Terminal action analysis, denial: a TVR bit that either the terminal's or the issuer's denial code
    names means the sale is declined offline (an AAC is asked for)."""
    codes = bytes(
        a | b for a, b in zip(terminal_denial.ljust(5, b"\0"), issuer_denial.ljust(5, b"\0"), strict=True)
    )
    return any(t & c for t, c in zip(tvr, codes, strict=True))


def online_request_tlvs(request: OnlineRequest) -> Mapping[int, bytes]:
    """Field 55 of the sale, as data objects in the order of :data:`SALE_ICC_TAGS`."""
    return {tag: request.icc_data[tag] for tag in SALE_ICC_TAGS if tag in request.icc_data}
