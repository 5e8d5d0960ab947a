"""Adds the sample flags to the web UI's parser; records whether its root was on sys.path."""

import os
import sys


def preload(parser):
    root = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--sample-flag", action="store_true", help="sample extension flag")
    parser.add_argument("--sample-root-on-path", default=root in sys.path, help=argparse_suppress())


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS
