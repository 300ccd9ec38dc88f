"""HealthCardSession: card operations (facts sheet §4.9), first against scripted cards (exact APDUs),
then end to end against the virtual health card and virtual PSAM of ``simulators.health``."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import pytest

from cardservice.apdu.testing import ScriptedTransmit
from cardservice.errors import (
    CardResetError,
    CodecError,
    SecurityNotSatisfiedError,
    VerificationFailedError,
)
from cardservice.healthcard import (
    Addresses,
    EncounterKind,
    HealthCardSession,
    IssuerData,
    OutpatientRecord,
    SignatureStatus,
    encode_sam_certificate,
    signer_fingerprint,
)
from cardservice.healthcard._encounters import _check_signature
from cardservice.keys import Sam, SoftwareSam
from tests.healthcard.shared import CountingTransport, connect
from tests.healthcard.test_flows import ATR, make_keystore

ISSUER = IssuerData(
    card_category="1",
    spec_version="V1.1",
    issuer_name="演示",
    issuer_code="11000000001",
    card_number="110105198503071230",
    security_code="000",
    issuance_serial="0000000001",
    city_code="110105",
)


def issuer_records(issuer: IssuerData = ISSUER) -> list[bytes]:
    """All ten DDF1/EF05 records at full length (absent items as filler records)."""
    from cardservice.healthcard import card_file, encode_record, items_in_file

    by_number = issuer.to_records()
    records = []
    for item in items_in_file("DDF1/EF05"):
        records.append(by_number.get(item.record) or encode_record(item, None))
    assert [len(r) for r in records] == list(card_file("DDF1/EF05").record_sizes)
    return records


class FakeCard:
    """A Transport-shaped object over a ScriptedTransmit."""

    def __init__(self, script: ScriptedTransmit, atr: bytes = ATR) -> None:
        self.transmit = script
        self.atr = atr


@pytest.fixture
def sam(tmp_path: Path) -> SoftwareSam:
    return SoftwareSam(make_keystore(tmp_path))


def ok(data: bytes = b"") -> str:
    return data.hex() + "9000"


def test_issuer_data_read_all_records_in_two_commands(sam: SoftwareSam) -> None:
    records = issuer_records()
    card = ScriptedTransmit([
        ("00 A4 00 00 02 DD F1", "6F 10 84 0C 57532E5359532E4444463031 A5 00 90 00"),
        ("00 A4 00 00 02 EF 05", "90 00"),
        ("00 B2 01 05 00", ok(b"".join(records[:6]))),  # 242 bytes: record 7 would exceed Le=256
        ("00 B2 07 05 00", ok(b"".join(records[6:]))),
    ])  # fmt: skip
    session = HealthCardSession(FakeCard(card), sam)
    assert session.read_issuer_data() == ISSUER
    card.assert_done()
    assert session.current_df == "DDF1"


def test_issuer_data_falls_back_to_one_record_per_command(sam: SoftwareSam) -> None:
    records = issuer_records()
    card = ScriptedTransmit([
        ("00 A4 00 00 02 DD F1", "90 00"),
        ("00 A4 00 00 02 EF 05", "90 00"),
        ("00 B2 01 05 00", "6A 86"),
    ])  # fmt: skip
    for number, record in enumerate(records, start=1):
        card.expect(f"00 B2 {number:02X} 04 {len(record):02X}", ok(record))
    session = HealthCardSession(FakeCard(card), sam)
    assert session.read_issuer_data() == ISSUER
    card.assert_done()


def test_missing_city_code_stops_before_authentication(sam: SoftwareSam) -> None:
    records = issuer_records(ISSUER.model_copy(update={"city_code": None}))
    card = ScriptedTransmit([
        ("00 A4 00 00 02 DD F1", "90 00"),
        ("00 A4 00 00 02 EF 05", "90 00"),
        ("00 B2 01 05 00", ok(b"".join(records[:6]))),
        ("00 B2 07 05 00", ok(b"".join(records[6:]))),
    ])  # fmt: skip
    session = HealthCardSession(FakeCard(card), sam)
    with pytest.raises(CodecError, match="YYCSDM"):
        session.read_identity()
    card.assert_done()  # no SELECT EF06, no GET CHALLENGE, no EXTERNAL AUTHENTICATE
    assert all(c.ins not in (0x84, 0x82) for c in card.commands)


def test_city_code_is_read_by_record_identifier_before_entering_a_df(sam: SoftwareSam) -> None:
    card = ScriptedTransmit([
        ("00 A4 00 00 02 DD F1", "90 00"),
        ("00 A4 00 00 02 EF 05", "90 00"),
        ("00 B2 39 00 05", ok(bytes.fromhex("39 03 11 01 05"))),
        ("00 A4 00 00 02 DF 03", "90 00"),
        ("00 A4 00 00 02 EF 05", "90 00"),
        ("00 84 00 00 08", ok(bytes(8))),
        (None, "63 CE"),
    ])  # fmt: skip
    session = HealthCardSession(FakeCard(card), sam)
    with pytest.raises(Exception, match="63CE"):
        session.read_index("inpatient")
    card.assert_done()
    assert session.rights == frozenset()
    sent = card.commands[-1]
    assert (sent.ins, sent.p2) == (0x82, 0x84)


def test_card_reset_forgets_df_and_rights(sam: SoftwareSam) -> None:
    card = ScriptedTransmit([("00 A4 00 00 02 DD F1", CardResetError("reset by another application"))])
    session = HealthCardSession(FakeCard(card), sam)
    with pytest.raises(CardResetError):
        session.read_issuer_data()
    assert session.current_df is None
    assert session.rights == frozenset()


def test_terminal_cannot_update_issuance_files(sam: SoftwareSam) -> None:
    session = HealthCardSession(FakeCard(ScriptedTransmit()), sam)
    with pytest.raises(CodecError, match="cannot be updated"):
        session.update_items("DDF1/EF06", name="X")
    with pytest.raises(CodecError, match="DZ1"):
        session.update_items("DF01/EF05", address1="x" * 200)


def test_signature_status_of_a_record_area(sam: SoftwareSam) -> None:
    sam.verify_pin("123456")
    data = bytes(range(256)) * 6 + bytes(103)  # 1639 bytes: an inpatient data part
    certificate = encode_sam_certificate(sam.sm2_public_key(), sam.sm2_sign)
    signed = data + sam.sm2_sign(data) + certificate
    trusted = frozenset({signer_fingerprint(sam.sm2_public_key())})
    assert _check_signature(signed, 1639, trusted)[0] is SignatureStatus.VALID
    assert _check_signature(signed, 1639, trusted)[1] == sam.sm2_public_key()
    assert _check_signature(signed, 1639, frozenset())[0] is SignatureStatus.VALID_UNTRUSTED
    tampered = b"\x01" + signed[1:]
    assert _check_signature(tampered, 1639, trusted)[0] is SignatureStatus.INVALID
    assert _check_signature(data + bytes(254), 1639, trusted)[0] is SignatureStatus.UNSIGNED
    broken_cert = signed[:-1] + bytes([signed[-1] ^ 1])
    assert _check_signature(broken_cert, 1639, trusted)[0] is SignatureStatus.INVALID


# == end to end: the virtual health card (simulators.health) =========================================


# Fixtures (card_path, card, demo_keystore, soft_sam) in conftest.py; CountingTransport, connect in shared.py.


def test_e2e_read_identity_with_fewest_apdus(card: CountingTransport, soft_sam: Sam) -> None:
    identity = HealthCardSession(card, soft_sam).read_identity()
    assert identity.cardholder.name == "李明"
    assert identity.cardholder.id_number == "110105198503071230"
    assert identity.issuer.city_code == "110105"
    assert identity.validity.phone1 == "13800000000"
    assert identity.photo is None
    assert "110105198503071230" not in repr(identity)
    assert "李明" not in repr(identity)
    # SELECT DDF1, SELECT EF05, READ RECORDS 1.. (242 bytes), READ RECORDS 7.., SELECT EF06,
    # GET CHALLENGE, EXTERNAL AUTHENTICATE, READ RECORDS, SELECT EF08, READ RECORDS.
    assert [(c.ins, c.p1, c.p2) for c in card.commands()] == [
        (0xA4, 0, 0), (0xA4, 0, 0), (0xB2, 1, 5), (0xB2, 7, 5), (0xA4, 0, 0),
        (0x84, 0, 0), (0x82, 0, 0x04), (0xB2, 1, 5), (0xA4, 0, 0), (0xB2, 1, 5),
    ]  # fmt: skip
    assert len(card.sent) == 10


def test_e2e_read_all(card: CountingTransport, soft_sam: Sam) -> None:
    contents = HealthCardSession(card, soft_sam).read_all()
    assert contents["DDF1/DF01/EF05"].address1 == "北京市朝阳区演示路1号"  # type: ignore[attr-defined]
    assert [a.substance for a in contents["DDF1/DF02/EF07"]] == ["青霉素", "花粉"]  # type: ignore[attr-defined]
    assert len(contents["DDF1/DF02/EF08"]) == 2  # type: ignore[arg-type]
    assert contents["DDF1/DF03/EF06"].in_use == (True, False, False, False, False)  # type: ignore[attr-defined]
    encounter = contents["DDF1/DF03/ED01"]
    assert encounter.signature is SignatureStatus.VALID  # type: ignore[attr-defined]
    assert encounter.record.department == "全科"  # type: ignore[attr-defined]
    assert "全科" not in repr(encounter)
    # One EXTERNAL AUTHENTICATE per DF (RK1DDF1, RK1DF01, RK1DF02, RK1DF03).
    assert [c.p2 for c in card.commands() if c.ins == 0x82] == [0x04, 0x84, 0x84, 0x84]


def test_e2e_update_items_enciphered(card_path: Path, soft_sam: Sam) -> None:
    card = connect(card_path)
    HealthCardSession(card, soft_sam).update_items("DF01/EF05", address1="上海市演示路9号", DZLB2="1")
    updates = [c for c in card.commands() if c.ins == 0xDC]
    assert [c.cla for c in updates] == [0x04, 0x04]
    assert "上海".encode("gb18030") not in b"".join(card.sent)  # enciphered on the wire
    addresses = HealthCardSession(connect(card_path), soft_sam).read_file("DF01/EF05")
    assert isinstance(addresses, list)
    decoded = Addresses.from_records(addresses)
    assert (decoded.address1, decoded.address_type2) == ("上海市演示路9号", "1")


def test_e2e_append_allergy_and_immunisation(card_path: Path, soft_sam: Sam) -> None:
    session = HealthCardSession(connect(card_path), soft_sam)
    session.append_allergy("头孢", "荨麻疹")
    session.append_immunisation("新冠疫苗", _dt.date(2021, 5, 1))
    fresh = HealthCardSession(connect(card_path), soft_sam)
    assert [a.substance for a in fresh.read_allergies()] == ["头孢", "青霉素", "花粉"]
    assert fresh.read_immunisations()[0].date == _dt.date(2021, 5, 1)


def outpatient(day: int) -> OutpatientRecord:
    return OutpatientRecord(
        institution_name="演示医院", visit_time=_dt.datetime(2024, 3, day, 10, 0), department=f"科室{day}"
    )


def test_e2e_write_sign_read_and_erase_encounters(card_path: Path, soft_sam: Sam) -> None:
    session = HealthCardSession(connect(card_path), soft_sam)
    session.verify_sam_pin("123456")
    assert session.write_encounter(EncounterKind.OUTPATIENT, outpatient(5)) == 2
    assert session.write_encounter("outpatient", outpatient(3), sign=False) == 3
    encounters = HealthCardSession(connect(card_path), soft_sam).read_encounters("outpatient")
    assert [(e.slot, e.signature) for e in encounters] == [
        (1, SignatureStatus.VALID), (2, SignatureStatus.VALID), (3, SignatureStatus.UNSIGNED),
    ]  # fmt: skip
    assert encounters[1].signer == soft_sam.sm2_public_key()
    session.sign_encounter("outpatient", 3)
    after = HealthCardSession(connect(card_path), soft_sam).read_encounters("outpatient")
    assert [(e.slot, e.signature) for e in after][2] == (3, SignatureStatus.VALID)


def test_e2e_erase_encounter(card_path: Path, soft_sam: Sam) -> None:
    card = connect(card_path)
    HealthCardSession(card, soft_sam).erase_encounter("outpatient", 1)
    erase = card.commands()[-1]
    assert (erase.cla, erase.ins, erase.p1, erase.p2, len(erase.data)) == (0x84, 0x0C, 1, 4, 4)
    assert HealthCardSession(connect(card_path), soft_sam).read_encounters("outpatient") == []


def test_e2e_full_index_overwrites_the_oldest(card_path: Path, soft_sam: Sam) -> None:
    session = HealthCardSession(connect(card_path), soft_sam)
    session.verify_sam_pin("123456")
    # Slot 1 holds the 2024-02-01 visit; fill 2-5 with later ones, then the oldest is slot 1.
    assert [session.write_encounter("outpatient", outpatient(d)) for d in (9, 8, 7, 6)] == [2, 3, 4, 5]
    assert session.write_encounter("outpatient", outpatient(20)) == 1
    assert session.write_encounter("outpatient", outpatient(21)) == 5  # 2024-03-06 is now the oldest


def test_e2e_signing_needs_the_pin_and_writes_nothing(card_path: Path, soft_sam: Sam) -> None:
    card = connect(card_path)
    with pytest.raises(SecurityNotSatisfiedError):
        HealthCardSession(card, soft_sam).write_encounter("inpatient", InpatientRecord_())
    assert card.sent == []


def InpatientRecord_():  # type: ignore[no-untyped-def]
    from cardservice.healthcard import InpatientRecord

    return InpatientRecord(institution_name="演示医院", admission_date=_dt.date(2024, 1, 2))


def test_e2e_wrong_keys_burn_one_try_and_are_not_retried(card_path: Path, tmp_path: Path) -> None:
    wrong = SoftwareSam(make_keystore(tmp_path))  # other master keys
    for expected_tries in (14, 13):
        card = connect(card_path)
        with pytest.raises(VerificationFailedError) as caught:
            HealthCardSession(card, wrong).read_identity()
        assert caught.value.tries_left == expected_tries
        assert [c.ins for c in card.commands()].count(0x82) == 1


def test_e2e_update_ddf1_ef08_uses_stkddf1(card_path: Path, soft_sam: Sam) -> None:
    card = connect(card_path)
    session = HealthCardSession(card, soft_sam)
    session.update_items("DDF1/EF08", phone2="13700000000")
    # UK1DDF1 (one level, P2 05) then the enciphered UPDATE RECORD 3.
    assert [c.p2 for c in card.commands() if c.ins == 0x82] == [0x05]
    assert [(c.cla, c.p1) for c in card.commands() if c.ins == 0xDC] == [(0x04, 3)]
    assert HealthCardSession(connect(card_path), soft_sam).read_identity().validity.phone2 == "13700000000"
