"""The command-line tools, over the library:

- ``cardservice`` (:func:`main`): readers, APDUs, reading and writing a health card (``read``,
  ``write``, ``record``), the daemon (``serve``), and its data directory (``token``, ``audit``,
  ``blacklist``).
- ``card-issuer`` (:func:`issuer_main`): batches of blank cards personalised, the card registry and
  the card life cycle.

Card errors print one line and exit 1; a malformed command line exits 2. Secrets come from environment
variables or a terminal prompt, never from argv.
"""

from cardservice.cli._issuer import main as issuer_main
from cardservice.cli._main import main

__all__ = ["issuer_main", "main"]
