"""The fake Forge ControlNet's always-on script "ControlNet", following Forge 2.0.1
(dfdcbab6, "2.0.1v1.10.1"; reForge at 3b56b268 where they differ, see ../README.md)."""

# No `from __future__ import annotations`: script modules are not in sys.modules, and dataclasses
# look string annotations up there.
import copy
from dataclasses import dataclass, field
from typing import Any

import cv2
import gradio as gr
import numpy as np
from lib_controlnet import external_code, global_state
from lib_controlnet.external_code import ControlNetUnit
from modules import images, masking, processing, script_callbacks, scripts, shared
from PIL import Image, ImageOps


@dataclass
class Seen:
    """What one `process` call of the script saw, and the input each unit resolved to."""

    p: Any
    units: list[ControlNetUnit] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    masks: list[np.ndarray | None] = field(default_factory=list)

    @property
    def inner(self) -> bool:
        """ADetailer's detail pass (it marks its p)."""
        return bool(getattr(self.p, "_ad_inner", False))


calls: list[Seen] = []


def _hwc3(x: np.ndarray) -> np.ndarray:
    assert x.dtype == np.uint8, x.dtype
    if x.ndim == 2:
        x = x[:, :, None]
    if x.shape[2] == 1:
        return np.concatenate([x] * 3, axis=2)
    return x[:, :, :3]


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


def try_crop_image_with_a1111_mask(
    p: Any, image: np.ndarray, resize_mode: external_code.ResizeMode
) -> np.ndarray:
    """In an "only masked" img2img, any input is cut to the pass's crop (Forge 2.0.1 does it as
    sd-webui-controlnet does: the box of the blurred A1111 mask, padded, widened to the pass's
    aspect ratio)."""
    mask = getattr(p, "image_mask", None)
    only_masked = (
        isinstance(p, processing.StableDiffusionProcessingImg2Img)
        and p.inpaint_full_res
        and mask is not None
    )
    if not only_masked:
        return image
    mask = prepare_mask(mask, p)
    box = masking.get_crop_region(np.array(mask), p.inpaint_full_res_padding)
    box = masking.expand_crop_region(box, p.width, p.height, mask.width, mask.height)
    channels = []
    for i in range(image.shape[2]):
        channel = Image.fromarray(image[:, :, i])
        channel = images.resize_image(resize_mode.int_value(), channel, mask.width, mask.height)
        channel = images.resize_image(
            external_code.ResizeMode.OUTER_FIT.int_value(), channel.crop(box), p.width, p.height
        )
        channel = np.asarray(channel)
        channels.append(channel[:, :, 0] if channel.ndim == 3 else channel)
    return np.stack(channels, axis=2)


def _input(p: Any, unit: ControlNetUnit) -> tuple[np.ndarray, np.ndarray | None]:
    """The image and mask a unit works on, cut to an "only masked" pass's crop."""
    image, mask = _chosen_input(p, unit)
    if unit.image is None:
        resize_mode = external_code.resize_mode_from_value(p.resize_mode)
    else:
        resize_mode = external_code.resize_mode_from_value(unit.resize_mode)
    image = try_crop_image_with_a1111_mask(p, image, resize_mode)
    if mask is not None:  # as Forge does: to the cut image's size first, then cut
        mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
        mask = try_crop_image_with_a1111_mask(p, mask, resize_mode)
    return image, mask


def _chosen_input(p: Any, unit: ControlNetUnit) -> tuple[np.ndarray, np.ndarray | None]:
    """The image and mask a unit works on, by the rules of the variant in use."""
    if unit.image is None:
        image = getattr(p, "init_images", [None])[0]
        if image is None:
            raise ValueError("controlnet is enabled but no input image is given")
        mask = getattr(p, "image_mask", None)
        return _hwc3(np.asarray(image)), None if mask is None else _hwc3(np.asarray(mask))
    if external_code.VARIANT == "forge":
        fg = unit.image_fg[:, :, 3] if unit.image_fg is not None else None
        # a dict image fails right here, as in Forge
        image = fg if (unit.image < 5).all() and (fg > 5).any() else unit.image
        mask = None
        if unit.mask_image is not None and (unit.mask_image > 5).any():
            mask = unit.mask_image
        elif fg is not None and (fg > 5).any():
            mask = fg
    else:
        if (unit.image["image"] < 5).all() and (unit.image["mask"] > 5).any():
            image = unit.image["mask"]
        else:
            image = unit.image["image"]
        mask = unit.image["mask"] if (unit.image["mask"] > 5).any() else None
    if not isinstance(image, np.ndarray):
        raise ValueError("controlnet is enabled but no input image is given")
    return _hwc3(image), None if mask is None else _hwc3(mask)


