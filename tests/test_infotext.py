from __future__ import annotations

import contextlib
import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from adetailer.__version__ import __version__
from adetailer.args import DEFAULTS, TabArgs
from adetailer.infotext import (
    INFOTEXT_KEYS,
    VERSION_KEY,
    from_infotext_params,
    infotext_suffix,
    normalized,
    tabs_from_infotext,
    to_infotext_params,
)


def as_parsed(params: dict) -> dict[str, str]:
    """Through A1111's infotext line and back, by its quoting and parsing rules (§2.8).

    The web UI tests repeat this through the test double's own `create_infotext` and
    `parse_generation_parameters`.
    """
    parts = ["Steps: 20", "Sampler: Euler a", "Seed: 1"]
    for key, value in params.items():
        text = str(value)
        if any(c in text for c in ",\n:"):
            text = json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}: {text}")
    line = ", ".join(parts)
    parsed = {}
    for key, value in re.findall(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)', line):
        if value[:1] == '"' and value[-1:] == '"':
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        size = re.match(r"^(\d+)x(\d+)$", value)
        if size:
            parsed[f"{key}-1"], parsed[f"{key}-2"] = size.groups()
        else:
            parsed[key] = value
    return parsed


def test_suffixes():
    assert [infotext_suffix(i) for i in range(5)] == ["", " 2nd", " 3rd", " 4th", " 5th"]
    assert infotext_suffix(10) == " 11th"
    assert infotext_suffix(20) == " 21st"


def test_a_default_tab_writes_what_the_original_writes():
    args = TabArgs(ad_model="face_yolov8n.pt")
    assert to_infotext_params([(0, args)]) == {
        "ADetailer model": "face_yolov8n.pt",
        "ADetailer confidence": 0.3,
        "ADetailer dilate erode": 4,
        "ADetailer mask blur": 4,
        "ADetailer denoising strength": 0.4,
        "ADetailer inpaint only masked": True,
        "ADetailer inpaint padding": 32,
        "ADetailer version": __version__,
    }


def test_toggles_and_suffixes():
    first = TabArgs(ad_model="face_yolov8n.pt", ad_inpaint_only_masked=False, ad_steps=12)
    third = TabArgs(
        ad_model="hand_yolov8n.pt",
        ad_prompt="hand",
        ad_use_steps=True,
        ad_steps=12,
        ad_use_sampler=True,
        ad_sampler="Euler a",
        ad_mask_k=2,
        ad_controlnet_model="control_v11p_sd15_inpaint [ebff9138]",
    )
    params = to_infotext_params([(0, first), (1, DEFAULTS), (2, third)])
    assert params["ADetailer inpaint only masked"] is False
    assert "ADetailer inpaint padding" not in params
    assert "ADetailer steps" not in params
    assert "ADetailer model 2nd" not in params
    assert params["ADetailer model 3rd"] == "hand_yolov8n.pt"
    assert params["ADetailer prompt 3rd"] == "hand"
    assert params["ADetailer use separate steps 3rd"] is True
    assert params["ADetailer steps 3rd"] == 12
    assert params["ADetailer sampler 3rd"] == "Euler a"
    assert "ADetailer scheduler 3rd" not in params  # "Use same scheduler"
    assert params["ADetailer mask only top k 3rd"] == 2
    assert params["ADetailer method to decide top k masks 3rd"] == "Area"
    assert params["ADetailer ControlNet model 3rd"] == "control_v11p_sd15_inpaint [ebff9138]"
    assert "ADetailer ControlNet weight 3rd" not in params
    assert list(params)[-1] == VERSION_KEY


def test_nothing_is_written_when_no_tab_runs():
    assert (
        to_infotext_params([(0, DEFAULTS), (1, TabArgs(ad_model="x", ad_tab_enable=False))]) == {}
    )


def test_keys_written_by_older_versions_are_read():
    parsed = {
        "ADetailer model": "face_yolov8n.pt",
        "ADetailer conf": "30",
        "ADetailer dilate/erode": "8",
        "ADetailer mask merge/invert": "Merge",
        "ADetailer inpaint full": "False",
        "ADetailer use inpaint width/height": "True",
        "ADetailer inpaint width": "640",
        "ADetailer inpaint height": "768",
        "ADetailer model 2nd": "hand_yolov8n.pt",
        "ADetailer mask only top k largest 2nd": "1",
        "Steps": "20",
    }
    tabs = tabs_from_infotext(parsed)
    assert set(tabs) == {0, 1}
    assert tabs[0].ad_confidence == 0.3
    assert tabs[0].ad_dilate_erode == 8
    assert tabs[0].ad_mask_merge_invert == "Merge"
    assert tabs[0].ad_inpaint_only_masked is False
    assert tabs[0].ad_use_inpaint_width_height is True
    assert (tabs[0].ad_inpaint_width, tabs[0].ad_inpaint_height) == (640, 768)
    assert tabs[1].ad_model == "hand_yolov8n.pt"
    assert tabs[1].ad_mask_k == 1


