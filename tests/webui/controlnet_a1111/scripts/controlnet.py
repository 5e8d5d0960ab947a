"""The fake sd-webui-controlnet's always-on script "ControlNet", following sd-webui-controlnet
v1.1.455 (56cec5b2) in A1111 1.10.1 (see ../README.md)."""

# No `from __future__ import annotations`: script modules are not in sys.modules, and dataclasses
# look string annotations up there.
import base64
import copy
import io
from dataclasses import dataclass, field
from typing import Any

import cv2
import gradio as gr
import numpy as np
from internal_controlnet import external_code, global_state, preprocessors
from internal_controlnet.args import ControlNetUnit
from internal_controlnet.enums import ResizeMode
from modules import images, masking, processing, script_callbacks, scripts, shared
from PIL import Image, ImageOps

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
    """What one `process` call of the script saw, and the input image each unit was given
    (RGB; RGBA with the mask as alpha for inpaint preprocessors), after the "only masked" crop."""

    p: Any
    units: list[ControlNetUnit] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)

    @property
    def inner(self) -> bool:
        """ADetailer's detail pass (it marks its p)."""
        return bool(getattr(self.p, "_ad_inner", False))


calls: list[Seen] = []
hijack_calls: list[Any] = []
model_cache: dict[str, str] = {}  # the real `Script.model_cache`: loaded models by name
model_loads: list[str] = []  # every model loaded from its file


def _hwc3(x: np.ndarray) -> np.ndarray:
    """annotator.util.HWC3: gray to RGB; RGBA composited over white."""
    if x.ndim == 2:
        x = x[:, :, None]
    if x.shape[2] == 1:
        return np.concatenate([x] * 3, axis=2)
    if x.shape[2] == 4:
        alpha = x[:, :, 3:4].astype(np.float32) / 255.0
        return (x[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).clip(0, 255).astype(np.uint8)
    return x


def _array(value: Any) -> np.ndarray:
    """An image as the API or the UI gives it: base64 text, PIL image or array."""
    if isinstance(value, str):
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(value.split(",")[-1]))))
    return np.asarray(value)


def prepare_mask(mask: Image.Image, p: Any) -> Image.Image:
    """The A1111 mask as ControlNet uses it: gray, inverted if asked, blurred as the pass blurs it."""
    mask = mask.convert("L")
    if getattr(p, "inpainting_mask_invert", False):
        mask = ImageOps.invert(mask)
    array = np.array(mask)
    for blur, axis in ((getattr(p, "mask_blur_x", 0), 0), (getattr(p, "mask_blur_y", 0), 1)):
        if blur > 0:
            size = 2 * int(2.5 * blur + 0.5) + 1
            array = cv2.GaussianBlur(array, (size, 1) if axis == 0 else (1, size), blur)
    return Image.fromarray(array)


def choose_input_image(p: Any, unit: ControlNetUnit) -> tuple[np.ndarray, ResizeMode]:
    """The unit's image, else the img2img init image (+ the A1111 mask as alpha for inpaint)."""
    resize_mode = unit.resize_mode
    if unit.image is not None:
        value = unit.image
        image = _hwc3(_array(value["image"] if isinstance(value, dict) else value))
        if not unit.is_inpaint:
            return image, resize_mode
        mask = _array(value["mask"]) if isinstance(value, dict) else np.zeros_like(image)
        return np.concatenate([image, _hwc3(mask)[:, :, :1]], axis=2), resize_mode
    init = (getattr(p, "init_images", None) or [None])[0]
    if init is None:
        raise ValueError("controlnet is enabled but no input image is given")
    image = _hwc3(np.asarray(init))
    resize_mode = external_code.resize_mode_from_value(p.resize_mode)
    if unit.is_inpaint:
        mask = getattr(p, "image_mask", None)
        alpha = (
            np.array(prepare_mask(mask, p))
            if mask is not None
            else np.zeros(image.shape[:2], dtype=np.uint8)
        )
        image = np.concatenate([image[:, :, :3], alpha[:, :, None]], axis=2)
    return image, resize_mode


