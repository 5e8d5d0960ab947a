"""One detection's redraw: an A1111 img2img "inpaint only masked" pass built from the generation.

The pass takes the generation's own settings (prompt styles, seeds, sampler, steps, CFG, size,
tiling...) unless the tab overrides them, runs only the always-on scripts the settings allow,
and has its own cond caches.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

import controlnet_ext
from adetailer.args import SAME_SAMPLER, SAME_SCHEDULER, TabArgs
from adetailer.color_match import COLOR_MATCH_NONE, paste
from adetailer.images import ensure_rgb
from adetailer.inpaint import InpaintJob
from adetailer_webui import log, settings
from adetailer_webui.host_state import option_for_a_while


@dataclass(frozen=True)
class Original:
    """What Skip img2img changed on `p`, for the detail pass and the infotext."""

    steps: int
    sampler_name: str
    width: int
    height: int


def original(p: Any) -> Original:
    """What the user asked for: the values Skip img2img replaced on `p`, else `p`'s own."""
    return getattr(p, "_ad_orig", None) or Original(p.steps, p.sampler_name, p.width, p.height)


def run_inner_pass(
    p: Any,
    image: Image.Image,
    job: InpaintJob,
    args: TabArgs,
    styles: list[str],
    report: Callable[[str], None] | None = None,
) -> Image.Image | None:
    """One detection's img2img "inpaint only masked" pass; None when it did not finish.

    `report` gets the line about a ControlNet that failed in the pass (it then runs without it).
    """
    from modules import processing

    p2 = build_inner_p(p, image, job, args, styles, report)
    # with a color match the redraw comes back unpasted, and the core matches and pastes it
    match = args.ad_color_match != COLOR_MATCH_NONE
    paste_here = option_for_a_while("overlay_inpaint", False) if match else contextlib.nullcontext()
    try:
        with controlnet_ext.units.batch_hijack_off(), paste_here:  # ControlNet
            processed = processing.process_images(p2)
    finally:
        p2.close()
    if not processed.images or should_stop():
        return None  # an interrupted pass is half done: keep the image from before it
    result = processed.images[0]
    if match:
        result = paste_matched(image, result, p2, args.ad_color_match)
    if result.size != image.size:  # a separate inpaint size in "whole picture" mode
        result = result.resize(image.size, Image.LANCZOS)
    return ensure_rgb(result)


def paste_matched(image: Image.Image, redrawn: Image.Image, p2: Any, mode: str) -> Image.Image:
    """The pass's unpasted redraw, colour-matched and pasted into `image` (`color_match.paste`).

    "Only masked": the redraw is the crop at the processing size, and goes back into the box
    A1111 cut it from (`p2.paste_to`); "whole picture": the whole image. The paste mask is the
    pass's own blurred mask (`p2.mask_for_overlay`).
    """
    mask = getattr(p2, "mask_for_overlay", None)
    paste_to = getattr(p2, "paste_to", None)
    if mask is None:
        return redrawn
    if paste_to is not None and redrawn.size != (p2.width, p2.height):
        # another script (soft inpainting) pasted it already: nothing to match any more
        log.info("color match skipped: another script pasted this redraw itself.")
        return redrawn
    if paste_to is None:
        box = (0, 0, image.width, image.height)
        if mask.size != image.size:
            mask = mask.resize(image.size, Image.LANCZOS)
    else:
        from modules import images

        x, y, w, h = paste_to
        box = (x, y, x + w, y + h)
        redrawn = images.resize_image(1, redrawn, w, h)  # as A1111 uncrops it
    return paste(ensure_rgb(image), ensure_rgb(redrawn), mask, box, mode)


def _sampler(p: Any, args: TabArgs) -> str:
    if args.ad_use_sampler and args.ad_sampler != SAME_SAMPLER:
        return args.ad_sampler
    return original(p).sampler_name


def _scheduler(p: Any, args: TabArgs) -> str:
    if args.ad_use_sampler and args.ad_scheduler != SAME_SCHEDULER:
        return args.ad_scheduler
    return getattr(p, "scheduler", None) or "Automatic"


