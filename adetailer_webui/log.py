"""One place for the extension's console lines, so they all start the same way."""

from __future__ import annotations

import sys

PREFIX = "[-] ADetailer:"


def info(message: str) -> None:
    print(f"{PREFIX} {message}", flush=True)


def warn(message: str) -> None:
    print(f"{PREFIX} {message}", file=sys.stderr, flush=True)


def error(message: str) -> None:
    """One clear line plus the traceback of the exception being handled."""
    try:
        from modules import errors

        errors.report(f"{PREFIX} {message}", exc_info=True)
    except ImportError:
        import traceback

        print(f"{PREFIX} {message}", file=sys.stderr)
        traceback.print_exc()
