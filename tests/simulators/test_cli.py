"""``card-sim``: new / info / serve / ctl, and its errors (one line, no traceback)."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.cardos import load_card
from simulators.cli import main
from simulators.control import default_control_path
from tests.conftest import unhex
from tests.simulators.test_vpcd import WAIT, FakeVpcd, free_port, power_up

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="cs-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory)


# -- new / info -----------------------------------------------------------------------------------------


def test_new_then_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "card.json"
    assert main(["new", str(image), "--profile", "blank", "--serial", "C51D000000004201"]) == 0
    assert "serial C51D000000004201" in capsys.readouterr().out
    assert load_card(image).serial == unhex("C5 1D 00 00 00 00 42 01")
    assert main(["info", str(image)]) == 0
    out = capsys.readouterr().out
    assert "ATR 3B 8C 01 43 53 4F 53 C5 1D 00 00 00 00 42 01" in out
    assert "profile blank" in out
    assert "3F00 MF" in out
    assert "key 01: external_auth SM4 tries 15/15" in out


def test_new_t0_option(tmp_path: Path) -> None:
    image = tmp_path / "sam.json"
    assert main(["new", str(image), "--t0"]) == 0
    card = load_card(image)
    card.power_on()
    assert card.image.options.t0_get_response is True
    # SELECT without Le: the FCI is announced with 61xx and fetched with GET RESPONSE.
    assert card.process(unhex("00 A4 00 00 02 3F 00"))[0] == 0x61


def test_new_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "card.json"
    assert main(["new", str(image), "--serial", "0000000000000001"]) == 0
    assert main(["new", str(image)]) == 1
    assert "already exists (use --force" in capsys.readouterr().err
    assert main(["new", str(image), "--force", "--serial", "0000000000000002"]) == 0
    assert load_card(image).serial == unhex("00 00 00 00 00 00 00 02")


def test_new_unknown_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", str(tmp_path / "x.json"), "--profile", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("card-sim: unknown profile 'nope' (known: ")
    assert "Traceback" not in err


@pytest.mark.parametrize("serial", ["zz", "0011", "00112233445566778899"])
def test_new_bad_serial_is_a_usage_error(
    tmp_path: Path, serial: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["new", str(tmp_path / "x.json"), "--serial", serial])
    assert exit_.value.code == 2
    assert "16 hex digits" in capsys.readouterr().err


def test_info_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tmp_path / "missing.json")]) == 1
    assert "No such file or directory" in capsys.readouterr().err
    damaged = tmp_path / "damaged.json"
    damaged.write_text('{"format": "something else"}')
    assert main(["info", str(damaged)]) == 1
    err = capsys.readouterr().err
    assert "unknown image format" in err
    assert "Traceback" not in err


def test_ctl_without_simulator(short_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ctl", "--control", str(short_tmp / "none.sock"), "status"]) == 1
    assert "no card simulator is running" in capsys.readouterr().err


# -- serve + ctl ----------------------------------------------------------------------------------------


def _serve(*args: str, runtime_dir: Path | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    if runtime_dir is not None:
        env["XDG_RUNTIME_DIR"] = str(runtime_dir)
    return subprocess.Popen(
        [sys.executable, "-m", "simulators.cli", "serve", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_line(process: subprocess.Popen[str], timeout: float = WAIT) -> str:
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], timeout)
    assert readable, "card-sim serve printed nothing"
    return process.stdout.readline()


def _ctl(runtime_dir: Path, port: int, *args: str) -> tuple[int, dict[str, Any] | str]:
    """Run ``card-sim ctl --port PORT`` as a user would; returns (exit status, parsed reply or stderr)."""
    completed = subprocess.run(
        [sys.executable, "-m", "simulators.cli", "ctl", "--port", str(port), *args],
        cwd=ROOT,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir)},
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
        check=False,
    )
    if completed.returncode == 0:
        return 0, json.loads(completed.stdout)
    return completed.returncode, completed.stderr


@pytest.fixture
def vpcd() -> Iterator[FakeVpcd]:
    fake = FakeVpcd()
    yield fake
    fake.close()


def test_serve_attach_control_and_sigterm(tmp_path: Path, short_tmp: Path, vpcd: FakeVpcd) -> None:
    image = tmp_path / "card.json"
    assert main(["new", str(image), "--serial", "C51D000000004201"]) == 0
    control = short_tmp / "card-sim" / f"{vpcd.port}.sock"  # the default: serve and ctl agree on it
    process = _serve("--vpcd", f"127.0.0.1:{vpcd.port}", str(image), runtime_dir=short_tmp)
    try:
        assert _read_line(process) == f"control socket {control}\n"
        conn = vpcd.accept()
        assert conn is not None
        expected = f"card inserted in vpcd 127.0.0.1:{vpcd.port} (serial C51D000000004201)\n"
        assert _read_line(process) == expected
        with conn:
            power_up(vpcd, conn)
            assert vpcd.transmit(conn, unhex("00 A4 00 00 02 3F 00"))[-2:] == unhex("90 00")

            status, reply = _ctl(short_tmp, vpcd.port, "status")
            assert status == 0
            assert isinstance(reply, dict)
            slots = reply["slots"]
            assert slots["card"]["apdus"] == 1
            assert slots["card"]["connected"] is True

            status, reply = _ctl(short_tmp, vpcd.port, "remove")
            assert status == 0
            assert vpcd.closed_by_peer(conn)
        assert _read_line(process).startswith("card removed from vpcd")

        status, reply = _ctl(short_tmp, vpcd.port, "insert", "--slot", "card")
        assert status == 0
        again = vpcd.accept()
        assert again is not None
        again.close()

        status, error = _ctl(short_tmp, vpcd.port, "status", "--slot", "sam")
        assert status == 1
        assert "unknown slot 'sam'" in str(error)

        process.send_signal(signal.SIGTERM)
        assert process.wait(WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()
        process.stderr.close()
    assert not control.exists()  # the socket is removed on exit


def test_serve_sigint_exits_cleanly(tmp_path: Path, short_tmp: Path) -> None:
    """No vpcd at all: serve keeps retrying, and Ctrl-C still ends it with status 0."""
    image = tmp_path / "card.json"
    assert main(["new", str(image)]) == 0
    port = free_port()  # nobody listens there
    process = _serve("--vpcd", f"127.0.0.1:{port}", str(image), "--control", str(short_tmp / "c.sock"))
    try:
        assert _read_line(process).startswith("control socket")
        assert "not reachable" in _read_line(process)
        process.send_signal(signal.SIGINT)
        assert process.wait(WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()
        process.stderr.close()


def test_serve_bad_image_exits_1(tmp_path: Path, short_tmp: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    process = _serve("--vpcd", "127.0.0.1:1", str(bad), "--control", str(short_tmp / "c.sock"))
    _, err = process.communicate(timeout=WAIT * 2)
    assert process.returncode == 1
    assert err.startswith(f"card-sim: {bad}: not a card image")
    assert "Traceback" not in err
    assert not (short_tmp / "c.sock").exists()


def test_serve_bad_endpoint_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--vpcd", "localhost", str(tmp_path / "x.json")])
    assert exit_.value.code == 2
    assert "expected HOST:PORT" in capsys.readouterr().err


def test_default_socket_follows_the_port(monkeypatch: pytest.MonkeyPatch, short_tmp: Path) -> None:
    """serve and ctl agree on the socket without flags: it is named after the card slot's port."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short_tmp))
    assert main(["ctl", "--port", "40123", "status"]) == 1
    assert not (short_tmp / "card-sim").exists()  # ctl never creates anything
    assert default_control_path(40123) == short_tmp / "card-sim" / "40123.sock"


