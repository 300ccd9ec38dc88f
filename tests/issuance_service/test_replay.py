"""Issue 16, must show: "A captured APDU stream of one issuance replayed onto a second blank card
personalises nothing."

Everything one issuance relayed through the kiosk — every command APDU, in order — is sent again, as an
attacker at the kiosk would, to a second blank card. The first command whose status differs from the
captured one is the first challenge-bound one, EXTERNAL AUTHENTICATE with the transport key over the first
card's challenge; every write after it is refused (ACTIVATE FILE answers 9000 on the MF, which is
operational already: nothing to change), and the second card is still blank: no DDF1, no bank
application by SELECT, and in its image nothing but the MF with its two transport keys. What it costs the
card: a transport-key try per failed EXTERNAL AUTHENTICATE (of 15).
"""

from __future__ import annotations

from pathlib import Path

from cardservice.apdu import CommandApdu
from cardservice.issuance._personalise import changes_card
from simulators.cardos import (
    BLANK_TRANSPORT_KEY_REF,
    BLANK_TRANSPORT_SM_KEY_REF,
    CardImage,
    Lifecycle,
    create_image,
    load_card,
)
from tests.issuance_service.conftest import KioskFactory, Service, people

_EXTERNAL_AUTHENTICATE, _GET_CHALLENGE = 0x82, 0x84
DDF1 = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00")  # SELECT DDF1 by name (sx1.sh.社会保障)
PSE = bytes.fromhex("00A404000E315041592E5359532E444446303100")  # SELECT 1PAY.SYS.DDF01


def _captured(served: Service, make_kiosk: KioskFactory) -> list[tuple[bytes, bytes]]:
    """(command, answer) of every APDU one issuance relayed, in order."""
    kiosk = make_kiosk(served)
    assert kiosk.issue(people()[0]).status == "active"
    pairs: list[tuple[bytes, bytes]] = []
    frames = kiosk.relay.frames
    for index, (direction, frame) in enumerate(frames):
        if direction == "service" and frame.get("op") == "apdu":
            answer = next(f for d, f in frames[index + 1 :] if d == "kiosk")
            pairs.append((bytes.fromhex(frame["c"]), bytes.fromhex(answer["r"])))
    return pairs


def test_a_captured_issuance_replayed_onto_a_second_blank_card_personalises_nothing(
    served: Service, make_kiosk: KioskFactory, tmp_path: Path
) -> None:
    stream = _captured(served, make_kiosk)
    writes = [command for command, _ in stream if changes_card(CommandApdu.decode(command))]
    assert len(writes) > 50  # the capture holds a whole personalisation: files, keys, records

    path = tmp_path / "second.json"
    create_image(path)
    card = load_card(path)
    card.power_on()
    replayed = [(command, card.process(command)) for command, _ in stream]

    first = next(
        i for i, ((_, was), (_, now)) in enumerate(zip(stream, replayed, strict=True)) if was[-2:] != now[-2:]
    )
    command = CommandApdu.decode(stream[first][0])
    assert command.ins == _EXTERNAL_AUTHENTICATE  # bound to the first card's challenge
    assert CommandApdu.decode(stream[first - 1][0]).ins == _GET_CHALLENGE
    assert replayed[first][1][-2:] != b"\x90\x00"
    assert not any(changes_card(CommandApdu.decode(c)) for c, _ in stream[:first])  # nothing written before
    accepted = {
        c.hex().upper()
        for c, answer in replayed
        if changes_card(CommandApdu.decode(c)) and answer[-2:] == b"\x90\x00"
    }
    # not one write taken — but ACTIVATE FILE, which on the MF (already operational) changes nothing
    assert accepted == {"00440000"}

    # still blank: by SELECT ...
    card.power_on()
    assert card.process(bytes.fromhex("00A40000023F00"))[-2:] == b"\x90\x00"
    assert card.process(DDF1)[-2:] == b"\x6a\x82"
    assert card.process(PSE)[-2:] == b"\x6a\x82"
    # ... and in its image: the MF alone, holding the transport keys and nothing else
    image = CardImage.load(path)
    assert [(file_path, header.lifecycle) for file_path, header in image.fs.walk()] == [
        ((0x3F00,), Lifecycle.OPERATIONAL)
    ]
    assert sorted(ref for ref, _ in image.fs.keys((0x3F00,))) == [
        BLANK_TRANSPORT_KEY_REF,
        BLANK_TRANSPORT_SM_KEY_REF,
    ]
    # what the replay costs the blank card: a transport-key try per wrong cryptogram (63Cx)
    failed = sum(1 for c, answer in replayed if c[1] == _EXTERNAL_AUTHENTICATE and answer[-2] == 0x63)
    assert 0 < failed < 15
    assert image.fs.tries_left((0x3F00,), BLANK_TRANSPORT_KEY_REF) == 15 - failed
