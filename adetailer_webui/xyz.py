"""X/Y/Z plot axes for the first tab, with the original's labels.

An axis value replaces the first tab's value for that cell (`p._ad_xyz`, merged by
`arguments.with_xyz_values`). Unlike the original, an axis for a value behind a "use separate ..."
toggle (sampler, scheduler, CFG scale, noise multiplier) turns the toggle on for that cell,
so the axis actually changes the picture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adetailer.args import COLOR_MATCH_MODES, CONTROLNET_PASSTHROUGH, HIRES_STAGES
from adetailer_webui import host, log

PREFIX = "[ADetailer]"


def set_value(key: str, *, also: dict[str, Any] | None = None) -> Callable[[Any, Any, Any], None]:
    def apply(p: Any, x: Any, xs: Any) -> None:
        # p is a shallow copy per cell: build a new dict, never change the shared one
        p._ad_xyz = {**(getattr(p, "_ad_xyz", None) or {}), **(also or {}), key: x}

    return apply


def search_replace(*, in_main_prompt: bool) -> Callable[[Any, Any, Any], None]:
    """Prompt S/R: the first axis value is searched for, each cell's value replaces it."""

    def apply(p: Any, x: Any, xs: Any) -> None:
        search = xs[0]
        p._ad_xyz_prompt_sr = [*(getattr(p, "_ad_xyz_prompt_sr", None) or []), (search, x)]
        if in_main_prompt:
            p.prompt = _replace(p.prompt, search, x)
            p.negative_prompt = _replace(p.negative_prompt, search, x)

    return apply


def _replace(prompt: Any, search: str, replacement: str) -> Any:
    if isinstance(prompt, list):
        return [str(item).replace(search, replacement) for item in prompt]
    return str(prompt).replace(search, replacement)


def _boolean(x: Any) -> bool:
    return str(x).strip().lower() in {"true", "1", "yes", "on"}


def axes(xyz: Any) -> list[Any]:
    from controlnet_ext import controlnet_model_names

    option = xyz.AxisOption
    return [
        option(
            f"{PREFIX} ADetailer model 1st",
            str,
            set_value("ad_model"),
            choices=lambda: ["None", *host.registry(refresh=True).names()],
        ),
        option(f"{PREFIX} ADetailer prompt 1st", str, set_value("ad_prompt")),
        option(f"{PREFIX} ADetailer negative prompt 1st", str, set_value("ad_negative_prompt")),
        option(f"{PREFIX} Prompt S/R (AD 1st)", str, search_replace(in_main_prompt=False)),
        option(
            f"{PREFIX} Prompt S/R (AD 1st and main prompt)",
            str,
            search_replace(in_main_prompt=True),
        ),
        option(f"{PREFIX} Mask erosion / dilation 1st", int, set_value("ad_dilate_erode")),
        option(
            f"{PREFIX} Inpaint denoising strength 1st", float, set_value("ad_denoising_strength")
        ),
        option(
            f"{PREFIX} CFG scale 1st",
            float,
            set_value("ad_cfg_scale", also={"ad_use_cfg_scale": True}),
        ),
        option(
            f"{PREFIX} Inpaint only masked 1st",
            _boolean,
            set_value("ad_inpaint_only_masked"),
            choices=lambda: ["True", "False"],
        ),
        option(
            f"{PREFIX} Inpaint only masked padding 1st",
            int,
            set_value("ad_inpaint_only_masked_padding"),
        ),
        option(
            f"{PREFIX} ADetailer sampler 1st",
            str,
            set_value("ad_sampler", also={"ad_use_sampler": True}),
            choices=host.sampler_names,
        ),
        option(
            f"{PREFIX} ADetailer scheduler 1st",
            str,
            set_value("ad_scheduler", also={"ad_use_sampler": True}),
            choices=host.scheduler_labels,
        ),
        option(
            f"{PREFIX} noise multiplier 1st",
            float,
            set_value("ad_noise_multiplier", also={"ad_use_noise_multiplier": True}),
        ),
        option(
            f"{PREFIX} Hires fix stage 1st",
            str,
            set_value("ad_hires_stage"),
            choices=lambda: list(HIRES_STAGES),
        ),
        option(
            f"{PREFIX} Color match 1st",
            str,
            set_value("ad_color_match"),
            choices=lambda: list(COLOR_MATCH_MODES),
        ),
        option(
            f"{PREFIX} ControlNet model 1st",
            str,
            set_value("ad_controlnet_model"),
            choices=lambda: ["None", CONTROLNET_PASSTHROUGH, *controlnet_model_names()],
        ),
    ]


def find_xyz_module() -> Any | None:
    from modules import scripts

    for data in scripts.scripts_data:
        if data.script_class.__module__ == "xyz_grid.py":
            return data.module
    return None


def add_axes() -> None:
    """Adds the axes once, however often it is called.

    Called when the script loads (A1111 loads its own X/Y/Z script before extensions' scripts,
    and with --nowebui the grid reads its axes before `on_before_ui` fires) and again from
    `on_before_ui` (in case the grid script loaded later).
    """
    try:
        xyz = find_xyz_module()
        if xyz is None:
            return
        if any(str(o.label).startswith(PREFIX) for o in xyz.axis_options):
            return
        xyz.axis_options.extend(axes(xyz))
    except Exception:
        log.error("could not add the X/Y/Z plot axes.")
