"""What the extension reads from the web UI: paths, flags, names, the model registry.

Everything here is a thin read of A1111's state; the rest of the extension asks here instead of
reaching into `modules` itself.
"""

from __future__ import annotations

import contextlib
import importlib.util
import threading
from pathlib import Path

import controlnet_ext
from adetailer.args import SAME_CHECKPOINT, SAME_SAMPLER, SAME_SCHEDULER, SAME_VAE, Choices
from adetailer.registry import ModelRegistry
from adetailer_webui import settings

_registry: ModelRegistry | None = None
_registry_key: tuple[Path, str, bool] | None = None
_registry_lock = threading.Lock()


def models_dir() -> Path:
    from modules import paths

    return Path(paths.models_path) / "adetailer"


def downloads_allowed() -> bool:
    from modules import shared

    return not getattr(shared.cmd_opts, "ad_no_huggingface", False)


def registry(refresh: bool = False) -> ModelRegistry:
    """The one model registry; `refresh` finds new files, a changed extra-dirs setting rebuilds it.

    The lock only picks the registry; the folder scan of a refresh runs outside it, so a
    generation asking for the registry never waits for an API request's scan (or the reverse).
    """
    global _registry, _registry_key
    key = (models_dir(), str(settings.read("ad_extra_models_dir")), downloads_allowed())
    with _registry_lock:
        created = _registry is None or key != _registry_key
        if created:
            directory, extra, allow_download = key
            with contextlib.suppress(OSError):  # read-only: hub models and extra dirs still work
                directory.mkdir(parents=True, exist_ok=True)
            _registry = ModelRegistry(directory, extra, allow_download=allow_download)
            _registry_key = key
        current = _registry
    if refresh and not created:
        current.refresh()
    return current


def is_forge() -> bool:
    """Forge (and reForge) ship `modules_forge` next to `modules`; A1111 does not."""
    return importlib.util.find_spec("modules_forge") is not None


def detection_device() -> str:
    """'cpu' when asked (`--use-cpu adetailer`/`all`) or when VRAM is scarce; else automatic."""
    from modules import shared

    opts = shared.cmd_opts
    use_cpu = [str(x).lower() for x in (getattr(opts, "use_cpu", None) or [])]
    if "adetailer" in use_cpu or "all" in use_cpu:
        return "cpu"
    if any(getattr(opts, flag, False) for flag in ("lowvram", "medvram", "medvram_sdxl")):
        return "cpu"
    return ""


def is_sdxl() -> bool:
    from modules import shared

    return bool(getattr(shared.sd_model, "is_sdxl", False))


def sampler_names() -> list[str]:
    from modules import sd_samplers

    return [sampler.name for sampler in sd_samplers.all_samplers]


def scheduler_labels() -> list[str]:
    try:
        from modules import sd_schedulers
    except ImportError:  # A1111 < 1.9
        return []
    return [scheduler.label for scheduler in sd_schedulers.schedulers]


def checkpoint_names() -> list[str]:
    from modules import sd_models

    return list(sd_models.checkpoint_tiles(use_short=True))


def vae_names() -> list[str]:
    from modules import shared_items

    return list(shared_items.sd_vae_items())


def choices() -> Choices:
    """Every name a tab may use on this host, for argument checks."""
    from modules import sd_models

    samplers = sampler_names()
    schedulers = scheduler_labels()
    # "DPM++ 2M Karras": names from before 1.9, which A1111 still splits into sampler + scheduler
    legacy = [f"{s} {label}" for s in samplers for label in schedulers]
    checkpoints = [*checkpoint_names(), *sd_models.checkpoint_aliases]
    # ControlNet names are checked only where a ControlNet is installed; elsewhere a tab that
    # names a ControlNet model still runs (without ControlNet, and says so once).
    with_controlnet = controlnet_ext.kind() is not None
    controlnet_models = controlnet_ext.controlnet_model_names() if with_controlnet else None
    if controlnet_models is not None:  # a model's file stem names it too
        controlnet_models += list(controlnet_ext.model_aliases(controlnet_models))
    return Choices(
        models=[entry.name for entry in registry(refresh=True).entries()],  # incl. not downloaded
        samplers=[*samplers, SAME_SAMPLER, *legacy],
        schedulers=[*schedulers, SAME_SCHEDULER],
        checkpoints=[*checkpoints, SAME_CHECKPOINT],
        vaes=[*vae_names(), SAME_VAE],
        controlnet_models=controlnet_models,
        controlnet_modules=controlnet_ext.module_names() if with_controlnet else None,
    )


def params_txt_path() -> Path:
    from modules import paths

    return Path(paths.data_path) / "params.txt"
