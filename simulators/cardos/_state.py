"""What a handler sees: the command being executed and the card's volatile state."""

from __future__ import annotations

from dataclasses import dataclass, field

from cardservice.apdu import CommandApdu
from simulators.cardos._fs import MF_FID, Path

__all__ = ["Command", "VolatileState"]


@dataclass(frozen=True)
class Command:
    """A decoded command APDU plus the card-side facts handlers need."""

    apdu: CommandApdu
    raw: bytes

    @property
    def cla(self) -> int:
        return self.apdu.cla

    @property
    def ins(self) -> int:
        return self.apdu.ins

    @property
    def p1(self) -> int:
        return self.apdu.p1

    @property
    def p2(self) -> int:
        return self.apdu.p2

    @property
    def data(self) -> bytes:
        return self.apdu.data

    @property
    def ne(self) -> int | None:
        return self.apdu.ne

    @property
    def secure_messaging(self) -> bool:
        """CLA b4-b3 != 00 (ISO/IEC 7816-4 §5.4.1), in the interindustry (0X) and the PBOC-style
        proprietary (8X) class alike: ``04``/``0C``/``84``/``8C`` all mean a MAC'd command."""
        return bool(self.cla & 0x0C)

    @property
    def proprietary(self) -> bool:
        return bool(self.cla & 0x80)

    @property
    def mac_header(self) -> bytes:
        """``CLA INS P1 P2 Lc`` exactly as sent (Lc is 3 bytes in an extended APDU)."""
        if not self.apdu.data:
            return self.raw[:4]
        extended = self.raw[4] == 0x00 and len(self.raw) > 5
        return self.raw[: 7 if extended else 5]


@dataclass
class VolatileState:
    """RAM: lost on power off and reset."""

    current_df: Path = (MF_FID,)
    current_ef: Path | None = None
    #: Key references authenticated (EXTERNAL AUTHENTICATE / VERIFY) in the current DF.
    granted: set[int] = field(default_factory=set)
    #: The last GET CHALLENGE result; single-use.
    challenge: bytes | None = None
    #: Current record number in the current EF (ISO/IEC 7816-4 record pointer).
    record_pointer: int | None = None
    #: Response data waiting for GET RESPONSE (t0_get_response mode).
    pending_response: bytes | None = None

    def enter_df(self, df: Path) -> None:
        """Make *df* current. Security state is per DF: changing DF clears it (facts sheet §1
        notes: implementations re-authenticate after a DF change; the project assumes they must)."""
        if df != self.current_df:
            self.granted.clear()
            self.current_df = df
        self.current_ef = None
        self.record_pointer = None

    def select_ef(self, ef: Path) -> None:
        self.enter_df(ef[:-1])
        self.current_ef = ef

    def take_challenge(self) -> bytes | None:
        challenge, self.challenge = self.challenge, None
        return challenge
