"""Issue 16: the registry and the blacklist as another kiosk sees them, through pcscd — two kiosk daemons
(``cardservice serve`` processes) and the issuance service on one PostgreSQL database.

Kiosk A issues from its dispenser (the simulator's read position: the serial twin reader, vpcd 40002).
Kiosk B has a dispenser too (mechanics only: nothing reaches its read position in this test), a card reader
with a PSAM (``cardservice-vpcd 00 00`` / ``00 01``, served by card-sim) and its own ID-card reader. The
person A gave a card is refused a second one at B before B's dispenser moves; the card in B's reader is read;
reported lost at the counter (the registry, on the same database), B refuses it at its next insertion, and
takes it again once found (解挂); a person the counter blacklisted is refused issuance at B."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cardservice.access import Blacklist
from cardservice.issuance import CardStatus, Registry
from cardservice.store import open_database
from simulators.cardos import create_image
from simulators.control import send_control
from tests.dbfixtures import new_postgres_database, postgres_url
from tests.pcsc.conftest import CARD_PORT, CARD_READER, SAM_READER, stop_process_group
from tests.pcsc.test_issuance_kill_pcsc import (
    PASSPHRASE,
    KioskDaemon,
    _lay,
    _spawn,
    _until,
    dispenser,
    idcard_reader,
    issuance_service,
    make_people,
)

pytestmark = pytest.mark.pcsc

TWIN = "cardservice-twin 00 00"  # scripts/pcscd-ctl's serial reader; card port 40002


def _service_token(home: Path, name: str) -> str:
    env = {**os.environ, "CARDSERVICE_ISSUANCE_HOME": str(home), "CARDSERVICE_KEYS_PASSPHRASE": PASSPHRASE}
    made = subprocess.run([sys.executable, "-m", "cardservice.issuance_service", "token", "create", name],
                          env=env, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


@contextlib.contextmanager
def reader_with_psam(directory: Path, card: Path) -> Iterator[Path]:
    """card-sim: *card* in kiosk B's card reader, and its PSAM; its control socket."""
    directory.mkdir()
    sam, control = directory / "sam.json", directory / "card-sim.sock"
    create_image(sam, "sam")
    process = _spawn(
        [sys.executable, "-m", "simulators.cli", "serve", "--vpcd", f"localhost:{CARD_PORT}", str(card),
         "--sam-vpcd", f"localhost:{CARD_PORT + 1}", str(sam), "--control", str(control)],
        dict(os.environ), directory / "card-sim.log",
    )  # fmt: skip
    try:
        _until(control.exists, "card-sim up", process)
        yield control
    finally:
        stop_process_group(process, 10)


def _issue(daemon: KioskDaemon, card_id: str) -> Any:
    with daemon.client(timeout=60) as client:
        body = {"reader": "idcard", "phone": "13800000009", "consent": True}
        return client.post("/v1/issuance", json=body, headers={"X-Card-Id": card_id})


