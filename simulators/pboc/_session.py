"""What the bank application's commands share: the application in the current DF, its persistent
counters, the transaction in progress, and the injected faults.

* The **transaction** (GPO → GENERATE AC → EXTERNAL AUTHENTICATE → GENERATE AC, scripts) is volatile: it
  belongs to one power session of one card (the card's :class:`VolatileState` object, replaced at every
  power-on, reset and removal) and to one selection of the ADF (any SELECT ends it).
* The **counters** (ATC, last online ATC, PIN try counter, flags, EC balance) are persistent: one NVM area
  (:mod:`._layout`), written by one commit per change, so a tear leaves them wholly old or wholly new.
* **Faults** are the simulator's, not the card's: they belong to the :class:`~simulators.cardos.CardOS`
  object and survive power cycles until used or cleared.
"""

from __future__ import annotations

import dataclasses
import weakref

from cardservice.errors import CodecError
from cardservice.pboc import AcScheme
from cardservice.pboc import session_key as derive_session_key
from cardservice.pboc._profile import ALGORITHM_SM4, ALGORITHM_TDES, AcType, CvrBit
from cardservice.pboc._tags import parse_dol
from simulators.cardos import CardOS, SwError
from simulators.pboc._layout import (
    COUNTERS_FID,
    FLAG_ISSUER_AUTH_FAILED,
    FLAG_ONLINE_PENDING,
    PARAMETERS_FID,
    Counters,
    Parameters,
)

__all__ = [
    "FAULTS",
    "Application",
    "Transaction",
    "application",
    "begin_transaction",
    "end_transaction",
    "fault",
    "history_bits",
    "parameters_of",
    "require_application",
    "require_transaction",
    "set_fault",
    "split_dol_data",
    "take_fault",
    "transaction",
]

SW_WRONG_LENGTH = 0x6700
SW_CONDITIONS = 0x6985
SW_INS_NOT_SUPPORTED = 0x6D00
SW_NO_PRECISE_DIAGNOSIS = 0x6F00

#: Fault names of ``{"cmd": "pboc", "fault": ...}`` and :func:`set_fault`.
FAULTS = ("aac-at-second", "none")

_SCHEMES = {ALGORITHM_TDES: AcScheme.PBOC_TDES, ALGORITHM_SM4: AcScheme.PBOC_SM4}

Path = tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Application:
    """The PBOC ADF that is the current DF, and its parameters."""

    card: CardOS
    path: Path
    parameters: Parameters

    @property
    def scheme(self) -> AcScheme:
        scheme = _SCHEMES.get(self.parameters.algorithm)
        if scheme is None:
            raise SwError(SW_NO_PRECISE_DIAGNOSIS)
        return scheme

    def key(self, ref: int) -> bytes:
        record = self.card.image.fs.key(self.path, ref)
        if record is None:
            raise SwError(SW_NO_PRECISE_DIAGNOSIS)
        return record.value

    def session_key(self, ref: int, atc: int) -> bytes:
        """The transaction's session key from card master key *ref* (MK-AC or MK-SMI)."""
        return derive_session_key(self.key(ref), atc, self.scheme)

    def _area(self, fid: int) -> str:
        return self.card.image.fs.data_area((*self.path, fid))

    @property
    def counters(self) -> Counters:
        raw = self.card.image.nvm.get(self._area(COUNTERS_FID))
        try:
            return Counters.decode(raw or b"")
        except CodecError:
            raise SwError(SW_NO_PRECISE_DIAGNOSIS) from None

    def store(self, counters: Counters) -> None:
        """One commit: the counters are wholly old or wholly new after a tear."""
        self.card.image.nvm.commit({self._area(COUNTERS_FID): counters.encode()})

    def internal_ef(self, fid: int) -> bytes | None:
        return self.card.image.nvm.get(self._area(fid))


def parameters_of(card: CardOS, df: Path) -> Parameters | None:
    """The parameters EF of *df* (a PSE or an ADF), or ``None`` when the DF has none."""
    raw = card.image.nvm.get(card.image.fs.data_area((*df, PARAMETERS_FID)))
    if raw is None:
        return None
    try:
        return Parameters.decode(raw)
    except CodecError:
        raise SwError(SW_NO_PRECISE_DIAGNOSIS) from None


def application(card: CardOS) -> Application | None:
    """The bank application when the current DF is its ADF, else ``None``."""
    df = card.state.current_df
    parameters = parameters_of(card, df)
    if parameters is None or not parameters.is_application:
        return None
    return Application(card, df, parameters)


def require_application(card: CardOS) -> Application:
    """As :func:`application`; outside the ADF the command does not exist (6D00, as before on this card)."""
    found = application(card)
    if found is None:
        raise SwError(SW_INS_NOT_SUPPORTED)
    return found


