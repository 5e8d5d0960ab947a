from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from adetailer.args import TabArgs
from adetailer.boxes import box_area, box_to_mask, boxes_to_masks, mask_to_box
from adetailer.detections import Detection, Detections
from adetailer.masks import (
    SORT_AREA,
    SORT_CENTER_TO_EDGE,
    SORT_LEFT_TO_RIGHT,
    SORT_NONE,
    SORT_ORDERS,
    binary_mask,
    dilate_erode,
    dilate_erode_mask,
    filter_by_area_ratio,
    keep_intersecting,
    keep_top_k,
    merge_invert,
    offset,
    preprocess,
    shift_mask,
    sort_detections,
)


@st.composite
def detections(draw, min_items: int = 0, max_items: int = 6) -> Detections:
    width = draw(st.integers(4, 48))
    height = draw(st.integers(4, 48))
    count = draw(st.integers(min_items, max_items))
    items = []
    for n in range(count):
        x1 = draw(st.integers(0, width - 1))
        y1 = draw(st.integers(0, height - 1))
        x2 = draw(st.integers(x1 + 1, width))
        y2 = draw(st.integers(y1 + 1, height))
        box = (float(x1), float(y1), float(x2), float(y2))
        items.append(
            Detection(
                box=box,
                mask=box_to_mask(box, (width, height)),
                confidence=draw(st.floats(0, 1)),
                label=f"obj{n}",
            )
        )
    return Detections(Image.new("RGB", (width, height)), tuple(items), model="test")


def by_identity(detections: Detections) -> list[int]:
    return [id(d) for d in detections]


@settings(max_examples=200, deadline=None)
@given(detections(), st.floats(0, 1), st.floats(0, 1))
def test_area_ratio_filter(dets, low, high):
    out = filter_by_area_ratio(dets, low, high)
    area = dets.size[0] * dets.size[1]
    expected = [d for d in dets if low <= box_area(d.box) / area <= high]
    assert by_identity(out) == by_identity(expected)


@settings(max_examples=200, deadline=None)
@given(detections(), st.integers(0, 8), st.sampled_from(["Area", "Confidence"]))
def test_top_k(dets, k, by):
    out = keep_top_k(dets, k, by)
    if k == 0:
        assert out is dets
        return
    assert len(out) == min(k, len(dets))
    assert set(by_identity(out)) <= set(by_identity(dets))
    key = (lambda d: box_area(d.box)) if by == "Area" else (lambda d: d.confidence)
    values = [key(d) for d in out]
    assert values == sorted(values, reverse=True)
    dropped = [key(d) for d in dets if id(d) not in set(by_identity(out))]
    if values and dropped:
        assert min(values) >= max(dropped)


def test_top_k_rejects_unknown_method():
    with pytest.raises(ValueError, match="'Size'"):
        keep_top_k(Detections(Image.new("RGB", (4, 4)), ()), 1, "Size")


@settings(max_examples=200, deadline=None)
@given(detections(), st.sampled_from(SORT_ORDERS))
def test_sort_is_a_stable_permutation(dets, order):
    out = sort_detections(dets, order)
    assert sorted(by_identity(out)) == sorted(by_identity(dets))
    width, height = dets.size
    keys = {
        SORT_NONE: lambda d: 0,
        SORT_LEFT_TO_RIGHT: lambda d: d.box[0],
        SORT_CENTER_TO_EDGE: lambda d: math.dist(
            ((d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2), (width / 2, height / 2)
        ),
        SORT_AREA: lambda d: -box_area(d.box),
    }
    assert by_identity(out) == by_identity(sorted(dets, key=keys[order]))


def test_sort_orders_are_the_originals():
    assert SORT_ORDERS == (
        "None",
        "Position (left to right)",
        "Position (center to edge)",
        "Area (large to small)",
    )


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 20),
    st.integers(1, 20),
    st.integers(-25, 25),
    st.integers(-25, 25),
    st.data(),
)
def test_shift_mask_moves_without_wrapping(height, width, dx, dy, data):
    mask = np.array(
        data.draw(
            st.lists(
                st.lists(st.booleans(), min_size=width, max_size=width),
                min_size=height,
                max_size=height,
            )
        )
    )
    shifted = shift_mask(mask, dx, dy)
    assert shifted.shape == mask.shape
    for y, x in zip(*np.nonzero(mask), strict=True):
        ny, nx = y + dy, x + dx
        inside = 0 <= ny < height and 0 <= nx < width
        if inside:
            assert shifted[ny, nx]
    assert shifted.sum() == sum(
        1
        for y, x in zip(*np.nonzero(mask), strict=True)
        if 0 <= y + dy < height and 0 <= x + dx < width
    )


