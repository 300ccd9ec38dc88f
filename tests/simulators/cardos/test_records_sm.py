"""Record files (ISO/IEC 7816-4 §7.3) and the health card's secure messaging (facts sheet §4.6)."""

from __future__ import annotations

from simulators.cardos import CardOS
from tests.conftest import unhex
from tests.simulators.cardos.conftest import RK, UK, ext_auth_health, send, sm_command


def _enter(card: CardOS) -> None:
    assert send(card, "00 A4 00 0C 02 DF 01")[1] == 0x9000


def test_read_record_by_number_sfi_identifier_and_all(card: CardOS) -> None:
    _enter(card)
    assert send(card, "00 B2 01 14 00")[1] == 0x6982  # SFI 2 needs RK (84)
    assert ext_auth_health(card, 0x84, RK) == 0x9000
    assert send(card, "00 B2 02 14 00") == (unhex("02 04 56 31 2E 31"), 0x9000)
    assert send(card, "00 B2 02 04 00") == (unhex("02 04 56 31 2E 31"), 0x9000)  # current EF now
    assert send(card, "00 B2 03 00 04") == (unhex("03 02 AA BB"), 0x9000)  # record identifier = tag
    assert send(card, "00 B2 09 00 00")[1] == 0x6A83
    assert send(card, "00 B2 04 04 00")[1] == 0x6A83
    assert send(card, "00 B2 01 05 00") == (unhex("01 01 31 02 04 56 31 2E 31 03 02 AA BB"), 0x9000)
    assert send(card, "00 B2 02 05 00") == (unhex("02 04 56 31 2E 31 03 02 AA BB"), 0x9000)
    assert send(card, "00 B2 01 04 02") == (b"", 0x6C03)  # Le shorter than the record
    assert send(card, "00 B2 01 06 00")[1] == 0x6A86
    assert send(card, "00 B2 01 FC 00")[1] == 0x6A86  # SFI 31


def test_cyclic_append_newest_is_record_one_and_oldest_falls_off(card: CardOS) -> None:
    _enter(card)
    assert send(card, "00 E2 00 18 04 00 00 00 01")[1] == 0x6982
    assert ext_auth_health(card, 0x85, UK) == 0x9000
    assert send(card, "00 B2 01 1C 00")[1] == 0x6A83  # empty
    for n in range(1, 5):
        assert send(card, f"00 E2 00 18 04 00 00 00 {n:02X}") == (b"", 0x9000)
    assert send(card, "00 B2 01 1D 00") == (unhex("00 00 00 04 00 00 00 03 00 00 00 02"), 0x9000)
    assert send(card, "00 B2 03 1C 00") == (unhex("00 00 00 02"), 0x9000)
    assert send(card, "00 B2 04 1C 00")[1] == 0x6A83
    assert send(card, "00 E2 00 18 03 00 00 05")[1] == 0x6700  # fixed size
    assert send(card, "00 DC 01 1C 04 00 00 00 09")[1] == 0x6982  # update NEVER


def test_linear_append_until_full(card: CardOS) -> None:
    _enter(card)
    assert ext_auth_health(card, 0x85, UK) == 0x9000
    assert send(card, "00 E2 00 10 03 04 01 44") == (b"", 0x9000)
    assert send(card, "00 E2 00 10 03 05 01 55") == (b"", 0x9000)
    assert send(card, "00 E2 00 10 03 06 01 66") == (b"", 0x6A84)
    assert send(card, "00 E2 01 10 03 06 01 66")[1] == 0x6A86


def test_sm_update_record_encrypted(card: CardOS) -> None:
    _enter(card)
    assert ext_auth_health(card, 0x85, UK) == 0x9000
    plain = unhex("02 04 56 32 2E 30")
    assert send(card, "00 DC 02 14 06" + plain.hex())[1] == 0x6982  # SM required
    apdu = sm_command(card, 0x04, 0xDC, 0x02, 0x14, plain, encrypt=True)
    assert apdu[4] == 0x14  # Lc = 16 ciphertext + 4 MAC (facts sheet §4.6: 1-byte items → 14)
    assert send(card, apdu) == (b"", 0x9000)
    assert send(card, apdu)[1] == 0x6985  # the challenge was single-use
    assert ext_auth_health(card, 0x84, RK) == 0x9000
    assert send(card, "00 B2 02 14 00") == (plain, 0x9000)


