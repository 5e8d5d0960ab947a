"""Where a redraw reads and writes: A1111's img2img "inpaint only masked", for backends without A1111.

The web UI does this itself; the standalone backend must do it the same way, so a job's result
looks the same whichever backend drew it:

1. the mask is blurred by `mask_blur` (a separable Gaussian, as A1111 does it);
2. the crop is the blurred mask's bounding box plus `padding`, clamped to the image, then grown
   to the processing size's aspect ratio (staying inside the image);
3. the crop of the image and of the blurred mask are resized to the processing size (A1111's
   "resize and fill") and redrawn there;
4. the redrawn picture is resized back to the crop and pasted through the blurred mask: a pixel
   the blurred mask does not touch keeps its value exactly, and nothing outside the crop changes.

"Whole picture" (`only_masked=False`) redraws the whole image at the processing size and pastes
through the blurred mask doubled, as A1111 does.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from adetailer.color_match import COLOR_MATCH_NONE
from adetailer.color_match import paste as paste_through_mask

IntBox = tuple[int, int, int, int]


def blur_mask(mask: np.ndarray, blur: int) -> np.ndarray:
    """A 0/255 uint8 mask blurred along x, then along y, with A1111's kernel size for `blur`."""
    values = mask.astype(np.uint8) * 255 if mask.dtype == bool else mask.astype(np.uint8)
    if blur <= 0:
        return values
    size = 2 * int(2.5 * blur + 0.5) + 1
    values = cv2.GaussianBlur(values, (size, 1), blur)
    return cv2.GaussianBlur(values, (1, size), blur)


def nonzero_box(mask: np.ndarray) -> IntBox | None:
    """(x1, y1, x2, y2) of the non-zero pixels, x2/y2 exclusive; None when there are none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _grow(low: int, high: int, grow: int, limit: int) -> tuple[int, int]:
    """[low, high) grown by `grow` on both sides (the odd pixel after), moved back inside [0, limit]."""
    low -= grow // 2
    high += grow - grow // 2
    if high >= limit:
        low -= high - limit
        high = limit
    if low < 0:
        high -= low
        low = 0
    return low, min(high, limit)


def crop_box(blurred: np.ndarray, padding: int, size: tuple[int, int]) -> IntBox | None:
    """The region a job reads and writes; None for an empty mask.

    `size` is the processing (width, height); the region takes its aspect ratio unless the
    image is too small for that, where it stops at the image's edge.
    """
    box = nonzero_box(blurred)
    if box is None:
        return None
    height, width = blurred.shape
    x1, y1, x2, y2 = box
    if padding:
        x1, y1 = max(x1 - padding, 0), max(y1 - padding, 0)
        x2, y2 = min(x2 + padding, width), min(y2 + padding, height)
    aspect = size[0] / size[1]
    if (x2 - x1) / (y2 - y1) > aspect:
        y1, y2 = _grow(y1, y2, int((x2 - x1) / aspect - (y2 - y1)), height)
    else:
        x1, x2 = _grow(x1, x2, int((y2 - y1) * aspect - (x2 - x1)), width)
    return x1, y1, x2, y2


def resize_and_fill(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Fit `image` inside `size` keeping its aspect; the margins repeat the edge rows or columns."""
    width, height = size
    if image.size == size:
        return image.copy()
    aspect, source_aspect = width / height, image.width / image.height
    fit_w = width if aspect < source_aspect else image.width * height // image.height
    fit_h = height if aspect >= source_aspect else image.height * width // image.width
    fitted = image.resize((max(fit_w, 1), max(fit_h, 1)), Image.LANCZOS)
    canvas = Image.new(image.mode, size)
    left, top = width // 2 - fit_w // 2, height // 2 - fit_h // 2
    canvas.paste(fitted, (left, top))
    if top > 0:
        canvas.paste(fitted.resize((width, top), box=(0, 0, width, 0)), (0, 0))
        canvas.paste(
            fitted.resize((width, height - top - fit_h), box=(0, fit_h, width, fit_h)),
            (0, top + fit_h),
        )
    elif left > 0:
        canvas.paste(fitted.resize((left, height), box=(0, 0, 0, height)), (0, 0))
        canvas.paste(
            fitted.resize((width - left - fit_w, height), box=(fit_w, 0, fit_w, height)),
            (left + fit_w, 0),
        )
    return canvas


def crop_and_resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Cover `size` keeping the aspect, the overflow cut evenly (A1111's "crop and resize")."""
    width, height = size
    if image.size == size:
        return image.copy()
    aspect, source_aspect = width / height, image.width / image.height
    fit_w = width if aspect > source_aspect else image.width * height // image.height
    fit_h = height if aspect <= source_aspect else image.height * width // image.width
    fitted = image.resize((max(fit_w, 1), max(fit_h, 1)), Image.LANCZOS)
    canvas = Image.new(image.mode, size)
    canvas.paste(fitted, (width // 2 - fit_w // 2, height // 2 - fit_h // 2))
    return canvas


@dataclass(frozen=True, eq=False)
class Crop:
    """One job's region and what the paste needs; it depends on the mask only, not on pixels."""

    box: IntBox  # x1, y1, x2, y2 in the image: nothing outside it changes
    size: tuple[int, int]  # the processing (width, height)
    mask: Image.Image  # the crop of the blurred mask at the processing size ("L")
    overlay: np.ndarray  # uint8 (height, width) of the whole image: how much of the redraw shows
    whole_picture: bool = False  # "inpaint whole picture": the image was stretched, not cropped

    def take(self, image: Image.Image) -> Image.Image:
        """What the redraw starts from: the region of `image` at the processing size."""
        if self.whole_picture:
            return (
                image.resize(self.size, Image.LANCZOS) if image.size != self.size else image.copy()
            )
        return resize_and_fill(image.crop(self.box), self.size)


def prepare_crop(
    mask: np.ndarray,
    *,
    blur: int,
    size: tuple[int, int],
    only_masked: bool = True,
    padding: int = 32,
) -> Crop | None:
    """What one job redraws; None for an empty mask (A1111 then leaves the image alone)."""
    blurred = blur_mask(mask, blur)
    if only_masked:
        box = crop_box(blurred, padding, size)
        if box is None:
            return None
        region = Image.fromarray(blurred[box[1] : box[3], box[0] : box[2]])
        return Crop(box, size, resize_and_fill(region, size), blurred)
    if not blurred.any():
        return None
    # "whole picture": the image is stretched to the processing size; the overlay is doubled
    doubled = np.clip(blurred.astype(np.uint16) * 2, 0, 255).astype(np.uint8)
    height, width = mask.shape
    return Crop(
        (0, 0, width, height),
        size,
        Image.fromarray(blurred).resize(size, Image.LANCZOS),
        doubled,
        whole_picture=True,
    )


def paste(
    image: Image.Image, redrawn: Image.Image, crop: Crop, color_match: str = COLOR_MATCH_NONE
) -> Image.Image:
    """`redrawn` (at the processing size) put back into `image` through the blurred mask.

    As A1111 uncrops: the redraw is scaled to cover the crop (its overflow cut evenly), then
    blended through the overlay (`color_match.paste`, which first matches its colours when
    `color_match` asks for it). Where the overlay is 0 the original stays exactly.
    """
    x1, y1, x2, y2 = crop.box
    if crop.whole_picture:
        back = redrawn.resize(image.size, Image.LANCZOS) if redrawn.size != image.size else redrawn
    else:
        back = crop_and_resize(redrawn, (x2 - x1, y2 - y1))
    return paste_through_mask(image, back, Image.fromarray(crop.overlay), crop.box, color_match)
