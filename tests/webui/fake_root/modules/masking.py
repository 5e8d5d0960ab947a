"""``modules.masking``: crop regions for "inpaint only masked" and the "fill" masked-content mode."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter, ImageOps

Box = tuple[int, int, int, int]


def _as_image(mask: Image.Image | np.ndarray) -> Image.Image:
    return mask if isinstance(mask, Image.Image) else Image.fromarray(mask)


def get_crop_region_v2(mask: Image.Image | np.ndarray, pad: int = 0) -> Box | None:
    """Bounding box of the non-zero pixels grown by ``pad`` and clamped, or None for an all-black mask."""
    mask = _as_image(mask)
    box = mask.getbbox()
    if not box:
        return None
    if not pad:
        return box

    x1, y1, x2, y2 = box
    width, height = mask.size
    return max(x1 - pad, 0), max(y1 - pad, 0), min(x2 + pad, width), min(y2 + pad, height)


def get_crop_region(mask: Image.Image | np.ndarray, pad: int = 0) -> Box:
    """Pre-1.10 behaviour: an all-black mask yields an inverted (invalid) box instead of None."""
    mask = _as_image(mask)
    box = get_crop_region_v2(mask, pad)
    if box:
        return box

    width, height = mask.size
    return max(width - pad, 0), max(height - pad, 0), min(pad, width), min(pad, height)


def _grow_span(lo: int, hi: int, grow: int, limit: int) -> tuple[int, int]:
    """Grow [lo, hi) by ``grow`` (split around it), then shift it back inside [0, limit]."""
    lo -= grow // 2
    hi += grow - grow // 2
    if hi >= limit:
        overshoot = hi - limit
        hi -= overshoot
        lo -= overshoot
    if lo < 0:
        hi -= lo
        lo = 0
    if hi >= limit:
        hi = limit
    return lo, hi


def expand_crop_region(
    crop_region: Box,
    processing_width: int,
    processing_height: int,
    image_width: int,
    image_height: int,
) -> Box:
    """Grow the shorter side of the region to the processing aspect ratio, staying inside the image."""
    x1, y1, x2, y2 = crop_region

    ratio_crop_region = (x2 - x1) / (y2 - y1)
    ratio_processing = processing_width / processing_height

    if ratio_crop_region > ratio_processing:
        desired_height = (x2 - x1) / ratio_processing
        y1, y2 = _grow_span(y1, y2, int(desired_height - (y2 - y1)), image_height)
    else:
        desired_width = (y2 - y1) * ratio_processing
        x1, x2 = _grow_span(x1, x2, int(desired_width - (x2 - x1)), image_width)

    return x1, y1, x2, y2


def fill(image: Image.Image, mask: Image.Image) -> Image.Image:
    """Replace masked pixels by progressively sharper blurs of the unmasked ones; unmasked pixels stay."""
    filled = Image.new("RGBA", (image.width, image.height))

    unmasked = Image.new("RGBa", (image.width, image.height))
    unmasked.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))

    for radius, repeats in [(256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)]:
        blurred = unmasked.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            filled.alpha_composite(blurred)

    return filled.convert("RGB")
