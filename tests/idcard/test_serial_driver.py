"""The serial driver against the simulator over a real pty: find / select / read of the four card types,
polling (placed, removed, the must-remove rule), every fault as one error code, timeouts, a reader
unplugged and plugged in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from cardservice.idcard import (
    FIND,
    SAM_STATUS,
    IdCardError,
    IdCardMonitor,
    IdCardNoCard,
    IdCardReaderOffline,
    IdCardReadFailed,
    IdCardTimeout,
    IdCardType,
    Placed,
    Removed,
    ReplyParser,
)
from drivers.idcard import SerialIdCardReader
from simulators.idcard import PtyReader, VirtualIdCardReader, load_card


class Sim:
    def __init__(self, device: VirtualIdCardReader, pty: PtyReader, link: Path) -> None:
        self.device, self.pty, self.link = device, pty, link


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    device = VirtualIdCardReader(load_card("resident"))
    link = tmp_path / "idcard"
    with PtyReader(device, link=link) as pty:
        yield Sim(device, pty, link)


@pytest.fixture
def driver(sim: Sim) -> Iterator[SerialIdCardReader]:
    reader = SerialIdCardReader(str(sim.link), timeout=0.5)
    yield reader
    reader.close()


def test_find_select_read(sim: Sim, driver: SerialIdCardReader) -> None:
    driver.sam_status()
    assert driver.find() is True
    driver.select()
    person = driver.read()
    card = load_card("resident").person
    assert person == card
    assert person.photo_wlt == card.photo_wlt
    assert len(person.photo_wlt) == 1024
    assert person.fingerprint is None
    assert driver.sam_id() == "05010000202612060000000000000001"


@pytest.mark.parametrize(
    ("name", "card_type", "fingerprint"),
    [
        ("resident", IdCardType.RESIDENT, 1024),
        ("hmt-permit", IdCardType.HMT_RESIDENCE_PERMIT, 0),
        ("foreign-permanent", IdCardType.FOREIGN_PERMANENT, 0),
        ("foreign-permanent-2023", IdCardType.FOREIGN_PERMANENT_2023, 512),
    ],
)
def test_every_card_type_with_its_fingerprint(
    sim: Sim, name: str, card_type: IdCardType, fingerprint: int
) -> None:
    sim.device.place(load_card(name))
    reader = SerialIdCardReader(str(sim.link), timeout=0.5, fingerprint=True)
    try:
        event = reader.poll()
    finally:
        reader.close()
    assert isinstance(event, Placed)
    assert event.person == load_card(name).person
    assert event.person.card_type is card_type
    assert len(event.person.fingerprint or b"") == fingerprint


def test_polling_and_the_must_remove_rule(sim: Sim, driver: SerialIdCardReader) -> None:
    event = driver.poll()
    assert isinstance(event, Placed)
    assert driver.poll() is None  # the card lies there: nothing new
    assert driver.find() is False  # the reader's rule: read, so not found until taken off
    assert driver.poll() is None  # ... and the probe still sees it
    sim.device.remove()
    assert driver.poll() == Removed()
    assert driver.poll() is None
    sim.device.place(load_card("resident"))
    assert isinstance(driver.poll(), Placed)  # taken off and put back: found again


def test_a_card_swapped_between_polls(sim: Sim, driver: SerialIdCardReader) -> None:
    assert isinstance(driver.poll(), Placed)
    sim.device.place(load_card("hmt-permit"))
    assert driver.poll() == Removed()
    event = driver.poll()
    assert isinstance(event, Placed)
    assert event.person.card_type is IdCardType.HMT_RESIDENCE_PERMIT


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("bad_chk", "idcard_protocol"),
        ("find_fail", "idcard_no_card"),
        ("select_fail", "idcard_read_failed"),
        ("read_fail", "idcard_read_failed"),
        ("sam_absent", "idcard_sam_unavailable"),
        ("timeout", "idcard_timeout"),
    ],
)
def test_every_fault_is_one_clear_error_code(sim: Sim, fault: str, code: str) -> None:
    """Through the monitor, as the API sees it; cleared, the next poll reads the card."""
    driver = SerialIdCardReader(str(sim.link), timeout=0.3)
    monitor = IdCardMonitor({"desk": driver})
    try:
        sim.device.set_fault(fault)
        monitor.poll_once("desk")
        with pytest.raises(IdCardError) as raised:
            monitor.person()
        assert raised.value.code == code
        assert raised.value.message_zh
        sim.device.set_fault(None)
        monitor.poll_once("desk")
        assert monitor.person()[1] == load_card("resident").person
    finally:
        monitor.stop()


def test_a_fault_for_one_command_only(sim: Sim, driver: SerialIdCardReader) -> None:
    sim.device.set_fault("read_fail", times=1)
    with pytest.raises(IdCardReadFailed, match="SW3 41 read failed"):
        driver.poll()
    assert isinstance(driver.poll(), Placed)
    assert sim.device.status()["fault"] is None


def test_a_timeout_takes_the_configured_time_and_a_late_reply_is_not_the_next(
    sim: Sim, driver: SerialIdCardReader
) -> None:
    sim.device.set_fault("timeout", times=1)
    started = time.monotonic()
    with pytest.raises(IdCardTimeout, match=r"no whole reply within 0\.5 s") as raised:
        driver.find()
    assert 0.45 < time.monotonic() - started < 2.0
    assert raised.value.details["command"] == "2001"
    assert driver.find() is True


def test_a_reply_cut_short_is_a_timeout_naming_what_came(sim: Sim, driver: SerialIdCardReader) -> None:
    """The reader dies mid-reply: the parser holds a partial frame; the error says how much came."""
    original = sim.device.feed
    sim.device.feed = lambda data: original(data)[:7]  # type: ignore[method-assign]
    with pytest.raises(IdCardTimeout, match=r"\(7 bytes came\)"):
        driver.sam_status()


def test_an_unplugged_reader_is_offline_until_plugged_in(tmp_path: Path) -> None:
    link = tmp_path / "ttyUSB-idcard"
    reader = SerialIdCardReader(str(link), timeout=0.5)
    with pytest.raises(IdCardReaderOffline) as raised:
        reader.poll()
    assert raised.value.code == "idcard_reader_offline"
    assert raised.value.details == {"device": str(link)}
    with PtyReader(VirtualIdCardReader(load_card("resident")), link=link):
        assert isinstance(reader.poll(), Placed)
        reader.close()


def test_a_reader_whose_port_breaks_is_offline_then_reopened(sim: Sim, driver: SerialIdCardReader) -> None:
    assert isinstance(driver.poll(), Placed)
    driver._port.close()  # the USB-serial adapter pulled out under the open port
    with pytest.raises(IdCardReaderOffline):
        driver.sam_status()
    assert driver._port is None
    assert driver.poll() is None  # reopened; the card read before must be taken off first
    sim.device.place(load_card("resident"))
    assert isinstance(driver.poll(), Placed)


def test_the_reader_answers_a_broken_host_frame_with_sw3_10(sim: Sim) -> None:
    with serial.Serial(str(sim.link), 115200, timeout=1) as port:
        frame = bytearray(FIND.command.encode())
        frame[-1] ^= 0xFF
        port.write(bytes(frame) + SAM_STATUS.command.encode())
        parser = ReplyParser()
        replies: list[int] = []
        deadline = time.monotonic() + 2
        while len(replies) < 2 and time.monotonic() < deadline:
            replies += [reply.sw3 for reply in parser.parse(port.read(port.in_waiting or 1))]
    assert replies == [0x10, 0x90]


def test_the_replies_on_the_wire_have_the_sheets_sizes() -> None:
    device = VirtualIdCardReader(load_card("resident"))
    assert len(device.feed(FIND.command.encode())) == 11
    device.feed(bytes.fromhex("AA AA AA 96 69 00 03 20 02 21"))
    assert len(device.feed(bytes.fromhex("AA AA AA 96 69 00 03 30 01 32"))) == 1295
    device.place(load_card("resident"))
    device.feed(FIND.command.encode() + bytes.fromhex("AA AA AA 96 69 00 03 20 02 21"))
    assert len(device.feed(bytes.fromhex("AA AA AA 96 69 00 03 30 10 23"))) == 2321


def test_bad_options_are_named_together() -> None:
    with pytest.raises(ValueError, match="unknown key 'parity'") as raised:
        SerialIdCardReader("", baudrate=1200, timeout=0, parity="E")
    message = str(raised.value)
    assert "device:" in message
    assert "baudrate:" in message
    assert "timeout:" in message


def test_no_card_is_no_error_for_find(sim: Sim, driver: SerialIdCardReader) -> None:
    sim.device.remove()
    assert driver.find() is False
    with pytest.raises(IdCardNoCard):
        IdCardMonitor({"desk": driver}).person()
