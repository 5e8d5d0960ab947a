"""The ADetailer accordion in txt2img and img2img, for gradio 3.41 (A1111) and 4.40 (Forge).

`ui()` returns `[enable, skip_img2img, state_1, ..., state_n]`: the argument layout API clients
use. Each tab's widgets write into that tab's `gr.State` dict on every change and when Generate
is clicked. The infotext fields restore every tab from an infotext of this or older versions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import gradio as gr

import controlnet_ext
from adetailer.__version__ import __version__
from adetailer.args import (
    COLOR_MATCH_MODES,
    CONTROLNET_PASSTHROUGH,
    DEFAULTS,
    FIELD_NAMES,
    HIRES_STAGES,
    MASK_FILTER_METHODS,
    MASK_MERGE_INVERT,
    SAME_CHECKPOINT,
    SAME_SAMPLER,
    SAME_SCHEDULER,
    SAME_VAE,
    TOGGLED,
    ordinal,
)
from adetailer.infotext import from_infotext_params, infotext_suffix, validated_tabs
from adetailer_webui import host, settings
from adetailer_webui.arguments import UI_START_KEY, ui_start

# what an unset optional name shows in its dropdown
EMPTY_CHOICE = {"ad_checkpoint": SAME_CHECKPOINT, "ad_vae": SAME_VAE}

PROMPT_HELP = (
    "blank: the image's own prompt | [SEP] splits it into one prompt per detection (in order;"
    " the last one repeats) | [SKIP] alone leaves that detection as it is | [PROMPT] is replaced"
    " by the image's own prompt | [SEP:1234] / [SEP:R] (and a leading [SEED:1234] / [SEED:R])"
    " fix or reroll the seed of that detection"
)

_generate_buttons: dict[str, Any] = {}


def on_after_component(component: Any, **_kwargs: Any) -> None:
    """Remember the Generate buttons: a tab's state is completed when they are clicked."""
    elem_id = getattr(component, "elem_id", None)
    if elem_id in ("txt2img_generate", "img2img_generate"):
        _generate_buttons[elem_id.split("_")[0]] = component


@dataclass
class Names:
    """What the dropdowns offer, read from the host once per UI build."""

    models: list[str]
    samplers: list[str]
    schedulers: list[str]
    checkpoints: list[str]
    vaes: list[str]
    controlnet_models: list[str]
    controlnet: bool

    @classmethod
    def read(cls) -> Names:
        return cls(
            models=host.registry(refresh=True).names(),
            samplers=host.sampler_names(),
            schedulers=host.scheduler_labels(),
            checkpoints=host.checkpoint_names(),
            vaes=host.vae_names(),
            controlnet_models=controlnet_ext.controlnet_model_names(),
            controlnet=controlnet_ext.kind() is not None,
        )


@dataclass
class Tab:
    index: int
    widgets: dict[str, Any] = field(default_factory=dict)
    state: Any = None
    refresh: Any = None


def _model_choices(index: int, models: list[str]) -> list[str]:
    """The first tab offers "None" last (a model is the point), the others first (off)."""
    return [*models, "None"] if index == 0 else ["None", *models]


def _dropdown_choices(component: Any) -> list[Any]:
    """gradio 3 keeps choices as values, gradio 4 as (label, value) pairs."""
    return [c[1] if isinstance(c, tuple) else c for c in getattr(component, "choices", [])]


def build(is_img2img: bool, elem_id: Callable[[str], str]) -> tuple[list[Any], list[tuple]]:
    """The controls `ui()` returns and the script's infotext fields."""
    from modules.ui_components import InputAccordion

    names = Names.read()
    tabs = [Tab(i) for i in range(settings.max_tabs())]
    with InputAccordion(False, label="ADetailer", elem_id=elem_id("ad_main_accordion")) as enable:
        with gr.Row():
            with gr.Column(scale=8):
                skip = gr.Checkbox(
                    label="Skip img2img",
                    value=False,
                    visible=is_img2img,
                    elem_id=elem_id("ad_skip_img2img"),
                )
            with gr.Column(scale=1, min_width=180):
                gr.Markdown(f"v{__version__}", elem_id=elem_id("ad_version"))
        with gr.Group(), gr.Tabs():
            for tab in tabs:
                with gr.Tab(ordinal(tab.index + 1)):
                    _build_tab(tab, names, elem_id, is_img2img)
    _connect_generate(tabs, is_img2img)
    controls = [enable, skip, *(tab.state for tab in tabs)]
    return controls, infotext_fields(enable, skip, tabs)


