"""Anti-tearing: a command torn at ANY NVM programming boundary leaves its file wholly old or
wholly new after power-on — and wholly new exactly when the tear came after the commit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cardservice.transport import PowerLost
from simulators.cardos import PAGE_SIZE, CardImage, CardOS, load_card
from tests.conftest import unhex
from tests.simulators.cardos.conftest import (
    RK,
    TERMINAL_DATA,
    UK,
    build_image,
    challenge,
    ext_auth_health,
    health_cryptogram,
    send,
    sm_command,
)

DF = (0x3F00, 0xDF01)
Prepare = Callable[[CardOS], bytes]
Observe = Callable[[CardOS], object]


def _fresh(path: Path) -> CardOS:
    build_image().save(path)
    card = load_card(path)
    card.power_on()
    return card


def _enter_with_uk(card: CardOS) -> None:
    assert send(card, "00 A4 00 0C 02 DF 01")[1] == 0x9000
    assert ext_auth_health(card, 0x85, UK) == 0x9000


def _tear_everywhere(tmp_path: Path, prepare: Prepare, observe: Observe, expected_sw: int) -> int:
    reference = _fresh(tmp_path / "reference.json")
    apdu = prepare(reference)
    old = observe(reference)
    assert send(reference, apdu)[1] == expected_sw
    writes = reference.faults.last_command_nvm_writes
    new = observe(reference)
    assert new != old
    assert writes >= 4  # backup, flag, at least one page, clear
    for k in range(writes + 2):
        path = tmp_path / f"torn-{k}.json"
        card = _fresh(path)
        apdu = prepare(card)
        card.faults.tear(after_nvm_writes=k)
        with pytest.raises(PowerLost):
            card.process(apdu)
        assert card.faults.last_command_nvm_writes == min(k, writes)
        if k == 0 or k >= writes:  # nothing started, or the commit completed
            assert not CardImage.load(path).nvm.pending
        again = load_card(path)
        again.power_on()
        assert again.image.nvm.pending is False
        assert observe(again) == (new if k >= writes else old), f"tear after {k} of {writes} writes"
    return writes


def _records(path_fid: int) -> Observe:
    def observe(card: CardOS) -> object:
        path = (*DF, path_fid)
        header = card.image.fs.header(path)
        assert header is not None
        return card.image.fs.records(path, header)

    return observe


def _binary(card: CardOS) -> object:
    return card.image.nvm.get("3F00/DF01/0001#d")


def test_tear_record_update_under_sm(tmp_path: Path) -> None:
    def prepare(card: CardOS) -> bytes:
        _enter_with_uk(card)
        return sm_command(card, 0x04, 0xDC, 0x02, 0x14, unhex("02 04 56 39 2E 39"), encrypt=True)

    # Every boundary of the commit is tried (the helper asserts old-or-new at each one).
    assert _tear_everywhere(tmp_path, prepare, _records(0x0002), 0x9000) >= 4


def test_tear_binary_update_spanning_pages(tmp_path: Path) -> None:
    data = bytes(range(0x40, 0x40 + 40))

    def prepare(card: CardOS) -> bytes:
        _enter_with_uk(card)
        return unhex("00 D6 81 0A 28") + data

    writes = _tear_everywhere(tmp_path, prepare, _binary, 0x9000)
    # 1 backup + flag + 2 pages (bytes 10..49 span two 32-byte pages) + clear
    assert PAGE_SIZE == 32
    assert writes == 5


def test_tear_cyclic_append(tmp_path: Path) -> None:
    def prepare(card: CardOS) -> bytes:
        _enter_with_uk(card)
        for n in (1, 2, 3):  # full: the next append overwrites the oldest
            assert send(card, f"00 E2 00 18 04 00 00 00 {n:02X}")[1] == 0x9000
        return unhex("00 E2 00 18 04 AA BB CC DD")

    writes = _tear_everywhere(tmp_path, prepare, _records(0x0003), 0x9000)
    assert writes == 6  # 2 backups (slot, state) + flag + 2 pages + clear


def test_tear_key_counter_decrement(tmp_path: Path) -> None:
    def prepare(card: CardOS) -> bytes:
        send(card, "00 A4 00 0C 02 DF 01")
        r = challenge(card)
        wrong = bytes([health_cryptogram(RK, r)[0] ^ 0xFF]) + health_cryptogram(RK, r)[1:]
        return unhex("00 82 00 84 11") + wrong + TERMINAL_DATA + b"\x01"

    def observe(card: CardOS) -> object:
        return card.image.fs.tries_left(DF, 0x84)

    assert _tear_everywhere(tmp_path, prepare, observe, 0x63CE) == 4


def test_flag_window_and_partial_programming_are_rolled_back(tmp_path: Path) -> None:
    """Tear after backup + flag + first page: the file on disk is half new, the flag is set, and
    power-on restores the old bytes."""
    path = tmp_path / "card.json"
    card = _fresh(path)
    _enter_with_uk(card)
    old = _binary(card)
    card.faults.tear(after_nvm_writes=3)
    with pytest.raises(PowerLost):
        card.process(unhex("00 D6 81 0A 28") + b"\x55" * 40)
    torn = CardImage.load(path)
    assert torn.nvm.pending
    half = torn.nvm.get("3F00/DF01/0001#d")
    assert half is not None
    assert half != old
    assert half[10:32] == b"\x55" * 22
    assert half[32:50] != b"\x55" * 18
    again = load_card(path)
    assert "torn write pending rollback" in again.describe()
    again.power_on()
    assert _binary(again) == old


def test_power_lost_after_all_writes_and_after_commands(tmp_path: Path) -> None:
    card = _fresh(tmp_path / "card.json")
    card.faults.tear(after_commands=1, after_nvm_writes=0)
    assert send(card, "00 A4 00 0C 02 DF 01")[1] == 0x9000  # the first command is untouched
    with pytest.raises(PowerLost):
        card.process(unhex("00 84 00 00 08"))  # no writes: power goes before the response
    assert card.faults.last_command_nvm_writes == 0
    assert not card.powered
    card.faults.tear()
    card.faults.clear()
    assert not card.faults.armed
    assert send(card, "00 84 00 00 08")[1] == 0x9000  # implicit power-on
    with pytest.raises(ValueError, match="negative"):
        card.faults.tear(after_nvm_writes=-1)
