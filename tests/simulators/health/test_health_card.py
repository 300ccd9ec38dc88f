"""The virtual health card against the virtual PSAM, in-process (facts sheet §1, §4, §5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cardservice.healthcard import (
    Addresses,
    Allergy,
    Cardholder,
    ClinicalBasics,
    Demographics,
    IssuerData,
    OutpatientIndex,
    OutpatientRecord,
    encode_record,
    health_key,
    item_by_abbreviation,
)
from cardservice.keys import Sm2PublicKey
from simulators.cardos import CardOS, load_card
from simulators.health import DEMO_HOLDER_PATH, HolderError, create_health_card, load_holder
from tests.conftest import unhex
from tests.simulators.health.conftest import (
    CITY,
    SERIAL,
    authenticate,
    derive,
    read_records,
    sam_call,
    select,
    send,
)

DEMO = json.loads(DEMO_HOLDER_PATH.read_text(encoding="utf-8"))


def test_ddf1_ef05_is_free_and_decodes(health_card: CardOS) -> None:
    data, sw = send(health_card, "00 A4 04 00 0C" + b"WS.SYS.DDF01".hex())
    assert sw == 0x9000
    assert data == unhex("6F 10 84 0C") + b"WS.SYS.DDF01" + unhex("A5 00")
    select(health_card, 0xEF05)
    issuer = IssuerData.from_records(read_records(health_card, 10))
    assert issuer.city_code == CITY
    assert issuer.card_number == DEMO["DDF1/EF05"]["card_number"]
    assert issuer.issuer_certificate is not None
    assert len(issuer.issuer_certificate) == 180


def test_ef06_needs_rk1ddf1(health_card: CardOS) -> None:
    select(health_card, 0xDDF1, 0xEF06)
    assert send(health_card, "00 B2 01 04 00")[1] == 0x6982


def test_rk1ddf1_with_the_sam_then_cardholder(health_card: CardOS, sam: CardOS) -> None:
    select(health_card, 0xDDF1, 0xEF06)
    assert authenticate(health_card, sam, "RK1DDF1") == 0x9000
    holder = Cardholder.from_records(read_records(health_card, 5))
    assert holder == load_holder(None).cardholder
    assert holder.id_number == "110105198503071230"


@pytest.mark.parametrize(
    ("df", "ef", "key", "model", "count"),
    [
        (0xDF01, 0xEF05, "RK1DF01", Addresses, 4),
        (0xDF01, 0xEF07, "RK1DF01", Demographics, 3),
        (0xDF02, 0xEF05, "RK1DF02", ClinicalBasics, 15),
    ],
)
def test_every_df_read_key(
    health_card: CardOS, sam: CardOS, df: int, ef: int, key: str, model: type[Addresses], count: int
) -> None:
    select(health_card, 0xDDF1, df, ef)
    assert send(health_card, "00 B2 01 04 00")[1] == 0x6982
    assert authenticate(health_card, sam, key) == 0x9000
    decoded = model.from_records(read_records(health_card, count))
    assert decoded == model.model_validate(DEMO[f"DDF1/DF0{df & 0xF}/EF0{ef & 0xF}"])


def test_df02_allergies_newest_first(health_card: CardOS, sam: CardOS) -> None:
    select(health_card, 0xDDF1, 0xDF02, 0xEF07)
    assert authenticate(health_card, sam, "RK1DF02") == 0x9000
    first, second, third = (Allergy.from_bytes(r) for r in read_records(health_card, 3))
    assert first.substance == "青霉素"
    assert second.substance == "花粉"
    assert third.substance is None


def test_df03_index_and_signed_outpatient_record(health_card: CardOS, sam: CardOS) -> None:
    select(health_card, 0xDDF1, 0xDF03, 0xEF06)
    assert authenticate(health_card, sam, "RK1DF03") == 0x9000
    assert OutpatientIndex.from_records(read_records(health_card, 5)).in_use == (
        True,
        False,
        False,
        False,
        False,
    )
    select(health_card, 0xED01)  # same DF: the read right stays
    raw = b""
    while len(raw) < 3267:
        offset = len(raw)
        chunk, sw = send(health_card, bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, 0x00]))
        assert sw in (0x9000, 0x6282)
        raw += chunk
    record = OutpatientRecord.from_bytes(raw)
    assert record.institution_name == "演示社区卫生服务中心"
    assert record.signature is not None
    assert record.sam_certificate is not None
    # The record's SAM certificate holds the key that signed the data part (shared/spec/README.md).
    Sm2PublicKey.from_bytes(record.sam_certificate[:65]).verify(record.signature, raw[:3013])


def test_uk1df03_grants_update_binary_and_index_erase_needs_uk2df03(health_card: CardOS, sam: CardOS) -> None:
    select(health_card, 0xDDF1, 0xDF03, 0xEE01)
    assert send(health_card, "00 D6 00 00 02 AA BB")[1] == 0x6982
    assert authenticate(health_card, sam, "UK1DF03") == 0x9000
    assert send(health_card, "00 D6 00 00 02 AA BB")[1] == 0x9000
    select(health_card, 0xEF06)
    assert send(health_card, "00 0C 01 04")[1] == 0x6982  # erase: UK2DF03 + MAC
    assert authenticate(health_card, sam, "UK2DF03") == 0x9000
    challenge, _ = send(health_card, "00 84 00 00 08")
    assert derive(sam, health_card, "STKDF03", challenge) == 0x9000
    header = unhex("84 0C 01 04 04")
    mac, sw = sam_call(sam, unhex("80 FA 05 00 15") + bytes(16) + header)
    assert sw == 0x9000
    assert len(mac) == 4
    assert send(health_card, header + mac)[1] == 0x9000
    assert authenticate(health_card, sam, "RK1DF03") == 0x9000
    assert read_records(health_card, 1) == [b"\xff"]


def _sm_update(card: CardOS, sam: CardOS, stk: str, record: int, plain: bytes) -> int:
    """Facts sheet §4.6: enciphered + MAC UPDATE RECORD with the DF's STK, computed by the SAM."""
    challenge, _ = send(card, "00 84 00 00 08")
    assert derive(sam, card, stk, challenge) == 0x9000
    padded = bytes([len(plain)]) + plain + b"\x80"
    padded += bytes(-len(padded) % 16)
    ciphertext, sw = sam_call(sam, bytes([0x80, 0xFA, 0x00, 0x00, len(padded)]) + padded)
    assert sw == 0x9000
    header = bytes([0x04, 0xDC, record, 0x04, len(ciphertext) + 4])
    data = bytes(16) + header + ciphertext
    mac, sw = sam_call(sam, bytes([0x80, 0xFA, 0x05, 0x00, len(data)]) + data)
    assert sw == 0x9000
    return send(card, header + ciphertext + mac)[1]


