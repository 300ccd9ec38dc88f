"""Card profiles: ATR patterns → card model and the options its card OS needs. Data, not code.

The built-in table is ``profiles.toml`` next to this module; a deployment adds its own file (setting
``card_profiles``), read first so it can override. A broken file stops the daemon at start with the
file, the profile and what is wrong (:class:`ProfileError`).

``internal_auth`` (default true) makes the reader manager prove each card genuine before serving it;
``internal_auth_key_ref`` and ``internal_auth_algorithm`` say how (profiles.toml documents them).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from cardservice.errors import CardserviceError
from cardservice.healthcard import CardFactorSource, InternalAuthAlgorithm

__all__ = ["CardProfile", "ProfileError", "ProfileTable", "load_profiles"]

Model = Literal["health", "unsupported"]
_MODELS: frozenset[str] = frozenset({"health", "unsupported"})
_PATTERN = re.compile(r"[0-9A-F.]*\*?")


class ProfileError(CardserviceError):
    """A card profile file cannot be used."""


@dataclass(frozen=True)
class CardProfile:
    name: str
    atr: str  # the pattern as written, normalised (upper case, no spaces)
    model: Model
    options: Mapping[str, Any] = field(default_factory=dict)
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _PATTERN.fullmatch(self.atr):
            raise ProfileError(f"profile {self.name!r}: atr {self.atr!r} is not a hex pattern (0-9 A-F . *)")
        body, star = (self.atr[:-1], True) if self.atr.endswith("*") else (self.atr, False)
        if len(body) % 2:
            raise ProfileError(f"profile {self.name!r}: atr pattern has an odd number of hex digits")
        regex = body.replace(".", "[0-9A-F]") + ("(?:[0-9A-F]{2})*" if star else "")
        object.__setattr__(self, "_regex", re.compile(regex))

    def matches(self, atr: bytes) -> bool:
        return self._regex.fullmatch(atr.hex().upper()) is not None

    @property
    def internal_auth(self) -> bool:
        """Whether a card of this profile must prove it is genuine before it is served (default: yes)."""
        return bool(self.options.get("internal_auth", True))

    def session_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~cardservice.healthcard.HealthCardSession`."""
        options = dict(self.options)
        options.pop("internal_auth", None)  # the reader manager's decision, not the session's
        if "terminal_data" in options:
            options["terminal_data"] = bytes.fromhex(options["terminal_data"])
        if "card_factor_source" in options:
            options["card_factor_source"] = CardFactorSource(options["card_factor_source"])
        if "internal_auth_algorithm" in options:
            options["internal_auth_algorithm"] = InternalAuthAlgorithm(options["internal_auth_algorithm"])
        return options


_OPTION_CHECKS: dict[str, Any] = {
    "binary_chunk": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 256,
    "read_all_records": lambda v: isinstance(v, bool),
    "card_factor_source": lambda v: v in {s.value for s in CardFactorSource},
    "terminal_data": lambda v: (
        isinstance(v, str) and re.fullmatch(r"(?:[0-9A-Fa-f]{2}\s*){8}", v) is not None
    ),
    "internal_auth": lambda v: isinstance(v, bool),
    "internal_auth_key_ref": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0x01 <= v <= 0xFE,
    "internal_auth_algorithm": lambda v: v in {a.value for a in InternalAuthAlgorithm},
}


def _profile(entry: Any, where: str) -> CardProfile:
    if not isinstance(entry, dict):
        raise ProfileError(f"{where}: a profile is a table ([[profile]])")
    unknown = set(entry) - {"name", "atr", "model", "options"}
    if unknown:
        raise ProfileError(f"{where}: unknown keys {sorted(unknown)}")
    name, atr, model = entry.get("name"), entry.get("atr"), entry.get("model")
    if not isinstance(name, str) or not name:
        raise ProfileError(f"{where}: 'name' is required")
    if not isinstance(atr, str):
        raise ProfileError(f"{where} ({name}): 'atr' is required")
    if model not in _MODELS:
        raise ProfileError(f"{where} ({name}): 'model' must be one of {sorted(_MODELS)}")
    options = entry.get("options", {})
    if not isinstance(options, dict):
        raise ProfileError(f"{where} ({name}): 'options' is a table")
    for key, value in options.items():
        check = _OPTION_CHECKS.get(key)
        if check is None:
            raise ProfileError(f"{where} ({name}): unknown option {key!r} (known: {sorted(_OPTION_CHECKS)})")
        if not check(value):
            raise ProfileError(f"{where} ({name}): option {key} = {value!r} is not valid")
    pattern = re.sub(r"\s+", "", atr).upper()
    return CardProfile(name=name, atr=pattern, model=model, options=options)


def _parse(text: str, source: str) -> list[CardProfile]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: {exc}") from None
    entries = document.get("profile", [])
    if set(document) - {"profile"} or not isinstance(entries, list):
        raise ProfileError(f"{source}: expected only [[profile]] tables")
    return [_profile(entry, f"{source} profile {index + 1}") for index, entry in enumerate(entries)]


@dataclass(frozen=True)
class ProfileTable:
    profiles: Sequence[CardProfile]

    def match(self, atr: bytes) -> CardProfile | None:
        return next((profile for profile in self.profiles if profile.matches(atr)), None)

    def __iter__(self) -> Iterator[CardProfile]:
        return iter(self.profiles)


def load_profiles(extra: Path | None = None) -> ProfileTable:
    """The deployment's profiles (*extra*) first, then the built-in ones."""
    builtin = resources.files(__package__).joinpath("profiles.toml").read_text(encoding="utf-8")
    profiles = _parse(builtin, "built-in profiles.toml")
    if extra is not None:
        try:
            text = extra.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProfileError(f"{extra}: cannot read ({exc.__class__.__name__})") from None
        profiles = _parse(text, str(extra)) + profiles
    return ProfileTable(tuple(profiles))
