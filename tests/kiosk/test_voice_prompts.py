"""The kiosk's voice prompts: one Ogg Opus file per id of kiosk/audio/prompts.json, and none without an id.

The shipped files are espeak-ng placeholders (scripts/make-voice-prompts); a hospital replaces them with
recordings of the same text under the same names (kiosk/audio/README.md). Either way the page asks for
``/kiosk/audio/<id>.opus`` by id: a missing file is a silent screen, a stray one a prompt nobody plays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

AUDIO = Path(__file__).resolve().parents[2] / "kiosk" / "audio"


def _prompts() -> dict[str, str]:
    prompts: dict[str, str] = json.loads((AUDIO / "prompts.json").read_text(encoding="utf-8"))
    prompts.pop("_comment", None)
    return prompts


PROMPTS = _prompts()


def test_there_are_prompts_with_texts() -> None:
    assert PROMPTS
    for prompt_id, text in PROMPTS.items():
        assert isinstance(text, str), prompt_id
        assert text.strip(), prompt_id


@pytest.mark.parametrize("prompt_id", sorted(PROMPTS))
def test_every_prompt_has_an_ogg_opus_file(prompt_id: str) -> None:
    path = AUDIO / f"{prompt_id}.opus"
    assert path.is_file(), f"no {path.name}: run scripts/make-voice-prompts"
    data = path.read_bytes()
    assert data, f"{path.name} is empty"
    assert data.startswith(b"OggS"), f"{path.name} is not an Ogg file"
    assert b"OpusHead" in data[:512], f"{path.name} is Ogg but not Opus"


def test_no_file_without_a_prompt() -> None:
    stray = sorted(path.name for path in AUDIO.glob("*.opus") if path.stem not in PROMPTS)
    assert not stray, f"no id in prompts.json for {stray}: run scripts/make-voice-prompts"
