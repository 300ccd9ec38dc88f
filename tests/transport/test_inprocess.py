"""InProcessTransport: the Transport contract over a virtual card, no pcscd."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardservice.apdu import get_challenge, read_binary, select_by_fid, transceive_checked, update_binary
from cardservice.errors import CardAbsentError, SecurityNotSatisfiedError
from cardservice.transport import Disposition, InProcessTransport, Transport
from simulators.cardos import ALWAYS, CardImage, DfSpec, EfSpec, KeySpec, after_auth, load_card
from tests.conftest import unhex

SERIAL = unhex("00 00 00 00 00 00 00 07")


@pytest.fixture
def transport(tmp_path: Path) -> InProcessTransport:
    mf = DfSpec(
        fid=0x3F00,
        children=(
            EfSpec(0x0001, size=16, read=ALWAYS, update=ALWAYS, content=b"before"),
            DfSpec(fid=0xDF01, keys=(KeySpec(0x84, bytes(16)),), children=(
                EfSpec(0x0002, size=4, read=after_auth(0x84)),
            )),
        ),
    )  # fmt: skip
    path = tmp_path / "card.json"
    CardImage.build(mf, serial=SERIAL, profile="t").save(path)
    return InProcessTransport(load_card(path), name="slot")


def test_satisfies_the_transport_protocol(transport: InProcessTransport) -> None:
    transport.connect()  # Python 3.11's runtime protocol check reads `atr`, which needs a connection
    assert isinstance(transport, Transport)
    typed: Transport = transport  # and mypy checks the same statically
    assert typed.name == "slot"


def test_connect_transmit_and_atr(transport: InProcessTransport) -> None:
    with pytest.raises(CardAbsentError):
        _ = transport.atr
    atr = transport.connect()
    assert atr == transport.atr
    assert atr[-9:-1] == SERIAL
    transceive_checked(transport.transmit, select_by_fid(0x0001))
    assert transceive_checked(transport.transmit, read_binary(0, ne=6)).data == b"before"


def test_power_lost_reads_as_card_absent_until_reconnect(transport: InProcessTransport) -> None:
    transport.connect()
    transceive_checked(transport.transmit, select_by_fid(0x0001))
    card = transport._card
    assert card is not None
    card.faults.tear(after_commands=0, after_nvm_writes=1)  # type: ignore[attr-defined]
    with pytest.raises(CardAbsentError, match="lost power"):
        transport.transmit(update_binary(0, b"after!").encode())
    with pytest.raises(CardAbsentError):
        transport.transmit(get_challenge(8).encode())
    transport.connect()
    transceive_checked(transport.transmit, select_by_fid(0x0001))
    assert transceive_checked(transport.transmit, read_binary(0, ne=6)).data == b"before"


def test_reset_disposition_clears_security_state(transport: InProcessTransport) -> None:
    transport.connect()
    transceive_checked(transport.transmit, select_by_fid(0xDF01))
    transport.reconnect(Disposition.RESET)
    transceive_checked(transport.transmit, select_by_fid(0xDF01))
    transceive_checked(transport.transmit, select_by_fid(0x0002))
    with pytest.raises(SecurityNotSatisfiedError):
        transceive_checked(transport.transmit, read_binary(0, ne=4))


def test_disconnect_leave_keeps_card_state(transport: InProcessTransport) -> None:
    transport.connect()
    transceive_checked(transport.transmit, select_by_fid(0x0001))
    transport.disconnect(Disposition.LEAVE)
    transport.connect()
    # Still in the EF selected before: LEAVE keeps the card powered, as in PC/SC.
    assert transceive_checked(transport.transmit, read_binary(0, ne=6)).data == b"before"


def test_transaction_requires_a_connection(transport: InProcessTransport) -> None:
    with pytest.raises(CardAbsentError), transport.transaction():
        pass
    transport.connect()
    with transport.transaction():
        assert len(transceive_checked(transport.transmit, get_challenge(8)).data) == 8
