"""Card transports: one contract (:class:`Transport`), several implementations.

- :class:`PcscTransport` — a PC/SC reader through pyscard (real readers, and the
  simulator attached to pcscd through vpcd).
- :class:`InProcessTransport` — a virtual card from :mod:`simulators` in the same process.
"""

from cardservice.transport._base import Disposition, Transport

__all__ = ["Disposition", "Transport"]
