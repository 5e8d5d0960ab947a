"""Command-line flags; A1111 loads this before it parses its arguments."""

from __future__ import annotations

import argparse


def preload(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ad-no-huggingface",
        action="store_true",
        help="ADetailer: never download models from Hugging Face; use local files and the download cache only",
    )
