from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from adetailer.boxes import box_iou, box_to_mask
from adetailer.detections import Detection, Detections
from adetailer.detectors import load_detector
from adetailer.detectors.tiling import (
    TilingPlan,
    context_box,
    detect_tiled,
    merge_duplicates,
    tile_boxes,
    tile_sizes,
)
from adetailer.registry import ModelRegistry
from tests.group_photo import compose


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 9000), st.integers(1, 9000))
def test_tiles_cover_the_image_within_bounds_and_budget(width, height):
    plan = TilingPlan()
    tiles = tile_boxes((width, height), plan)
    assert len(tiles) <= plan.max_tiles
    if min(width, height) <= plan.smallest_tile:
        assert tiles == []
        return
    for x1, y1, x2, y2 in tiles:
        assert 0 <= x1 < x2 <= width
        assert 0 <= y1 < y2 <= height
    # the smallest tiles alone cover every pixel
    side = min(t[2] - t[0] for t in tiles)
    smallest = [t for t in tiles if max(t[2] - t[0], t[3] - t[1]) == side]
    covered = np.zeros((height // 8 + 1, width // 8 + 1), dtype=bool)
    for x1, y1, x2, y2 in smallest:
        covered[-(-y1 // 8) : (y2 - 1) // 8 + 1, -(-x1 // 8) : (x2 - 1) // 8 + 1] = True
    assert covered[: (height - 1) // 8 + 1, : (width - 1) // 8 + 1].all()


def test_tile_sizes_reach_the_smallest_tile():
    assert tile_sizes((2048, 1536), TilingPlan()) == [768, 384, 256]
    assert tile_sizes((1536, 1024), TilingPlan()) == [512, 256]
    assert tile_sizes((600, 600), TilingPlan()) == [300]
    assert tile_sizes((512, 768), TilingPlan()) == [256]
    assert tile_sizes((300, 4000), TilingPlan()) == [256]
    assert tile_sizes((256, 100), TilingPlan()) == []


def test_context_box_is_clamped():
    assert context_box((0.0, 0.0, 10.0, 10.0), (100, 100), 4) == (0, 0, 26, 26)
    assert context_box((40.0, 40.0, 60.0, 60.0), (100, 100), 2) == (30, 30, 71, 71)


def make(box, confidence, size=(100, 100)):
    return Detection(box, box_to_mask(box, size), confidence, "face")


def test_merge_keeps_the_most_confident_of_the_same_thing():
    a = make((10.0, 10.0, 30.0, 30.0), 0.6)
    b = make((11.0, 11.0, 31.0, 31.0), 0.9)  # the same face, seen from another tile
    c = make((14.0, 14.0, 24.0, 24.0), 0.95)  # a part inside it
    d = make((60.0, 60.0, 80.0, 80.0), 0.5)  # another face
    kept = merge_duplicates([a, b, c, d])
    assert kept == [c, d]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return ModelRegistry(tmp_path_factory.mktemp("models"), allow_download=False)


LAYOUTS = [
    ((1536, 1024), (40, 56, 72, 96, 128, 180, 220), 0),
    ((1024, 1536), (220, 180, 128, 96, 72, 56, 40), 1),
    ((768, 512), (40, 48, 64, 100), 5),
]


@pytest.mark.parametrize("model", ["mediapipe_face_full", "mediapipe_face_short"])
@pytest.mark.parametrize(("size", "widths", "seed"), LAYOUTS)
def test_tiling_finds_every_face_once(registry, model, size, widths, seed):
    image, faces = compose(size, widths, seed)
    detector = load_detector(registry.get(model))

    def matches(found: Detections) -> list[int]:
        return [sum(box_iou(d.box, face) > 0.3 for d in found) for face in faces]

    plain = detector.detect(image, confidence=0.3)
    assert sum(matches(plain)) <= len(faces) / 2  # the whole-image pass misses the small ones

    tiled = detect_tiled(detector, image, confidence=0.3)
    assert matches(tiled) == [1] * len(faces)  # every face, and each one once
    assert len(tiled) == len(faces)  # nothing else
    for d in tiled:
        assert d.mask.shape == (size[1], size[0])
        assert np.asarray(d.mask).any()


def test_tiling_on_a_tiny_image(registry):
    detector = load_detector(registry.get("mediapipe_face_full"))
    result = detect_tiled(detector, Image.new("RGB", (1, 1)), confidence=0.3)
    assert len(result) == 0
