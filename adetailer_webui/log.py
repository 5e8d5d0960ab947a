"""One place for the extension's console lines, so they all start the same way."""

from __future__ import annotations

import sys

PREFIX = "[-] ADetailer:"


def _line(message: str) -> str:
    """Lines that already name ADetailer ("ADetailer 2nd tab: ...") get no second name."""
    return f"[-] {message}" if message.startswith("ADetailer") else f"{PREFIX} {message}"


def info(message: str) -> None:
    print(_line(message), flush=True)


def warn(message: str) -> None:
    print(_line(message), file=sys.stderr, flush=True)


def error(message: str) -> None:
    """One clear line plus the traceback of the exception being handled."""
    try:
        from modules import errors

        errors.report(_line(message), exc_info=True)
    except ImportError:
        import traceback

        print(_line(message), file=sys.stderr)
        traceback.print_exc()
