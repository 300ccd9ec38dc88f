"""Status words: one declarative table (ISO/IEC 7816-4 §5.1.3, Tables 5 and 6) plus the health card's
and PBOC's proprietary ones, mapping each SW to an error class of :mod:`cardservice.errors`.

A row matches when ``sw & mask == pattern``; the most specific row (most mask bits) wins, so
``6A82`` beats ``6Axx``. Proprietary 9xxx rows are mapped to the nearest ISO category so that a
caller catching, say, :class:`CommandNotAllowedError` also catches PBOC's "MAC invalid".
"""

from __future__ import annotations

from dataclasses import dataclass

from cardservice.errors import (
    AuthenticationBlockedError,
    ClassFunctionError,
    ClassNotSupportedError,
    CodecError,
    CommandNotAllowedError,
    ConditionsNotSatisfiedError,
    ExecutionError,
    InstructionNotSupportedError,
    NotFoundError,
    SecurityNotSatisfiedError,
    StatusWordError,
    UnknownStatusError,
    VerificationFailedError,
    WarningStatusError,
    WrongLengthError,
    WrongParametersError,
)

__all__ = ["STATUS_TABLE", "SW_SUCCESS", "StatusEntry", "describe_sw", "error_for_sw", "lookup_sw"]

SW_SUCCESS = 0x9000

_EXACT = 0xFFFF
_SW1 = 0xFF00
_NIBBLE = 0xFFF0


@dataclass(frozen=True)
class StatusEntry:
    """One row: SW pattern and mask, the error class raised for it, the standard's wording.

    ``{sw2}`` / ``{x}`` in ``description`` are filled with SW2 (decimal) / its low nibble.
    """

    pattern: int
    mask: int
    error: type[StatusWordError]
    description: str

    def matches(self, sw: int) -> bool:
        return sw & self.mask == self.pattern

    @property
    def specificity(self) -> int:
        return self.mask.bit_count()


def _row(spec: str, error: type[StatusWordError], description: str) -> StatusEntry:
    """``"6A82"`` exact, ``"6AXX"`` SW1 only, ``"63CX"`` SW1 and high nibble of SW2."""
    spec = spec.upper()
    if spec.endswith("XX"):
        return StatusEntry(int(spec[:2], 16) << 8, _SW1, error, description)
    if spec.endswith("X"):
        return StatusEntry(int(spec[:3], 16) << 4, _NIBBLE, error, description)
    return StatusEntry(int(spec, 16), _EXACT, error, description)


