"""``blacklist remove`` of both programs (``cardservice`` and ``card-issuer``) next to the card
registry: a card reported lost stays refused — its entry follows the registry, not the operator's
remove — while the entries added by hand come off."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from cardservice.access import Blacklist
from cardservice.cli import issuer_main, main
from cardservice.issuance import CardStatus, Registry
from cardservice.store import Database

NUMBER = "110105198503071230"
MASKED = "1101************30"


@dataclass
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture(params=["cardservice", "card-issuer"])
def run(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    database_url: str,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Run:
    monkeypatch.setenv("CARDSERVICE_DATABASE_URL", database_url)
    program = main if request.param == "cardservice" else issuer_main

    def run(*argv: str) -> Result:
        code = program(["--home", str(tmp_path / "home"), *argv])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        return Result(code, captured.out, captured.err)

    run.program = request.param  # type: ignore[attr-defined]
    return run


@pytest.fixture
def lost(database: Database) -> str:
    """The person's card, issued and then reported lost (挂失): its issuance serial."""
    registry = Registry(database)
    card = registry.begin(NUMBER, actor="tester")
    registry.complete(card.id, actor="tester")
    registry.transition(NUMBER, CardStatus.LOST, actor="clerk")
    assert card.issuance_serial is not None
    return card.issuance_serial


def test_remove_leaves_the_registrys_entry_of_a_lost_card(run: Run, database: Database, lost: str) -> None:
    program = run.program  # type: ignore[attr-defined]
    refused = run("blacklist", "remove", NUMBER)
    assert refused.code == 1
    assert refused.err == (
        f"{program} blacklist: card {lost} is on the blacklist because the card registry says 挂失: it comes "
        "off with the card's status (card-issuer found / unlock CARD_NUMBER), not by hand\n"
    )
    by_serial = run("blacklist", "remove", NUMBER, "--serial", lost)
    assert (by_serial.code, by_serial.err) == (1, refused.err)
    assert Blacklist(database).lookup(NUMBER, lost) is not None  # the daemon still refuses the card
    assert Registry(database).cards(card_number=NUMBER)[0].status is CardStatus.LOST

    # a manual entry of the same number comes off; the registry's stays (and the operator is told)
    assert run("blacklist", "add", NUMBER, "--reason", "stolen").code == 0
    removed = run("blacklist", "remove", NUMBER)
    assert removed.code == 0, removed.err
    assert removed.out == (
        f"removed {MASKED} from the blacklist\ncard {lost} stays on it: listed by the card registry (挂失)\n"
    )
    assert [(e.issuance_serial, e.source) for e in Blacklist(database).entries()] == [(lost, "registry")]
    assert Blacklist(database).lookup(NUMBER, lost) is not None

    shown = run("audit", "show", "--json") if program == "cardservice" else None
    if shown is not None:
        actions = [(e["action"], e["result"]) for e in json.loads(shown.out)]
        assert actions == [
            ("blacklist.remove", "refused"),
            ("blacklist.remove", "refused"),
            ("blacklist.add", "ok"),
            ("blacklist.remove", "ok"),
        ]
