"""Personalising a blank card with APDUs, sans I/O, and checking the result with terminal keys.

The flow (:func:`personalise`) is a generator like :mod:`cardservice.healthcard._flows`: it yields
:class:`~cardservice.apdu.CommandApdu` and receives :class:`~cardservice.apdu.ResponseApdu`, so
it runs over PC/SC, an in-process card or a scripted test alike. What it sends, per DF of
``CARD_FILES`` (depth first, DDF1 then DF01-DF03):

1. ``80 E0`` CREATE FILE of the DF in the initialisation state (FCP ``8A 01 03``), its own rules
   NEVER / NEVER (as the health card's DFs): from now on the MF's rights stand in (card OS life cycle);
2. EXTERNAL AUTHENTICATE with the blank card's transport key (the new DF cleared the security state);
3. every key of the DF (``HEALTH_KEYS``) with ``84 D4`` WRITE KEY, the key record encrypted and MACed
   under a session of the transport SM key and a fresh challenge — key values never cross the
   reader in clear;
4. each EF: CREATE FILE with its shape and final rules (:func:`~cardservice.healthcard.ef_shape`),
   then its contents: APPEND RECORD per record (cyclic files oldest first, so record 1 is the
   newest), UPDATE BINARY in 255-byte chunks (chunks of zeros skipped: a new file is zero-filled);

then ACTIVATE FILE on DDF1, which locks the whole tree: from here on only the card's own keys
open anything, and DDF1/EF05-EF06 can never be written again.

The templates and key records are those of the card-sim card OS ("CSOS", simulators/README.md,
"Personalisation formats"). A real COS has its own CREATE FILE / WRITE KEY encodings: that is the
one place (:class:`CsosEncoding`) to change for it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field

from cardservice.apdu import (
    CommandApdu,
    ResponseApdu,
    append_record,
    encode_ber_tlv,
    get_challenge,
    select_by_fid,
    select_by_name,
    update_binary,
)
from cardservice.apdu import external_authenticate as external_authenticate_apdu
from cardservice.errors import CardError, CodecError
from cardservice.healthcard import (
    CARD_FILES,
    Access,
    CardFile,
    EfShape,
    EfStructure,
    FileContent,
    HealthKey,
    KeyRole,
    df_keys,
    ef_shape,
)
from cardservice.keys import BlockCipher, encrypt_ecb, mac_algorithm_1, pad_iso9797_m2, session_key

__all__ = [
    "CARD_SIM_TRANSPORT_KEY",
    "CardKey",
    "CsosEncoding",
    "NotBlankError",
    "TransportKeys",
    "changes_card",
    "personalise",
    "verify_contents",
]

Flow = Generator[CommandApdu, ResponseApdu, int]

_CHUNK = 255
_KEY_TRIES = 15  # shared/spec/README.md: 15 tries per key
_SW_NOT_FOUND = 0x6A82
# what the flow sends that changes the card: CREATE FILE, WRITE KEY, UPDATE BINARY, APPEND RECORD,
# ACTIVATE FILE (the rest — SELECT, GET CHALLENGE, EXTERNAL AUTHENTICATE — leave a blank card blank)
_WRITES = frozenset({0xE0, 0xD4, 0xD6, 0xE2, 0x44})


class NotBlankError(CardError):
    """The card already holds a health application (issued, or half-personalised and interrupted)."""


@dataclass(frozen=True)
class TransportKeys:
    """The blank card's transport keys (from the card vendor, per batch): EXTERNAL AUTHENTICATE
    (``auth_ref``, plain ISO scheme) and the SM key that protects WRITE KEY (``sm_ref``)."""

    auth: bytes = field(repr=False)
    sm: bytes = field(repr=False)
    auth_ref: int = 0x01
    sm_ref: int = 0x02
    cipher: BlockCipher = BlockCipher.SM4

    @classmethod
    def card_sim(cls) -> TransportKeys:
        """The transport key card-sim publishes for its blank cards (simulators/README.md), as a card
        vendor publishes a batch's: only for virtual cards."""
        return cls(CARD_SIM_TRANSPORT_KEY, CARD_SIM_TRANSPORT_KEY)


#: card-sim's blank cards: both transport keys are 00 01 02 … 0F (simulators/README.md, "blank" profile).
CARD_SIM_TRANSPORT_KEY = bytes(range(16))


@dataclass(frozen=True)
class CardKey:
    """One diversified card key, ready to load."""

    key: HealthKey
    value: bytes = field(repr=False)
    cipher: BlockCipher = BlockCipher.SM4


