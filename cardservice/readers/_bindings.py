"""What the configuration says about readers (``[[readers]]`` in ``cardservice.toml``): which reader is
a user-card reader and where its keys come from, and which readers are kept for something else.

Readers are matched by name: a pattern matches a reader whose name equals it or contains it
(``"00 00"`` matches ``"cardservice-vpcd 00 00"``), among the readers of the backend ``kind`` names
(``pcsc`` by default; another kind is a driver found through :mod:`cardservice.plugins`).

Roles::

    card      a user-card reader: every card inserted is read (identity, blacklist) and served to the API
    sam       the PSAM reader a card reader is bound to (``sam = ...`` of a card binding)
    issuer    kept for card-issuer: listed, never read (a blank card in it is not an error)
    ignored   not listed and never touched (a reader that belongs to another application)
    unassigned  any other reader: listed with its card presence, never read
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationInfo, field_validator

__all__ = ["DEFAULT_KIND", "ReaderBinding", "ReaderEntry", "ReservedReader", "matches"]

DEFAULT_KIND = "pcsc"
_Kind = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


def matches(pattern: str, name: str) -> bool:
    """*name* is the reader *pattern* means: the same name, or one that contains it (case-insensitive)."""
    return pattern == name or pattern.lower() in name.lower()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReaderBinding(_Strict):
    """A user-card reader and where its keys come from: the PSAM in ``sam`` (a reader of the same
    backend) or a software SAM over the encrypted key store ``keystore``."""

    card: Annotated[str, Field(min_length=1)]
    sam: str | None = None
    keystore: Annotated[Path | None, Field(validate_default=True)] = None
    sam_pin_env: str | None = Field(
        default=None, description="environment variable holding the SAM PIN (needed to sign records)"
    )
    kind: _Kind = Field(
        default=DEFAULT_KIND, description="the reader backend: pcsc, or another driver's kind"
    )

    @field_validator("keystore")
    @classmethod
    def _one_key_source(cls, keystore: Path | None, info: ValidationInfo) -> Path | None:
        # A field check, not a model check: it is reported together with any other key's problem.
        if (info.data.get("sam") is None) == (keystore is None):
            raise ValueError("give exactly one of 'sam' (a PSAM reader) or 'keystore' (a key store file)")
        return keystore


class ReservedReader(_Strict):
    """A reader kept out of the daemon's card handling: ``issuer`` (card-issuer's, shown but never
    read) or ``ignored`` (neither shown nor touched)."""

    reader: Annotated[str, Field(min_length=1)]
    role: Literal["issuer", "ignored"]
    kind: _Kind = DEFAULT_KIND


def _entry_kind(value: Any) -> str:
    """An entry with ``reader`` is a reserved reader; any other is a card reader's binding (so a mistake
    is reported against the one the entry was meant to be)."""
    has_reader = "reader" in value if isinstance(value, dict) else isinstance(value, ReservedReader)
    return "reserved" if has_reader else "card"


#: One ``[[readers]]`` entry of the configuration.
ReaderEntry = Annotated[
    Annotated[ReaderBinding, Tag("card")] | Annotated[ReservedReader, Tag("reserved")],
    Discriminator(_entry_kind),
]
