"""DEMO ONLY: the simulated issuer behind the ISO 8583 acquirer — it authorises sales with the chip and the
online PIN, books them, and answers reversals, refunds and settlement. No sockets here (``_iso_server``).

A sale (0200), in order; the first failure answers:

====  ==========================================================================================
code  when
====  ==========================================================================================
05    the ARQC in field 55 does not verify (or 55 lacks its data): 9F26 against
      application_cryptogram(session_key(card_master_key(IMK-AC, PAN, PSN), ATC), cryptogram_input(
      55's values, AIP 82, ATC 9F36, CVR = IAD 9F10 bytes 3..6)). Our choice: CUP's response table
      lists card verification failures under 05 (do not honour); A0 is CUP's MAC error, not reused.
      No tag 91 then: there is no verified ARQC to answer.
75    the PIN was already wrong three times in a row (until :meth:`Issuer.reset_pin_tries`)
55    the PIN in field 52 (format 0 under the TPK, 3DES ECB) is not the card's; the third wrong
      PIN in a row answers 75 instead. A right PIN clears the count. No PIN block: no PIN check.
51    the amount exceeds the balance
94    the key (terminal, merchant, batch, STAN) was used by another sale; the same sale again
      answers its first answer again (nothing is taken twice)
12    a reversal closed the key before the sale arrived (void): nothing is taken
any   ``decline`` override (the control "decline next")
00    approved: the balance is debited, 38 = 6-digit authorisation code, 37 = RRN
====  ==========================================================================================

Every answer to a verified ARQC carries 55 = 91 (ARPC ‖ ARC), ARPC = arpc_method_1(SK, ARQC, ARC) with
ARC = field 39 in ASCII (``00`` → ``3030``), and any issuer scripts (MAC'd under MK-SMI's session key).

Reversal (0400): found by (41, 42, 60.2, 11) — approved and unreversed: the money goes back, 00; already
reversed or declined: 00 again (idempotent, nothing moves); PAN or amount differ from the original: 22
(not final, a terminal bug to look at); no such sale: 25, and the key is closed (void) so a late 0200
under it is refused. The terminal stops retrying on 00 or 25 (``cardservice.acquiring.REVERSAL_FINAL_CODES``).
Refund (0220): the original by RRN (37) with its date (61.3) and PAN; 25 when not found, 64 when the
refunds would exceed the sale; else 00, money back, a new RRN. Settlement (0500): the host's totals of the
batch against the terminal's — 48 carries the host's, with result 1 (balanced) or 2.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hmac
import logging
import secrets
from collections.abc import Callable

from cardservice.acquiring import (
    SETTLEMENT_BALANCED,
    SETTLEMENT_UNBALANCED,
    AnyMessage,
    Iso8583Error,
    RefundRequest,
    RefundResponse,
    ReversalRequest,
    ReversalResponse,
    SaleRequest,
    SaleResponse,
    SettlementRequest,
    SettlementResponse,
    SettlementTotals,
    build_icc_data,
    issuer_script,
    mask_pan,
)
from cardservice.errors import CryptoError
from cardservice.keys import BlockCipher, decrypt_ecb
from cardservice.pboc import (
    AcScheme,
    application_cryptogram,
    arpc_method_1,
    card_master_key,
    cryptogram_input,
    pin_from_block_format_0,
    script_mac,
    session_key,
)
from simulators.acquirer._iso_store import IsoRecord, IsoStore
from simulators.acquirer._store import CHINA_TZ
from simulators.pboc._demo import DEMO_PIN, demo_bank_key

__all__ = ["SCRIPT_COMMANDS", "Issuer", "IssuerKeys", "Overrides", "ScriptRequest"]

_log = logging.getLogger("simulators.acquirer.iso")

ARQC_FAILED = "05"
PIN_WRONG, PIN_TRIES_EXCEEDED, PIN_TRIES = "55", "75", 3

#: Issuer script commands (card spec): name -> CLA INS P1 P2 (Lc and data are added).
SCRIPT_COMMANDS = {
    "block": bytes.fromhex("841E0000"),
    "unblock": bytes.fromhex("84180000"),
    "pin-unblock": bytes.fromhex("84240000"),
    "put-balance": bytes.fromhex("04DA9F79"),
}


@dataclasses.dataclass(frozen=True)
class IssuerKeys:
    """The issuer's and the terminal's keys (DEMO by default: simulators/pboc/_demo.py)."""

    imk_ac: bytes = dataclasses.field(default_factory=lambda: demo_bank_key("IMK-AC"), repr=False)
    imk_smi: bytes = dataclasses.field(default_factory=lambda: demo_bank_key("IMK-SMI"), repr=False)
    tpk: bytes = dataclasses.field(default_factory=lambda: demo_bank_key("TPK"), repr=False)
    tak: bytes = dataclasses.field(default_factory=lambda: demo_bank_key("TAK"), repr=False)


@dataclasses.dataclass(frozen=True)
class ScriptRequest:
    """One issuer script to add to an answer: ``command`` of :data:`SCRIPT_COMMANDS`, template 71/72."""

    command: str
    template: int = 0x72
    balance_fen: int | None = None  # put-balance only

    def __post_init__(self) -> None:
        if self.command not in SCRIPT_COMMANDS:
            raise ValueError(f"script command: one of {', '.join(SCRIPT_COMMANDS)}")
        if self.template not in (0x71, 0x72):
            raise ValueError("script template: 0x71 or 0x72")
        if self.command == "put-balance" and (self.balance_fen is None or not 0 <= self.balance_fen < 10**12):
            raise ValueError("put-balance needs balance_fen, 0..999999999999")


@dataclasses.dataclass(frozen=True)
class Overrides:
    """What the controls change in one sale's answer."""

    decline: str | None = None
    corrupt_arpc: bool = False
    scripts: tuple[ScriptRequest, ...] = ()


