"""A hostile model file, shared by the tests that check it is refused wherever a model is loaded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class RunsCommand:
    """Unpickling this runs a shell command: the classic malicious checkpoint."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (self.command,))


def save_crafted_model(path: Path, marker: Path) -> Path:
    """A `.pt` at `path` that would create `marker` if it were ever unpickled."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": RunsCommand(f"touch {marker}")}, path)
    return path
