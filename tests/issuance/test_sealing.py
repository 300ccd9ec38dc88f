"""The registry's copy of card contents is ciphertext at rest, bound to its row and to the issuer's keys."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cardservice.errors import CryptoError
from cardservice.issuance._registry import Registry, RegistryError
from cardservice.issuance._sealing import REGISTRY_KEY_NAME, ContentCipher
from cardservice.keys import KeyStore, ScryptParams, Sm2PrivateKey
from cardservice.store import CardRow, Database

NUMBER = "110105198503071230"
CONTENT = '{"DDF1/EF06": {"name": "李明", "id_number": "110105198503071230"}}'


def test_contents_are_sealed_in_the_database_and_open_only_with_the_keys(
    database: Database, demo_store: KeyStore, tmp_path: object
) -> None:
    registry = Registry(database, ContentCipher.from_keystore(demo_store))
    first = registry.begin(NUMBER, actor="t")
    registry.attach(first.id, chip_serial="AA", content=CONTENT)
    assert registry.content(first.id) == CONTENT
    with database.session(readonly=True) as session:
        stored = session.execute(select(CardRow.content).where(CardRow.id == first.id)).scalar_one()
    assert stored.startswith("v1:")
    for clear in ("李明", NUMBER, "name"):
        assert clear not in stored

    with pytest.raises(RegistryError, match="encrypted"):
        Registry(database).content(first.id)  # no key store, no contents
    with pytest.raises(RegistryError, match="encrypted"):
        Registry(database).attach(first.id, chip_serial="AA", content=CONTENT)  # never stored in clear

    other = KeyStore.create(tmp_path / "other.json", "x", kdf_params=ScryptParams(n=2**10))  # type: ignore[operator]
    other.set_sm2_private_key(Sm2PrivateKey.generate())
    with pytest.raises(CryptoError, match="does not open"):
        Registry(database, ContentCipher.from_keystore(other)).content(first.id)


def test_a_copy_moved_to_another_row_does_not_open(database: Database, demo_store: KeyStore) -> None:
    cipher = ContentCipher.from_keystore(demo_store)
    registry = Registry(database, cipher)
    first = registry.begin(NUMBER, actor="t")
    registry.attach(first.id, chip_serial="AA", content=CONTENT)
    registry.spoil(first.id, actor="t", reason="test")
    second = registry.begin(NUMBER, actor="t")
    with database.session() as session:
        rows = {row.id: row for row in session.execute(select(CardRow)).scalars()}
        rows[second.id].content = rows[first.id].content
    with pytest.raises(CryptoError, match="does not open"):
        registry.content(second.id)


def test_a_dedicated_registry_key_takes_precedence(tmp_path: object) -> None:
    store = KeyStore.create(tmp_path / "k.json", "x", kdf_params=ScryptParams(n=2**10))  # type: ignore[operator]
    with pytest.raises(CryptoError, match="neither"):
        ContentCipher.from_keystore(store)
    store.put_key(REGISTRY_KEY_NAME, bytes(16))
    sealed = ContentCipher.from_keystore(store).seal(1, "0000000001", "x")
    store.set_sm2_private_key(Sm2PrivateKey.generate())
    assert ContentCipher.from_keystore(store).open(1, "0000000001", sealed) == "x"