def try_crop_image_with_a1111_mask(
    p: Any, unit: ControlNetUnit, image: np.ndarray, resize_mode: ResizeMode
) -> np.ndarray:
    """In an "only masked" img2img, any input image is cut to the pass's crop, as A1111 crops."""
    mask = getattr(p, "image_mask", None)
    only_masked = (
        isinstance(p, processing.StableDiffusionProcessingImg2Img)
        and p.inpaint_full_res
        and mask is not None
    )
    if "reference" in unit.module or not only_masked or not unit.inpaint_crop_input_image:
        return image
    mask = prepare_mask(mask, p)
    box = masking.get_crop_region(np.array(mask), p.inpaint_full_res_padding)
    box = masking.expand_crop_region(box, p.width, p.height, mask.width, mask.height)
    channels = []
    for i in range(image.shape[2]):
        channel = Image.fromarray(image[:, :, i])
        channel = images.resize_image(resize_mode.int_value(), channel, mask.width, mask.height)
        channel = images.resize_image(
            ResizeMode.OUTER_FIT.int_value(), channel.crop(box), p.width, p.height
        )
        channel = np.asarray(channel)
        channels.append(channel[:, :, 0] if channel.ndim == 3 else channel)
    return np.stack(channels, axis=2)


def preprocess_input_image(unit: ControlNetUnit, image: np.ndarray) -> np.ndarray:
    """Runs the unit's preprocessor (one that needs annotator weights loads them first)."""
    return preprocessors.get_preprocessor(unit.module)(image)


def load_control_model(model: str) -> None:
    if model in model_cache:
        return
    name = find_closest_model_name(model)
    path = global_state.cn_models.get(name) if name else None
    if path is None:
        raise RuntimeError(f"model not found: {model}")
    model_loads.append(model)
    model_cache[model] = path


def find_closest_model_name(search: str) -> str | None:
    """A listed name, a file stem (any case) or the shortest stem containing it."""
    if search in global_state.cn_models:
        return search
    stems = {name.rsplit(" [", 1)[0].lower(): name for name in global_state.cn_models}
    search = search.lower()
    if search in stems:
        return stems[search]
    found = sorted((s for s in stems if search in s), key=len)
    return stems[found[0]] if found else None


def check_sd_version_compatible(unit: ControlNetUnit) -> None:
    """By the model's name, as the real one guesses it: sd14/15/16 = SD1, "xl" = SDXL."""
    name = unit.model.lower()
    if any(f"sd{v}" in name for v in ("14", "15", "16")):
        version = "SD1x"
    elif "xl" in name:
        version = "SDXL"
    else:
        return
    current = "SDXL" if shared.sd_model.is_sdxl else "SD1x"
    if version != current:
        raise Exception(
            f"ControlNet model {unit.model}({version}) is not compatible with sd model({current})"
        )


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
        self.latest_model_hash = ""

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
        """`controlnet_main_entry`, in its order: units, model cache, then per unit the version
        check, the inpaint_only fallback, the model, the input image and the preprocessor."""
        self.enabled_units = self.get_enabled_units(p)
        seen = Seen(p)
        calls.append(seen)
        if not self.enabled_units:
            return
        if self.latest_model_hash != p.sd_model.sd_model_hash:
            model_cache.clear()
        self.latest_model_hash = p.sd_model.sd_model_hash
        for unit in self.enabled_units:
            check_sd_version_compatible(unit)
            if (
                unit.module == "inpaint_only"
                and isinstance(p, processing.StableDiffusionProcessingImg2Img)
                and p.image_mask is not None
            ):
                print(
                    "A1111 inpaint and ControlNet inpaint duplicated. "
                    "Falls back to inpaint_global_harmonious."
                )
                unit.module = "inpaint"
            load_control_model(unit.model)
            image, resize_mode = choose_input_image(p, unit)
            image = try_crop_image_with_a1111_mask(p, unit, image, resize_mode)
            preprocess_input_image(unit, image)
            seen.units.append(copy.copy(unit))
            seen.images.append(image)

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
