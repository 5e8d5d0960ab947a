from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from adetailer.args import TabArgs
from adetailer.boxes import box_to_mask
from adetailer.detections import Detection, Detections
from adetailer.inpaint import (
    MATCH_FREE,
    MATCH_OFF,
    MATCH_STRICT,
    SDXL_RESOLUTIONS,
    JobSettings,
    dynamic_denoise,
    inpaint_size,
    plan_jobs,
)


def test_dynamic_denoise():
    box = (0.0, 0.0, 50.0, 50.0)  # a quarter of a 100x100 image
    assert dynamic_denoise(0.4, box, (100, 100), 0) == 0.4
    assert dynamic_denoise(0.4, box, (100, 100), 1) == pytest.approx(0.4 * 0.75)
    assert dynamic_denoise(0.4, box, (100, 100), 2) == pytest.approx(0.4 * 0.75**2)
    assert dynamic_denoise(0.4, (0.0, 0.0, 100.0, 100.0), (100, 100), 1) == 0
    assert dynamic_denoise(0.4, box, (100, 100), -1) == pytest.approx(0.4 / 0.75)
    assert dynamic_denoise(0.9, box, (100, 100), -10) == 1.0
    assert dynamic_denoise(0.4, (0.0, 0.0, 100.0, 100.0), (100, 100), -1) == 0.4


@given(st.floats(0, 1), st.floats(0, 200), st.floats(0, 200), st.floats(-10, 10))
def test_dynamic_denoise_stays_a_strength(strength, box_w, box_h, power):
    value = dynamic_denoise(strength, (0.0, 0.0, box_w, box_h), (100, 100), power)
    assert 0.0 <= value <= 1.0


