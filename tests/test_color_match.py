from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from adetailer.color_match import (
    COLOR_MATCH_BORDER,
    COLOR_MATCH_NONE,
    border_band,
    match_colors,
    paste,
)
from tests.group_photo import FACES, photo


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)


def _shifted(rgb: np.ndarray, d_l: float = 12, d_a: float = 8) -> np.ndarray:
    lab = _lab(rgb)
    lab[..., 0] += d_l
    lab[..., 1] += d_a
    back = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB) * 255
    return np.clip(np.round(back), 0, 255).astype(np.uint8)


def _blurred_box(
    size: tuple[int, int], box: tuple[int, int, int, int], blur: int = 4
) -> np.ndarray:
    mask = np.zeros((size[1], size[0]), np.uint8)
    x1, y1, x2, y2 = box
    mask[y1:y2, x1:x2] = 255
    kernel = 2 * int(2.5 * blur + 0.5) + 1  # A1111's mask blur
    mask = cv2.GaussianBlur(mask, (kernel, 1), blur)
    return cv2.GaussianBlur(mask, (1, kernel), blur)


@pytest.fixture(scope="module")
def face_crop() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's head region and a blurred box mask over the face, as a detail pass has them."""
    image = np.asarray(photo("astronaut"))
    x1, y1, x2, y2 = (int(v) for v in FACES["astronaut"])
    crop = image[y1 - 40 : y2 + 40, x1 - 40 : x2 + 40]
    height, width = crop.shape[:2]
    return crop, _blurred_box((width, height), (40, 40, width - 40, height - 40))


def test_none_returns_the_redraw_itself(face_crop) -> None:
    crop, mask = face_crop
    redrawn = _shifted(crop)
    assert match_colors(redrawn, crop, mask, COLOR_MATCH_NONE) is redrawn


def test_border_takes_a_colour_shift_out_of_the_band(face_crop) -> None:
    crop, mask = face_crop
    redrawn = _shifted(crop)
    matched = match_colors(redrawn, crop, mask, COLOR_MATCH_BORDER)
    band = border_band(np.where(mask > 127, 255, 0).astype(np.uint8), 8) > 0
    before = np.abs(_lab(redrawn)[band].mean(axis=0) - _lab(crop)[band].mean(axis=0))
    after = np.abs(_lab(matched)[band].mean(axis=0) - _lab(crop)[band].mean(axis=0))
    assert (before[:2] > (10, 6)).all()  # the shift is there ...
    assert (after[:2] < 1.5).all()  # ... and gone
    assert (matched.dtype, matched.shape) == (np.uint8, crop.shape)


def test_border_leaves_a_matching_redraw_nearly_as_it_is(face_crop) -> None:
    crop, mask = face_crop
    matched = match_colors(crop, crop, mask, COLOR_MATCH_BORDER)
    assert np.abs(matched.astype(int) - crop.astype(int)).mean() < 1.0


def test_a_mask_too_thin_to_measure_changes_nothing(face_crop) -> None:
    crop, _ = face_crop
    redrawn = _shifted(crop)
    tiny = np.zeros(crop.shape[:2], np.uint8)
    tiny[10:13, 10:13] = 255
    assert match_colors(redrawn, crop, tiny) is redrawn


def test_bad_mode_and_sizes_are_one_line_errors(face_crop) -> None:
    crop, mask = face_crop
    with pytest.raises(
        ValueError, match=r'ad_color_match=.Edge. is not allowed; expected one of "None", "Border"'
    ):
        match_colors(crop, crop, mask, "Edge")
    with pytest.raises(ValueError, match="sizes differ"):
        match_colors(crop[:-1], crop, mask)


@pytest.mark.parametrize("mode", [COLOR_MATCH_NONE, COLOR_MATCH_BORDER])
def test_paste_touches_only_the_masked_part_of_the_box(mode: str) -> None:
    original = photo("grace_hopper")
    x1, y1, x2, y2 = (int(v) for v in FACES["grace_hopper"])
    box = (x1 - 32, y1 - 32, x2 + 32, y2 + 32)
    mask = _blurred_box(original.size, (x1, y1, x2, y2))
    crop = np.asarray(original)[box[1] : box[3], box[0] : box[2]]
    # redrawn at a processing size, as A1111 does, and pasted back at the box's size
    redrawn = Image.fromarray(_shifted(crop)).resize((512, 512), Image.LANCZOS)

    result = np.asarray(paste(original, redrawn, Image.fromarray(mask), box, mode))

    before = np.asarray(original)
    outside_box = np.ones(mask.shape, bool)
    outside_box[box[1] : box[3], box[0] : box[2]] = False
    assert np.array_equal(result[outside_box], before[outside_box])
    assert np.array_equal(result[mask == 0], before[mask == 0])
    inside = mask == 255
    assert np.abs(result[inside].astype(int) - before[inside].astype(int)).mean() > 0


def test_border_paste_lowers_the_seam() -> None:
    original = photo("grace_hopper")
    x1, y1, x2, y2 = (int(v) for v in FACES["grace_hopper"])
    box = (x1 - 32, y1 - 32, x2 + 32, y2 + 32)
    binary = np.zeros((original.height, original.width), np.uint8)
    binary[y1:y2, x1:x2] = 255
    mask = Image.fromarray(_blurred_box(original.size, (x1, y1, x2, y2)))
    crop = np.asarray(original)[box[1] : box[3], box[0] : box[2]]
    redrawn = Image.fromarray(_shifted(crop))
    ring = cv2.dilate(binary, np.ones((17, 17), np.uint8)) > binary

    def seam(mode: str) -> float:
        result = np.asarray(paste(original, redrawn, mask, box, mode))
        difference = _lab(result) - _lab(np.asarray(original))
        return float(np.linalg.norm(difference, axis=-1)[ring].mean())

    assert seam(COLOR_MATCH_BORDER) < 0.25 * seam(COLOR_MATCH_NONE)


def test_paste_outside_the_image_is_clipped() -> None:
    original = Image.new("RGB", (64, 48), (10, 20, 30))
    redrawn = Image.new("RGB", (32, 32), (200, 100, 50))
    mask = Image.new("L", (64, 48), 255)
    result = paste(original, redrawn, mask, (48, 32, 80, 64), COLOR_MATCH_NONE)
    assert result.size == (64, 48)
    assert result.getpixel((60, 40)) == (200, 100, 50)  # the part of the redraw inside the image
    assert result.getpixel((10, 10)) == (10, 20, 30)
    assert paste(original, redrawn, mask, (70, 50, 90, 60)).tobytes() == original.tobytes()
