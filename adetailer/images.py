"""Bring any picture into the one form the detectors read: 8-bit RGB.

Detectors and inpainting see colour images. Uploads and API requests arrive in every mode
Pillow knows; a plain `convert("RGB")` drops transparency onto black, clips 16-bit and float
images to white, and refuses a few modes outright. Each case is handled here once.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# What a transparent pixel becomes: white, as A1111 flattens transparency (img2img background).
BACKGROUND = (255, 255, 255)

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
# Rawmodes Pillow's decoder knows for its packed BGR modes, which `convert` refuses.
_PACKED_BGR_RAWMODES = {"BGR;15": "BGR;15", "BGR;16": "BGR;16", "BGR;24": "BGR"}


def ensure_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB image showing what a viewer shows for `image`, whatever its mode.

    Transparency is laid over white, 16-bit and 32-bit integer images are scaled down rather
    than clipped, float images are read as 0..1 or 0..255 (or stretched when outside both).
    An RGB image without transparency is returned as it is; anything else comes back as a new
    image.
    """
    if not isinstance(image, Image.Image):
        msg = f"expected a PIL image, got {type(image).__name__}"
        raise TypeError(msg)
    mode = image.mode
    transparent = mode in _ALPHA_MODES or "transparency" in image.info
    if mode == "RGB" and not transparent:
        return image
    if mode in _PACKED_BGR_RAWMODES:
        return _unpack_bgr(image)
    if mode.startswith("I;16"):
        return _gray_to_rgb(_scale_16bit(np.asarray(image)))
    if mode in ("I", "F"):
        return _gray_to_rgb(_to_uint8(np.asarray(image)))
    if mode == "La":
        return _flatten(_unpremultiply_la(image))
    if transparent:
        return _flatten(image.convert("RGBA"))
    return image.convert("RGB")


def _flatten(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGB", rgba.size, BACKGROUND)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _unpremultiply_la(image: Image.Image) -> Image.Image:
    """'La' stores luminance multiplied by alpha; Pillow cannot convert it, so undo that by hand."""
    data = np.asarray(image).astype(np.float32)
    luminance, alpha = data[..., 0], data[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        straight = np.where(alpha > 0, luminance * 255.0 / alpha, 0.0)
    gray = np.clip(np.rint(straight), 0, 255).astype(np.uint8)
    rgba = np.dstack([gray, gray, gray, alpha.astype(np.uint8)])
    return Image.fromarray(rgba, mode="RGBA")


def _unpack_bgr(image: Image.Image) -> Image.Image:
    rawmode = _PACKED_BGR_RAWMODES[image.mode]
    return Image.frombytes("RGB", image.size, image.tobytes(), "raw", rawmode)


def _gray_to_rgb(gray: np.ndarray) -> Image.Image:
    return Image.fromarray(gray, mode="L").convert("RGB")


def _scale_16bit(values: np.ndarray) -> np.ndarray:
    """Full 16-bit range onto full 8-bit range (65535 -> 255), not clipped at 255 as `convert` does."""
    return np.rint(values.astype(np.float64) / 257.0).astype(np.uint8)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Map 32-bit integer or float samples to 0..255 by the range they were most likely written in.

    These modes carry no bit depth of their own: 16-bit PNGs often open as "I", and float images
    hold either 0..1 or 0..255. Values outside every usual range are stretched to fit.
    """
    data = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if data.size == 0:
        return data.astype(np.uint8)
    low, high = float(data.min()), float(data.max())
    if np.issubdtype(values.dtype, np.floating) and low >= 0.0 and high <= 1.0:
        scaled = data * 255.0
    elif low >= 0.0 and high <= 255.0:
        scaled = data
    elif low >= 0.0 and high <= 65535.0:
        scaled = data / 257.0
    elif high > low:
        scaled = (data - low) * (255.0 / (high - low))
    else:
        scaled = data  # one value outside 0..255 everywhere: clipped, as no contrast is lost
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
