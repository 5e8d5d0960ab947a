"""Forge's `lib_controlnet.external_code`: enums, helpers and the `ControlNetUnit` dataclass."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

import numpy as np
from modules import shared

from lib_controlnet.enums import HiResFixOption, InputMode

VARIANT = os.environ.get("FAKE_FORGE_CONTROLNET", "forge")
if VARIANT not in ("forge", "reforge"):
    raise ValueError(f"FAKE_FORGE_CONTROLNET={VARIANT!r}: expected 'forge' or 'reforge'")


def get_api_version() -> int:
    return 2


class ControlMode(Enum):
    BALANCED = "Balanced"
    PROMPT = "My prompt is more important"
    CONTROL = "ControlNet is more important"


class BatchOption(Enum):
    DEFAULT = "All ControlNet units for all images in a batch"
    SEPARATE = "Each ControlNet unit for each image in a batch"


class ResizeMode(Enum):
    RESIZE = "Just Resize"
    INNER_FIT = "Crop and Resize"
    OUTER_FIT = "Resize and Fill"

    def int_value(self) -> int:
        return list(ResizeMode).index(self)


def resize_mode_from_value(value: str | int | ResizeMode) -> ResizeMode:
    if isinstance(value, str):
        return ResizeMode(value)
    if isinstance(value, int):
        assert value >= 0
        if value == 3 or value >= len(ResizeMode):
            return ResizeMode.RESIZE
        return list(ResizeMode)[value]
    return value


def control_mode_from_value(value: str | int | ControlMode) -> ControlMode:
    if isinstance(value, str):
        return ControlMode(value)
    if isinstance(value, int):
        return list(ControlMode)[value]
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


@dataclass
class _Common:
    input_mode: InputMode = InputMode.SIMPLE
    use_preview_as_input: bool = False
    batch_image_dir: str = ""
    batch_mask_dir: str = ""
    batch_input_gallery: list[str] | None = None
    batch_mask_gallery: list[str] | None = None
    generated_image: np.ndarray | None = None
    mask_image: Any | None = None


if VARIANT == "forge":

    @dataclass
    class ControlNetUnit(_Common):
        mask_image_fg: Any | None = None
        hr_option: HiResFixOption | int | str = HiResFixOption.BOTH
        enabled: bool = True
        module: str = "None"
        model: str = "None"
        weight: float = 1.0
        image: Any | None = None  # HWC array
        image_fg: Any | None = None  # HWC RGBA array (a sketch on top of the image)
        resize_mode: ResizeMode | int | str = ResizeMode.INNER_FIT
        processor_res: int = -1
        threshold_a: float = -1
        threshold_b: float = -1
        guidance_start: float = 0.0
        guidance_end: float = 1.0
        pixel_perfect: bool = False
        control_mode: ControlMode | int | str = ControlMode.BALANCED
        save_detected_map: bool = True

        @staticmethod
        def from_dict(d: dict[str, Any]) -> ControlNetUnit:
            known = {f.name for f in fields(ControlNetUnit)}
            return ControlNetUnit(**{k: v for k, v in d.items() if k in known})

else:

    @dataclass
    class ControlNetUnit(_Common):  # type: ignore[no-redef]
        hr_option: HiResFixOption = HiResFixOption.BOTH
        enabled: bool = True
        module: str = "None"
        model: str = "None"
        weight: float = 1.0
        image: Any | None = None  # {"image": HWC array, "mask": HWC array}
        resize_mode: ResizeMode = ResizeMode.INNER_FIT
        processor_res: int = -1
        threshold_a: float = -1
        threshold_b: float = -1
        guidance_start: float = 0.0
        guidance_end: float = 1.0
        pixel_perfect: bool = False
        control_mode: ControlMode = ControlMode.BALANCED
        advanced_weighting: list[float] | None = None
        save_detected_map: bool = True

        @staticmethod
        def from_dict(d: dict[str, Any]) -> ControlNetUnit:
            known = {f.name for f in fields(ControlNetUnit)}
            unit = ControlNetUnit(**{k: v for k, v in d.items() if k in known})
            unit.resize_mode = resize_mode_from_value(unit.resize_mode)
            unit.control_mode = control_mode_from_value(unit.control_mode)
            return unit


UiControlNetUnit = ControlNetUnit


def get_max_models_num() -> int:
    return shared.opts.data.get("control_net_unit_count", 3)
