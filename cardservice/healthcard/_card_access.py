"""Card access under :class:`~._session.HealthCardSession`: its base class :class:`_CardAccess`
over a user-card :class:`~cardservice.transport.Transport` and a :class:`~cardservice.keys.Sam` —
selection, rights, raw reads and writes.

Facts sheet §4.9 (minimal read sequence), §4.2 (access rules). The session spends as few APDUs as
the card allows:

* it tracks the current DF and EF and never re-selects them;
* it tracks the rights obtained by EXTERNAL AUTHENTICATE in the current DF and authenticates once
  per DF and right; a DF change forgets them (the card clears its security state then — facts
  sheet §1 notes: "assume not"), a :class:`~cardservice.errors.TransportError` (card reset, card
  pulled) forgets everything;
* it reads record files with READ RECORD(S) "all from P1" (P2 mode ``101``) and falls back to one
  READ RECORD per record when a card answers ``6A86``/``6A81`` (remembered for the session);
* it learns YYCSDM (the city code: level-2 diversification factor) before entering a DF whose keys
  need it, so no DF is left and re-entered for it. A missing or malformed YYCSDM stops the
  operation before any EXTERNAL AUTHENTICATE (a wrong factor burns the card's tries).

Nothing here logs. Errors carry status words, never names, ID numbers, PINs or keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, ClassVar

from cardservice.apdu import (
    ApduTracer,
    CommandApdu,
    RecordMode,
    ResponseApdu,
    read_binary,
    read_record,
    select_by_fid,
    transceive,
    update_binary,
)
from cardservice.errors import CodecError, NotFoundError, TransportError, WrongParametersError
from cardservice.healthcard._dictionary import CardFile, FileKind, UpdateSm, card_file
from cardservice.healthcard._encounters import trusted_fingerprints
from cardservice.healthcard._flows import (
    DEFAULT_TERMINAL_DATA,
    InternalAuthAlgorithm,
    external_authenticate,
    run,
    stk_for,
    update_command,
)
from cardservice.healthcard._keys import (
    CardFactorSource,
    HealthKey,
    KeyRole,
    card_factor,
    city_factor,
    health_key,
)
from cardservice.healthcard._models import TlvFileModel
from cardservice.healthcard._records import decode_record
from cardservice.keys import Sam

__all__ = ["_CardAccess"]

_SW_FUNCTION_NOT_SUPPORTED = 0x6A81
_SW_WRONG_P1P2 = 0x6A86
_YYCSDM_TAG = 0x39
_MAX_SHORT_LC = 0xFF


def _df_path(file: CardFile) -> str:
    return file.path if file.is_df else file.parent


class _CardAccess:
    """What :class:`~._session.HealthCardSession` knows of the card: the current DF and EF, the
    rights held, the city code, the read mode; and the APDUs that keep them (see the module)."""

    READ_ALL_RECORDS: ClassVar[RecordMode] = RecordMode.FROM_NUMBER

    def __init__(
        self,
        card: Any,
        sam: Sam,
        *,
        terminal_data: bytes = DEFAULT_TERMINAL_DATA,
        tracer: ApduTracer | None = None,
        card_factor_source: CardFactorSource = CardFactorSource.LAST_8,
        binary_chunk: int = 256,
        read_all_records: bool = True,
        internal_auth_key_ref: int | None = None,
        internal_auth_algorithm: InternalAuthAlgorithm | str = InternalAuthAlgorithm.ECB_16,
        trusted_signers: Iterable[str] | None = None,
    ) -> None:
        if len(terminal_data) != 8:
            raise CodecError("terminal data must be 8 bytes")
        if not 1 <= binary_chunk <= 256:
            raise CodecError("binary_chunk must be 1..256")
        if internal_auth_key_ref is not None and not 0x01 <= internal_auth_key_ref <= 0xFE:
            raise CodecError("internal_auth_key_ref must be a key reference 01..FE")
        try:
            self._irk_algorithm = InternalAuthAlgorithm(internal_auth_algorithm)
        except ValueError:
            raise CodecError(f"no internal-authentication algorithm {internal_auth_algorithm!r}") from None
        self._irk_ref = internal_auth_key_ref
        # None: trust the key of the SAM in use (a terminal with its own SAM); else exactly these.
        self._trusted = None if trusted_signers is None else trusted_fingerprints(trusted_signers)
        self._card = card
        self._sam = sam
        self._terminal_data = bytes(terminal_data)
        self._card_exchange: Callable[[CommandApdu], ResponseApdu] = partial(
            transceive, card.transmit, tracer=tracer
        )
        self._factor_source = card_factor_source
        self._chunk = binary_chunk
        self._read_all: bool | None = None if read_all_records else False
        self._df: str | None = None
        self._ef: str | None = None
        self._rights: set[str] = set()
        self._yycsdm: str | None = None
        self._yycsdm_known = False

    # -- state ------------------------------------------------------------------------------

    @property
    def current_df(self) -> str | None:
        return self._df

    @property
    def rights(self) -> frozenset[str]:
        """Key names whose right is held in the current DF."""
        return frozenset(self._rights)

    def forget_card_state(self) -> None:
        """The card was reset (or replaced): current DF/EF and every right are gone."""
        self._df = None
        self._ef = None
        self._rights.clear()

    def _exchange(self, command: CommandApdu) -> ResponseApdu:
        try:
            return self._card_exchange(command)
        except TransportError:
            self.forget_card_state()  # CardResetError and friends: the card's RAM state is lost
            raise

    def _send(self, command: CommandApdu) -> ResponseApdu:
        return self._exchange(command).check()

    # -- selection and rights ---------------------------------------------------------------------

    def _enter_df(self, target: str) -> None:
        chain = target.split("/")  # e.g. ["DDF1", "DF01"]
        paths = ["/".join(chain[: i + 1]) for i in range(len(chain))]
        current = self._df
        if current is not None and (
            target.startswith(current + "/")
            or current.startswith(target + "/")
            or target.rpartition("/")[0] == current.rpartition("/")[0]
        ):
            # ISO/IEC 7816-4 selection by FID reaches a child, the parent, and the parent's children.
            steps = [target] if not target.startswith(current + "/") else paths[paths.index(current) + 1 :]
        else:
            steps = paths  # unknown position: DDF1 is reachable from the MF and from inside the tree
        for step in steps:
            self._send(select_by_fid(card_file(step).fid))
            self._df, self._ef = step, None
            self._rights.clear()

    def _select(self, path: str) -> CardFile:
        file = card_file(path)
        target = _df_path(file)
        if self._df != target:
            self._enter_df(target)
        if not file.is_df and self._ef != file.path:
            self._send(select_by_fid(file.fid))
            self._ef = file.path
        return file

    def _factors(self, key: HealthKey) -> list[bytes]:
        factors = [card_factor(self._card.atr, self._factor_source)]
        if key.levels == 2:
            if self._yycsdm is None:
                raise CodecError(f"{key.name} needs the city factor, but YYCSDM (city code) is missing")
            factors.append(city_factor(self._yycsdm))
        return factors

    def _prepare(self, *keys: HealthKey) -> None:
        """Before entering a DF: learn YYCSDM if one of *keys* needs it, and check the factors."""
        if any(key.levels == 2 for key in keys) and not self._yycsdm_known:
            self._load_city_code()
        for key in keys:
            self._factors(key)  # refuses a missing or malformed city code before any APDU to the DF

    def _authorize(self, key_name: str) -> None:
        if key_name in self._rights:
            return
        key = health_key(key_name)
        run(external_authenticate(key, self._factors(key), self._terminal_data), self._exchange, self._sam)
        self._rights.add(key_name)

    def _open(self, path: str, *key_names: str | None) -> CardFile:
        """Select *path* holding the rights of *key_names* (factors checked before any SELECT)."""
        keys = [health_key(name) for name in key_names if name]
        file = card_file(path)
        updating = any(key.role is KeyRole.UPDATE for key in keys)
        secured = file.update_sm in (UpdateSm.MAC, UpdateSm.ENC_MAC)
        stk = [stk_for(_df_path(file).rpartition("/")[2])] if updating and secured else []
        self._prepare(*keys, *stk)
        self._select(path)
        for key in keys:
            self._authorize(key.name)
        return file

    # -- raw reads ------------------------------------------------------------------------------

    def _load_city_code(self) -> None:
        """YYCSDM from DDF1/EF05 (free read): READ RECORD by record identifier = tag 39 (facts §2.1)."""
        file = self._select("DDF1/EF05")
        size = 2 + 3
        try:
            raw = self._send(read_record(_YYCSDM_TAG, mode=RecordMode.ID_FIRST, ne=size)).data
        except WrongParametersError as exc:
            if exc.sw not in (_SW_WRONG_P1P2, _SW_FUNCTION_NOT_SUPPORTED):
                raise
            raw = self._send(read_record(10, ne=file.record_sizes[9])).data
        decoded = decode_record(raw, file=file.path)
        value = None if decoded is None else decoded[1]
        self._yycsdm = value if isinstance(value, str) and value else None
        self._yycsdm_known = True

    def _read_records(self, file: CardFile) -> list[bytes]:
        if self._read_all is not False:
            try:
                records = self._read_records_at_once(file)
            except WrongParametersError as exc:
                if exc.sw not in (_SW_WRONG_P1P2, _SW_FUNCTION_NOT_SUPPORTED):
                    raise
                self._read_all = False
            else:
                self._read_all = True
                return records
        records = []
        for number, size in enumerate(file.record_sizes, start=1):
            try:
                records.append(self._send(read_record(number, ne=size)).data)
            except NotFoundError:
                break  # a cyclic file holds fewer records than its capacity
        return records

    def _read_records_at_once(self, file: CardFile) -> list[bytes]:
        """READ RECORD(S) P2 mode 101 (records P1..last): the card returns whole records, as many
        as fit in Le; split them with the dictionary's record sizes and continue after the last."""
        sizes = file.record_sizes
        records: list[bytes] = []
        while len(records) < len(sizes):
            number = len(records) + 1
            try:
                data = self._send(read_record(number, mode=self.READ_ALL_RECORDS, ne=256)).data
            except NotFoundError:
                break
            taken = 0
            for size in sizes[len(records) :]:
                if len(data) - taken < size:
                    break
                records.append(data[taken : taken + size])
                taken += size
            if taken == 0 or taken != len(data):
                raise CodecError(f"{file.path}: READ RECORD(S) answer does not split into its records")
        return records

    def _read_binary(self, length: int, offset: int = 0) -> bytes:
        out = bytearray()
        while len(out) < length:
            want = min(self._chunk, length - len(out))
            chunk = self._send(read_binary(offset + len(out), want)).data
            if not chunk:
                raise CodecError("READ BINARY returned no data")
            out += chunk
        return bytes(out[:length])

    def _write_binary(self, file: CardFile, offset: int, data: bytes) -> None:
        for start in range(0, len(data), _MAX_SHORT_LC):
            command = update_binary(offset + start, data[start : start + _MAX_SHORT_LC])
            run(update_command(file, command, self._factors), self._exchange, self._sam)

    def read_file(self, path: str) -> list[bytes] | bytes:
        """The raw content of *path*: its records, or a transparent file's bytes."""
        file = card_file(path)
        self._open(path, file.read_key)
        if file.kind is FileKind.TRANSPARENT:
            return self._read_binary(file.size or 0)
        return self._read_records(file)

    def _tlv(self, model: type[TlvFileModel]) -> Any:
        records = self.read_file(model.FILE)
        assert isinstance(records, list)
        return model.from_records(records)
