"""A serial smart-card reader for the real PC/SC stack: a GemPC Twin (libccid's ``libccidtwin.so``) on a pty,
into which a card attaches over TCP exactly as into vpcd — so pcscd, opensc-tool and the daemon use it like
any reader, and ``card-sim serve --vpcd localhost:40002 IMAGE`` serves any card-sim card into it.

``python -m simulators.serialreader --link PATH --port 40002`` (``scripts/pcscd-ctl`` starts it before
pcscd, which reads serial readers only at its start). :mod:`._twin` is the reader, sans I/O;
:mod:`._server` its pty and card port.
"""

from simulators.serialreader._server import RemoteCard, SerialReaderServer
from simulators.serialreader._twin import FIRMWARE, NAK, T1Card, TwinReader, frame, lrc

__all__ = ["FIRMWARE", "NAK", "RemoteCard", "SerialReaderServer", "T1Card", "TwinReader", "frame", "lrc"]
