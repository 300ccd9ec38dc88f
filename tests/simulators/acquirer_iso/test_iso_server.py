"""The simulated acquirer + issuer over ISO 8583 on loopback, driven by the terminal's own client:
approvals, PIN and cryptogram checks, declines, MACs, timeouts and the reversals that follow them, refunds,
settlement."""

from __future__ import annotations

import datetime as dt
import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardservice.acquiring import (
    AcquirerTimeout,
    Frame,
    MacError,
    RefundRequest,
    RefundResponse,
    ReversalRequest,
    ReversalResponse,
    SaleResponse,
    SettlementRequest,
    SettlementResponse,
    SettlementTotals,
    decode_frame,
    decode_message,
    encode_frame,
    encode_message,
)
from cardservice.apdu import decode_ber_tlv, find
from cardservice.pboc import card_master_key, script_mac, session_key, verify_arpc
from simulators.acquirer._issuer import ScriptRequest
from simulators.acquirer._store import CHINA_TZ
from simulators.pboc._demo import demo_bank_key
from tests.simulators.acquirer_iso.conftest import MID, TAK, TID, DemoCard, Iso

TODAY = dt.datetime.now(CHINA_TZ).date().isoformat()


def sale_answer(iso: Iso, request: object) -> SaleResponse:
    answer = iso.transact(request)
    assert isinstance(answer, SaleResponse)
    return answer


def test_an_approved_sale_takes_the_money_and_authenticates_the_issuer(iso: Iso, card: DemoCard) -> None:
    answer = sale_answer(iso, card.sale(1234, stan=1))
    assert answer.approved
    assert answer.response_code == "00"
    assert answer.auth_code is not None
    assert len(answer.auth_code) == 6
    assert answer.auth_code.isdigit()
    assert answer.rrn is not None
    assert len(answer.rrn) == 12
    assert iso.balance(card.pan) == 100_000 - 1234
    data = answer.issuer_authentication_data
    assert data is not None
    assert data[8:] == b"00"
    assert verify_arpc(card.last_session, card.last_arqc, data[:8], data[8:])  # the card will accept it
    [record] = iso.store.records(TODAY)
    assert (record.kind, record.status, record.amount_fen, record.rrn) == (
        "sale",
        "approved",
        1234,
        answer.rrn,
    )


def test_no_pin_block_no_pin_check(iso: Iso, card: DemoCard) -> None:
    assert sale_answer(iso, card.sale(100, stan=1, pin=None)).approved


def test_wrong_pins_then_the_count_runs_out(iso: Iso, card: DemoCard) -> None:
    codes = [sale_answer(iso, card.sale(100, stan=n, pin="654321")).response_code for n in (1, 2, 3)]
    assert codes == ["55", "55", "75"]
    assert sale_answer(iso, card.sale(100, stan=4)).response_code == "75"  # even the right PIN now
    iso.issuer.reset_pin_tries(card.pan)
    assert sale_answer(iso, card.sale(100, stan=5)).approved
    assert iso.balance(card.pan) == 100_000 - 100


def test_a_right_pin_clears_the_count(iso: Iso, card: DemoCard) -> None:
    for stan in (1, 2):
        assert sale_answer(iso, card.sale(100, stan=stan, pin="000000")).response_code == "55"
    assert sale_answer(iso, card.sale(100, stan=3)).approved
    assert sale_answer(iso, card.sale(100, stan=4, pin="000000")).response_code == "55"


def test_a_declined_sale_still_answers_the_card(iso: Iso, card: DemoCard) -> None:
    """The ARPC covers ARC "55": the card authenticates the decline and then gives an AAC."""
    answer = sale_answer(iso, card.sale(100, stan=1, pin="111111"))
    data = answer.issuer_authentication_data
    assert data is not None
    assert data[8:] == b"55"
    assert verify_arpc(card.last_session, card.last_arqc, data[:8], b"55")
    assert iso.balance(card.pan) == 100_000


def test_a_wrong_arqc_is_05_without_issuer_data(iso: Iso, card: DemoCard) -> None:
    answer = sale_answer(iso, card.sale(100, stan=1, spoil=True))
    assert answer.response_code == "05"
    assert answer.issuer_authentication_data is None
    assert iso.balance(card.pan) == 100_000


