"""The terminal kernel (cardservice.pboc.sale) against the virtual health card's bank application, in process.

The card is card-sim's (the same CardOS that serves pcscd); the "issuer" is computed here from the DEMO issuer
master key with the project's crypto, which the known-answer tests pin down. Each outcome the payment method
acts on is driven: approved (TC), declined online (AAC), bad ARPC (card declines → reversal), no answer
(reversal), acquirer unreachable, PIN cancelled, the card's AAC at the second GENERATE AC, issuer scripts.
"""

from __future__ import annotations

import datetime as _dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from cardservice.apdu import CommandApdu, encode_ber_tlv, run_flow, transceive
from cardservice.pboc import (
    OnlineAnswer,
    OnlineRequest,
    OnlineResult,
    PinAnswer,
    PinRequest,
    SaleOutcome,
    SaleResult,
    TerminalConfig,
    Tvr,
    application_cryptogram,
    arpc_method_1,
    card_master_key,
    cryptogram_input,
    load_ca_keys,
    sale,
    script_mac,
    session_key,
)
from simulators.cardos import CardOS, load_card
from simulators.health import create_health_card
from simulators.pboc import demo_bank_key
from simulators.pboc._session import set_fault

NOW = _dt.datetime(2026, 12, 6, 10, 15, 0)
CONFIG = TerminalConfig(ca_keys=load_ca_keys())
PIN_BLOCK = bytes.fromhex("1122334455667788")  # opaque to the kernel: it only passes it on
ENTERED = PinAnswer("entered", PIN_BLOCK)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kernel") / "card.json"
    create_health_card(path)
    return path


@pytest.fixture
def card(image: Path, tmp_path: Path) -> CardOS:
    path = tmp_path / "card.json"
    shutil.copy(image, path)
    loaded = load_card(path)
    loaded.power_on()
    return loaded


def _session(request: OnlineRequest) -> tuple[bytes, bytes]:
    """The issuer's side: the card's session key and the ARQC it must have made."""
    mk = card_master_key(demo_bank_key("IMK-AC"), request.pan, request.psn or "00")
    data = request.icc_data
    sk = session_key(mk, data[0x9F36])
    arqc = application_cryptogram(
        sk, cryptogram_input(dict(data), data[0x82], data[0x9F36], data[0x9F10][3:7])
    )
    return sk, arqc


def issuer(
    code: str = "00", *, corrupt_arpc: bool = False, scripts_after: tuple[bytes, ...] = ()
) -> Callable[[OnlineRequest], OnlineAnswer]:
    def answer(request: OnlineRequest) -> OnlineAnswer:
        sk, arqc = _session(request)
        assert arqc == request.icc_data[0x9F26], "the card's ARQC must verify at the issuer"
        arc = code.encode("ascii")
        arpc = arpc_method_1(sk, arqc, arc)
        if corrupt_arpc:
            arpc = bytes([arpc[0] ^ 1]) + arpc[1:]
        result = OnlineResult.APPROVED if code == "00" else OnlineResult.DECLINED
        return OnlineAnswer(result, arc=arc, issuer_authentication=arpc + arc, response_code=code,
                            scripts_after=scripts_after)  # fmt: skip

    return answer


class Drive:
    def __init__(self) -> None:
        self.commands: list[CommandApdu] = []
        self.online: list[OnlineRequest] = []
        self.pins: list[PinRequest] = []


def drive(
    card: CardOS,
    online: Callable[[OnlineRequest], OnlineAnswer],
    *,
    pin: PinAnswer = ENTERED,
    amount_fen: int = 2500,
    config: TerminalConfig = CONFIG,
) -> tuple[SaleOutcome, Drive]:
    seen = Drive()

    def exchange(request: object) -> object:
        if isinstance(request, CommandApdu):
            seen.commands.append(request)
            return transceive(lambda raw: card.process(raw), request)
        if isinstance(request, PinRequest):
            seen.pins.append(request)
            return pin
        assert isinstance(request, OnlineRequest)
        seen.online.append(request)
        return online(request)

    flow = sale(
        config, amount_fen, now=lambda: NOW, unpredictable=lambda: bytes.fromhex("1E78EEBC"), sequence=42
    )
    return run_flow(flow, exchange), seen


def test_an_approved_sale_ends_in_a_tc_with_dda_passed(card: CardOS) -> None:
    outcome, seen = drive(card, issuer("00"))
    assert outcome.result is SaleResult.APPROVED
    assert outcome.cid is not None
    assert outcome.cid & 0xC0 == 0x40
    assert outcome.masked_pan == "622848******9996"
    tvr = outcome.tvr
    assert not tvr[0] & (0x80 | 0x08 | 0x40)  # ODA performed, DDA and SDA not failed
    assert tvr[2] & 0x04  # online PIN entered
    assert outcome.tsi[0] & 0x80  # ODA performed
    assert outcome.tsi[0] & 0x10  # issuer authentication performed
    (request,) = seen.online
    assert request.pin_block == PIN_BLOCK
    assert request.amount_fen == 2500
    assert request.icc_data[0x9F02] == bytes.fromhex("000000002500")
    assert request.icc_data[0x9F41] == bytes.fromhex("00000042")
    assert [c.ins for c in seen.commands].count(0x82) == 1  # EXTERNAL AUTHENTICATE with the ARPC
    assert seen.pins == [PinRequest("6228489999999996")]


