"""``card-issuer batch`` killed with SIGKILL at a random card, then run again: no card issued twice, none
missed, the interrupted card completed or marked spoiled — through pcscd, on a card-sim feeder.

The kill point is random (printed with the failure; ``ISSUER_KILL_SEED`` replays one): after k cards
were reported and a further random fraction of a card's time, i.e. anywhere in the next card's life:
taking it, the registry's reservation, CREATE FILE / WRITE KEY / the writes, the read-back, the eject.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cardservice.issuance._batch import chip_serial
from simulators.cardos import load_card
from tests.pcsc.conftest import CARD_READER
from tests.pcsc.test_issuer_pcsc import BIN, EXAMPLES, make_station, stop

pytestmark = pytest.mark.pcsc

PEOPLE = 5


def _subset(path: Path) -> list[dict[str, str]]:
    with (EXAMPLES / "people.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)[:PEOPLE]
        fields = reader.fieldnames
    assert fields is not None
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return rows


@pytest.mark.parametrize("round_", [1, 2])
def test_killed_mid_batch_resumes_without_duplicates_or_gaps(tmp_path: Path, round_: int) -> None:
    seed = int(os.environ.get("ISSUER_KILL_SEED", random.randrange(1 << 30)))
    chance = random.Random(seed)
    people = _subset(tmp_path / "five.csv")
    station, feeder = make_station(tmp_path, PEOPLE + 4)
    command = [str(BIN / "card-issuer"), "--home", str(station.home), "batch", str(tmp_path / "five.csv"),
               "-r", CARD_READER, "--keys", str(station.keys), "--feeder", f"card-sim:{station.control}",
               "--wait", "10", "--report-dir", str(tmp_path / "reports")]  # fmt: skip
    try:
        reported = chance.randrange(0, PEOPLE - 1)
        delay = chance.uniform(0.0, 1.2)
        where = f"seed {seed}: killed after {reported} cards + {delay:.2f} s"
        process = subprocess.Popen(command, env=station.env, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True, start_new_session=True)  # fmt: skip
        assert process.stdout is not None
        for _ in range(reported):
            assert process.stdout.readline(), where
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        process.stdout.close()

        resumed = subprocess.run(
            command, env=station.env, capture_output=True, text=True, timeout=300, check=False
        )
        assert resumed.returncode == 0, f"{where}\n{resumed.stderr}"
        cards = json.loads(station.issuer("list", "--json").stdout)
        statuses = [card["status"] for card in cards]
        assert statuses.count("active") == PEOPLE, f"{where}: {statuses}"
        assert statuses.count("spoiled") <= 1, f"{where}: {statuses}"
        assert set(statuses) <= {"active", "spoiled"}, f"{where}: {statuses}"
        active = [card for card in cards if card["status"] == "active"]
        assert sorted(card["card"] for card in active) == sorted(
            f"{p['id_number'][:4]}{'*' * 12}{p['id_number'][-2:]}" for p in people
        ), where  # each person once: none twice, none missed

        # every active card is a real, complete card: read it back through pcscd
        images = {
            chip_serial(load_card(path).power_on()): path for path in station.feeder_dir.glob("card-*.json")
        }
        by_serial = {p["id_number"]: p for p in people}
        for card in active:
            station.insert(images[card["chip_serial"]])
            read = station.run(
                "cardservice", "read", "-r", CARD_READER, "--keys", str(station.keys), "--json"
            )
            assert read.returncode == 0, f"{where}: {read.stderr}"
            files = json.loads(read.stdout)
            assert files["DDF1/EF05"]["XPXLH"] == card["issuance_serial"], where
            assert files["DDF1/EF06"]["XM"] == by_serial[files["DDF1/EF05"]["KH"]]["name"], where
    finally:
        stop(feeder)
