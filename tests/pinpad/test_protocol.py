"""The PIN pad's messages (cardservice.pinpad._protocol): the status table as errors, the commands' fields
and their checks, results and events both ways, the key check value against its published vector; and the
pad's side of an entry (testing.SimulatedEntry) with the in-memory FakePinPad."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.keys import BlockCipher, decrypt_ecb, encrypt_ecb
from cardservice.pboc import pin_from_block_format_0
from cardservice.pinpad import (
    END,
    KEY,
    START_ENTRY,
    STATUS_REQUEST,
    EntryRequest,
    EntryStatus,
    Frame,
    KeyChange,
    KeyEvent,
    KeyLoad,
    PinEntry,
    PinPadBadFrame,
    PinPadBusy,
    PinPadDeviceError,
    PinPadInfo,
    PinPadKeyError,
    PinPadNotConnected,
    PinPadStatus,
    check,
    decode_event,
    decode_status,
    decode_version,
    encode_end,
    encode_key_event,
    encode_status,
    encode_version,
    key_check_value,
    mask_pan,
    response,
)
from cardservice.pinpad.testing import FakePinPad, SimulatedEntry

PAN = "6228000100001"  # the facts sheet's PBOC example (13 digits)
TPK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


def test_the_key_check_value_of_the_textbook_key() -> None:
    """3DES of zeros under 0123…3210 is 08D7B4FB629D0885: the check value everyone quotes is 08D7B4."""
    assert key_check_value(TPK) == bytes.fromhex("08D7B4")


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (0x01, PinPadBadFrame, "pinpad_protocol"),
        (0x02, PinPadDeviceError, "pinpad_device_error"),
        (0x03, PinPadBusy, "pinpad_busy"),
        (0x04, PinPadKeyError, "pinpad_key_error"),
        (0x05, PinPadKeyError, "pinpad_key_error"),
        (0x06, PinPadDeviceError, "pinpad_device_error"),
        (0x7F, PinPadDeviceError, "pinpad_device_error"),  # not in the table
    ],
)
def test_every_status_is_one_error(status: int, error: type[Exception], code: str) -> None:
    with pytest.raises(error) as raised:
        check(START_ENTRY, Frame(1, START_ENTRY, response(status)))
    assert raised.value.code == code  # type: ignore[attr-defined]
    assert raised.value.details == {"status": f"{status:02X}", "command": "50"}  # type: ignore[attr-defined]
    assert str(raised.value).startswith("start entry: status")
    assert raised.value.message_zh  # type: ignore[attr-defined]


def test_check_gives_the_result_of_an_ok_answer_and_refuses_another_commands() -> None:
    assert (
        check(STATUS_REQUEST, Frame(1, STATUS_REQUEST, response(0, b"\x00\x00\x01\x01")))
        == b"\x00\x00\x01\x01"
    )
    with pytest.raises(PinPadBadFrame, match="no answer to command 53"):
        check(STATUS_REQUEST, Frame(1, START_ENTRY, response(0)))
    with pytest.raises(PinPadBadFrame):
        check(STATUS_REQUEST, Frame(1, STATUS_REQUEST, b""))


def test_an_entry_request_and_its_checks() -> None:
    request = EntryRequest(PAN, 4, 12, 255, 7)
    assert EntryRequest.decode(request.encode()) == request
    assert repr(request) == "EntryRequest(622800***0001, 4..12 digits, 255 s, slot 7)"
    with pytest.raises(ValueError, match="pan: 13 to 19 digits") as raised:
        EntryRequest("6228 0001 0000 1", 3, 13, 0, 8)
    message = str(raised.value)
    for problem in ("min_len 3, max_len 13", "timeout", "slot"):
        assert problem in message
    with pytest.raises(ValueError, match="min_len 6, max_len 4"):
        EntryRequest(PAN, 6, 4)
    with pytest.raises(ValueError, match="timeout"):
        EntryRequest(PAN, timeout=True)
    with pytest.raises(ValueError, match="pan"):
        EntryRequest.decode(b"\x00\x04\x06\x1e" + "６２２８０００１００００１".encode())  # full-width digits


def test_a_key_load_and_its_checks() -> None:
    load = KeyLoad(bytes(16), 3)
    assert KeyLoad.decode(load.encode()) == load
    assert repr(load) == "KeyLoad(slot 3, 16-byte key)"
    with pytest.raises(ValueError, match="15 bytes, not 16 or 24"):
        KeyLoad(bytes(15))
    with pytest.raises(ValueError, match="no slot"):
        KeyLoad.decode(b"")


def test_status_and_version_round_trip() -> None:
    status = PinPadStatus(True, 5, frozenset({0, 7}), True)
    assert encode_status(status) == bytes.fromhex("01 05 81 01")
    assert decode_status(encode_status(status)) == status
    info = PinPadInfo("EPP", "2.1", "0042")
    assert decode_version(encode_version(info)) == info
    for bad in (b"\x01\x05\x81", b"\x02\x00\x00\x00"):
        with pytest.raises(PinPadBadFrame):
            decode_status(bad)
    with pytest.raises(PinPadBadFrame, match="2 parts"):
        decode_version(b"EPP\x002.1")


@given(st.sampled_from(KeyChange), st.integers(0, 12))
def test_key_events_round_trip_and_carry_no_digit(change: KeyChange, digits: int) -> None:
    code, data = encode_key_event(KeyEvent(change, digits))
    assert code == KEY
    assert len(data) == 2  # the change and the count: no room for a digit
    assert decode_event(Frame(0, code, data)) == KeyEvent(change, digits)


@given(st.sampled_from(EntryStatus), st.integers(4, 12), st.binary(min_size=8, max_size=8))
def test_ends_round_trip(status: EntryStatus, digits: int, block: bytes) -> None:
    entry = PinEntry(status, block if status is EntryStatus.ENTERED else None, digits)
    code, data = encode_end(entry)
    assert code == END
    assert decode_event(Frame(0, code, data)) == entry


@pytest.mark.parametrize(
    "frame",
    [Frame(0, KEY, b"\x04\x01"), Frame(0, KEY, b"\x01"), Frame(0, END, b"\x01\x06"),  # entered, no block
     Frame(0, END, b"\x02\x06" + bytes(8)), Frame(0, 0x53, b"\x00")],
)  # fmt: skip
def test_events_that_do_not_decode(frame: Frame) -> None:
    with pytest.raises(PinPadBadFrame, match="does not decode"):
        decode_event(frame)


def test_reprs_never_show_a_block() -> None:
    entry = PinEntry(EntryStatus.ENTERED, bytes.fromhex("1122334455667788"), 6)
    assert repr(entry) == "PinEntry(entered, 6 digits, 8-byte PIN block)"
    assert KeyEvent(KeyChange.ADDED, 3).as_event() == {"type": "pinpad.key", "change": "added", "digits": 3}
    assert mask_pan("6228480000001234567") == "622848*********4567"
    assert mask_pan("1234567890") == "**********"


# -- the pad's side of an entry ---------------------------------------------------------------------------


def block_pin(entry: PinEntry, key: bytes = TPK) -> str:
    assert entry.pin_block is not None
    return pin_from_block_format_0(decrypt_ecb(BlockCipher.TDES, key, entry.pin_block), PAN)


def test_an_entry_inside_the_pad() -> None:
    entry = SimulatedEntry(EntryRequest(PAN, 4, 6, 30), TPK, 0.0)
    assert entry.press("enter", 1.0) is None  # fewer than 4 digits: Enter does nothing
    assert entry.press("backspace", 1.0) is None  # nothing to take back
    events = [entry.press(key, 2.0) for key in "1234567"]
    assert events[-1] is None  # the 7th digit: beyond the maximum
    assert events[:6] == [KeyEvent(KeyChange.ADDED, n) for n in range(1, 7)]
    assert entry.press("backspace", 3.0) == KeyEvent(KeyChange.REMOVED, 5)
    assert entry.press("clear", 3.0) == KeyEvent(KeyChange.CLEARED, 0)
    for key in "2580":
        entry.press(key, 4.0)
    assert not entry.expired(33.9)
    assert entry.expired(34.0)  # 30 s after the last key
    ended = entry.press("enter", 5.0)
    assert isinstance(ended, PinEntry)
    assert (ended.status, ended.digits) == (EntryStatus.ENTERED, 4)
    assert block_pin(ended) == "2580"
    assert entry.digits == 0  # forgotten
    with pytest.raises(ValueError, match="a digit or one of"):
        entry.press("*", 6.0)


def test_the_fake_pad() -> None:
    pad = FakePinPad(working_key=TPK, master_key=bytes(range(16)))
    events: list[KeyEvent] = []
    pad.will_press("12", "backspace", "3456", "enter")
    entry = pad.read_pin(PAN, on_event=events.append)
    assert block_pin(entry) == "13456"
    assert [event.digits for event in events] == [1, 2, 1, 2, 3, 4, 5]
    pad.will_cancel()
    assert pad.read_pin(PAN) == PinEntry(EntryStatus.CANCELLED)
    pad.will_press("12")
    assert pad.read_pin(PAN) == PinEntry(EntryStatus.TIMEOUT, None, 2)
    assert repr(pad.entries[0]) == "EntryRequest(622800***0001, 4..6 digits, 30 s, slot 0)"
    new_key = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    cryptogram = encrypt_ecb(BlockCipher.TDES, bytes(range(16)), new_key)
    assert pad.load_working_key(cryptogram, check_value=key_check_value(new_key), slot=1) == key_check_value(
        new_key
    )
    with pytest.raises(PinPadKeyError, match="no working key in slot 2"):
        pad.read_pin(PAN, slot=2)
    pad.fail(PinPadNotConnected("unplugged"))
    with pytest.raises(PinPadNotConnected):
        pad.status()
