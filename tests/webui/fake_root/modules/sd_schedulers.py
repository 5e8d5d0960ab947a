"""``modules.sd_schedulers``: the twelve 1.10 schedulers (names, labels, aliases, default rho).

The sigma functions only return a plain decreasing schedule; the fake sampler never denoises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch


@dataclasses.dataclass
class Scheduler:
    name: str
    label: str
    function: Callable | None

    default_rho: float = -1
    need_inner_model: bool = False
    aliases: list | None = None


def _plain_sigmas(
    n: int, sigma_min: float = 0.03, sigma_max: float = 14.6, device="cpu", **kwargs
) -> torch.Tensor:
    return torch.cat([torch.linspace(sigma_max, sigma_min, n), torch.zeros(1)]).to(device)


schedulers = [
    Scheduler("automatic", "Automatic", None),
    Scheduler("uniform", "Uniform", _plain_sigmas, need_inner_model=True),
    Scheduler("karras", "Karras", _plain_sigmas, default_rho=7.0),
    Scheduler("exponential", "Exponential", _plain_sigmas),
    Scheduler("polyexponential", "Polyexponential", _plain_sigmas, default_rho=1.0),
    Scheduler(
        "sgm_uniform", "SGM Uniform", _plain_sigmas, need_inner_model=True, aliases=["SGMUniform"]
    ),
    Scheduler("kl_optimal", "KL Optimal", _plain_sigmas),
    Scheduler("align_your_steps", "Align Your Steps", _plain_sigmas),
    Scheduler("simple", "Simple", _plain_sigmas, need_inner_model=True),
    Scheduler("normal", "Normal", _plain_sigmas, need_inner_model=True),
    Scheduler("ddim", "DDIM", _plain_sigmas, need_inner_model=True),
    Scheduler("beta", "Beta", _plain_sigmas, need_inner_model=True),
]

schedulers_map = {**{x.name: x for x in schedulers}, **{x.label: x for x in schedulers}}
