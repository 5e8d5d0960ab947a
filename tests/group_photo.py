"""A group photo composed of the faces in photos that packages ship, at known places and sizes.

Used by the tiling tests and the benchmarks: small faces a whole-image pass misses, large ones it
finds, on a textured background.
"""

from __future__ import annotations

import matplotlib.cbook
import numpy as np
from PIL import Image
from skimage import data

Box = tuple[float, float, float, float]

# Face boxes measured once with mediapipe_face_full (see test_detectors_mediapipe.py).
FACES: dict[str, Box] = {
    "astronaut": (173.7, 67.8, 277.6, 171.7),
    "camera": (199.6, 122.7, 275.6, 198.7),
    "grace_hopper": (165.9, 128.4, 366.3, 328.8),
}


def photo(name: str) -> Image.Image:
    if name == "astronaut":
        return Image.fromarray(data.astronaut())
    if name == "camera":
        return Image.fromarray(data.camera()).convert("RGB")
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as image:
        return image.convert("RGB")


def head(name: str, margin: float = 1.0) -> tuple[Image.Image, Box]:
    """The face with `margin` face-widths of its photo around it, and the face's box in that crop."""
    image = photo(name)
    x1, y1, x2, y2 = FACES[name]
    w, h = x2 - x1, y2 - y1
    crop = (
        int(max(0, x1 - margin * w)),
        int(max(0, y1 - margin * h)),
        int(min(image.width, x2 + margin * w)),
        int(min(image.height, y2 + margin * h)),
    )
    return image.crop(crop), (x1 - crop[0], y1 - crop[1], x2 - crop[0], y2 - crop[1])


def compose(
    size: tuple[int, int] = (1536, 1024),
    face_widths: tuple[int, ...] = (40, 56, 72, 96, 128, 180, 260),
    seed: int = 0,
) -> tuple[Image.Image, list[Box]]:
    """Heads laid out in rows on a noise background; returns the image and every face's box."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(128, 20, (size[1] // 16 + 1, size[0] // 16 + 1, 3)).clip(0, 255)
    canvas = Image.fromarray(noise.astype(np.uint8)).resize(size, Image.BICUBIC)
    names = list(FACES)
    faces: list[Box] = []
    x = y = row_height = 20
    row_height = 0
    for k, width in enumerate(face_widths):
        crop, (fx1, fy1, fx2, _) = head(names[k % len(names)])
        scale = width / (fx2 - fx1)
        crop = crop.resize((round(crop.width * scale), round(crop.height * scale)), Image.LANCZOS)
        if x + crop.width > size[0] - 20:
            x, y, row_height = 20, y + row_height + 20, 0
        if y + crop.height > size[1] or x + crop.width > size[0]:
            msg = f"faces {face_widths} do not fit on {size}"
            raise ValueError(msg)
        canvas.paste(crop, (x, y))
        left, top = x + fx1 * scale, y + fy1 * scale
        faces.append((left, top, left + width, top + width))
        x, row_height = x + crop.width + 20, max(row_height, crop.height)
    return canvas, faces
