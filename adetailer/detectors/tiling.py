"""Tiled detection: find faces too small for a detector that sees the whole image at once.

Detectors shrink the image to their input size (MediaPipe 128-192 px, YOLO 640 px), so a 40 px
face in a large group photo becomes a few pixels and is missed. Running the same detector on
overlapping tiles at several scales lets each face appear large in some tile. The whole-image
pass still runs, so large faces are found as before; duplicates found by several passes are
merged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from adetailer.boxes import Box, box_intersection_over_smaller, box_iou, translate_box
from adetailer.detections import Detection, Detections
from adetailer.detectors.base import Detector


@dataclass(frozen=True)
class TilingPlan:
    """How tiles are laid out; the defaults find faces from about 40 px wide upwards."""

    smallest_tile: int = 256  # px; a 40 px face fills about a sixth of such a tile
    overlap: float = 0.25  # share of a tile its neighbour also covers
    max_tiles: int = 64  # a bound on cost for very large images
    edge_margin: float = 2.0  # px; detections touching an inner tile edge are cut faces
    duplicate_iou: float = 0.4
    duplicate_containment: float = 0.7


def tile_sizes(size: tuple[int, int], plan: TilingPlan) -> list[int]:
    """Square tile sides: half the shorter image side, then halved again while still useful."""
    shorter = min(size)
    sizes = []
    side = shorter // 2
    while side >= plan.smallest_tile:
        sizes.append(side)
        side //= 2
    if not sizes and shorter > plan.smallest_tile:
        sizes.append(plan.smallest_tile)
    return sizes


def _starts(length: int, tile: int, step: int) -> list[int]:
    if tile >= length:
        return [0]
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def tile_boxes(size: tuple[int, int], plan: TilingPlan = TilingPlan()) -> list[Box]:
    """Every tile (x1, y1, x2, y2), largest tiles first, overlapping by `plan.overlap`."""
    width, height = size
    tiles: list[Box] = []
    for side in tile_sizes(size, plan):
        step = max(1, int(side * (1 - plan.overlap)))
        for top in _starts(height, side, step):
            for left in _starts(width, side, step):
                tiles.append((left, top, min(left + side, width), min(top + side, height)))
    return tiles[: plan.max_tiles]


def _touches_inner_edge(box: Box, tile: Box, size: tuple[int, int], margin: float) -> bool:
    """A box that reaches a tile edge which is not also the image edge may be a cut-off face."""
    width, height = size
    x1, y1, x2, y2 = box
    tx1, ty1, tx2, ty2 = tile
    return (
        (tx1 > 0 and x1 <= tx1 + margin)
        or (ty1 > 0 and y1 <= ty1 + margin)
        or (tx2 < width and x2 >= tx2 - margin)
        or (ty2 < height and y2 >= ty2 - margin)
    )


def _place(mask: np.ndarray, tile: Box, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    full = np.zeros((height, width), dtype=bool)
    left, top = int(tile[0]), int(tile[1])
    full[top : top + mask.shape[0], left : left + mask.shape[1]] = mask
    return full


def _tile_detections(
    detector: Detector,
    image: Image.Image,
    tiles: Sequence[Box],
    confidence: float,
    classes: Sequence[str],
    plan: TilingPlan,
) -> Iterator[Detection]:
    for tile in tiles:
        crop = image.crop(tuple(int(v) for v in tile))
        found = detector.detect(crop, confidence=confidence, classes=classes)
        for item in found:
            box = translate_box(item.box, tile[0], tile[1])
            if _touches_inner_edge(box, tile, image.size, plan.edge_margin):
                continue
            yield item.replace(box=box, mask=_place(item.mask, tile, image.size))


def merge_duplicates(
    items: Sequence[Detection], plan: TilingPlan = TilingPlan()
) -> list[Detection]:
    """Keep the most confident of detections that overlap enough to be the same thing."""
    kept: list[Detection] = []
    for item in sorted(items, key=lambda d: d.confidence, reverse=True):
        if all(
            box_iou(item.box, other.box) < plan.duplicate_iou
            and box_intersection_over_smaller(item.box, other.box) < plan.duplicate_containment
            for other in kept
        ):
            kept.append(item)
    return kept


def detect_tiled(
    detector: Detector,
    image: Image.Image,
    *,
    confidence: float,
    classes: Sequence[str] = (),
    plan: TilingPlan = TilingPlan(),
) -> Detections:
    """The whole-image pass plus every tile, duplicates merged, in the whole pass's order first."""
    whole = detector.detect(image, confidence=confidence, classes=classes)
    image = whole.image
    tiles = tile_boxes(image.size, plan)
    found = [*whole.items, *_tile_detections(detector, image, tiles, confidence, classes, plan)]
    kept = merge_duplicates(found, plan)
    position = {id(d): n for n, d in enumerate(found)}
    kept.sort(key=lambda d: position[id(d)])
    return whole.with_items(kept)