@dataclasses.dataclass(frozen=True)
class _Card:
    """What a verified ARQC gives: the session key and the data the answer needs."""

    session: bytes
    arqc: bytes
    atc: bytes
    scheme: AcScheme = AcScheme.PBOC_TDES


class Issuer:
    """Authorises and books; ``clock`` gives the current time (aware), ``pin`` every demo card's PIN."""

    def __init__(
        self,
        store: IsoStore,
        keys: IssuerKeys | None = None,
        *,
        pin: str = DEMO_PIN,
        clock: Callable[[], _dt.datetime] | None = None,
    ) -> None:
        self.store = store
        self.keys = keys or IssuerKeys()
        self._pin = pin
        self._clock = clock or (lambda: _dt.datetime.now(_dt.UTC))

    def handle(self, request: AnyMessage, overrides: Overrides = Overrides()) -> AnyMessage:
        if isinstance(request, SaleRequest):
            return self.sale(request, overrides)
        if isinstance(request, ReversalRequest):
            return self.reversal(request)
        if isinstance(request, RefundRequest):
            return self.refund(request)
        if isinstance(request, SettlementRequest):
            return self.settlement(request)
        raise ValueError(f"{request.MTI} is not a request this issuer answers")

    def reset_pin_tries(self, pan: str) -> None:
        self.store.set_pin_failures(pan, 0)

    # -- time -------------------------------------------------------------------------------------------

    def _now(self) -> tuple[_dt.datetime, str, str, str]:
        now = self._clock().astimezone(CHINA_TZ)
        return now, now.strftime("%H%M%S"), now.strftime("%m%d"), now.date().isoformat()

    # -- sale -------------------------------------------------------------------------------------------

    def _verify_arqc(self, sale: SaleRequest) -> _Card | None:
        try:
            values = sale.icc.values()
            arqc, atc, aip, iad = values[0x9F26], values[0x9F36], values[0x82], values[0x9F10]
            if values.get(0x9F27, b"\x80")[0] & 0xC0 != 0x80 or len(iad) < 7:
                return None
            # The IAD's algorithm id says which scheme the card computes with (01 3DES, 04 SM4: _profile).
            scheme = AcScheme.PBOC_SM4 if iad[7:8] == b"\x04" else AcScheme.PBOC_TDES
            card_key = card_master_key(self.keys.imk_ac, sale.pan, sale.psn or "00", scheme)
            session = session_key(card_key, atc, scheme)
            data = cryptogram_input(values, aip, atc, iad[3:7])
            expected = application_cryptogram(session, data, scheme)
        except (KeyError, IndexError, ValueError, CryptoError, Iso8583Error):  # 55 malformed or incomplete
            return None
        return _Card(session, arqc, atc, scheme) if hmac.compare_digest(expected, arqc) else None

    def _pin_result(self, sale: SaleRequest, failures: int) -> str | None:
        """None when the PIN is right (or absent), else the response code; books the failure count."""
        if failures >= PIN_TRIES:
            return PIN_TRIES_EXCEEDED
        if sale.pin_block is None:
            return None
        try:
            clear = decrypt_ecb(BlockCipher.TDES, self.keys.tpk, sale.pin_block)
            right = hmac.compare_digest(pin_from_block_format_0(clear, sale.pan), self._pin)
        except CryptoError:
            right = False
        if right:
            self.store.set_pin_failures(sale.pan, 0)
            return None
        self.store.set_pin_failures(sale.pan, failures + 1)
        return PIN_TRIES_EXCEEDED if failures + 1 >= PIN_TRIES else PIN_WRONG

    def _icc_answer(self, sale: SaleRequest, card: _Card | None, code: str, overrides: Overrides) -> bytes:
        if card is None:
            return b""
        arc = code.encode("ascii")
        arpc = arpc_method_1(card.session, card.arqc, arc, card.scheme)
        if overrides.corrupt_arpc:
            arpc = arpc[:-1] + bytes((arpc[-1] ^ 0xFF,))
        objects: list[tuple[int, bytes]] = [(0x91, arpc + arc)]
        scripts = [self._script_for(sale, card, s) for s in overrides.scripts]
        return build_icc_data(objects) + b"".join(scripts)

    def _script_for(self, sale: SaleRequest, card: _Card, request: ScriptRequest) -> bytes:
        header = SCRIPT_COMMANDS[request.command]
        data = bytes.fromhex(f"{request.balance_fen:012d}") if request.command == "put-balance" else b""
        lc = bytes((len(data) + 4,))
        card_key = card_master_key(self.keys.imk_smi, sale.pan, sale.psn or "00", card.scheme)
        session = session_key(card_key, card.atc, card.scheme)
        mac = script_mac(session, header + lc + card.atc + card.arqc + data, card.scheme)
        return issuer_script(request.template, [header + lc + data + mac])

    def _answer(self, sale: SaleRequest, record: IsoRecord, icc: bytes, local_time: str) -> SaleResponse:
        return SaleResponse(
            response_code=record.response_code,
            amount_fen=sale.amount_fen,
            stan=sale.stan,
            terminal_id=sale.terminal_id,
            merchant_id=sale.merchant_id,
            batch=sale.batch,
            pan=sale.pan,
            rrn=record.rrn,
            auth_code=record.auth_code,
            local_time=local_time,
            local_date=record.local_date,
            settlement_date=record.local_date,
            icc_data=icc,
        )

    def sale(self, sale: SaleRequest, overrides: Overrides = Overrides()) -> SaleResponse:
        now, hhmmss, mmdd, day = self._now()
        card = self._verify_arqc(sale)
        with self.store.atomic():
            key = (sale.terminal_id, sale.merchant_id, sale.batch, sale.stan)
            existing = self.store.find(*key, "sale")
            if existing is not None:
                same = existing.pan == sale.pan and existing.amount_fen == sale.amount_fen
                code = "12" if existing.status == "void" else (existing.response_code if same else "94")
                _log.info("0200 stan=%06d again: %s", sale.stan, code)
                if same and existing.status != "void":
                    return self._answer(
                        sale, existing, self._icc_answer(sale, card, code, Overrides()), hhmmss
                    )
                return self._declined(sale, code, card, hhmmss, mmdd)
            account = self.store.account(sale.pan)
            refusal = ARQC_FAILED if card is None else self._pin_result(sale, account.pin_failures)
            if refusal is None and sale.amount_fen > account.balance_fen:
                refusal = "51"
            if refusal is None and overrides.decline is not None:
                refusal = overrides.decline
            code = refusal or "00"
            approved = code == "00"
            record = self.store.insert(
                kind="sale",
                terminal_id=sale.terminal_id,
                merchant_id=sale.merchant_id,
                batch=sale.batch,
                stan=sale.stan,
                pan=sale.pan,
                amount_fen=sale.amount_fen,
                status="approved" if approved else "declined",
                response_code=code,
                auth_code=f"{secrets.randbelow(10**6):06d}" if approved else None,
                local_date=mmdd,
                day=day,
                at=now.isoformat(timespec="microseconds"),
            )
            if approved:
                self.store.add_balance(sale.pan, -sale.amount_fen)
        _log.info("0200 %s stan=%06d %d fen: %s", mask_pan(sale.pan), sale.stan, sale.amount_fen, code)
        return self._answer(sale, record, self._icc_answer(sale, card, code, overrides), hhmmss)

    def _declined(
        self, sale: SaleRequest, code: str, card: _Card | None, hhmmss: str, mmdd: str
    ) -> SaleResponse:
        return SaleResponse(
            response_code=code,
            amount_fen=sale.amount_fen,
            stan=sale.stan,
            terminal_id=sale.terminal_id,
            merchant_id=sale.merchant_id,
            batch=sale.batch,
            pan=sale.pan,
            local_time=hhmmss,
            local_date=mmdd,
            icc_data=self._icc_answer(sale, card, code, Overrides()),
        )

    # -- reversal ---------------------------------------------------------------------------------------

    def reversal(self, request: ReversalRequest) -> ReversalResponse:
        now, hhmmss, mmdd, day = self._now()
        key = (request.terminal_id, request.merchant_id, request.batch, request.stan)
        with self.store.atomic():
            original = self.store.find(*key, "sale")
            if original is None:
                code = "25"
                self.store.insert(
                    kind="sale",
                    terminal_id=request.terminal_id,
                    merchant_id=request.merchant_id,
                    batch=request.batch,
                    stan=request.stan,
                    pan=request.pan,
                    amount_fen=request.amount_fen,
                    status="void",
                    response_code="25",
                    local_date=mmdd,
                    day=day,
                    at=now.isoformat(timespec="microseconds"),
                    reversal_reason=request.reason,
                    reversed_at=now.isoformat(timespec="microseconds"),
                )
            elif original.pan != request.pan or original.amount_fen != request.amount_fen:
                code = "22"
            else:
                code = "00"
                if original.status == "approved":
                    self.store.reverse(original.id, request.reason, now.isoformat(timespec="microseconds"))
                    self.store.add_balance(original.pan, original.amount_fen)
        _log.info("0400 stan=%06d reason %s: %s", request.stan, request.reason, code)
        return ReversalResponse(
            response_code=code,
            amount_fen=request.amount_fen,
            stan=request.stan,
            terminal_id=request.terminal_id,
            merchant_id=request.merchant_id,
            batch=request.batch,
            pan=request.pan,
            rrn=original.rrn if original is not None else None,
            local_time=hhmmss,
            local_date=mmdd,
        )

    # -- refund -----------------------------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> RefundResponse:
        now, hhmmss, mmdd, day = self._now()
        with self.store.atomic():
            existing = self.store.find(
                request.terminal_id, request.merchant_id, request.batch, request.stan, "refund"
            )
            if existing is not None:
                same = existing.pan == request.pan and existing.amount_fen == request.amount_fen
                code, record = (existing.response_code, existing) if same else ("94", None)
            else:
                original = self.store.by_rrn(request.original_rrn)
                if (
                    original is None
                    or original.kind != "sale"
                    or original.status != "approved"
                    or original.pan != request.pan
                    or original.local_date != request.original_date
                ):
                    code = "25"
                elif self.store.refunded_fen(original.id) + request.amount_fen > original.amount_fen:
                    code = "64"
                else:
                    code = "00"
                record = self.store.insert(
                    kind="refund",
                    terminal_id=request.terminal_id,
                    merchant_id=request.merchant_id,
                    batch=request.batch,
                    stan=request.stan,
                    pan=request.pan,
                    amount_fen=request.amount_fen,
                    status="approved" if code == "00" else "declined",
                    response_code=code,
                    original_id=original.id if original is not None else None,
                    local_date=mmdd,
                    day=day,
                    at=now.isoformat(timespec="microseconds"),
                )
                if code == "00":
                    self.store.add_balance(request.pan, request.amount_fen)
        _log.info("0220 stan=%06d %d fen: %s", request.stan, request.amount_fen, code)
        return RefundResponse(
            response_code=code,
            amount_fen=request.amount_fen,
            stan=request.stan,
            terminal_id=request.terminal_id,
            merchant_id=request.merchant_id,
            batch=request.batch,
            pan=request.pan,
            rrn=record.rrn if record is not None else None,
            local_time=hhmmss,
            local_date=record.local_date if record is not None else mmdd,
        )

    # -- settlement -------------------------------------------------------------------------------------

    def settlement(self, request: SettlementRequest) -> SettlementResponse:
        _, hhmmss, mmdd, _ = self._now()
        sales, sales_fen, refunds, refunds_fen = self.store.batch_totals(
            request.terminal_id, request.merchant_id, request.batch
        )
        host = SettlementTotals(sales, sales_fen, refunds, refunds_fen)
        result = SETTLEMENT_BALANCED if host == request.totals else SETTLEMENT_UNBALANCED
        _log.info("0500 batch %06d: %s", request.batch, "balanced" if result == "1" else "not balanced")
        return SettlementResponse(
            response_code="00",
            stan=request.stan,
            terminal_id=request.terminal_id,
            merchant_id=request.merchant_id,
            batch=request.batch,
            totals=host,
            result=result,
            local_time=hhmmss,
            local_date=mmdd,
            settlement_date=mmdd,
        )
