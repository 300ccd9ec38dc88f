"""card-sim's feeder as the issuer drives it: which control socket serves a reader, and the eject request
over a real Unix socket (a stand-in server here; the whole path through pcscd is tests/pcsc)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardservice import plugins
from cardservice.errors import CardError
from drivers.feeders import (
    ControlError,
    card_sim_control_path,
    card_sim_feeder,
    default_control_path,
    send_control,
)


def test_the_feeder_control_socket_follows_the_reader_slot_unless_given() -> None:
    assert card_sim_control_path("cardservice-vpcd 00 00") == default_control_path(40000)
    assert card_sim_control_path("cardservice-vpcd 00 01") == default_control_path(40001)
    assert card_sim_control_path("Some Reader") == default_control_path(40000)
    assert card_sim_control_path("cardservice-vpcd 00 00", "35963") == default_control_path(35963)
    assert card_sim_control_path("cardservice-vpcd 00 00", "/run/x.sock") == Path("/run/x.sock")


@pytest.fixture
def control(tmp_path: Path) -> Iterator[tuple[Path, list[dict[str, object]], list[dict[str, object]]]]:
    """A Unix socket that answers each JSON line with the next of *replies* and records the requests."""
    path = tmp_path / "card-sim.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    requests: list[dict[str, object]] = []
    replies: list[dict[str, object]] = []

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection, connection.makefile("rwb") as stream:
                line = stream.readline()
                requests.append(json.loads(line))
                stream.write(json.dumps(replies.pop(0)).encode() + b"\n")
                stream.flush()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, requests, replies
    server.close()


def test_eject_asks_card_sim_and_succeeds_when_it_says_ok(
    control: tuple[Path, list[dict[str, object]], list[dict[str, object]]],
) -> None:
    path, requests, replies = control
    replies.append({"ok": True, "slot": "card"})
    eject = card_sim_feeder("cardservice-vpcd 00 00", str(path))
    eject()
    assert requests == [{"cmd": "eject"}]


def test_a_refused_eject_is_a_card_error_with_card_sims_reason(
    control: tuple[Path, list[dict[str, object]], list[dict[str, object]]],
) -> None:
    path, _, replies = control
    replies.append({"ok": False, "error": "the hopper is empty"})
    with pytest.raises(CardError, match="eject refused: the hopper is empty"):
        card_sim_feeder("cardservice-vpcd 00 00", str(path))()


def test_no_simulator_is_one_clear_sentence(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="no card simulator is running"):
        send_control(tmp_path / "nobody.sock", {"cmd": "status"})
    with pytest.raises(CardError, match="feeder: no card simulator is running"):
        card_sim_feeder("reader", str(tmp_path / "nobody.sock"))()


def test_the_issuer_finds_the_feeder_by_name() -> None:
    assert plugins.load(plugins.FEEDERS, "card-sim") is card_sim_feeder
    assert "card-sim" in plugins.available(plugins.FEEDERS)
    with pytest.raises(plugins.PluginError, match="no card feeder 'robot'; there are: card-sim"):
        plugins.load(plugins.FEEDERS, "robot")