def test_current_key_wins_over_old_key():
    raw = from_infotext_params({"ADetailer dilate/erode": "8", "ADetailer dilate erode": "16"})
    assert raw == {0: {"ad_dilate_erode": "16"}}


def test_sizes_split_by_a1111_are_joined_back():
    parsed = {"ADetailer model": "m", "ADetailer prompt-1": "512", "ADetailer prompt-2": "768"}
    assert tabs_from_infotext(parsed)[0].ad_prompt == "512x768"


def test_other_keys_are_ignored():
    assert (
        from_infotext_params({"Steps": "20", "ADetailer version": "24.1.0", "ADetailerX": "1"})
        == {}
    )
    assert from_infotext_params({"ADetailer model 1st": "x", "ADetailer model 0th": "y"}) == {}


names = st.sampled_from(["face_yolov8n.pt", "mediapipe_face_full", "yolov8x-worldv2.pt"])
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
tab_args = st.builds(
    TabArgs,
    ad_model=names,
    ad_model_classes=texts,
    ad_prompt=texts,
    ad_negative_prompt=texts,
    ad_confidence=st.floats(0, 1),
    ad_mask_filter_method=st.sampled_from(["Area", "Confidence"]),
    ad_mask_k=st.integers(0, 10),
    ad_mask_min_ratio=st.floats(0, 1),
    ad_mask_max_ratio=st.floats(0, 1),
    ad_dilate_erode=st.integers(-64, 64),
    ad_x_offset=st.integers(-200, 200),
    ad_y_offset=st.integers(-200, 200),
    ad_mask_merge_invert=st.sampled_from(["None", "Merge", "Merge and Invert"]),
    ad_mask_blur=st.integers(0, 64),
    ad_denoising_strength=st.floats(0, 1),
    ad_inpaint_only_masked=st.booleans(),
    ad_inpaint_only_masked_padding=st.integers(0, 256),
    ad_use_inpaint_width_height=st.booleans(),
    ad_inpaint_width=st.integers(64, 2048),
    ad_inpaint_height=st.integers(64, 2048),
    ad_use_steps=st.booleans(),
    ad_steps=st.integers(1, 150),
    ad_use_cfg_scale=st.booleans(),
    ad_cfg_scale=st.floats(0, 30),
    ad_use_checkpoint=st.booleans(),
    ad_checkpoint=st.none() | texts,
    ad_use_vae=st.booleans(),
    ad_vae=st.none() | texts,
    ad_use_sampler=st.booleans(),
    ad_sampler=st.sampled_from(["DPM++ 2M Karras", "Euler a", "Use same sampler"]),
    ad_scheduler=st.sampled_from(["Use same scheduler", "Karras", "Automatic"]),
    ad_use_noise_multiplier=st.booleans(),
    ad_noise_multiplier=st.floats(0.5, 1.5),
    ad_use_clip_skip=st.booleans(),
    ad_clip_skip=st.integers(1, 12),
    ad_restore_face=st.booleans(),
    ad_controlnet_model=st.sampled_from(["None", "Passthrough", "control_v11p_sd15_inpaint"]),
    ad_controlnet_module=st.sampled_from(["None", "inpaint_global_harmonious"]),
    ad_controlnet_weight=st.floats(0, 1),
    ad_controlnet_guidance_start=st.just(0.0) | st.floats(0, 0.5),
    ad_controlnet_guidance_end=st.just(1.0) | st.floats(0.5, 1),
    ad_tiled_detection=st.booleans(),
    ad_hires_stage=st.sampled_from(["After hires fix", "Before hires fix"]),
    ad_color_match=st.sampled_from(["None", "Border"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | tab_args, min_size=1, max_size=4))
def test_round_trip_through_parsed_values(tabs):
    indexed = [(i, a) for i, a in enumerate(tabs) if a is not None]
    params = to_infotext_params(indexed)
    back = tabs_from_infotext(as_parsed(params))
    assert back == {i: normalized(a) for i, a in indexed}


def test_every_key_is_an_a1111_parsable_key():
    key_pattern = re.compile(r"^\w[\w \-/]+$")
    for _, key in INFOTEXT_KEYS:
        assert key_pattern.match(key)
        assert key_pattern.match(key + " 12th")