def split_dol_data(dol: bytes, data: bytes) -> dict[int, bytes]:
    """The values of a DOL's data objects in *data* (EMV Book 3 §5.4); another length → 6700."""
    try:
        entries = parse_dol(dol)
    except CodecError:
        raise SwError(SW_NO_PRECISE_DIAGNOSIS) from None
    if sum(length for _, length in entries) != len(data):
        raise SwError(SW_WRONG_LENGTH)
    values, pos = {}, 0
    for tag, length in entries:
        values[tag] = bytes(data[pos : pos + length])
        pos += length
    return values


# -- the transaction -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Transaction:
    """One transaction of the ADF at *path*, from GPO on (volatile)."""

    path: Path
    atc: int
    #: CVR bits about earlier transactions, from the counters as GPO found them.
    history: frozenset[CvrBit]
    first: AcType | None = None
    #: The first GENERATE AC's cryptogram when it was an ARQC (scripts and the ARPC refer to it).
    arqc: bytes | None = None
    #: The CDOL1 data of the first GENERATE AC (the second one's cryptogram reuses it).
    values: dict[int, bytes] = dataclasses.field(default_factory=dict)
    #: EXTERNAL AUTHENTICATE: None not performed, True succeeded, False failed.
    issuer_authentication: bool | None = None
    second: AcType | None = None
    finished: bool = False
    scripts: int = 0
    script_failed: bool = False
    dda_performed: bool = False

    def bits(self) -> set[CvrBit]:
        """The CVR indicator bits of this transaction so far."""
        bits = set(self.history)
        if self.issuer_authentication is False:
            bits.add(CvrBit.ISSUER_AUTHENTICATION_FAILED)
        if self.script_failed:
            bits.add(CvrBit.SCRIPT_FAILED)
        if self.dda_performed:
            bits.add(CvrBit.DDA_PERFORMED)
        return bits


def history_bits(counters: Counters) -> frozenset[CvrBit]:
    bits = set()
    if counters.flag(FLAG_ONLINE_PENDING):
        bits.add(CvrBit.LAST_ONLINE_NOT_COMPLETED)
    if counters.flag(FLAG_ISSUER_AUTH_FAILED):
        bits.add(CvrBit.LAST_ISSUER_AUTHENTICATION_FAILED)
    if counters.pin_tries == 0:
        bits.add(CvrBit.PIN_TRY_LIMIT_EXCEEDED)
    if counters.last_online_atc == 0:
        bits.add(CvrBit.NEW_CARD)
    return frozenset(bits)


# The transaction of each card, tied to the VolatileState object it began in: power-off, reset and
# removal replace that object, and the transaction is gone with it.
_TRANSACTIONS: weakref.WeakKeyDictionary[CardOS, tuple[object, Transaction]] = weakref.WeakKeyDictionary()


def begin_transaction(app: Application, atc: int, counters: Counters) -> Transaction:
    started = Transaction(app.path, atc, history_bits(counters))
    _TRANSACTIONS[app.card] = (app.card.state, started)
    return started


def transaction(card: CardOS) -> Transaction | None:
    """The transaction in progress in this power session and this selection of the current ADF."""
    entry = _TRANSACTIONS.get(card)
    if entry is None or entry[0] is not card.state or entry[1].path != card.state.current_df:
        return None
    return entry[1]


def require_transaction(card: CardOS) -> Transaction:
    found = transaction(card)
    if found is None:
        raise SwError(SW_CONDITIONS)
    return found


def end_transaction(card: CardOS) -> None:
    """A new selection: whatever was in progress is over."""
    _TRANSACTIONS.pop(card, None)


# -- faults --------------------------------------------------------------------------------------------

_FAULTS: weakref.WeakKeyDictionary[CardOS, str] = weakref.WeakKeyDictionary()


def set_fault(card: CardOS, name: str) -> None:
    """Arm a fault of the bank application (:data:`FAULTS`): ``aac-at-second`` makes the next second
    GENERATE AC answer an AAC even where it would give a TC; ``none`` clears it."""
    if name not in FAULTS:
        raise ValueError(f"unknown pboc fault {name!r} (known: {', '.join(FAULTS)})")
    if name == "none":
        _FAULTS.pop(card, None)
    else:
        _FAULTS[card] = name


def fault(card: CardOS) -> str:
    """The armed fault, or ``"none"``."""
    return _FAULTS.get(card, "none")


def take_fault(card: CardOS, name: str) -> bool:
    """Whether fault *name* is armed; it is used up."""
    if _FAULTS.get(card) != name:
        return False
    del _FAULTS[card]
    return True
