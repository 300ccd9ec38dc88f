"""What the end of the audit chain should be, against what it is: the checks :meth:`AuditLog.verify`
makes once it has walked the log (pure: no database, no key)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cardservice.access._anchor import AuditAnchor

__all__ = ["GENESIS", "Chain", "check_end", "same"]

GENESIS = "0" * 64  # the first record's prev_hash


def same(stored: str, expected: str) -> bool:
    # Bytes: compare_digest refuses str with non-ASCII characters, which an edited column may hold.
    return hmac.compare_digest(stored.encode(), expected.encode())


@dataclass
class Chain:
    """What :meth:`AuditLog.verify` read: the head (seq, hash, whether its MAC holds), the last record's
    seq (0: none) and hash, and the hash found at each seq it was asked for."""

    head: tuple[int, str, bool] | None = None
    last: int = 0
    last_hash: str = GENESIS
    found: dict[int, str] = field(default_factory=dict)


def _says(ends: Mapping[str, int]) -> str:
    """``the head says seq 10``, ``the head and the anchor say seq 10``, ``the head says seq 10, the
    anchor seq 12``: who claims the log reaches which seq."""
    by_seq: dict[int, list[str]] = {}
    for who, seq in ends.items():
        by_seq.setdefault(seq, []).append(who)
    parts = []
    for index, (seq, names) in enumerate(by_seq.items()):
        verb = "" if index else (" says" if len(names) == 1 else " say")
        parts.append(f"{' and '.join(names)}{verb} seq {seq}")
    return ", ".join(parts)


def check_end(chain: Chain, anchors: Mapping[str, AuditAnchor], problem: Callable[[str], None]) -> None:
    """The head against the last record, then where the log should reach by what knows it (the head
    when its MAC holds, the anchors) against where it does."""
    last = chain.last
    if chain.head is None:
        if last:
            problem(f"head row missing (the chain ends at seq {last})")
        head_seq, consistent = None, False
    else:
        head_seq, head_hash, valid = chain.head
        if not valid:
            problem("head MAC invalid (the head row was altered)")
        elif head_seq < last:
            problem(f"chain ends at seq {last} but the head says {head_seq} (records added past the head)")
        elif head_seq == last and head_hash != chain.last_hash:
            problem(f"seq {last}: not the record the head names (last record replaced)")
        consistent = valid and head_seq == last and head_hash == chain.last_hash
        head_seq = head_seq if valid else None
    ends = {who: a.seq for who, a in anchors.items() if a.seq > last}
    if head_seq is not None and head_seq > last:
        ends = {"the head": head_seq, **ends}
    if ends:
        says = _says(ends)
        if not last:
            problem(f"the log is empty but {says}")
        elif consistent:  # whole in itself, only shorter than an anchor: a copy from before its record
            problem(f"the database is older than {' and '.join(ends)} ({says}, the database ends at "
                    f"seq {last}): restored from a backup?")  # fmt: skip
        else:
            problem(f"the newest {max(ends.values()) - last} records are missing ({says}, the database "
                    f"ends at seq {last})")  # fmt: skip
    for who, known in anchors.items():
        if known.seq in chain.found and not same(chain.found[known.seq], known.hash):
            problem(f"seq {known.seq} is not the record {who} names: the database was restored from an "
                    "older backup and appended to since?")  # fmt: skip
