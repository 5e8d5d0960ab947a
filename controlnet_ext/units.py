"""The ControlNet units of one detail pass.

A tab's ControlNet model decides what ControlNet does while ADetailer redraws a detection:

- "None": the user's own units are off (disabled copies in the detail pass's arguments);
- "Passthrough": the user's units run as they set them;
- a model: exactly one unit, ADetailer's, built for an inpaint pass (the other slots disabled).

The detail pass (`adetailer_webui.detail.build_inner_p`) already has its own copy of the script
runner, of its always-on script objects and of the script arguments; everything here writes
only to those copies, so the user's units, their runner and its argument slots are untouched.

A1111 (sd-webui-controlnet): the unit goes in through `external_code.update_cn_script_in_processing`.
It has no image: ControlNet then takes the detail pass's init image and, for inpaint
preprocessors, its mask, and crops both like the "only masked" pass does. The function resizes
the ControlNet slot to `control_net_unit_count` and shifts the slots of the scripts after it; it
does so on the detail pass's script copies, never on the user's runner.

Forge (`lib_controlnet`): there is no such function; the unit is written into the ControlNet
slot directly, and the other allowed scripts keep running (the original ADetailer ran
ControlNet alone). Forge's unit carries the image itself, in the format that Forge version reads
(`forge_takes_arrays`). Forge runs the preprocessor in its `process` hook, before the img2img
init crops anything, and never crops a unit's image to the "only masked" region (Forge 2.0.1):
the unit gets the detail pass's own crop (`detail_region`), or its control image would be the
whole picture squeezed into the face (the original ADetailer's #36).

A preprocessor that cannot run (its annotator weights cannot be downloaded, say) fails inside
ControlNet's `process` hook; the web UI would print a traceback and redraw without ControlNet.
`_guard` catches it in the detail pass's ControlNet copy: one line names the preprocessor, the
pass goes on without ControlNet, and the later detail passes of the generation do not try again.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps

from adetailer.args import CONTROLNET_PASSTHROUGH
from controlnet_ext import default_module, forge_modules, kind, resolve_model

if TYPE_CHECKING:
    from adetailer.args import TabArgs

NONE = "None"
TITLE = "controlnet"  # both ControlNets' script title, lower-cased
# sd-webui-controlnet keeps the un-hijacked function here while it hijacks process_images_inner
ORIGINAL_INNER = "__controlnet_original_process_images_inner"
# sd-webui-controlnet empties its loaded-model cache whenever its script object's
# `latest_model_hash` differs from the checkpoint's. The detail pass runs a copy of the user's
# object, which has none when the user runs no unit of their own, so every detection would load
# the ControlNet model from disk again; the copy gets what the previous detail pass left.
CACHE_KEY = "latest_model_hash"


Report = Callable[[str], None]


def prepare_inner_pass(p: Any, p2: Any, args: TabArgs, report: Report | None = None) -> None:
    """Give the detail pass `p2` the ControlNet units the tab (`args`) asks for.

    `p` is the generation: the place for this generation's one-time console notes. `report`
    receives the line about a ControlNet that failed in the pass (the console otherwise).
    """
    model = args.ad_controlnet_model
    if model in (None, "", CONTROLNET_PASSTHROUGH):
        _guard(p, p2, report)  # the user's own units run as they set them
        return
    if model == NONE:
        _disable_user_units(p2)
        return
    which = kind()
    if which is None:
        _note(p, "ControlNet is not installed; the detail passes run without it.")
        return
    model = resolve_model(model)
    module = _module(model, args.ad_controlnet_module)
    if module is None:
        _note(
            p,
            f"ControlNet model {model!r} needs a module (union models have no automatic one);"
            " ControlNet is off in that tab's detail passes.",
        )
        _disable_user_units(p2)
        return
    script = _controlnet_script(getattr(p2, "scripts", None))
    if script is None:
        _note(p, "ControlNet is not part of this generation; the detail passes run without it.")
        return
    if ((model, module),) in _failures(p):
        _disable_user_units(p2)  # it failed in an earlier pass of this generation: said once
        return
    if which == "a1111":
        _a1111_unit(p, p2, args, model, module)
    else:
        _forge_unit(p, p2, script, args, model, module)
    _guard(p, p2, report)


@contextlib.contextmanager
def batch_hijack_off() -> Iterator[None]:
    """Around a detail pass: sd-webui-controlnet's process_images_inner hijack is switched off.

    The hijack serves ControlNet's own batch mode; a nested pass going through it would be
    treated as the next batch image of the generation that is running. (ControlNet also hijacks
    `img2img.process_batch`, which a detail pass never calls.)
    """
    from modules import processing

    original = getattr(processing, ORIGINAL_INNER, None)
    if original is None:
        yield
        return
    hijacked = processing.process_images_inner
    processing.process_images_inner = original
    try:
        yield
    finally:
        processing.process_images_inner = hijacked


# --- which unit ------------------------------------------------------------------------------


def _module(model: str, module: str | None) -> str | None:
    """The tab's preprocessor; "None" means the family's default (none for union models)."""
    if module and module != NONE:
        return module
    return default_module(model)


def _is_inpaint(module: str) -> bool:
    """As both ControlNets decide whether a unit gets the mask: by its preprocessor's name."""
    return "inpaint" in module


