"""Command-line options shared by the benchmark entry points (light: workers parse them too)."""

from __future__ import annotations

import argparse
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[1]


def add_report_destination(parser: argparse.ArgumentParser, committed: Path) -> None:
    """--out FILE or --write (the committed report): a trial run prints and overwrites nothing."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, help="write the report (markdown) to this file")
    where.add_argument(
        "--write",
        action="store_const",
        const=committed,
        dest="out",
        help=f"write it to {committed.relative_to(_REPO_ROOT)} (the committed report); without "
        "--out or --write the report is printed and no file is touched",
    )