def _build_tab(tab: Tab, names: Names, elem_id: Callable[[str], str], is_img2img: bool) -> None:
    from modules.ui_components import ToolButton

    n = tab.index
    sfx = infotext_suffix(n)

    def eid(key: str) -> str:
        return elem_id(key + sfx.replace(" ", "_"))

    w = tab.widgets
    models = _model_choices(n, names.models)
    with gr.Group():
        with gr.Row(variant="compact"):
            w["ad_tab_enable"] = gr.Checkbox(
                label=f"Enable this tab ({ordinal(n + 1)})",
                value=True,
                elem_id=eid("ad_tab_enable"),
            )
        with gr.Row():
            w["ad_model"] = gr.Dropdown(
                label="ADetailer detector" + sfx,
                choices=models,
                value=models[0],
                type="value",
                info="The model that finds what to redraw.",
                elem_id=eid("ad_model"),
            )
            tab.refresh = ToolButton(value="\U0001f504", elem_id=eid("ad_model_refresh"))
        with gr.Row():
            w["ad_model_classes"] = gr.Textbox(
                label="ADetailer detector classes" + sfx,
                value="",
                visible=_is_world(models[0]),
                placeholder=_classes_placeholder(models[0]),
                elem_id=eid("ad_model_classes"),
            )
    with gr.Group():
        with gr.Row(elem_id=eid("ad_toprow_prompt")):
            w["ad_prompt"] = gr.Textbox(
                label="ad_prompt" + sfx,
                show_label=False,
                lines=3,
                placeholder=f"ADetailer prompt{sfx}\n{PROMPT_HELP}",
                elem_id=eid("ad_prompt"),
            )
        with gr.Row(elem_id=eid("ad_toprow_negative_prompt")):
            w["ad_negative_prompt"] = gr.Textbox(
                label="ad_negative_prompt" + sfx,
                show_label=False,
                lines=2,
                placeholder=f"ADetailer negative prompt{sfx}\nblank: the image's own negative prompt; [SEP], [SKIP], [PROMPT] as above",
                elem_id=eid("ad_negative_prompt"),
            )
    with gr.Group():
        with gr.Accordion("Detection", open=False, elem_id=eid("ad_detection_accordion")):
            _detection(w, sfx, eid)
        with gr.Accordion(
            "Mask Preprocessing", open=False, elem_id=eid("ad_mask_preprocessing_accordion")
        ):
            _mask_preprocessing(w, sfx, eid)
        with gr.Accordion("Inpainting", open=False, elem_id=eid("ad_inpainting_accordion")):
            _inpainting(w, sfx, eid, names)
            _stage_and_paste(w, sfx, eid, is_img2img)
    with gr.Group():
        _controlnet(w, sfx, eid, names)

    # gradio deep-copies a State's value (here a callable): give it plain data, not components
    tab.state = gr.State(value=partial(_fresh_tab, _initial_values(w)))
    _connect(tab, names)


def _slider(
    key: str, label: str, low: float, high: float, step: float, eid: Callable[[str], str], **kw: Any
) -> Any:
    return gr.Slider(
        label=label,
        minimum=low,
        maximum=high,
        step=step,
        value=getattr(DEFAULTS, key),
        elem_id=eid(key),
        **kw,
    )