def test_enciphered_update_record_in_df01(health_card: CardOS, sam: CardOS) -> None:
    select(health_card, 0xDDF1, 0xDF01, 0xEF05)
    new = encode_record(item_by_abbreviation("DZ1"), "上海市黄浦区演示路9号")
    assert authenticate(health_card, sam, "UK1DF01") == 0x9000
    assert send(health_card, bytes([0x00, 0xDC, 0x02, 0x04, len(new)]) + new)[1] == 0x6982  # SM required
    assert _sm_update(health_card, sam, "STKDF01", 2, new) == 0x9000
    assert authenticate(health_card, sam, "RK1DF01") == 0x9000
    assert Addresses.from_records(read_records(health_card, 4)).address1 == "上海市黄浦区演示路9号"


def test_wrong_city_factor_burns_a_try(health_card: CardOS, sam: CardOS) -> None:
    """Facts sheet §4.4 warning: a wrong level-2 factor gives 63CE and the counter stays burnt."""
    select(health_card, 0xDDF1, 0xEF06)
    assert authenticate(health_card, sam, "RK1DDF1", city="130185") == 0x63CE
    assert health_card.image.fs.tries_left((0x3F00, 0xDDF1), 0x04) == 14
    assert authenticate(health_card, sam, "RK1DDF1", city="130185") == 0x63CD
    assert authenticate(health_card, sam, "RK1DDF1") == 0x9000
    assert health_card.image.fs.tries_left((0x3F00, 0xDDF1), 0x04) == 15  # success restores


def test_ef05_and_ef06_never_updatable(health_card: CardOS, sam: CardOS) -> None:
    select(health_card, 0xDDF1, 0xEF06)
    assert authenticate(health_card, sam, "UK1DDF1") == 0x9000
    assert send(health_card, "00 DC 01 04 03 0B 01 41")[1] == 0x6982


def test_pboc_shell_and_mf_name(health_card: CardOS) -> None:
    data, sw = send(health_card, "00 A4 04 00 0E" + b"2PAY.SYS.DDF01".hex())
    assert sw == 0x9000
    assert b"2PAY.SYS.DDF01" in data
    data, sw = send(health_card, "00 A4 00 00 02 3F 00")
    assert sw == 0x9000
    assert b"jmjkkyyhj" in data


def test_image_persists(health_card: CardOS, sam: CardOS) -> None:
    select(health_card, 0xDDF1, 0xEF06)
    assert authenticate(health_card, sam, "RK1DDF1", city="210000") == 0x63CE
    assert health_card.image_path is not None
    again = load_card(health_card.image_path)
    assert again.serial == SERIAL
    assert again.image.fs.tries_left((0x3F00, 0xDDF1), 0x04) == 14
    assert again.image.nvm.areas == health_card.image.nvm.areas


def test_custom_holder_mapping_and_bad_id(tmp_path: Path) -> None:
    holder = json.loads(json.dumps(DEMO))
    holder["DDF1/EF06"]["id_number"] = "110105198503071231"  # wrong check digit
    with pytest.raises(HolderError, match="SFZH") as info:
        create_health_card(tmp_path / "bad.json", holder=holder)
    assert "110105198503071231" not in str(info.value)  # never echo the ID number
    holder["DDF1/EF06"]["id_number"] = "110105198503071230"
    holder["DDF1/EF06"]["name"] = "张三"
    create_health_card(tmp_path / "ok.json", holder=holder, serial=SERIAL)
    assert load_card(tmp_path / "ok.json").describe().count("EF") > 20


def test_holder_errors_are_clear() -> None:
    with pytest.raises(HolderError, match="unknown group"):
        load_holder({"DDF1/EF99": {}})
    with pytest.raises(HolderError, match="XM"):
        load_holder({"DDF1/EF06": {"name": "名" * 40}})
    with pytest.raises(HolderError, match="city_code"):
        create_health_card("/nonexistent/never-written.json", holder={"DDF1/EF06": {"name": "李四"}})


def test_key_table_drives_the_card(health_card: CardOS) -> None:
    fs = health_card.image.fs
    for name, path in (("RK1DDF1", (0x3F00, 0xDDF1)), ("UK3DF02", (0x3F00, 0xDDF1, 0xDF02))):
        assert fs.key(path, health_key(name).card_ref) is not None
        assert fs.tries_left(path, health_key(name).card_ref) == 15
