"""A1111's "inpaint only masked" geometry, as the standalone backend does it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from adetailer.crops import blur_mask, crop_box, paste, prepare_crop


def _a1111_masking():
    """The test double's copy of A1111's `modules.masking` (numpy and PIL only), loaded alone."""
    path = Path(__file__).parent / "webui" / "fake_root" / "modules" / "masking.py"
    spec = importlib.util.spec_from_file_location("a1111_masking", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


masking = _a1111_masking()


def _rect_mask(size, box):
    width, height = size
    mask = np.zeros((height, width), dtype=bool)
    x1, y1, x2, y2 = box
    mask[y1:y2, x1:x2] = True
    return mask


@st.composite
def _masks(draw):
    width, height = draw(st.integers(8, 120)), draw(st.integers(8, 120))
    x1, y1 = draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1))
    x2, y2 = draw(st.integers(x1 + 1, width)), draw(st.integers(y1 + 1, height))
    return _rect_mask((width, height), (x1, y1, x2, y2))


@given(_masks(), st.integers(0, 40), st.integers(8, 128), st.integers(8, 128))
def test_crop_box_is_a1111s(mask, padding, proc_w, proc_h):
    """Same region as the test double's copy of A1111's masking functions, on any mask."""
    blurred = blur_mask(mask, 0)
    expected = masking.get_crop_region_v2(blurred, padding)
    expected = masking.expand_crop_region(expected, proc_w, proc_h, mask.shape[1], mask.shape[0])
    assert crop_box(blurred, padding, (proc_w, proc_h)) == tuple(expected)


def test_blur_uses_a1111s_kernel_and_reaches_past_the_mask():
    mask = _rect_mask((64, 64), (20, 20, 40, 40))
    blurred = blur_mask(mask, 4)
    assert blurred.dtype == np.uint8
    assert blurred[30, 30] > 240
    assert blurred[30, 18] > 0  # the blur reaches outside the mask
    assert blurred[30, 5] == 0  # kernel 2*int(2.5*4+0.5)+1 = 21: radius 10 past the edge at most
    assert (blur_mask(mask, 0) == mask * 255).all()


def test_paste_changes_only_the_blurred_mask_inside_the_crop():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (100, 160, 3), dtype=np.uint8))
    mask = _rect_mask((160, 100), (60, 30, 90, 60))
    crop = prepare_crop(mask, blur=4, size=(64, 64), padding=8)
    assert crop is not None
    x1, y1, x2, y2 = crop.box
    assert (x2 - x1) == (y2 - y1)  # the processing aspect
    assert crop.take(image).size == crop.mask.size == (64, 64)
    redrawn = Image.new("RGB", (64, 64), (255, 0, 0))
    result = np.asarray(paste(image, redrawn, crop)).astype(int)
    original = np.asarray(image).astype(int)
    changed = (result != original).any(axis=2)
    outside = np.ones_like(changed)
    outside[y1:y2, x1:x2] = False
    assert not changed[outside].any()
    assert not changed[crop.overlay == 0].any()
    assert changed[45, 75]  # the mask's centre is the redraw
    assert (result[45, 75] == (255, 0, 0)).all()


def test_whole_picture_redraws_at_the_processing_size_and_pastes_through_the_doubled_mask():
    image = Image.new("RGB", (80, 40), (10, 20, 30))
    mask = _rect_mask((80, 40), (10, 10, 20, 20))
    crop = prepare_crop(mask, blur=2, size=(64, 64), only_masked=False)
    assert crop is not None
    assert crop.whole_picture
    assert crop.take(image).size == (64, 64)
    assert crop.box == (0, 0, 80, 40)
    result = np.asarray(paste(image, Image.new("RGB", (64, 64), (200, 200, 200)), crop))
    assert (result[15, 15] == 200).all()
    assert (result[35, 70] == (10, 20, 30)).all()


def test_an_empty_mask_has_no_crop():
    assert prepare_crop(np.zeros((32, 32), bool), blur=4, size=(64, 64)) is None