# fmt: off
STATUS_TABLE: tuple[StatusEntry, ...] = (
    # -- normal processing (ISO/IEC 7816-4 §5.1.3, Table 5) --
    _row("9000", StatusWordError, "normal processing, no further qualification"),
    _row("61XX", StatusWordError, "normal processing, {sw2} response bytes still available (GET RESPONSE)"),
    # -- warnings, state of non-volatile memory unchanged (62xx) --
    _row("62XX", WarningStatusError, "warning: state of non-volatile memory unchanged"),
    _row("6200", WarningStatusError, "warning: no information given, non-volatile memory unchanged"),
    _row("6281", WarningStatusError, "warning: part of returned data may be corrupted"),
    _row("6282", WarningStatusError, "warning: end of file or record reached before reading Ne bytes"),
    _row("6283", WarningStatusError, "warning: selected file deactivated"),
    _row("6284", WarningStatusError, "warning: file control information not formatted per ISO/IEC 7816-4"),
    _row("6285", WarningStatusError, "warning: selected file in termination state"),
    _row("6286", WarningStatusError, "warning: no input data available from a sensor on the card"),
    # -- warnings, state of non-volatile memory changed (63xx) --
    _row("63XX", WarningStatusError, "warning: state of non-volatile memory changed"),
    _row("6300", WarningStatusError, "warning: no information given, non-volatile memory changed"),
    _row("6381", WarningStatusError, "warning: file filled up by the last write"),
    # 63Cx: ISO says "counter x"; for VERIFY / EXTERNAL AUTHENTICATE (the health card's traces show
    # 63CE then 63CD) it is the number of tries left.
    _row("63CX", VerificationFailedError, "verification failed, {x} tries left"),
    # -- execution errors (64xx-66xx) --
    _row("64XX", ExecutionError, "execution error: state of non-volatile memory unchanged"),
    _row("6400", ExecutionError, "execution error: no information given, non-volatile memory unchanged"),
    _row("6401", ExecutionError, "execution error: immediate response required by the card"),
    _row("65XX", ExecutionError, "execution error: state of non-volatile memory changed"),
    _row("6500", ExecutionError, "execution error: no information given, non-volatile memory changed"),
    _row("6581", ExecutionError, "execution error: memory failure"),
    _row("66XX", ExecutionError, "execution error: security-related issue"),
    # -- checking errors (67xx-6Fxx, Table 6) --
    _row("67XX", WrongLengthError, "wrong length"),
    _row("6700", WrongLengthError, "wrong length: no further indication"),
    _row("68XX", ClassFunctionError, "functions in CLA not supported"),
    _row("6800", ClassFunctionError, "functions in CLA not supported: no information given"),
    _row("6881", ClassFunctionError, "logical channel not supported"),
    _row("6882", ClassFunctionError, "secure messaging not supported"),
    _row("6883", ClassFunctionError, "last command of the chain expected"),
    _row("6884", ClassFunctionError, "command chaining not supported"),
    _row("69XX", CommandNotAllowedError, "command not allowed"),
    _row("6900", CommandNotAllowedError, "command not allowed: no information given"),
    _row("6981", CommandNotAllowedError, "command incompatible with file structure"),
    _row("6982", SecurityNotSatisfiedError, "security status not satisfied"),
    _row("6983", AuthenticationBlockedError, "authentication method blocked"),
    _row("6984", CommandNotAllowedError, "reference data not usable"),
    _row("6985", ConditionsNotSatisfiedError, "conditions of use not satisfied"),
    _row("6986", CommandNotAllowedError, "command not allowed (no current EF)"),
    _row("6987", CommandNotAllowedError, "expected secure messaging data objects missing"),
    _row("6988", CommandNotAllowedError, "incorrect secure messaging data objects"),
    _row("6AXX", WrongParametersError, "wrong parameters P1-P2"),
    _row("6A00", WrongParametersError, "wrong parameters: no information given"),
    _row("6A80", WrongParametersError, "incorrect parameters in the command data field"),
    _row("6A81", WrongParametersError, "function not supported"),
    _row("6A82", NotFoundError, "file or application not found"),
    _row("6A83", NotFoundError, "record not found"),
    _row("6A84", WrongParametersError, "not enough memory space in the file"),
    _row("6A85", WrongParametersError, "Nc inconsistent with TLV structure"),
    _row("6A86", WrongParametersError, "incorrect parameters P1-P2"),
    _row("6A87", WrongParametersError, "Nc inconsistent with parameters P1-P2"),
    _row("6A88", WrongParametersError, "referenced data or reference data not found"),
    _row("6A89", WrongParametersError, "file already exists"),
    _row("6A8A", WrongParametersError, "DF name already exists"),
    _row("6BXX", WrongParametersError, "wrong parameters P1-P2"),
    _row("6B00", WrongParametersError, "wrong parameters P1-P2 (offset outside the EF)"),
    _row("6CXX", WrongLengthError, "wrong Le field: {sw2} data bytes available"),
    _row("6DXX", InstructionNotSupportedError, "instruction code not supported or invalid"),
    _row("6EXX", ClassNotSupportedError, "class not supported"),
    _row("6FXX", UnknownStatusError, "no precise diagnosis"),
    # -- PBOC (JR/T 0025) / FMCOS proprietary status words, seen on health-card COSes --
    _row("9302", CommandNotAllowedError, "MAC invalid (PBOC)"),
    _row("9303", CommandNotAllowedError, "application permanently blocked (PBOC)"),
    _row("9401", ConditionsNotSatisfiedError, "insufficient balance (PBOC)"),
    _row("9403", WrongParametersError, "key index not supported (PBOC)"),
    _row("9406", ConditionsNotSatisfiedError, "required MAC not available (PBOC)"),
)
# fmt: on

# Most specific first, so the first match is the best one.
_BY_SPECIFICITY = tuple(sorted(STATUS_TABLE, key=lambda entry: -entry.specificity))


def _check_sw(sw: int) -> None:
    if not isinstance(sw, int) or isinstance(sw, bool) or not 0 <= sw <= 0xFFFF:
        raise CodecError(f"status word must be 0..FFFF, got {sw!r}")


def lookup_sw(sw: int) -> StatusEntry | None:
    """The most specific table row for ``sw``, or None when the table does not know it."""
    _check_sw(sw)
    for entry in _BY_SPECIFICITY:
        if entry.matches(sw):
            return entry
    return None


def describe_sw(sw: int) -> str:
    """English meaning of a status word, e.g. ``describe_sw(0x6A82) == "file or application not found"``."""
    entry = lookup_sw(sw)
    if entry is None:
        return "unknown status word"
    return entry.description.format(sw2=sw & 0xFF, x=sw & 0x0F)


def error_for_sw(sw: int, data: bytes = b"") -> StatusWordError:
    """The exception for a non-success status word (returned, not raised).

    Unknown status words give :class:`UnknownStatusError`. For ``9000`` a plain
    :class:`StatusWordError` is returned; callers should not ask (see :meth:`ResponseApdu.check`).
    """
    entry = lookup_sw(sw)
    if entry is None:
        return UnknownStatusError(sw, data, "unknown status word")
    return entry.error(sw, data, describe_sw(sw))
