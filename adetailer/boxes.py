"""Box and mask geometry: pure functions on (x1, y1, x2, y2) boxes and boolean masks.

Boxes are floats in image pixels with x2/y2 exclusive, the convention ultralytics and
MediaPipe both use once scaled to the image. Masks are boolean arrays of shape (height, width).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Box = tuple[float, float, float, float]


def box_area(box: Sequence[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def box_center(box: Sequence[float]) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def clip_box(box: Sequence[float], size: tuple[int, int]) -> Box:
    """Clamp a box to an image of `size` = (width, height)."""
    width, height = size
    x1 = min(max(float(box[0]), 0.0), width)
    y1 = min(max(float(box[1]), 0.0), height)
    x2 = min(max(float(box[2]), x1), width)
    y2 = min(max(float(box[3]), y1), height)
    return (x1, y1, x2, y2)


def translate_box(box: Sequence[float], dx: float, dy: float) -> Box:
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def box_to_mask(box: Sequence[float], size: tuple[int, int]) -> np.ndarray:
    """Fill the pixels a box covers; a pixel belongs to the box if its area overlaps it."""
    width, height = size
    mask = np.zeros((height, width), dtype=bool)
    mask[box_pixels(box, size)] = True
    return mask


def boxes_to_masks(boxes: Sequence[Sequence[float]], size: tuple[int, int]) -> np.ndarray:
    """`box_to_mask` for each box, as one (N, height, width) array: allocated once and filled,
    rather than N masks made and then copied again into a stack."""
    width, height = size
    masks = np.zeros((len(boxes), height, width), dtype=bool)
    for mask, box in zip(masks, boxes, strict=True):
        mask[box_pixels(box, size)] = True
    return masks


def box_pixels(box: Sequence[float], size: tuple[int, int]) -> tuple[slice, slice]:
    """The (rows, columns) slices of the pixels a box covers, clipped to the image."""
    x1, y1, x2, y2 = clip_box(box, size)
    left, top = int(np.floor(x1)), int(np.floor(y1))
    right, bottom = int(np.ceil(x2)), int(np.ceil(y2))
    return slice(top, bottom), slice(left, right)


def mask_to_box(mask: np.ndarray) -> Box | None:
    """The smallest box holding every set pixel, or None for an empty mask.

    Columns are searched only in the rows that hold the mask: a face is a few percent of the
    image, and reducing every column of a full-size mask costs more than finding the rows.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(mask[top:bottom].any(axis=0))
    return (float(cols[0]), float(top), float(cols[-1] + 1), float(bottom))


def _intersection_area(a: Sequence[float], b: Sequence[float]) -> float:
    return box_area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    inter = _intersection_area(a, b)
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def box_intersection_over_smaller(a: Sequence[float], b: Sequence[float]) -> float:
    """How much of the smaller box lies inside the other (1.0 = fully contained)."""
    inter = _intersection_area(a, b)
    smaller = min(box_area(a), box_area(b))
    return inter / smaller if smaller > 0 else 0.0