def test_a_card_from_another_issuer_fails_the_arqc(iso: Iso) -> None:
    other = DemoCard(pan="6228480000000025")
    request = other.sale(100, stan=1)
    forged = DemoCard(pan="6228480000000017").sale(100, stan=2)
    mixed = type(request)(**{**request.__dict__, "icc_data": forged.icc_data})
    assert sale_answer(iso, mixed).response_code == "05"


def test_insufficient_funds(iso: Iso, card: DemoCard) -> None:
    iso.store.set_balance(card.pan, 500)
    assert sale_answer(iso, card.sale(501, stan=1)).response_code == "51"
    assert sale_answer(iso, card.sale(500, stan=2)).approved
    assert iso.balance(card.pan) == 0


def test_decline_next_once(iso: Iso, card: DemoCard) -> None:
    iso.server.decline_next("61")
    assert iso.server.controls().decline == "61"
    assert sale_answer(iso, card.sale(100, stan=1)).response_code == "61"
    assert sale_answer(iso, card.sale(100, stan=2)).approved
    assert iso.server.controls().decline is None
    with pytest.raises(ValueError, match="not 00"):
        iso.server.decline_next("00")


def test_a_request_with_a_bad_mac_is_answered_a0_and_changes_nothing(iso: Iso, card: DemoCard) -> None:
    frame = encode_message(card.sale(100, stan=1), mac_key=bytes(16))
    answer = decode_message(iso.link.exchange(frame), mac_key=TAK)  # the host's answer is authentic
    assert isinstance(answer, SaleResponse)
    assert answer.response_code == "A0"
    assert iso.balance(card.pan) == 100_000
    assert iso.store.records(TODAY) == []


def test_a_terminal_with_the_wrong_key_cannot_read_an_approval(iso: Iso, card: DemoCard) -> None:
    with pytest.raises(MacError):
        iso.link.transact(card.sale(100, stan=1), mac_key=bytes(16))


def test_timeout_applied_then_the_reversal_returns_the_money_once(iso: Iso, card: DemoCard) -> None:
    sale = card.sale(2000, stan=1)
    iso.server.timeout_next(applied=True)
    started = time.monotonic()
    with pytest.raises(AcquirerTimeout):
        iso.transact(sale)
    assert time.monotonic() - started >= 1.9  # the client's read timeout, not a dropped line
    assert iso.balance(card.pan) == 100_000 - 2000  # the host did act on it
    reversal = ReversalRequest.for_sale(sale, "98")
    for _ in range(2):  # the terminal may retry: the money comes back once
        answer = iso.transact(reversal)
        assert isinstance(answer, ReversalResponse)
        assert answer.response_code == "00"
        assert answer.final
        assert iso.balance(card.pan) == 100_000
    [record] = iso.store.records(TODAY)
    assert (record.status, record.reversal_reason) == ("reversed", "98")


def test_timeout_not_applied_then_the_reversal_finds_nothing(iso: Iso, card: DemoCard) -> None:
    sale = card.sale(2000, stan=1)
    iso.server.timeout_next(applied=False)
    with pytest.raises(AcquirerTimeout):
        iso.transact(sale)
    assert iso.balance(card.pan) == 100_000
    answer = iso.transact(ReversalRequest.for_sale(sale, "98"))
    assert isinstance(answer, ReversalResponse)
    assert answer.response_code == "25"
    assert answer.final
    # The reversal closed the key: the lost 0200 arriving late takes nothing.
    assert sale_answer(iso, sale).response_code == "12"
    assert iso.balance(card.pan) == 100_000
    assert iso.store.records(TODAY) == []


@pytest.mark.parametrize("applied", [True, False])
def test_a_dropped_line_is_a_timeout_at_once(iso: Iso, card: DemoCard, applied: bool) -> None:
    iso.server.drop_next(applied=applied)
    started = time.monotonic()
    with pytest.raises(AcquirerTimeout):
        iso.transact(card.sale(300, stan=1))
    assert time.monotonic() - started < 1.5
    assert iso.balance(card.pan) == 100_000 - (300 if applied else 0)
    assert sale_answer(iso, card.sale(300, stan=2)).approved  # one-shot


def test_the_same_sale_twice_is_charged_once(iso: Iso, card: DemoCard) -> None:
    sale = card.sale(700, stan=1)
    first, second = sale_answer(iso, sale), sale_answer(iso, sale)
    assert first.approved
    assert second.approved
    assert first.rrn == second.rrn
    assert first.auth_code == second.auth_code
    assert iso.balance(card.pan) == 100_000 - 700
    reused = card.sale(800, stan=1)
    assert sale_answer(iso, reused).response_code == "94"