_DESCRIPTORS = {
    (EfStructure.TRANSPARENT, False): 0x01,
    (EfStructure.LINEAR_FIXED, False): 0x02,
    (EfStructure.LINEAR_VARIABLE, False): 0x04,
    (EfStructure.LINEAR_VARIABLE, True): 0x05,
    (EfStructure.CYCLIC, False): 0x06,
    (EfStructure.CYCLIC, True): 0x07,
}
_USAGE = {
    KeyRole.READ: 0x01,
    KeyRole.UPDATE: 0x01,
    KeyRole.INTERNAL_AUTH: 0x02,
    KeyRole.SECURE_MESSAGING: 0x03,
}
_ALGORITHM = {BlockCipher.SM4: 0x01, BlockCipher.TDES: 0x02, BlockCipher.DES: 0x03}


class CsosEncoding:
    """CREATE FILE templates and WRITE KEY records of the card-sim card OS (simulators/README.md)."""

    INITIALISATION = b"\x8a\x01\x03"
    _HEALTH_SCHEME = 0x01

    @staticmethod
    def _rule(access: Access) -> bytes:
        condition = 0xFF if access.never else (access.key or 0x00)
        return bytes([condition, int(access.sm), access.stk])

    @classmethod
    def df_template(cls, file: CardFile) -> bytes:
        return cls.named_df_template(file.fid, file.df_name)

    @classmethod
    def named_df_template(cls, fid: int, name: bytes | None) -> bytes:
        """A DF *fid* named *name* (ADF: its AID), CREATE FILE and WRITE KEY NEVER once active."""
        body = encode_ber_tlv(0x82, b"\x38") + encode_ber_tlv(0x83, fid.to_bytes(2, "big"))
        if name:
            body += encode_ber_tlv(0x84, name)
        body += encode_ber_tlv(0x86, b"\xff\x00\x00" * 2)  # create, write key: NEVER once active
        return encode_ber_tlv(0x62, body + cls.INITIALISATION)

    @classmethod
    def ef_template(cls, shape: EfShape) -> bytes:
        descriptor = _DESCRIPTORS[(shape.structure, shape.simple_tlv)]
        if shape.structure is EfStructure.TRANSPARENT:
            body = encode_ber_tlv(0x82, bytes([descriptor]))
        else:
            record = bytes([descriptor, 0x21]) + shape.record_length.to_bytes(2, "big")
            body = encode_ber_tlv(0x82, record + bytes([shape.max_records]))
        body += encode_ber_tlv(0x83, shape.fid.to_bytes(2, "big"))
        if shape.structure is EfStructure.TRANSPARENT:
            body += encode_ber_tlv(0x80, shape.size.to_bytes(2, "big"))
        if shape.sfi is not None:
            body += encode_ber_tlv(0x88, bytes([shape.sfi << 3]))
        rules = b"".join(cls._rule(a) for a in (shape.read, shape.update, shape.append, shape.erase))
        body += encode_ber_tlv(0x86, rules)
        return encode_ber_tlv(0x62, body + cls.INITIALISATION)

    @classmethod
    def key_record(cls, card_key: CardKey) -> bytes:
        return cls.role_key_record(card_key.key.role, card_key.cipher, card_key.value)

    @classmethod
    def role_key_record(cls, role: KeyRole, cipher: BlockCipher, value: bytes) -> bytes:
        """``usage algorithm scheme tries value`` of a key with *role* (the bank application's keys too)."""
        scheme = cls._HEALTH_SCHEME if role in (KeyRole.READ, KeyRole.UPDATE) else 0x00
        return bytes([_USAGE[role], _ALGORITHM[cipher], scheme, _KEY_TRIES]) + value


def _answer(response: ResponseApdu) -> ResponseApdu:
    return response.check()


def _transport_auth(transport: TransportKeys) -> Flow:
    challenge = (yield get_challenge(8)).check().data
    block = transport.cipher.block_size
    cryptogram = encrypt_ecb(transport.cipher, transport.auth, challenge.ljust(block, b"\x00"))
    (yield external_authenticate_apdu(cryptogram, transport.auth_ref)).check()
    return 2


def _write_key(card_key: CardKey, transport: TransportKeys) -> Flow:
    return (yield from _write_key_record(card_key.key.card_ref, CsosEncoding.key_record(card_key), transport))