def _detection(w: dict[str, Any], sfx: str, eid: Callable[[str], str]) -> None:
    with gr.Row():
        with gr.Column(variant="compact"):
            w["ad_confidence"] = _slider(
                "ad_confidence", "Detection model confidence threshold" + sfx, 0, 1, 0.01, eid
            )
            w["ad_mask_filter_method"] = gr.Radio(
                label="Method to filter top k masks by (confidence or area)" + sfx,
                choices=list(MASK_FILTER_METHODS),
                value=DEFAULTS.ad_mask_filter_method,
                elem_id=eid("ad_mask_filter_method"),
            )
            w["ad_mask_k"] = _slider(
                "ad_mask_k", "Mask only the top k (0 to disable)" + sfx, 0, 10, 1, eid
            )
            w["ad_tiled_detection"] = gr.Checkbox(
                label="Tiled detection (finds small faces; slower)" + sfx,
                value=DEFAULTS.ad_tiled_detection,
                elem_id=eid("ad_tiled_detection"),
            )
        with gr.Column(variant="compact"):
            w["ad_mask_min_ratio"] = _slider(
                "ad_mask_min_ratio", "Mask min area ratio" + sfx, 0, 1, 0.001, eid
            )
            w["ad_mask_max_ratio"] = _slider(
                "ad_mask_max_ratio", "Mask max area ratio" + sfx, 0, 1, 0.001, eid
            )


def _mask_preprocessing(w: dict[str, Any], sfx: str, eid: Callable[[str], str]) -> None:
    with gr.Group(), gr.Row():
        with gr.Column(variant="compact"):
            w["ad_x_offset"] = _slider("ad_x_offset", "Mask x(→) offset" + sfx, -200, 200, 1, eid)
            w["ad_y_offset"] = _slider("ad_y_offset", "Mask y(↑) offset" + sfx, -200, 200, 1, eid)
        with gr.Column(variant="compact"):
            w["ad_dilate_erode"] = _slider(
                "ad_dilate_erode", "Mask erosion (-) / dilation (+)" + sfx, -128, 128, 4, eid
            )
    with gr.Row():
        w["ad_mask_merge_invert"] = gr.Radio(
            label="Mask merge mode" + sfx,
            choices=list(MASK_MERGE_INVERT),
            value=DEFAULTS.ad_mask_merge_invert,
            info="None: each mask on its own; Merge: all masks as one; Merge and Invert: everything but the masks",
            elem_id=eid("ad_mask_merge_invert"),
        )


def _toggle(key: str, label: str, eid: Callable[[str], str]) -> Any:
    return gr.Checkbox(label=label, value=getattr(DEFAULTS, key), elem_id=eid(key))


def _gated(key: str) -> bool:
    return next(bool(getattr(DEFAULTS, t)) for t, gated in TOGGLED.items() if key in gated)


