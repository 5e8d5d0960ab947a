"""The extension loaded into the test double of A1111 1.10 (tests/webui), as A1111 loads it."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "webui"))

import harness  # noqa: E402

from tests.group_photo import compose  # noqa: E402


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test downloads a model: hub models that are not cached are "unavailable"."""
    monkeypatch.setenv("ADETAILER_OFFLINE", "1")


@pytest.fixture(scope="session")
def faces_photo() -> tuple[Image.Image, list[tuple[float, float, float, float]]]:
    """Two faces MediaPipe finds on a plain pass: what the fake "model" generates in these tests."""
    return compose((768, 512), (110, 110), seed=3)


@pytest.fixture
def generates_faces(monkeypatch: pytest.MonkeyPatch, faces_photo) -> list[tuple[float, ...]]:
    """Make the fake txt2img "model" draw the faces photo (resized to the requested size)."""
    from modules import sd_samplers_fake

    image, faces = faces_photo

    def draw(prompt: str, seed: int, width: int, height: int) -> np.ndarray:
        return np.asarray(image.resize((width, height), Image.LANCZOS).convert("RGB"))

    monkeypatch.setattr(sd_samplers_fake, "pattern_image", draw)
    return faces


def launch(
    tmp_path: Path, *, config: dict[str, Any] | None = None, **kwargs: Any
) -> harness.FakeWebUI:
    webui = harness.FakeWebUI(
        tmp_path, checkpoints=["sd15.safetensors", "sdxl_base.safetensors"], config=config or {}
    )
    webui.install_extension(REPO_ROOT, "adetailer", symlink=True)
    webui.launch(**kwargs)
    return webui


@pytest.fixture
def webui(tmp_path: Path) -> Iterator[harness.FakeWebUI]:
    with launch(tmp_path, api=True) as started:
        yield started


@pytest.fixture
def yolo_webui(tmp_path: Path, yolo_models_dir: Path) -> Iterator[harness.FakeWebUI]:
    """The web UI with the test YOLO models (tests/conftest.py) in models/adetailer."""
    target = tmp_path / "models" / "adetailer"
    target.mkdir(parents=True)
    for model in yolo_models_dir.glob("*.pt"):
        shutil.copy(model, target / model.name)
    with launch(tmp_path, api=True) as started:
        yield started


def ad_changes(before: Image.Image, after: Image.Image) -> np.ndarray:
    """Where two images differ (a boolean (H, W) array)."""
    a = np.asarray(before.convert("RGB"), dtype=np.int16)
    b = np.asarray(after.convert("RGB"), dtype=np.int16)
    return np.abs(a - b).max(axis=2) > 0
