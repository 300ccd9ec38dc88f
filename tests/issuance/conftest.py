from __future__ import annotations

import pytest

from cardservice.keys import KeyStore, ScryptParams, SoftwareSam
from tests.dbfixtures import database, database_url

__all__ = ["database", "database_url"]


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    from simulators.health import write_demo_keystore

    return write_demo_keystore(
        tmp_path_factory.mktemp("keys") / "demo.json", kdf_params=ScryptParams(n=2**10)
    )


@pytest.fixture
def demo_sam(demo_store: KeyStore) -> SoftwareSam:
    return SoftwareSam(demo_store)
