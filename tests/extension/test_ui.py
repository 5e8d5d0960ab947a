from __future__ import annotations

from typing import Any

import gradio as gr
import pytest

from adetailer.args import DEFAULTS, FIELD_NAMES, TabArgs, parse_tab
from adetailer.infotext import normalized
from adetailer_webui import ui
from adetailer_webui.arguments import UI_START_KEY, is_ui_start
from tests.extension.test_generation import calls_so_far, inner_calls, txt2img

FACE_TAB = {"ad_model": "mediapipe_face_full"}


def adetailer(webui, tab: str = "txt2img") -> Any:
    return webui.find_script(webui.runner(tab), "ADetailer")


def components(webui, tab: str = "txt2img") -> dict[str, Any]:
    """Every component with an element id, by id, from the built tab."""
    found: dict[str, Any] = {}
    for block in webui.tabs[tab].blocks.blocks.values():
        elem_id = getattr(block, "elem_id", None)
        if elem_id:
            found[elem_id] = block
    return found


def test_controls_and_element_ids(webui):
    script = adetailer(webui)
    assert script.title() == "ADetailer"
    controls = webui.runner("txt2img").inputs[script.args_from : script.args_to]
    assert len(controls) == 2 + 4  # enable, skip, 4 tabs (the default of "Max tabs")
    assert [type(c).__name__ for c in controls[2:]] == ["State"] * 4
    ids = components(webui)
    for elem_id in (
        "script_txt2img_adetailer_ad_main_accordion",
        "script_txt2img_adetailer_ad_skip_img2img",
        "script_txt2img_adetailer_ad_model",
        "script_txt2img_adetailer_ad_model_2nd",
        "script_txt2img_adetailer_ad_prompt_4th",
        "script_txt2img_adetailer_ad_controlnet_guidance_end_3rd",
        "script_txt2img_adetailer_ad_tiled_detection",
        "script_txt2img_adetailer_ad_hires_stage_2nd",
        "script_txt2img_adetailer_ad_color_match",
    ):
        assert elem_id in ids, elem_id
    assert "script_txt2img_adetailer_ad_model_5th" not in ids
    assert ids["script_txt2img_adetailer_ad_skip_img2img"].visible is False
    assert components(webui, "img2img")["script_img2img_adetailer_ad_skip_img2img"].visible is True
    assert ids["script_txt2img_adetailer_ad_hires_stage"].visible is True
    assert components(webui, "img2img")["script_img2img_adetailer_ad_hires_stage"].visible is False
    for n, suffix in enumerate(["", "_2nd", "_3rd", "_4th"]):
        models = ui._dropdown_choices(ids[f"script_txt2img_adetailer_ad_model{suffix}"])
        assert "mediapipe_face_full" in models
        assert ("None" in models[:1]) == (n > 0)  # tab 1 starts with a model, the others with None


def test_the_number_of_tabs_is_a_setting(tmp_path):
    from tests.extension.conftest import launch

    with launch(tmp_path, config={"ad_max_models": 2}) as webui:
        script = adetailer(webui)
        assert script.args_to - script.args_from == 4


def test_starting_values_are_the_argument_defaults(webui):
    script = adetailer(webui)
    defaults = webui.api_default_args["txt2img"][script.args_from : script.args_to]
    assert defaults[:2] == [False, False]
    for index, state in enumerate(defaults[2:]):
        assert is_ui_start(state)
        args = parse_tab(state).args
        expected = DEFAULTS.dict() | {"ad_model": args.ad_model, "ad_sampler": args.ad_sampler}
        assert args.dict() == expected
        assert (args.ad_model == "None") == (index > 0)


def test_ui_can_be_built_again_with_the_same_layout(webui):
    script = adetailer(webui)
    with gr.Blocks():
        first = script.ui(False)
    with gr.Blocks():
        second = script.ui(False)
    assert [type(c) for c in first] == [type(c) for c in second]
    assert [c.value for c in first[:2]] == [c.value for c in second[:2]]


