"""Forge's preprocessor base class (`modules_forge/supported_preprocessor.py` in Forge 2.0.1).

A preprocessor that needs annotator weights loads them on its first call; Forge's legacy
preprocessors keep them in `models/ControlNetPreprocessor/<folder>/` and fetch a missing file from
huggingface.co/lllyasviel/Annotators with `modelloader.load_file_from_url` (requests). The tests
run offline: a missing file fails as the real download failed offline in Forge 2.0.1, with
requests' ConnectionError.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import requests


def preprocessor_dir() -> Path:
    from modules import paths

    return Path(paths.models_path) / "ControlNetPreprocessor"


class Preprocessor:
    def __init__(
        self,
        name: str,
        tags: list[str],
        sorting_priority: int = 0,
        weights: tuple[str, str] | None = None,  # (folder, file) of its annotator's weights
    ) -> None:
        self.name = name
        self.tags = tags
        self.sorting_priority = sorting_priority
        self.weights = weights

    def __call__(
        self, input_image: np.ndarray, resolution: int, input_mask: np.ndarray | None = None, **_
    ) -> np.ndarray:
        if self.weights is not None:
            self.load_model()
        return input_image

    def load_model(self) -> Path:
        folder, filename = self.weights  # type: ignore[misc]
        path = preprocessor_dir() / folder / filename
        if not path.is_file():
            raise requests.exceptions.ConnectionError(
                "HTTPSConnectionPool(host='huggingface.co', port=443): Max retries exceeded with"
                f" url: /lllyasviel/Annotators/resolve/main/{filename} (Caused by"
                " NameResolutionError(\"HTTPSConnection(host='huggingface.co', port=443): Failed"
                " to resolve 'huggingface.co' ([Errno -2] Name or service not known)\"))"
            )
        return path
