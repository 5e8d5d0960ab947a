"""Forge's `lib_controlnet.global_state`: model names and the preprocessor registry."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

CN_MODEL_EXTS = (".pt", ".pth", ".ckpt", ".safetensors", ".bin", ".patch")


class Preprocessor:
    def __init__(self, name: str, tags: list[str], sorting_priority: int = 0) -> None:
        self.name = name
        self.tags = tags
        self.sorting_priority = sorting_priority


# Names, tags and priorities as Forge registers them (the families ADetailer drives, and a few).
supported_preprocessors: dict[str, Preprocessor] = {
    p.name: p
    for p in (
        Preprocessor("None", []),
        Preprocessor("inpaint_global_harmonious", ["Inpaint"]),
        Preprocessor("inpaint_only", ["Inpaint"]),
        Preprocessor("inpaint_only+lama", ["Inpaint"]),
        Preprocessor("lineart_standard (from white bg & black line)", ["Lineart"], 100),
        Preprocessor("invert (from white bg & black line)", ["Canny", "Lineart", "Scribble"], 20),
        Preprocessor("lineart_anime", ["Lineart"]),
        Preprocessor("lineart_anime_denoise", ["Lineart"]),
        Preprocessor("lineart_coarse", ["Lineart"]),
        Preprocessor("lineart_realistic", ["Lineart"]),
        Preprocessor("openpose_full", ["OpenPose"], 100),
        Preprocessor("dw_openpose_full", ["OpenPose"]),
        Preprocessor("openpose", ["OpenPose"]),
        Preprocessor("tile_resample", ["Tile"]),
        Preprocessor("tile_colorfix", ["Tile"]),
        Preprocessor("tile_colorfix+sharp", ["Tile"]),
        Preprocessor("blur_gaussian", ["Tile", "Blur"]),
        Preprocessor("scribble_pidinet", ["Scribble", "Sketch"], 100),
        Preprocessor("scribble_hed", ["Scribble", "Sketch"]),
        Preprocessor("depth_midas", ["Depth"], 100),
        Preprocessor("depth_hand_refiner", ["Depth"]),
        Preprocessor("depth_anything", ["Depth"]),
        Preprocessor("canny", ["Canny"], 100),
    )
}

controlnet_filename_dict: dict[str, str] = {"None": "model.safetensors"}
controlnet_names: list[str] = ["None"]


def get_preprocessor(name: str) -> Preprocessor | None:
    return supported_preprocessors.get(name)


def get_sorted_preprocessors() -> OrderedDict[str, Preprocessor]:
    others = [p for name, p in supported_preprocessors.items() if name != "None"]
    others.sort(key=lambda p: str(p.sorting_priority).zfill(8) + p.name, reverse=True)
    result = OrderedDict([("None", supported_preprocessors["None"])])
    result.update((p.name, p) for p in others)
    return result


def get_all_preprocessor_names() -> list[str]:
    return list(get_sorted_preprocessors())


def get_filtered_preprocessors(tag: str) -> dict[str, Preprocessor]:
    if tag == "All":
        return supported_preprocessors
    return {k: v for k, v in get_sorted_preprocessors().items() if tag in v.tags or k == "None"}


def get_filtered_preprocessor_names(tag: str) -> list[str]:
    return list(get_filtered_preprocessors(tag))


def get_all_controlnet_names() -> list[str]:
    return controlnet_names


def get_controlnet_filename(controlnet_name: str) -> str:
    return controlnet_filename_dict[controlnet_name]


def update_controlnet_filenames() -> None:
    """Forge's own models/ControlNet (or --controlnet-dir) and the settings' extra path."""
    from modules import paths, sd_models, shared

    global controlnet_filename_dict, controlnet_names
    folders = [
        getattr(shared.cmd_opts, "controlnet_dir", None)
        or os.path.join(paths.models_path, "ControlNet"),
        shared.opts.data.get("control_net_models_path", None),
    ]
    found: dict[str, str] = {"None": "model.safetensors"}
    for folder in folders:
        if not folder or not os.path.isdir(folder):
            continue
        files = [
            Path(root) / name
            for root, _, names in os.walk(folder)
            for name in names
            if os.path.splitext(name)[1] in CN_MODEL_EXTS
        ]
        for path in sorted(files, key=lambda f: f.name):
            if path.stem != "None":
                found[f"{path.stem} [{sd_models.model_hash(str(path))}]"] = str(path)
    controlnet_filename_dict = found
    controlnet_names = list(found)
