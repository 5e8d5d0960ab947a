from __future__ import annotations

from typing import Any

import gradio as gr
import pytest

from adetailer.args import FIELD_NAMES, parse_tab
from adetailer_webui import settings, ui
from adetailer_webui.arguments import is_ui_start

NAMES = ui.Names(
    models=["face_yolov8n.pt", "yolov8x-worldv2.pt", "mediapipe_face_full"],
    samplers=["DPM++ 2M", "Euler a", "Euler"],
    schedulers=["Automatic", "Karras"],
    checkpoints=["sd15 [abcdef1234]"],
    vaes=["Automatic", "None"],
    controlnet_models=[],
    controlnet=False,
)


@pytest.fixture
def built(forge_modules, monkeypatch) -> tuple[gr.Blocks, list[Any], list[tuple]]:
    monkeypatch.setattr(ui.Names, "read", classmethod(lambda cls: NAMES))
    monkeypatch.setattr(settings, "max_tabs", lambda: 4)
    with gr.Blocks() as demo:
        controls, fields = ui.build(True, lambda item: f"script_img2img_adetailer_{item}")
    return demo, controls, fields


def by_id(demo: gr.Blocks) -> dict[str, Any]:
    return {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}


def test_the_ui_builds_under_gradio_4(built):
    demo, controls, fields = built
    assert gr.__version__ == "4.40.0"
    assert len(controls) == 2 + 4
    enable, skip, *states = controls
    assert isinstance(enable, gr.Checkbox)
    assert enable.elem_id == "script_img2img_adetailer_ad_main_accordion-checkbox"
    assert skip.visible is True
    assert all(isinstance(s, gr.State) for s in states)
    for index, state in enumerate(states):
        assert is_ui_start(state.value)  # the marker survives gradio 4's copy of the value
        args = parse_tab(state.value).args
        assert (args.ad_model == "None") == (index > 0)
    assert len(fields) == 2 + 4 * (len(FIELD_NAMES) + 1)
    ids = by_id(demo)
    assert "script_img2img_adetailer_ad_main_accordion" in ids
    assert "script_img2img_adetailer_ad_controlnet_missing_2nd" in ids
    config = demo.get_config_file()  # every component serialises
    assert config["components"]


def test_dropdowns_hold_their_values(built):
    demo, _, _ = built
    ids = by_id(demo)
    model = ids["script_img2img_adetailer_ad_model"]
    assert ui._dropdown_choices(model)[:3] == NAMES.models
    assert model.value == "face_yolov8n.pt"
    sampler = ids["script_img2img_adetailer_ad_sampler_2nd"]
    assert sampler.value in ui._dropdown_choices(sampler)
    assert ids["script_img2img_adetailer_ad_model_classes"].visible is False


def test_event_handlers_return_gradio_4_updates():
    update = ui._on_controlnet_model("None")
    assert update["__type__"] == "update"
    assert update["visible"] is False
    assert ui._editable(2, True) == [gr.update(interactive=True)] * 2


def test_paste_fields_under_gradio_4(built):
    _, _, fields = built
    params = {
        "ADetailer model": "mediapipe_face_full",
        "ADetailer confidence": "0.5",
        "Steps": "20",
    }
    values = {}
    for component, key in fields:
        value = key(params) if callable(key) else params.get(key)
        if value is not None:
            values[getattr(component, "elem_id", None) or id(component)] = value
    assert values["script_img2img_adetailer_ad_main_accordion-checkbox"] is True
    assert values["script_img2img_adetailer_ad_confidence"] == 0.5
    assert values["script_img2img_adetailer_ad_tab_enable_2nd"] is False
