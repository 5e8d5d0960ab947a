"""ControlNet for the detail pass: which ControlNet is installed, its models and preprocessors.

A1111 uses the sd-webui-controlnet extension (through its `external_code` API); Forge has its own
built-in ControlNet (`lib_controlnet`). Without either, every other ADetailer option works.
`controlnet_ext.units` gives each detail pass the ControlNet units its tab asks for.

Nothing here is cached for the process: which ControlNet is installed is asked again each time
(an import that already happened is a dictionary lookup), so a web UI that restarts its scripts,
and the tests' web UIs, see what is installed now.
"""

from __future__ import annotations

import importlib
import re
import sys
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

_reported: set[str] = set()  # import failures already printed


def family(model: str) -> str | None:
    """The family a model name belongs to ("inpaint_depth_hand" models are depth models)."""
    name = model.lower().replace("inpaint_depth", "depth")
    for candidate in FAMILIES:  # in this order: the first family named wins
        if candidate in name:
            return candidate
    return None


def forge_modules() -> tuple[ModuleType, ModuleType] | None:
    """Forge's `lib_controlnet` (`external_code`, `global_state`), or None outside Forge.

    Forge keeps every extension folder on sys.path, so its built-in ControlNet's package imports
    from anywhere; in A1111 the import fails.
    """
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
        if str(path) not in _reported:
            _reported.add(str(path))
            from adetailer_webui import log

            log.warn(f"ControlNet found at {path} but not usable: {exc}")
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


def model_aliases(names: list[str]) -> dict[str, str]:
    """A listed name's file stem ("control_v11p_sd15_openpose" for "... [cab727d4]") -> the name.

    sd-webui-controlnet takes a stem for the listed name, Forge does not; API clients and old
    infotexts name models both ways. A stem two files share is no alias.
    """
    stems: dict[str, list[str]] = {}
    for name in names:
        stems.setdefault(name.rsplit(" [", 1)[0], []).append(name)
    return {
        stem: found[0] for stem, found in stems.items() if len(found) == 1 and stem not in names
    }


def resolve_model(model: str) -> str:
    """The listed name for a model named by its stem; any other name unchanged."""
    return model_aliases(controlnet_model_names()).get(model, model)


def module_names() -> list[str] | None:
    """Every preprocessor name the installed ControlNet accepts (and "None"); None without one."""
    which = kind()
    if which == "forge":
        _, global_state = forge_modules()  # type: ignore[misc]
        return ["None", *global_state.get_all_preprocessor_names()]
    external_code = a1111_external_code() if which == "a1111" else None
    if external_code is None:
        return None
    # sd-webui-controlnet accepts a preprocessor's name or its label ("inpaint" is shown as
    # "inpaint_global_harmonious")
    names = [*external_code.get_modules(), *external_code.get_modules(alias_names=True)]
    return list(dict.fromkeys(["None", *names]))


def module_choices(model: str) -> list[str]:
    """The preprocessors that fit a model's family; ["None"] when the model has no family.

    Forge lists its own preprocessors for the family; the one A1111 starts with comes first when
    Forge has it too (Forge would start with e.g. "inpaint_only+lama"), so a tab left at auto
    gets the same preprocessor on both.
    """
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
        names = list(dict.fromkeys(names))
        if which != "union" and FAMILY_MODULES[which][0] in names:
            names.remove(FAMILY_MODULES[which][0])
            names.insert(0, FAMILY_MODULES[which][0])
        return names or ["None"]
    return [m for f in families for m in FAMILY_MODULES[f]]


def default_module(model: str) -> str | None:
    """The preprocessor used when a tab leaves the module at "None" (auto).

    Union models have none: they serve every family, and which preprocessor fits is the user's
    choice (see `units`).
    """
    which = family(model)
    if which is None or which == "union":
        return None
    return module_choices(model)[0]


# Imported now, while A1111 has the extension folder on sys.path (later imports would fail).
from controlnet_ext import units  # noqa: E402, F401