def test_settings_section(webui):
    from modules import shared

    for key in (
        "ad_max_models",
        "ad_extra_models_dir",
        "ad_save_images_dir",
        "ad_save_previews",
        "ad_save_images_before",
        "ad_only_selected_scripts",
        "ad_script_names",
        "ad_bbox_sortby",
        "ad_same_seed_for_each_tab",
        "ad_dynamic_denoise_power",
        "ad_match_inpaint_bbox_size",
        "ad_write_detections",
    ):
        info = shared.opts.data_labels[key]
        assert info.section == ("ADetailer", "ADetailer"), key
    assert (
        "same seed for every detection"
        in shared.opts.data_labels["ad_same_seed_for_each_tab"].label
    )
    assert "seed + k" in shared.opts.data_labels["ad_same_seed_for_each_tab"].comment_after


# --- infotext paste --------------------------------------------------------------------------


def pasted_tabs(webui, infotext: str, tab: str = "txt2img") -> tuple[dict[str, Any], list[dict]]:
    """What a paste sets, and each tab dict the Generate click then collects."""
    values = webui.paste_infotext(infotext, tab)
    by_id = {getattr(c, "elem_id", None): v for c, v in values.items()}
    ids = components(webui, tab)
    tabs = []
    for suffix in ["", "_2nd", "_3rd", "_4th"]:
        widget_values = []
        for key in FIELD_NAMES:
            elem_id = f"script_{tab}_adetailer_{key}{suffix}"
            widget_values.append(by_id.get(elem_id, ids[elem_id].value))
        tabs.append(ui._on_generate(*widget_values))
    return by_id, tabs


def test_paste_back_restores_every_tab_and_turns_the_section_on(webui, generates_faces):
    first = {
        "ad_model": "mediapipe_face_full",
        "ad_prompt": "smile, detailed: eyes",
        "ad_confidence": 0.45,
        "ad_mask_k": 1,
        "ad_use_steps": True,
        "ad_steps": 12,
        "ad_inpaint_only_masked": False,
    }
    third = {"ad_model": "mediapipe_face_short", "ad_use_sampler": True, "ad_sampler": "Euler a"}
    processed = txt2img(
        webui, script_values={"ADetailer": [True, False, first, {"ad_model": "None"}, third]}
    )
    by_id, tabs = pasted_tabs(webui, processed.infotexts[0])
    assert by_id["script_txt2img_adetailer_ad_main_accordion-checkbox"] is True
    assert by_id["script_txt2img_adetailer_ad_tab_enable_2nd"] is False
    assert by_id["script_txt2img_adetailer_ad_tab_enable_4th"] is False
    assert TabArgs(**tabs[0]) == normalized(TabArgs(**first))
    assert TabArgs(**tabs[2]) == normalized(TabArgs(**third))
    assert not TabArgs(**tabs[1]).ad_tab_enable

    # the pasted settings reproduce the detail passes
    start = calls_so_far()
    txt2img(webui, script_values={"ADetailer": [True, False, *tabs]})
    pasted_calls = inner_calls(start)
    start = calls_so_far()
    txt2img(webui, script_values={"ADetailer": [True, False, first, {"ad_model": "None"}, third]})
    original_calls = inner_calls(start)
    assert [(c.prompts, c.seeds, c.steps, c.sampler_name, c.mask_bbox) for c in pasted_calls] == [
        (c.prompts, c.seeds, c.steps, c.sampler_name, c.mask_bbox) for c in original_calls
    ]


def test_seed_tokens_choose_each_detections_seed_and_paste_back(webui, generates_faces):
    import json

    from modules import infotext_utils

    tab = {**FACE_TAB, "ad_prompt": "[SEED:777] calm face [SEP:R] smiling face"}
    start = calls_so_far()
    processed = txt2img(webui, seed=10, script_values={"ADetailer": [True, False, tab]})
    inner = inner_calls(start)
    assert [c.prompts for c in inner] == [["calm face"], ["smiling face"]]
    assert inner[0].seeds == [777]
    drawn = inner[1].seeds[0]
    assert 0 <= drawn < 2**32
    assert drawn != 11  # not the usual image seed + 1 (1 chance in 4 billion)
    params = infotext_utils.parse_generation_parameters(processed.infotexts[0])
    assert params["ADetailer prompt"] == tab["ad_prompt"]
    records = json.loads(params["ADetailer detections"])
    assert [r["seed"] for r in records] == [777, drawn]  # the random one can be reproduced

    by_id, tabs = pasted_tabs(webui, processed.infotexts[0])
    assert by_id["script_txt2img_adetailer_ad_prompt"] == tab["ad_prompt"]
    assert tabs[0]["ad_prompt"] == tab["ad_prompt"]
    # pinning the drawn seed reproduces that detection
    pinned = {**FACE_TAB, "ad_prompt": f"[SEED:777] calm face [SEP:{drawn}] smiling face"}
    start = calls_so_far()
    again = txt2img(webui, seed=10, script_values={"ADetailer": [True, False, pinned]})
    assert [c.seeds for c in inner_calls(start)] == [[777], [drawn]]
    assert again.images[0].tobytes() == processed.images[0].tobytes()


