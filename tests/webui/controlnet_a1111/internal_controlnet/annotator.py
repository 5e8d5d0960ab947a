"""Annotator weights: preprocessors that need a model download it on first use, as the real ones do.

sd-webui-controlnet 1.1.455 keeps them in `annotator/downloads/<folder>/` and fetches a missing file
with A1111's `modelloader.load_file_from_url` (`annotator/openpose/__init__.py`, `load_model`). The
tests run offline: a missing file fails as the real download fails there, with urllib's error.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path


def downloads() -> Path:
    """`annotator/downloads` of the installed extension (this package stays imported when a test
    starts another web UI, so its own file's folder may be an earlier web UI's)."""
    from modules import extensions

    for extension in extensions.active():
        if (Path(extension.path) / "internal_controlnet").is_dir():
            return Path(extension.path) / "annotator" / "downloads"
    raise RuntimeError("sd-webui-controlnet is not installed")


def load_model(folder: str, filename: str) -> Path:
    path = downloads() / folder / filename
    if not path.is_file():
        raise urllib.error.URLError("[Errno -2] Name or service not known")
    return path
