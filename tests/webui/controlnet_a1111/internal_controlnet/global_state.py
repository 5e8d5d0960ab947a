"""The model list: files found in the ControlNet model folders, named "<stem> [<hash>]"."""

from __future__ import annotations

import os
from pathlib import Path

MODEL_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors", ".bin")

cn_models: dict[str, str] = {}  # name -> path
extension_root = Path(__file__).resolve().parents[1]


def model_folders() -> list[Path]:
    from modules import paths, shared

    folders = [Path(paths.models_path) / "ControlNet", extension_root / "models"]
    extra = shared.opts.data.get("control_net_models_path", "")
    if extra:
        folders.append(Path(extra))
    if getattr(shared.cmd_opts, "controlnet_dir", None):
        folders.append(Path(shared.cmd_opts.controlnet_dir))
    return folders


def update_cn_models() -> None:
    from modules import sd_models, shared

    cn_models.clear()
    name_filter = str(shared.opts.data.get("control_net_models_name_filter", "")).strip().lower()
    found: list[Path] = []
    for folder in model_folders():
        if folder.is_dir():
            found += [
                Path(root) / name
                for root, _, names in os.walk(folder)
                for name in names
                if Path(name).suffix.lower() in MODEL_SUFFIXES
            ]
    for path in sorted(found, key=lambda f: f.name):
        if name_filter and name_filter not in path.name.lower():
            continue
        cn_models[f"{path.stem} [{sd_models.model_hash(str(path))}]"] = str(path)