def test_sm_bad_mac_and_missing_mac(card: CardOS) -> None:
    _enter(card)
    assert ext_auth_health(card, 0x85, UK) == 0x9000
    bad = sm_command(card, 0x04, 0xDC, 0x01, 0x14, unhex("01 01 32"), encrypt=True, corrupt=True)
    assert send(card, bad) == (b"", 0x6988)
    send(card, "00 84 00 00 08")
    assert send(card, "04 DC 01 14 03 01 02 03")[1] == 0x6987  # too short to carry a MAC
    wrong_key = sm_command(card, 0x04, 0xDC, 0x01, 0x14, unhex("01 01 32"), encrypt=True, stk=UK)
    assert send(card, wrong_key)[1] == 0x6988
    # header is MAC'd: same body under another P1 fails
    good = sm_command(card, 0x04, 0xDC, 0x01, 0x14, unhex("01 01 32"), encrypt=True)
    assert send(card, good[:2] + b"\x03" + good[3:])[1] == 0x6988


def test_sm_mac_only_update_record_and_84_class(card: CardOS) -> None:
    _enter(card)
    assert ext_auth_health(card, 0x85, UK) == 0x9000
    assert send(card, "00 DC 02 24 01 00")[1] == 0x6982
    apdu = sm_command(card, 0x84, 0xDC, 0x02, 0x24, b"\x00", encrypt=False)
    assert apdu[4] == 0x05
    assert send(card, apdu) == (b"", 0x9000)
    assert send(card, "00 B2 01 24 00 ") == (b"\xff", 0x9000)
    assert send(card, "00 B2 02 24 00") == (b"\x00", 0x9000)


def test_sm_update_binary_on_plain_file_uses_df_stk(card: CardOS) -> None:
    _enter(card)
    assert ext_auth_health(card, 0x85, UK) == 0x9000
    apdu = sm_command(card, 0x04, 0xD6, 0x81, 0x00, b"HI", encrypt=False)
    assert send(card, apdu) == (b"", 0x9000)
    assert send(card, "00 B0 81 00 05") == (b"HIllo", 0x9000)


def test_erase_record_plain_and_errors(card: CardOS) -> None:
    """ERASE RECORD (ISO/IEC 7816-4 §11.3.9): the record becomes FF; by number only; not on cyclic files."""
    _enter(card)
    assert send(card, "00 0C 02 24")[1] == 0x9000  # EF 0004 (SFI 4) erases freely in the test profile
    assert send(card, "00 B2 02 24 00") == (b"\xff", 0x9000)
    assert send(card, "00 0C 00 24")[1] == 0x6A86  # record 0
    assert send(card, "00 0C 02 20")[1] == 0x6A86  # by identifier: not supported
    assert send(card, "00 0C 09 24")[1] == 0x6A83  # no such record
    assert send(card, "00 0C 01 1C")[1] == 0x6981  # cyclic EF 0003
    assert send(card, "00 0C 01 24 01 00")[1] == 0x6700  # plain erase carries no data


def test_erase_record_with_mac_only_secure_messaging(card: CardOS) -> None:
    """A secure-messaging command whose only data is its MAC (the health card's index erase)."""
    _enter(card)
    apdu = sm_command(card, 0x84, 0x0C, 0x01, 0x24, b"", encrypt=False)
    assert apdu[4] == 0x04
    assert send(card, apdu) == (b"", 0x9000)
    assert send(card, "00 B2 01 24 00") == (b"\xff", 0x9000)
    bad = sm_command(card, 0x84, 0x0C, 0x02, 0x24, b"", encrypt=False, corrupt=True)
    assert send(card, bad)[1] == 0x6988