def _inpainting(w: dict[str, Any], sfx: str, eid: Callable[[str], str], names: Names) -> None:
    with gr.Group():
        with gr.Row():
            w["ad_mask_blur"] = _slider("ad_mask_blur", "Inpaint mask blur" + sfx, 0, 64, 1, eid)
            w["ad_denoising_strength"] = _slider(
                "ad_denoising_strength", "Inpaint denoising strength" + sfx, 0, 1, 0.01, eid
            )
        with gr.Row():
            with gr.Column(variant="compact"):
                w["ad_inpaint_only_masked"] = _toggle(
                    "ad_inpaint_only_masked", "Inpaint only masked" + sfx, eid
                )
                w["ad_inpaint_only_masked_padding"] = _slider(
                    "ad_inpaint_only_masked_padding",
                    "Inpaint only masked padding, pixels" + sfx,
                    0,
                    256,
                    4,
                    eid,
                    interactive=_gated("ad_inpaint_only_masked_padding"),
                )
            with gr.Column(variant="compact"):
                w["ad_use_inpaint_width_height"] = _toggle(
                    "ad_use_inpaint_width_height", "Use separate width/height" + sfx, eid
                )
                for key, label in (
                    ("ad_inpaint_width", "inpaint width"),
                    ("ad_inpaint_height", "inpaint height"),
                ):
                    w[key] = _slider(key, label + sfx, 64, 2048, 4, eid, interactive=_gated(key))
        with gr.Row():
            with gr.Column(variant="compact"):
                w["ad_use_steps"] = _toggle("ad_use_steps", "Use separate steps" + sfx, eid)
                w["ad_steps"] = _slider(
                    "ad_steps",
                    "ADetailer steps" + sfx,
                    1,
                    150,
                    1,
                    eid,
                    interactive=_gated("ad_steps"),
                )
            with gr.Column(variant="compact"):
                w["ad_use_cfg_scale"] = _toggle(
                    "ad_use_cfg_scale", "Use separate CFG scale" + sfx, eid
                )
                w["ad_cfg_scale"] = _slider(
                    "ad_cfg_scale",
                    "ADetailer CFG scale" + sfx,
                    0,
                    30,
                    0.5,
                    eid,
                    interactive=_gated("ad_cfg_scale"),
                )
        with gr.Row():
            with gr.Column(variant="compact"):
                w["ad_use_checkpoint"] = _toggle(
                    "ad_use_checkpoint", "Use separate checkpoint" + sfx, eid
                )
                w["ad_checkpoint"] = gr.Dropdown(
                    label="ADetailer checkpoint" + sfx,
                    choices=[SAME_CHECKPOINT, *names.checkpoints],
                    value=SAME_CHECKPOINT,
                    type="value",
                    interactive=_gated("ad_checkpoint"),
                    elem_id=eid("ad_checkpoint"),
                )
            with gr.Column(variant="compact"):
                w["ad_use_vae"] = _toggle("ad_use_vae", "Use separate VAE" + sfx, eid)
                w["ad_vae"] = gr.Dropdown(
                    label="ADetailer VAE" + sfx,
                    choices=[SAME_VAE, *names.vaes],
                    value=SAME_VAE,
                    type="value",
                    interactive=_gated("ad_vae"),
                    elem_id=eid("ad_vae"),
                )
        with gr.Row(), gr.Column(variant="compact"):
            w["ad_use_sampler"] = _toggle("ad_use_sampler", "Use separate sampler" + sfx, eid)
            with gr.Row():
                samplers = [SAME_SAMPLER, *names.samplers]
                w["ad_sampler"] = gr.Dropdown(
                    label="ADetailer sampler" + sfx,
                    choices=samplers,
                    value=samplers[1] if len(samplers) > 1 else SAME_SAMPLER,
                    type="value",
                    interactive=_gated("ad_sampler"),
                    elem_id=eid("ad_sampler"),
                )
                w["ad_scheduler"] = gr.Dropdown(
                    label="ADetailer scheduler" + sfx,
                    choices=[SAME_SCHEDULER, *names.schedulers],
                    value=SAME_SCHEDULER,
                    type="value",
                    visible=bool(names.schedulers),
                    interactive=_gated("ad_scheduler"),
                    elem_id=eid("ad_scheduler"),
                )
        with gr.Row():
            with gr.Column(variant="compact"):
                w["ad_use_noise_multiplier"] = _toggle(
                    "ad_use_noise_multiplier", "Use separate noise multiplier" + sfx, eid
                )
                w["ad_noise_multiplier"] = _slider(
                    "ad_noise_multiplier",
                    "Noise multiplier for img2img" + sfx,
                    0.5,
                    1.5,
                    0.01,
                    eid,
                    interactive=_gated("ad_noise_multiplier"),
                )
            with gr.Column(variant="compact"):
                w["ad_use_clip_skip"] = _toggle(
                    "ad_use_clip_skip", "Use separate CLIP skip" + sfx, eid
                )
                w["ad_clip_skip"] = _slider(
                    "ad_clip_skip",
                    "ADetailer CLIP skip" + sfx,
                    1,
                    12,
                    1,
                    eid,
                    interactive=_gated("ad_clip_skip"),
                )
        with gr.Row(), gr.Column(variant="compact"):
            w["ad_restore_face"] = _toggle(
                "ad_restore_face", "Restore faces after ADetailer" + sfx, eid
            )


