from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adetailer.args import (
    DEFAULTS,
    FIELD_NAMES,
    Choices,
    TabArgs,
    allowed_values,
    ordinal,
    parse_script_args,
    parse_tab,
    tab_json_schema,
)

ORIGINAL_DEFAULTS = {
    "ad_model": "None",
    "ad_model_classes": "",
    "ad_tab_enable": True,
    "ad_prompt": "",
    "ad_negative_prompt": "",
    "ad_confidence": 0.3,
    "ad_mask_filter_method": "Area",
    "ad_mask_k": 0,
    "ad_mask_min_ratio": 0.0,
    "ad_mask_max_ratio": 1.0,
    "ad_dilate_erode": 4,
    "ad_x_offset": 0,
    "ad_y_offset": 0,
    "ad_mask_merge_invert": "None",
    "ad_mask_blur": 4,
    "ad_denoising_strength": 0.4,
    "ad_inpaint_only_masked": True,
    "ad_inpaint_only_masked_padding": 32,
    "ad_use_inpaint_width_height": False,
    "ad_inpaint_width": 512,
    "ad_inpaint_height": 512,
    "ad_use_steps": False,
    "ad_steps": 28,
    "ad_use_cfg_scale": False,
    "ad_cfg_scale": 7.0,
    "ad_use_checkpoint": False,
    "ad_checkpoint": None,
    "ad_use_vae": False,
    "ad_vae": None,
    "ad_use_sampler": False,
    "ad_sampler": "DPM++ 2M Karras",
    "ad_scheduler": "Use same scheduler",
    "ad_use_noise_multiplier": False,
    "ad_noise_multiplier": 1.0,
    "ad_use_clip_skip": False,
    "ad_clip_skip": 1,
    "ad_restore_face": False,
    "ad_controlnet_model": "None",
    "ad_controlnet_module": "None",
    "ad_controlnet_weight": 1.0,
    "ad_controlnet_guidance_start": 0.0,
    "ad_controlnet_guidance_end": 1.0,
}


def test_keys_and_defaults_are_the_originals():
    values = DEFAULTS.dict()
    for key, default in ORIGINAL_DEFAULTS.items():
        assert values[key] == default, key
        assert type(values[key]) is type(default), key
    new_keys = set(values) - set(ORIGINAL_DEFAULTS)
    assert new_keys == {"ad_tiled_detection", "ad_hires_stage", "ad_color_match"}
    assert values["ad_tiled_detection"] is False
    assert values["ad_hires_stage"] == "After hires fix"
    assert values["ad_color_match"] == "None"


def test_ordinal():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "23rd",
        "101st",
        "111th",
    ]


@pytest.mark.parametrize(
    ("old", "value", "key", "expected"),
    [
        ("ad_mask_k_largest", 3, "ad_mask_k", 3),
        ("ad_conf", 30, "ad_confidence", 0.3),
        ("ad_conf", "45", "ad_confidence", 0.45),
        ("ad_conf", 0.25, "ad_confidence", 0.25),
        ("ad_inpaint_full_res", False, "ad_inpaint_only_masked", False),
        ("ad_inpaint_full_res_padding", 64, "ad_inpaint_only_masked_padding", 64),
        ("ad_tap_enable", False, "ad_tab_enable", False),
    ],
)
def test_old_keys_are_aliases(old, value, key, expected):
    result = parse_tab({"ad_model": "face_yolov8n.pt", old: value})
    assert result.error is None
    assert result.warnings == ()
    assert getattr(result.args, key) == expected


def test_the_current_key_wins_over_its_alias():
    result = parse_tab({"ad_mask_k": 2, "ad_mask_k_largest": 5})
    assert result.args.ad_mask_k == 2
    assert len(result.warnings) == 1
    assert "ad_mask_k_largest" in result.warnings[0]


def test_unknown_keys_warn_once_and_the_tab_still_runs():
    result = parse_tab({"ad_model": "face_yolov8n.pt", "ad_bogus": 1, "ad_other": "x"}, index=1)
    assert result.args is not None
    assert result.args.ad_model == "face_yolov8n.pt"
    assert len(result.warnings) == 1
    (warning,) = result.warnings
    assert "\n" not in warning
    assert "2nd tab" in warning
    assert "ad_bogus" in warning
    assert "ad_other" in warning


