"""From raw detections to the masks that get redrawn: pure functions, one per step.

Every step takes and returns `Detections`, so each mask keeps its own box, score and label
however many are filtered, sorted or dropped on the way (the original let them drift apart).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from adetailer.args import MASK_FILTER_METHODS, MASK_MERGE_INVERT, TabArgs
from adetailer.boxes import Box, box_center, clip_box, mask_to_box, translate_box
from adetailer.detections import Detection, Detections

SORT_NONE = "None"
SORT_LEFT_TO_RIGHT = "Position (left to right)"
SORT_CENTER_TO_EDGE = "Position (center to edge)"
SORT_AREA = "Area (large to small)"
SORT_ORDERS = (SORT_NONE, SORT_LEFT_TO_RIGHT, SORT_CENTER_TO_EDGE, SORT_AREA)


def filter_by_area_ratio(detections: Detections, low: float, high: float) -> Detections:
    """Keep boxes whose share of the image area lies in [low, high]."""
    width, height = detections.size
    image_area = width * height
    return detections.with_items(d for d in detections if low <= d.area / image_area <= high)


def keep_top_k(detections: Detections, k: int, by: str = "Area") -> Detections:
    """The k largest boxes (or most confident), largest first; k = 0 keeps everything as is."""
    if by == "Area":
        key: Callable[[Detection], float] = lambda d: d.area  # noqa: E731
    elif by == "Confidence":
        key = lambda d: d.confidence  # noqa: E731
    else:
        msg = f"mask filter method {by!r} is not one of {', '.join(map(repr, MASK_FILTER_METHODS))}"
        raise ValueError(msg)
    if k <= 0:
        return detections
    return detections.with_items(sorted(detections, key=key, reverse=True)[:k])


def sort_detections(detections: Detections, order: str) -> Detections:
    """Order the detections are inpainted in; stable, so ties keep the detector's order."""
    if order == SORT_NONE:
        return detections
    if order == SORT_LEFT_TO_RIGHT:
        key: Callable[[Detection], float] = lambda d: d.box[0]  # noqa: E731
    elif order == SORT_CENTER_TO_EDGE:
        width, height = detections.size
        key = lambda d: math.dist(box_center(d.box), (width / 2, height / 2))  # noqa: E731
    elif order == SORT_AREA:
        key = lambda d: -d.area  # noqa: E731
    else:
        msg = f"sort order {order!r} is not one of {', '.join(map(repr, SORT_ORDERS))}"
        raise ValueError(msg)
    return detections.with_items(sorted(detections, key=key))


