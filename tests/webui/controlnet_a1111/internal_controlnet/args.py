"""`ControlNetUnit`: sd-webui-controlnet's unit, a pydantic (v1-style) model that validates itself."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, root_validator, validator

from internal_controlnet import preprocessors
from internal_controlnet.enums import ControlMode, HiResFixOption, InputMode, ResizeMode

RESIZE_MODE_ALIASES = {
    "Inner Fit (Scale to Fit)": "Crop and Resize",
    "Outer Fit (Shrink to Fit)": "Resize and Fill",
    "Scale to Fit (Inner Fit)": "Crop and Resize",
    "Envelope (Outer Fit)": "Resize and Fill",
}
LEGACY_ALIASES = {"guidance": "guidance_end", "lowvram": "low_vram", "input_image": "image"}


class ControlNetUnit(BaseModel):
    class Config:
        arbitrary_types_allowed = True
        extra = "ignore"

    is_ui: bool = False
    input_mode: InputMode = InputMode.SIMPLE
    batch_images: Any | None = None
    output_dir: str = ""
    loopback: bool = False
    enabled: bool = False
    module: str = "none"
    model: str = "None"
    weight: float = Field(1.0, ge=0.0, le=2.0)
    image: Any | None = None
    resize_mode: ResizeMode = ResizeMode.INNER_FIT
    low_vram: bool = False
    processor_res: int = -1
    threshold_a: float = -1
    threshold_b: float = -1
    guidance_start: float = Field(0.0, ge=0.0, le=1.0)
    guidance_end: float = Field(1.0, ge=0.0, le=1.0)
    pixel_perfect: bool = False
    control_mode: ControlMode = ControlMode.BALANCED
    inpaint_crop_input_image: bool = True
    hr_option: HiResFixOption = HiResFixOption.BOTH
    save_detected_map: bool = True
    advanced_weighting: list[float] | None = None
    effective_region_mask: Any | None = None
    mask: Any | None = None

    @validator("module", always=True, pre=True)
    def _known_module(cls, value: Any) -> Any:  # noqa: N805
        if not isinstance(value, str) or preprocessors.get_preprocessor(value) is None:
            raise ValueError(f"module({value}) not found in supported modules.")
        return value

    @validator("resize_mode", always=True, pre=True)
    def _resize_mode(cls, value: Any) -> ResizeMode:  # noqa: N805
        if isinstance(value, str):
            return ResizeMode(RESIZE_MODE_ALIASES.get(value, value))
        assert isinstance(value, ResizeMode)
        return value

    @root_validator(skip_on_failure=True)
    def _guidance(cls, values: dict[str, Any]) -> dict[str, Any]:  # noqa: N805
        start, end = values.get("guidance_start"), values.get("guidance_end")
        if start > end:
            raise ValueError(f"guidance_start({start}) > guidance_end({end})")
        return values

    @property
    def is_inpaint(self) -> bool:
        return "inpaint" in self.module

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ControlNetUnit:
        values = dict(values)
        for alias, key in LEGACY_ALIASES.items():
            if alias in values:
                assert key not in values, f"Conflict of field '{alias}' and '{key}'"
                values[key] = values.pop(alias)
        if values.get("mask_image") is not None:
            if values.get("mask") is not None:
                raise ValueError("Cannot specify both 'mask' and 'mask_image'!")
            values["mask"] = values["mask_image"]
        return cls(**values)

    def __copy__(self) -> ControlNetUnit:
        return self.copy()
