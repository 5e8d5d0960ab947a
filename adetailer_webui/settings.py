"""The "ADetailer" settings section: the original's keys, labels and defaults, plus this version's.

Options are read with `opts.data.get(key, default)` (see `read`), because `opts.data` holds only
what config.json had until the settings UI registered the options, and detailing can run before
that (API-only start, tests).
"""

from __future__ import annotations

from typing import Any

from adetailer.inpaint import MATCH_MODES, MATCH_OFF
from adetailer.masks import SORT_NONE, SORT_ORDERS

SECTION = ("ADetailer", "ADetailer")

DEFAULT_SCRIPT_NAMES = ",".join(
    sorted(
        (
            "dynamic_prompting",
            "dynamic_thresholding",
            "wildcard_recursive",
            "wildcards",
            "lora_block_weight",
            "negpip",
        )
    )
)
# Built-in scripts that always take part in the detail pass.
BUILTIN_SCRIPTS = ("soft_inpainting", "hypertile_script")

DEFAULTS: dict[str, Any] = {
    "ad_max_models": 4,
    "ad_extra_models_dir": "",
    "ad_save_images_dir": "",
    "ad_save_previews": False,
    "ad_save_images_before": False,
    "ad_only_selected_scripts": True,
    "ad_script_names": DEFAULT_SCRIPT_NAMES,
    "ad_bbox_sortby": SORT_NONE,
    "ad_same_seed_for_each_tab": False,
    "ad_dynamic_denoise_power": 0.0,
    "ad_match_inpaint_bbox_size": MATCH_OFF,
    # new in this version
    "ad_write_detections": True,
    "ad_detect_max_megapixels": 100.0,
}


def read(key: str) -> Any:
    from modules import shared

    value = shared.opts.data.get(key, DEFAULTS[key])
    return DEFAULTS[key] if value is None else value


def max_tabs() -> int:
    try:
        return min(15, max(1, int(read("ad_max_models"))))
    except (TypeError, ValueError):
        return DEFAULTS["ad_max_models"]


def script_allow_list() -> set[str] | None:
    """File stems of the scripts the detail pass keeps; None keeps every script."""
    if not read("ad_only_selected_scripts"):
        return None
    names = {name.strip() for name in str(read("ad_script_names")).split(",")}
    return {name for name in names if name} | set(BUILTIN_SCRIPTS)


def register() -> None:
    """`on_ui_settings` callback."""
    import gradio as gr
    from modules import shared

    def add(key: str, label: str, *component: Any, info: str = "", reload_ui: bool = False) -> None:
        """One option, with its default from DEFAULTS (what `read` falls back to)."""
        option = shared.OptionInfo(DEFAULTS[key], label, *component)
        if info:
            option = option.info(info)
        if reload_ui:
            option = option.needs_reload_ui()
        option.section = SECTION
        shared.opts.add_option(key, option)

    add(
        "ad_max_models",
        "Max tabs",
        gr.Slider,
        {"minimum": 1, "maximum": 15, "step": 1},
        reload_ui=True,
    )
    add(
        "ad_extra_models_dir",
        "Extra paths to scan adetailer models separated by vertical bars(|)",
        gr.Textbox,
        info='e.g. "C:\\models\\yolo|/mnt/models/yolo"; the model list is refreshed on Reload UI',
        reload_ui=True,
    )
    add(
        "ad_save_images_dir",
        "Output directory for adetailer images",
        gr.Textbox,
        info="blank: the generation's own output folder",
    )
    add("ad_save_previews", "Save mask previews")
    add("ad_save_images_before", "Save images before ADetailer")
    add("ad_only_selected_scripts", "Apply only selected scripts to ADetailer")
    add(
        "ad_script_names",
        "Script names to apply to ADetailer (separated by comma)",
        gr.Textbox,
        {"placeholder": "comma-separated list of script names", "interactive": True},
        info="file names of always-on scripts, without .py; soft inpainting and hypertile always apply",
    )
    add("ad_bbox_sortby", "Sort bounding boxes by", gr.Radio, {"choices": list(SORT_ORDERS)})
    add(
        "ad_same_seed_for_each_tab",
        'Use the same seed for every detection (the original\'s "same seed for each tab")',
        info="on: every detection is redrawn with the image's seed; off: the k-th uses seed + k",
    )
    add(
        "ad_dynamic_denoise_power",
        "Power scaling for dynamic denoise strength based on bounding box size",
        gr.Slider,
        {"minimum": -10, "maximum": 10, "step": 0.01},
        info="smaller boxes get more denoising, larger ones less, up to the tab's strength;"
        " 0 = off, 1 = linear, 2-4 recommended",
    )
    add(
        "ad_match_inpaint_bbox_size",
        "Try to match inpainting size to bounding box size, if 'Use separate width/height' is not set",
        gr.Radio,
        {"choices": list(MATCH_MODES)},
        info="Strict: the nearest SDXL training resolution (SDXL models only);"
        " Free: any model, the box's aspect in multiples of 8",
    )
    add(
        "ad_detect_max_megapixels",
        "Largest image POST /adetailer/v1/detect accepts, in megapixels",
        gr.Number,
        {"minimum": 1, "precision": 1},
        info="larger images are refused with an error (422) before they are decoded;"
        " 100 lets an upscaled 8k image (33 MP) through",
    )
    add(
        "ad_write_detections",
        "Write each detection (box, label, score, seed, prompt) into the infotext",
        info='under the key "ADetailer detections", to reproduce an image detection by detection',
    )