def test_offset_positive_y_moves_up_and_drops_masks_pushed_outside():
    size = (20, 20)
    box = (5.0, 5.0, 10.0, 10.0)
    det = Detection(box, box_to_mask(box, size), 0.9, "face")
    dets = Detections(Image.new("RGB", size), (det,))
    moved = offset(dets, 3, 2)
    assert mask_to_box(moved[0].mask) == (8.0, 3.0, 13.0, 8.0)
    assert moved[0].box == (8.0, 3.0, 13.0, 8.0)
    assert len(offset(dets, 30, 0)) == 0
    assert len(offset(dets, 0, -30)) == 0


@settings(max_examples=200, deadline=None)
@given(detections(min_items=1), st.integers(-12, 12))
def test_dilate_erode(dets, value):
    out = dilate_erode(dets, value)
    by_label = {d.label: d for d in dets}
    for d in out:
        before = by_label[d.label]
        # the box follows the mask (dynamic denoise and inpaint-size matching read it)
        assert d.box == (before.box if value == 0 else mask_to_box(d.mask))
        assert d.confidence == before.confidence
        assert d.mask.any()
        if value >= 0:
            assert (d.mask | before.mask).sum() == d.mask.sum()  # superset
        else:
            assert (d.mask & before.mask).sum() == d.mask.sum()  # subset
    if value >= 0:
        assert len(out) == len(dets)
    vanished = {d.label for d in dets} - {d.label for d in out}
    for label in vanished:
        assert not dilate_erode_mask(by_label[label].mask, value).any()


def test_erosion_that_removes_every_mask_leaves_nothing():
    size = (16, 16)
    box = (4.0, 4.0, 7.0, 7.0)
    dets = Detections(Image.new("RGB", size), (Detection(box, box_to_mask(box, size), 1, "a"),))
    assert len(dilate_erode(dets, -8)) == 0


def full_frame_dilate_erode(mask: np.ndarray, value: int) -> np.ndarray:
    """The straightforward operation: the whole frame through cv2 with its default border."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (abs(value), abs(value)))
    image = mask.astype(np.uint8)
    changed = cv2.dilate(image, kernel) if value > 0 else cv2.erode(image, kernel)
    return changed.astype(bool)


@st.composite
def masks(draw, max_side: int = 40) -> np.ndarray:
    """Rectangles, often touching or cut off by the image's edges, and scattered pixels."""
    height = draw(st.integers(1, max_side))
    width = draw(st.integers(1, max_side))
    mask = np.zeros((height, width), dtype=bool)
    for _ in range(draw(st.integers(0, 3))):
        x1 = draw(st.integers(-4, width))
        y1 = draw(st.integers(-4, height))
        x2 = draw(st.integers(x1, width + 4))
        y2 = draw(st.integers(y1, height + 4))
        mask[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)] = True
    pixels = st.tuples(st.integers(0, height - 1), st.integers(0, width - 1))
    for y, x in draw(st.lists(pixels, max_size=6)):
        mask[y, x] = True
    return mask


@settings(max_examples=600, deadline=None)
@given(masks(), st.integers(-45, 45).filter(lambda value: value != 0))
def test_dilate_erode_near_the_mask_is_the_full_frame_operation(mask, value):
    """Only a window around the mask is dilated or eroded; the result is the full-frame one to
    the pixel: masks at and over the border, erosion against the border (cv2 counts the outside
    as set there), kernels larger than the image, even and odd sizes."""
    expected = full_frame_dilate_erode(mask, value)
    result = dilate_erode_mask(mask, value)
    assert result.dtype == bool
    assert result.shape == mask.shape
    assert np.array_equal(result, expected)
    height, width = mask.shape
    dets = Detections(Image.new("RGB", (width, height)), (Detection((0, 0, 1, 1), mask, 1, "a"),))
    kept = dilate_erode(dets, value)
    assert len(kept) == (1 if expected.any() else 0)
    if kept:
        assert np.array_equal(kept[0].mask, expected)
        assert kept[0].box == mask_to_box(expected)


