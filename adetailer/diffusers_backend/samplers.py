"""A1111's sampler and schedule-type names, as diffusers schedulers with the same settings.

A1111 1.10 names a sampler ("DPM++ 2M") and a schedule type ("Karras"); older infotexts and
API clients join them ("DPM++ 2M Karras"). Both spellings are read. "Automatic" is the schedule
each sampler uses by default in A1111 (Karras for DPM++ 2M, exponential for DPM++ 2M SDE, ...).
The k-diffusion samplers space their timesteps evenly from the last one (diffusers' "linspace"),
DDIM, PLMS and UniPC step like the original LDM samplers ("leading", offset 1).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

AUTOMATIC = "Automatic"
SAME_SCHEDULER = "Use same scheduler"


@dataclass(frozen=True)
class Sampler:
    scheduler: str  # the diffusers class
    options: dict[str, Any] = field(default_factory=dict)
    default_schedule: str = "Uniform"
    k_diffusion: bool = True  # timesteps spaced like k-diffusion's


SAMPLERS: dict[str, Sampler] = {
    "DPM++ 2M": Sampler("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}, "Karras"),
    "DPM++ SDE": Sampler("DPMSolverSDEScheduler", {}, "Karras"),
    "DPM++ 2M SDE": Sampler(
        "DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}, "Exponential"
    ),
    "DPM++ 2M SDE Heun": Sampler(
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_type": "heun"},
        "Exponential",
    ),
    "DPM++ 3M SDE": Sampler(
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 3},
        "Exponential",
    ),
    "Euler a": Sampler("EulerAncestralDiscreteScheduler"),
    "Euler": Sampler("EulerDiscreteScheduler"),
    "LMS": Sampler("LMSDiscreteScheduler"),
    "Heun": Sampler("HeunDiscreteScheduler"),
    "DPM2": Sampler("KDPM2DiscreteScheduler", {}, "Karras"),
    "DPM2 a": Sampler("KDPM2AncestralDiscreteScheduler", {}, "Karras"),
    "DDIM": Sampler("DDIMScheduler", {}, AUTOMATIC, k_diffusion=False),
    "PLMS": Sampler("PNDMScheduler", {"skip_prk_steps": True}, AUTOMATIC, k_diffusion=False),
    "UniPC": Sampler("UniPCMultistepScheduler", {}, AUTOMATIC, k_diffusion=False),
    "LCM": Sampler("LCMScheduler", {}, AUTOMATIC, k_diffusion=False),
}

# schedule type -> the scheduler options it sets (None: the scheduler's own spacing)
SCHEDULES: dict[str, dict[str, Any] | None] = {
    AUTOMATIC: None,
    "Uniform": {},
    "Karras": {"use_karras_sigmas": True},
    "Exponential": {"use_exponential_sigmas": True},
    "Beta": {"use_beta_sigmas": True},
    "SGM Uniform": {"timestep_spacing": "trailing"},
}
DEFAULT_SAMPLER = "DPM++ 2M"
DEFAULT_SCHEDULE = "Karras"


class SamplerError(ValueError):
    """An unknown sampler or schedule; the message lists the known names."""


def sampler_names() -> list[str]:
    """Every name accepted, the joined legacy spellings included."""
    joined = [
        f"{name} {schedule}"
        for name in SAMPLERS
        for schedule in ("Karras", "Exponential")
        if _supports(name, schedule)
    ]
    return [*SAMPLERS, *joined]


def split_name(sampler: str, schedule: str | None = None) -> tuple[str, str]:
    """("DPM++ 2M Karras", None) -> ("DPM++ 2M", "Karras"); unknown names raise SamplerError."""
    name = sampler.strip()
    chosen = (schedule or AUTOMATIC).strip()
    if chosen == SAME_SCHEDULER:
        chosen = AUTOMATIC
    if name not in SAMPLERS:
        for suffix in ("Karras", "Exponential"):
            base = name.removesuffix(" " + suffix)
            if base != name and base in SAMPLERS:
                name = base
                if chosen == AUTOMATIC:
                    chosen = suffix
                break
    if name not in SAMPLERS:
        listed = ", ".join(f'"{n}"' for n in sampler_names())
        raise SamplerError(f"sampler {sampler!r} is not allowed; expected one of {listed}")
    if chosen not in SCHEDULES:
        listed = ", ".join(f'"{n}"' for n in SCHEDULES)
        raise SamplerError(f"schedule type {schedule!r} is not allowed; expected one of {listed}")
    if chosen != AUTOMATIC and not _supports(name, chosen):
        usable = ", ".join(f'"{s}"' for s in SCHEDULES if s == AUTOMATIC or _supports(name, s))
        raise SamplerError(
            f"schedule type {chosen!r} does not work with sampler {name!r}; expected one of {usable}"
        )
    return name, chosen


def _supports(name: str, schedule: str) -> bool:
    options = SCHEDULES.get(schedule)
    if not options:
        return True
    cls = _scheduler_class(SAMPLERS[name].scheduler)
    accepted = inspect.signature(cls.__init__).parameters
    return all(option in accepted for option in options)


def _scheduler_class(name: str) -> Any:
    import diffusers

    return getattr(diffusers, name)


def make_scheduler(sampler: str, schedule: str | None, base_config: dict[str, Any]) -> Any:
    """A new diffusers scheduler for A1111's `sampler` and `schedule` on the model's noise schedule."""
    name, chosen = split_name(sampler, schedule)
    spec = SAMPLERS[name]
    if chosen == AUTOMATIC:
        chosen = spec.default_schedule
    config = {k: v for k, v in base_config.items() if not k.startswith("_")}
    config.update(
        {
            "use_karras_sigmas": False,
            "use_exponential_sigmas": False,
            "use_beta_sigmas": False,
        }
    )
    if spec.k_diffusion:
        config["timestep_spacing"] = "linspace"
    config.update(spec.options)
    config.update(SCHEDULES.get(chosen) or {})
    cls = _scheduler_class(spec.scheduler)
    accepted = inspect.signature(cls.__init__).parameters
    config = {k: v for k, v in config.items() if k in accepted}  # no "ignored config" notices
    if name == "DPM++ SDE":
        import importlib.util

        if importlib.util.find_spec("torchsde") is None:
            msg = 'sampler "DPM++ SDE" needs torchsde: pip install torchsde'
            raise SamplerError(msg)
    return cls.from_config(config)


def describe(sampler: str, schedule: str | None) -> tuple[str, str]:
    """The (Sampler, Schedule type) pair as A1111 1.10 writes it into an infotext."""
    name, chosen = split_name(sampler, schedule)
    if chosen == AUTOMATIC:
        chosen = SAMPLERS[name].default_schedule
    return name, chosen