def shift_mask(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Move a mask right by dx and down by dy; what leaves the image is gone (no wrap-around)."""
    height, width = mask.shape
    shifted = np.zeros_like(mask)
    if abs(dx) >= width or abs(dy) >= height:
        return shifted
    src_x, dst_x = (
        (slice(0, width - dx), slice(dx, width))
        if dx >= 0
        else (
            slice(-dx, width),
            slice(0, width + dx),
        )
    )
    src_y, dst_y = (
        (slice(0, height - dy), slice(dy, height))
        if dy >= 0
        else (
            slice(-dy, height),
            slice(0, height + dy),
        )
    )
    shifted[dst_y, dst_x] = mask[src_y, src_x]
    return shifted


def offset(detections: Detections, x: int, y: int) -> Detections:
    """Move masks and boxes x pixels right and y pixels up; masks pushed outside are dropped."""
    if x == 0 and y == 0:
        return detections
    moved = []
    for d in detections:
        mask = shift_mask(d.mask, x, -y)
        if mask.any():
            box = clip_box(translate_box(d.box, x, -y), detections.size)
            moved.append(d.replace(mask=mask, box=box))
    return detections.with_items(moved)


def dilate_erode_mask(mask: np.ndarray, value: int) -> np.ndarray:
    """Grow (value > 0) or shrink (value < 0) a mask with a |value| x |value| square."""
    if value == 0:
        return mask
    changed = _dilated_or_eroded(mask, value)
    return np.zeros(mask.shape, dtype=bool) if changed is None else changed[0]


def dilate_erode(detections: Detections, value: int) -> Detections:
    """Dilate or erode every mask, each box following its mask (dynamic denoise and inpaint-size
    matching read the box); masks that erosion removes entirely are dropped."""
    if value == 0:
        return detections
    changed = []
    for d in detections:
        result = _dilated_or_eroded(d.mask, value)
        if result is not None:
            mask, box = result
            changed.append(d.replace(mask=mask, box=box))
    return detections.with_items(changed)


def _dilated_or_eroded(mask: np.ndarray, value: int) -> tuple[np.ndarray, Box] | None:
    """`dilate_erode_mask` and the new mask's box, or None when nothing is left; the work is
    done near the mask only.

    Dilating the whole frame, with a full-size type conversion before and after, was the
    largest part of our mask steps, though a detection covers a few percent of the image. The
    kernel reaches less than |value| from its centre, so only the mask's bounding box grown by
    |value| can change: that window is dilated or eroded and written into an empty mask, and
    the result is the full-frame one exactly. Dilating, everything past the window's edge
    inside the image is unset, as cv2's default border takes it to be; eroding, every pixel
    whose kernel reaches past that edge is unset itself and stays unset whatever the border.
    Where the window meets the image's edge, cv2 applies the same border as to the full frame.
    The new box is found in the window too, for the same reason.
    """
    if mask.dtype != bool:
        mask = mask.astype(np.uint8).astype(bool)  # what converting to uint8 kept set
    box = mask_to_box(mask)
    if box is None:
        return None
    size = abs(value)
    height, width = mask.shape
    x1, y1, x2, y2 = (int(v) for v in box)
    rows = slice(max(0, y1 - size), min(height, y2 + size))
    cols = slice(max(0, x1 - size), min(width, x2 + size))
    # bool is one byte, 0 or 1; cv2 reads and writes numpy views in place (no copies).
    window = mask[rows, cols].view(np.uint8)
    changed = np.zeros(mask.shape, dtype=np.uint8)
    target = changed[rows, cols]
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    if value > 0:
        cv2.dilate(window, kernel, dst=target)
    else:
        cv2.erode(window, kernel, dst=target)
    inner = mask_to_box(target)
    if inner is None:
        return None
    box = translate_box(inner, cols.start, rows.start)
    return changed.view(bool), box


def merge_invert(detections: Detections, mode: str) -> Detections:
    """ "Merge" joins all masks into one; "Merge and Invert" then takes everything else.

    The joined detection's box is the box of its mask and its score the best one merged.
    """
    if mode not in MASK_MERGE_INVERT:
        msg = f"mask merge mode {mode!r} is not one of {', '.join(map(repr, MASK_MERGE_INVERT))}"
        raise ValueError(msg)
    if mode == "None" or not detections.items:
        return detections
    mask = np.logical_or.reduce([d.mask for d in detections])
    if mode == "Merge and Invert":
        mask = ~mask
    box = mask_to_box(mask)
    if box is None:  # the masks covered the whole image: nothing is left to redraw
        return detections.with_items(())
    labels = dict.fromkeys(d.label for d in detections)
    merged = Detection(
        box=box,
        mask=mask,
        confidence=max(d.confidence for d in detections),
        label="+".join(labels),
    )
    return detections.with_items((merged,))


def binary_mask(mask: Image.Image | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A user's mask (any mode, any size) as booleans of `size`, set where it is brighter than
    half: above 127 for 8-bit values, above 0.5 for floats (which run from 0 to 1)."""
    if isinstance(mask, np.ndarray):
        array = mask if mask.ndim == 2 else mask[..., 0]
        if array.dtype != bool and np.issubdtype(array.dtype, np.floating):
            array = array > 0.5
        image = Image.fromarray(
            (array > 0).astype(np.uint8) * 255 if array.dtype == bool else array
        )
    else:
        image = mask
    if image.mode in ("RGBA", "LA") and image.getextrema()[-1][0] < 255:
        image = image.getchannel("A")
    image = image.convert("L")
    if image.size != size:
        image = image.resize(size, Image.NEAREST)
    return np.asarray(image) > 127


def keep_intersecting(detections: Detections, user_mask: Image.Image | np.ndarray) -> Detections:
    """Only the detections that touch the user's inpaint mask ("whole picture" img2img)."""
    allowed = binary_mask(user_mask, detections.size)
    return detections.with_items(d for d in detections if np.logical_and(d.mask, allowed).any())


def preprocess(
    detections: Detections,
    args: TabArgs,
    sort_by: str = SORT_NONE,
    user_mask: Image.Image | np.ndarray | None = None,
) -> Detections:
    """All steps in the original's order: ratio, top k, sort, offset, dilate/erode, merge, user mask."""
    detections = filter_by_area_ratio(detections, args.ad_mask_min_ratio, args.ad_mask_max_ratio)
    detections = keep_top_k(detections, args.ad_mask_k, args.ad_mask_filter_method)
    detections = sort_detections(detections, sort_by)
    detections = offset(detections, args.ad_x_offset, args.ad_y_offset)
    detections = dilate_erode(detections, args.ad_dilate_erode)
    detections = merge_invert(detections, args.ad_mask_merge_invert)
    if user_mask is not None:
        detections = keep_intersecting(detections, user_mask)
    return detections
