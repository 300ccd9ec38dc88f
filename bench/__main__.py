"""``python -m bench``: every ``bench/bench_*.py`` module's ``main()``, one after the other, in one process.

The PC/SC benchmark needs pcscd running with the project's readers and the card slot free
(``make bench`` starts pcscd). The exit status is the first failing benchmark's, else 0.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import traceback
from pathlib import Path

__all__ = ["main"]


def _modules() -> list[str]:
    here = Path(__file__).resolve().parent
    return sorted(
        f"bench.{info.name}" for info in pkgutil.iter_modules([str(here)]) if info.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> int:
    status = 0
    for name in _modules():
        print(f"== {name}", flush=True)
        try:
            module = importlib.import_module(name)
            entry = module.main
            # A benchmark's main() may parse its own argv: give it none, so it takes its defaults.
            result = entry([]) if inspect.signature(entry).parameters else entry()
        except Exception:  # one broken benchmark must not hide the others' numbers
            traceback.print_exc()
            result = 1
        code = result if isinstance(result, int) else 0
        if code and not status:
            status = code
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