def test_is_api_is_accepted_silently():
    assert parse_tab({"ad_model": "x", "is_api": True}).warnings == ()


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("ad_confidence", 1.5, "a number from 0 to 1"),
        ("ad_confidence", "high", "a number from 0 to 1"),
        ("ad_confidence", float("nan"), "a number from 0 to 1"),
        ("ad_mask_k", -1, "an integer >= 0"),
        ("ad_mask_k", 2.5, "an integer >= 0"),
        ("ad_steps", 0, "an integer > 0"),
        ("ad_steps", True, "an integer > 0"),
        ("ad_clip_skip", 13, "an integer from 1 to 12"),
        ("ad_noise_multiplier", 0.2, "a number from 0.5 to 1.5"),
        ("ad_mask_merge_invert", "Invert", 'one of "None", "Merge", "Merge and Invert"'),
        ("ad_mask_filter_method", 3, 'one of "Area", "Confidence"'),
        ("ad_tab_enable", "maybe", "true or false"),
        ("ad_tab_enable", 2, "true or false"),
        ("ad_prompt", ["a"], "text"),
        ("ad_prompt", None, "text"),
        ("ad_dilate_erode", {"a": 1}, "an integer"),
        ("ad_hires_stage", "Before", 'one of "After hires fix", "Before hires fix"'),
        ("ad_color_match", "Edge", 'one of "None", "Border"'),
    ],
)
def test_a_bad_value_gives_one_line_naming_tab_key_value_and_allowed(key, value, allowed):
    result = parse_tab({"ad_model": "face_yolov8n.pt", key: value}, index=2)
    assert result.args is None
    error = result.error
    assert "\n" not in error
    assert error.startswith("ADetailer 3rd tab: ")
    assert f"{key}=" in error
    assert allowed in error
    shown = json.dumps(value) if not (isinstance(value, float) and math.isnan(value)) else "NaN"
    assert shown in error


@pytest.mark.parametrize(
    ("key", "given", "expected"),
    [
        ("ad_confidence", "0.5", 0.5),
        ("ad_confidence", 1, 1.0),
        ("ad_mask_k", 3.0, 3),
        ("ad_mask_k", "3", 3),
        ("ad_tab_enable", "False", False),
        ("ad_tab_enable", "true", True),
        ("ad_tab_enable", 0, False),
        ("ad_mask_merge_invert", "merge and invert", "Merge and Invert"),
        ("ad_checkpoint", None, None),
        ("ad_hires_stage", "before hires fix", "Before hires fix"),
        ("ad_color_match", "border", "Border"),
    ],
)
def test_what_clients_and_infotexts_send_is_understood(key, given, expected):
    result = parse_tab({key: given})
    assert result.error is None
    value = getattr(result.args, key)
    assert value == expected
    assert type(value) is type(expected)


def test_names_are_checked_when_the_host_knows_them():
    choices = Choices(models=["face_yolov8n.pt"], samplers=["Euler"], checkpoints=["a.ckpt"])
    assert parse_tab({"ad_model": "face_yolov8n.pt"}, 0, choices).error is None
    error = parse_tab({"ad_model": "nope.pt"}, 0, choices).error
    assert 'ad_model="nope.pt"' in error
    assert '"face_yolov8n.pt"' in error
    # a sampler only matters when the tab uses its own sampler
    assert parse_tab({"ad_sampler": "Bogus"}, 0, choices).error is None
    error = parse_tab({"ad_use_sampler": True, "ad_sampler": "Bogus"}, 0, choices).error
    assert "ad_sampler" in error
    ok = parse_tab({"ad_use_sampler": True, "ad_sampler": "Use same sampler"}, 0, choices)
    assert ok.error is None
    assert parse_tab({"ad_use_checkpoint": True, "ad_checkpoint": "b"}, 0, choices).error


def test_controlnet_names_are_checked_when_controlnet_is_installed():
    choices = Choices(
        controlnet_models=["cn_tile [abc]"], controlnet_modules=["None", "tile_resample"]
    )
    ok = {"ad_controlnet_model": "cn_tile [abc]", "ad_controlnet_module": "tile_resample"}
    assert parse_tab(ok, 0, choices).error is None
    assert "ad_controlnet_model" in parse_tab({"ad_controlnet_model": "x"}, 0, choices).error
    bad_module = {**ok, "ad_controlnet_module": "nope"}
    assert 'ad_controlnet_module="nope"' in parse_tab(bad_module, 0, choices).error
    # a module only matters with a ControlNet model
    assert parse_tab({"ad_controlnet_module": "nope"}, 0, choices).error is None
    passthrough = {"ad_controlnet_model": "Passthrough", "ad_controlnet_module": "nope"}
    assert parse_tab(passthrough, 0, choices).error is None


def test_guidance_start_after_end_is_refused():
    result = parse_tab({"ad_controlnet_guidance_start": 0.9, "ad_controlnet_guidance_end": 0.1})
    assert "ad_controlnet_guidance_start" in result.error


def test_a_tab_that_is_not_a_dict():
    result = parse_tab("ad_model=face", index=0)
    assert result.args is None
    assert "expected an object" in result.error


