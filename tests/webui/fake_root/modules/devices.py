"""``modules.devices`` on a CPU-only machine: device selection, NaN check, no-op autocast."""

from __future__ import annotations

import contextlib

import torch

from modules import shared


def has_xpu() -> bool:
    return False


def has_mps() -> bool:
    return False


def get_optimal_device_name() -> str:
    return "cpu"


def get_optimal_device() -> torch.device:
    return torch.device(get_optimal_device_name())


def get_device_for(task: str) -> torch.device:
    if task in shared.cmd_opts.use_cpu or "all" in shared.cmd_opts.use_cpu:
        return cpu

    return get_optimal_device()


def torch_gc() -> None:
    """A1111 only empties the CUDA/MPS/XPU caches here; on a CPU-only machine it does nothing."""


cpu: torch.device = torch.device("cpu")
fp8: bool = False
force_fp16: bool = False
device: torch.device | None = None
device_interrogate: torch.device | None = None
device_gfpgan: torch.device | None = None
device_esrgan: torch.device | None = None
device_codeformer: torch.device | None = None
dtype: torch.dtype = torch.float16
dtype_vae: torch.dtype = torch.float16
dtype_unet: torch.dtype = torch.float16
dtype_inference: torch.dtype = torch.float16
unet_needs_upcast = False


def cond_cast_unet(input: torch.Tensor) -> torch.Tensor:
    return input.to(dtype_unet) if unet_needs_upcast else input


def cond_cast_float(input: torch.Tensor) -> torch.Tensor:
    return input.float() if unet_needs_upcast else input


def autocast(disable: bool = False):
    # On CPU A1111 returns a null context unless fp8 is on; the fake never enables fp8.
    return contextlib.nullcontext()


def without_autocast(disable: bool = False):
    return contextlib.nullcontext()


class NansException(Exception):  # noqa: N818  (A1111's name)
    pass


def test_for_nans(x: torch.Tensor, where: str) -> None:
    """Like A1111: only the first element is checked, and ``--disable-nan-check`` turns it off."""
    if shared.cmd_opts.disable_nan_check:
        return

    if not torch.isnan(x[(0,) * len(x.shape)]):
        return

    if where == "unet":
        message = "A tensor with NaNs was produced in Unet."
        if not shared.cmd_opts.no_half:
            message += ' This could be either because there\'s not enough precision to represent the picture, or because your video card does not support half type. Try setting the "Upcast cross attention layer to float32" option in Settings > Stable Diffusion or using the --no-half commandline argument to fix this.'
    elif where == "vae":
        message = "A tensor with NaNs was produced in VAE."
        if not shared.cmd_opts.no_half and not shared.cmd_opts.no_half_vae:
            message += " This could be because there's not enough precision to represent the picture. Try adding --no-half-vae commandline argument to fix this."
    else:
        message = "A tensor with NaNs was produced."

    message += " Use --disable-nan-check commandline argument to disable this check."
    raise NansException(message)


def first_time_calculation() -> None:
    pass
