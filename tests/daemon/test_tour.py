"""The README's first steps, run as written: ``cardservice serve --demo`` (its cards in-process: no pcscd
is asked, whether one runs or not) prints a kiosk key beside the HIS key and writes both, with its URL,
to ``HOME/demo-api-keys.json`` (0600, removed at stop); ``scripts/tour`` takes them from there and runs a
patient's visit end to end, as often as one likes; the README's tour is the script's own commands."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.healthcard.shared import DEMO

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TOUR = ROOT / "scripts" / "tour"
ID_NUMBER = DEMO["DDF1/EF06"]["id_number"]
MASKED = ID_NUMBER[:4] + "*" * 12 + ID_NUMBER[-2:]


@dataclass
class DemoDaemon:
    home: Path
    url: str
    announced: list[str]
    process: subprocess.Popen[str]

    def tour(self) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "CARDSERVICE_HOME": str(self.home)}
        return subprocess.run(
            [str(TOUR)], env=environment, capture_output=True, text=True, timeout=60, check=False
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM to the daemon (its children die with it), SIGKILL to its process group if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoDaemon]:
    home = tmp_path / "home"
    port = _free_port()
    environment = {
        **os.environ,
        "CARDSERVICE_HOME": str(home),
        "PATH": f"{BIN}:{os.environ['PATH']}",
        # pcscd's client library asks this socket instead of the machine's: "pcscd is not reachable", so the
        # demo cards run in-process and this test never touches a pcscd that other tests use.
        "PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd.comm"),
    }
    process = subprocess.Popen(
        [str(BIN / "cardservice"), "serve", "--demo", "--port", str(port)],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group, for the teardown
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        announced: list[str] = []
        deadline = time.monotonic() + 30
        while not any(line.startswith("demo API key") for line in announced):
            line = process.stdout.readline()
            assert line, f"serve --demo exited: {process.stderr.read()}"
            assert time.monotonic() < deadline, "no demo key printed"
            announced.append(line.rstrip("\n"))
        for stream in (process.stdout, process.stderr):
            threading.Thread(target=lambda s=stream: (s.read(), s.close()), daemon=True).start()
        running = DemoDaemon(home, f"http://127.0.0.1:{port}", announced, process)
        keys = json.loads((home / "demo-api-keys.json").read_text(encoding="utf-8"))
        with httpx.Client(base_url=running.url, headers={"X-API-Key": keys["kiosk"]}, timeout=10) as client:
            deadline = time.monotonic() + 20
            while True:  # the keys are announced just before uvicorn listens, and the card is read meanwhile
                with contextlib.suppress(httpx.ConnectError):
                    if client.get("/v1/readers/default").json().get("state") == "ready":
                        break
                assert time.monotonic() < deadline, "the demo card was not read"
                time.sleep(0.05)
        yield running
    finally:
        _stop(process)


def test_the_demo_prints_a_kiosk_key_beside_the_his_key_and_writes_both(demo: DemoDaemon) -> None:
    lines = demo.announced
    kiosk_line = next(i for i, line in enumerate(lines) if line.startswith("demo kiosk key (scope kiosk"))
    assert lines[kiosk_line + 1].startswith("demo API key (scope his")
    assert "pcscd is not reachable" in lines[0]
    printed = {"kiosk": lines[kiosk_line].rsplit(" ", 1)[-1], "his": lines[kiosk_line + 1].rsplit(" ", 1)[-1]}
    keys_file = demo.home / "demo-api-keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    printer_pid = int(
        next(re.findall(r"kill -USR1 (\d+)", line) for line in lines if "kill -USR1" in line)[0]
    )
    written = json.loads(keys_file.read_text(encoding="utf-8"))
    idcard = next(line for line in lines if line.startswith("demo ID-card reader:")).split()
    control, card = idcard[idcard.index("--control") + 1], idcard[idcard.index("place") + 1]
    pad = next(line for line in lines if line.startswith("demo PIN pad")).split()
    bank = next(line for line in lines if line.startswith("demo bank:"))
    acquirer = re.findall(r"(http://127\.0\.0\.1:\d+)/control/qr/scan", bank)[0]
    assert written == {"url": demo.url, **printed, "printer_pid": printer_pid,
                       "idcard_control": control, "idcard_card": card,
                       "pinpad_control": pad[pad.index("--control") + 1],
                       "acquirer": acquirer}  # fmt: skip
    assert Path(card).is_file()
    assert any(str(keys_file) in line for line in lines)
    # the printer's real folder, under this CARDSERVICE_HOME
    assert any(line.startswith(f"demo printer: tickets in {demo.home / 'printer-out'} ") for line in lines)
    with httpx.Client(base_url=demo.url, timeout=10) as client:
        identity = "/v1/readers/default/card/identity"
        masked = client.get(identity, headers={"X-API-Key": printed["kiosk"]}).json()
        assert (masked["masked"], masked["id_number"]) == (True, MASKED)
        assert client.get(identity, headers={"X-API-Key": printed["his"]}).json()["id_number"] == ID_NUMBER
    _stop(demo.process)
    assert not keys_file.exists()  # the file names the running demo only


def test_the_tour_runs_a_visit_end_to_end_and_again(demo: DemoDaemon) -> None:
    for run in (1, 2):  # again: new idempotency keys, another slot
        done = demo.tour()
        assert done.returncode == 0, f"run {run}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        out = done.stdout
        assert f'"id_number":"{MASKED}"' in out  # the kiosk's view first
        assert f'"id_number":"{ID_NUMBER}"' in out  # then the HIS's
        assert '"status":"booked"' in out
        assert '"kind":"bill","method":"prepaid","status":"settled"' in out
        assert out.count('"status":"printed"') == 3
        assert "挂号单" in out
        assert "csk_" not in out + done.stderr  # the keys are used, never shown
    tickets = sorted(path.name for path in (demo.home / "printer-out").glob("ticket-*.txt"))
    assert tickets == [f"ticket-{n:04d}.txt" for n in range(1, 7)]
    assert re.search(r"ticket-0006\.png", done.stdout)


def test_the_tour_says_what_is_missing_without_a_demo(tmp_path: Path) -> None:
    environment = {**os.environ, "CARDSERVICE_HOME": str(tmp_path)}
    done = subprocess.run(
        [str(TOUR)], env=environment, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 1
    assert f"no {tmp_path / 'demo-api-keys.json'}: start the demo first (make run)" in done.stderr


def _readme_block_after(marker: str) -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(marker)
    block = readme[readme.index("```sh\n", start) + len("```sh\n") :]
    return [line for line in block[: block.index("```")].splitlines() if line.strip()]


def test_the_readme_tour_is_the_script() -> None:
    """Every command of the README's visit is the script's, in the same order (the script only adds its
    checks and headings): the README runs as written, and stays so."""
    script = [line for line in TOUR.read_text(encoding="utf-8").splitlines() if line.strip()]
    first = _readme_block_after("Then, in another terminal, from this folder:")
    assert first[0].startswith("KEYS=")
    block = first[:3] + _readme_block_after("`scripts/tour` runs it end to end")  # the keys, then the visit
    assert len(block) > 10
    at = 0
    for line in block:
        assert line in script[at:], f"README line not in scripts/tour (in this order): {line}"
        at = script.index(line, at) + 1


def test_the_readme_commands_have_no_placeholders() -> None:
    """Keys, ids and PIDs come from the running demo (demo-api-keys.json) and from the answers: nothing to
    copy by hand into the README's commands."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = "\n".join(re.findall(r"```sh\n(.*?)```", readme, re.DOTALL))
    for placeholder in ("csk_...", "pj_...", "KEY=", '"SLOT"', '"BILL"', ": FEE", '"ID"', '"REF"', " PID "):
        assert placeholder not in commands, placeholder
