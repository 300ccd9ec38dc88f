"""The baseline of bench_pboc: a straightforward PBOC terminal, the kind that reads everything it can find.

It does the same sale as :func:`cardservice.pboc.sale` on the card — the same applications, the same
GENERATE AC / EXTERNAL AUTHENTICATE / GENERATE AC with the same DOL data, DDA's INTERNAL AUTHENTICATE
too — but finds its data the way a terminal written from the command list rather than from the AFL does:

* the PSE's directory: every record of its SFI until the card says there is no more;
* after GPO, every record of SFI 1..10 (records 1..16, each SFI until its first non-9000: ``6A83`` no such
  record, ``6A82`` no such file), whatever the AFL says;
* GET DATA of every data object a terminal may ask for (:data:`GET_DATA_TAGS`), asked or not.

What is measured is the card side (APDUs, card time), so the terminal's own offline checks are left out:
the INTERNAL AUTHENTICATE goes to the card but its signature is not verified here, and no TVR bit is
judged beyond the two the kernel always sets for this card (floor limit exceeded, online PIN entered).
It reuses the kernel's terminal values so both send the card byte-for-byte comparable DOL data.
"""

from __future__ import annotations

import datetime as _dt
import secrets
from collections.abc import Callable, Generator

from cardservice.apdu import CommandApdu, ResponseApdu, Tlv, decode_ber_tlv, find
from cardservice.pboc import (
    PSE_NAME,
    SALE_ICC_TAGS,
    CardDataError,
    OnlineAnswer,
    OnlineRequest,
    OnlineResult,
    PinAnswer,
    PinRequest,
    TerminalConfig,
    Tvr,
    build_dol_data,
)
from cardservice.pboc._kernel import _terminal_values

__all__ = ["GET_DATA_TAGS", "straightforward_sale"]

#: What the baseline asks with GET DATA (``80 CA tag``). The tag dictionary (cardservice/pboc/_tags.py)
#: has no "GET DATA" column, so the list is here: EMV 4.3 Book 3 §6.5.7 names ATC 9F36, last online ATC
#: 9F13, PIN try counter 9F17 and log format 9F4F; JR/T 0025.13 electronic cash adds the balance 9F79, its
#: limits 9F77 / 9F78, the reset threshold 9F6D and the application currency code 9F51.
GET_DATA_TAGS = (0x9F36, 0x9F13, 0x9F17, 0x9F4F, 0x9F79, 0x9F77, 0x9F78, 0x9F6D, 0x9F51)

SFI_RANGE = range(1, 11)
RECORD_RANGE = range(1, 17)

Request = CommandApdu | PinRequest | OnlineRequest
Answer = ResponseApdu | PinAnswer | OnlineAnswer


def _card(command: CommandApdu) -> Generator[Request, Answer, ResponseApdu]:
    answer = yield command
    if not isinstance(answer, ResponseApdu):
        raise TypeError("the card's answer must be a ResponseApdu")
    return answer


def _read_record(sfi: int, number: int) -> CommandApdu:
    return CommandApdu(0x00, 0xB2, number, (sfi << 3) | 0x04, ne=256)


def _templates(data: bytes) -> list[Tlv]:
    """The data objects of a ``70`` record, flat (a record that is not one is skipped: a lenient reader)."""
    try:
        tlvs = decode_ber_tlv(data)
    except ValueError:
        return []
    return [child for tlv in tlvs if tlv.tag == 0x70 for child in tlv.children]


def _ac(data: bytes) -> dict[int, bytes]:
    """A GENERATE AC answer, format 1 (``80``) or 2 (``77``), as CID / ATC / AC / IAD."""
    tlvs = decode_ber_tlv(data)
    if tlvs and tlvs[0].tag == 0x80:
        value = tlvs[0].value
        return {0x9F27: value[:1], 0x9F36: value[1:3], 0x9F26: value[3:11], 0x9F10: value[11:]}
    found = {tag: find(tlvs, tag) for tag in (0x9F27, 0x9F36, 0x9F26, 0x9F10)}
    return {tag: tlv.value for tag, tlv in found.items() if tlv is not None}