def test_a_sale_reads_only_what_the_afl_names(card: CardOS) -> None:
    outcome, seen = drive(card, issuer("00"))
    reads = [c for c in seen.commands if c.ins == 0xB2]
    # PSE directory (1 record + its end) and the AFL's five records; nothing with GET DATA.
    assert len(reads) == 2 + 5
    assert not [c for c in seen.commands if c.ins == 0xCA]
    assert outcome.result is SaleResult.APPROVED


def test_declined_online_is_declined_by_the_issuer_and_the_card_gives_an_aac(card: CardOS) -> None:
    outcome, _ = drive(card, issuer("51"))
    assert outcome.result is SaleResult.DECLINED_BY_ISSUER
    assert outcome.cid is not None
    assert outcome.cid & 0xC0 == 0x00


def test_a_wrong_arpc_makes_the_card_decline_an_approval_so_it_must_be_reversed(card: CardOS) -> None:
    outcome, _ = drive(card, issuer("00", corrupt_arpc=True))
    assert outcome.result is SaleResult.REVERSAL_NEEDED
    assert Tvr.ISSUER_AUTHENTICATION_FAILED.name in _tvr_names(outcome)
    assert "issuer authentication failed" in outcome.reason


def test_an_aac_at_the_second_generate_ac_after_approval_needs_a_reversal(card: CardOS) -> None:
    set_fault(card, "aac-at-second")
    outcome, _ = drive(card, issuer("00"))
    assert outcome.result is SaleResult.REVERSAL_NEEDED
    assert outcome.reason == "approved online, but the card declined"


def test_no_answer_from_the_acquirer_needs_a_reversal(card: CardOS) -> None:
    outcome, _ = drive(card, lambda request: OnlineAnswer(OnlineResult.NO_ANSWER))
    assert outcome.result is SaleResult.REVERSAL_NEEDED
    assert outcome.cid is not None
    assert outcome.cid & 0xC0 == 0x00


def test_an_unreachable_acquirer_is_not_sent_and_the_tvr_says_so(card: CardOS) -> None:
    outcome, _ = drive(card, lambda request: OnlineAnswer(OnlineResult.NOT_SENT))
    assert outcome.result is SaleResult.NOT_SENT
    assert Tvr.UNABLE_TO_GO_ONLINE.name in _tvr_names(outcome)


@pytest.mark.parametrize("status", ["cancelled", "timeout"])
def test_a_pin_entry_cancelled_or_timed_out_sends_nothing(card: CardOS, status: str) -> None:
    outcome, seen = drive(card, issuer("00"), pin=PinAnswer(status))
    assert outcome.result is SaleResult.CANCELLED
    assert seen.online == []
    assert not [c for c in seen.commands if c.ins == 0xAE]  # no GENERATE AC at all


def test_a_pin_pad_out_of_order_fails_cardholder_verification_but_the_issuer_decides(card: CardOS) -> None:
    outcome, seen = drive(card, issuer("00"), pin=PinAnswer("unavailable"))
    assert Tvr.PIN_PAD_NOT_WORKING.name in _tvr_names(outcome)
    assert seen.online[0].pin_block is None


def test_without_the_ca_key_oda_fails_in_the_tvr_and_the_sale_still_goes_online(card: CardOS) -> None:
    outcome, seen = drive(card, issuer("00"), config=TerminalConfig(ca_keys={}))
    assert Tvr.DDA_FAILED.name in _tvr_names(outcome)
    assert len(seen.online) == 1
    assert seen.online[0].icc_data[0x95][0] & 0x08


def test_an_issuer_script_after_the_tc_blocks_the_application(card: CardOS) -> None:
    def block_script(request: OnlineRequest) -> bytes:
        mk = card_master_key(demo_bank_key("IMK-SMI"), request.pan, request.psn or "00")
        sk = session_key(mk, request.icc_data[0x9F36])
        header = bytes.fromhex("841E000004")
        mac = script_mac(sk, header + request.icc_data[0x9F36] + request.icc_data[0x9F26])
        return encode_ber_tlv(0x72, encode_ber_tlv(0x9F18, b"\0\0\0\1") + encode_ber_tlv(0x86, header + mac))

    def online(request: OnlineRequest) -> OnlineAnswer:
        answer = issuer("00")(request)
        return OnlineAnswer(answer.result, arc=answer.arc, issuer_authentication=answer.issuer_authentication,
                            response_code="00", scripts_after=(block_script(request),))  # fmt: skip

    outcome, _ = drive(card, online)
    assert outcome.result is SaleResult.APPROVED
    assert outcome.script_results == (bytes.fromhex("2000000001"),)
    assert outcome.tsi[0] & 0x04  # script processing performed
    card.power_on()
    again, _ = drive(card, issuer("00"))
    assert again.result is SaleResult.DECLINED_BY_CARD
    assert again.reason == "no payment application on the card"


def test_a_bad_amount_is_refused_before_the_card_is_touched() -> None:
    with pytest.raises(ValueError, match="amount_fen"):
        next(sale(CONFIG, 0))


def _tvr_names(outcome: SaleOutcome) -> list[str]:
    names = []
    for bit in Tvr:
        index, mask = bit.value
        if outcome.tvr[index] & mask:
            names.append(bit.name)
    return names