def _reader_state(daemon: KioskDaemon, wanted: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def state() -> bool:
        with daemon.client() as client:
            readers = client.get("/v1/readers").json()["readers"]
        found.update(next((r for r in readers if r["name"] == CARD_READER), {}))
        return found.get("state") == wanted

    _until(state, f"kiosk B's reader {wanted}", daemon.process, timeout=20)
    return found


def _reinsert(control: Path, daemon: KioskDaemon, wanted: str) -> dict[str, Any]:
    assert send_control(control, {"cmd": "remove"}).get("ok")
    _reader_state(daemon, "empty")
    assert send_control(control, {"cmd": "insert"}).get("ok")
    return _reader_state(daemon, wanted)


def test_a_card_issued_at_one_kiosk_as_another_kiosk_sees_it(tmp_path: Path) -> None:
    import random

    patient, stranger = make_people(random.Random(16), tmp_path / "people")[:2]
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(new_postgres_database(postgres_url(), "t_kiosks"))
        service_url, token_a, _ = stack.enter_context(issuance_service(tmp_path / "service", url))
        token_b = _service_token(tmp_path / "service", "kiosk-b")
        link_a, control_a = stack.enter_context(dispenser(tmp_path / "disp-a", vpcd="127.0.0.1:40002",
                                                          reader=TWIN, cards=3))  # fmt: skip
        link_b, control_b = stack.enter_context(dispenser(tmp_path / "disp-b", vpcd="127.0.0.1:40009",
                                                          reader=None, cards=3))  # fmt: skip
        (tmp_path / "id-a").mkdir()
        (tmp_path / "id-b").mkdir()
        id_a, id_control_a = stack.enter_context(idcard_reader(tmp_path / "id-a"))
        id_b, id_control_b = stack.enter_context(idcard_reader(tmp_path / "id-b"))
        ignore = "".join(
            f'\n[[readers]]\nreader = "{name}"\nrole = "ignored"\n' for name in (CARD_READER, SAM_READER)
        )
        # The daemons' API keys and the service's live in one table on the shared database: names differ.
        kiosk_a = KioskDaemon(tmp_path / "kiosk-a", service_url, token_a, link_a, id_a, reader=TWIN,
                              more=ignore, database_url=url, name="kiosk-a-screen")  # fmt: skip
        readers_b = f'\n[[readers]]\ncard = "{CARD_READER}"\nsam = "{SAM_READER}"\n'
        readers_b += f'\n[[readers]]\nreader = "{TWIN}"\nrole = "ignored"\n'
        kiosk_b = KioskDaemon(tmp_path / "kiosk-b", service_url, token_b, link_b, id_b,
                              reader="kiosk-b read position", more=readers_b, database_url=url,
                              name="kiosk-b-screen")  # fmt: skip
        for daemon in (kiosk_a, kiosk_b):
            stack.callback(daemon.stop)
            daemon.start()

        # kiosk A: the patient's card
        issued = _issue(kiosk_a, _lay(kiosk_a, id_control_a, patient, None))
        assert issued.status_code == 200, issued.text
        card = Path(send_control(control_a, {"cmd": "dispenser"})["dispenser"]["taken"][0])

        # kiosk B: no second card for the patient; B's dispenser never moved
        again = _issue(kiosk_b, _lay(kiosk_b, id_control_b, patient, None))
        assert again.status_code == 409, again.text
        assert again.json()["error"]["code"] == "issuance_has_card"
        assert send_control(control_b, {"cmd": "dispenser"})["dispenser"]["stack"] == 3

        # the card in kiosk B's reader: read; lost at the counter: refused; found: read again
        card_control = stack.enter_context(reader_with_psam(tmp_path / "sim-b", card))
        ready = _reader_state(kiosk_b, "ready")
        with kiosk_b.client() as client:
            identity = client.get("/v1/readers/default/card/identity")
        assert identity.status_code == 200, identity.text
        assert identity.json()["card_number"] == patient.masked
        with open_database(url) as database:  # the counter: card-issuer lost / found on the same database
            registry = Registry(database)
            registry.transition(patient.id_number, CardStatus.LOST, actor="counter", reason="挂失")
            refused = _reinsert(card_control, kiosk_b, "refused")
            assert refused["problem"]["code"] == "card_blacklisted"
            registry.transition(patient.id_number, CardStatus.ACTIVE, actor="counter", reason="解挂")
            assert _reinsert(card_control, kiosk_b, "ready")["card_id"] != ready["card_id"]
            Blacklist(database).add(stranger.id_number, "冒用证件", listed_by="counter")

        # a person the counter blacklisted: refused at B before anything moves
        refused_person = _issue(kiosk_b, _lay(kiosk_b, id_control_b, stranger, None))
        assert refused_person.status_code == 403, refused_person.text
        assert refused_person.json()["error"]["code"] == "issuance_refused"
        assert send_control(control_b, {"cmd": "dispenser"})["dispenser"]["stack"] == 3
