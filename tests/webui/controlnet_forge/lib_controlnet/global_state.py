"""Forge's `lib_controlnet.global_state`: model names and the preprocessor registry."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

from lib_controlnet.supported_preprocessor import Preprocessor

CN_MODEL_EXTS = (".pt", ".pth", ".ckpt", ".safetensors", ".bin", ".patch")


OPENPOSE = ("openpose", "body_pose_model.pth")
# Names, tags and priorities as Forge registers them (the families ADetailer drives, and a few),
# and the annotator weights of those that need some.
supported_preprocessors: dict[str, Preprocessor] = {
    p.name: p
    for p in (
        Preprocessor("None", []),
        Preprocessor("inpaint_global_harmonious", ["Inpaint"]),
        Preprocessor("inpaint_only", ["Inpaint"]),
        Preprocessor("inpaint_only+lama", ["Inpaint"], weights=("lama", "ControlNetLama.pth")),
        Preprocessor("lineart_standard (from white bg & black line)", ["Lineart"], 100),
        Preprocessor("invert (from white bg & black line)", ["Canny", "Lineart", "Scribble"], 20),
        Preprocessor("lineart_anime", ["Lineart"], weights=("lineart_anime", "netG.pth")),
        Preprocessor("lineart_anime_denoise", ["Lineart"], weights=("manga_line", "erika.pth")),
        Preprocessor("lineart_coarse", ["Lineart"], weights=("lineart", "sk_model2.pth")),
        Preprocessor("lineart_realistic", ["Lineart"], weights=("lineart", "sk_model.pth")),
        Preprocessor("openpose_full", ["OpenPose"], 100, weights=OPENPOSE),
        Preprocessor(
            "dw_openpose_full", ["OpenPose"], weights=("openpose", "dw-ll_ucoco_384.onnx")
        ),
        Preprocessor("openpose", ["OpenPose"], weights=OPENPOSE),
        Preprocessor("tile_resample", ["Tile"]),
        Preprocessor("tile_colorfix", ["Tile"]),
        Preprocessor("tile_colorfix+sharp", ["Tile"]),
        Preprocessor("blur_gaussian", ["Tile", "Blur"]),
        Preprocessor("scribble_pidinet", ["Scribble", "Sketch"], 100, ("pidinet", "table5.pth")),
        Preprocessor("scribble_hed", ["Scribble", "Sketch"], weights=("hed", "hed.pth")),
        Preprocessor("depth_midas", ["Depth"], 100, ("midas", "dpt_hybrid-midas-501f0c75.pt")),
        Preprocessor("depth_hand_refiner", ["Depth"], weights=("hand_refiner", "hr16.pth")),
        Preprocessor("depth_anything", ["Depth"], weights=("depth_anything", "vitl14.pth")),
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
