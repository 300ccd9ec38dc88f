"""Command APDU value: ISO/IEC 7816-3 §12.1 (cases) and ISO/IEC 7816-4 §5.1 (CLA, INS, P1-P2, Lc, Le)."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field

from cardservice.apdu._masking import DEFAULT_MASKING_POLICY, Visibility
from cardservice.errors import CodecError

__all__ = ["ApduCase", "CommandApdu"]

# ISO/IEC 7816-3 §12.1.3: Nc is 1..255 (short) or 1..65535 (extended); Ne is 1..256 (short,
# Le=00 means 256) or 1..65536 (extended, Le=0000 means 65536).
_MAX_SHORT_NC = 255
_MAX_SHORT_NE = 256
_MAX_EXTENDED_NC = 65535
_MAX_EXTENDED_NE = 65536


class ApduCase(enum.Enum):
    """The four command-response cases of ISO/IEC 7816-3 §12.1.2, short (S) or extended (E)."""

    CASE_1 = "1"
    CASE_2S = "2S"
    CASE_2E = "2E"
    CASE_3S = "3S"
    CASE_3E = "3E"
    CASE_4S = "4S"
    CASE_4E = "4E"


def _check_byte(name: str, value: int) -> None:
    # bool is an int subclass; CLA=True is almost certainly a bug, so refuse it.
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFF:
        raise CodecError(f"{name} must be an integer 0..255, got {value!r}")


@dataclass(frozen=True)
class CommandApdu:
    """One command APDU as a value (ISO/IEC 7816-4 §5.1).

    ``data`` is the command data field (Nc = ``len(data)``); ``ne`` the maximum number of response
    bytes expected: ``None`` means no Le field, 1..256 fit the short form (256 is coded ``00``),
    up to 65536 need the extended form (65536 is coded ``0000``).

    ``extended`` asks for the extended length form even when the short form would do. It is an
    encoding preference, not part of the value: it is excluded from ``==`` and ``hash``, and it is
    forced on when Nc > 255 or Ne > 256. :meth:`decode` sets it from the wire form, so
    ``CommandApdu.decode(raw).encode() == raw`` for every valid ``raw``.

    CLA and INS are not checked against the values ISO reserves (CLA ``FF`` is PPS / PC/SC
    pseudo-APDU, INS ``6X``/``9X`` clash with T=0 procedure bytes): a card OS must be able to decode
    such commands in order to refuse them with the right status word.
    """

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int | None = None
    extended: bool = field(default=False, compare=False, kw_only=True)

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            _check_byte(name.upper(), getattr(self, name))
        if not isinstance(self.data, bytes | bytearray | memoryview):
            raise CodecError("command data must be bytes")
        if not isinstance(self.data, bytes):
            object.__setattr__(self, "data", bytes(self.data))
        if len(self.data) > _MAX_EXTENDED_NC:
            raise CodecError(f"command data too long: {len(self.data)} bytes > {_MAX_EXTENDED_NC}")
        if self.ne is not None and (
            not isinstance(self.ne, int) or isinstance(self.ne, bool) or not 1 <= self.ne <= _MAX_EXTENDED_NE
        ):
            raise CodecError(f"Ne must be None or 1..{_MAX_EXTENDED_NE}, got {self.ne!r}")
        needs_extended = len(self.data) > _MAX_SHORT_NC or (self.ne is not None and self.ne > _MAX_SHORT_NE)
        has_length_fields = bool(self.data) or self.ne is not None
        # Case 1 has no length field, hence no extended form.
        object.__setattr__(self, "extended", has_length_fields and (bool(self.extended) or needs_extended))

    # -- properties ------------------------------------------------------------------------------

    @property
    def header(self) -> bytes:
        """CLA INS P1 P2."""
        return bytes((self.cla, self.ins, self.p1, self.p2))

    @property
    def is_extended(self) -> bool:
        """True when :meth:`encode` uses the extended length form (ISO/IEC 7816-3 §12.1.3)."""
        return self.extended

    @property
    def case(self) -> ApduCase:
        """ISO/IEC 7816-3 §12.1.2 case of this command as it will be encoded."""
        if not self.data:
            if self.ne is None:
                return ApduCase.CASE_1
            return ApduCase.CASE_2E if self.extended else ApduCase.CASE_2S
        if self.ne is None:
            return ApduCase.CASE_3E if self.extended else ApduCase.CASE_3S
        return ApduCase.CASE_4E if self.extended else ApduCase.CASE_4S

    @property
    def secure_messaging(self) -> bool:
        """True when CLA indicates secure messaging.

        The rule, by class byte range:

        * ``00``-``1F`` (ISO/IEC 7816-4 §5.4.1, first interindustry class): bits b4-b3 != 00.
          ``01`` = proprietary SM (the health card's ``04 DC`` / ``04 D6`` commands),
          ``10``/``11`` = SM per ISO/IEC 7816-4 §6 (header not / authenticated).
        * ``40``-``7F`` (further interindustry class): bit b6.
        * ``80``-``BF`` (proprietary): bit b3, the PBOC (JR/T 0025) / GlobalPlatform convention where
          ``84`` means "MAC appended" (the health card's ``84 D2``, ``84 0C``).
        * ``C0``-``FE`` (proprietary, GlobalPlatform further channels): bit b6.
        * ``20``-``3F`` (RFU) and ``FF`` (invalid): never.
        """
        return _sm_bit(self.cla) is not None and bool(self.cla & _sm_bit_mask(self.cla))

    # -- derived values --------------------------------------------------------------------------

    def with_ne(self, ne: int | None) -> CommandApdu:
        """The same command expecting ``ne`` response bytes (e.g. the re-issue after ``6Cxx``)."""
        return dataclasses.replace(self, ne=ne)

    def with_cla_sm(self) -> CommandApdu:
        """The same command with the secure-messaging indication set in CLA (see :attr:`secure_messaging`).

        ``00`` becomes ``04`` and ``80`` becomes ``84`` as on the health card (proprietary SM: the
        caller appends the MAC itself). Raises :class:`CodecError` for a class that cannot signal SM.
        """
        bit = _sm_bit(self.cla)
        if bit is None:
            raise CodecError(f"CLA {self.cla:02X} has no secure-messaging indication")
        if self.secure_messaging:
            return self
        return dataclasses.replace(self, cla=self.cla | bit)

    # -- codec -----------------------------------------------------------------------------------

    def encode(self) -> bytes:
        """The command as sent to the card (ISO/IEC 7816-3 §12.1.3)."""
        out = bytearray(self.header)
        nc = len(self.data)
        if self.extended:
            out.append(0x00)  # the extended-length marker, present once
            if nc:
                out += nc.to_bytes(2, "big") + self.data
            if self.ne is not None:
                out += (self.ne & 0xFFFF).to_bytes(2, "big")  # 65536 -> 0000
        else:
            if nc:
                out.append(nc)
                out += self.data
            if self.ne is not None:
                out.append(self.ne & 0xFF)  # 256 -> 00
        return bytes(out)

    @classmethod
    def decode(cls, raw: bytes) -> CommandApdu:
        """Parse a command APDU in any of the cases 1, 2S, 2E, 3S, 3E, 4S, 4E (ISO/IEC 7816-3 §12.1.3).

        Raises :class:`CodecError` when the length fields do not account exactly for the bytes.
        """
        raw = bytes(raw)
        size = len(raw)
        if size < 4:
            raise CodecError(f"command APDU too short: {size} bytes, need at least 4")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        body = raw[4:]
        if not body:  # case 1
            return cls(cla, ins, p1, p2)
        if len(body) == 1:  # case 2S
            return cls(cla, ins, p1, p2, ne=body[0] or 256)
        if body[0] != 0:  # short form: Lc is B1
            nc = body[0]
            if len(body) == 1 + nc:  # case 3S
                return cls(cla, ins, p1, p2, body[1:])
            if len(body) == 2 + nc:  # case 4S
                return cls(cla, ins, p1, p2, body[1:-1], ne=body[-1] or 256)
            raise CodecError(f"short Lc={nc} inconsistent with {len(body)} body bytes")
        # B1 = 00 with more than one body byte: extended form.
        if len(body) == 3:  # case 2E
            return cls(cla, ins, p1, p2, ne=int.from_bytes(body[1:3], "big") or 65536, extended=True)
        if len(body) < 3:
            raise CodecError(f"extended length field truncated: {len(body)} body bytes")
        nc = int.from_bytes(body[1:3], "big")
        if nc == 0:
            raise CodecError("extended Lc of 0000 is not allowed")
        if len(body) == 3 + nc:  # case 3E
            return cls(cla, ins, p1, p2, body[3:], extended=True)
        if len(body) == 5 + nc:  # case 4E
            le = int.from_bytes(body[-2:], "big") or 65536
            return cls(cla, ins, p1, p2, body[3:-2], ne=le, extended=True)
        raise CodecError(f"extended Lc={nc} inconsistent with {len(body)} body bytes")

    # -- text ------------------------------------------------------------------------------------

    def __str__(self) -> str:
        """Header in hex and the length fields; never the data (see :class:`LoggingTracer`)."""
        parts = [self.header.hex(" ").upper()]
        if self.data:
            parts.append(f"Lc={len(self.data)}")
        if self.ne is not None:
            parts.append(f"Le={self.ne}")
        parts.append(f"(case {self.case.value})")
        return " ".join(parts)

    def __repr__(self) -> str:
        # A value's repr shows its bytes, except data the masking policy does not call public:
        # PINs, cryptograms, SM payloads and personal data never reach a repr (project rule).
        if DEFAULT_MASKING_POLICY.command_visibility(self.cla, self.ins) is Visibility.PUBLIC:
            data = f"bytes.fromhex('{self.data.hex()}')"
        else:
            data = f"<{len(self.data)} bytes>"
        ext = ", extended=True" if self.extended else ""
        return (
            f"CommandApdu(cla=0x{self.cla:02X}, ins=0x{self.ins:02X}, p1=0x{self.p1:02X}, "
            f"p2=0x{self.p2:02X}, data={data}, ne={self.ne}{ext})"
        )


def _sm_bit(cla: int) -> int | None:
    """The CLA bit that :meth:`CommandApdu.with_cla_sm` sets, or None if the class cannot signal SM."""
    if cla <= 0x1F or 0x80 <= cla <= 0xBF:
        return 0x04
    if 0x40 <= cla <= 0x7F or 0xC0 <= cla <= 0xFE:
        return 0x20
    return None


def _sm_bit_mask(cla: int) -> int:
    """Bits of CLA that, when any is set, mean secure messaging (see ``secure_messaging``)."""
    if cla <= 0x1F:
        return 0x0C
    return _sm_bit(cla) or 0
