from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from adetailer.args import TabArgs
from adetailer.boxes import box_area, box_to_mask, mask_to_box
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
        assert d.box == before.box
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
        # the box moved with the mask (and stays on the image)
        assert d.box[0] == max(0.0, min(source.box[0] + dx, dets.size[0]))


@settings(max_examples=100, deadline=None)
@given(detections(min_items=2))
def test_preprocess_order_filters_before_sorting(dets):
    assume(len({box_area(d.box) for d in dets}) == len(dets))
    args = TabArgs(ad_mask_k=1, ad_dilate_erode=0)
    out = preprocess(dets, args, SORT_LEFT_TO_RIGHT)
    assert len(out) == 1
    assert box_area(out[0].box) == max(box_area(d.box) for d in dets)