@given(
    st.integers(64, 2048),
    st.integers(64, 2048),
    st.floats(1, 1000),
    st.floats(1, 1000),
)
def test_free_size_keeps_the_larger_side_and_the_box_aspect(width, height, box_w, box_h):
    w, h = inpaint_size(width, height, (0.0, 0.0, box_w, box_h), MATCH_FREE)
    side = -(-max(width, height) // 8) * 8
    assert w % 8 == 0
    assert h % 8 == 0
    if box_w > box_h:
        assert w == side
        assert abs(side / box_w * box_h - h) < 8
    else:
        assert h == side
        assert abs(side / box_h * box_w - w) < 8


def test_strict_size_is_an_sdxl_resolution_only_for_sdxl():
    box = (0.0, 0.0, 300.0, 150.0)
    size = inpaint_size(1024, 1024, box, MATCH_STRICT, is_sdxl=True)
    assert size in SDXL_RESOLUTIONS
    assert size == (1344, 768)
    assert inpaint_size(1024, 1024, box, MATCH_STRICT, is_sdxl=False) == (1024, 1024)
    assert inpaint_size(512, 768, box, MATCH_OFF) == (512, 768)
    with pytest.raises(ValueError, match="'Loose'"):
        inpaint_size(512, 512, box, "Loose")


def make_detections(count: int) -> Detections:
    size = (100, 100)
    items = []
    for n in range(count):
        box = (10.0 * n, 0.0, 10.0 * n + 10, 10.0)
        items.append(Detection(box, box_to_mask(box, size), 0.5, "face"))
    return Detections(Image.new("RGB", size), tuple(items))


def test_jobs_take_prompt_segments_seeds_and_skip():
    args = TabArgs(ad_model="x", ad_prompt="first [SEP] [SKIP] [SEP] [PROMPT] more")
    settings = JobSettings(
        prompt="main", negative_prompt="bad", seed=100, subseed=7, width=512, height=512
    )
    jobs = plan_jobs(make_detections(4), args, settings)
    assert [j.index for j in jobs] == [0, 2, 3]
    assert [j.prompt for j in jobs] == ["first", "main more", "main more"]
    assert [j.negative_prompt for j in jobs] == ["bad"] * 3
    assert [j.seed for j in jobs] == [100, 102, 103]
    assert [j.subseed for j in jobs] == [7, 9, 10]
    same = plan_jobs(
        make_detections(2), TabArgs(), JobSettings("m", "", 5, 6, 512, 512, same_seed=True)
    )
    assert [j.seed for j in same] == [5, 5]


def test_jobs_size_and_strength():
    dets = make_detections(1)
    fixed = TabArgs(ad_use_inpaint_width_height=True, ad_inpaint_width=640, ad_inpaint_height=384)
    settings = JobSettings("p", "n", 1, 1, 512, 768, match_mode=MATCH_FREE, denoise_power=1)
    (job,) = plan_jobs(dets, fixed, settings)
    assert (job.width, job.height) == (640, 384)  # the user's size is never changed
    assert job.denoising_strength == pytest.approx(0.4 * (1 - 100 / 10000))
    (free,) = plan_jobs(dets, TabArgs(), settings)
    assert (free.width, free.height) == (768, 768)
    record = free.record()
    assert record["box"] == [0.0, 0.0, 10.0, 10.0]
    assert record["seed"] == 1
    assert record["prompt"] == "p"
    assert free.mask.mode == "L"
    assert free.mask.getextrema() == (0, 255)


def test_seed_tokens_choose_the_seed_of_their_own_detection():
    args = TabArgs(
        ad_model="x",
        ad_prompt="[SEED:1234] calm [SEP:R] smile [SEP] frown [SEP:7] wink",
        ad_negative_prompt="bad [SEP] worse",
    )
    draws = iter([555, 666])
    settings = JobSettings("main", "", 100, 40, 512, 512, random_seed=lambda: next(draws))
    jobs = plan_jobs(make_detections(6), args, settings)
    assert [j.prompt for j in jobs] == ["calm", "smile", "frown", "wink", "wink", "wink"]
    # a token fixes its own detection only; the ones past the last segment keep the usual rule
    assert [j.seed for j in jobs] == [1234, 555, 102, 7, 104, 105]
    assert [j.subseed for j in jobs] == [40, 41, 42, 43, 44, 45]
    assert [j.negative_prompt for j in jobs] == ["bad", "worse", "worse", "worse", "worse", "worse"]
    assert [j.record()["seed"] for j in jobs] == [1234, 555, 102, 7, 104, 105]
    # "same seed" applies to the detections without a token
    same = plan_jobs(make_detections(3), args, JobSettings("m", "", 5, 6, 512, 512, same_seed=True))
    assert [j.seed for j in same[::2]] == [1234, 5]


def test_a_random_seed_is_drawn_per_detection_and_only_for_random_tokens():
    args = TabArgs(ad_model="x", ad_prompt="[SEED:R] a [SEP:R] b [SEP] c")
    jobs = plan_jobs(make_detections(3), args, JobSettings("m", "", 5, 6, 512, 512))
    assert all(0 <= j.seed < 2**32 for j in jobs)
    assert jobs[2].seed == 7
    skipped = TabArgs(ad_model="x", ad_prompt="[SEED:R] [SKIP] [SEP:3] b")
    calls = []
    jobs = plan_jobs(
        make_detections(2),
        skipped,
        JobSettings("m", "", 5, 6, 512, 512, random_seed=lambda: calls.append(1) or 9),
    )
    assert [j.seed for j in jobs] == [3]
    assert calls == []  # a skipped detection draws nothing


@st.composite
def _regions(draw):
    count = draw(st.integers(1, 8))
    regions = []
    for _ in range(count):
        x1, y1 = draw(st.integers(0, 30)), draw(st.integers(0, 30))
        regions.append((x1, y1, x1 + draw(st.integers(1, 12)), y1 + draw(st.integers(1, 12))))
    keys = draw(st.lists(st.sampled_from("ab"), min_size=count, max_size=count))
    return regions, keys


def _draw_region(canvas, region, index):
    """A stand-in redraw that depends on what it reads: the region's sum plus the job's number."""
    x1, y1, x2, y2 = region
    canvas[y1:y2, x1:x2] = (int(canvas[y1:y2, x1:x2].sum()) * 7 + index + 1) % 1000


@given(_regions(), st.integers(1, 4))
def test_batches_draw_what_one_by_one_draws(regions_keys, limit):
    from adetailer.inpaint import boxes_overlap, plan_batches

    regions, keys = regions_keys
    jobs = list(range(len(regions)))  # plan_batches only counts them
    batches = plan_batches(jobs, regions, keys, limit)
    assert [p for batch in batches for p in batch] == jobs
    for batch in batches:
        assert len(batch) <= limit
        assert len({keys[p] for p in batch}) == 1
        assert not any(boxes_overlap(regions[a], regions[b]) for a in batch for b in batch if a < b)

    rng = np.random.default_rng(0)
    start = rng.integers(0, 9, (48, 48))
    one_by_one = start.copy()
    for index, region in enumerate(regions):
        _draw_region(one_by_one, region, index)
    batched = start.copy()
    for batch in batches:
        source = batched.copy()  # every job of a batch reads the image from before the batch
        for p in batch:
            drawn = source.copy()
            _draw_region(drawn, regions[p], p)
            x1, y1, x2, y2 = regions[p]
            batched[y1:y2, x1:x2] = drawn[y1:y2, x1:x2]
    assert (batched == one_by_one).all()
