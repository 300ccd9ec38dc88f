"""Non-volatile memory with a commit buffer (anti-tearing), and fault injection.

The card's persistent state is a flat map of named *areas* (byte strings): file headers, file
contents, records, keys and retry counters (the names are laid out by :mod:`._fs`). Every change a
command makes goes through :meth:`Nvm.commit`, which follows the protocol of real card operating
systems' transaction buffers:

1. copy the old value of every area about to change into the backup buffer (one programming
   operation per area);
2. set the commit flag (one operation);
3. program the new bytes, one :data:`PAGE_SIZE` page per operation, only the pages that change;
4. clear the commit flag (one operation) — from here on the write is wholly new.

On power-on (:meth:`Nvm.recover`) a set flag means the command was torn between steps 2 and 4: the
backup is copied back and the areas are wholly old again. A tear before step 2 leaves the areas
untouched (the half-written backup is ignored because the flag is clear).

Fault injection counts these programming operations: :meth:`FaultInjector.tear` arms a budget for one
future command; when the budget is spent the NVM persists its torn state and raises
:class:`~cardservice.transport.PowerLost`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from cardservice.transport import PowerLost

__all__ = ["PAGE_SIZE", "FaultInjector", "Nvm"]

#: Bytes programmed by one NVM programming operation (one EEPROM page).
PAGE_SIZE = 32


class FaultInjector:
    """Arms power cuts for tests: ``card.faults.tear(after_commands=0, after_nvm_writes=0)``.

    The tear hits the command ``after_commands`` commands from now (0 = the next one) after
    ``after_nvm_writes`` NVM programming operations. If that command needs fewer operations, it
    completes its writes and power is lost before the response is sent. Either way
    :class:`~cardservice.transport.PowerLost` is raised and the tear is disarmed.
    """

    def __init__(self) -> None:
        self._armed: tuple[int, int] | None = None
        #: NVM programming operations of the last command (also counted when it was torn).
        self.last_command_nvm_writes = 0

    def tear(self, after_commands: int = 0, after_nvm_writes: int = 0) -> None:
        if after_commands < 0 or after_nvm_writes < 0:
            raise ValueError("tear counts must not be negative")
        self._armed = (after_commands, after_nvm_writes)

    def clear(self) -> None:
        """Disarm any pending tear."""
        self._armed = None

    @property
    def armed(self) -> bool:
        return self._armed is not None

    def begin_command(self) -> int | None:
        """Called once per command: the NVM operation budget if this command is the torn one."""
        if self._armed is None:
            return None
        commands, writes = self._armed
        if commands > 0:
            self._armed = (commands - 1, writes)
            return None
        self._armed = None
        return writes


@dataclass
class Nvm:
    """The card's EEPROM: named areas plus the commit (backup) buffer."""

    areas: dict[str, bytes] = field(default_factory=dict)
    #: Backup entries (area name, old value or None if the area did not exist).
    backup: list[tuple[str, bytes | None]] = field(default_factory=list)
    #: The commit flag: set while new bytes are being programmed.
    pending: bool = False
    #: Programming operations over the card's lifetime (persisted; a wear indicator).
    lifetime_writes: int = 0
    #: Called after each completed commit and at a tear, to write the image file.
    persist: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    _budget: int | None = field(default=None, repr=False, compare=False)
    command_writes: int = field(default=0, repr=False, compare=False)

    # -- reading ---------------------------------------------------------------------------

    def get(self, name: str) -> bytes | None:
        return self.areas.get(name)

    def names(self) -> Iterator[str]:
        return iter(list(self.areas))

    # -- command boundaries (fault injection) ------------------------------------------------

    def begin_command(self, budget: int | None) -> None:
        self._budget = budget
        self.command_writes = 0

    def end_command(self) -> None:
        """End of a command; if it was the torn one and still has budget, power goes now."""
        torn = self._budget is not None
        self._budget = None
        if torn:
            self._save()
            raise PowerLost("power lost after the command's writes, before the response")

    # -- writing -----------------------------------------------------------------------------

    def commit(self, writes: Mapping[str, bytes | None]) -> None:
        """Atomically replace areas (``None`` deletes one). See the module docstring."""
        changes = {name: value for name, value in writes.items() if self.areas.get(name) != value}
        if not changes:
            return
        self.backup = []
        for name in changes:
            self._program()
            self.backup.append((name, self.areas.get(name)))
        self._program()
        self.pending = True
        for name, new in changes.items():
            if new is None:
                self._program()
                del self.areas[name]
                continue
            for start in _pages(self.areas.get(name), new):
                self._program()
                self.areas[name] = _programmed(self.areas.get(name), new, start)
        self._program()
        self.pending = False
        self.backup = []
        self._save()

    def recover(self) -> bool:
        """Power-on recovery: roll a torn commit back. Returns True when it did."""
        if not self.pending:
            return False
        for name, old in reversed(self.backup):
            if old is None:
                self.areas.pop(name, None)
            else:
                self.areas[name] = old
        self.pending = False
        self.backup = []
        self._save()
        return True

    def _program(self) -> None:
        """One programming operation, unless the injected fault cuts the power first."""
        if self._budget is not None:
            if self._budget == 0:
                self._budget = None
                self._save()
                raise PowerLost("power lost during an NVM write")
            self._budget -= 1
        self.command_writes += 1
        self.lifetime_writes += 1

    def _save(self) -> None:
        if self.persist is not None:
            self.persist()


def _pages(old: bytes | None, new: bytes) -> list[int]:
    """Start offsets of the pages of *new* that differ from *old* (at least one page)."""
    if old is None or len(old) != len(new):
        first, end = 0, len(new)
        if old is not None:
            # The common prefix is already in place; program from the first difference.
            while first < min(len(old), len(new)) and old[first] == new[first]:
                first += 1
    else:
        first = next(i for i in range(len(new)) if old[i] != new[i])
        end = next(i for i in range(len(new), 0, -1) if old[i - 1] != new[i - 1])
    first -= first % PAGE_SIZE
    starts = list(range(first, end, PAGE_SIZE))
    return starts or [first]


def _programmed(current: bytes | None, new: bytes, start: int) -> bytes:
    """*current* resized to *new*'s length (erased bytes read FF) with one page programmed."""
    base = bytearray((current or b"")[: len(new)].ljust(len(new), b"\xff"))
    base[start : start + PAGE_SIZE] = new[start : start + PAGE_SIZE]
    return bytes(base)