def test_new_health_card_and_sam_from_a_key_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cardservice.keys import ScryptParams
    from simulators.health import write_demo_keystore

    keys = tmp_path / "issuer-keys.json"
    write_demo_keystore(keys, passphrase="s3cret", kdf_params=ScryptParams(n=2**10))
    monkeypatch.setenv("CARDSERVICE_KEYS_PASSPHRASE", "s3cret")
    assert main(["new", str(tmp_path / "card.json"), "--profile", "health", "--keys", str(keys)]) == 0
    sam = ["new", str(tmp_path / "sam.json"), "--profile", "sam", "--keys", str(keys), "--pin", "1234"]
    assert main(sam) == 0
    assert load_card(tmp_path / "card.json").describe().count("WS.SYS.DDF01") == 1

    monkeypatch.setenv("CARDSERVICE_KEYS_PASSPHRASE", "wrong")
    assert main(["new", str(tmp_path / "other.json"), "--profile", "health", "--keys", str(keys)]) == 1
    err = capsys.readouterr().err
    assert "cannot be opened" in err
    assert "s3cret" not in err
    assert not (tmp_path / "other.json").exists()


def test_new_keys_without_passphrase_source_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CARDSERVICE_KEYS_PASSPHRASE", raising=False)
    with open(os.devnull) as devnull:
        monkeypatch.setattr(sys, "stdin", devnull)
        assert main(["new", str(tmp_path / "c.json"), "--profile", "health", "--keys", "k.json"]) == 1
    assert "CARDSERVICE_KEYS_PASSPHRASE" in capsys.readouterr().err


def test_profile_option_the_profile_does_not_take(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", str(tmp_path / "c.json"), "--profile", "blank", "--holder", "h.json"]) == 1
    assert "holder" in capsys.readouterr().err


def test_demo_keys_writes_the_demo_set_as_a_key_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cardservice.keys import KeyStore
    from simulators.health import demo_master_keys

    store = tmp_path / "demo-keys.json"
    monkeypatch.setenv("CARDSERVICE_KEYS_PASSPHRASE", "pw")
    assert main(["demo-keys", str(store)]) == 0
    assert store.stat().st_mode & 0o777 == 0o600
    opened = KeyStore.open(store, "pw")
    assert opened.get_key("RK1DF03") == demo_master_keys()["RK1DF03"]
    assert main(["new", str(tmp_path / "card.json"), "--profile", "health", "--keys", str(store)]) == 0
    assert main(["demo-keys", str(store)]) == 1  # never overwrites a key store
    assert "already exists" in capsys.readouterr().err