def test_a_malformed_seed_token_skips_only_its_tab(webui, generates_faces, capsys):
    bad = {**FACE_TAB, "ad_prompt": "face [SEP:abc] other"}
    good = {"ad_model": "mediapipe_face_short"}
    start = calls_so_far()
    processed = txt2img(webui, script_values={"ADetailer": [True, False, bad, good]})
    assert len(inner_calls(start)) == 2  # the 2nd tab's two faces
    line = "ADetailer 1st tab: ad_prompt: [SEP:abc] is not a seed token"
    assert line in capsys.readouterr().err
    assert line in processed.infotexts[0]


def test_paste_resets_values_the_infotext_leaves_at_their_default(webui):
    infotext = "a cat\nSteps: 20, Sampler: Euler, Seed: 1, ADetailer model: mediapipe_face_full, ADetailer version: 24.1.0"
    ids = components(webui)
    prompt_box = ids["script_txt2img_adetailer_ad_prompt"]
    by_id, tabs = pasted_tabs(webui, infotext)
    assert by_id[prompt_box.elem_id] == ""
    assert by_id["script_txt2img_adetailer_ad_confidence"] == 0.3
    assert tabs[0]["ad_model"] == "mediapipe_face_full"


def test_paste_of_an_infotext_written_by_an_older_version(webui):
    infotext = (
        "a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 512x512, "
        "ADetailer model: face_yolov8n.pt, ADetailer conf: 30, ADetailer dilate/erode: 8, "
        "ADetailer mask merge/invert: Merge, ADetailer inpaint full: False, "
        "ADetailer use inpaint width/height: True, ADetailer inpaint width: 640, "
        "ADetailer inpaint height: 768, ADetailer model 2nd: hand_yolov8n.pt, "
        "ADetailer mask only top k largest 2nd: 2, ADetailer version: 23.6.0"
    )
    by_id, tabs = pasted_tabs(webui, infotext)
    assert by_id["script_txt2img_adetailer_ad_main_accordion-checkbox"] is True
    first, second = TabArgs(**tabs[0]), TabArgs(**tabs[1])
    assert first.ad_model == "face_yolov8n.pt"
    assert first.ad_confidence == pytest.approx(0.3)
    assert first.ad_dilate_erode == 8
    assert first.ad_mask_merge_invert == "Merge"
    assert first.ad_inpaint_only_masked is False
    assert (first.ad_use_inpaint_width_height, first.ad_inpaint_width, first.ad_inpaint_height) == (
        True,
        640,
        768,
    )
    assert second.ad_model == "hand_yolov8n.pt"
    assert second.ad_mask_k == 2


def test_paste_without_adetailer_values_changes_nothing(webui):
    by_id, _ = pasted_tabs(webui, "a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 512x512")
    assert not any(str(k).startswith("script_txt2img_adetailer") for k in by_id)


def test_skip_img2img_is_pasted(webui):
    infotext = "a\nSteps: 20, Sampler: Euler, Seed: 1, ADetailer model: mediapipe_face_full, ADetailer skip img2img: True"
    by_id, _ = pasted_tabs(webui, infotext, "img2img")
    assert by_id["script_img2img_adetailer_ad_skip_img2img"] is True


def test_change_events_build_new_dicts():
    state = ui._fresh_tab({"ad_model": "a"})
    changed = ui._on_change("ad_steps", state, 12.0)
    assert changed == {"ad_model": "a", "ad_steps": 12}  # a changed tab is the user's
    assert not is_ui_start(changed)
    assert state == {"ad_model": "a", UI_START_KEY: state[UI_START_KEY]}
    assert ui._on_change("ad_checkpoint", {}, "Use same checkpoint") == {"ad_checkpoint": None}


# --- X/Y/Z -----------------------------------------------------------------------------------


def xyz_module(webui):
    return webui.loaded_module("xyz_grid.py")