def _stage_and_paste(
    w: dict[str, Any], sfx: str, eid: Callable[[str], str], is_img2img: bool
) -> None:
    with gr.Row():
        w["ad_hires_stage"] = gr.Radio(
            label="Hires fix stage" + sfx,
            choices=list(HIRES_STAGES),
            value=DEFAULTS.ad_hires_stage,
            info="With hires fix: detail the final image, or each first-pass image (the hires"
            " pass then starts from the detailed image)",
            visible=not is_img2img,  # img2img has no hires fix
            elem_id=eid("ad_hires_stage"),
        )
        w["ad_color_match"] = gr.Radio(
            label="Color match" + sfx,
            choices=list(COLOR_MATCH_MODES),
            value=DEFAULTS.ad_color_match,
            info="Border: match the redraw's colors to the original's along the mask's edge"
            " before it is pasted",
            elem_id=eid("ad_color_match"),
        )


def _controlnet(w: dict[str, Any], sfx: str, eid: Callable[[str], str], names: Names) -> None:
    with gr.Row(variant="panel"):
        with gr.Column(variant="compact"):
            w["ad_controlnet_model"] = gr.Dropdown(
                label="ControlNet model" + sfx,
                choices=["None", CONTROLNET_PASSTHROUGH, *names.controlnet_models],
                value="None",
                type="value",
                interactive=names.controlnet,
                elem_id=eid("ad_controlnet_model"),
            )
            w["ad_controlnet_module"] = gr.Dropdown(
                label="ControlNet module" + sfx,
                choices=["None"],
                value="None",
                type="value",
                visible=False,
                interactive=names.controlnet,
                elem_id=eid("ad_controlnet_module"),
            )
            w["ad_controlnet_weight"] = _slider(
                "ad_controlnet_weight",
                "ControlNet weight" + sfx,
                0,
                1,
                0.01,
                eid,
                interactive=names.controlnet,
            )
        with gr.Column(variant="compact"):
            w["ad_controlnet_guidance_start"] = _slider(
                "ad_controlnet_guidance_start",
                "ControlNet guidance start" + sfx,
                0,
                1,
                0.01,
                eid,
                interactive=names.controlnet,
            )
            w["ad_controlnet_guidance_end"] = _slider(
                "ad_controlnet_guidance_end",
                "ControlNet guidance end" + sfx,
                0,
                1,
                0.01,
                eid,
                interactive=names.controlnet,
            )
    if not names.controlnet:
        gr.Markdown(
            "ControlNet is not installed (A1111: the sd-webui-controlnet extension; Forge has it"
            " built in): these options do nothing.",
            elem_id=eid("ad_controlnet_missing"),
        )


def _is_world(model: str) -> bool:
    return "-world" in model


def _classes_placeholder(model: str) -> str:
    if not _is_world(model):
        return ""
    return (
        "Comma-separated class names to detect, e.g. 'person,cat'; blank: the model's own classes"
    )


# the keys that hold integers; a slider gives them as floats (12.0)
INTEGER_KEYS = frozenset(k for k in FIELD_NAMES if type(getattr(DEFAULTS, k)) is int)


def _widget_value(key: str, value: Any) -> Any:
    """What a tab dict holds for a widget's value."""
    if key in EMPTY_CHOICE and value in (None, EMPTY_CHOICE[key]):
        return None
    if key in INTEGER_KEYS and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _fresh_tab(values: Mapping[str, Any]) -> dict[str, Any]:
    """A tab's starting value; gradio calls this again for every new page."""
    return ui_start(values)


def _initial_values(widgets: Mapping[str, Any]) -> dict[str, Any]:
    values = {key: _widget_value(key, widgets[key].value) for key in FIELD_NAMES}
    # gradio 4 starts an empty textbox at None
    return {k: getattr(DEFAULTS, k) if v is None else v for k, v in values.items()}


def _on_change(key: str, state: Mapping[str, Any] | None, value: Any) -> dict[str, Any]:
    # a new dict every time: a generation that already took the old one keeps it as it was
    changed = {k: v for k, v in (state or {}).items() if k != UI_START_KEY}
    return {**changed, key: _widget_value(key, value)}


def _on_generate(*values: Any) -> dict[str, Any]:
    return {key: _widget_value(key, value) for key, value in zip(FIELD_NAMES, values, strict=True)}


