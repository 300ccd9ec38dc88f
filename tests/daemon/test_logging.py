"""The daemon's log: short human lines on a terminal, one JSON object per line for the journal and the log
file (stderr not a terminal, or ``log_file`` set)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardservice.daemon import configure_logging, load_settings

MIGRATION = "Running upgrade 0001 -> 0002, One active key per client name, enforced by the database:\ntwo ..."


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does under ``make run``."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging sets the root logger up for the process: put back what pytest had."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    alembic = logging.getLogger("alembic").level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(alembic)


def emit() -> None:
    logging.getLogger("cardservice.daemon").info("stopped after %d s", 3)
    logging.getLogger("alembic.runtime.migration").info(MIGRATION)
    logging.getLogger("alembic.runtime.migration").warning("revision 0009 is not known")
    try:
        raise RuntimeError("the printer fell over")
    except RuntimeError:
        logging.getLogger("cardservice.printing").exception("print job pj_1 failed")


def test_a_terminal_gets_short_human_lines(tmp_path: Path) -> None:
    stream = Terminal()
    configure_logging(load_settings(home=tmp_path), stream=stream)
    emit()
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO cardservice\.daemon: stopped after 3 s", lines[0]), lines
    # alembic's INFO (a line per migration, with its docstring) is noise there; its warnings are not
    assert "Running upgrade" not in stream.getvalue()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d WARNING alembic\.runtime\.migration: revision 0009 is not known", lines[1]
    )
    assert re.fullmatch(r"\d\d:\d\d:\d\d ERROR cardservice\.printing: print job pj_1 failed", lines[2])
    assert lines[3] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: the printer fell over"
    assert "{" not in stream.getvalue()


def test_the_journal_gets_json_lines(tmp_path: Path) -> None:
    """stderr not a terminal (systemd's journal, a pipe): one JSON object per line, alembic included."""
    stream = io.StringIO()
    configure_logging(load_settings(home=tmp_path), stream=stream)
    emit()
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(entry["level"], entry["logger"]) for entry in entries] == [
        ("INFO", "cardservice.daemon"),
        ("INFO", "alembic.runtime.migration"),
        ("WARNING", "alembic.runtime.migration"),
        ("ERROR", "cardservice.printing"),
    ]
    assert entries[0]["msg"] == "stopped after 3 s"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", entries[0]["ts"])
    assert entries[1]["msg"] == MIGRATION
    assert "RuntimeError: the printer fell over" in entries[3]["exc"]


def test_a_log_file_gets_json_lines_even_from_a_terminal(tmp_path: Path) -> None:
    stream = Terminal()
    log_file = tmp_path / "log" / "cardservice.jsonl"
    configure_logging(load_settings(home=tmp_path, log_file=log_file), stream=stream)
    emit()
    entries = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    assert [entry["logger"] for entry in entries][:2] == ["cardservice.daemon", "alembic.runtime.migration"]
    assert stream.getvalue() == ""


def test_the_level_is_the_configured_one(tmp_path: Path) -> None:
    stream = Terminal()
    configure_logging(load_settings(home=tmp_path, log_level="warning"), stream=stream)
    emit()
    assert "stopped after" not in stream.getvalue()
    assert "print job pj_1 failed" in stream.getvalue()
