"""The must-remove rule as a state machine (:class:`Presence`), and the daemon's monitor of its ID-card
readers: events, the person held only while the card lies there, errors — over the in-memory reader of
:mod:`cardservice.idcard.testing`."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from cardservice.idcard import (
    IdCardMonitor,
    IdCardNoCard,
    IdCardReaderOffline,
    IdCardReadFailed,
    IdCardSamUnavailable,
    IdCardUnknownReader,
    Placed,
    Removed,
    decode_text,
)
from cardservice.idcard.testing import FakeIdCardReader
from tests.idcard.samples import HMT_TEXT, RESIDENT_TEXT

RESIDENT = decode_text(RESIDENT_TEXT, photo_wlt=b"W" * 1024, fingerprint=b"F" * 1024)
HMT = decode_text(HMT_TEXT, photo_wlt=b"W" * 1024)


class Events(list[dict[str, Any]]):
    def __call__(self, event: dict[str, Any]) -> None:
        self.append(event)

    def types(self) -> list[str]:
        return [event["type"] for event in self]


def test_the_must_remove_rule() -> None:
    reader = FakeIdCardReader(RESIDENT)
    assert reader.find() is True
    reader.select()
    assert reader.read() == RESIDENT
    assert reader.find() is False  # still there, but read: not found again
    reader.remove()
    reader.place(RESIDENT)
    assert reader.find() is True


def test_poll_gives_placed_then_nothing_then_removed() -> None:
    reader = FakeIdCardReader()
    assert reader.poll() is None
    reader.place(RESIDENT)
    event = reader.poll()
    assert isinstance(event, Placed)
    assert event.person == RESIDENT
    assert event.person.fingerprint is None  # not asked for
    assert [reader.poll(), reader.poll()] == [None, None]
    assert reader.commands[-2:] == ["select", "select"]  # the presence probe, not find (it would fail)
    reader.remove()
    assert reader.poll() == Removed()
    assert reader.poll() is None


def test_a_card_swapped_between_polls_is_removed_then_placed() -> None:
    reader = FakeIdCardReader(RESIDENT)
    assert isinstance(reader.poll(), Placed)
    reader.place(HMT)
    assert reader.poll() == Removed()
    event = reader.poll()
    assert isinstance(event, Placed)
    assert event.person == HMT


def test_a_fingerprint_reader_reads_it() -> None:
    event = FakeIdCardReader(RESIDENT, with_fingerprint=True).poll()
    assert isinstance(event, Placed)
    assert event.person.fingerprint == b"F" * 1024


def test_a_read_that_fails_is_tried_again_at_the_next_poll() -> None:
    reader = FakeIdCardReader(RESIDENT)
    reader.fail(IdCardReadFailed("read: SW3 41 read failed"))
    with pytest.raises(IdCardReadFailed):
        reader.poll()
    reader.fail(None)
    assert isinstance(reader.poll(), Placed)


# -- the monitor ----------------------------------------------------------------------------------------


def monitor_of(*readers: FakeIdCardReader) -> tuple[IdCardMonitor, Events]:
    events = Events()
    names = ["desk", "window"][: len(readers)]
    return IdCardMonitor(dict(zip(names, readers, strict=True)), on_event=events), events


def test_the_person_is_held_while_the_card_lies_there() -> None:
    reader = FakeIdCardReader()
    monitor, events = monitor_of(reader)
    with pytest.raises(IdCardNoCard) as nothing:
        monitor.person()
    assert nothing.value.details == {"reader": "desk"}
    reader.place(RESIDENT)
    monitor.poll_once("desk")
    assert monitor.person() == ("desk", RESIDENT)
    assert monitor.person("desk") == monitor.person("default")
    _, placed_id, _ = monitor.placed()
    assert placed_id.startswith("i_")
    assert events == [{"type": "idcard.placed", "reader": "desk", "card_type": "resident",
                       "card": "1101************98", "card_id": placed_id}]  # fmt: skip
    monitor.poll_once("desk")
    assert monitor.person()[1] == RESIDENT  # still there: nothing new
    assert len(events) == 1
    reader.remove()
    monitor.poll_once("desk")
    assert events.types() == ["idcard.placed", "idcard.removed"]
    with pytest.raises(IdCardNoCard):
        monitor.placed()
    reader.place(RESIDENT)
    monitor.poll_once("desk")
    assert monitor.placed()[1] != placed_id  # a new placing, a new id
    reader.remove()
    monitor.poll_once("desk")
    assert [status.state for status in monitor.status()] == ["empty"]


def test_readers_are_apart_and_named() -> None:
    desk, window = FakeIdCardReader(RESIDENT), FakeIdCardReader(HMT)
    monitor, _ = monitor_of(desk, window)
    monitor.poll_once("window")
    assert monitor.person("window")[1] == HMT
    with pytest.raises(IdCardNoCard):
        monitor.person()  # the default is the first, desk: not polled yet
    with pytest.raises(IdCardUnknownReader) as unknown:
        monitor.person("counter")
    assert unknown.value.code == "reader_not_found"
    assert monitor.names == ("desk", "window")


def test_a_failing_reader_drops_the_person_and_says_why_once() -> None:
    reader = FakeIdCardReader(RESIDENT)
    monitor, events = monitor_of(reader)
    monitor.poll_once("desk")
    reader.fail(IdCardSamUnavailable("SAM status: SW3 60 SAM self-test failed"))
    assert monitor.poll_once("desk") is False
    assert monitor.poll_once("desk") is False
    assert events.types() == ["idcard.placed", "idcard.removed", "idcard.error"]
    assert events[-1] == {"type": "idcard.error", "reader": "desk", "code": "idcard_sam_unavailable"}
    with pytest.raises(IdCardSamUnavailable):
        monitor.person()
    assert monitor.status()[0].error == "idcard_sam_unavailable"
    reader.fail(IdCardReaderOffline("cannot open /dev/ttyUSB9"))
    monitor.poll_once("desk")
    assert events[-1]["code"] == "idcard_reader_offline"  # another error: said again
    reader.fail(None)
    assert monitor.poll_once("desk") is True  # the card was read: must be removed first
    with pytest.raises(IdCardNoCard):
        monitor.person()


def test_a_driver_bug_does_not_stop_the_monitor() -> None:
    class Broken(FakeIdCardReader):
        def find(self) -> bool:
            raise RuntimeError("bug")

    monitor, events = monitor_of(Broken())
    assert monitor.poll_once("desk") is False
    assert events[-1]["code"] == "idcard_error"


def test_the_threads_poll_until_stopped_and_forget() -> None:
    reader = FakeIdCardReader()
    placed = threading.Event()
    monitor = IdCardMonitor({"desk": reader}, on_event=lambda event: placed.set(), interval=0.01, retry=0.01)
    with monitor:
        reader.place(RESIDENT)
        assert placed.wait(5)
        assert monitor.person()[1] == RESIDENT
    assert reader.closed == 1
    with pytest.raises(IdCardNoCard):
        monitor.person()


def test_an_event_sink_that_fails_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def sink(event: dict[str, Any]) -> None:
        raise OSError("hub gone")

    reader = FakeIdCardReader(RESIDENT)
    monitor = IdCardMonitor({"desk": reader}, on_event=sink)
    assert monitor.poll_once("desk") is True
    assert "publishing idcard.placed failed" in caplog.text


def test_no_reader_configured() -> None:
    with pytest.raises(IdCardUnknownReader):
        IdCardMonitor({}).person()


def test_a_person_is_not_kept_by_the_error_it_raises() -> None:
    """The stored error is the polling thread's; the API gets a copy each time."""
    reader = FakeIdCardReader()
    monitor, _ = monitor_of(reader)
    reader.fail(IdCardSamUnavailable("SAM down"))
    monitor.poll_once("desk")
    errors = []
    for _ in range(2):
        with pytest.raises(IdCardSamUnavailable) as raised:
            monitor.person()
        errors.append(raised.value)
    assert errors[0] is not errors[1]
