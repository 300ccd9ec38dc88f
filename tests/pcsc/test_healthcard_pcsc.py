"""The Resident Health Card end to end through pcscd: ``cardservice read / write / record`` with the
demo health card in slot 0 and the demo PSAM in slot 1 (or a software SAM over a key store), and
opensc-tool talking to the same card (facts sheet §4.9 read sequence, §4.2 access rules)."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cardservice.cli import _operator, main
from cardservice.healthcard import HEALTH_KEYS, card_file, health_key
from cardservice.keys import ScryptParams
from drivers.readers import wait_for_card
from simulators.cardos import load_card
from simulators.health import (
    DEMO_SAM_PIN,
    create_health_card,
    create_sam,
    write_demo_keystore,
)
from simulators.vpcd import VpcdBridge
from tests.conftest import unhex
from tests.healthcard.shared import DEMO, OUTPATIENT, CountingCard
from tests.pcsc.conftest import (
    CARD_PORT,
    CARD_READER,
    EVENT_TIMEOUT,
    SAM_PORT,
    SAM_READER,
    attach,
    detach,
    tool_env,
)

pytestmark = pytest.mark.pcsc

SERIAL = unhex("00 81 86 6B 00 00 30 43")
PASSPHRASE = "pcsc test store"
CARDSERVICE = Path(sys.executable).with_name("cardservice")


@dataclass
class Slots:
    card_path: Path
    card: CountingCard
    bridge: VpcdBridge
    inserted: bool = True

    def remove_card(self) -> None:
        detach(self.bridge, CARD_READER)
        self.inserted = False


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("healthcard-pcsc")
    create_health_card(base / "card.json", serial=SERIAL)
    create_sam(base / "sam.json")
    write_demo_keystore(base / "demo.keystore", PASSPHRASE, kdf_params=ScryptParams(n=2**10))
    other = write_demo_keystore(base / "other.keystore", PASSPHRASE, kdf_params=ScryptParams(n=2**10))
    for key in HEALTH_KEYS:  # another issuer: same key layout, other master keys
        other.put_key(key.name, secrets.token_bytes(16), **dict(other.get_entry(key.name).meta))
    other.save()
    return base


@pytest.fixture
def slots(images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Slots]:
    """The demo health card (counted) in slot 0 and the demo PSAM in slot 1."""
    card_path, sam_path = tmp_path / "card.json", tmp_path / "sam.json"
    card_path.write_bytes((images / "card.json").read_bytes())
    sam_path.write_bytes((images / "sam.json").read_bytes())
    monkeypatch.delenv(_operator.PASSPHRASE_ENV, raising=False)
    monkeypatch.delenv(_operator.SAM_PIN_ENV, raising=False)
    card = CountingCard(load_card(card_path))
    bridge = VpcdBridge(card, "127.0.0.1", CARD_PORT)
    bridge.start()
    slot = Slots(card_path, card, bridge)
    try:
        assert wait_for_card(CARD_READER, EVENT_TIMEOUT), f"the health card did not appear in {CARD_READER}"
        sam_bridge = attach(sam_path, SAM_PORT, SAM_READER)
        try:
            yield slot
        finally:
            detach(sam_bridge, SAM_READER)
    finally:
        if slot.inserted:
            slot.remove_card()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def read_json(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    status, out, err = cli(capsys, "read", "-r", CARD_READER, "--sam-reader", SAM_READER, "--json", *extra)
    assert status == 0, err
    document = json.loads(out)
    assert isinstance(document, dict)
    return document


def assert_demo_identity(document: dict[str, object]) -> None:
    assert list(document) == ["DDF1/EF05", "DDF1/EF06", "DDF1/EF08"]
    holder, issuer, validity = document["DDF1/EF06"], document["DDF1/EF05"], document["DDF1/EF08"]
    assert isinstance(holder, dict)
    assert isinstance(issuer, dict)
    assert isinstance(validity, dict)
    expected = DEMO["DDF1/EF06"]
    assert holder["XM"] == expected["name"]
    assert holder["XB"] == expected["sex"]
    assert holder["MZ"] == expected["ethnicity"]
    assert holder["CSRQ"] == expected["birth_date"]
    assert holder["SFZH"] == expected["id_number"]
    assert issuer["KH"] == DEMO["DDF1/EF05"]["card_number"]
    assert issuer["YYCSDM"] == DEMO["DDF1/EF05"]["city_code"]
    assert validity["KYXQ"] == DEMO["DDF1/EF08"]["expiry_date"]


# -- read -----------------------------------------------------------------------------------------


def test_read_json_with_the_psam(slots: Slots, capsys: pytest.CaptureFixture[str]) -> None:
    assert_demo_identity(read_json(capsys))
    assert slots.card.external_authentications == 1  # RK1DDF1, once for EF06 and EF08


def test_read_json_as_a_real_process(slots: Slots) -> None:
    result = subprocess.run(
        [str(CARDSERVICE), "read", "-r", "vpcd 00 00", "--sam-reader", "vpcd 00 01", "--json"],
        capture_output=True, text=True, timeout=30, env=tool_env(), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert_demo_identity(json.loads(result.stdout))


def test_read_with_a_software_sam(
    slots: Slots, images: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(_operator.PASSPHRASE_ENV, PASSPHRASE)
    status, out, err = cli(capsys, "read", "-r", "0", "--keys", str(images / "demo.keystore"), "--json")
    assert status == 0, err
    assert_demo_identity(json.loads(out))


# -- write / record round trips --------------------------------------------------------------------


def test_write_then_read_all(slots: Slots, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(
        capsys, "write", "-r", "0", "--sam-reader", "1", "DF01/EF05", "DZ1=北京市朝阳区", "DZLB1=1"
    )
    assert (status, out, err) == (0, "updated DDF1/DF01/EF05: DZ1, DZLB1\n", "")
    addresses = read_json(capsys, "--all")["DDF1/DF01/EF05"]
    assert isinstance(addresses, dict)
    assert addresses["DZ1"] == "北京市朝阳区"
    assert addresses["DZLB1"] == "1"
    assert addresses["DZ2"] == DEMO["DDF1/DF01/EF05"]["address2"]


def test_record_add_allergy_comes_first(slots: Slots, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "record", "add", "-r", "0", "--sam-reader", "1", "allergy", "磺胺", "荨麻疹")[0] == 0
    allergies = read_json(capsys, "--all")["DDF1/DF02/EF07"]
    assert allergies == [
        {"GMWZMC": "磺胺", "GMFY": "荨麻疹"},
        {"GMWZMC": "青霉素", "GMFY": "皮疹"},
        {"GMWZMC": "花粉", "GMFY": "打喷嚏、流涕"},
    ]


def test_outpatient_record_signed_read_and_erased(
    slots: Slots, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "visit.json"
    record.write_text(json.dumps(OUTPATIENT, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv(_operator.SAM_PIN_ENV, DEMO_SAM_PIN)
    status, out, err = cli(capsys, "record", "add", "-r", "0", "--sam-reader", "1", "outpatient", str(record))
    assert (status, out, err) == (0, "outpatient record written to slot 2, signed\n", "")

    encounter = read_json(capsys, "--all")["DDF1/DF03/ED02"]
    assert isinstance(encounter, dict)
    assert encounter["signature"] == "valid"
    assert encounter["items"]["215"] == "2025-03-04T10:15:00"
    assert encounter["items"]["222"] == "高血压"

    status, out, _ = cli(capsys, "record", "erase", "-r", "0", "--sam-reader", "1", "outpatient", "2")
    assert (status, out) == (0, "outpatient slot 2 erased\n")
    document = read_json(capsys, "--all")
    assert "DDF1/DF03/ED02" not in document
    assert "DDF1/DF03/ED01" in document  # the demo visit is untouched


# -- another issuer's keys ------------------------------------------------------------------------


def test_other_issuer_fails_once_and_costs_one_try(
    slots: Slots, images: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(_operator.PASSPHRASE_ENV, PASSPHRASE)
    status, out, err = cli(capsys, "read", "--all", "-r", "0", "--keys", str(images / "other.keystore"))
    assert status == 1
    assert out == ""
    assert err == (
        "cardservice: authentication failed with RK1DDF1: wrong key or issuer (63CE: 14 tries left); "
        "not retried\n"
    )
    assert slots.card.external_authentications == 1

    slots.remove_card()  # then the image on disk is all the card keeps
    fs = load_card(slots.card_path).image.fs
    ddf1 = (0x3F00, card_file("DDF1").fid)
    assert fs.tries_left(ddf1, health_key("RK1DDF1").card_ref) == 14
    assert fs.tries_left(ddf1, health_key("UK1DDF1").card_ref) == 15


# -- a tool nobody here wrote -----------------------------------------------------------------------


def opensc(*apdus: str) -> list[tuple[str, str]]:
    argv = ["opensc-tool", "-r", "0"]
    for apdu in apdus:
        argv += ["-s", apdu]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=20, env=tool_env(), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout + result.stderr
    return [(m.group(1), m.group(2)) for m in re.finditer(r"SW1=0x([0-9A-F]{2}), SW2=0x([0-9A-F]{2})", out)]


def test_opensc_tool_reads_ddf1_with_the_standards_commands(slots: Slots) -> None:
    argv = ["opensc-tool", "-r", "0", "-s", "00 A4 04 00 0C 57532E5359532E4444463031"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=20, env=tool_env(), check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "SW1=0x90, SW2=0x00" in out
    assert "57 53 2E 53 59 53 2E 44 44 46 30 31" in out  # the FCI carries the DF name WS.SYS.DDF01
    assert opensc(
        "00 A4 04 00 0C 57532E5359532E4444463031",
        "00 A4 00 00 02 EF05",
        "00 B2 01 04 00",  # EF05 record 1 (KLB): free reading
        "00 A4 00 00 02 EF06",
        "00 B2 01 04 00",  # EF06 record 1 (XM): RK1DDF1 needed
    ) == [("90", "00"), ("90", "00"), ("90", "00"), ("90", "00"), ("69", "82")]
    assert slots.card.external_authentications == 0


def test_tools_leave_the_card_usable(slots: Slots, capsys: pytest.CaptureFixture[str]) -> None:
    """After opensc-tool let go of the card, cardservice reads it (no state leaks between clients)."""
    assert opensc("00 A4 04 00 0C 57532E5359532E4444463031") == [("90", "00")]
    assert_demo_identity(read_json(capsys))
    assert os.environ.get(_operator.SAM_PIN_ENV) is None
