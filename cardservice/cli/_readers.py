"""The PC/SC readers the command-line tools work on, through the ``pcsc`` reader backend (a driver,
found through :mod:`cardservice.plugins`), and the ``-r`` reader argument."""

from __future__ import annotations

from collections.abc import Sequence

from cardservice import plugins
from cardservice.errors import CardError
from cardservice.readers import ReaderBackend, ReaderState
from cardservice.transport import Transport

__all__ = ["open_transport", "reader_names", "reader_states", "resolve_reader"]


def _pcsc() -> ReaderBackend:
    backend: ReaderBackend = plugins.load(plugins.READER_BACKENDS, "pcsc")()
    return backend


def reader_states() -> dict[str, ReaderState]:
    """Every PC/SC reader, in pcscd's order, and what is in it."""
    backend = _pcsc()
    try:
        return backend.poll(0)
    finally:
        backend.close()


def reader_names() -> list[str]:
    return list(reader_states())


def open_transport(reader: str) -> Transport:
    """A connected PC/SC transport to *reader* (tests replace this with an in-process one)."""
    return _pcsc().open(reader)


def resolve_reader(spec: str | None, readers: Sequence[str]) -> str:
    """The reader *spec* names: an index, a whole name, or a part of one name (None: the first)."""
    if not readers:
        raise CardError("no PC/SC readers found (is pcscd running? scripts/pcscd-ctl start)")
    if spec is None:
        return readers[0]
    if spec.isdigit() and int(spec) < len(readers):
        return readers[int(spec)]
    if spec in readers:
        return spec
    matches = [name for name in readers if spec.lower() in name.lower()]
    if len(matches) == 1:
        return matches[0]
    listing = ", ".join(f"{i}: {name}" for i, name in enumerate(readers))
    raise CardError(f"reader {spec!r} not found or ambiguous; readers are {listing}")
