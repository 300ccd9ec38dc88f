"""The kiosk daemon's ``[issuance]``: plain ws:// only to this machine, a dispenser driver that is installed,
the key from the environment (never the file); the dispenser's reader kept from the daemon's card handling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cardservice.daemon import ConfigError, load_settings
from cardservice.daemon._issuance import kiosk_relay
from cardservice.errors import CardError

ISSUANCE = {
    "service_url": "wss://issuer.hospital.example:8770",
    "dispenser": "k720",
    "device": "/dev/ttyUSB3",
    "reader": "Dispenser Reader 00 00",
}


def test_the_section_is_checked(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, issuance=ISSUANCE)
    assert settings.issuance is not None
    assert settings.issuance.token_env == "CARDSERVICE_ISSUANCE_TOKEN"
    with pytest.raises(ConfigError, match="use wss://"):
        load_settings(
            home=tmp_path, issuance={**ISSUANCE, "service_url": "ws://issuer.hospital.example:8770"}
        )
    assert load_settings(home=tmp_path, issuance={**ISSUANCE, "service_url": "ws://127.0.0.1:8770"}).issuance
    with pytest.raises(ConfigError, match="no-such-driver"):
        load_settings(home=tmp_path, issuance={**ISSUANCE, "dispenser": "no-such-driver"})
    with pytest.raises(ConfigError, match="token"):
        load_settings(home=tmp_path, issuance={**ISSUANCE, "token": "csk_in_the_file"})


def test_the_relay_takes_its_key_from_the_environment_and_opens_nothing_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(home=tmp_path, issuance=ISSUANCE)
    assert settings.issuance is not None
    monkeypatch.delenv("CARDSERVICE_ISSUANCE_TOKEN", raising=False)
    with pytest.raises(CardError, match=r"\$CARDSERVICE_ISSUANCE_TOKEN is not set"):
        kiosk_relay(settings.issuance)
    monkeypatch.setenv("CARDSERVICE_ISSUANCE_TOKEN", "csk_x")
    relay = kiosk_relay(settings.issuance)  # /dev/ttyUSB3 is not opened until the first issuance
    assert relay.url == "wss://issuer.hospital.example:8770/v1/issuances/relay"
    relay.close()


def test_the_dispensers_reader_is_kept_from_card_handling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cardservice.daemon._serve as serve_module

    settings = load_settings(home=tmp_path, issuance=ISSUANCE)
    captured: dict[str, Any] = {}

    class Manager:  # what serve() would build the reader manager with
        def __init__(self, backends: object, **kwargs: object) -> None:
            captured.update(kwargs)

    monkeypatch.setattr(serve_module, "ReaderManager", Manager)
    serve_module._reader_manager(settings, None, None, None, lambda *args: None)  # type: ignore[arg-type]
    assert [(r.reader, r.role) for r in captured["reserved"]] == [("Dispenser Reader 00 00", "issuer")]
