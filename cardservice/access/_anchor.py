"""The audit chain's anchor: how far the chain had got, remembered outside the database.

The head row and its MAC catch the newest records deleted while the head stays. A database that is
consistent in itself has nothing that says the chain was once longer: the newest records deleted
together with the head, every record deleted, an older backup put back. The anchor is that memory. It
holds the seq and hash of the newest record this data directory appended, in ``audit.anchor`` beside
``audit.key``::

    {"seq":1234,"hash":"<64 hex>","mac":"<64 hex>"}      mac = HMAC-SHA256(key, "anchor|1234|<hash>")

``AuditLog.verify`` requires the chain to reach the anchor's seq and to hold the anchor's record there.
An anchor behind the head is fine: daemons that share one PostgreSQL each keep their own anchor, and the
others append in the meantime.

Each append hands its record to :class:`AnchorWriter` once it has committed, so the anchor never names
a record the database has not got. The writer writes on a thread of its own, never on the append's
path: replacing a file costs about as much as the append itself (measured: ~140 µs on ext4, whose
rename over an existing file starts writeback). It writes only the newest anchor handed to it, at most
once per interval. Under load the anchor trails the head by at most that interval; when appends are
seconds apart, each one is written at once. ``flush`` and ``close`` write what is pending without
waiting.

Writers hold an exclusive ``flock`` on the data directory while they read the anchor, compare it and
replace it: two processes on one data directory (the daemon and an admin command) cannot move it back.
The new anchor goes to a temporary file (mode 0600), which is then renamed over the old one, so a
reader sees either the old anchor or the new one, never half of it. The file is not fsynced. After a
crash it may be a record or a few behind, and verify accepts that. After a power cut, a SQLite database
(``synchronous=NORMAL``) may lose its last commits while the anchor keeps them, and verify then reports
those records missing, which is true.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cardservice.store import StoreError

__all__ = ["ANCHOR_FILE", "AnchorFile", "AnchorUnusable", "AnchorWriter", "AuditAnchor"]

log = logging.getLogger(__name__)

ANCHOR_FILE = "audit.anchor"
_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class AuditAnchor:
    """A record the chain must hold: its seq and hash. Written ``SEQ:HASH``, as the daemon logs it."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> AuditAnchor:
        """``SEQ:HASH`` (seq from 1, hash 64 lower-case hex digits); ValueError otherwise."""
        seq, _, digest = text.strip().partition(":")
        if not seq.isdigit() or int(seq) < 1 or not _HASH.fullmatch(digest):
            raise ValueError(f"not SEQ:HASH: {text!r}")
        return cls(int(seq), digest)


def _fields(text: bytes) -> tuple[int, str, str] | None:
    """seq, hash and mac of an anchor file, or None when it is not what :meth:`AnchorFile.write` makes."""
    try:
        fields = json.loads(text)
    except ValueError:  # UnicodeDecodeError too
        return None
    if not isinstance(fields, dict) or set(fields) != {"seq", "hash", "mac"}:
        return None
    seq, digest, mac = fields["seq"], fields["hash"], fields["mac"]
    if type(seq) is not int or seq < 1 or not isinstance(digest, str) or not isinstance(mac, str):
        return None
    return (seq, digest, mac) if _HASH.fullmatch(digest) else None


class AnchorUnusable(StoreError):
    """The anchor file exists but cannot serve as an anchor. It is unreadable, or it was not made with
    this key. The message names the file."""


class AnchorFile:
    """``home/audit.anchor``, authenticated with the audit *key*."""

    def __init__(self, home: Path, key: bytes) -> None:
        self.home = home
        self.path = home / ANCHOR_FILE
        self._key = key

    def _mac(self, seq: int, digest: str) -> str:
        return hmac.new(self._key, f"anchor|{seq}|{digest}".encode(), hashlib.sha256).hexdigest()

    def read(self) -> AuditAnchor | None:
        """The anchor, or None when there is no file. Raises :class:`AnchorUnusable`."""
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AnchorUnusable(f"the anchor {self.path} cannot be read: {exc.strerror}") from None
        fields = _fields(text)
        if fields is None:
            raise AnchorUnusable(f"the anchor {self.path} is unreadable (not what the daemon writes)")
        seq, digest, mac = fields
        if not hmac.compare_digest(mac.encode(), self._mac(seq, digest).encode()):
            raise AnchorUnusable(
                f"the anchor {self.path} was not made with this audit key "
                "(edited, or from another installation)"
            )
        return AuditAnchor(seq, digest)

    def write(self, anchor: AuditAnchor) -> None:
        """Replace the anchor whole (see the module docstring). Raises OSError."""
        text = json.dumps({"seq": anchor.seq, "hash": anchor.hash, "mac": self._mac(anchor.seq, anchor.hash)},
                          separators=(",", ":")) + "\n"  # fmt: skip
        temporary = self.home / f".{ANCHOR_FILE}.{secrets.token_hex(8)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                os.write(descriptor, text.encode())
            finally:
                os.close(descriptor)
            os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the data directory's writer lock: an exclusive flock on the directory itself (no lock
        file), released when the descriptor is closed. The directory (0700) is made when it is missing."""
        try:
            descriptor = os.open(self.home, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(self.home, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)


class AnchorWriter:
    """Hands anchors to *write* on a thread of its own: only the newest one (a burst of appends is one
    write), and at most one write every *interval* seconds. The thread starts at the first anchor."""

    def __init__(self, write: Callable[[AuditAnchor], None], interval: float) -> None:
        self._write = write
        self._interval = interval
        self._state = threading.Condition()
        self._pending: AuditAnchor | None = None
        self._idle = False  # the thread waits for an anchor (not for the interval to pass)
        self._writing = False
        self._hurry = 0  # callers of flush() waiting: write without waiting for the interval
        self._closing = False
        self._thread: threading.Thread | None = None

    def submit(self, anchor: AuditAnchor) -> None:
        """Have *anchor* written (unless a newer one is pending); returns at once."""
        with self._state:
            if self._pending is None or self._pending.seq < anchor.seq:
                self._pending = anchor
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit-anchor", daemon=True)
                self._thread.start()
            elif self._idle:  # waking it in the middle of the interval costs the append a thread switch
                self._state.notify_all()

    def flush(self) -> None:
        """Write the pending anchor now, not when the interval allows; return once it is written."""
        with self._state:
            self._hurry += 1
            self._state.notify_all()
            try:
                while self._pending is not None or self._writing:
                    self._state.wait()
            finally:
                self._hurry -= 1

    def close(self) -> None:
        """Write the pending anchor and stop the thread (a later :meth:`submit` starts another)."""
        with self._state:
            thread, self._closing = self._thread, True
            self._state.notify_all()
        if thread is not None:
            thread.join()
        with self._state:
            self._closing = False

    def _run(self) -> None:
        due = 0.0  # when the next write may start (time.monotonic)
        with self._state:
            while True:
                while self._pending is None and not self._closing:
                    self._idle = True
                    self._state.wait()
                    self._idle = False
                if self._pending is None:  # closing, and everything written
                    self._thread = None
                    return
                wait = due - time.monotonic()
                if wait > 0 and not self._hurry and not self._closing:
                    self._state.wait(wait)  # or until a flush() or close() comes
                    continue
                anchor, self._pending, self._writing = self._pending, None, True
                self._state.release()
                try:
                    self._write(anchor)
                except Exception:  # write() reports its own failures; this thread must outlive a bug
                    log.exception("the audit anchor %s was not written", anchor)
                finally:
                    self._state.acquire()
                    self._writing = False
                    due = time.monotonic() + self._interval
                    self._state.notify_all()