def _write_key_record(ref: int, record: bytes, transport: TransportKeys) -> Flow:
    """``84 D4 00 <ref>``: the key record encrypted (``len ‖ record ‖ 80 00..``) and MACed under
    SM4(K_sm, R ‖ ~R), the card OS's secure-messaging convention."""
    challenge = (yield get_challenge(8)).check().data
    cipher = transport.cipher
    session = session_key(transport.sm, challenge, cipher=cipher)
    body = encrypt_ecb(cipher, session, pad_iso9797_m2(bytes([len(record)]) + record, cipher.block_size))
    header = bytes([0x84, 0xD4, 0x00, ref, len(body) + 4])
    mac = mac_algorithm_1(cipher, session, header + body, iv=bytes(cipher.block_size))[:4]
    (yield CommandApdu(0x84, 0xD4, 0x00, ref, body + mac)).check()
    return 2


def _create(template: bytes) -> CommandApdu:
    return CommandApdu(0x80, 0xE0, 0x00, 0x00, template)


def _write_contents(shape: EfShape, content: FileContent) -> Flow:
    sent = 0
    if isinstance(content, bytes):
        for offset in range(0, len(content), _CHUNK):
            chunk = content[offset : offset + _CHUNK]
            if any(chunk):
                (yield update_binary(offset, chunk)).check()
                sent += 1
        return sent
    records = reversed(content) if shape.structure is EfStructure.CYCLIC else content
    for record in records:
        (yield append_record(record)).check()
        sent += 1
    return sent


def personalise(
    contents: Mapping[str, FileContent], keys: Mapping[str, CardKey], transport: TransportKeys
) -> Flow:
    """Personalise the blank card; returns the number of APDUs sent. *contents* from
    :func:`~cardservice.healthcard.file_contents`, *keys* by key name (every ``HEALTH_KEYS`` entry).
    Raises :class:`NotBlankError` before writing anything when the card already has DDF1."""
    missing = [key.name for df in _dfs() for key in df_keys(_name(df)) if key.name not in keys]
    if missing:
        raise CodecError(f"card keys missing: {', '.join(missing)}")
    ddf1 = next(f for f in CARD_FILES if f.path == "DDF1")
    assert ddf1.df_name is not None
    sent = 2
    (yield select_by_fid(0x3F00)).check()
    probe = yield select_by_name(ddf1.df_name)
    if probe.sw != _SW_NOT_FOUND:
        raise NotBlankError("the card already holds a health application (DDF1): not a blank card")
    sent += yield from _transport_auth(transport)
    sent += yield from _build_df(ddf1, contents, keys, transport)
    # lock: ACTIVATE FILE on DDF1 puts every file's own rules in force
    (yield select_by_fid(0x3F00)).check()
    (yield select_by_fid(ddf1.fid)).check()
    sent += 2
    sent += yield from _transport_auth(transport)
    (yield CommandApdu(0x00, 0x44, 0x00, 0x00)).check()
    return sent + 1


def changes_card(command: CommandApdu) -> bool:
    """Whether *command* of :func:`personalise` writes to the card: once one is sent (answered or
    not), the card may no longer be blank."""
    return command.ins in _WRITES


def _dfs() -> list[CardFile]:
    return [f for f in CARD_FILES if f.is_df and f.path != "MF"]


def _name(df: CardFile) -> str:
    return df.path.rpartition("/")[2]


def _build_df(
    df: CardFile, contents: Mapping[str, FileContent], keys: Mapping[str, CardKey], transport: TransportKeys
) -> Flow:
    (yield _create(CsosEncoding.df_template(df))).check()
    sent = 1
    sent += yield from _transport_auth(transport)
    for key in df_keys(_name(df)):
        sent += yield from _write_key(keys[key.name], transport)
    for file in CARD_FILES:
        if file.parent != df.path or file.is_df:
            continue
        shape = ef_shape(file)
        (yield _create(CsosEncoding.ef_template(shape))).check()
        sent += 1
        sent += yield from _write_contents(shape, contents[file.path])
    for child in (f for f in CARD_FILES if f.is_df and f.parent == df.path):
        sent += yield from _build_df(child, contents, keys, transport)
        (yield select_by_fid(df.fid)).check()  # back to this DF: the security state is gone
        sent += 1
        sent += yield from _transport_auth(transport)
    return sent


def verify_contents(
    read_file: Callable[[str], Sequence[bytes] | bytes], contents: Mapping[str, FileContent]
) -> list[str]:
    """Read every EF back (*read_file* = ``HealthCardSession.read_file``: terminal keys, the
    card's own rules) and list the paths whose contents differ from *contents*."""
    wrong: list[str] = []
    for file in CARD_FILES:
        if file.is_df:
            continue
        expected = contents[file.path]
        got = read_file(file.path)
        if isinstance(expected, bytes):
            same = isinstance(got, bytes) and got == expected.ljust(file.size or 0, b"\x00")
        else:
            same = not isinstance(got, bytes) and list(got) == list(expected)
        if not same:
            wrong.append(file.path)
    return wrong
