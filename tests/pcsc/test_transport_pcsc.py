"""PcscTransport and the APDU layer through pcscd + vpcd against the virtual card."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardservice.apdu import (
    CommandApdu,
    ResponseApdu,
    external_authenticate,
    get_challenge,
    read_binary,
    select_by_fid,
    select_by_name,
    transceive,
    transceive_checked,
    update_binary,
)
from cardservice.errors import (
    CardAbsentError,
    CardResetError,
    CardUnresponsiveError,
    ClassNotSupportedError,
    InstructionNotSupportedError,
    SecurityNotSatisfiedError,
    SharingViolationError,
    VerificationFailedError,
)
from cardservice.keys import auth_cryptogram, session_key
from cardservice.transport import Disposition
from drivers.readers import PcscTransport, wait_for_card, wait_for_removal
from simulators.cardos import load_card
from simulators.vpcd import VpcdBridge
from tests.conftest import unhex
from tests.pcsc.conftest import (
    APP_KEY,
    APP_NAME,
    CARD_READER,
    EVENT_TIMEOUT,
    SAM_PORT,
    SAM_READER,
    SERIAL,
    attach,
    detach,
    make_card_image,
    reconnect_until_ready,
)

pytestmark = pytest.mark.pcsc


def test_connect_reports_atr_with_card_serial_and_t1(transport: PcscTransport) -> None:
    assert transport.atr[0] == 0x3B
    assert transport.atr[-9:-1] == SERIAL  # last 8 historical bytes, before TCK
    assert transport.protocol == "T=1"
    assert transport.is_card_present()


def test_select_and_two_challenges_differ(transport: PcscTransport) -> None:
    transceive_checked(transport.transmit, select_by_fid(0x3F00))
    first = transceive_checked(transport.transmit, get_challenge(8)).data
    second = transceive_checked(transport.transmit, get_challenge(8)).data
    assert len(first) == len(second) == 8
    assert first != second


def test_unknown_instruction_and_class_map_to_errors(transport: PcscTransport) -> None:
    with pytest.raises(InstructionNotSupportedError) as ins:
        transceive_checked(transport.transmit, CommandApdu(0x00, 0xFE, 0x00, 0x00))
    assert ins.value.sw == 0x6D00
    with pytest.raises(ClassNotSupportedError) as cla:
        transceive_checked(transport.transmit, CommandApdu(0xFF, 0x00, 0x00, 0x00))
    assert cla.value.sw == 0x6E00


def test_write_then_read_back(transport: PcscTransport) -> None:
    transceive_checked(transport.transmit, select_by_fid(0x0001))
    transceive_checked(transport.transmit, update_binary(0, b"new data"))
    assert transceive_checked(transport.transmit, read_binary(0, ne=8)).data == b"new data"
    # SFI form from the MF, no SELECT of the EF needed.
    transceive_checked(transport.transmit, select_by_fid(0x3F00))
    assert transceive_checked(transport.transmit, read_binary(0, ne=8, sfi=1)).data == b"new data"


def test_the_answer_comes_back_as_the_card_sent_it(transport: PcscTransport) -> None:
    """The hot path (transmit's one copy, transceive's decode without re-checking) gives the value the
    full decode gives: the data bytes as the card sent them and the status word, warnings included."""
    transceive_checked(transport.transmit, select_by_fid(0x0001))
    command = read_binary(0, ne=64)
    raw = transport.transmit(command.encode())
    assert type(raw) is bytes
    response = transceive(transport.transmit, command)
    assert response == ResponseApdu.decode(raw)
    assert type(response.data) is bytes
    assert response.data[:8] == b"old data"
    assert response.sw == 0x9000
    beyond = transceive(transport.transmit, read_binary(0, ne=100))  # more than the EF holds: a warning
    assert beyond == ResponseApdu.decode(transport.transmit(read_binary(0, ne=100).encode()))


def test_external_authenticate_over_pcsc(transport: PcscTransport) -> None:
    """The health-card convention end to end: challenge, session key, folded cryptogram."""
    transceive_checked(transport.transmit, select_by_name(APP_NAME))
    transceive_checked(transport.transmit, select_by_fid(0x0002))
    with pytest.raises(SecurityNotSatisfiedError):
        transceive_checked(transport.transmit, read_binary(0, ne=6))
    terminal_data = unhex("11 22 33 44 55 66 77 88")

    challenge = transceive_checked(transport.transmit, get_challenge(8)).data
    wrong = auth_cryptogram(session_key(bytes(16), challenge), terminal_data)
    with pytest.raises(VerificationFailedError) as failed:
        transceive_checked(transport.transmit, external_authenticate(wrong + terminal_data + b"\x01", 0x84))
    assert failed.value.tries_left == 14

    challenge = transceive_checked(transport.transmit, get_challenge(8)).data
    cryptogram = auth_cryptogram(session_key(APP_KEY, challenge), terminal_data)
    transceive_checked(transport.transmit, external_authenticate(cryptogram + terminal_data + b"\x01", 0x84))
    assert transceive_checked(transport.transmit, read_binary(0, ne=6)).data == b"secret"


def test_get_response_chain_through_pcscd(tmp_path: Path) -> None:
    """A card in T=0 style answers 61xx; transceive fetches the data with GET RESPONSE."""
    path = tmp_path / "t0.json"
    make_card_image(t0_get_response=True).save(path)
    bridge = attach(path, 40000, CARD_READER)
    transport = PcscTransport(CARD_READER)
    try:
        transport.connect()
        # SELECT by DF name is case 4 (data in, FCI out): a T=0 card announces the FCI with 61xx.
        raw = transport.transmit(select_by_name(APP_NAME).encode())
        assert raw[:-1] == b"\x61"
        response = transceive(transport.transmit, select_by_name(APP_NAME))
        assert response.sw == 0x9000
        assert response.data[0] == 0x6F
        assert APP_NAME in response.data
        assert len(response.data) == raw[-1]
    finally:
        transport.disconnect()
        detach(bridge, CARD_READER)


def test_card_pulled_mid_session_then_reinserted(transport: PcscTransport, bridge: VpcdBridge) -> None:
    transceive_checked(transport.transmit, select_by_fid(0x3F00))
    bridge.remove()
    assert wait_for_removal(CARD_READER, EVENT_TIMEOUT)
    with pytest.raises(CardAbsentError, match=CARD_READER):
        transport.transmit(get_challenge(8).encode())
    assert not transport.is_card_present()
    bridge.insert()
    assert wait_for_card(CARD_READER, EVENT_TIMEOUT)
    transport.connect()
    assert transceive_checked(transport.transmit, select_by_fid(0x3F00)).sw == 0x9000


def test_reset_by_another_application_is_reported_once(transport: PcscTransport) -> None:
    other = PcscTransport(CARD_READER)
    other.connect()
    try:
        other.reconnect(Disposition.RESET)
    finally:
        other.disconnect()
    with pytest.raises(CardResetError):
        transport.transmit(select_by_fid(0x3F00).encode())
    # The handle was re-established; the caller now selects (and would authenticate) again.
    assert transceive_checked(transport.transmit, select_by_fid(0x3F00)).sw == 0x9000


def test_exclusive_connection_keeps_others_out(bridge: VpcdBridge) -> None:
    exclusive = PcscTransport(CARD_READER, share="exclusive")
    atr = exclusive.connect()
    try:
        with pytest.raises(SharingViolationError, match=CARD_READER):
            PcscTransport(CARD_READER).connect()
    finally:
        exclusive.disconnect()
    shared = PcscTransport(CARD_READER)
    assert shared.connect() == atr  # free again once the exclusive holder let go
    shared.disconnect()


def test_transaction_wraps_a_sequence(transport: PcscTransport) -> None:
    with transport.transaction():
        transceive_checked(transport.transmit, select_by_fid(0x3F00))
        assert len(transceive_checked(transport.transmit, get_challenge(8)).data) == 8


def test_torn_write_leaves_old_data(transport: PcscTransport, bridge: VpcdBridge, image_path: Path) -> None:
    """Power is cut in the middle of an UPDATE BINARY: after re-insertion the file holds the old data."""
    transceive_checked(transport.transmit, select_by_fid(0x0001))
    bridge.tear(after_commands=0, after_nvm_writes=2)
    # vpcd hands pcscd an empty answer when the card drops mid-command; whether the caller sees
    # "absent" or "unresponsive" depends on whether pcscd has polled the reader yet. Either way the
    # write's outcome is unknown and the caller must re-read.
    with pytest.raises((CardAbsentError, CardUnresponsiveError)):
        transport.transmit(update_binary(0, b"NEW DATA").encode())
    # The bridge re-inserts the card after a short delay.
    reconnect_until_ready(transport, what="the torn card never came back")
    assert transceive_checked(transport.transmit, read_binary(0, ne=8)).data == b"old data"
    # And the image on disk agrees (it is what a restarted simulator would load).
    reloaded = load_card(image_path)
    reloaded.power_on()
    assert reloaded.process(unhex("00 B0 81 00 08"))[:-2] == b"old data"


def test_sam_slot_is_a_second_reader(tmp_path: Path, transport: PcscTransport) -> None:
    path = tmp_path / "sam.json"
    make_card_image().save(path)
    sam_bridge = attach(path, SAM_PORT, SAM_READER)
    sam = PcscTransport(SAM_READER)
    try:
        sam.connect()
        assert transceive_checked(sam.transmit, select_by_fid(0x3F00)).sw == 0x9000
        # Both slots work at once, each with its own card.
        assert transceive_checked(transport.transmit, select_by_fid(0x3F00)).sw == 0x9000
    finally:
        sam.disconnect()
        detach(sam_bridge, SAM_READER)