def test_a_reversal_that_does_not_match_its_original_is_not_final(iso: Iso, card: DemoCard) -> None:
    sale = card.sale(700, stan=1)
    assert sale_answer(iso, sale).approved
    wrong = ReversalRequest(**{**ReversalRequest.for_sale(sale, "98").__dict__, "amount_fen": 1})
    answer = iso.transact(wrong)
    assert isinstance(answer, ReversalResponse)
    assert answer.response_code == "22"
    assert not answer.final
    assert iso.balance(card.pan) == 100_000 - 700


def test_card_declined_after_approval(iso: Iso, card: DemoCard) -> None:
    sale = card.sale(900, stan=1)
    assert sale_answer(iso, sale).approved
    answer = iso.transact(ReversalRequest.for_sale(sale, "06"))
    assert isinstance(answer, ReversalResponse)
    assert answer.final
    assert iso.balance(card.pan) == 100_000


def test_corrupt_next_arpc(iso: Iso, card: DemoCard) -> None:
    iso.server.corrupt_next_arpc()
    answer = sale_answer(iso, card.sale(100, stan=1))
    data = answer.issuer_authentication_data
    assert answer.approved
    assert data is not None
    assert not verify_arpc(card.last_session, card.last_arqc, data[:8], data[8:])
    answer = sale_answer(iso, card.sale(100, stan=2))
    data = answer.issuer_authentication_data
    assert data is not None
    assert verify_arpc(card.last_session, card.last_arqc, data[:8], data[8:])


def test_issuer_scripts_on_the_next_answer(iso: Iso, card: DemoCard) -> None:
    iso.server.script_next(ScriptRequest("put-balance", 0x72, balance_fen=5000))
    iso.server.script_next(ScriptRequest("block", 0x71))
    answer = sale_answer(iso, card.sale(100, stan=1))
    [after] = answer.scripts_after
    [before] = answer.scripts_before
    smi = session_key(card_master_key(demo_bank_key("IMK-SMI"), card.pan, card.psn), card.atc)
    atc = card.atc.to_bytes(2, "big")
    command = find(decode_ber_tlv(after), 0x86)
    assert command is not None
    assert command.value[:5] == bytes.fromhex("04DA9F790A")
    balance, mac = command.value[5:11], command.value[11:]
    assert balance == bytes.fromhex("000000005000")
    assert mac == script_mac(smi, command.value[:5] + atc + card.last_arqc + balance)
    block = find(decode_ber_tlv(before), 0x86)
    assert block is not None
    assert block.value[:5] == bytes.fromhex("841E000004")
    assert block.value[5:] == script_mac(smi, bytes.fromhex("841E000004") + atc + card.last_arqc)
    assert sale_answer(iso, card.sale(100, stan=2)).issuer_scripts == []
    with pytest.raises(ValueError, match="put-balance needs balance_fen"):
        ScriptRequest("put-balance")


def test_refunds(iso: Iso, card: DemoCard) -> None:
    sale = sale_answer(iso, card.sale(1000, stan=1))
    assert sale.rrn is not None
    assert sale.local_date is not None

    def refund(stan: int, amount: int, rrn: str = sale.rrn or "") -> RefundResponse:
        request = RefundRequest(
            pan=card.pan,
            amount_fen=amount,
            stan=stan,
            terminal_id=TID,
            merchant_id=MID,
            batch=1,
            original_rrn=rrn,
            original_batch=1,
            original_stan=1,
            original_date=sale.local_date or "",
        )
        answer = iso.transact(request)
        assert isinstance(answer, RefundResponse)
        return answer

    first = refund(2, 600)
    assert first.approved
    assert first.rrn != sale.rrn
    assert iso.balance(card.pan) == 100_000 - 400
    assert refund(2, 600) == first
    assert iso.balance(card.pan) == 100_000 - 400
    assert refund(3, 500).response_code == "64"  # more than is left of the sale
    assert refund(4, 400).approved
    assert iso.balance(card.pan) == 100_000
    assert refund(5, 1, rrn="999999999999").response_code == "25"
    assert [r.kind for r in iso.store.records(TODAY) if r.status == "approved"] == [
        "sale",
        "refund",
        "refund",
    ]