def test_dilate_erode_matches_the_full_frame_at_generation_sizes():
    """Face- and person-sized masks at 512x768 and 1024x1536, where cv2 takes its vectorised
    paths, including masks cut off by each edge."""
    rng = np.random.default_rng(5)
    for width, height in ((512, 768), (1024, 1536)):
        for _ in range(12):
            mask = np.zeros((height, width), dtype=bool)
            x1, y1 = rng.integers(-60, width), rng.integers(-60, height)
            x2, y2 = x1 + rng.integers(1, width // 2), y1 + rng.integers(1, height // 2)
            mask[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)] = True
            mask ^= rng.random((height, width)) < 0.001  # specks, some far from the region
            for value in (4, -4, 9, -9, 32, -32):
                assert np.array_equal(
                    dilate_erode_mask(mask, value), full_frame_dilate_erode(mask, value)
                )


@settings(max_examples=300, deadline=None)
@given(masks())
def test_mask_to_box_is_the_extent_of_the_set_pixels(mask):
    rows, cols = np.nonzero(mask)
    expected = None
    if rows.size:
        expected = (
            float(cols.min()),
            float(rows.min()),
            float(cols.max() + 1),
            float(rows.max() + 1),
        )
    assert mask_to_box(mask) == expected


def test_boxes_to_masks_is_box_to_mask_for_each():
    boxes = [(0.0, 0.0, 3.5, 2.0), (2.2, 1.7, 9.0, 6.5), (5.0, 5.0, 5.0, 5.0), (-3, -1, 1.2, 0.4)]
    filled = boxes_to_masks(boxes, (8, 6))
    assert filled.shape == (4, 6, 8)
    assert filled.dtype == bool
    for mask, box in zip(filled, boxes, strict=True):
        assert np.array_equal(mask, box_to_mask(box, (8, 6)))
    assert boxes_to_masks([], (8, 6)).shape == (0, 6, 8)


def test_erosion_keeps_what_touches_the_border():
    """cv2 erodes as if the outside were set: a full mask stays full, as in the original."""
    mask = np.ones((10, 12), dtype=bool)
    assert dilate_erode_mask(mask, -5).all()
    mask[:, 6:] = False
    eroded = dilate_erode_mask(mask, -5)
    assert np.array_equal(eroded, full_frame_dilate_erode(mask, -5))
    assert eroded[:, 0].all()
    assert not eroded[:, 4:].any()


def test_dilate_erode_takes_views_and_other_dtypes():
    base = np.zeros((30, 40), dtype=bool)
    base[5:20, 8:30] = True
    view = base[2:28, 3:37]  # not contiguous
    before = base.copy()
    for strided in (view, base[:, ::2], base[::-1], base.T):
        for value in (3, -3):
            expected = full_frame_dilate_erode(strided, value)
            assert np.array_equal(dilate_erode_mask(strided, value), expected)
    as_uint8 = view.astype(np.uint8) * 255
    assert np.array_equal(dilate_erode_mask(as_uint8, 3), full_frame_dilate_erode(view, 3))
    assert np.array_equal(base, before)  # the input is left alone


def test_empty_mask_stays_empty():
    empty = np.zeros((6, 7), dtype=bool)
    for value in (-3, 3):
        result = dilate_erode_mask(empty, value)
        assert result.shape == (6, 7)
        assert result.dtype == bool
        assert not result.any()


@settings(max_examples=200, deadline=None)
@given(detections(), st.sampled_from(["None", "Merge", "Merge and Invert"]))
def test_merge_invert(dets, mode):
    out = merge_invert(dets, mode)
    if mode == "None" or not dets.items:
        assert out is dets
        return
    union = np.logical_or.reduce([d.mask for d in dets])
    expected = union if mode == "Merge" else ~union
    if not expected.any():
        assert len(out) == 0
        return
    (merged,) = out.items
    assert np.array_equal(merged.mask, expected)
    assert merged.box == mask_to_box(expected)
    assert merged.confidence == max(d.confidence for d in dets)