class ControlNetForForgeOfficial(scripts.Script):
    sorting_priority = 10

    def __init__(self) -> None:
        super().__init__()
        self.current_params: dict[int, Any] = {}

    def title(self) -> str:
        return "ControlNet"

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible

    def ui(self, is_img2img: bool) -> tuple:
        count = shared.opts.data.get("control_net_unit_count", 3)
        default = ControlNetUnit(enabled=False, module="None", model="None")
        with gr.Group(elem_id=("img2img" if is_img2img else "txt2img") + "_controlnet"):
            return tuple(gr.State(copy.copy(default)) for _ in range(count))

    def get_enabled_units(self, units: Any) -> list[ControlNetUnit]:
        units = [ControlNetUnit.from_dict(u) if isinstance(u, dict) else u for u in units]
        assert all(isinstance(unit, ControlNetUnit) for unit in units)
        return [unit for unit in units if unit.enabled]

    def process(self, p: Any, *args: Any, **kwargs: Any) -> None:
        """`process_unit_after_click_generate` per unit, in its order: the input (cut to an
        "only masked" pass's crop), the preprocessor, then the model."""
        self.current_params = {}
        seen = Seen(p)
        calls.append(seen)
        for index, unit in enumerate(self.get_enabled_units(args)):
            preprocessor = global_state.get_preprocessor(unit.module)
            if preprocessor is None:
                raise KeyError(f"preprocessor {unit.module!r}")
            image, mask = _input(p, unit)
            detected = preprocessor(
                input_image=image, input_mask=mask, resolution=unit.processor_res
            )
            if unit.save_detected_map:  # Forge returns these beside the generation's images
                _extra_result_images(p).append(detected)
            assert unit.model != "None", "You have not selected any control model!"
            global_state.get_controlnet_filename(unit.model)  # KeyError for an unknown model
            self.current_params[index] = (unit.model, unit.module)
            seen.units.append(copy.copy(unit))
            seen.images.append(image)
            seen.masks.append(mask)

    def process_before_every_sampling(self, p: Any, *args: Any, **kwargs: Any) -> None:
        for index, _ in enumerate(self.get_enabled_units(args)):
            self.current_params[index]

    def postprocess_batch_list(self, p: Any, pp: Any, *args: Any, **kwargs: Any) -> None:
        for index, _ in enumerate(self.get_enabled_units(args)):
            self.current_params[index]

    def postprocess(self, p: Any, processed: Any, *args: Any) -> None:
        self.current_params = {}


def _on_ui_settings() -> None:
    section = ("control_net", "ControlNet")
    for key, default, label in (
        ("control_net_models_path", "", "Extra path to scan for ControlNet models"),
        ("control_net_unit_count", 3, "Multi-ControlNet: ControlNet unit number"),
        ("control_net_allow_script_control", False, "Allow other script to control this extension"),
        ("control_net_sync_field_args", True, "Paste ControlNet parameters in infotext"),
    ):
        shared.opts.add_option(key, shared.OptionInfo(default, label, section=section))


global_state.update_controlnet_filenames()
script_callbacks.on_ui_settings(_on_ui_settings)


def _extra_result_images(p: Any) -> list[Any]:
    """Forge's `p.extra_result_images` (its StableDiffusionProcessing.__init__ makes the list;
    the A1111 1.10 test double has no such field, so it is made on first use)."""
    if not isinstance(getattr(p, "extra_result_images", None), list):
        p.extra_result_images = []
    return p.extra_result_images