def test_xyz_axes_are_added_once(webui):
    from adetailer_webui import xyz

    module = xyz_module(webui)
    ours = [o for o in module.axis_options if o.label.startswith("[ADetailer]")]
    assert [o.label for o in ours] == [
        "[ADetailer] ADetailer model 1st",
        "[ADetailer] ADetailer prompt 1st",
        "[ADetailer] ADetailer negative prompt 1st",
        "[ADetailer] Prompt S/R (AD 1st)",
        "[ADetailer] Prompt S/R (AD 1st and main prompt)",
        "[ADetailer] Mask erosion / dilation 1st",
        "[ADetailer] Inpaint denoising strength 1st",
        "[ADetailer] CFG scale 1st",
        "[ADetailer] Inpaint only masked 1st",
        "[ADetailer] Inpaint only masked padding 1st",
        "[ADetailer] ADetailer sampler 1st",
        "[ADetailer] ADetailer scheduler 1st",
        "[ADetailer] noise multiplier 1st",
        "[ADetailer] Hires fix stage 1st",
        "[ADetailer] Color match 1st",
        "[ADetailer] ControlNet model 1st",
    ]
    xyz.add_axes()
    assert len([o for o in module.axis_options if o.label.startswith("[ADetailer]")]) == 16
    model_axis = ours[0]
    assert "mediapipe_face_full" in model_axis.choices()


def apply_axis(webui, label: str, value: Any, values: list[Any], p: Any) -> None:
    option = next(o for o in xyz_module(webui).axis_options if o.label == label)
    option.apply(p, option.type(value), values)


def test_xyz_values_replace_the_first_tab(webui, generates_faces):
    from copy import copy

    from modules import processing

    base = processing.StableDiffusionProcessingTxt2Img(
        prompt="a dog", width=768, height=512, do_not_save_samples=True, do_not_save_grid=True
    )
    cell = copy(base)
    apply_axis(webui, "[ADetailer] ADetailer sampler 1st", "Euler a", ["Euler a", "DDIM"], cell)
    apply_axis(webui, "[ADetailer] CFG scale 1st", "3", ["3"], cell)
    assert getattr(base, "_ad_xyz", None) is None  # other cells are not touched
    start = calls_so_far()
    cell.scripts = webui.runner("txt2img")
    cell.script_args = webui.ui_script_args("txt2img", {"ADetailer": [True, False, FACE_TAB]})
    processing.process_images(cell)
    inner = inner_calls(start)
    assert [c.sampler_name for c in inner] == ["Euler a", "Euler a"]  # the axis turns the toggle on
    assert [c.cfg_scale for c in inner] == [3.0, 3.0]
    assert {c.scheduler for c in inner} == {cell.scheduler or "Automatic"}


def test_xyz_prompt_search_replace(webui, generates_faces):
    from copy import copy

    from modules import processing

    base = processing.StableDiffusionProcessingTxt2Img(
        prompt="a red dog", width=768, height=512, do_not_save_samples=True, do_not_save_grid=True
    )
    for label, main_prompt in (
        ("[ADetailer] Prompt S/R (AD 1st)", "a red dog"),
        ("[ADetailer] Prompt S/R (AD 1st and main prompt)", "a blue dog"),
    ):
        cell = copy(base)
        apply_axis(webui, label, "blue", ["red", "blue"], cell)
        assert cell.prompt == main_prompt
        start = calls_so_far()
        cell.scripts = webui.runner("txt2img")
        cell.script_args = webui.ui_script_args(
            "txt2img", {"ADetailer": [True, False, {**FACE_TAB, "ad_prompt": "[PROMPT], red eyes"}]}
        )
        processed = processing.process_images(cell)
        assert {c.prompts[0] for c in inner_calls(start)} == {"a blue dog, blue eyes"}
        assert 'ADetailer prompt: "a blue dog, blue eyes"' in processed.infotexts[0]


def test_xyz_axes_exist_in_api_only_mode(tmp_path):
    """With --nowebui the grid reads its axes before `on_before_ui` fires."""
    from tests.extension.conftest import launch

    with launch(tmp_path, nowebui=True) as webui:
        grid = webui.find_script(webui.runner("img2img"), "X/Y/Z plot")
        labels = [o.label for o in grid.current_axis_options]
        assert "[ADetailer] ADetailer model 1st" in labels
        assert len([label for label in labels if label.startswith("[ADetailer]")]) == 16
