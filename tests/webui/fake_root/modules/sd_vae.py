"""``modules.sd_vae``: VAE discovery and resolution; loads are recorded in ``vae_loads`` (test hook)."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from modules import paths, script_callbacks, shared

vae_path = os.path.abspath(os.path.join(paths.models_path, "VAE"))
vae_ignore_keys = {"model_ema.decay", "model_ema.num_updates"}
vae_dict: dict[str, str] = {}

base_vae = None
loaded_vae_file: str | None = None
checkpoint_info = None

vae_loads: list[str | None] = []
"""Test hook: the file of every VAE load (None = the checkpoint's own VAE)."""


def get_loaded_vae_name() -> str | None:
    if loaded_vae_file is None:
        return None
    return os.path.basename(loaded_vae_file)


def get_loaded_vae_hash() -> str | None:
    if loaded_vae_file is None:
        return None

    from modules import sd_models

    sha256 = sd_models.sha256(loaded_vae_file)
    return sha256[0:10] if sha256 else None


def get_base_vae(model):
    if base_vae is not None and checkpoint_info == model.sd_checkpoint_info and model:
        return base_vae
    return None


def store_base_vae(model) -> None:
    global base_vae, checkpoint_info
    if checkpoint_info != model.sd_checkpoint_info:
        base_vae = None
        checkpoint_info = model.sd_checkpoint_info


def delete_base_vae() -> None:
    global base_vae, checkpoint_info
    base_vae = None
    checkpoint_info = None


def restore_base_vae(model) -> None:
    global loaded_vae_file
    if base_vae is not None and checkpoint_info == model.sd_checkpoint_info:
        loaded_vae_file = None
    delete_base_vae()


def get_filename(filepath: str) -> str:
    return os.path.basename(filepath)


def refresh_vae_list() -> None:
    from modules import sd_models

    vae_dict.clear()

    patterns = [
        os.path.join(sd_models.model_path, "**/*.vae.ckpt"),
        os.path.join(sd_models.model_path, "**/*.vae.pt"),
        os.path.join(sd_models.model_path, "**/*.vae.safetensors"),
        os.path.join(vae_path, "**/*.ckpt"),
        os.path.join(vae_path, "**/*.pt"),
        os.path.join(vae_path, "**/*.safetensors"),
    ]
    if shared.cmd_opts.vae_dir is not None and os.path.isdir(shared.cmd_opts.vae_dir):
        patterns += [
            os.path.join(shared.cmd_opts.vae_dir, f"**/*{ext}")
            for ext in (".ckpt", ".pt", ".safetensors")
        ]

    candidates: list[str] = []
    for pattern in patterns:
        candidates += glob.glob(pattern, recursive=True)

    for filepath in candidates:
        vae_dict[get_filename(filepath)] = filepath

    ordered = dict(sorted(vae_dict.items(), key=lambda item: shared.natural_sort_key(item[0])))
    vae_dict.clear()
    vae_dict.update(ordered)


def find_vae_near_checkpoint(checkpoint_file: str) -> str | None:
    checkpoint_path = os.path.basename(checkpoint_file).rsplit(".", 1)[0]
    for vae_file in vae_dict.values():
        if os.path.basename(vae_file).startswith(checkpoint_path):
            return vae_file
    return None


@dataclass
class VaeResolution:
    vae: str | None = None
    source: str | None = None
    resolved: bool = True

    def tuple(self) -> tuple[str | None, str | None]:
        return self.vae, self.source


def is_automatic() -> bool:
    return shared.opts.sd_vae in {"Automatic", "auto"}


def resolve_vae_from_setting() -> VaeResolution:
    if shared.opts.sd_vae == "None":
        return VaeResolution()

    vae_from_options = vae_dict.get(shared.opts.sd_vae)
    if vae_from_options is not None:
        return VaeResolution(vae_from_options, "specified in settings")

    if not is_automatic():
        print(f"Couldn't find VAE named {shared.opts.sd_vae}; using None instead")

    return VaeResolution(resolved=False)


def resolve_vae_near_checkpoint(checkpoint_file: str) -> VaeResolution:
    vae_near_checkpoint = find_vae_near_checkpoint(checkpoint_file)
    if vae_near_checkpoint is not None and (
        not shared.opts.sd_vae_overrides_per_model_preferences or is_automatic()
    ):
        return VaeResolution(vae_near_checkpoint, "found near the checkpoint")

    return VaeResolution(resolved=False)


def resolve_vae(checkpoint_file: str) -> VaeResolution:
    """As A1111 minus per-model user metadata (the fake has no ``.json`` model cards)."""
    if shared.cmd_opts.vae_path is not None:
        return VaeResolution(shared.cmd_opts.vae_path, "from commandline argument")

    if shared.opts.sd_vae_overrides_per_model_preferences and not is_automatic():
        return resolve_vae_from_setting()

    res = resolve_vae_near_checkpoint(checkpoint_file)
    if res.resolved:
        return res

    return resolve_vae_from_setting()


def load_vae(
    model, vae_file: str | None = None, vae_source: str | None = "from unknown source"
) -> None:
    global loaded_vae_file

    store_base_vae(model)
    if vae_file and not os.path.isfile(vae_file):
        print(f"VAE file not found: {vae_file}")
        vae_file = None

    loaded_vae_file = vae_file
    model.loaded_vae_file = vae_file
    vae_loads.append(vae_file)


def clear_loaded_vae() -> None:
    global loaded_vae_file
    loaded_vae_file = None


unspecified = object()


def reload_vae_weights(sd_model=None, vae_file=unspecified):
    if not sd_model:
        sd_model = shared.sd_model

    checkpoint_file = sd_model.sd_checkpoint_info.filename

    if vae_file == unspecified:
        vae_file, vae_source = resolve_vae(checkpoint_file).tuple()
    else:
        vae_source = "from function argument"

    if loaded_vae_file == vae_file:
        return None

    load_vae(sd_model, vae_file, vae_source)
    script_callbacks.model_loaded_callback(sd_model)
    print("VAE weights loaded.")
    return sd_model