def build_inner_p(
    p: Any,
    image: Image.Image,
    job: InpaintJob,
    args: TabArgs,
    styles: list[str],
    report: Callable[[str], None] | None = None,
) -> Any:
    from modules.processing import StableDiffusionProcessingImg2Img

    steps = args.ad_steps if args.ad_use_steps else original(p).steps
    if args.ad_inpaint_only_masked:
        width, height = job.width, job.height
    elif args.ad_use_inpaint_width_height:
        width, height = args.ad_inpaint_width, args.ad_inpaint_height
    else:
        width, height = image.size
    p2 = StableDiffusionProcessingImg2Img(
        init_images=[image],
        resize_mode=0,
        denoising_strength=job.denoising_strength,
        mask=job.mask,
        mask_blur=args.ad_mask_blur,
        inpainting_fill=1,  # "original"
        inpaint_full_res=args.ad_inpaint_only_masked,
        inpaint_full_res_padding=args.ad_inpaint_only_masked_padding,
        inpainting_mask_invert=0,
        initial_noise_multiplier=args.ad_noise_multiplier if args.ad_use_noise_multiplier else None,
        sd_model=p.sd_model,
        outpath_samples=p.outpath_samples,
        outpath_grids=p.outpath_grids,
        prompt=job.prompt,
        negative_prompt=job.negative_prompt,
        styles=styles,
        seed=job.seed,
        subseed=job.subseed,
        subseed_strength=p.subseed_strength,
        seed_resize_from_h=p.seed_resize_from_h,
        seed_resize_from_w=p.seed_resize_from_w,
        sampler_name=_sampler(p, args),
        scheduler=_scheduler(p, args),
        batch_size=1,
        n_iter=1,
        steps=steps,
        cfg_scale=args.ad_cfg_scale if args.ad_use_cfg_scale else p.cfg_scale,
        width=width,
        height=height,
        restore_faces=args.ad_restore_face,
        tiling=p.tiling,
        extra_generation_params=_plain_params(p.extra_generation_params),
        do_not_save_samples=True,
        do_not_save_grid=True,
    )
    # mask_blur only takes ints, and only when both directions agree
    p2.mask_blur_x = p2.mask_blur_y = int(args.ad_mask_blur)
    # A1111 shares its cond caches between all instances; the detail pass needs its own.
    p2.cached_c = [None] * len(getattr(p, "cached_c", [None, None]))
    p2.cached_uc = [None] * len(getattr(p, "cached_uc", [None, None]))
    p2.user = getattr(p, "user", None)
    p2.is_api = getattr(p, "is_api", False)
    p2._ad_inner = True
    runner, script_args = inner_scripts(p, args)
    if runner is not None:
        p2.scripts = runner
        p2.script_args = script_args
    controlnet_ext.units.prepare_inner_pass(p, p2, args, report)  # ControlNet: units of this pass
    return p2


def _plain_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The generation's infotext values without callables (they read the outer p's state)."""
    return {k: v for k, v in params.items() if not callable(v) and not isinstance(v, list)}


def inner_scripts(p: Any, args: TabArgs) -> tuple[Any, Any]:
    """A copy of the generation's script runner with only the scripts the detail pass may run.

    Never ADetailer itself and never the built-in Sampler/Seed/... processing scripts (their
    setup() would overwrite the detail pass's sampler, steps and seed with the main UI's).
    The kept script objects are copies too: what the detail pass changes on them (ControlNet
    moves argument ranges, scripts keep per-run state on themselves) stays in the detail pass.
    """
    runner = getattr(p, "scripts", None)
    if runner is None:
        return None, None
    allowed = settings.script_allow_list()
    if allowed is not None and args.ad_controlnet_model != "None":
        allowed.add("controlnet")
    kept = [copy.copy(s) for s in runner.alwayson_scripts if _keep_script(s, allowed)]
    inner = copy.copy(runner)
    inner.alwayson_scripts = kept
    inner.callback_map = {}  # the hook order cache of the copies, not the user's runner's
    script_args = p.script_args
    copied = [_shallow(a) for a in script_args]
    return inner, (tuple(copied) if isinstance(script_args, tuple) else copied)


def _keep_script(script: Any, allowed: set[str] | None) -> bool:
    path = Path(getattr(script, "filename", "") or "")
    if path.parent.name == "processing_scripts":
        return False
    with contextlib.suppress(Exception):
        if script.title() == "ADetailer":
            return False
    return allowed is None or path.stem in allowed


def _shallow(value: Any) -> Any:
    try:
        return copy.copy(value)
    except Exception:
        return value


def should_stop() -> bool:
    """The user pressed Interrupt or Skip."""
    from modules import shared

    return bool(shared.state.interrupted or shared.state.skipped)
