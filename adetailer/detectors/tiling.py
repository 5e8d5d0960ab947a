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
from typing import Protocol, TypeVar

import numpy as np
from PIL import Image

from adetailer.boxes import (
    Box,
    box_center,
    box_intersection_over_smaller,
    box_iou,
    translate_box,
)
from adetailer.detections import Detection, Detections
from adetailer.detectors.base import Detector

S = TypeVar("S", bound="Scored")


@dataclass(frozen=True)
class TilingPlan:
    """How tiles are laid out; the defaults find faces from about 40 px wide upwards."""

    smallest_tile: int = 256  # px; a 40 px face fills about a sixth of such a tile
    overlap: float = 0.25  # share of a tile its neighbour also covers
    max_tiles: int = 128  # a bound on cost for very large images
    edge_margin: float = 2.0  # px; detections touching an inner tile edge are cut faces
    duplicate_iou: float = 0.4
    duplicate_containment: float = 0.7
    # A tile's detection is kept only if the detector finds it again in crops of these many
    # times its size around it: a small tile blown up shows texture that looks like a face,
    # the same spot seen with more context does not.
    confirm_scales: tuple[float, ...] = (4.0, 6.0)
    confirm_iou: float = 0.4


def tile_sizes(size: tuple[int, int], plan: TilingPlan) -> list[int]:
    """Square tile sides: half the shorter image side, halved again down to the smallest tile.

    An image no larger than the smallest tile gets none: the detector already sees it whole at
    about its own input size.
    """
    shorter = min(size)
    if shorter <= plan.smallest_tile:
        return []
    sizes = []
    side = shorter // 2
    while side >= plan.smallest_tile:
        sizes.append(side)
        side //= 2
    if not sizes or sizes[-1] > plan.smallest_tile * 1.25:
        sizes.append(plan.smallest_tile)  # the size that makes the smallest faces large enough
    return sizes


def _starts(length: int, tile: int, step: int) -> list[int]:
    if tile >= length:
        return [0]
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def _layout(size: tuple[int, int], side: int, overlap: float) -> list[Box]:
    width, height = size
    step = max(1, int(side * (1 - overlap)))
    return [
        (left, top, min(left + side, width), min(top + side, height))
        for top in _starts(height, side, step)
        for left in _starts(width, side, step)
    ]


def tile_boxes(size: tuple[int, int], plan: TilingPlan = TilingPlan()) -> list[Box]:
    """Every tile (x1, y1, x2, y2), largest tiles first, overlapping by `plan.overlap`.

    Past `plan.max_tiles`, middle scales go first (the detector covers a range of sizes at each
    scale), then the tiles grow: small faces in a huge image cost the least to lose.
    """
    sides = tile_sizes(size, plan)

    def count(candidates: list[int]) -> int:
        return sum(len(_layout(size, side, plan.overlap)) for side in candidates)

    while len(sides) > 2 and count(sides) > plan.max_tiles:
        del sides[-2]
    while count(sides) > plan.max_tiles and min(sides) < min(size):
        sides = sorted({min(min(size), int(side * 1.25) + 1) for side in sides}, reverse=True)
    tiles = [tile for side in sides for tile in _layout(size, side, plan.overlap)]
    return tiles[: plan.max_tiles]  # only a strip many times longer than wide gets here


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


class Scored(Protocol):
    """What merging and confirming look at: a box and a score."""

    @property
    def box(self) -> Box: ...

    @property
    def confidence(self) -> float: ...


@dataclass(frozen=True)
class TileHit:
    """A tile's detection, its mask still tile-sized: most are merged away before they are placed
    on the image (full-size masks for every hit on every tile of an 8k image would not fit in
    memory)."""

    box: Box  # in image pixels
    confidence: float
    label: str
    mask: np.ndarray  # the tile's size
    tile: Box

    def placed(self, size: tuple[int, int]) -> Detection:
        return Detection(self.box, _place(self.mask, self.tile, size), self.confidence, self.label)


def _tile_detections(
    detector: Detector,
    image: Image.Image,
    tiles: Sequence[Box],
    confidence: float,
    classes: Sequence[str],
    plan: TilingPlan,
) -> Iterator[TileHit]:
    for tile in tiles:
        crop = image.crop(tuple(int(v) for v in tile))
        found = detector.detect(crop, confidence=confidence, classes=classes)
        for item in found:
            box = translate_box(item.box, tile[0], tile[1])
            if _touches_inner_edge(box, tile, image.size, plan.edge_margin):
                continue
            yield TileHit(box, item.confidence, item.label, item.mask, tile)


def context_box(box: Box, size: tuple[int, int], scale: float) -> Box:
    """A square around a box, `scale` times its longer side, clamped to the image."""
    width, height = size
    cx, cy = box_center(box)
    half = max(box[2] - box[0], box[3] - box[1]) * scale / 2
    return (
        max(0, int(cx - half)),
        max(0, int(cy - half)),
        min(width, int(cx + half) + 1),
        min(height, int(cy + half) + 1),
    )


def confirmed(
    detector: Detector,
    image: Image.Image,
    item: Scored,
    confidence: float,
    classes: Sequence[str],
    plan: TilingPlan,
) -> bool:
    """Does the detector find this detection again when it sees the place with more context?"""
    for scale in plan.confirm_scales:
        region = context_box(item.box, image.size, scale)
        again = detector.detect(image.crop(region), confidence=confidence, classes=classes)
        if not any(
            box_iou(translate_box(other.box, region[0], region[1]), item.box) >= plan.confirm_iou
            for other in again
        ):
            return False
    return True


def _same_thing(a: Scored, b: Scored, plan: TilingPlan) -> bool:
    return (
        box_iou(a.box, b.box) >= plan.duplicate_iou
        or box_intersection_over_smaller(a.box, b.box) >= plan.duplicate_containment
    )


def _duplicates_any(item: Scored, others: Sequence[Scored], plan: TilingPlan) -> bool:
    return any(_same_thing(item, other, plan) for other in others)


def merge_duplicates(items: Sequence[S], plan: TilingPlan = TilingPlan()) -> list[S]:
    """Keep the most confident of detections that overlap enough to be the same thing."""
    kept: list[S] = []
    for item in sorted(items, key=lambda d: d.confidence, reverse=True):
        if not _duplicates_any(item, kept, plan):
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
    from_tiles = merge_duplicates(
        list(_tile_detections(detector, image, tiles, confidence, classes, plan)), plan
    )
    # the whole pass vouches for what it found too; anything new must be found again in context
    new = [
        item
        for item in from_tiles
        if _duplicates_any(item, whole.items, plan)
        or confirmed(detector, image, item, confidence, classes, plan)
    ]
    found: list[Detection | TileHit] = [*whole.items, *new]
    kept = merge_duplicates(found, plan)
    position = {id(d): n for n, d in enumerate(found)}
    kept.sort(key=lambda d: position[id(d)])
    return whole.with_items(d.placed(image.size) if isinstance(d, TileHit) else d for d in kept)