def _connect(tab: Tab, names: Names) -> None:
    w = tab.widgets
    for key in FIELD_NAMES:
        w[key].change(
            partial(_on_change, key), inputs=[tab.state, w[key]], outputs=tab.state, queue=False
        )
    for toggle, gated in TOGGLED.items():
        w[toggle].change(
            partial(_editable, len(gated)),
            inputs=w[toggle],
            outputs=[w[k] for k in gated],
            queue=False,
        )
    w["ad_model"].change(
        lambda model: gr.update(visible=_is_world(model), placeholder=_classes_placeholder(model)),
        inputs=w["ad_model"],
        outputs=w["ad_model_classes"],
        queue=False,
    )
    w["ad_controlnet_model"].change(
        _on_controlnet_model,
        inputs=w["ad_controlnet_model"],
        outputs=w["ad_controlnet_module"],
        queue=False,
    )

    def refresh(current: str) -> Any:
        models = host.registry(refresh=True).names()
        choices = _model_choices(tab.index, models)
        return gr.update(choices=choices, value=current if current in choices else "None")

    tab.refresh.click(refresh, inputs=w["ad_model"], outputs=w["ad_model"], queue=False)


def _editable(count: int, on: bool) -> list[Any]:
    return [gr.update(interactive=bool(on)) for _ in range(count)]


def _on_controlnet_model(model: str) -> Any:
    choices = controlnet_ext.module_choices(model or "None")
    if choices == ["None"]:
        return gr.update(choices=choices, value="None", visible=False)
    return gr.update(choices=choices, value=choices[0], visible=True)


def _connect_generate(tabs: list[Tab], is_img2img: bool) -> None:
    button = _generate_buttons.get("img2img" if is_img2img else "txt2img")
    if button is None:
        return  # another UI (or the API's default collection): change events keep the states
    for tab in tabs:
        button.click(
            _on_generate,
            inputs=[tab.widgets[key] for key in FIELD_NAMES],
            outputs=tab.state,
            queue=False,
        )


# --- infotext paste ----------------------------------------------------------------------------


class _PastedTabs:
    """Tabs read from the last pasted infotext, shared by all fields of one paste."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._tabs: dict[int, Any] = {}

    def get(self, params: Mapping[str, Any]) -> dict[int, Any] | None:
        """The pasted tabs, or None when the infotext has no ADetailer values at all."""
        raw = from_infotext_params(params)
        if not raw:
            return None
        key = tuple((i, tuple(sorted((k, str(v)) for k, v in t.items()))) for i, t in raw.items())
        if key != self._key:
            self._key, self._tabs = key, validated_tabs(raw)
        return self._tabs


def infotext_fields(enable: Any, skip: Any, tabs: list[Tab]) -> list[tuple]:
    pasted = _PastedTabs()

    def enable_value(params: Mapping[str, Any]) -> bool | None:
        return True if pasted.get(params) is not None else None

    def skip_value(params: Mapping[str, Any]) -> bool | None:
        if pasted.get(params) is None:
            return None
        return str(params.get("ADetailer skip img2img", "False")) == "True"

    fields: list[tuple] = [(enable, enable_value), (skip, skip_value)]
    for tab in tabs:
        for key in FIELD_NAMES:
            fields.append((tab.widgets[key], partial(_pasted_value, pasted, tab.index, key)))
        fields.append((tab.state, partial(_pasted_state, pasted, tab.index)))
    return fields


def _pasted_value(pasted: _PastedTabs, index: int, key: str, params: Mapping[str, Any]) -> Any:
    tabs = pasted.get(params)
    if tabs is None:
        return None
    if index not in tabs:
        return False if key == "ad_tab_enable" else None
    value = getattr(tabs[index], key)
    if value is None:
        return EMPTY_CHOICE.get(key)
    return value


def _pasted_state(pasted: _PastedTabs, index: int, params: Mapping[str, Any]) -> Any:
    """A whole tab for the API's `infotext` field (the UI updates the state through its widgets)."""
    tabs = pasted.get(params)
    if tabs is None:
        return None
    if index not in tabs:
        return {"ad_model": "None", "ad_tab_enable": False}
    return tabs[index].dict()
