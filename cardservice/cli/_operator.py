"""What ``cardservice read / write / record`` do, apart from argument parsing: open the user card and
the SAM, run :class:`~cardservice.healthcard.HealthCardSession` operations, render what was read.

* The SAM is either a PSAM in a PC/SC reader (:class:`~cardservice.healthcard.ApduSam`) or a
  :class:`~cardservice.keys.SoftwareSam` over an issuer key store. The key store's passphrase and the
  SAM PIN come from environment variables or a terminal prompt, never from the command line (argv is
  visible to every user through ``ps``).
* A failed EXTERNAL AUTHENTICATE burns a try on the citizen's card (facts sheet §4.4 warning). The
  session never retries; this module turns the failure into one clear sentence naming the key
  (:class:`AuthenticationFailedError`) and stops — the command exits, nothing is attempted again.
* Rendering: JSON keyed by file path, each value the model's data keyed by the standard's
  abbreviations (encounter records by national item number, as the layouts have no abbreviations,
  with their signature status and signer fingerprint); human output with the dictionary's Chinese
  labels. The session names no trusted list, so the SAM in use is the trusted signer: a record it
  signed is ``valid``, one that verifies under any other key ``valid_untrusted``.

Nothing here logs personal data, keys or PINs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from cardservice.cli import _readers
from cardservice.errors import (
    AuthenticationBlockedError,
    CardError,
    CodecError,
    StatusWordError,
    VerificationFailedError,
)
from cardservice.healthcard import (
    CODE_TABLES,
    HEALTH_KEYS,
    ApduSam,
    Encounter,
    EncounterIndex,
    EncounterKind,
    HealthCardSession,
    InpatientRecord,
    LayoutModel,
    OutpatientRecord,
    TlvFileModel,
    card_file,
    file_data,
    identity_files,
    plain,
    present_fields,
)
from cardservice.keys import (
    KEYS_PASSPHRASE_ENV,
    SAM_PIN_ENV,
    KeyStore,
    Sam,
    SoftwareSam,
    keystore_passphrase,
    secret_from_environment,
)
from cardservice.transport import Transport

__all__ = [
    "PASSPHRASE_ENV",
    "SAM_PIN_ENV",
    "AuthenticationFailedError",
    "WatchedCard",
    "encounter_record",
    "identity_files",
    "keystore_passphrase",
    "open_session",
    "parse_assignments",
    "render_human",
    "render_json",
    "sam_pin",
]

PASSPHRASE_ENV = KEYS_PASSPHRASE_ENV

_INS_EXTERNAL_AUTHENTICATE = 0x82


class AuthenticationFailedError(CardError):
    """The card refused an EXTERNAL AUTHENTICATE (63Cx or 6983). Not retried, by design."""

    def __init__(self, key_name: str, cause: StatusWordError) -> None:
        self.key_name = key_name
        self.sw = cause.sw
        if isinstance(cause, VerificationFailedError):
            tries = cause.tries_left
            detail = f"wrong key or issuer ({cause.sw:04X}: {tries} {'try' if tries == 1 else 'tries'} left)"
        else:
            detail = f"the key is blocked on the card ({cause.sw:04X})"
        super().__init__(f"authentication failed with {key_name}: {detail}; not retried")


# -- secrets from the environment or the terminal ------------------------------------------------


def sam_pin(variable: str | None, *, required: bool) -> str | None:
    """The SAM PIN from the environment variable *variable* (default ``$CARDSERVICE_SAM_PIN``), else
    asked on a terminal. ``None`` when not *required* and no variable was named."""
    if variable is None and not required:
        return None
    return secret_from_environment(
        variable or SAM_PIN_ENV, prompt="SAM PIN: ", needed_for="the SAM PIN is needed"
    )


# -- card, SAM, session --------------------------------------------------------------------------


class WatchedCard:
    """The user card as the session sees it (``atr`` + ``transmit``), noting every EXTERNAL
    AUTHENTICATE so a refusal can name its key and the count can be checked."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.external_authentications = 0
        self._last_ins: int | None = None
        self._last_ref: int | None = None

    def __repr__(self) -> str:
        return f"WatchedCard({self._transport!r}, external_authentications={self.external_authentications})"

    @property
    def atr(self) -> bytes:
        return self._transport.atr

    def transmit(self, apdu: bytes) -> bytes:
        if len(apdu) >= 4:
            self._last_ins = apdu[1]
            if apdu[1] == _INS_EXTERNAL_AUTHENTICATE:
                self.external_authentications += 1
                self._last_ref = apdu[3]
        return self._transport.transmit(apdu)

    def refused_key(self, current_df: str | None) -> str | None:
        """The name of the key whose EXTERNAL AUTHENTICATE was the last command, if it was."""
        if self._last_ins != _INS_EXTERNAL_AUTHENTICATE or current_df is None:
            return None
        df = current_df.rpartition("/")[2]
        for key in HEALTH_KEYS:
            if key.df == df and key.card_ref == self._last_ref:
                return key.name
        return f"key {self._last_ref:02X} of {df}"


@dataclass(frozen=True)
class _Terminal:
    session: HealthCardSession
    card: WatchedCard