def _settings(external_code: Any, args: TabArgs, model: str, module: str) -> dict[str, Any]:
    """What ADetailer's unit is, in both ControlNets' terms."""
    return {
        "enabled": True,
        "model": model,
        "module": module,
        "weight": args.ad_controlnet_weight,
        "guidance_start": args.ad_controlnet_guidance_start,
        "guidance_end": args.ad_controlnet_guidance_end,
        "control_mode": external_code.ControlMode.BALANCED,
        "pixel_perfect": True,  # the preprocessor resolution follows the crop, not the whole image
    }


def _a1111_unit(p: Any, p2: Any, args: TabArgs, model: str, module: str) -> None:
    from controlnet_ext import a1111_external_code

    external_code = a1111_external_code()
    if external_code is None:
        _note(p, "ControlNet could not be loaded; the detail passes run without it.")
        return
    try:
        unit = external_code.ControlNetUnit(**_settings(external_code, args, model, module))
    except Exception as exc:  # its validation: e.g. a preprocessor this ControlNet lacks
        _note(p, f"ControlNet refused the unit ({_first_line(exc)}); ControlNet is off.")
        _disable_user_units(p2)
        return
    external_code.update_cn_script_in_processing(p2, [unit])


def _forge_unit(p: Any, p2: Any, script: Any, args: TabArgs, model: str, module: str) -> None:
    external_code, _ = forge_modules()  # type: ignore[misc]
    slot = _slot(p2, script)
    if not slot:
        _note(p, "ControlNet has no unit slots here; the detail passes run without it.")
        return
    unit = external_code.ControlNetUnit(
        **_settings(external_code, args, model, module),
        resize_mode=external_code.resize_mode_from_value(p2.resize_mode),
        **_forge_image(external_code.ControlNetUnit, p2, _is_inpaint(module)),
    )
    _write_slot(p2, script, [unit, *(_disabled(arg) for arg in slot[1:])])


def forge_takes_arrays(unit_class: type) -> bool:
    """Whether this Forge reads `unit.image` as an HWC array (else as {"image", "mask"}).

    Forge switched to arrays with its move to gradio 4 (2024-07-26, "Gradio 4 + WebUI 1.10"),
    in the same change that added the `image_fg` field; older Forge and reForge have no
    `image_fg` and read the dict (the dict breaks current Forge: "'<' not supported between
    instances of 'dict' and 'int'"). The field is what this code can see; a version number or
    the gradio version would be a guess about it.
    """
    if dataclasses.is_dataclass(unit_class):
        return any(f.name == "image_fg" for f in dataclasses.fields(unit_class))
    return hasattr(unit_class, "image_fg")


