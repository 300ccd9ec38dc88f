"""End-to-end fixtures: the virtual health card (simulators.health) with the DEMO keys, and the two SAMs
that hold them (the software SAM, ApduSam over the virtual PSAM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardservice.healthcard import ApduSam
from cardservice.keys import KeyStore, Sam, ScryptParams, SoftwareSam
from tests.healthcard.shared import SERIAL, CountingTransport, connect


@pytest.fixture(scope="module")
def demo_keystore(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    from simulators.health import write_demo_keystore

    return write_demo_keystore(
        tmp_path_factory.mktemp("keys") / "demo.json", kdf_params=ScryptParams(n=2**10)
    )


@pytest.fixture
def card_path(tmp_path: Path) -> Path:
    from simulators.health import create_health_card

    path = tmp_path / "card.json"
    create_health_card(path, serial=SERIAL)
    return path


@pytest.fixture
def card(card_path: Path) -> CountingTransport:
    return connect(card_path)


@pytest.fixture(params=["software-sam", "virtual-psam"])
def soft_sam(request: pytest.FixtureRequest, demo_keystore: KeyStore, tmp_path: Path) -> Sam:
    """The same operations with the software SAM and with ApduSam over the virtual PSAM."""
    if request.param == "software-sam":
        return SoftwareSam(demo_keystore)
    from tests.healthcard.test_psam import virtual_psam

    return ApduSam(virtual_psam(tmp_path / "sam.json", demo_keystore))
