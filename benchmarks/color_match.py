"""Worker: seamless pastes (`ad_color_match`): the seam error with "None" and "Border", and the cost.

On each test photo, the face (its box, dilated by the tab's default 4 px, as a face-box model
gives it) is cut out with A1111's "only masked" padding (32 px), scaled to a 512 px processing
size, "redrawn" with a controlled colour shift of +12 in L and +8 in a (LAB), scaled back and
pasted with the default mask blur (4) through `adetailer.color_match.paste`, once with "None" and
once with "Border". The seam error is the mean colour difference (CIE76 delta E, LAB) between the
pasted result and the original in the 8 px ring just outside the mask. A second row adds a
softening of the redraw (Gaussian, sigma 1 px at processing size, as a VAE round trip blurs),
which no colour match can take out: it shows how much of the seam is colour.

The cost is `match_colors` on a 512x768 crop (the astronaut fitted to it, a blurred face-sized
box mask, the same shift), timed many times: wall time (median and best), and the process's CPU
time (median), which adds up OpenCV's threads and is not inflated by other work on the machine.

Run by `benchmarks.run`: `python -m benchmarks.color_match --rounds N --out FILE`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

SHIFT_L, SHIFT_A = 12.0, 8.0
DILATE, PADDING, BLUR = 4, 32, 4  # the tab defaults: ad_dilate_erode, padding, ad_mask_blur
PROCESSING_SIDE = 512
RING = 8  # px just outside the mask where the seam error is measured
CROP_SIZE = (512, 768)  # width, height of the timed crop
PHOTOS = ("astronaut", "camera", "grace_hopper")
VARIANTS = {"shift": 0.0, "shift + softening": 1.0}  # name -> Gaussian sigma of the "redraw"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="timed calls of match_colors")
    parser.add_argument("--out", type=Path, required=True)
    options = parser.parse_args(argv)
    result = {"seams": measure_seams(), "timing": measure_time(options.rounds)}
    options.out.write_text(json.dumps(result, indent=1), encoding="utf8")
    return 0


def lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def shifted(rgb: np.ndarray) -> np.ndarray:
    values = lab(rgb)
    values[..., 0] += SHIFT_L
    values[..., 1] += SHIFT_A
    back = cv2.cvtColor(values, cv2.COLOR_LAB2RGB) * 255.0
    return np.clip(np.round(back), 0, 255).astype(np.uint8)


def blurred_mask(binary: np.ndarray) -> np.ndarray:
    """A1111's mask blur: a horizontal then a vertical Gaussian, kernel 2 * int(2.5 * blur + .5) + 1."""
    kernel = 2 * int(2.5 * BLUR + 0.5) + 1
    mask = cv2.GaussianBlur(binary, (kernel, 1), BLUR)
    return cv2.GaussianBlur(mask, (1, kernel), BLUR)


def redraw_and_paste(photo_name: str, mode: str, softening: float) -> dict[str, Any]:
    from adetailer.color_match import paste
    from tests.group_photo import FACES, photo

    image = photo(photo_name)
    original = np.asarray(image)
    height, width = original.shape[:2]
    x1, y1, x2, y2 = (round(v) for v in FACES[photo_name])
    binary = np.zeros((height, width), np.uint8)
    binary[max(0, y1 - DILATE) : y2 + DILATE, max(0, x1 - DILATE) : x2 + DILATE] = 255
    mask = blurred_mask(binary)
    box = (
        max(0, x1 - DILATE - PADDING),
        max(0, y1 - DILATE - PADDING),
        min(width, x2 + DILATE + PADDING),
        min(height, y2 + DILATE + PADDING),
    )
    crop = image.crop(box)
    scale = PROCESSING_SIDE / max(crop.size)
    processing = crop.resize((round(crop.width * scale), round(crop.height * scale)), Image.LANCZOS)
    redrawn = np.asarray(processing)
    if softening:
        redrawn = cv2.GaussianBlur(redrawn, (0, 0), softening)
    redrawn = shifted(redrawn)
    result = np.asarray(paste(image, Image.fromarray(redrawn), Image.fromarray(mask), box, mode))

    ring_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * RING + 1, 2 * RING + 1))
    ring = (cv2.dilate(binary, ring_kernel) > 0) & (binary == 0)
    delta_e = np.linalg.norm(lab(result) - lab(original), axis=-1)
    outside_box = np.ones((height, width), bool)
    outside_box[box[1] : box[3], box[0] : box[2]] = False
    return {
        "seam": float(delta_e[ring].mean()),
        "changed_outside_box": int(np.any(result != original, axis=2)[outside_box].sum()),
    }


def measure_seams() -> list[dict[str, Any]]:
    rows = []
    for name in PHOTOS:
        for variant, softening in VARIANTS.items():
            none = redraw_and_paste(name, "None", softening)
            border = redraw_and_paste(name, "Border", softening)
            rows.append(
                {
                    "photo": name,
                    "variant": variant,
                    "none": none["seam"],
                    "border": border["seam"],
                    "ratio": border["seam"] / none["seam"],
                    "changed_outside_box": none["changed_outside_box"]
                    + border["changed_outside_box"],
                }
            )
    return rows


def measure_time(rounds: int) -> dict[str, Any]:
    from PIL import ImageOps

    from adetailer.color_match import match_colors
    from tests.group_photo import photo

    width, height = CROP_SIZE
    original = np.asarray(ImageOps.fit(photo("astronaut"), CROP_SIZE, Image.LANCZOS))
    redrawn = shifted(original)
    binary = np.zeros((height, width), np.uint8)
    binary[height // 8 : height * 7 // 8, width // 8 : width * 7 // 8] = 255
    mask = blurred_mask(binary)
    match_colors(redrawn, original, mask)  # warm-up (OpenCV's tables)
    wall, cpu = [], []
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        match_colors(redrawn, original, mask)
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return {
        "size": f"{width}x{height}",
        "rounds": rounds,
        "median_s": float(np.median(wall)),
        "min_s": float(np.min(wall)),
        "cpu_median_s": float(np.median(cpu)),
    }


if __name__ == "__main__":
    sys.exit(main())
