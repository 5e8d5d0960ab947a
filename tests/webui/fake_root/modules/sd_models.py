"""``modules.sd_models`` over fake checkpoints: real files are listed, hashed and "loaded" (recorded).

A loaded model is a ``FakeSdModel``. It is SDXL when the checkpoint's file name contains "xl"
(case-insensitive); the fake has no other way to tell model types apart. Every actual load is
appended to ``model_loads`` (test hook), and the VAE is resolved and loaded with it, as in A1111.
"""

from __future__ import annotations

import collections
import contextlib
import glob
import hashlib
import os
import re
import sys
import threading
from dataclasses import dataclass

from modules import devices, errors, paths, script_callbacks, sd_vae, shared

model_dir = "Stable-diffusion"
model_path = os.path.abspath(os.path.join(paths.models_path, model_dir))

checkpoints_list: dict[str, CheckpointInfo] = {}
checkpoint_aliases: dict[str, CheckpointInfo] = {}
checkpoint_alisases = checkpoint_aliases
checkpoints_loaded: collections.OrderedDict = collections.OrderedDict()


@dataclass
class ModelLoad:
    title: str
    filename: str
    skip_writing_to_config: bool


model_loads: list[ModelLoad] = []
"""Test hook: every checkpoint load, in order."""


def _file_sha256(filename: str) -> str | None:
    if shared.cmd_opts.no_hashing or not os.path.isfile(filename):
        return None

    sha = hashlib.sha256()
    with open(filename, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


_sha256_cache: dict[str, str] = {}


def sha256_from_cache(filename: str) -> str | None:
    return _sha256_cache.get(filename)


def sha256(filename: str) -> str | None:
    if filename not in _sha256_cache:
        value = _file_sha256(filename)
        if value is None:
            return None
        _sha256_cache[filename] = value
    return _sha256_cache[filename]


class CheckpointInfo:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        abspath = os.path.abspath(filename)
        abs_ckpt_dir = (
            os.path.abspath(shared.cmd_opts.ckpt_dir)
            if shared.cmd_opts.ckpt_dir is not None
            else None
        )

        self.is_safetensors = os.path.splitext(filename)[1].lower() == ".safetensors"

        if abs_ckpt_dir and abspath.startswith(abs_ckpt_dir):
            name = abspath.replace(abs_ckpt_dir, "")
        elif abspath.startswith(model_path):
            name = abspath.replace(model_path, "")
        else:
            name = os.path.basename(filename)

        if name.startswith(("\\", "/")):
            name = name[1:]

        self.metadata: dict = {}
        self.modelspec_thumbnail = None
        self.name = name
        self.name_for_extra = os.path.splitext(os.path.basename(filename))[0]
        self.model_name = os.path.splitext(name.replace("/", "_").replace("\\", "_"))[0]
        self.hash = model_hash(filename)

        self.sha256 = sha256_from_cache(self.filename)
        self.shorthash = self.sha256[0:10] if self.sha256 else None

        self.title = name if self.shorthash is None else f"{name} [{self.shorthash}]"
        self.short_title = (
            self.name_for_extra
            if self.shorthash is None
            else f"{self.name_for_extra} [{self.shorthash}]"
        )

        self.ids = [
            self.hash,
            self.model_name,
            self.title,
            name,
            self.name_for_extra,
            f"{name} [{self.hash}]",
        ]
        if self.shorthash:
            self.ids += [
                self.shorthash,
                self.sha256,
                f"{self.name} [{self.shorthash}]",
                f"{self.name_for_extra} [{self.shorthash}]",
            ]

    def register(self) -> None:
        checkpoints_list[self.title] = self
        for id_ in self.ids:
            checkpoint_aliases[id_] = self

    def calculate_shorthash(self) -> str | None:
        self.sha256 = sha256(self.filename)
        if self.sha256 is None:
            return None

        shorthash = self.sha256[0:10]
        if self.shorthash == shorthash:
            return self.shorthash

        self.shorthash = shorthash

        if self.shorthash not in self.ids:
            self.ids += [
                self.shorthash,
                self.sha256,
                f"{self.name} [{self.shorthash}]",
                f"{self.name_for_extra} [{self.shorthash}]",
            ]

        old_title = self.title
        self.title = f"{self.name} [{self.shorthash}]"
        self.short_title = f"{self.name_for_extra} [{self.shorthash}]"

        _replace_key(checkpoints_list, old_title, self.title, self)
        self.register()

        return self.shorthash


def _replace_key(d: dict, key: str, new_key: str, value) -> dict:
    """Rename ``key`` to ``new_key`` keeping its position (A1111's ``replace_key``)."""
    keys = list(d.keys())
    d[new_key] = value
    if key not in keys:
        return d

    keys[keys.index(key)] = new_key
    new_d = {k: d[k] for k in keys}
    d.clear()
    d.update(new_d)
    return d


def setup_model() -> None:
    os.makedirs(model_path, exist_ok=True)


def checkpoint_tiles(use_short: bool = False) -> list[str]:
    return [x.short_title if use_short else x.title for x in checkpoints_list.values()]


def list_models() -> None:
    checkpoints_list.clear()
    checkpoint_aliases.clear()

    cmd_ckpt = shared.cmd_opts.ckpt

    model_list: list[str] = []
    for directory in [model_path, shared.cmd_opts.ckpt_dir]:
        if directory is None or not os.path.isdir(directory):
            continue
        for ext in (".ckpt", ".safetensors"):
            model_list += glob.glob(os.path.join(directory, "**", f"*{ext}"), recursive=True)
    model_list = sorted(
        {x for x in model_list if not x.lower().endswith((".vae.ckpt", ".vae.safetensors"))},
        key=lambda x: shared.natural_sort_key(os.path.basename(x)),
    )

    if os.path.exists(cmd_ckpt):
        checkpoint_info = CheckpointInfo(cmd_ckpt)
        checkpoint_info.register()
        shared.opts.data["sd_model_checkpoint"] = checkpoint_info.title
    elif cmd_ckpt is not None and cmd_ckpt != shared.default_sd_model_file:
        print(
            f"Checkpoint in --ckpt argument not found (Possible it was moved to {model_path}: {cmd_ckpt}",
            file=sys.stderr,
        )

    for filename in model_list:
        CheckpointInfo(filename).register()


re_strip_checksum = re.compile(r"\s*\[[^]]+]\s*$")


def get_closet_checkpoint_match(search_string: str | None) -> CheckpointInfo | None:
    if not search_string:
        return None

    checkpoint_info = checkpoint_aliases.get(search_string)
    if checkpoint_info is not None:
        return checkpoint_info

    found = sorted(
        [info for info in checkpoints_list.values() if search_string in info.title],
        key=lambda x: len(x.title),
    )
    if found:
        return found[0]

    without_checksum = re.sub(re_strip_checksum, "", search_string)
    found = sorted(
        [info for info in checkpoints_list.values() if without_checksum in info.title],
        key=lambda x: len(x.title),
    )
    if found:
        return found[0]

    return None


def model_hash(filename: str) -> str:
    """Legacy 8-hex hash of 64 KiB at offset 1 MiB."""
    try:
        with open(filename, "rb") as file:
            m = hashlib.sha256()
            file.seek(0x100000)
            m.update(file.read(0x10000))
            return m.hexdigest()[0:8]
    except FileNotFoundError:
        return "NOFILE"


def select_checkpoint() -> CheckpointInfo:
    model_checkpoint = shared.opts.sd_model_checkpoint

    checkpoint_info = checkpoint_aliases.get(model_checkpoint)
    if checkpoint_info is not None:
        return checkpoint_info

    if len(checkpoints_list) == 0:
        raise FileNotFoundError(
            f"No checkpoints found. When searching for checkpoints, looked at:\n - directory {model_path}Can't run without a checkpoint. Find and place a .ckpt or .safetensors file into any of those locations."
        )

    checkpoint_info = next(iter(checkpoints_list.values()))
    if model_checkpoint is not None:
        print(
            f"Checkpoint {model_checkpoint} not found; loading fallback {checkpoint_info.title}",
            file=sys.stderr,
        )

    return checkpoint_info


class SkipWritingToConfig:
    """Keeps a load from writing the checkpoint title into ``opts.data`` (hires/refiner switches)."""

    skip = False
    previous = None

    def __enter__(self) -> SkipWritingToConfig:
        self.previous = SkipWritingToConfig.skip
        SkipWritingToConfig.skip = True
        return self

    def __exit__(self, exc_type, exc_value, exc_traceback) -> None:
        SkipWritingToConfig.skip = self.previous


class _FakeInnerModel:
    conditioning_key = "crossattn"
    parameterization = "eps"


class FakeSdModel:
    """What extensions read from ``shared.sd_model``; no weights."""

    def __init__(self, checkpoint_info: CheckpointInfo) -> None:
        self.sd_checkpoint_info = checkpoint_info
        self.sd_model_checkpoint = checkpoint_info.filename
        self.sd_model_hash = checkpoint_info.calculate_shorthash()
        self.is_sdxl = "xl" in os.path.basename(checkpoint_info.filename).lower()
        self.is_sd1 = not self.is_sdxl
        self.is_sd2 = False
        self.is_sd3 = False
        self.is_ssd = False
        self.is_sdxl_inpaint = False
        self.latent_channels = 4
        self.lowvram = False
        self.model = _FakeInnerModel()
        self.cond_stage_key = "txt"
        self.used_config = None
        self.base_vae = None
        self.loaded_vae_file = None
        self.device = devices.cpu
        self.dtype = devices.dtype

    @contextlib.contextmanager
    def ema_scope(self, context=None):
        yield

    def to(self, *args, **kwargs) -> FakeSdModel:
        return self

    def get_learned_conditioning(self, texts: list[str]) -> list[str]:
        from modules import sd_samplers_fake

        sd_samplers_fake.cond_calls.append(list(texts))
        return list(texts)


def _load(checkpoint_info: CheckpointInfo) -> FakeSdModel:
    sd_model = FakeSdModel(checkpoint_info)
    model_loads.append(
        ModelLoad(checkpoint_info.title, checkpoint_info.filename, SkipWritingToConfig.skip)
    )

    if not SkipWritingToConfig.skip:
        shared.opts.data["sd_model_checkpoint"] = checkpoint_info.title

    model_data.set_sd_model(sd_model)

    sd_vae.delete_base_vae()
    sd_vae.clear_loaded_vae()
    vae_file, vae_source = sd_vae.resolve_vae(checkpoint_info.filename).tuple()
    sd_vae.load_vae(sd_model, vae_file, vae_source)
    return sd_model


def load_model(
    checkpoint_info: CheckpointInfo | None = None, already_loaded_state_dict=None
) -> FakeSdModel:
    checkpoint_info = checkpoint_info or select_checkpoint()
    sd_model = _load(checkpoint_info)
    model_data.was_loaded_at_least_once = True
    script_callbacks.model_loaded_callback(sd_model)
    return sd_model


def reload_model_weights(
    sd_model=None, info: CheckpointInfo | None = None, forced_reload: bool = False
):
    checkpoint_info = info or select_checkpoint()

    if not sd_model:
        sd_model = model_data.sd_model

    if (
        sd_model is not None
        and sd_model.sd_model_checkpoint == checkpoint_info.filename
        and not forced_reload
    ):
        return sd_model

    sd_model = _load(checkpoint_info)
    model_data.was_loaded_at_least_once = True
    script_callbacks.model_loaded_callback(sd_model)
    print(f"Weights loaded: {checkpoint_info.title}")
    return sd_model


def unload_model_weights(sd_model=None, info=None):
    return sd_model or model_data.sd_model


def apply_token_merging(sd_model, token_merging_ratio: float) -> None:
    """Token merging is not simulated; the ratio only shows up in the infotext."""


def apply_alpha_schedule_override(sd_model, p=None) -> None:
    pass


class SdModelData:
    def __init__(self) -> None:
        self.sd_model: FakeSdModel | None = None
        self.loaded_sd_models: list[FakeSdModel] = []
        self.was_loaded_at_least_once = False
        self.lock = threading.Lock()

    def get_sd_model(self) -> FakeSdModel | None:
        if self.was_loaded_at_least_once:
            return self.sd_model

        if self.sd_model is None:
            with self.lock:
                if self.sd_model is not None or self.was_loaded_at_least_once:
                    return self.sd_model

                try:
                    load_model()
                except Exception as e:
                    errors.display(e, "loading stable diffusion model", full_traceback=True)
                    print("Stable diffusion model failed to load", file=sys.stderr)
                    self.sd_model = None

        return self.sd_model

    def set_sd_model(self, v: FakeSdModel | None, already_loaded: bool = False) -> None:
        self.sd_model = v
        if v in self.loaded_sd_models:
            self.loaded_sd_models.remove(v)
        if v is not None:
            self.loaded_sd_models.insert(0, v)


model_data = SdModelData()
