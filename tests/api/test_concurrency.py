"""Many clients at once: one reader's operations never interleave on the card (else mutual
authentication and secure messaging would break); two readers work at the same time."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient

from cardservice.keys import KeyStore, ScryptParams, SoftwareSam
from cardservice.readers import ReaderBinding
from cardservice.transport import VirtualCard
from simulators.health import write_demo_keystore
from tests.api.conftest import (
    BASE_URL,
    CARD_READER,
    HIS,
    HOLDER,
    KIOSK,
    READER,
    SAM_READER,
    StackFactory,
)
from tests.virtualcards import RecordingCard, make_card

THREADS, REQUESTS = 20, 5
PASSPHRASE = "correct horse"


def mixed_requests(client: TestClient, worker: int) -> list[tuple[str, int]]:
    """Identity, health, an allergy named after the worker, health again, identity again."""
    card = "/v1/readers/default/card"
    out = []
    for step in range(REQUESTS):
        if step in (0, 4):
            response = client.get(f"{card}/identity", headers=KIOSK)
        elif step == 2:
            response = client.post(
                f"{card}/allergies", json={"substance": f"过敏原{worker:02d}"}, headers=HIS
            )
        else:
            response = client.get(f"{card}/health", headers=HIS)
        out.append((f"{response.request.method} {response.request.url.path}", response.status_code))
    return out


def test_concurrent_requests_on_one_reader_all_succeed(make_stack: StackFactory, tmp_path: Path) -> None:
    recording = RecordingCard(make_card(tmp_path, "health"), READER, [])
    stack = make_stack(cards={CARD_READER: recording, SAM_READER: make_card(tmp_path, "sam")})
    appends_before = recording.instructions[0xE2]
    with TestClient(stack.app, base_url=BASE_URL) as client:
        with ThreadPoolExecutor(THREADS) as pool:
            results = [r for rs in pool.map(lambda w: mixed_requests(client, w), range(THREADS)) for r in rs]
        statuses = Counter(status for _, status in results)
        assert statuses == {200: THREADS * (REQUESTS - 1), 201: THREADS}, results
        allergies = client.get(
            "/v1/readers/default/card/health", params={"files": "DDF1/DF02/EF07"}, headers=HIS
        )
    newest = [a["GMWZMC"] for a in allergies.json()["files"]["DDF1/DF02/EF07"]]
    appended = {f"过敏原{worker:02d}" for worker in range(THREADS)}
    assert len(newest) == 3  # the file's capacity: the cyclic file keeps the newest three
    assert len(set(newest)) == 3
    assert set(newest) <= appended
    assert recording.instructions[0xE2] - appends_before == THREADS  # one APPEND RECORD each, none retried
    failed = [c for c in stack.audit_calls if c["result"] != "ok"]
    assert failed == []


def test_two_readers_work_at_the_same_time(make_stack: StackFactory, tmp_path: Path) -> None:
    store = tmp_path / "demo.keystore"
    write_demo_keystore(store, PASSPHRASE, kdf_params=ScryptParams(n=2**10))
    log: list[tuple[str, float, float]] = []
    readers = {"vcard 00 00": READER, "vcard 01 00": "vcard-01-00"}
    cards: dict[str, VirtualCard | None] = {
        name: RecordingCard(make_card(tmp_path, "health"), reader, log, delay=0.005)
        for name, reader in readers.items()
    }
    stack = make_stack(
        cards=cards,
        bindings=[ReaderBinding(card=name, keystore=store, kind="in-process") for name in readers],
        software_sams={i: SoftwareSam(KeyStore.open(store, PASSPHRASE)) for i in range(2)},
        wait=tuple(readers.values()),
    )
    log.clear()
    start = threading.Barrier(2)

    def read(client: TestClient, reader: str) -> int:
        start.wait()
        return client.get(f"/v1/readers/{reader}/card/health", headers=HIS).status_code

    with TestClient(stack.app, base_url=BASE_URL) as client, ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(lambda reader: read(client, reader), readers.values()))
    assert statuses == [200, 200]
    spans = {
        reader: (min(s for r, s, _ in log if r == reader), max(e for r, _, e in log if r == reader))
        for reader in readers.values()
    }
    (a_start, a_end), (b_start, b_end) = spans.values()
    assert a_start < b_end
    assert b_start < a_end  # the two reads overlap in time


def test_two_readers_each_read_their_own_card(make_stack: StackFactory, tmp_path: Path) -> None:
    store = tmp_path / "demo.keystore"
    write_demo_keystore(store, PASSPHRASE, kdf_params=ScryptParams(n=2**10))
    readers = {"vcard 00 00": READER, "vcard 01 00": "vcard-01-00"}
    stack = make_stack(
        cards={name: make_card(tmp_path, "health") for name in readers},
        bindings=[ReaderBinding(card=name, keystore=store, kind="in-process") for name in readers],
        software_sams={i: SoftwareSam(KeyStore.open(store, PASSPHRASE)) for i in range(2)},
        wait=tuple(readers.values()),
    )
    with TestClient(stack.app, base_url=BASE_URL) as client:
        first = client.post(f"/v1/readers/{READER}/card/allergies", json={"substance": "花生"}, headers=HIS)
        assert first.status_code == 201
        for reader, expected in ((READER, "花生"), ("vcard-01-00", HOLDER["DDF1/DF02/EF07"][0]["substance"])):
            response = client.get(
                f"/v1/readers/{reader}/card/health", params={"files": "DDF1/DF02/EF07"}, headers=HIS
            )
            assert response.json()["files"]["DDF1/DF02/EF07"][0]["GMWZMC"] == expected
        sams = client.get("/v1/sams", headers=KIOSK).json()["sams"]
        assert [(s["kind"], s["present"], s["problem"]) for s in sams] == [("keystore", True, None)] * 2
