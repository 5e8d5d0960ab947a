"""Bad input never costs a user an image: fuzzed API arguments, and interrupts at every step."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adetailer.args import FIELD_NAMES
from tests.extension.conftest import ad_changes
from tests.extension.test_generation import calls_so_far, inner_calls, txt2img

FACE_TAB = {"ad_model": "mediapipe_face_full"}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.integers(10_000, 100_000).map(lambda n: "x" * n),  # huge strings
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
keys = st.sampled_from([*FIELD_NAMES, "ad_conf", "ad_mask_k_largest", "is_api", "zz"]) | st.text(
    max_size=10
)
# valid-looking values make tabs that pass validation and reach detection too
plausible = st.fixed_dictionaries(
    {"ad_model": st.sampled_from(["mediapipe_face_full", "None", "face_yolov8n.pt", "../x.pt"])},
    optional={
        "ad_confidence": st.floats(-1, 2),
        "ad_mask_k": st.integers(-2, 3),
        "ad_dilate_erode": st.integers(-300, 300),
        "ad_x_offset": st.integers(-2000, 2000),
        "ad_y_offset": st.integers(-2000, 2000),
        "ad_mask_merge_invert": st.sampled_from(["None", "Merge", "Merge and Invert", "x"]),
        "ad_prompt": st.sampled_from(["", "[SKIP]", "a [SEP] [SKIP]", "[PROMPT], x"]),
        "ad_inpaint_only_masked": st.booleans(),
        "ad_tab_enable": json_values,
    },
)
tab = st.dictionaries(keys, json_values, max_size=8) | plausible
api_args = st.lists(st.booleans() | json_values | tab, max_size=6)


def hook_p(webui) -> Any:
    """A txt2img p as A1111 has it when it calls `process` (prompts and seeds set up)."""
    from modules import processing, scripts

    p = processing.StableDiffusionProcessingTxt2Img(
        prompt="a", width=64, height=64, do_not_save_samples=True, do_not_save_grid=True
    )
    p.scripts = scripts.scripts_txt2img
    p.is_api = True
    p.setup_prompts()
    p.all_seeds, p.all_subseeds = [1], [2]
    p.seeds, p.subseeds, p.prompts, p.negative_prompts = [1], [2], ["a"], [""]
    return p


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(args=api_args)
def test_process_hook_never_raises_and_reports_in_one_line(webui, args):
    from modules import errors

    script = webui.find_script(webui.runner("txt2img"), "ADetailer")
    p = hook_p(webui)
    reports = len(errors.reports)
    script.process(p, *args)  # would raise out of the hook on a bug
    assert len(errors.reports) == reports  # nothing went wrong inside either
    warnings = p.extra_generation_params.get("ADetailer warnings")
    if warnings is not None:
        assert "\n" not in warnings
    run = p._ad_run
    if run is not None:
        assert run.tabs


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(args=st.lists(st.booleans() | tab, min_size=1, max_size=4))
def test_whole_generations_with_fuzzed_arguments_always_return_the_image(
    webui, generates_faces, args
):
    from modules import errors

    reports = len(errors.reports)
    processed = webui.txt2img_api(
        {
            "prompt": "a",
            "width": 768,
            "height": 512,
            "alwayson_scripts": {"ADetailer": {"args": args}},
        }
    )
    assert len(processed.images) == 1
    assert processed.images[0].size == (768, 512)
    assert errors.reports[reports:] == []  # bad tabs are skipped with a line, nothing fails


@pytest.mark.slow
@settings(
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(args=api_args)
def test_process_hook_long_run(webui, args):
    test_process_hook_never_raises_and_reports_in_one_line.hypothesis.inner_test(webui, args)


# --- interrupts ------------------------------------------------------------------------------

TWO_TABS = [
    # tab 1 redraws below the faces so that tab 2 still finds them (the fake's redraw garbles)
    {"ad_model": "mediapipe_face_full", "ad_y_offset": -250},
    {"ad_model": "mediapipe_face_short"},
]


def test_interrupt_at_every_step_returns_the_last_completed_state(
    webui, generates_faces, monkeypatch
):
    from modules import sd_samplers_fake

    from adetailer_webui import detail

    # one uninterrupted run, keeping the image after every detail pass
    states = []
    original = detail.run_inner_pass

    def keep(*args, **kwargs):
        result = original(*args, **kwargs)
        if result is not None:
            states.append(result.copy())
        return result

    monkeypatch.setattr(detail, "run_inner_pass", keep)
    start = calls_so_far()
    main_image = txt2img(webui).images[0]
    full = txt2img(webui, script_values={"ADetailer": [True, False, *TWO_TABS]}).images[0]
    assert len(inner_calls(start)) == 4  # 2 faces x 2 tabs
    assert len(states) == 4
    assert not np.array_equal(np.asarray(states[-1]), np.asarray(main_image))
    assert np.array_equal(np.asarray(states[-1]), np.asarray(full))
    monkeypatch.setattr(detail, "run_inner_pass", original)

    # interrupting the k-th detail pass leaves the image after pass k - 1
    for k in range(1, 5):
        start = calls_so_far()
        sd_samplers_fake.interrupt_calls.add(start + k)
        image = txt2img(webui, script_values={"ADetailer": [True, False, *TWO_TABS]}).images[0]
        sd_samplers_fake.interrupt_calls.clear()
        expected = main_image if k == 1 else states[k - 2]
        assert not ad_changes(expected, image).any(), k
        assert len(inner_calls(start)) == k  # nothing after the interrupted pass


def test_interrupt_during_detection_and_of_the_main_pass(webui, generates_faces, monkeypatch):
    from modules import sd_samplers_fake, shared

    from adetailer_webui import detail

    main_image = txt2img(webui).images[0]
    detect = detail.detect_and_mask

    def interrupted(*args, **kwargs):
        result = detect(*args, **kwargs)
        shared.state.interrupt()
        return result

    monkeypatch.setattr(detail, "detect_and_mask", interrupted)
    start = calls_so_far()
    image = txt2img(webui, script_values={"ADetailer": [True, False, *TWO_TABS]}).images[0]
    assert inner_calls(start) == []  # no detail pass after the interrupt
    assert not ad_changes(main_image, image).any()
    monkeypatch.setattr(detail, "detect_and_mask", detect)

    start = calls_so_far()
    sd_samplers_fake.interrupt_calls.add(start)  # the main txt2img pass
    processed = txt2img(webui, script_values={"ADetailer": [True, False, *TWO_TABS]})
    assert inner_calls(start) == []
    assert len(processed.images) == 1
