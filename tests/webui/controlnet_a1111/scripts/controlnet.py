"""The fake sd-webui-controlnet's always-on script "ControlNet" (see ../README.md)."""

# No `from __future__ import annotations`: script modules are not in sys.modules, and dataclasses
# look string annotations up there.
import copy
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from internal_controlnet import external_code, global_state
from internal_controlnet.args import ControlNetUnit
from modules import processing, script_callbacks, scripts, shared

ORIGINAL_INNER = "__controlnet_original_process_images_inner"
# p.control_net_<name> -> unit field, read only with "Allow other script to control this extension"
REMOTE_FIELDS = {
    "enabled": "enabled",
    "module": "module",
    "model": "model",
    "weight": "weight",
    "image": "image",
    "resize_mode": "resize_mode",
    "pres": "processor_res",
    "guidance_start": "guidance_start",
    "guidance_end": "guidance_end",
    "control_mode": "control_mode",
    "pixel_perfect": "pixel_perfect",
}


@dataclass
class Seen:
    """What one `process` call of the script saw."""

    p: Any
    units: list[ControlNetUnit] = field(default_factory=list)

    @property
    def inner(self) -> bool:
        """ADetailer's detail pass (it marks its p)."""
        return bool(getattr(self.p, "_ad_inner", False))


calls: list[Seen] = []
hijack_calls: list[Any] = []


def _remote(p: Any, name: str, default: Any, index: int) -> Any:
    if not shared.opts.data.get("control_net_allow_script_control", False):
        return default
    value = getattr(p, f"control_net_{name}", None)
    if isinstance(value, list):
        value = value[index] if index < len(value) else None
    elif name == "enabled" and index != 0:
        value = None  # a scalar "enabled" only reaches the first unit
    return default if value is None else value


class Script(scripts.Script):
    def __init__(self) -> None:
        super().__init__()
        self.enabled_units: list[ControlNetUnit] = []

    def title(self) -> str:
        return "ControlNet"

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible

    def ui(self, is_img2img: bool) -> tuple:
        count = shared.opts.data.get("control_net_unit_count", 3)
        with gr.Group(elem_id=("img2img" if is_img2img else "txt2img") + "_controlnet"):
            return tuple(gr.State(ControlNetUnit()) for _ in range(count))

    @staticmethod
    def get_enabled_units(p: Any) -> list[ControlNetUnit]:
        units = external_code.get_all_units_in_processing(p)
        if not units:
            units = [ControlNetUnit()]  # room for a unit made only of p.control_net_* values
        enabled = []
        for index, unit in enumerate(units):
            values = {
                key: _remote(p, name, getattr(unit, key), index)
                for name, key in REMOTE_FIELDS.items()
            }
            unit = unit.copy(update=values)
            if unit.enabled:
                enabled.append(unit)
        return enabled

    def process(self, p: Any, *args: Any) -> None:
        self.enabled_units = self.get_enabled_units(p)
        for unit in self.enabled_units:
            if unit.model not in global_state.cn_models:
                raise RuntimeError(f"model not found: {unit.model}")
            if unit.image is None and not getattr(p, "init_images", None):
                raise ValueError("controlnet is enabled but no input image is given")
        calls.append(Seen(p, [copy.copy(u) for u in self.enabled_units]))

    def postprocess(self, p: Any, processed: Any, *args: Any) -> None:
        self.enabled_units = []


def _hijacked_process_images_inner(p: Any, *args: Any, **kwargs: Any) -> Any:
    hijack_calls.append(p)
    return getattr(processing, ORIGINAL_INNER)(p, *args, **kwargs)


def _undo_hijack() -> None:
    original = getattr(processing, ORIGINAL_INNER, None)
    if original is not None:
        processing.process_images_inner = original
        delattr(processing, ORIGINAL_INNER)


def _on_ui_settings() -> None:
    section = ("control_net", "ControlNet")
    for key, default, label in (
        ("control_net_models_path", "", "Extra path to scan for ControlNet models"),
        ("control_net_unit_count", 3, "Multi-ControlNet: ControlNet unit number"),
        ("control_net_allow_script_control", False, "Allow other script to control this extension"),
        ("control_net_sync_field_args", True, "Paste ControlNet parameters in infotext"),
        ("control_net_models_name_filter", "", "Filter models by name"),
    ):
        shared.opts.add_option(key, shared.OptionInfo(default, label, section=section))


_undo_hijack()  # a web UI that reloads scripts without unloading them
setattr(processing, ORIGINAL_INNER, processing.process_images_inner)
processing.process_images_inner = _hijacked_process_images_inner
script_callbacks.on_script_unloaded(_undo_hijack)
script_callbacks.on_ui_settings(_on_ui_settings)
global_state.update_cn_models()
