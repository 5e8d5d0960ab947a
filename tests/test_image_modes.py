"""Images of every mode and size go through detection and masking without crashing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from adetailer.args import TabArgs
from adetailer.pipeline import detect_and_mask
from adetailer.registry import ModelRegistry

ASTRONAUT = Image.fromarray(data.astronaut())


def in_mode(mode: str) -> Image.Image:
    if mode == "I;16":
        values = (np.asarray(ASTRONAUT.convert("L"), dtype=np.uint16) * 257).astype("<u2")
        return Image.frombytes("I;16", ASTRONAUT.size, values.tobytes())
    if mode == "P-transparent":
        image = ASTRONAUT.convert("P")
        image.info["transparency"] = 0
        return image
    return ASTRONAUT.convert(mode)


@pytest.fixture(scope="module")
def registry(yolo_models_dir: Path) -> ModelRegistry:
    return ModelRegistry(yolo_models_dir, allow_download=False)


MODELS = ["mediapipe_face_full", "mediapipe_person", "face_test.pt", "person_test-seg.pt"]


def check(result, size: tuple[int, int]) -> None:
    assert result.found.size == size
    for detections in (result.found, result.masks):
        for d in detections:
            assert d.mask.shape == (size[1], size[0])
            assert d.mask.dtype == bool
            assert 0 <= d.box[0] <= d.box[2] <= size[0]
            assert 0 <= d.box[1] <= d.box[3] <= size[1]
    result.found.preview()


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(
    "mode", ["RGB", "RGBA", "LA", "P", "P-transparent", "L", "I;16", "1", "I", "F", "CMYK"]
)
def test_every_mode(registry, model, mode):
    image = in_mode(mode)
    args = TabArgs(
        ad_model=model, ad_confidence=0.01 if model.endswith(".pt") else 0.3, ad_mask_k=3
    )
    result = detect_and_mask(image, args, registry)
    check(result, image.size)
    if model == "mediapipe_face_full" and mode in ("RGB", "RGBA", "P", "L", "I;16", "CMYK"):
        assert len(result.found) == 1  # the astronaut's face survives the conversion


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("size", [(1, 1), (2, 3), (4000, 16), (16, 4000), (3000, 40)])
@pytest.mark.parametrize("tiles", [False, True])
def test_every_size(registry, model, size, tiles):
    image = ASTRONAUT.resize(size)
    args = TabArgs(
        ad_model=model,
        ad_confidence=0.01 if model.endswith(".pt") else 0.3,
        ad_mask_k=2,
        ad_tiled_detection=tiles,
    )
    check(detect_and_mask(image, args, registry), size)


@pytest.mark.parametrize(
    ("model", "tiles"), [("mediapipe_face_full", True), ("face_test.pt", False)]
)
def test_an_8k_image(registry, model, tiles):
    """The test YOLO model finds dozens of boxes anywhere: at 8k each mask is 33 MB."""
    size = (7680, 4320)
    image = ASTRONAUT.resize(size)
    args = TabArgs(ad_model=model, ad_confidence=0.3, ad_mask_k=2, ad_tiled_detection=tiles)
    check(detect_and_mask(image, args, registry), size)


@pytest.mark.parametrize(
    "options",
    [
        {"ad_x_offset": 5000},  # every mask pushed outside
        {"ad_y_offset": -5000},
        {"ad_dilate_erode": -2000},  # erosion removes every mask
        {"ad_dilate_erode": 2000, "ad_mask_merge_invert": "Merge and Invert"},  # nothing left
        {"ad_mask_min_ratio": 0.9},  # no box is that large
        {"ad_confidence": 1.0},  # no detection at all
    ],
)
def test_nothing_left_is_an_empty_result(registry, options):
    args = TabArgs(ad_model="mediapipe_face_full", **options)
    result = detect_and_mask(ASTRONAUT, args, registry)
    assert len(result.masks) == 0
    check(result, ASTRONAUT.size)


def test_a_blank_image_has_no_detections(registry):
    for model in ("mediapipe_face_full", "mediapipe_hand", "mediapipe_face_mesh"):
        result = detect_and_mask(Image.new("RGB", (640, 480)), TabArgs(ad_model=model), registry)
        assert len(result.found) == 0