def test_script_args_with_and_without_leading_booleans():
    tab = {"ad_model": "face_yolov8n.pt"}
    full = parse_script_args([True, True, tab, {"ad_model": "None"}])
    assert (full.enabled, full.skip_img2img) == (True, True)
    assert [i for i, _ in full.active_tabs] == [0]
    assert len(full.valid_tabs) == 2

    only_enable = parse_script_args([False, tab])
    assert (only_enable.enabled, only_enable.skip_img2img) == (False, False)
    assert not only_enable.will_run

    only_tabs = parse_script_args([tab, tab])
    assert only_tabs.enabled
    assert [i for i, _ in only_tabs.active_tabs] == [0, 1]


def test_one_bad_tab_does_not_stop_the_others():
    parsed = parse_script_args(
        [True, False, {"ad_model": "a.pt", "ad_confidence": 7}, {"ad_model": "b.pt"}]
    )
    assert parsed.will_run
    assert [(i, a.ad_model) for i, a in parsed.active_tabs] == [(1, "b.pt")]
    assert len(parsed.errors) == 1
    assert parsed.errors[0].startswith("ADetailer 1st tab: ad_confidence=7")


def test_enabled_without_tabs_is_reported():
    assert parse_script_args([True]).errors
    assert parse_script_args([False]).errors == []
    assert parse_script_args([]).errors


def test_json_schema():
    schema = tab_json_schema()
    assert schema["type"] == "object"
    assert set(schema["properties"]) == set(FIELD_NAMES)
    confidence = schema["properties"]["ad_confidence"]
    assert (confidence["minimum"], confidence["maximum"], confidence["default"]) == (0, 1, 0.3)
    assert schema["properties"]["ad_mask_merge_invert"]["enum"] == [
        "None",
        "Merge",
        "Merge and Invert",
    ]
    json.dumps(schema)


def test_allowed_values_cover_every_key():
    for key in FIELD_NAMES:
        assert allowed_values(key)


def test_replace_validates():
    assert DEFAULTS.replace(ad_prompt="x").ad_prompt == "x"
    with pytest.raises(ValueError, match="ad_confidence"):
        DEFAULTS.replace(ad_confidence=3)


def test_args_are_immutable():
    with pytest.raises(TypeError):
        DEFAULTS.ad_model = "x"


# --- property tests: whatever an API client sends, a tab or one error line comes back ---------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
some_keys = st.sampled_from([*FIELD_NAMES, "ad_conf", "ad_mask_k_largest", "junk", "is_api"])


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(some_keys | st.text(max_size=8), json_values, max_size=8), st.integers(0, 20)
)
def test_any_dict_gives_a_tab_or_one_error_line(raw, index):
    result = parse_tab(raw, index)
    assert (result.args is None) != (result.error is None)
    if result.error is not None:
        assert "\n" not in result.error
        assert result.error.startswith(f"ADetailer {ordinal(index + 1)} tab: ")
    for warning in result.warnings:
        assert "\n" not in warning


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans() | json_values | st.dictionaries(some_keys, json_values), max_size=6))
def test_any_argument_list_parses(args):
    parsed = parse_script_args(args)
    assert isinstance(parsed.enabled, bool)
    assert isinstance(parsed.skip_img2img, bool)
    assert all(isinstance(a, TabArgs) for _, a in parsed.valid_tabs)
    assert [t.index for t in parsed.tabs] == list(range(len(parsed.tabs)))


@pytest.mark.parametrize(
    ("key", "box", "token"),
    [
        ("ad_prompt", "smile [SEP:abc] frown", "[SEP:abc]"),
        ("ad_prompt", "smile [SEED:5]", "[SEED:5]"),
        ("ad_negative_prompt", "[SEP:-3] ugly", "[SEP:-3]"),
    ],
)
def test_a_malformed_seed_token_skips_the_tab_with_one_line_naming_it(key, box, token):
    result = parse_tab({"ad_model": "face_yolov8n.pt", key: box}, index=1)
    assert result.args is None
    assert "\n" not in result.error
    assert result.error.startswith(f"ADetailer 2nd tab: {key}: {token} ")


def test_seed_tokens_in_the_negative_prompt_are_only_separators():
    result = parse_tab({"ad_model": "x", "ad_negative_prompt": "bad [SEP:12] worse"})
    assert result.args is not None
    assert result.warnings == (
        "ADetailer 1st tab: the seeds in ad_negative_prompt are not used; each detection takes"
        " its seed from ad_prompt",
    )
    assert parse_tab({"ad_model": "x", "ad_prompt": "[SEED:R] a [SEP:9] b"}).warnings == ()
