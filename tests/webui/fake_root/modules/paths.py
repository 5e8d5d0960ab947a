"""``modules.paths``: re-exports of ``paths_internal``; importing it installs the torch.load guard.

A1111 also puts the web UI root first on ``sys.path`` here; the tests already did that to import
``modules`` at all, so the fake does the same idempotently.
"""

from __future__ import annotations

import sys

import modules.safe  # noqa: F401  (A1111 imports it here, which patches torch.load)
from modules.paths_internal import (  # noqa: F401
    cwd,
    data_path,
    extensions_builtin_dir,
    extensions_dir,
    models_path,
    script_path,
)

if sys.path[:1] != [script_path]:
    sys.path.insert(0, script_path)

paths: dict[str, str] = {}
