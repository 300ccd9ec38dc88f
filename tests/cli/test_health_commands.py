"""``cardservice read / write / record`` in process: the demo health card and the demo PSAM behind
in-process transports standing in for the two PC/SC readers (tests/pcsc/test_healthcard_pcsc.py runs
the same commands through pcscd)."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import pytest

from cardservice.cli import _operator, _readers, main
from cardservice.errors import CardError, CodecError, VerificationFailedError
from cardservice.healthcard import HEALTH_KEYS, Allergy, Cardholder, EncounterKind
from cardservice.keys import KeyStore, ScryptParams
from cardservice.transport import InProcessTransport
from simulators.cardos import load_card
from simulators.health import (
    DEMO_SAM_PIN,
    create_health_card,
    create_sam,
    demo_sam_fingerprint,
    write_demo_keystore,
)
from tests.conftest import unhex
from tests.healthcard.shared import DEMO, OUTPATIENT, CountingCard

CARD_READER = "in-process 00 00"
SAM_READER = "in-process 00 01"
SERIAL = unhex("00 81 86 6B 00 00 20 24")
PASSPHRASE = "correct horse"
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 3 + b"\xff\xd9"  # JPEG markers around filler


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cli-health")
    create_health_card(base / "card.json", serial=SERIAL)
    with_photo = {**DEMO, "DDF1/EF07": {"image_base64": base64.b64encode(PHOTO).decode("ascii")}}
    create_health_card(base / "photo-card.json", serial=SERIAL, holder=with_photo)
    create_sam(base / "sam.json")
    write_demo_keystore(base / "demo.keystore", PASSPHRASE, kdf_params=ScryptParams(n=2**10))
    other = write_demo_keystore(base / "other.keystore", PASSPHRASE, kdf_params=ScryptParams(n=2**10))
    for key in HEALTH_KEYS:  # same layout, another issuer's master keys
        entry = other.get_entry(key.name)
        other.put_key(key.name, secrets.token_bytes(16), **dict(entry.meta))
    other.save()
    return base


@pytest.fixture
def cards(images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, CountingCard]:
    """The two 'readers': card and SAM images copied for this test, served in process."""
    slots: dict[str, CountingCard] = {}
    for reader, name in ((CARD_READER, "card.json"), (SAM_READER, "sam.json")):
        path = tmp_path / name
        path.write_bytes((images / name).read_bytes())
        slots[reader] = CountingCard(load_card(path))

    def open_transport(reader: str) -> InProcessTransport:
        transport = InProcessTransport(slots[reader], name=reader)
        transport.connect()
        return transport

    monkeypatch.setattr(_readers, "reader_names", lambda: [CARD_READER, SAM_READER])
    monkeypatch.setattr(_readers, "open_transport", open_transport)
    monkeypatch.delenv(_operator.PASSPHRASE_ENV, raising=False)
    monkeypatch.delenv(_operator.SAM_PIN_ENV, raising=False)
    return slots


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def read_json(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    status, out, err = run(capsys, "read", "-r", "0", "--sam-reader", "1", "--json", *extra)
    assert status == 0, err
    document = json.loads(out)
    assert isinstance(document, dict)
    return document


# -- read -----------------------------------------------------------------------------------------


def test_read_json_is_the_demo_identity_keyed_by_abbreviation(
    cards: dict[str, CountingCard], capsys: pytest.CaptureFixture[str]
) -> None:
    document = read_json(capsys)
    assert list(document) == ["DDF1/EF05", "DDF1/EF06", "DDF1/EF08"]
    holder = document["DDF1/EF06"]
    assert holder == Cardholder.model_validate(DEMO["DDF1/EF06"]).model_dump(mode="json", by_alias=True)
    assert holder["XM"] == "李明"
    assert holder["SFZH"] == "110105198503071230"
    assert holder["CSRQ"] == "1985-03-07"  # ISO 8601
    assert document["DDF1/EF05"]["YYCSDM"] == "110105"  # type: ignore[index]
    assert document["DDF1/EF08"]["KYXQ"] == "2034-01-15"  # type: ignore[index]
    # Identity needs RK1DDF1 only, obtained once.
    assert cards[CARD_READER].external_authentications == 1


def test_read_human_shows_chinese_labels(
    cards: dict[str, CountingCard], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "read", "--sam-reader", "01")
    assert status == 0
    assert "持卡人基本信息 (DDF1/EF06)\n  姓名: 李明\n  性别: 1 (男性)\n" in out
    assert "姓名: 李明" in out
    assert "出生日期: 1985-03-07" in out


def test_read_all_decodes_every_file_with_the_signature_status(
    cards: dict[str, CountingCard], capsys: pytest.CaptureFixture[str]
) -> None:
    document = read_json(capsys, "--all")
    assert document["DDF1/DF01/EF05"]["DZ1"] == "北京市朝阳区演示路1号"  # type: ignore[index]
    assert document["DDF1/DF02/EF07"] == [
        {"GMWZMC": "青霉素", "GMFY": "皮疹"},
        {"GMWZMC": "花粉", "GMFY": "打喷嚏、流涕"},
    ]
    assert document["DDF1/DF02/EF08"][0] == {"MYJZMC": "流感疫苗", "MYJZSJ": "2023-10-20"}  # type: ignore[index]
    assert document["DDF1/DF03/EF06"]["MZJLBS1"] is True  # type: ignore[index]
    encounter = document["DDF1/DF03/ED01"]
    assert isinstance(encounter, dict)
    assert encounter["signature"] == "valid"
    assert encounter["items"]["213"] == "演示社区卫生服务中心"  # national item number: no abbreviation
    assert encounter["items"]["215"] == "2024-02-01T09:30:00"
    assert "383" not in encounter["items"]  # the signature area is reported as a status, not bytes
    # The operator's own SAM is the trusted signer: the demo records are signed with its key.
    assert encounter["signer"] == demo_sam_fingerprint()


def test_read_all_human_shows_the_signature_and_its_signer(
    cards: dict[str, CountingCard], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "read", "--sam-reader", "1", "--all")
    assert status == 0
    assert f"  签名: 有效\n  签名者: {demo_sam_fingerprint()}\n" in out


def test_read_photo_absent_says_so(
    cards: dict[str, CountingCard], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, err = run(capsys, "read", "--sam-reader", "1", "--photo", str(tmp_path / "p.jpg"))
    assert status == 0
    assert "no photo" in err
    assert not (tmp_path / "p.jpg").exists()


def test_read_photo_saved_to_a_file(
    cards: dict[str, CountingCard], capsys: pytest.CaptureFixture[str], images: Path, tmp_path: Path
) -> None:
    path = tmp_path / "photo-card.json"
    path.write_bytes((images / "photo-card.json").read_bytes())
    cards[CARD_READER] = CountingCard(load_card(path))
    photo = tmp_path / "holder.jpg"
    document = read_json(capsys, "--photo", str(photo))
    assert photo.read_bytes() == PHOTO
    assert document["DDF1/EF07"] == {"length": len(PHOTO), "file": str(photo)}
    assert document["DDF1/EF06"]["XM"] == "李明"  # type: ignore[index]
    status, out, _ = run(capsys, "read", "--sam-reader", "1", "--all")
    assert status == 0
    assert f"照片 (DDF1/EF07)\n  照片: {len(PHOTO)} 字节\n" in out


def test_read_with_a_software_sam_over_the_key_store(
    cards: dict[str, CountingCard],
    capsys: pytest.CaptureFixture[str],
    images: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(_operator.PASSPHRASE_ENV, PASSPHRASE)
    status, out, err = run(capsys, "read", "--keys", str(images / "demo.keystore"), "--json")
    assert status == 0, err
    assert json.loads(out)["DDF1/EF06"]["XM"] == "李明"
    assert PASSPHRASE not in out + err


def test_key_store_passphrase_never_from_argv_and_not_guessed(
    cards: dict[str, CountingCard], capsys: pytest.CaptureFixture[str], images: Path
) -> None:
    # stdin is not a terminal under pytest: no prompt, a clear error, the card untouched.
    status, _, err = run(capsys, "read", "--keys", str(images / "demo.keystore"))
    assert status == 1
    assert _operator.PASSPHRASE_ENV in err
    assert cards[CARD_READER].external_authentications == 0


def test_wrong_passphrase_is_one_line(
    cards: dict[str, CountingCard],
    capsys: pytest.CaptureFixture[str],
    images: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(_operator.PASSPHRASE_ENV, "wrong")
    status, _, err = run(capsys, "read", "--keys", str(images / "demo.keystore"))
    assert status == 1
    assert err == "cardservice: key store cannot be opened: wrong passphrase or damaged file\n"


def test_other_issuer_fails_once_and_says_which_key(
    cards: dict[str, CountingCard],
    capsys: pytest.CaptureFixture[str],
    images: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(_operator.PASSPHRASE_ENV, PASSPHRASE)
    status, out, err = run(capsys, "read", "--all", "--keys", str(images / "other.keystore"))
    assert status == 1
    assert out == ""
    assert err == (
        "cardservice: authentication failed with RK1DDF1: wrong key or issuer (63CE: 14 tries left); "
        "not retried\n"
    )
    assert cards[CARD_READER].external_authentications == 1


# -- write / record -------------------------------------------------------------------------------


def test_write_round_trip(cards: dict[str, CountingCard], capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        capsys, "write", "-r", "0", "--sam-reader", "1", "DF01/EF05", "DZ1=北京市朝阳区", "DZLB1=3"
    )
    assert (status, err) == (0, "")
    assert out == "updated DDF1/DF01/EF05: DZ1, DZLB1\n"
    addresses = read_json(capsys, "--all")["DDF1/DF01/EF05"]
    assert addresses["DZ1"] == "北京市朝阳区"  # type: ignore[index]
    assert addresses["DZLB1"] == "3"  # type: ignore[index]
    assert addresses["DZ2"] == "北京市朝阳区演示小区2号楼301"  # type: ignore[index]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["DF01/EF05", "NOSUCH=1"], "Addresses"),
        (["DF01/EF05", "DZ1"], "item 1: expected ABBR=VALUE"),
        (["DDF1/EF06", "XM=王"], "cannot be updated"),
        (["DF09/EF01", "A=1"], "no card file"),
    ],
)
def test_write_refuses_bad_input_before_authenticating(
    cards: dict[str, CountingCard], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, _, err = run(capsys, "write", "--sam-reader", "1", *argv)
    assert status == 1
    assert message in err
    assert cards[CARD_READER].external_authentications == 0


def test_record_add_allergy_and_immunisation_come_first(
    cards: dict[str, CountingCard], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "record", "add", "--sam-reader", "1", "allergy", "磺胺", "荨麻疹")[0] == 0
    assert run(capsys, "record", "add", "--sam-reader", "1", "immunisation", "麻疹疫苗", "2025-01-02")[0] == 0
    document = read_json(capsys, "--all")
    assert document["DDF1/DF02/EF07"][0] == Allergy(substance="磺胺", reaction="荨麻疹").to_abbreviations()  # type: ignore[index]
    assert document["DDF1/DF02/EF08"][0] == {"MYJZMC": "麻疹疫苗", "MYJZSJ": "2025-01-02"}  # type: ignore[index]


def test_record_add_outpatient_is_signed_then_erased(
    cards: dict[str, CountingCard],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record = tmp_path / "visit.json"
    record.write_text(json.dumps(OUTPATIENT, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("MY_PIN", DEMO_SAM_PIN)
    status, out, err = run(
        capsys, "record", "add", "--sam-reader", "1", "--sam-pin-env", "MY_PIN", "outpatient", str(record)
    )
    assert (status, err) == (0, "")
    assert out == "outpatient record written to slot 2, signed\n"
    assert DEMO_SAM_PIN not in out
    encounter = read_json(capsys, "--all")["DDF1/DF03/ED02"]
    assert encounter["signature"] == "valid"  # type: ignore[index]
    assert encounter["items"]["216"] == "MZ000777"  # type: ignore[index]

    assert run(capsys, "record", "erase", "--sam-reader", "1", "outpatient", "2") == (
        0,
        "outpatient slot 2 erased\n",
        "",
    )
    document = read_json(capsys, "--all")
    assert "DDF1/DF03/ED02" not in document
    assert document["DDF1/DF03/EF06"]["MZJLBS2"] is False  # type: ignore[index]


def test_signing_needs_the_pin_and_writes_nothing_without_it(
    cards: dict[str, CountingCard], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    record = tmp_path / "visit.json"
    record.write_text(json.dumps(OUTPATIENT), encoding="utf-8")
    status, _, err = run(capsys, "record", "add", "--sam-reader", "1", "outpatient", str(record))
    assert status == 1
    assert _operator.SAM_PIN_ENV in err
    assert "DDF1/DF03/ED02" not in read_json(capsys, "--all")


def test_wrong_sam_pin_is_reported_without_the_pin(
    cards: dict[str, CountingCard],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record = tmp_path / "visit.json"
    record.write_text(json.dumps(OUTPATIENT), encoding="utf-8")
    monkeypatch.setenv(_operator.SAM_PIN_ENV, "999999")
    status, _, err = run(capsys, "record", "add", "--sam-reader", "1", "inpatient", str(record))
    assert status == 1  # the outpatient fields are not an inpatient record
    assert "extra" in err.lower() or "not permitted" in err
    status, _, err = run(capsys, "record", "add", "--sam-reader", "1", "outpatient", str(record))
    assert status == 1
    assert err == "cardservice: the SAM refused the PIN (63C2: 2 tries left)\n"
    assert cards[CARD_READER].external_authentications == 0


# -- command line ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["read"],  # neither --sam-reader nor --keys
        ["read", "--sam-reader", "1", "--keys", "k"],
        ["record", "add", "--sam-reader", "1", "allergy", "a", "b", "c"],
        ["record", "add", "--sam-reader", "1", "dental", "x"],
        ["record", "erase", "--sam-reader", "1", "allergy", "1"],
        ["write", "--sam-reader", "1", "DF01/EF05"],
    ],
)
def test_usage_errors_exit_2(cards: dict[str, CountingCard], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


def test_same_reader_for_card_and_sam_is_refused(
    cards: dict[str, CountingCard], capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "read", "-r", "0", "--sam-reader", "00 00")
    assert status == 1
    assert "same" in err


# -- helpers --------------------------------------------------------------------------------------


def test_parse_assignments() -> None:
    assert _operator.parse_assignments(["DZ1=a=b", "DZLB1="]) == {"DZ1": "a=b", "DZLB1": ""}
    with pytest.raises(CodecError, match="given twice"):
        _operator.parse_assignments(["DZ1=a", "DZ1=b"])
    with pytest.raises(CodecError, match="item 2") as info:
        _operator.parse_assignments(["DZ1=a", "李明"])
    assert "李明" not in str(info.value)  # a stray value is personal data


def test_authentication_failed_error_messages() -> None:
    failed = _operator.AuthenticationFailedError("RK1DF02", VerificationFailedError(0x63C1))
    assert (
        str(failed)
        == "authentication failed with RK1DF02: wrong key or issuer (63C1: 1 try left); not retried"
    )
    from cardservice.errors import AuthenticationBlockedError

    blocked = _operator.AuthenticationFailedError("UK1DF03", AuthenticationBlockedError(0x6983))
    assert (
        str(blocked)
        == "authentication failed with UK1DF03: the key is blocked on the card (6983); not retried"
    )
    assert isinstance(blocked, CardError)


def test_encounter_record_from_json(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(CodecError, match="not JSON"):
        _operator.encounter_record(EncounterKind.OUTPATIENT, path)
    path.write_text(json.dumps({"visit_time": "yesterday"}), encoding="utf-8")
    with pytest.raises(CodecError, match="visit_time"):
        _operator.encounter_record(EncounterKind.OUTPATIENT, path)
    with pytest.raises(CardError, match="cannot read"):
        _operator.encounter_record(EncounterKind.OUTPATIENT, tmp_path / "missing.json")


def test_demo_store_opens(images: Path) -> None:
    assert KeyStore.open(images / "demo.keystore", PASSPHRASE).sam_pin == DEMO_SAM_PIN