def straightforward_sale(
    config: TerminalConfig,
    amount_fen: int,
    *,
    now: Callable[[], _dt.datetime] = _dt.datetime.now,
    unpredictable: Callable[[], bytes] = lambda: secrets.token_bytes(4),
    sequence: int = 1,
) -> Generator[Request, Answer, int]:
    """The baseline's sale, a flow like :func:`cardservice.pboc.sale` (the same requests and answers).
    Returns the CID of the second GENERATE AC (``0x40``: a TC); raises :class:`CardDataError` when the card
    answers something it cannot go on with."""
    values = _terminal_values(config, amount_fen, now(), unpredictable())
    values[0x9F41] = bytes.fromhex(f"{sequence % 10**8:08d}")

    # The PSE and every record of its directory.
    aid = config.aids[0]
    fci = yield from _card(CommandApdu(0x00, 0xA4, 0x04, 0x00, PSE_NAME, ne=256))
    sfi = find(decode_ber_tlv(fci.data), 0x88) if fci.sw == 0x9000 else None
    if sfi is not None and len(sfi.value) == 1:
        listed: list[bytes] = []
        for number in RECORD_RANGE:
            record = yield from _card(_read_record(sfi.value[0], number))
            if record.sw != 0x9000:
                break
            entries = (find(item.children, 0x4F) for item in _templates(record.data) if item.tag == 0x61)
            listed += [entry.value for entry in entries if entry is not None]
        aid = listed[0] if listed else aid

    # The application and its processing options.
    fci = yield from _card(CommandApdu(0x00, 0xA4, 0x04, 0x00, aid, ne=256))
    if fci.sw != 0x9000:
        raise CardDataError(f"SELECT of the application answered {fci.sw:04X}")
    fci_tlvs = decode_ber_tlv(fci.data)
    pdol, df_name = find(fci_tlvs, 0x9F38), find(fci_tlvs, 0x84)
    values[0x84] = df_name.value if df_name is not None else aid
    pdol_data = build_dol_data(pdol.value if pdol is not None else b"", values)
    gpo = yield from _card(CommandApdu(0x80, 0xA8, 0x00, 0x00, Tlv(0x83, pdol_data).encode(), ne=256))
    if gpo.sw != 0x9000 or not gpo.data:
        raise CardDataError(f"GET PROCESSING OPTIONS answered {gpo.sw:04X}")
    gpo_tlvs = decode_ber_tlv(gpo.data)
    aip_tlv = find(gpo_tlvs, 0x82)
    aip = gpo_tlvs[0].value[:2] if gpo_tlvs[0].tag == 0x80 else aip_tlv.value if aip_tlv else b"\0\0"

    # Every record of every SFI it can find, then every data object GET DATA may give.
    card_data: dict[int, bytes] = {}
    for sfi_number in SFI_RANGE:
        for number in RECORD_RANGE:
            record = yield from _card(_read_record(sfi_number, number))
            if record.sw != 0x9000:
                break
            for item in _templates(record.data):
                card_data.setdefault(item.tag, item.value)
    for tag in GET_DATA_TAGS:
        answer = yield from _card(CommandApdu(0x80, 0xCA, tag >> 8, tag & 0xFF, ne=256))
        if answer.sw == 0x9000:
            got = find(decode_ber_tlv(answer.data), tag)
            if got is not None:
                card_data.setdefault(tag, got.value)
    for tag in (0x5A, 0x8C, 0x8D):
        if tag not in card_data:
            raise CardDataError(f"the card lacks mandatory data object {tag:X}")
    pan = card_data[0x5A].hex().upper().rstrip("F")

    # DDA's card command (its signature is the terminal's business, not the card's: not checked here).
    if aip[0] & 0x20:
        ddol = build_dol_data(card_data.get(0x9F49, bytes.fromhex("9F3704")), values)
        yield from _card(CommandApdu(0x00, 0x88, 0x00, 0x00, ddol, ne=256))

    # Online PIN, then the first GENERATE AC for an ARQC.
    tvr = bytearray(5)
    pin_block: bytes | None = None
    if 0x8E in card_data:
        pin = yield PinRequest(pan)
        if isinstance(pin, PinAnswer) and pin.block is not None:
            pin_block = pin.block
            index, mask = Tvr.ONLINE_PIN_ENTERED.value
            tvr[index] |= mask
        values[0x9F34] = card_data[0x8E][8:10] + b"\x00"
    index, mask = Tvr.FLOOR_LIMIT_EXCEEDED.value
    tvr[index] |= mask
    values[0x95] = bytes(tvr)
    first = yield from _card(
        CommandApdu(0x80, 0xAE, 0x80, 0x00, build_dol_data(card_data[0x8C], values), ne=256)
    )
    if first.sw != 0x9000:
        raise CardDataError(f"GENERATE AC answered {first.sw:04X}")
    ac = _ac(first.data)

    # Online, issuer authentication, the second GENERATE AC.
    icc = {**values, **card_data, **ac, 0x82: aip}
    reply = yield OnlineRequest(
        pan=pan,
        psn=card_data[0x5F34].hex() if 0x5F34 in card_data else None,
        expiry=card_data.get(0x5F24, b"").hex(),
        track2=card_data.get(0x57),
        amount_fen=amount_fen,
        icc_data={tag: icc[tag] for tag in SALE_ICC_TAGS if tag in icc},
        pin_block=pin_block,
    )
    if not isinstance(reply, OnlineAnswer):
        raise TypeError("the acquirer's answer must be an OnlineAnswer")
    if reply.issuer_authentication:
        yield from _card(CommandApdu(0x00, 0x82, 0x00, 0x00, reply.issuer_authentication))
    values[0x8A] = reply.arc
    values[0x91] = reply.issuer_authentication or b""
    approved = reply.result is OnlineResult.APPROVED
    second = yield from _card(
        CommandApdu(
            0x80, 0xAE, 0x40 if approved else 0x00, 0x00, build_dol_data(card_data[0x8D], values), ne=256
        )
    )
    if second.sw != 0x9000:
        raise CardDataError(f"second GENERATE AC answered {second.sw:04X}")
    return _ac(second.data)[0x9F27][0]
