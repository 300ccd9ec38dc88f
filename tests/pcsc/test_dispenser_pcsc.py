"""``card-issuer batch --dispenser``: 20 people through the virtual K720 dispenser, whose read position is
pcscd's vpcd reader — real card I/O — with a dud chip, a jam and an empty stack on the way.

The dispenser starts with 14 blank cards; the 4th dies mid-personalisation (spoiled, captured into the
reject bin), the 7th present jams with the 8th card issued at the read position. The batch stops (exit 3);
run again, it resets the dispenser, presents that card to its holder and goes on until the stack is empty
(exit 3); refilled, the same command finishes. At the end: 20 live cards, one per person, the reject
bin holds exactly the spoiled cards, and every live card reads back through PC/SC.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cardservice.healthcard import HealthCardSession
from cardservice.issuance._batch import chip_serial
from cardservice.keys import KeyStore, SoftwareSam
from drivers.readers import PcscTransport, wait_for_card, wait_for_removal
from simulators.cardos import load_card
from simulators.vpcd import VpcdBridge
from tests.pcsc.conftest import CARD_READER, EVENT_TIMEOUT, SAM_PORT, SAM_READER, stop_process_group
from tests.pcsc.test_issuer_pcsc import BIN, EXAMPLES, PASSPHRASE, Station, people, station_env

pytestmark = pytest.mark.pcsc

STACK = 14


def _start_dispenser(home: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], Path, Path]:
    link, control = home / "ttyK720", home / "dispenser.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.dispenser", "--pty", str(link), "--vpcd", "127.0.0.1:40000",
         "--cards", str(STACK), "--dir", str(home / "cards"), "--control", str(control)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while not (control.exists() and link.is_symlink()):
        assert process.poll() is None, "the dispenser simulator stopped"
        assert time.monotonic() < deadline, "the dispenser simulator did not come up"
        time.sleep(0.05)
    return process, link, control


def test_20_cards_through_the_dispenser_with_a_jam_and_an_empty_stack(tmp_path: Path) -> None:
    env = station_env(tmp_path)
    keys = tmp_path / "keys.json"
    made = subprocess.run([str(BIN / "card-sim"), "demo-keys", str(keys)], env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert made.returncode == 0, made.stderr
    dispenser, link, control = _start_dispenser(tmp_path, env)
    station = Station(tmp_path, keys, control, tmp_path / "cards", env)
    try:
        station.ctl({"cmd": "dud", "after": 3, "tear_after": 6})  # the 4th card's chip dies
        station.ctl({"cmd": "jam", "at": "present", "after": 6})  # the 7th present jams
        batch = ["batch", str(EXAMPLES / "people.csv"), "-r", CARD_READER, "--keys", str(keys),
                 "--dispenser", f"k720:{link},poll=0.02,timeout=0.5", "--wait", "10",
                 "--report-dir", str(tmp_path / "reports")]  # fmt: skip

        first = station.issuer(*batch)
        assert first.returncode == 3, first.stderr
        assert "[dispenser_jam]" in first.stderr
        outcomes = re.findall(r" (active|spoiled) ", first.stdout)
        assert outcomes == ["active"] * 3 + ["spoiled"] + ["active"] * 3, first.stdout
        state = station.ctl({"cmd": "dispenser"})["dispenser"]
        assert state["jammed"]  # type: ignore[index]
        assert state["position"] == "read"  # type: ignore[index]  # the 8th person's issued card

        second = station.issuer(*batch)
        assert second.returncode == 3, second.stderr
        assert "[dispenser_empty]" in second.stderr
        assert "ejected to its holder" in second.stderr  # the jammed card, presented at last

        station.ctl({"cmd": "refill", "count": 8})
        third = station.issuer(*batch)
        assert third.returncode == 0, third.stderr

        cards = json.loads(station.issuer("list", "--json").stdout)
        live = [card for card in cards if card["status"] == "active"]
        spoiled = [card for card in cards if card["status"] == "spoiled"]
        assert len(live) == 20
        assert len(spoiled) == 1
        assert len(cards) == 21
        assert sorted(card["card"] for card in live) == sorted(
            f"{p['id_number'][:4]}{'*' * 12}{p['id_number'][-2:]}" for p in people()
        )  # every person once: none twice, none missed
        state = station.ctl({"cmd": "dispenser"})["dispenser"]
        assert len(state["reject_bin"]) == len(spoiled)  # type: ignore[index]
        assert len(state["taken"]) == 20  # type: ignore[index]
        assert state["stack"] == 1  # type: ignore[index]
        images = {chip_serial(load_card(path).power_on()): Path(path) for path in state["taken"]}  # type: ignore[index]
        assert set(images) == {card["chip_serial"] for card in live}

        # every live card, as any terminal reads it through PC/SC: in both vpcd readers at once (the
        # dispenser's, through its control socket, and the second slot), half the cards each
        sam = SoftwareSam(KeyStore.open(keys, PASSPHRASE))
        by_number = {p["id_number"]: p for p in people()}

        def read_back(reader: str, insert: Callable[[Path], None], cards: list[dict[str, str]]) -> None:
            for card in cards:
                insert(images[card["chip_serial"]])
                transport = PcscTransport(reader)
                transport.connect()
                try:
                    identity = HealthCardSession(transport, sam).read_identity()
                finally:
                    transport.disconnect()
                assert identity.issuer.issuance_serial == card["issuance_serial"]
                assert identity.cardholder.name == by_number[identity.issuer.card_number or ""]["name"]

        second_slot = VpcdBridge(None, "127.0.0.1", SAM_PORT)
        second_slot.start()
        try:

            def insert_second(image: Path) -> None:
                second_slot.remove()
                assert wait_for_removal(SAM_READER, EVENT_TIMEOUT)
                second_slot.swap(load_card(image))
                second_slot.insert()
                assert wait_for_card(SAM_READER, EVENT_TIMEOUT)

            with ThreadPoolExecutor(2) as pool:
                done = [pool.submit(read_back, CARD_READER, station.insert, live[::2]),
                        pool.submit(read_back, SAM_READER, insert_second, live[1::2])]  # fmt: skip
                for future in done:
                    future.result()
        finally:
            second_slot.stop()
            assert wait_for_removal(SAM_READER, EVENT_TIMEOUT + 5)
    finally:
        stop_process_group(dispenser, 10)
        assert wait_for_removal(CARD_READER, EVENT_TIMEOUT + 5), "a card is still in the reader"
