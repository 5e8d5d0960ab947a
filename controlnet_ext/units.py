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
(`forge_takes_arrays`): the pass's whole init image and, for inpaint preprocessors, its mask;
Forge 2.0.1, like sd-webui-controlnet, cuts both to the "only masked" crop itself.

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

    Forge cuts both to the "only masked" crop itself, from the pass's own mask and padding (the
    crop handed in would be cut again). Without a mask a unit acts on the whole crop; an inpaint
    preprocessor needs to know what is redrawn, as in A1111.
    """
    image = np.asarray(p2.init_images[0].convert("RGB"))
    mask = None
    if inpaint and p2.image_mask is not None:
        mask = np.asarray(p2.image_mask.convert("L").convert("RGB"))
    if forge_takes_arrays(unit_class):
        return {"image": image, "mask_image": mask}
    return {"image": {"image": image, "mask": mask if mask is not None else np.zeros_like(image)}}


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
    """The error on one line, cut at a word (with "…", so a cut quote reads as cut) past 200."""
    text = " ".join((str(exc).strip() or type(exc).__name__).split())
    if len(text) <= 200:
        return text
    return text[:200].rsplit(" ", 1)[0] + " …"
