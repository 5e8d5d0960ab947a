"""ControlNet for the detail pass: which ControlNet is installed, its models and preprocessors.

A1111 uses the sd-webui-controlnet extension (through its `external_code` API); Forge has its own
built-in ControlNet (`lib_controlnet`). Without either, every other ADetailer option works.
"""

from __future__ import annotations

import importlib
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Literal

# Model families ADetailer can drive, and each family's preprocessors (the first is the default).
FAMILY_MODULES: dict[str, tuple[str, ...]] = {
    "inpaint": ("inpaint_global_harmonious", "inpaint_only", "inpaint_only+lama"),
    "lineart": ("lineart_coarse", "lineart_realistic", "lineart_anime", "lineart_anime_denoise"),
    "openpose": ("openpose_full", "dw_openpose_full"),
    "tile": ("tile_resample", "tile_colorfix", "tile_colorfix+sharp"),
    "scribble": ("t2ia_sketch_pidi",),
    "depth": ("depth_midas", "depth_hand_refiner"),
}
FAMILIES = (*FAMILY_MODULES, "union")
FAMILY_PATTERN = re.compile("|".join(FAMILIES), flags=re.IGNORECASE)
# Forge names its preprocessor groups with these tags.
FORGE_TAGS = {
    "inpaint": "Inpaint",
    "lineart": "Lineart",
    "openpose": "OpenPose",
    "tile": "Tile",
    "scribble": "Scribble",
    "depth": "Depth",
}

Kind = Literal["a1111", "forge"]


def family(model: str) -> str | None:
    """The family a model name belongs to ("inpaint_depth_hand" models are depth models)."""
    name = model.lower().replace("inpaint_depth", "depth")
    for candidate in ("inpaint", "lineart", "openpose", "tile", "scribble", "depth", "union"):
        if candidate in name:
            return candidate
    return None


@cache
def forge_modules() -> tuple[ModuleType, ModuleType] | None:
    """Forge's `lib_controlnet` (`external_code`, `global_state`), or None outside Forge."""
    try:
        from lib_controlnet import external_code, global_state  # type: ignore[import-not-found]
    except ImportError:
        return None
    return external_code, global_state


def a1111_extension_path() -> Path | None:
    """Where sd-webui-controlnet is installed and enabled, if it is."""
    from modules import extensions

    for extension in extensions.active():
        if extension.enabled and "sd-webui-controlnet" in extension.name:
            return Path(extension.path)
    return None


@cache
def a1111_external_code() -> ModuleType | None:
    """sd-webui-controlnet's `external_code`, imported through the `extensions` namespace package."""
    path = a1111_extension_path()
    if path is None:
        return None
    parent = path.resolve().parent
    if parent.name in ("extensions", "extensions-builtin") and str(parent.parent) not in sys.path:
        sys.path.append(str(parent.parent))  # --data-dir puts extensions outside the webui root
    try:
        return importlib.import_module(f"{parent.name}.{path.name}.scripts.external_code")
    except ImportError as exc:
        print(f"[-] ADetailer: ControlNet found at {path} but not usable: {exc}", file=sys.stderr)
        return None


def kind() -> Kind | None:
    if forge_modules() is not None:
        return "forge"
    if a1111_extension_path() is not None:
        return "a1111"
    return None


def controlnet_model_names() -> list[str]:
    """ControlNet models of the families ADetailer can drive, as ControlNet names them."""
    which = kind()
    if which == "forge":
        _, global_state = forge_modules()  # type: ignore[misc]
        names = [n for n in global_state.get_all_controlnet_names() if n != "None"]
    elif which == "a1111":
        external_code = a1111_external_code()
        names = list(external_code.get_models()) if external_code is not None else []
    else:
        names = []
    return [name for name in names if FAMILY_PATTERN.search(name)]


def module_choices(model: str) -> list[str]:
    """The preprocessors that fit a model's family; ["None"] when the model has no family."""
    which = family(model)
    if which is None:
        return ["None"]
    families = list(FAMILY_MODULES) if which == "union" else [which]
    if kind() == "forge":
        _, global_state = forge_modules()  # type: ignore[misc]
        names = [
            n
            for f in families
            for n in global_state.get_filtered_preprocessor_names(FORGE_TAGS[f])
            if n != "None"
        ]
        return list(dict.fromkeys(names)) or ["None"]
    return [m for f in families for m in FAMILY_MODULES[f]]


def default_module(model: str) -> str | None:
    """The preprocessor used when a tab leaves the module at "None"."""
    which = family(model)
    if which is None or which == "union":
        return None
    return module_choices(model)[0]
