"""The serial driver against the simulator over a real pty: an entry whose block decrypts (with the demo
TPK) to the PIN typed, events that count, backspace and clear, cancel, the pad's timeout, the host's abort,
key loading with its check value; a line that garbles, NAKs or falls silent; a pad unplugged; and logs at
DEBUG that hold no PIN, block or key."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cardservice.keys import BlockCipher, decrypt_ecb, encrypt_ecb
from cardservice.pboc import pin_from_block_format_0
from cardservice.pinpad import (
    START_ENTRY,
    EntryRequest,
    EntryStatus,
    Frame,
    KeyChange,
    KeyEvent,
    PinEntry,
    PinPadBadFrame,
    PinPadDeviceError,
    PinPadKeyError,
    PinPadNoAnswer,
    PinPadNotConnected,
    key_check_value,
)
from drivers.pinpad import SerialPinPad
from simulators.pboc import DEMO_PIN, demo_bank_key
from simulators.pinpad import DEMO_MASTER_KEY, PtyPinPad, VirtualPinPad, demo_key_cryptogram

PAN = "6228480000001234567"
TPK = demo_bank_key("TPK")


class Sim:
    def __init__(self, pad: VirtualPinPad, pty: PtyPinPad, link: Path) -> None:
        self.pad, self.pty, self.link = pad, pty, link


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    pad = VirtualPinPad()
    link = tmp_path / "pinpad"
    with PtyPinPad(pad, link=link) as pty:
        yield Sim(pad, pty, link)


@pytest.fixture
def driver(sim: Sim) -> Iterator[SerialPinPad]:
    pad = SerialPinPad(str(sim.link), timeout=1)
    yield pad
    pad.close()


def patient(pad: VirtualPinPad, *actions: Callable[[], object]) -> threading.Thread:
    """A patient at the pad: waits for the prompt, then acts."""

    def run() -> None:
        assert pad.wait_for_entry(5)
        for action in actions:
            action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def pin_of(entry: PinEntry, key: bytes = TPK, pan: str = PAN) -> str:
    assert entry.status is EntryStatus.ENTERED
    assert entry.pin_block is not None
    assert len(entry.pin_block) == 8
    return pin_from_block_format_0(decrypt_ecb(BlockCipher.TDES, key, entry.pin_block), pan)


def test_status_and_version(driver: SerialPinPad) -> None:
    status = driver.status()
    assert (status.entering, status.keys, status.master_key) == (False, frozenset({0}), True)
    info = driver.version()
    assert (info.model, info.firmware, info.serial) == ("CS-EPP-SIM", "1.0", "SIM00000001")


def test_an_entry_gives_the_block_of_the_pin_typed(sim: Sim, driver: SerialPinPad) -> None:
    events: list[KeyEvent] = []
    typing = patient(sim.pad, lambda: sim.pad.type(DEMO_PIN), sim.pad.enter)
    entry = driver.read_pin(PAN, on_event=events.append)
    typing.join(5)
    assert pin_of(entry) == DEMO_PIN
    assert entry.digits == 6
    assert events == [KeyEvent(KeyChange.ADDED, n) for n in range(1, 7)]  # counts, never a digit
    assert not driver.status().entering
    time.sleep(0.1)
    assert sim.pad.status()["unacknowledged"] == 0  # the driver ACKs each frame at once, even when idle


def test_backspace_and_clear(sim: Sim, driver: SerialPinPad) -> None:
    events: list[KeyEvent] = []
    sim.pad.will_press("129", "backspace", "3", "clear", "2580", "enter")
    entry = driver.read_pin(PAN, min_len=4, max_len=12, on_event=events.append)
    assert pin_of(entry) == "2580"
    assert [(event.change.value, event.digits) for event in events] == [
        ("added", 1), ("added", 2), ("added", 3), ("removed", 2), ("added", 3), ("cleared", 0),
        ("added", 1), ("added", 2), ("added", 3), ("added", 4),
    ]  # fmt: skip


def test_cancel(sim: Sim, driver: SerialPinPad) -> None:
    sim.pad.will_press("12", "cancel")
    assert driver.read_pin(PAN) == PinEntry(EntryStatus.CANCELLED, None, 2)


def test_the_pads_timeout_runs_from_the_last_key(sim: Sim, driver: SerialPinPad) -> None:
    sim.pad.will_press("1")
    started = time.monotonic()
    assert driver.read_pin(PAN, timeout=1) == PinEntry(EntryStatus.TIMEOUT, None, 1)
    assert 0.9 < time.monotonic() - started < 3


def test_let_it_time_out_from_outside(sim: Sim, driver: SerialPinPad) -> None:
    patient(sim.pad, lambda: sim.pad.type("12"), sim.pad.expire)
    assert driver.read_pin(PAN) == PinEntry(EntryStatus.TIMEOUT, None, 2)


def test_abort_from_another_thread(sim: Sim, driver: SerialPinPad) -> None:
    events: list[KeyEvent] = []
    patient(sim.pad, lambda: sim.pad.type("12"), lambda: time.sleep(0.3), driver.abort)
    started = time.monotonic()
    entry = driver.read_pin(PAN, on_event=events.append)
    assert entry == PinEntry(EntryStatus.ABORTED, None, 2)
    assert time.monotonic() - started < 3
    assert [event.digits for event in events] == [1, 2]
    assert not sim.pad.status()["entering"]
    driver.abort()  # nothing runs: harmless
    sim.pad.will_press("4321", "enter")
    assert pin_of(driver.read_pin(PAN)) == "4321"  # the spent abort does not stop the next entry


def test_a_listener_that_fails_does_not_end_the_entry(sim: Sim, driver: SerialPinPad) -> None:
    def broken(event: KeyEvent) -> None:
        raise RuntimeError("kiosk gone")

    sim.pad.will_press("1234", "enter")
    assert pin_of(driver.read_pin(PAN, on_event=broken)) == "1234"


def test_an_entry_left_running_by_a_dead_host_is_aborted_at_open(sim: Sim) -> None:
    sim.pad.feed(Frame(0x33, START_ENTRY, EntryRequest(PAN).encode()).encode())
    assert sim.pad.status()["entering"]
    driver = SerialPinPad(str(sim.link), timeout=1)
    try:
        assert driver.status().entering is False
    finally:
        driver.close()


def test_load_a_working_key_and_use_it(sim: Sim, driver: SerialPinPad) -> None:
    assert driver.load_working_key(
        demo_key_cryptogram(), check_value=key_check_value(TPK)
    ) == key_check_value(TPK)
    new_key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    cryptogram = encrypt_ecb(BlockCipher.TDES, DEMO_MASTER_KEY, new_key)
    assert driver.load_working_key(cryptogram, slot=1) == bytes.fromhex("08D7B4")
    assert driver.status().keys == frozenset({0, 1})
    sim.pad.will_press("2468", "enter")
    assert pin_of(driver.read_pin(PAN, slot=1), key=new_key) == "2468"
    other_master = encrypt_ecb(BlockCipher.TDES, bytes(range(16)), new_key)
    with pytest.raises(PinPadKeyError, match="not the one expected") as raised:
        driver.load_working_key(other_master, check_value=bytes.fromhex("08D7B4"), slot=2)
    assert raised.value.code == "pinpad_key_error"


def test_key_errors(tmp_path: Path) -> None:
    pad = VirtualPinPad(master_key=None, demo_key=False)
    with PtyPinPad(pad, link=tmp_path / "pinpad"):
        driver = SerialPinPad(str(tmp_path / "pinpad"), timeout=1)
        try:
            assert driver.status().keys == frozenset()
            with pytest.raises(PinPadKeyError, match="start entry: status 04 no working key"):
                driver.read_pin(PAN)
            with pytest.raises(PinPadKeyError, match="load key: status 05"):
                driver.load_working_key(demo_key_cryptogram())
        finally:
            driver.close()


def test_bad_arguments_are_refused_before_the_line(driver: SerialPinPad) -> None:
    with pytest.raises(ValueError, match="pan: 13 to 19 digits"):
        driver.read_pin("1234")
    with pytest.raises(ValueError, match="16 or 24"):
        driver.load_working_key(bytes(8))
    assert driver._port is None  # nothing was opened


# -- the line ---------------------------------------------------------------------------------------------


def test_a_garbled_frame_is_naked_and_resent(sim: Sim, driver: SerialPinPad) -> None:
    sim.pad.set_fault("garble", times=2)
    assert driver.status().keys == frozenset({0})
    assert sim.pad.status()["fault"] is None  # both garbled sends were spent


def test_garbled_events_during_an_entry_are_resent(sim: Sim, driver: SerialPinPad) -> None:
    events: list[KeyEvent] = []
    patient(
        sim.pad, lambda: sim.pad.set_fault("garble", times=3), lambda: sim.pad.type("5678"), sim.pad.enter
    )
    assert pin_of(driver.read_pin(PAN, on_event=events.append)) == "5678"
    assert [event.digits for event in events] == [1, 2, 3, 4]  # each once
    assert sim.pad.status()["fault"] is None  # all three garbled sends happened


def test_a_line_that_stays_garbled_is_a_clear_error(sim: Sim, driver: SerialPinPad) -> None:
    driver.status()
    sim.pad.set_fault("garble")
    with pytest.raises(PinPadBadFrame, match="4 broken frames in a row from the pad") as raised:
        driver.status()
    assert raised.value.code == "pinpad_protocol"
    sim.pad.set_fault(None)
    assert driver.status().master_key  # the pad's late answer to the last command is not this one's


def test_a_pad_that_refuses_our_frames(sim: Sim, driver: SerialPinPad) -> None:
    driver.status()
    sim.pad.set_fault("nak")
    with pytest.raises(PinPadBadFrame, match=r"refused frame 56 \(NAK\) 4 of 4 times"):
        driver.version()
    sim.pad.set_fault("nak", times=2)
    assert driver.version().model == "CS-EPP-SIM"


def test_a_silent_pad(sim: Sim, driver: SerialPinPad) -> None:
    driver.status()
    sim.pad.set_fault("mute")
    started = time.monotonic()
    with pytest.raises(PinPadNoAnswer, match="did not acknowledge frame 53, sent 4 times") as raised:
        driver.status()
    assert 1.0 < time.monotonic() - started < 3
    assert raised.value.code == "pinpad_timeout"
    sim.pad.set_fault("mute", times=1)  # one frame lost: the resend gets through
    assert driver.status().master_key


def test_a_device_fault(sim: Sim, driver: SerialPinPad) -> None:
    sim.pad.set_fault("device", times=1)
    with pytest.raises(PinPadDeviceError, match="status 06 device fault") as raised:
        driver.status()  # the port's first command (the abort) takes the fault
    assert raised.value.details["status"] == "06"
    assert driver.status().master_key


def test_an_unplugged_pad_is_offline_until_plugged_in(tmp_path: Path) -> None:
    link = tmp_path / "ttyUSB-pinpad"
    driver = SerialPinPad(str(link), timeout=1)
    with pytest.raises(PinPadNotConnected) as raised:
        driver.status()
    assert raised.value.code == "pinpad_offline"
    assert raised.value.details == {"device": str(link)}
    with PtyPinPad(VirtualPinPad(), link=link):
        assert driver.status().master_key
        driver.close()


def test_a_pad_unplugged_during_an_entry(sim: Sim, driver: SerialPinPad) -> None:
    patient(sim.pad, lambda: sim.pad.type("12"), sim.pty.stop)
    with pytest.raises(PinPadNotConnected):
        driver.read_pin(PAN)
    assert driver._port is None
    with pytest.raises(PinPadNotConnected):
        driver.status()  # the pty is gone: cannot open


def test_bad_options_are_named_together() -> None:
    with pytest.raises(ValueError, match="unknown key 'parity'") as raised:
        SerialPinPad("", baudrate=1200, timeout=0, parity="E")
    message = str(raised.value)
    for key in ("device:", "baudrate:", "timeout:"):
        assert key in message


def test_no_pin_block_key_or_digit_in_the_logs(
    sim: Sim, driver: SerialPinPad, caplog: pytest.LogCaptureFixture
) -> None:
    lines: list[str] = []
    sim.pad.on_event = lines.append
    caplog.set_level(logging.DEBUG)
    driver.load_working_key(demo_key_cryptogram())
    sim.pad.set_fault("garble", times=1)  # the error paths log too
    patient(
        sim.pad, lambda: sim.pad.type("97531"), sim.pad.backspace, lambda: sim.pad.type("9"), sim.pad.enter
    )
    entry = driver.read_pin(PAN)
    assert pin_of(entry) == "97539"
    assert entry.pin_block is not None
    text = "\n".join([*lines, caplog.text, repr(entry)])
    assert "entry entered" in caplog.text  # it did log
    block = entry.pin_block
    secrets = ["97539", "9753", block.hex(), block.hex().upper(), repr(block), TPK.hex(), TPK.hex().upper(),
               demo_key_cryptogram().hex(), PAN]  # fmt: skip
    for secret in secrets:
        assert secret not in text
