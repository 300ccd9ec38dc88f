"""``card-issuer``: the personalisation tool. Not built yet; says so plainly instead of pretending."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    print(
        "card-issuer: the issuing tool (personalisation, batches, card registry) is not built yet.\n"
        "Blank virtual cards already exist: card-sim new IMAGE --profile blank",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