def test_settlement(iso: Iso, card: DemoCard) -> None:
    sales = [sale_answer(iso, card.sale(amount, stan=n)) for n, amount in ((1, 100), (2, 250), (3, 50))]
    assert all(s.approved for s in sales)
    lost = card.sale(999, stan=4)
    iso.server.timeout_next(applied=True)
    with pytest.raises(AcquirerTimeout):
        iso.transact(lost)
    iso.transact(ReversalRequest.for_sale(lost, "98"))

    def settle(totals: SettlementTotals) -> SettlementResponse:
        answer = iso.transact(
            SettlementRequest(stan=9, terminal_id=TID, merchant_id=MID, batch=1, totals=totals)
        )
        assert isinstance(answer, SettlementResponse)
        assert answer.response_code == "00"
        return answer

    balanced = settle(SettlementTotals(3, 400, 0, 0))
    assert balanced.balanced
    assert balanced.totals == SettlementTotals(3, 400, 0, 0)
    unbalanced = settle(SettlementTotals(4, 1399, 0, 0))
    assert not unbalanced.balanced
    assert unbalanced.result == "2"
    assert unbalanced.totals.debit_count == 3


def test_the_books_survive_a_restart(iso: Iso, card: DemoCard) -> None:
    sale = card.sale(1500, stan=1)
    assert sale_answer(iso, sale).approved
    iso.server.stop()
    iso.store.close()
    from simulators.acquirer._iso_server import IsoAcquirerServer
    from simulators.acquirer._iso_store import IsoStore
    from simulators.acquirer._issuer import Issuer

    store = IsoStore(iso.path)
    try:
        assert store.account(card.pan).balance_fen == 100_000 - 1500
        with IsoAcquirerServer(Issuer(store)) as server:
            iso.link.port = server.address[1]
            for _ in range(2):
                answer = iso.link.transact(ReversalRequest.for_sale(sale, "98"), mac_key=TAK)
                assert isinstance(answer, ReversalResponse)
                assert answer.response_code == "00"
            assert store.account(card.pan).balance_fen == 100_000
            assert [r.status for r in store.records(TODAY)] == ["reversed"]
    finally:
        store.close()
    iso.store = IsoStore(iso.path)  # the fixture closes one


def test_an_unsupported_message_is_answered_40(iso: Iso) -> None:
    request = encode_frame(Frame("0800", {11: "000001", 41: TID, 42: MID}), mac_key=TAK)
    answer = decode_frame(iso.link.exchange(request), mac_key=TAK)
    assert (answer.mti, answer.text(39), answer.text(11)) == ("0810", "40", "000001")


def test_a_malformed_request_is_answered_30(iso: Iso, card: DemoCard) -> None:
    frame = decode_frame(encode_message(card.sale(100, stan=1), mac_key=TAK))
    without_pan = Frame("0200", {n: v for n, v in frame.fields.items() if n not in (2, 64)})
    answer = decode_frame(iso.link.exchange(encode_frame(without_pan, mac_key=TAK)), mac_key=TAK)
    assert (answer.mti, answer.text(39)) == ("0210", "30")


def test_an_undecodable_frame_closes_the_line(iso: Iso) -> None:
    with pytest.raises(AcquirerTimeout):
        iso.link.exchange(b"\x00\x03abc")
    with socket.create_connection(iso.server.address, timeout=2) as sock:  # still serving
        sock.sendall(b"\x00\x00")
        assert sock.recv(10) == b""


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(icc=st.binary(max_size=255), field=st.sampled_from([3, 4, 11, 22, 49, 60]))
def test_whatever_a_terminal_sends_is_answered_or_closed(
    iso: Iso, card: DemoCard, icc: bytes, field: int
) -> None:
    """Field 55 of any shape and mangled values never take money or break the server's thread."""
    frame = decode_frame(encode_message(card.sale(100, stan=1), mac_key=TAK))
    mangled = {**frame.fields, 55: icc, field: "9" * len(str(frame.fields[field]))}
    reply = iso.server.handle_frame(encode_frame(Frame("0200", mangled), mac_key=TAK))
    assert reply.action in ("answer", "close")
    if reply.frame is not None:
        answer = decode_frame(reply.frame, mac_key=TAK)
        assert answer.text(39) != "00"
    assert iso.balance(card.pan) == 100_000
