"""``card-issuer`` as an issuer meets it: real processes, pcscd + vpcd, a card-sim feeder of blank cards.

A batch of the 20 sample people goes onto the feeder's cards; each issued card reads back with
``cardservice read``; the registry lists 20 active cards; the same file again issues nothing; a file
with bad rows reports and skips them; a card reported lost (挂失) is refused by a daemon on the same
database, and accepted again after 解挂; a replacement (补卡) is accepted while its lost predecessor
stays refused.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from drivers.readers import wait_for_card, wait_for_removal
from simulators.control import send_control
from tests.pcsc.conftest import CARD_READER, EVENT_TIMEOUT, stop_process_group

pytestmark = pytest.mark.pcsc

BIN = Path(sys.executable).parent
EXAMPLES = Path(__file__).parents[2] / "examples"
PASSPHRASE = "issuer-test"


def people(path: Path = EXAMPLES / "people.csv") -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass
class Station:
    home: Path
    keys: Path
    control: Path
    feeder_dir: Path
    env: dict[str, str]

    def run(self, program: str, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / program), *(("--home", str(self.home)) if program != "card-sim" else ()), *argv],
            capture_output=True, text=True, timeout=timeout, env=self.env, check=False, cwd=self.home,
        )  # fmt: skip

    def issuer(self, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.run("card-issuer", *argv, timeout=timeout)

    def ctl(self, request: dict[str, object]) -> dict[str, object]:
        reply = send_control(self.control, request)
        assert reply.get("ok"), reply
        return reply

    def insert(self, image: Path) -> None:
        """Put *image* into the reader (out with whatever is there; pcscd must see the slot empty)."""
        self.ctl({"cmd": "remove"})
        assert wait_for_removal(CARD_READER, EVENT_TIMEOUT)
        self.ctl({"cmd": "swap", "image": str(image)})
        self.ctl({"cmd": "insert"})
        assert wait_for_card(CARD_READER, EVENT_TIMEOUT)


def serve_feeder(directory: Path, control: Path, count: int, env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [str(BIN / "card-sim"), "serve", "--vpcd", "127.0.0.1:40000", "--feeder", str(count),
         "--profile", "blank", "--feeder-dir", str(directory), "--control", str(control)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    assert wait_for_card(CARD_READER, 15), "the feeder's first card did not appear"
    deadline = time.monotonic() + 5
    while not control.exists():
        assert time.monotonic() < deadline, "no control socket"
        time.sleep(0.05)
    return process


def stop(process: subprocess.Popen[str]) -> None:
    stop_process_group(process, 10)
    assert wait_for_removal(CARD_READER, EVENT_TIMEOUT + 5), "the feeder's card is still in the reader"


def station_env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CARDSERVICE_HOME": str(home),
        "CARDSERVICE_KEYS_PASSPHRASE": PASSPHRASE,
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }


def make_station(home: Path, count: int) -> tuple[Station, subprocess.Popen[str]]:
    env = station_env(home)
    keys = home / "keys.json"
    made = subprocess.run([str(BIN / "card-sim"), "demo-keys", str(keys)], env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert made.returncode == 0, made.stderr
    control = home / "feeder.sock"
    process = serve_feeder(home / "feeder", control, count, env)
    return Station(home, keys, control, home / "feeder", env), process


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Station]:
    home = tmp_path_factory.mktemp("issuer-home")
    made, process = make_station(home, 20)
    try:
        yield made
    finally:
        stop(process)


@pytest.fixture(scope="module")
def batch(station: Station) -> subprocess.CompletedProcess[str]:
    return station.issuer(
        "batch", str(EXAMPLES / "people.csv"), "-r", CARD_READER, "--keys", str(station.keys),
        "--feeder", f"card-sim:{station.control}", "--report-dir", str(station.home / "reports"),
        "--batch", "first-20",
    )  # fmt: skip


def test_a_batch_of_20_issues_20_active_cards_with_a_report(
    station: Station, batch: subprocess.CompletedProcess[str]
) -> None:
    assert batch.returncode == 0, batch.stderr
    lines = batch.stdout.splitlines()
    assert len(lines) == 20
    assert all(" active " in line for line in lines), batch.stdout
    assert "using the published transport key of card-sim's blank cards" in batch.stderr
    for person in people():
        assert person["id_number"] not in batch.stdout + batch.stderr  # masked everywhere
        assert person["name"] not in batch.stdout + batch.stderr
    listing = station.issuer("list", "--status", "active", "--json")
    assert listing.returncode == 0, listing.stderr
    cards = json.loads(listing.stdout)
    assert len(cards) == 20
    assert len({card["issuance_serial"] for card in cards}) == 20
    assert len({card["chip_serial"] for card in cards}) == 20
    with (station.home / "reports" / "first-20.csv").open(encoding="utf-8", newline="") as handle:
        report = list(csv.DictReader(handle))
    assert [row["outcome"] for row in report] == ["active"] * 20
    summary = (station.home / "reports" / "first-20.txt").read_text(encoding="utf-8")
    assert "居民健康卡发卡批次报告" in summary
    assert "active        20" in summary
    status = station.ctl({"cmd": "status"})
    assert status["slots"]["card"]["feeder"]["remaining"] == 0  # type: ignore[index]


def test_every_issued_card_reads_back_with_cardservice_read(
    station: Station, batch: subprocess.CompletedProcess[str]
) -> None:
    assert batch.returncode == 0, batch.stderr
    for number, person in enumerate(people(), start=1):
        station.insert(station.feeder_dir / f"card-{number:04d}.json")
        read = station.run("cardservice", "read", "-r", CARD_READER, "--keys", str(station.keys), "--json")
        assert read.returncode == 0, read.stderr
        files = json.loads(read.stdout)
        assert files["DDF1/EF05"]["KH"] == person["id_number"]
        assert files["DDF1/EF05"]["XPXLH"] == f"{number:010d}"
        assert files["DDF1/EF06"]["XM"] == person["name"]
        assert files["DDF1/EF06"]["SFZH"] == person["id_number"]
        if person.get("phone"):
            assert files["DDF1/EF08"]["BRDH1"] == person["phone"]


def test_the_same_file_again_issues_nothing(
    station: Station, batch: subprocess.CompletedProcess[str]
) -> None:
    assert batch.returncode == 0, batch.stderr
    again = station.issuer(
        "batch", str(EXAMPLES / "people.csv"), "-r", CARD_READER, "--keys", str(station.keys),
        "--feeder", f"card-sim:{station.control}", "--report-dir", str(station.home / "reports"),
        "--wait", "2",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert again.stdout.count(" skipped ") == 20
    assert "20 skipped" in again.stderr
    assert len(json.loads(station.issuer("list", "--json").stdout)) == 20


def test_bad_rows_are_reported_and_skipped(station: Station, batch: subprocess.CompletedProcess[str]) -> None:
    assert batch.returncode == 0, batch.stderr
    path = EXAMPLES / "people-with-errors.csv"
    check = station.issuer("check", str(path))
    assert check.returncode == 1
    assert "row 2: id_number (SFZH): check character does not match" in check.stdout
    run = station.issuer(
        "batch", str(path), "-r", CARD_READER, "--keys", str(station.keys), "--wait", "2",
        "--report-dir", str(station.home / "reports"), "--batch", "with-errors",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "people-with-errors.csv: row 2: id_number (SFZH)" in run.stderr
    assert "; skipped" in run.stderr
    assert "赵错号" not in run.stderr + run.stdout
    with (station.home / "reports" / "with-errors.csv").open(encoding="utf-8", newline="") as handle:
        outcomes = {int(row["row"]): row["outcome"] for row in csv.DictReader(handle)}
    assert outcomes == {1: "skipped", 2: "rejected", 3: "rejected", 4: "rejected"}
    strict = station.issuer("batch", str(path), "-r", CARD_READER, "--keys", str(station.keys), "--strict")
    assert strict.returncode == 2
    assert "--strict: no card issued" in strict.stderr


# -- the daemon on the same database ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def daemon(station: Station, client_name: str) -> Iterator[httpx.Client]:
    (station.home / "cardservice.toml").write_text(
        f'[[readers]]\ncard = "vpcd 00 00"\nkeystore = "{station.keys}"\n', encoding="utf-8"
    )
    created = station.run("cardservice", "token", "create", client_name, "--scope", "kiosk")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    port = _free_port()
    process = subprocess.Popen(
        [str(BIN / "cardservice"), "--home", str(station.home), "serve", "--port", str(port)],
        env=station.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )  # fmt: skip
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"},
                          timeout=20)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if client.get("/v1/readers").status_code == 200:
                    break
            assert process.poll() is None, "the daemon exited"
            assert time.monotonic() < deadline, "the daemon did not start"
            time.sleep(0.2)
        yield client
    finally:
        client.close()
        stop_process_group(process)
        (station.home / "cardservice.toml").unlink()


def reader_state(client: httpx.Client, card_id: str | None, timeout: float = 15) -> dict[str, object]:
    """The reader once a card other than *card_id* was read (the state after an insertion)."""
    deadline = time.monotonic() + timeout
    while True:
        reader = client.get("/v1/readers/default").json()
        if reader.get("state") in ("ready", "refused") and reader.get("card_id") != card_id:
            return dict(reader)
        assert time.monotonic() < deadline, f"no new card read: {reader}"
        time.sleep(0.1)


def test_a_lost_card_is_refused_by_the_daemon_and_its_replacement_is_not(
    station: Station, batch: subprocess.CompletedProcess[str]
) -> None:
    assert batch.returncode == 0, batch.stderr
    person = people()[4]  # row 5 → card-0005.json
    number = person["id_number"]
    lost = station.issuer("lost", number)
    assert lost.returncode == 0, lost.stderr
    assert "reported lost" in lost.stdout
    with daemon(station, "kiosk-1") as client:
        station.insert(station.feeder_dir / "card-0005.json")
        refused = reader_state(client, None)
        assert refused["state"] == "refused", refused
        identity = client.get("/v1/readers/default/card/identity")
        assert identity.status_code == 403
        assert identity.json()["error"]["code"] == "card_blacklisted"

        found = station.issuer("found", number)  # 解挂
        assert found.returncode == 0, found.stderr
        station.insert(station.feeder_dir / "card-0005.json")
        again = reader_state(client, str(refused["card_id"]))
        assert again["state"] == "ready", again
        assert client.get("/v1/readers/default/card/identity").json()["name"] == person["name"]

    # 挂失 again, then 补卡 onto a fresh blank card (the issuer has the reader to itself)
    assert station.issuer("lost", number).returncode == 0
    blank = station.home / "blank.json"
    assert station.run("card-sim", "new", str(blank), "--profile", "blank").returncode == 0
    station.insert(blank)
    replaced = station.issuer("replace", number, "-r", CARD_READER, "--keys", str(station.keys),
                              "--feeder", f"card-sim:{station.control}", "--wait", "5")  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    assert "registry's copy" in replaced.stderr
    with daemon(station, "kiosk-2") as client:
        station.insert(blank)
        new_card = reader_state(client, None)
        assert new_card["state"] == "ready", new_card
        assert client.get("/v1/readers/default/card/identity").json()["name"] == person["name"]
        station.insert(station.feeder_dir / "card-0005.json")
        old_card = reader_state(client, str(new_card["card_id"]))
        assert old_card["state"] == "refused", old_card
    shown = station.issuer("show", number).stdout
    assert re.findall(r"-> (\S+)", shown) == [
        "personalising",
        "active",
        "lost",
        "active",
        "lost",
        "replaced",
        "personalising",
        "active",
    ], shown
    listing = json.loads(station.issuer("list", "--card", number, "--json").stdout)
    assert [card["status"] for card in listing] == ["replaced", "active"]
