"""What of an APDU may be shown in a trace, a repr or a log: one declarative policy.

Three visibilities:

* ``SECRET``   — PINs, authentication cryptograms, key loading, anything under secure messaging and
  every proprietary-class command (whose meaning we cannot know: the SAM's ``80 5E`` carries PINs,
  ``80 D4`` keys). Never shown, not even on request: only the length appears.
* ``PERSONAL`` — data that may identify the cardholder (READ RECORD/BINARY responses carry names and
  ID numbers; UPDATE commands write them). Shown only inside :meth:`LoggingTracer.non_personal`,
  and even then passed through :func:`mask_personal`.
* ``PUBLIC``   — file identifiers, DF names, FCIs, challenges, offsets: shown.

Interindustry commands are classified by INS (ISO/IEC 7816-4 §5.1.2, Table 4 of the 2013 edition).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = [
    "DEFAULT_MASKING_POLICY",
    "MaskingPolicy",
    "Visibility",
    "decode_text",
    "mask_personal",
    "mask_personal_bytes",
]


class Visibility(enum.Enum):
    PUBLIC = "public"
    PERSONAL = "personal"
    SECRET = "secret"  # noqa: S105 - a visibility level, not a password


# INS whose command data are secret whatever the class (ISO/IEC 7816-4 Table 4 + PBOC WRITE KEY).
_SECRET_INS = frozenset(
    {
        0x20,  # VERIFY (PIN)
        0x21,  # VERIFY, odd INS
        0x24,  # CHANGE REFERENCE DATA (old and new PIN)
        0x25,  # CHANGE REFERENCE DATA, odd INS
        0x2C,  # RESET RETRY COUNTER (PUK, new PIN)
        0x2D,  # RESET RETRY COUNTER, odd INS
        0x2A,  # PERFORM SECURITY OPERATION (plaintext to encipher, signatures)
        0x82,  # EXTERNAL AUTHENTICATE (cryptogram)
        0x86,  # GENERAL AUTHENTICATE
        0x87,  # GENERAL AUTHENTICATE, odd INS
        0x88,  # INTERNAL AUTHENTICATE
        0xD4,  # WRITE KEY (PBOC / FMCOS personalisation)
        0xD8,  # PUT KEY (GlobalPlatform)
    }
)

# INS whose command data never identify a person: identifiers, offsets, tags.
_PUBLIC_COMMAND_INS = frozenset(
    {
        0xA4,  # SELECT (FID, path, DF name)
        0xB0,  # READ BINARY (no data)
        0xB1,  # READ BINARY, odd INS (offset data object)
        0xB2,  # READ RECORD (no data)
        0xB3,  # READ RECORD, odd INS
        0x84,  # GET CHALLENGE (no data)
        0xC0,  # GET RESPONSE (no data)
        0xCA,  # GET DATA (no data)
        0xCB,  # GET DATA, odd INS (tag list)
        0x70,  # MANAGE CHANNEL
    }
)

# INS whose response data never identify a person: FCI/FCP and challenges.
_PUBLIC_RESPONSE_INS = frozenset({0xA4, 0x84, 0x70})


@dataclass(frozen=True)
class MaskingPolicy:
    """Classifies APDU data by CLA and INS. Replace the sets to tighten or relax the policy."""

    secret_ins: frozenset[int] = _SECRET_INS
    public_command_ins: frozenset[int] = _PUBLIC_COMMAND_INS
    public_response_ins: frozenset[int] = _PUBLIC_RESPONSE_INS

    def command_visibility(self, cla: int, ins: int) -> Visibility:
        """Visibility of the data field of a command with this CLA and INS."""
        if _is_secret_class(cla) or ins in self.secret_ins:
            return Visibility.SECRET
        if ins in self.public_command_ins:
            return Visibility.PUBLIC
        return Visibility.PERSONAL

    def response_visibility(self, cla: int, ins: int) -> Visibility:
        """Visibility of the response data to a command with this CLA and INS.

        For GET RESPONSE pass the CLA/INS of the command that started the chain.
        """
        if _is_secret_class(cla) or ins in self.secret_ins:
            return Visibility.SECRET
        if ins in self.public_response_ins:
            return Visibility.PUBLIC
        return Visibility.PERSONAL


def _is_secret_class(cla: int) -> bool:
    """Proprietary classes (b8 = 1, including FF) and secure messaging: their data are opaque to us."""
    if cla & 0x80:
        return True
    if cla <= 0x1F:
        return bool(cla & 0x0C)
    if 0x40 <= cla <= 0x7F:
        return bool(cla & 0x20)
    return True  # 20-3F: RFU classes, unknown meaning


DEFAULT_MASKING_POLICY = MaskingPolicy()


# -- personal data in decoded text ---------------------------------------------------------------

# GB 11643 citizen ID: 17 digits and a check character (digit or X), not part of a longer number.
_CITIZEN_ID = re.compile(r"(?<![0-9])([0-9]{4})[0-9]{12}([0-9Xx]{2})(?![0-9A-Za-z])")
# A run of Han characters (a name, an address, an institution); "·" joins minority names.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RUN = re.compile(f"([{_HAN}])([{_HAN}\u00b7]+)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def mask_personal(text: str) -> str:
    """Mask citizen ID numbers and Chinese names in decoded text.

    * An 18-character ID number keeps its first 4 (province/city) and last 2 characters:
      ``110101199003071234`` -> ``1101************34``.
    * Every run of two or more Han characters keeps its first character: ``张三丰`` -> ``张**``.
      A name cannot be told from other Chinese text, so all of it is masked (the safe failure).
    """
    text = _CITIZEN_ID.sub(lambda m: m.group(1) + "*" * 12 + m.group(2), text)
    return _HAN_RUN.sub(lambda m: m.group(1) + "*" * len(m.group(2)), text)


def decode_text(data: bytes) -> str:
    """Card bytes as printable text: UTF-8 when valid, else GBK (how the health card stores AN
    items); control and padding bytes become ``.``. No masking."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("gbk", errors="replace")
    return _CONTROL.sub(".", text)


def mask_personal_bytes(data: bytes) -> str:
    """:func:`decode_text` followed by :func:`mask_personal`."""
    return mask_personal(decode_text(data))
