"""sd-webui-controlnet's API for other extensions (`external_code`), as far as ADetailer needs it."""

from __future__ import annotations

from copy import copy
from typing import Any

import numpy as np
from modules import shared

from internal_controlnet import global_state, preprocessors
from internal_controlnet.args import ControlNetUnit
from internal_controlnet.enums import (  # noqa: F401 - part of the API
    BatchOption,
    ControlMode,
    HiResFixOption,
    InputMode,
    ResizeMode,
)


def get_api_version() -> int:
    return 3


def resize_mode_from_value(value: str | int | ResizeMode) -> ResizeMode:
    if isinstance(value, str):
        from internal_controlnet.args import RESIZE_MODE_ALIASES

        return ResizeMode(RESIZE_MODE_ALIASES.get(value, value))
    if isinstance(value, int):
        assert value >= 0
        if value == 3 or value >= len(ResizeMode):  # 3: "Just resize (latent upscale)"
            return ResizeMode.RESIZE
        return list(ResizeMode)[value]
    return value


def pixel_perfect_resolution(
    image: np.ndarray,
    target_H: int,  # noqa: N803 - the real signature
    target_W: int,  # noqa: N803
    resize_mode: ResizeMode,
) -> int:
    raw_h, raw_w = image.shape[:2]
    k0, k1 = target_H / raw_h, target_W / raw_w
    k = min(k0, k1) if resize_mode == ResizeMode.OUTER_FIT else max(k0, k1)
    return int(np.round(k * min(raw_h, raw_w)))


def is_cn_script(script: Any) -> bool:
    return script.title().lower() == "controlnet"


def find_cn_script(script_runner: Any) -> Any | None:
    if script_runner is None:
        return None
    for script in script_runner.alwayson_scripts:
        if is_cn_script(script):
            return script
    return None


def to_processing_unit(unit: dict | ControlNetUnit) -> ControlNetUnit:
    if isinstance(unit, dict):
        return ControlNetUnit.from_dict(unit)
    assert isinstance(unit, ControlNetUnit)
    return unit


def _looks_like_unit(arg: Any) -> bool:
    if isinstance(arg, (ControlNetUnit, dict)):
        return True
    return hasattr(arg, "__dict__") and set(vars(ControlNetUnit()).keys()).issubset(vars(arg))


def get_all_units_from(script_args: list[Any]) -> list[ControlNetUnit]:
    return [to_processing_unit(arg) for arg in script_args if _looks_like_unit(arg)]


def get_all_units(script_runner: Any, script_args: Any) -> list[ControlNetUnit]:
    cn_script = find_cn_script(script_runner)
    if cn_script is None:
        return []
    return get_all_units_from(script_args[cn_script.args_from : cn_script.args_to])


def get_all_units_in_processing(p: Any) -> list[ControlNetUnit]:
    return get_all_units(p.scripts, p.script_args)


def get_single_unit_from(script_args: list[Any], index: int = 0) -> ControlNetUnit | None:
    i = 0
    while i < len(script_args) and index >= 0:
        if index == 0 and script_args[i] is not None:
            return to_processing_unit(script_args[i])
        i += 1
        index -= 1
    return None


def get_max_models_num() -> int:
    return shared.opts.data.get("control_net_unit_count", 3)


def update_cn_script(
    script_runner: Any, script_args: tuple | list, cn_units: list[ControlNetUnit]
) -> tuple | list:
    """The args with `cn_units` (padded with disabled units) in ControlNet's slot.

    As in the real extension: when the number of units differs from the slot's width, the
    argument ranges of the ControlNet script and of every always-on script after it move, on
    the script objects of `script_runner`.
    """
    args_type = type(script_args)
    assert args_type in (tuple, list), args_type
    updated = list(copy(script_args))
    cn_script = find_cn_script(script_runner)
    if cn_script is None or len(script_args) < cn_script.args_from:
        return script_args
    max_models = shared.opts.data.get("control_net_unit_count", 3)
    cn_units = cn_units + [ControlNetUnit(enabled=False)] * max(max_models - len(cn_units), 0)
    diff = 0
    for script in script_runner.alwayson_scripts:
        if script is cn_script:
            diff = len(cn_units) - (cn_script.args_to - cn_script.args_from)
            updated[script.args_from : script.args_to] = cn_units
            script.args_to = script.args_from + len(cn_units)
        else:
            script.args_from += diff
            script.args_to += diff
    return args_type(updated)


def update_cn_script_in_processing(p: Any, cn_units: list[ControlNetUnit], **_kwargs: Any) -> None:
    p.script_args = update_cn_script(p.scripts, p.script_args_value, cn_units)


def get_models(update: bool = False) -> list[str]:
    if update:
        global_state.update_cn_models()
    return list(global_state.cn_models)


def get_modules(alias_names: bool = False) -> list[str]:
    return [p.label if alias_names else p.name for p in preprocessors.sorted_preprocessors()]