@contextmanager
def open_session(
    card_reader: str,
    *,
    sam_reader: str | None = None,
    keystore: str | os.PathLike[str] | None = None,
    pin: str | None = None,
    transport_factory: Callable[[str], Transport] | None = None,
) -> Iterator[HealthCardSession]:
    """A :class:`HealthCardSession` on the card in *card_reader* with the SAM in *sam_reader* or a
    software SAM over *keystore*; the PIN (if given) is verified first. Both cards are held in a
    PC/SC transaction for the whole block; an authentication refusal becomes
    :class:`AuthenticationFailedError`."""
    if (sam_reader is None) == (keystore is None):
        raise CardError("give either a SAM reader or a key store")
    factory = transport_factory or _readers.open_transport
    with ExitStack() as stack:
        sam: Sam
        if keystore is not None:
            # The key store first: a wrong passphrase stops before any card is touched.
            passphrase = keystore_passphrase(keystore)
            try:
                store = KeyStore.open(keystore, passphrase)
            except OSError as exc:
                raise CardError(f"--keys {keystore}: {exc.strerror or exc.__class__.__name__}") from None
            sam = SoftwareSam(store)
        else:
            assert sam_reader is not None
            sam_transport = factory(sam_reader)
            stack.callback(sam_transport.disconnect)
            stack.enter_context(sam_transport.transaction())
            sam = ApduSam(sam_transport)
        if pin is not None:
            _verify_sam_pin(sam, pin)
        transport = factory(card_reader)
        stack.callback(transport.disconnect)
        stack.enter_context(transport.transaction())
        card = WatchedCard(transport)
        session = HealthCardSession(card, sam)
        try:
            yield session
        except (VerificationFailedError, AuthenticationBlockedError) as exc:
            key = card.refused_key(session.current_df)
            if key is None:
                raise
            raise AuthenticationFailedError(key, exc) from None


def _verify_sam_pin(sam: Sam, pin: str) -> None:
    try:
        sam.verify_pin(pin)
    except VerificationFailedError as exc:
        raise CardError(f"the SAM refused the PIN ({exc.sw:04X}: {exc.tries_left} tries left)") from None
    except AuthenticationBlockedError:
        raise CardError("the SAM PIN is blocked (6983)") from None


# -- inputs ---------------------------------------------------------------------------------------


def encounter_record(kind: EncounterKind, path: str | os.PathLike[str]) -> InpatientRecord | OutpatientRecord:
    """An inpatient/outpatient record from a JSON file (model field names, as in the holder file)."""
    model = InpatientRecord if kind is EncounterKind.INPATIENT else OutpatientRecord
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CardError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise CodecError(f"{path}: not JSON (line {exc.lineno}, column {exc.colno})") from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors())
        raise CodecError(f"{path}: {problems}") from None


# -- rendering ------------------------------------------------------------------------------------


def render_json(files: Mapping[str, object], *, photo_file: str | None = None) -> str:
    """One JSON document keyed by file path (see the module docstring)."""
    document = {path: plain(file_data(value, photo_file)) for path, value in files.items()}
    return json.dumps(document, ensure_ascii=False, indent=2)


def _show(value: object, code_table: str | None = None) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, bytes):
        return f"<{len(value)} 字节>"
    text = str(plain(value))
    if code_table is not None and code_table in CODE_TABLES:
        label = CODE_TABLES[code_table].label(value if isinstance(value, int | str) else text)
        if label:
            return f"{text} ({label})"
    return text


def _layout_lines(record: LayoutModel, indent: str) -> list[str]:
    lines = []
    for field, value in present_fields(record):
        lines.append(f"{indent}{field.label}: {_show(value)}")  # group labels carry their index
    return lines


_SIGNATURE_LABELS = {
    "valid": "有效",
    "valid_untrusted": "有效，但签名者不在信任列表中",
    "invalid": "无效",
    "unsigned": "未签名",
    "not-checked": "未检查",
}


def _file_lines(path: str, value: object, photo_file: str | None) -> list[str]:
    file = card_file(path)
    lines = [f"{file.label} ({path})"]
    if isinstance(value, TlvFileModel):
        for name, item in type(value).items().items():
            item_value = getattr(value, name)
            if item_value is not None:
                lines.append(f"  {item.label}: {_show(item_value, item.code_table)}")
    elif isinstance(value, EncounterIndex):
        used = [str(n) for n, flag in enumerate(value.in_use, start=1) if flag]
        lines.append(f"  已用记录: {', '.join(used) if used else '无'}")
    elif isinstance(value, Encounter):
        lines.append(f"  签名: {_SIGNATURE_LABELS.get(value.signature.value, value.signature.value)}")
        if value.signer_fingerprint is not None:
            lines.append(f"  签名者: {value.signer_fingerprint}")  # SM3 of the signing SAM's public key
        lines += _layout_lines(value.record, "  ")
    elif isinstance(value, bytes):
        saved = f", 已保存到 {photo_file}" if photo_file else ""
        lines.append(f"  照片: {len(value)} 字节{saved}")
    elif isinstance(value, list):
        if not value:
            lines.append("  (无)")
        for number, entry in enumerate(value, start=1):
            entry_lines = _layout_lines(entry, "     ")
            if entry_lines:
                lines.append(f"  {number}. {entry_lines[0].strip()}")
                lines += entry_lines[1:]
    elif value is None:
        lines.append("  (无)")
    return lines


def render_human(files: Mapping[str, object], *, photo_file: str | None = None) -> str:
    """Chinese labels with values, one block per file; empty items are left out."""
    blocks = ["\n".join(_file_lines(path, value, photo_file)) for path, value in files.items()]
    return "\n\n".join(blocks)


def parse_assignments(assignments: Sequence[str]) -> dict[str, str]:
    """``["DZ1=北京市", "DZLB1=1"]`` -> ``{"DZ1": "北京市", "DZLB1": "1"}``. Abbreviations (or the
    models' field names) as given; values stay strings, the model converts and checks them."""
    fields: dict[str, str] = {}
    for number, text in enumerate(assignments, start=1):
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            # The text may be a value (personal data): name its position, not its content.
            raise CodecError(f"item {number}: expected ABBR=VALUE")
        key = name.strip()
        if key in fields:
            raise CodecError(f"{key} given twice")
        fields[key] = value
    return fields