def _forge_image(unit_class: type, p2: Any, inpaint: bool) -> dict[str, Any]:
    """The detail pass's image (and, for inpaint preprocessors, its mask) in the unit's format.

    In "only masked" mode that is the pass's crop; Forge would otherwise preprocess the whole
    picture. Without a mask a unit acts on the whole crop; an inpaint preprocessor needs to know
    what is redrawn, as in A1111.
    """
    region = detail_region(p2)
    if region is not None:
        source, source_mask = region
    else:
        source, source_mask = p2.init_images[0], p2.image_mask
    image = np.asarray(source.convert("RGB"))
    mask = None
    if inpaint and source_mask is not None:
        mask = np.asarray(source_mask.convert("L").convert("RGB"))
    if forge_takes_arrays(unit_class):
        return {"image": image, "mask_image": mask}
    return {"image": {"image": image, "mask": mask if mask is not None else np.zeros_like(image)}}


def detail_region(p2: Any) -> tuple[Image.Image, Image.Image] | None:
    """The init image and mask as the detail pass redraws them, or None in whole-picture mode.

    What A1111's (and Forge's) img2img init does for "inpaint only masked", with the web UI's own
    functions: the binary mask, blurred as the pass blurs it; its box grown by the padding and to
    the pass's aspect ratio; image and mask cropped to that box and resized to the pass's size.
    """
    if not getattr(p2, "inpaint_full_res", False) or getattr(p2, "image_mask", None) is None:
        return None
    from modules import images, masking, processing

    mask = processing.create_binary_mask(p2.image_mask, round=getattr(p2, "mask_round", True))
    if getattr(p2, "inpainting_mask_invert", 0):
        mask = ImageOps.invert(mask)
    mask = _blurred(mask, getattr(p2, "mask_blur_x", 0), getattr(p2, "mask_blur_y", 0))
    box = masking.get_crop_region_v2(mask, p2.inpaint_full_res_padding)
    if not box:
        return None
    box = masking.expand_crop_region(box, p2.width, p2.height, mask.width, mask.height)
    image = p2.init_images[0].convert("RGB").crop(box)
    image = images.resize_image(2, image, p2.width, p2.height)
    mask = images.resize_image(2, mask.crop(box), p2.width, p2.height).convert("L")
    return image, mask


def _blurred(mask: Image.Image, blur_x: int, blur_y: int) -> Image.Image:
    """The img2img init's mask blur: a Gaussian along x, then along y (kernel as A1111 sizes it)."""
    import cv2

    array = np.array(mask)
    if blur_x > 0:
        size = 2 * int(2.5 * blur_x + 0.5) + 1
        array = cv2.GaussianBlur(array, (size, 1), blur_x)
    if blur_y > 0:
        size = 2 * int(2.5 * blur_y + 0.5) + 1
        array = cv2.GaussianBlur(array, (1, size), blur_y)
    return Image.fromarray(array)


# --- a ControlNet that fails in the detail pass ------------------------------------------------


def _guard(p: Any, p2: Any, report: Report | None) -> None:
    """Catch a failure of ControlNet's `process` hook in the detail pass (see the module notes).

    Only the detail pass's copy of the script is wrapped; the user's script object is untouched.
    The copy also gets the model-cache key the previous detail pass left (`CACHE_KEY`).
    """
    script = _controlnet_script(getattr(p2, "scripts", None))
    if script is None:
        return
    units = _enabled_units(_slot(p2, script))
    if not units:
        return
    if units in _failures(p):
        _disable_user_units(p2)
        return
    carried = getattr(p, "_ad_controlnet_cache_key", None)
    if carried is not None and hasattr(script, CACHE_KEY):
        setattr(script, CACHE_KEY, carried)
    process = script.process

    def guarded(q: Any, *script_args: Any, **kwargs: Any) -> Any:
        try:
            result = process(q, *script_args, **kwargs)
        except Exception as exc:
            _failures(p).add(units)
            _disable_user_units(q)  # its later hooks in this pass see no unit to run
            message = _failure_line(exc, units)
            if report is None:
                _note(p, message)
            else:
                report(message)
            return None
        with contextlib.suppress(Exception):
            p._ad_controlnet_cache_key = getattr(script, CACHE_KEY)
        return result

    script.process = guarded


