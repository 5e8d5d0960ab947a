"""Seamless pastes: the redrawn region's colours matched to the original before it is pasted.

A redraw drifts in colour (the VAE round trip, the sampler); pasted with a blurred mask, the drift
shows as a halo or a box around the region. With "Border", the colour statistics (mean and
deviation of L, a and b) of the redraw and of the original are measured in the band just inside
the mask's edge, where the two should agree, and the redraw is shifted to match before the usual
blurred-mask paste.

Measuring happens in LAB on the band (a small share of the pixels, subsampled on large crops).
The correction is defined in LAB (each channel's mean and deviation moved to the original's) and
applied to the whole region as the per-channel RGB tone curves (quadratic in the value) that
reproduce it on the band's own pixels: three look-up tables instead of two colour-space conversions of the
whole crop, which keeps a 512x768 crop within a few milliseconds.

Both the web UI and the standalone path call `paste` (or `match_colors` on a crop they paste
themselves).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image

from adetailer.args import COLOR_MATCH_MODES

COLOR_MATCH_NONE, COLOR_MATCH_BORDER = COLOR_MATCH_MODES

# The band is this share of the mask's smaller side wide, within these bounds (pixels).
BAND_SHARE = 0.08
BAND_MIN, BAND_MAX = 3, 48
# Below this many band pixels the statistics say nothing: the redraw is left as it is.
MIN_BAND_PIXELS = 64
# A redraw's deviation is moved towards the original's by at most this factor either way.
MAX_GAIN = 1.5
# The statistics are measured on a grid whose smaller side has about this many pixels: a few
# thousand band pixels describe its colours as well as all of them, at a fraction of the cost.
MEASURE_SIDE = 128


def band_width(inside: np.ndarray, step: int = 1) -> int:
    """How far inside the mask's edge the band reaches, from the size of the masked area.

    `inside`: the mask as 0/255, measured on every `step`-th pixel."""
    _, _, width, height = cv2.boundingRect(inside)
    if width == 0 or height == 0:
        return BAND_MIN
    return int(np.clip(round(min(width, height) * step * BAND_SHARE), BAND_MIN, BAND_MAX))


def border_band(inside: np.ndarray, width: int) -> np.ndarray:
    """The pixels of the mask (0/255) that lie within `width` pixels of its edge, as 0/255."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * width + 1, 2 * width + 1))
    # pixels outside the image count as outside the mask: a mask that touches the border has
    # its band along the border too (the redraw there meets nothing, but it is what we have)
    eroded = cv2.erode(inside, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return cv2.subtract(inside, eroded)


def _inside(mask: np.ndarray) -> np.ndarray:
    """A paste mask (blurred or not) as 0/255: above half is inside."""
    return cv2.threshold(mask, 127, 255, cv2.THRESH_BINARY)[1]


def _to_lab(pixels: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 RGB -> (N, 3) float32 LAB in OpenCV's 8-bit scaling (L 0..255, a/b + 128)."""
    lab = cv2.cvtColor(pixels.reshape(-1, 1, 3), cv2.COLOR_RGB2LAB)
    return lab.reshape(-1, 3).astype(np.float32)


def match_colors(
    redrawn: np.ndarray, original: np.ndarray, mask: np.ndarray, mode: str = COLOR_MATCH_BORDER
) -> np.ndarray:
    """The redrawn crop with its colours moved to the original's in the band inside the mask's edge.

    `redrawn` and `original`: (H, W, 3) uint8 RGB of the same region; `mask`: (H, W) uint8, the
    paste mask (blurred or not; above 127 is inside). Returns a new array; `redrawn` is returned
    as it is for mode "None", and when the mask leaves too small a band to measure.
    """
    if mode == COLOR_MATCH_NONE:
        return redrawn
    if mode != COLOR_MATCH_BORDER:
        allowed = ", ".join(f'"{m}"' for m in COLOR_MATCH_MODES)
        msg = f"ad_color_match={mode!r} is not allowed; expected one of {allowed}"
        raise ValueError(msg)
    if redrawn.shape != original.shape or redrawn.shape[:2] != mask.shape:
        msg = f"sizes differ: redrawn {redrawn.shape}, original {original.shape}, mask {mask.shape}"
        raise ValueError(msg)
    step = max(1, min(mask.shape) // MEASURE_SIDE)
    inside = _inside(np.ascontiguousarray(mask[::step, ::step]))
    band = border_band(inside, max(1, band_width(inside, step) // step))
    if cv2.countNonZero(band) < MIN_BAND_PIXELS:
        return redrawn
    in_band = band > 0
    source = redrawn[::step, ::step][in_band]  # (N, 3) RGB
    lab_redrawn = _to_lab(source)
    lab_original = _to_lab(original[::step, ::step][in_band])
    mean_r, std_r = (v.ravel() for v in cv2.meanStdDev(lab_redrawn.reshape(-1, 1, 3)))
    mean_o, std_o = (v.ravel() for v in cv2.meanStdDev(lab_original.reshape(-1, 1, 3)))
    gain = np.clip(std_o / np.maximum(std_r, 1e-3), 1 / MAX_GAIN, MAX_GAIN)
    gain[std_r < 1e-3] = 1.0

    # the band's redrawn pixels as they would be after the LAB correction ...
    corrected = (lab_redrawn - mean_r) * gain + mean_o
    corrected = np.clip(np.round(corrected), 0, 255).astype(np.uint8).reshape(-1, 1, 3)
    target = cv2.cvtColor(corrected, cv2.COLOR_LAB2RGB).reshape(-1, 3)
    # ... and the per-channel tone curves that take them there, applied to the whole crop
    return cv2.LUT(redrawn, _tone_curves(source, target))


def _tone_curves(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """A (1, 256, 3) table: per channel, the change from `source` to `target` values (uint8
    (N, 3) each) as a quadratic in the value (least squares), held constant beyond the values
    the band has. A channel whose band is nearly flat only gets the mean change."""
    x = source.astype(np.float64) / 255.0
    change = target.astype(np.float64) - source
    powers = np.stack([x * x, x, np.ones_like(x)], axis=-1)  # (N, 3 channels, 3)
    normal = np.einsum("nci,ncj->cij", powers, powers)
    right = np.einsum("nci,nc->ci", powers, change)
    flat = x.var(axis=0) * 255.0**2 < 1.0
    normal[flat] = np.eye(3)
    right[flat] = [0.0, 0.0, float(0)]
    coefficients = np.linalg.solve(normal, right[..., None])[..., 0]  # (3 channels, 3)
    coefficients[flat, 2] = change.mean(axis=0)[flat]
    levels = np.arange(256, dtype=np.float64) / 255.0
    low, high = x.min(axis=0), x.max(axis=0)
    tables = []
    for channel in range(3):
        at = np.clip(levels, low[channel], high[channel])
        a, b, c = coefficients[channel]
        tables.append(np.clip(np.round(levels * 255.0 + a * at * at + b * at + c), 0, 255))
    return np.stack(tables, axis=-1).astype(np.uint8).reshape(1, 256, 3)


Box = Sequence[int]


def paste(
    original: Image.Image,
    redrawn: Image.Image,
    mask: Image.Image,
    box: Box,
    mode: str = COLOR_MATCH_BORDER,
) -> Image.Image:
    """`redrawn` (a crop, any size) pasted into `original` at `box` through the blurred `mask`.

    `box` is (x1, y1, x2, y2) in `original`'s pixels; `redrawn` is resized to it (Lanczos, as
    A1111 uncrops); `mask` is the full-size paste mask ('L', blurred), 255 = redraw. With "Border"
    the redraw's colours are matched first (`match_colors`). Pixels outside `box`, and inside it
    where the mask is 0, keep the original's values exactly.
    """
    left, top, right, bottom = (int(v) for v in box)
    x1, y1 = max(0, left), max(0, top)
    x2, y2 = min(original.width, right), min(original.height, bottom)
    if x2 <= x1 or y2 <= y1:
        return original.copy()
    base = np.asarray(original.convert("RGB"))
    region = base[y1:y2, x1:x2]
    alpha = np.asarray(mask.convert("L"))[y1:y2, x1:x2]
    new = redrawn.convert("RGB")
    if new.size != (right - left, bottom - top):
        new = new.resize((right - left, bottom - top), Image.LANCZOS)
    if (x1, y1, x2, y2) != (left, top, right, bottom):  # the part of the box inside the image
        new = new.crop((x1 - left, y1 - top, x2 - left, y2 - top))
    matched = match_colors(np.asarray(new), region, alpha, mode)
    weight = alpha.astype(np.float32)[..., None] / 255.0
    blended = region + (matched.astype(np.float32) - region) * weight
    out = base.copy()
    out[y1:y2, x1:x2] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    return Image.fromarray(out)
