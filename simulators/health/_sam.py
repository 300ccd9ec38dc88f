"""The ``sam`` profile: a virtual health-card PSAM (facts sheet §5) on the card OS.

It computes exactly what :class:`cardservice.keys.SoftwareSam` computes (same key store, same
``diversify`` / ``session_key`` / ``encrypt_ecb`` / ``mac_algorithm_1`` calls), over the APDUs of
simulators/README.md, section "Virtual PSAM". Answers T=0 style (``61xx`` + GET RESPONSE).

Non-volatile layout (all in the image, so the SAM keeps its keys and PIN counter):

* MF 3F00: key ``01`` = the SAM PIN (usage PIN, 3 tries; value = the PIN's ASCII digits, ``F``-padded
  to 4 bytes because the card OS stores PINs of 4-16 bytes); files 0015 (14), 0016 (6).
* DF01: the master keys as key records at reference = their SAM index (P2 of ``80 DE``), usage
  "internal authentication" (INTERNAL AUTHENTICATE is disabled on this profile, so no command ever
  uses a master key directly — ``80 FC`` only answers whether a card's answer was made with the card
  key it derives); files 001A (25), 001B (180), 001C (190) readable; internal files
  00FD (key directory: ``index ‖ levels`` per key) and 00FE (SM2 private key), NEVER readable.

Volatile (lost on reset / power off): the session key of ``80 DE``, PIN verified, SM3 chaining state.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass, field
from typing import Any

from cardservice.healthcard._certs import ISSUER_ID, VALID_FROM, VALID_TO, issuer_certificate, sam_certificate
from cardservice.keys import (
    BlockCipher,
    KeyStore,
    Sm2PrivateKey,
    constant_time_equal,
    diversify,
    encrypt_ecb,
    mac_algorithm_1,
    session_key,
    sm3_digest,
)
from simulators.cardos import (
    NEVER,
    CardImage,
    CardOptions,
    CardOS,
    Command,
    DfSpec,
    EfSpec,
    Instruction,
    KeyAlgorithm,
    KeySpec,
    KeyUsage,
    SwError,
    create_image,
    register_profile,
)
from simulators.health._keys import DEMO_SAM_PIN, demo_sm2_private_key, master_keys, open_keystore

__all__ = ["SAM_PIN_REF", "SAM_PIN_TRIES", "SAM_PROFILE", "create_sam", "sam_profile", "sam_serial_number"]

SAM_PROFILE = "sam"
SAM_PIN_REF = 0x01
SAM_PIN_TRIES = 3
MF, DF01 = (0x3F00,), (0x3F00, 0xDF01)
_DIRECTORY_FID, _SM2_FID = 0x00FD, 0x00FE
_SAM_VERSION, _KEY_CARD_TYPE, _COMMAND_SET_VERSION, _FCI_BYTE = 0x01, 0x02, 0x01, 0x00
_ALGORITHMS = {
    BlockCipher.SM4: KeyAlgorithm.SM4,
    BlockCipher.TDES: KeyAlgorithm.TDES,
    BlockCipher.DES: KeyAlgorithm.DES,
}
_CIPHERS = {value: key for key, value in _ALGORITHMS.items()}
_LEVELS_BY_P1_NIBBLE = {0x2: 1, 0x4: 2}
_P1_ENCRYPT, _P1_MAC = 0x00, 0x05
_SM3_SINGLE, _SM3_FIRST, _SM3_LAST, _SM3_NEXT = 0x00, 0x01, 0x02, 0x03
_SM3_MAX_MESSAGE = 65536
_MAC_LENGTH = 4
_PIN_SEPARATOR = 0xFF

SW_NO_MATCH = 0x6300
SW_WRONG_LENGTH = 0x6700
SW_SECURITY = 0x6982
SW_BLOCKED = 0x6983
SW_CONDITIONS = 0x6985
SW_WRONG_DATA = 0x6A80
SW_WRONG_P1P2 = 0x6A86
SW_NOT_FOUND = 0x6A88
SW_INS = 0x6D00


def sam_serial_number(serial: bytes) -> bytes:
    """The 10-byte SAM number (file 0015) of a SAM whose card OS serial is *serial*: 00 00 ‖ serial."""
    return bytes(2) + bytes(serial)


def create_sam(
    path: str | os.PathLike[str],
    *,
    keystore: KeyStore | None = None,
    serial: bytes | None = None,
    pin: str | None = None,
    overwrite: bool = False,
) -> None:
    """Write a virtual PSAM image. ``keystore``: master keys + SM2 key (default: the DEMO set);
    ``pin``: the SAM PIN (default: the store's ``sam_pin``, else ``"123456"``)."""
    create_image(
        path, SAM_PROFILE, serial=serial, overwrite=overwrite, keystore=keystore, pin=pin, **_SAM_OPTIONS
    )


_SAM_OPTIONS: dict[str, object] = {"t0_get_response": True, "protocols": "T=0"}


def sam_profile(
    *,
    serial: bytes,
    options: CardOptions,
    keys: str | os.PathLike[str] | None = None,
    passphrase: str | None = None,
    pin: str | None = None,
    keystore: KeyStore | None = None,
) -> CardImage:
    """Profile factory (``create_image(path, "sam", keys=PATH, passphrase=STR, pin=STR)``). The SAM
    always answers T=0 style: ``t0_get_response`` is forced on."""
    keystore = open_keystore(keys, passphrase, keystore)
    masters = master_keys(keystore)
    sm2 = keystore.sm2_private_key if keystore is not None else demo_sm2_private_key()
    if pin is None:
        pin = (keystore.sam_pin if keystore is not None else None) or DEMO_SAM_PIN
    if not (pin.isascii() and pin.isdigit() and 2 <= len(pin) <= 16):
        raise ValueError("the SAM PIN must be 2-16 decimal digits")
    indices = [key.sam_index for key in masters.values()]
    if len(set(indices)) != len(indices) or not all(0x01 <= i <= 0xFE for i in indices):
        raise ValueError("SAM key indices must be distinct and 01..FE")
    number = sam_serial_number(serial)
    keys_df01 = tuple(
        KeySpec(m.sam_index, m.value, usage=KeyUsage.INTERNAL_AUTH, algorithm=_ALGORITHMS[m.algorithm])
        for m in masters.values()
    )
    directory = b"".join(bytes([m.sam_index, m.levels]) for m in masters.values())
    df01 = DfSpec(
        0xDF01,
        keys=keys_df01,
        create=NEVER,
        write_key=NEVER,
        children=(
            _file(0x001A, bytes([0x01]) + ISSUER_ID + number[2:] + VALID_FROM + VALID_TO),
            _file(0x001B, issuer_certificate(sm2) if sm2 else bytes(180), size=180),
            _file(0x001C, sam_certificate(sm2, number) if sm2 else bytes(190), size=190),
            _secret(_DIRECTORY_FID, directory),
            _secret(_SM2_FID, sm2.to_bytes() if sm2 else bytes(32)),
        ),
    )
    info = number + bytes([_SAM_VERSION, _KEY_CARD_TYPE, _COMMAND_SET_VERSION, _FCI_BYTE])
    terminal = bytes([0x11, 0x01, 0x01]) + serial[-3:]
    mf = DfSpec(
        0x3F00,
        keys=(KeySpec(SAM_PIN_REF, _pin_value(pin), usage=KeyUsage.PIN, max_tries=SAM_PIN_TRIES),),
        create=NEVER,
        write_key=NEVER,
        children=(_file(0x0015, info), _file(0x0016, terminal), df01),
    )
    forced = CardOptions(t0_get_response=True, protocols=options.protocols)
    return CardImage.build(mf, serial=serial, profile=SAM_PROFILE, options=forced)


def _file(fid: int, content: bytes, *, size: int | None = None) -> EfSpec:
    return EfSpec(fid, size=size or len(content), content=content, update=NEVER, append=NEVER, erase=NEVER)


def _secret(fid: int, content: bytes) -> EfSpec:
    """An internal file no command can read or change."""
    return EfSpec(
        fid, size=len(content), content=content, read=NEVER, update=NEVER, append=NEVER, erase=NEVER
    )


def _pin_value(digits: str) -> bytes:
    return digits.encode("ascii").ljust(4, b"F")


# -- volatile state -----------------------------------------------------------------------------


@dataclass
class _Ram:
    session: bytes | None = field(default=None, repr=False)
    cipher: BlockCipher = BlockCipher.SM4
    pin_verified: bool = False
    sm3_buffer: bytearray | None = None


# RAM per card, tied to its VolatileState object: a reset or power off replaces that object, so
# the SAM's RAM goes with it.
_RAM: weakref.WeakKeyDictionary[CardOS, tuple[object, _Ram]] = weakref.WeakKeyDictionary()


def _ram(card: CardOS) -> _Ram:
    held = _RAM.get(card)
    if held is None or held[0] is not card.state:
        held = (card.state, _Ram())
        _RAM[card] = held
    return held[1]


# -- handlers -----------------------------------------------------------------------------------


def _decode_pin(data: bytes) -> bytes:
    """BCD PIN (``12 34 56``; odd length padded with one F) → the stored form; malformed → 6A80
    before any comparison (no try burnt)."""
    text = data.hex().upper()
    if text.endswith("F"):
        text = text[:-1]
    if not (2 <= len(text) <= 16 and text.isdigit()):
        raise SwError(SW_WRONG_DATA)
    return _pin_value(text)


def _check_pin(card: CardOS, given: bytes) -> None:
    """Retry-counter discipline of the card OS: decrement and persist before comparing."""
    fs = card.image.fs
    record = fs.key(MF, SAM_PIN_REF)
    if record is None:
        raise SwError(SW_NOT_FOUND)
    tries = fs.tries_left(MF, SAM_PIN_REF)
    if tries == 0:
        raise SwError(SW_BLOCKED)
    counter = fs.counter_area(MF, SAM_PIN_REF)
    card.image.nvm.commit({counter: bytes([tries - 1])})
    ram = _ram(card)
    if not (len(given) == len(record.value) and constant_time_equal(given, record.value)):
        ram.pin_verified = False
        raise SwError(0x63C0 | (tries - 1))
    card.image.nvm.commit({counter: bytes([record.max_tries])})
    ram.pin_verified = True


def verify_pin(card: CardOS, command: Command) -> bytes:
    """``00 20 00 00 Lc PIN`` (BCD). No data: 9000 if verified, else 63Cx."""
    if command.p1 or command.p2:
        raise SwError(SW_WRONG_P1P2)
    if not command.data:
        if _ram(card).pin_verified:
            return b""
        tries = card.image.fs.tries_left(MF, SAM_PIN_REF)
        raise SwError(SW_BLOCKED if tries == 0 else 0x63C0 | tries)
    _check_pin(card, _decode_pin(command.data))
    return b""


def change_pin(card: CardOS, command: Command) -> bytes:
    """``80 5E 01 00 Lc old ‖ FF ‖ new`` (both BCD)."""
    if command.p1 != 0x01 or command.p2:
        raise SwError(SW_WRONG_P1P2)
    old, separator, new = command.data.partition(bytes([_PIN_SEPARATOR]))
    if not separator:
        raise SwError(SW_WRONG_DATA)
    old_value, new_value = _decode_pin(old), _decode_pin(new)
    _check_pin(card, old_value)
    fs = card.image.fs
    record = fs.key(MF, SAM_PIN_REF)
    assert record is not None
    replaced = type(record)(record.usage, record.algorithm, record.scheme, record.max_tries, new_value)
    card.image.nvm.commit({fs.key_area(MF, SAM_PIN_REF): replaced.encode()})
    return b""


def _directory(card: CardOS) -> dict[int, int]:
    raw = card.image.nvm.get(card.image.fs.data_area((*DF01, _DIRECTORY_FID))) or b""
    return {raw[i]: raw[i + 1] for i in range(0, len(raw) - 1, 2)}


def _master_key(card: CardOS, command: Command) -> tuple[Any, int]:
    """The master key ``80 DE``/``80 FC`` name by P2 and its diversification levels, which P1's high
    nibble must state (2 = one level, 4 = two): an unknown index is 6A88, a wrong level count 6A86."""
    levels = _LEVELS_BY_P1_NIBBLE.get(command.p1 >> 4)
    key_levels = _directory(card).get(command.p2)
    record = card.image.fs.key(DF01, command.p2) if command.p2 not in (0x00, 0xFF) else None
    if key_levels is None or record is None:
        raise SwError(SW_NOT_FOUND)
    if levels is None or levels != key_levels:
        raise SwError(SW_WRONG_P1P2)
    return record, levels


def derive_key(card: CardOS, command: Command) -> bytes:
    """``80 DE P1 P2 Lc factor(s) ‖ challenge``: load session = session_key(diversify(master,
    factors), challenge). P1 high nibble 2/4 = 1/2 levels (must match the key: else 6A86), Lc 10/18
    (must match P1: else 6700); unknown index 6A88. Any failure unloads the previous session key."""
    ram = _ram(card)
    ram.session = None
    record, levels = _master_key(card, command)
    data = command.data
    if len(data) != 8 * levels + 8:
        raise SwError(SW_WRONG_LENGTH)
    cipher = _CIPHERS[record.algorithm]
    factors = [data[i : i + 8] for i in range(0, 8 * levels, 8)]
    card_key = diversify(record.value, factors, cipher=cipher)
    ram.session, ram.cipher = session_key(card_key, data[-8:], cipher=cipher), cipher
    return b""


def cipher(card: CardOS, command: Command) -> bytes:
    """``80 FA 00 00`` ECB-encrypt whole blocks; ``80 FA 05 00 IV(16) ‖ data`` 4-byte MAC."""
    if command.p2 or command.p1 not in (_P1_ENCRYPT, _P1_MAC):
        raise SwError(SW_WRONG_P1P2)
    ram = _ram(card)
    if ram.session is None:
        raise SwError(SW_CONDITIONS)
    block, data = ram.cipher.block_size, command.data
    if command.p1 == _P1_ENCRYPT:
        if not data or len(data) % block:
            raise SwError(SW_WRONG_LENGTH)
        return encrypt_ecb(ram.cipher, ram.session, data)
    if len(data) < block:
        raise SwError(SW_WRONG_LENGTH)
    return mac_algorithm_1(ram.cipher, ram.session, data[block:], iv=data[:block])[:_MAC_LENGTH]


def verify_card(card: CardOS, command: Command) -> bytes:
    """``80 FC P1 P2 Lc factor(s) ‖ M ‖ C`` (project-defined): K = diversify(master[P2], factors), no
    challenge — the card's own key (IRKDDF1). 9000 if E_K(M) = C (ECB, constant-time compare), else
    6300. P1 and unknown index as ``80 DE`` (6A86 / 6A88); M and C the same whole blocks, else 6700.
    The session key of ``80 DE`` is left as it was."""
    record, levels = _master_key(card, command)
    cipher = _CIPHERS[record.algorithm]
    body = command.data[8 * levels :]
    half = len(body) // 2
    if len(body) % 2 or not half or half % cipher.block_size:
        raise SwError(SW_WRONG_LENGTH)
    factors = [command.data[i : i + 8] for i in range(0, 8 * levels, 8)]
    card_key = diversify(record.value, factors, cipher=cipher)
    if not constant_time_equal(encrypt_ecb(cipher, card_key, body[:half]), body[half:]):
        raise SwError(SW_NO_MATCH)
    return b""


def sm3(card: CardOS, command: Command) -> bytes:
    """``80 F6 P1 00 Lc data`` SM3. P1 00: the whole message (short or extended Lc) → 32 bytes.
    Chaining for long messages over T=0: P1 01 first part, 03 further part (9000, no data), 02
    last part → digest of all parts. A new 00/01 discards an unfinished chain."""
    if command.p2 or command.p1 not in (_SM3_SINGLE, _SM3_FIRST, _SM3_LAST, _SM3_NEXT):
        raise SwError(SW_WRONG_P1P2)
    ram = _ram(card)
    if command.p1 in (_SM3_SINGLE, _SM3_FIRST):
        ram.sm3_buffer = None
    if command.p1 == _SM3_SINGLE:
        return sm3_digest(command.data)
    if command.p1 == _SM3_FIRST:
        ram.sm3_buffer = bytearray()
    if ram.sm3_buffer is None:
        raise SwError(SW_CONDITIONS)
    if len(ram.sm3_buffer) + len(command.data) > _SM3_MAX_MESSAGE:
        ram.sm3_buffer = None
        raise SwError(SW_WRONG_LENGTH)
    ram.sm3_buffer += command.data
    if command.p1 != _SM3_LAST:
        return b""
    message, ram.sm3_buffer = bytes(ram.sm3_buffer), None
    return sm3_digest(message)


def sm2_sign(card: CardOS, command: Command) -> bytes:
    """``80 F8 00 00 20 e``: SM2 signature r ‖ s of the 32-byte e = SM3(Z ‖ M); needs the PIN."""
    if command.p1 or command.p2:
        raise SwError(SW_WRONG_P1P2)
    if len(command.data) != 32:
        raise SwError(SW_WRONG_LENGTH)
    if not _ram(card).pin_verified:
        raise SwError(SW_SECURITY)
    raw = card.image.nvm.get(card.image.fs.data_area((*DF01, _SM2_FID)))
    if raw is None or not any(raw):
        raise SwError(SW_NOT_FOUND)
    return Sm2PrivateKey.from_bytes(raw).sign_digest(command.data)


def not_supported(card: CardOS, command: Command) -> bytes:
    """INS the PSAM refuses (INTERNAL AUTHENTICATE would expose a master key; PINs change by 80 5E)."""
    raise SwError(SW_INS)


register_profile(
    SAM_PROFILE,
    sam_profile,
    instructions={
        0x20: Instruction(verify_pin),
        0x5E: Instruction(change_pin, proprietary_only=True),
        0xDE: Instruction(derive_key, proprietary_only=True),
        0xFA: Instruction(cipher, proprietary_only=True),
        0xFC: Instruction(verify_card, proprietary_only=True),
        0xF6: Instruction(sm3, proprietary_only=True),
        0xF8: Instruction(sm2_sign, proprietary_only=True),
        0x88: Instruction(not_supported),
        0x24: Instruction(not_supported),
    },
)