def _failure_line(exc: BaseException, units: tuple[tuple[str, str], ...]) -> str:
    modules = ", ".join(repr(module) for _, module in units)
    error = f"{type(exc).__name__}: {_first_line(exc)}"
    if _in_preprocessor(exc):
        what = f"ControlNet preprocessor {modules} could not run ({error})"
    else:
        models = ", ".join(repr(model) for model, _ in units)
        what = f"ControlNet failed ({error}; model {models}, preprocessor {modules})"
    return f"{what}; the detail passes run without ControlNet."


def _in_preprocessor(exc: BaseException) -> bool:
    """Whether the failure happened in a preprocessor (or its annotator), by its traceback.

    Both ControlNets keep preprocessors in files and functions named so: sd-webui-controlnet's
    `preprocess_input_image` and `annotator/`, Forge's `forge_preprocessor_*` and
    `forge_legacy_preprocessors/annotator/`.
    """
    for frame in traceback.extract_tb(exc.__traceback__):
        where = f"{frame.filename} {frame.name}".replace("\\", "/").lower()
        if "preprocess" in where or "/annotator/" in where:
            return True
    return False


def _failures(p: Any) -> set[tuple[tuple[str, str], ...]]:
    """The (model, module) unit sets that failed in this generation's detail passes."""
    failures = getattr(p, "_ad_controlnet_failures", None)
    if failures is None:
        failures = set()
        with contextlib.suppress(Exception):
            p._ad_controlnet_failures = failures
    return failures


def _enabled_units(slot: Sequence[Any]) -> tuple[tuple[str, str], ...]:
    """(model, module) of each enabled unit in a ControlNet slot (objects or API dicts).

    An API dict without "enabled" is a disabled unit in sd-webui-controlnet and an enabled one
    in Forge (their units' defaults).
    """
    enabled_by_default = kind() == "forge"
    units = []
    for arg in slot:
        if isinstance(arg, dict):
            if arg.get("enabled", enabled_by_default):
                units.append((str(arg.get("model")), str(arg.get("module"))))
        elif getattr(arg, "enabled", False):
            units.append((str(arg.model), str(arg.module)))
    return tuple(units)


# --- the ControlNet slot of the detail pass's arguments ----------------------------------------


def _controlnet_script(runner: Any) -> Any | None:
    if runner is None:
        return None
    for script in runner.alwayson_scripts:
        with contextlib.suppress(Exception):
            if script.title().lower() == TITLE:
                return script
    return None


def _slot(p2: Any, script: Any) -> list[Any]:
    args = p2.script_args
    if not isinstance(args, (list, tuple)):
        return []
    return list(args[script.args_from : script.args_to])


def _write_slot(p2: Any, script: Any, values: Sequence[Any]) -> None:
    """Same length as the slot: no script's argument range moves."""
    args = list(p2.script_args)
    args[script.args_from : script.args_to] = values
    p2.script_args = tuple(args) if isinstance(p2.script_args, tuple) else args


def _disable_user_units(p2: Any) -> None:
    script = _controlnet_script(getattr(p2, "scripts", None))
    if script is None:
        return  # ControlNet does not run in this detail pass at all
    slot = _slot(p2, script)
    if slot:
        _write_slot(p2, script, [_disabled(arg) for arg in slot])


def _disabled(arg: Any) -> Any:
    """A disabled copy of a unit (an object in the UI, a dict from the API); others unchanged."""
    if isinstance(arg, dict):
        return {**arg, "enabled": False}
    if hasattr(arg, "enabled"):
        unit = copy.copy(arg)
        unit.enabled = False
        return unit
    return arg


# --- console ---------------------------------------------------------------------------------


def _note(p: Any, message: str) -> None:
    """Once per generation: every detection's pass would repeat it."""
    notes = getattr(p, "_ad_controlnet_notes", None)
    if notes is None:
        notes = set()
        with contextlib.suppress(Exception):
            p._ad_controlnet_notes = notes
    if message in notes:
        return
    notes.add(message)
    from adetailer_webui import log

    log.warn(message)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())[:200]