def test_merge_mode_is_checked():
    with pytest.raises(ValueError, match="'Invert'"):
        merge_invert(Detections(Image.new("RGB", (4, 4)), ()), "Invert")


def test_keep_intersecting_with_a_user_mask_of_another_size_and_mode():
    size = (40, 20)
    left = (0.0, 0.0, 10.0, 10.0)
    right = (30.0, 0.0, 40.0, 10.0)
    dets = Detections(
        Image.new("RGB", size),
        (
            Detection(left, box_to_mask(left, size), 0.5, "l"),
            Detection(right, box_to_mask(right, size), 0.5, "r"),
        ),
    )
    user = Image.new("RGBA", (80, 40), (0, 0, 0, 0))
    user.paste((255, 255, 255, 255), (70, 0, 80, 10))  # over the right face, at twice the size
    kept = keep_intersecting(dets, user)
    assert kept.labels == ["r"]
    gray = Image.new("L", size, 0)
    gray.paste(255, (2, 2, 4, 4))
    assert keep_intersecting(dets, gray).labels == ["l"]
    assert keep_intersecting(dets, np.zeros((20, 40), dtype=bool)).labels == []


def test_dilation_grows_a_face_box_with_its_mask():
    size = (64, 48)
    box = (20.0, 10.0, 30.0, 25.0)
    dets = Detections(Image.new("RGB", size), (Detection(box, box_to_mask(box, size), 1, "a"),))
    (grown,) = dilate_erode(dets, 5)
    assert grown.box == (18.0, 8.0, 32.0, 27.0)
    (shrunk,) = dilate_erode(dets, -5)
    assert shrunk.box == (22.0, 12.0, 28.0, 23.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_mask_reads_floats_from_zero_to_one(dtype):
    array = np.zeros((6, 8), dtype=dtype)
    array[1:3, 2:5] = 1.0
    array[4, 0] = 0.6
    array[5, 0] = 0.4
    mask = binary_mask(array, (8, 6))
    expected = np.zeros((6, 8), dtype=bool)
    expected[1:3, 2:5] = True
    expected[4, 0] = True
    assert np.array_equal(mask, expected)
    assert np.array_equal(binary_mask(array, (16, 12)), expected.repeat(2, 0).repeat(2, 1))


def test_binary_mask_from_rgb_and_opaque_rgba():
    rgb = Image.new("RGB", (4, 4), (255, 255, 255))
    assert binary_mask(rgb, (4, 4)).all()
    opaque = Image.new("RGBA", (4, 4), (0, 0, 0, 255))
    assert not binary_mask(opaque, (4, 4)).any()


@settings(max_examples=150, deadline=None)
@given(
    detections(),
    st.integers(0, 4),
    st.sampled_from(SORT_ORDERS),
    st.integers(-10, 10),
    st.integers(-10, 10),
    st.integers(-6, 6),
)
def test_every_surviving_mask_keeps_its_own_box_and_score(dets, k, order, dx, dy, kernel):
    args = TabArgs(ad_mask_k=k, ad_x_offset=dx, ad_y_offset=dy, ad_dilate_erode=kernel)
    out = preprocess(dets, args, order)
    original = {d.label: d for d in dets}
    for d in out:
        source = original[d.label]
        assert d.confidence == source.confidence
        moved = shift_mask(source.mask, dx, -dy)
        expected_mask = dilate_erode_mask(moved, kernel)
        assert np.array_equal(d.mask, expected_mask)
        if kernel == 0:  # the box moved with the mask (and stays on the image)
            assert d.box[0] == max(0.0, min(source.box[0] + dx, dets.size[0]))
        else:  # then grew or shrank with it
            assert d.box == mask_to_box(expected_mask)


@settings(max_examples=100, deadline=None)
@given(detections(min_items=2))
def test_preprocess_order_filters_before_sorting(dets):
    assume(len({box_area(d.box) for d in dets}) == len(dets))
    args = TabArgs(ad_mask_k=1, ad_dilate_erode=0)
    out = preprocess(dets, args, SORT_LEFT_TO_RIGHT)
    assert len(out) == 1
    assert box_area(out[0].box) == max(box_area(d.box) for d in dets)
