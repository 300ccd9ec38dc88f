"""The bank application's state in the card image: restarts keep it, a tear rolls it back wholly; other
ways to build the application (SM4 keys, no ODA, none at all); ``card-sim new/info``; the ``pboc`` fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardservice.pboc import AcScheme
from cardservice.transport import InProcessTransport, PowerLost
from simulators.cardos import CardImage, CardOS, DfSpec, load_card
from simulators.cli import main
from simulators.control import handle_request
from simulators.health import create_health_card
from simulators.pboc import fault, payment_dfs, set_fault
from simulators.vpcd import VpcdBridge
from tests.conftest import unhex
from tests.simulators.pboc.conftest import (
    AID,
    CDOL1_VALUES,
    PDOL_DATA,
    arpc,
    cdol1_data,
    cdol2_data,
    expected_cryptogram,
    external_authenticate,
    generate_ac,
    get_data,
    gpo,
    script,
    select_application,
    send,
    start,
)


def test_the_atc_survives_a_restart(card: CardOS, card_path: Path) -> None:
    for _ in range(2):
        assert select_application(card) == 0x9000
        assert gpo(card)[1] == 0x9000
    restarted = load_card(card_path)
    restarted.power_on()
    assert select_application(restarted) == 0x9000
    assert get_data(restarted, 0x9F36) == unhex("0002")
    assert gpo(restarted)[1] == 0x9000
    assert get_data(restarted, 0x9F36) == unhex("0003")


def test_counters_and_balance_survive_a_restart(card: CardOS, card_path: Path) -> None:
    first = start(card)
    assert send(card, script("04 DA 9F 79", unhex("000000005000"), 1, first.ac))[1] == 0x9000
    assert external_authenticate(card, arpc(first.ac, 1)) == 0x9000
    assert generate_ac(card, 0x40, cdol2_data())[1] == 0x9000
    restarted = load_card(card_path)
    assert select_application(restarted) == 0x9000
    assert get_data(restarted, 0x9F79) == unhex("000000005000")
    assert get_data(restarted, 0x9F13) == unhex("0001")
    assert get_data(restarted, 0x9F17) == unhex("03")


def test_a_torn_gpo_is_wholly_old_or_wholly_new(card: CardOS, card_path: Path) -> None:
    """Cut the power after each NVM operation of a GPO: after a restart the ATC is 0 or 1, and 1 only
    once the commit finished (card OS anti-tearing, simulators/README.md)."""
    assert select_application(card) == 0x9000
    assert gpo(card)[1] == 0x9000
    writes = card.faults.last_command_nvm_writes
    assert writes >= 3
    for budget in range(writes + 2):
        torn = load_card(card_path)
        assert select_application(torn) == 0x9000
        atc = int.from_bytes(get_data(torn, 0x9F36), "big")
        torn.faults.tear(after_commands=0, after_nvm_writes=budget)
        with pytest.raises(PowerLost):
            gpo(torn)
        restarted = load_card(card_path)
        restarted.power_on()
        assert select_application(restarted) == 0x9000
        after = int.from_bytes(get_data(restarted, 0x9F36), "big")
        assert after == (atc + 1 if budget >= writes else atc), budget


def test_a_torn_first_generate_ac_leaves_a_usable_card(card: CardOS, card_path: Path) -> None:
    assert select_application(card) == 0x9000
    assert gpo(card)[1] == 0x9000
    card.faults.tear(after_commands=0, after_nvm_writes=2)
    with pytest.raises(PowerLost):
        generate_ac(card, 0x80, cdol1_data())
    restarted = load_card(card_path)
    first = start(restarted)
    assert first.atc == 2
    assert first.cvr == unhex("03A01000")  # the torn ARQC's "online pending" flag was rolled back


def test_in_process_transport(card_path: Path) -> None:
    transport = InProcessTransport(load_card(card_path))
    transport.connect()
    assert transport.transmit(unhex("00 A4 04 00 08") + AID + b"\x00")[-2:] == unhex("9000")
    answer = transport.transmit(unhex("80 A8 00 00 0D 83 0B") + PDOL_DATA + b"\x00")
    assert answer == unhex("80 0E 7C00 08010201 10010200 18010100 9000")


def _card_with(tmp_path: Path, *dfs: DfSpec) -> CardOS:
    image = CardImage.build(DfSpec(0x3F00, children=dfs), serial=bytes(8), profile="health")
    image.save(tmp_path / "built.json")
    return load_card(tmp_path / "built.json")


def test_sm4_card(tmp_path: Path) -> None:
    card = _card_with(tmp_path, *payment_dfs(scheme=AcScheme.PBOC_SM4, with_oda=False))
    assert select_application(card) == 0x9000
    assert gpo(card)[1] == 0x9000
    first, _ = generate_ac(card, 0x80, cdol1_data())
    assert first is not None
    assert first.iad[-1] == 0x04  # algorithm SM4
    assert first.ac == expected_cryptogram(CDOL1_VALUES, 1, first.cvr, AcScheme.PBOC_SM4, unhex("1C00"))
    assert external_authenticate(card, arpc(first.ac, 1)) == 0x6300  # a 3DES ARPC
    assert select_application(card) == 0x9000
    assert gpo(card)[1] == 0x9000
    first, _ = generate_ac(card, 0x80, cdol1_data())
    assert first is not None
    assert external_authenticate(card, arpc(first.ac, 2, scheme=AcScheme.PBOC_SM4)) == 0x9000
    second, _ = generate_ac(card, 0x40, cdol2_data())
    assert second is not None
    assert second.cid == 0x40


def test_card_without_oda(tmp_path: Path) -> None:
    card = _card_with(tmp_path, *payment_dfs(with_oda=False))
    assert select_application(card) == 0x9000
    assert gpo(card) == (unhex("80 0A 1C00 08010200 18010100"), 0x9000)
    assert send(card, "00 B2 01 14 00")[1] == 0x6A82  # no SFI 2
    assert send(card, "00 88 00 00 04 01020304 00")[1] == 0x6985  # no ICC key: no DDA


def test_health_card_without_bank_application(tmp_path: Path) -> None:
    create_health_card(tmp_path / "plain.json", serial=bytes(8), bank=False)
    card = load_card(tmp_path / "plain.json")
    data, sw = send(card, "00 A4 04 00 0E" + b"1PAY.SYS.DDF01".hex() + "00")
    assert (data, sw) == (unhex("6F 12 84 0E") + b"1PAY.SYS.DDF01" + unhex("A5 00"), 0x9000)
    assert select_application(card) == 0x6A82
    assert gpo(card)[1] == 0x6D00
    with pytest.raises(ValueError, match="bank"):
        create_health_card(tmp_path / "bad.json", bank="yes")  # type: ignore[arg-type]


def test_card_sim_new_and_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "card.json"
    assert main(["new", str(image), "--profile", "health", "--serial", "C51D000000004201"]) == 0
    assert main(["info", str(image)]) == 0
    out = capsys.readouterr().out
    assert "AD01 DF name A000000333010101" in out
    assert "key 81: internal_auth TDES" in out
    assert "1PAY.SYS.DDF01" in out
    card = load_card(image)
    assert select_application(card) == 0x9000


def test_fault_aac_at_second(card: CardOS) -> None:
    bridge = VpcdBridge(card, "127.0.0.1", 1, name="card")
    try:
        reply = handle_request({"card": bridge}, {"cmd": "pboc", "fault": "aac-at-second"})
        assert reply["ok"] is True
        assert fault(card) == "aac-at-second"
        for expected in (0x00, 0x40):  # the fault is used up by one second GENERATE AC
            first = start(card)
            assert external_authenticate(card, arpc(first.ac, first.atc)) == 0x9000
            second, _ = generate_ac(card, 0x40, cdol2_data())
            assert second is not None
            assert second.cid == expected
        assert fault(card) == "none"
        assert handle_request({"card": bridge}, {"cmd": "pboc", "fault": "aac-at-second"})["ok"] is True
        assert handle_request({"card": bridge}, {"cmd": "pboc", "fault": "none"})["ok"] is True
        assert fault(card) == "none"
        assert handle_request({"card": bridge}, {"cmd": "pboc", "fault": "boom"})["ok"] is False
        assert handle_request({"card": bridge}, {"cmd": "pboc"})["ok"] is False
    finally:
        bridge.stop()
    empty = VpcdBridge(None, "127.0.0.1", 1, name="card")
    try:
        assert handle_request({"card": empty}, {"cmd": "pboc", "fault": "none"})["ok"] is False
    finally:
        empty.stop()
    with pytest.raises(ValueError, match="unknown pboc fault"):
        set_fault(card, "boom")
