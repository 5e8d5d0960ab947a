"""The generation side: `process` prepares a generation, `postprocess_image` details each image.

The core decides what to redraw (detections, masks, inpaint jobs); here each tab runs on each
image, each job becomes one img2img pass (`inner_pass`), and the user's image is guarded:
whatever fails in here, the generation keeps its un-detailed image.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from adetailer.args import HIRES_AFTER, HIRES_BEFORE, TabArgs, tab_label
from adetailer.detectors.base import DetectorError
from adetailer.images import ensure_rgb
from adetailer.infotext import DETECTIONS_KEY, WARNINGS_KEY, infotext_suffix, to_infotext_params
from adetailer.inpaint import InpaintJob, JobSettings, plan_jobs
from adetailer.masks import binary_mask
from adetailer.pipeline import detect_and_mask, run_jobs
from adetailer.prompts import parse_box, render, resolve
from adetailer.registry import UnknownModelError
from adetailer_webui import hires, host, log, settings
from adetailer_webui.arguments import parse_for_generation
from adetailer_webui.host_state import (
    Overrides,
    model_overrides,
    other_scripts_postprocess,
    other_scripts_process,
    overrides_for,
    quiet_total_progress,
    read_text,
    write_text,
)
from adetailer_webui.inner_pass import original, run_inner_pass, should_stop

SKIP_STEPS = 1
SKIP_SAMPLER = "Euler"
SKIP_SIZE = 128


@dataclass
class Run:
    """One generation's ADetailer state, kept on `p` between `process` and `postprocess_image`."""

    tabs: list[tuple[int, TabArgs]] = field(default_factory=list)
    skip_img2img: bool = False
    records: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    written: set[str] = field(default_factory=set)  # infotext keys this run put on `p`
    hires: bool = False  # txt2img with hires fix: tabs have a stage
    no_seam: str | None = None  # why "Before hires fix" tabs run after it on this host
    said_no_seam: bool = False
    before_hires: set[int] = field(default_factory=set)  # images detailed before the hires pass

    def stage_tabs(self, stage: str) -> list[tuple[int, TabArgs]]:
        """The tabs that run at a stage, in tab order (without hires fix: all, after it)."""
        if not self.hires:
            return self.tabs if stage == HIRES_AFTER else []
        return [(i, a) for i, a in self.tabs if a.ad_hires_stage == stage]


# --- process ---------------------------------------------------------------------------------


def process(p: Any, args: Sequence[Any]) -> None:
    if getattr(p, "_ad_inner", False) or getattr(p, "_ad_busy", False):
        return  # our own detail pass, or other scripts re-armed from inside it
    p._ad_run = None
    hires.uninstall(p)  # an X/Y/Z cell copies the previous cell's seam
    try:
        _prepare(p, args)
    except Exception:  # the generation goes on without ADetailer
        p._ad_run = None
        log.error("could not prepare this generation; ADetailer is off for it.")


def _prepare(p: Any, args: Sequence[Any]) -> None:
    run = Run()
    _forget_previous(p)
    p.extra_generation_params[DETECTIONS_KEY] = _Infotext(
        run, bool(settings.read("ad_write_detections"))
    )
    parsed = parse_for_generation(p, args)
    for line in [*parsed.warnings, *parsed.errors]:
        log.warn(line)
    for line in [*parsed.errors, *parsed.warnings]:
        _add_warning(p, run, line)
    if not parsed.will_run:
        if not run.written:  # nothing of ours in this infotext: no bookkeeping either
            p.extra_generation_params.pop(DETECTIONS_KEY, None)
        return
    if is_inpaint(p) and not inpainted_area(p).any():
        log.info("img2img inpainting with an empty mask: ADetailer is off for this generation.")
        return
    skip = parsed.skip_img2img and bool(getattr(p, "init_images", None))
    if skip and is_inpaint(p):
        log.info("Skip img2img does not work with inpainting; img2img runs as usual.")
        skip = False
    run.tabs, run.skip_img2img = _with_xyz(p, parsed.active_tabs), skip
    run.hires = bool(getattr(p, "enable_hr", False))  # txt2img only
    if run.stage_tabs(HIRES_BEFORE):
        run.no_seam = hires.install(p, detail_first_pass)
    if skip:
        _skip_img2img(p, run)
    _write(p, run, to_infotext_params(run.tabs))
    if skip:
        _write(p, run, {"ADetailer skip img2img": True})
    p._ad_run = run


def _write(p: Any, run: Run, values: Mapping[str, Any]) -> None:
    p.extra_generation_params.update(values)
    run.written.update(values)


def _forget_previous(p: Any) -> None:
    """Remove what an earlier run wrote into this p's infotext values.

    X/Y/Z plot cells are shallow copies of one p and share one `extra_generation_params`; a
    cell where ADetailer does not run must not show the previous cell's values.
    """
    params = p.extra_generation_params
    previous = params.pop(DETECTIONS_KEY, None)
    if isinstance(previous, _Infotext):
        for key in previous.run.written:
            params.pop(key, None)


def _add_warning(p: Any, run: Run, line: str) -> None:
    """Warnings reach API callers through the infotext, one " | "-separated value."""
    current = p.extra_generation_params.get(WARNINGS_KEY)
    lines = current.split(" | ") if current else []
    if line not in lines:
        _write(p, run, {WARNINGS_KEY: " | ".join([*lines, line])})


class _Infotext:
    """Kept under DETECTIONS_KEY: this run's bookkeeping, and each image's detection records.

    A1111 calls it with `create_infotext`'s local variables and writes what it returns (None:
    nothing). Its main loop passes the batch's own seed list and the position in the batch;
    other callers pass the whole generation's lists and the position in the generation.
    """

    def __init__(self, run: Run, enabled: bool) -> None:
        self.run = run
        self.enabled = enabled

    def __call__(
        self,
        *,
        index: int = 0,
        p: Any = None,
        all_seeds: Sequence[int] | None = None,
        **_: Any,
    ) -> str | None:
        if not self.enabled:
            return None
        whole = getattr(p, "all_seeds", None)
        if all_seeds is not None and whole is not None and len(all_seeds) != len(whole):
            index += p.iteration * p.batch_size
        records = self.run.records.get(index)
        return json.dumps(records, ensure_ascii=False, separators=(",", ":")) if records else None


def _skip_img2img(p: Any, run: Run) -> None:
    """The main pass only needs to hand over the init image: 1 step of Euler at 128x128."""
    orig = p._ad_orig = original(p)  # kept: img2img batch reuses p for every file
    p.steps, p.sampler_name = SKIP_STEPS, SKIP_SAMPLER
    p.width = p.height = SKIP_SIZE
    # The infotext keeps what the user asked for, so pasting it reproduces the image.
    _write(
        p,
        run,
        {"Steps": orig.steps, "Sampler": orig.sampler_name, "Size": f"{orig.width}x{orig.height}"},
    )


def _with_xyz(p: Any, tabs: list[tuple[int, TabArgs]]) -> list[tuple[int, TabArgs]]:
    """An X/Y/Z prompt S/R axis resolves the first tab's prompts once, as the image will use them."""
    pairs = getattr(p, "_ad_xyz_prompt_sr", None)
    if not pairs or not tabs:
        return tabs
    index, args = tabs[0]
    prompt, negative, _ = image_prompts(p, 0)

    def resolved(box: str, main_prompt: str) -> str:
        parsed = parse_box(box)  # the seed tokens stay where they were
        return render([resolve(t, main_prompt, pairs) for t in parsed.texts], parsed.seeds)

    replaced = args.replace(
        ad_prompt=resolved(args.ad_prompt, prompt),
        ad_negative_prompt=resolved(args.ad_negative_prompt, negative),
    )
    return [(index, replaced), *tabs[1:]]


# --- the two stages: before the hires pass (the seam) and postprocess_image ------------------


def postprocess_image(p: Any, pp: Any) -> None:
    """The stage after hires fix (or the only one): every tab, or the "After hires fix" ones."""
    run: Run | None = getattr(p, "_ad_run", None)
    if run is None or getattr(p, "_ad_inner", False) or getattr(p, "_ad_busy", False):
        return
    tabs = _tabs_after_hires(p, run)
    if not tabs:
        return
    position = getattr(p, "batch_index", 0)
    index = image_index(p)
    # with Skip img2img the main pass's image is a 128x128 placeholder: the init image is the
    # generation's un-detailed image
    source = _init_image(p) if run.skip_img2img else pp.image
    try:
        with _detailing(p, unhook=position == 0, rearm=position == p.batch_size - 1):
            if index not in run.before_hires:
                run.records.pop(index, None)
            inputs = _inputs(p, index, position, HIRES_AFTER, source.size)
            detailed, redrawn = detail_image(p, ensure_rgb(source), inputs, tabs, run)
            if redrawn and not run.skip_img2img:
                _save(p, source, position, "ad_save_images_before", "-ad-before")
    except Exception:
        log.error("detailing failed; the image is kept as generated.")
        pp.image = source
        return
    if redrawn or run.skip_img2img:  # with Skip img2img the main pass made nothing worth keeping
        pp.image = detailed


def _tabs_after_hires(p: Any, run: Run) -> list[tuple[int, TabArgs]]:
    """The "After hires fix" tabs, and the "Before" ones too when the seam did not run."""
    before = run.stage_tabs(HIRES_BEFORE)
    seam = hires.seam_of(p)
    if not before or (seam is not None and p.iteration in seam.calls):
        return run.stage_tabs(HIRES_AFTER)
    if not run.said_no_seam:
        run.said_no_seam = True
        reason = run.no_seam or (
            "the hires pass did not go through sample_hr_pass (another script replaced the"
            " sampling)"
        )
        names = ", ".join(tab_label(i).removeprefix("ADetailer ") for i, _ in before)
        verb = "runs" if len(before) == 1 else "run"
        log.warn(f"the {names} ({HIRES_BEFORE}) {verb} after hires fix: {reason}.")
    return run.tabs


def detail_first_pass(p: Any, images: list[Image.Image]) -> list[Image.Image | None]:
    """The stage before the hires pass: the "Before hires fix" tabs on each first-pass image of
    the batch (called from the seam, `hires.HiresSeam`); None for an image left as it was."""
    results: list[Image.Image | None] = [None] * len(images)
    run: Run | None = getattr(p, "_ad_run", None)
    tabs = run.stage_tabs(HIRES_BEFORE) if run is not None else []
    if run is None or not tabs:
        return results
    with _detailing(p, unhook=True, rearm=True):
        for position, image in enumerate(images):
            if should_stop():
                break
            index = p.iteration * p.batch_size + position
            run.before_hires.add(index)
            run.records.pop(index, None)
            try:
                inputs = _inputs(p, index, position, HIRES_BEFORE, image.size)
                detailed, redrawn = detail_image(p, image, inputs, tabs, run)
            except Exception:
                log.error(
                    f"detailing image {index + 1} before hires fix failed; the hires pass takes"
                    " it as generated."
                )
                continue
            if redrawn:
                results[position] = detailed
                _save(p, image, position, "ad_save_images_before", "-ad-before")
    return results


@contextlib.contextmanager
def _detailing(p: Any, *, unhook: bool, rearm: bool) -> Iterator[None]:
    """Around detail passes: other scripts' hooks off the model (`unhook`, first image of a
    batch) and back on (`rearm`, its last), ADetailer deaf to its own nested passes, and
    params.txt as the generation wrote it."""
    params_txt = read_text(host.params_txt_path())
    p._ad_busy = True
    try:
        if unhook:
            other_scripts_postprocess(p)
        yield
    finally:
        try:
            if rearm:
                other_scripts_process(p)  # re-armed for what follows, whatever happened here
        finally:
            p._ad_busy = False
            write_text(host.params_txt_path(), params_txt)


def image_index(p: Any) -> int:
    return p.iteration * p.batch_size + getattr(p, "batch_index", 0)


def _item(values: Sequence[Any] | None, index: int, default: Any) -> Any:
    if not values:
        return default
    return values[index % len(values)]


def image_prompts(p: Any, index: int) -> tuple[str, str, list[str]]:
    """The image's prompt and negative, and the styles the detail pass should apply to them.

    `all_prompts` already has the styles applied; when the unstyled prompt with the styles gives
    exactly that, the detail pass gets the unstyled prompt and the styles (so a custom ADetailer
    prompt gets them too, and nothing gets them twice); otherwise (e.g. a wildcard extension
    rewrote the prompts) it gets the final prompt and no styles.
    """
    styled = _item(p.all_prompts, index, p.prompt)
    styled_negative = _item(p.all_negative_prompts, index, p.negative_prompt)
    raw = _item(p.prompt, index, "") if isinstance(p.prompt, list) else p.prompt
    raw_negative = (
        _item(p.negative_prompt, index, "")
        if isinstance(p.negative_prompt, list)
        else p.negative_prompt
    )
    styles = list(p.styles or [])
    if styles:
        with contextlib.suppress(Exception):
            from modules import shared

            prompt_styles = shared.prompt_styles
            if (
                prompt_styles.apply_styles_to_prompt(raw, styles) == styled
                and prompt_styles.apply_negative_styles_to_prompt(raw_negative, styles)
                == styled_negative
            ):
                return raw, raw_negative, styles
    return styled, styled_negative, []


def is_inpaint(p: Any) -> bool:
    return getattr(p, "image_mask", None) is not None


def inpainted_area(p: Any) -> np.ndarray:
    """Where img2img inpaints, as A1111 applies the user's mask: "Inpaint not masked"
    (`inpainting_mask_invert`) inverts it, so an empty mask inverted is the whole image."""
    user = binary_mask(p.image_mask, p.image_mask.size)
    return ~user if getattr(p, "inpainting_mask_invert", 0) else user


def _init_image(p: Any) -> Image.Image:
    return p.init_images[min(getattr(p, "batch_index", 0), len(p.init_images) - 1)]


@dataclass(frozen=True)
class _ImageInputs:
    """What every tab reads from `p` for one image, worked out once for all tabs."""

    index: int  # in the whole generation
    position: int  # in its batch
    stage: str  # HIRES_BEFORE or HIRES_AFTER
    prompt: str
    negative_prompt: str
    styles: list[str]
    user_mask: Image.Image | None  # tabs keep the image's size, so one mask serves them all


def _inputs(p: Any, index: int, position: int, stage: str, size: tuple[int, int]) -> _ImageInputs:
    return _ImageInputs(index, position, stage, *image_prompts(p, index), _user_mask(p, size))


def detail_image(
    p: Any,
    image: Image.Image,
    inputs: _ImageInputs,
    tabs: Sequence[tuple[int, TabArgs]],
    run: Run,
) -> tuple[Image.Image, bool]:
    """The tabs, in order, on one image: (the image as far as it got, anything redrawn)."""
    redrawn = False
    with model_overrides() as overrides, quiet_total_progress():
        for tab_index, args in tabs:
            if should_stop():
                break
            image, changed, stop = detail_tab(p, image, inputs, tab_index, args, run, overrides)
            redrawn |= changed
            if stop:
                break
    return image, redrawn


def detail_tab(
    p: Any,
    image: Image.Image,
    inputs: _ImageInputs,
    tab_index: int,
    args: TabArgs,
    run: Run,
    overrides: Overrides,
) -> tuple[Image.Image, bool, bool]:
    """One tab on one image: (image as far as it got, anything redrawn, stop requested)."""
    from modules import devices, shared

    index = inputs.index
    label = tab_label(tab_index)
    try:
        result = detect_and_mask(
            image,
            args,
            host.registry(),
            sort_by=str(settings.read("ad_bbox_sortby")),
            user_mask=inputs.user_mask,
            device=host.detection_device(),
        )
    except (DetectorError, UnknownModelError) as exc:
        # the model cannot be had or run (offline, damaged file, ...): this tab only is skipped
        message = f"{label} skipped: {exc}"
        log.warn(message)
        _add_warning(p, run, message)
        return image, False, False
    if not result.found.items:
        log.info(f"nothing detected on image {index + 1} with the {label} ({args.ad_model}).")
        return image, False, False
    preview = result.found.preview()
    shared.state.assign_current_image(preview)
    suffix = "-ad-preview" + infotext_suffix(tab_index).replace(" ", "-")
    _save(p, preview, inputs.position, "ad_save_previews", suffix)

    jobs = plan_jobs(result.masks, args, _job_settings(p, inputs))
    if not jobs:
        return image, False, False
    shared.state.job_count += len(jobs)
    overrides.use(overrides_for(args))

    def report(line: str) -> None:  # a ControlNet that failed in a detail pass
        message = f"{label}: {line}"
        log.warn(message)
        _add_warning(p, run, message)

    def inpaint(current: Image.Image, job: InpaintJob) -> Image.Image | None:
        return run_inner_pass(p, current, job, args, inputs.styles, report)

    done = run_jobs(
        image,
        jobs,
        inpaint,
        should_stop=should_stop,
        recoverable=(devices.NansException,),
    )
    for job, reason in done.failed:
        log.warn(f"{label}, detection {job.index + 1}: skipped ({reason.splitlines()[0]})")
    stage = {"stage": inputs.stage} if run.hires else {}
    run.records.setdefault(index, []).extend(
        {"tab": tab_index + 1, **stage, **job.record()} for job in done.done
    )
    return done.image, bool(done.done), done.stopped


def _user_mask(p: Any, size: tuple[int, int]) -> Image.Image | None:
    """In img2img inpaint "whole picture", only detections touching the user's mask are redrawn."""
    if not is_inpaint(p) or getattr(p, "inpaint_full_res", False):
        return None
    from modules import images

    mask = Image.fromarray(inpainted_area(p).astype("uint8") * 255, mode="L")
    return images.resize_image(p.resize_mode, mask, size[0], size[1])


def _job_settings(p: Any, inputs: _ImageInputs) -> JobSettings:
    index = inputs.index
    orig = original(p)
    return JobSettings(
        prompt=inputs.prompt,
        negative_prompt=inputs.negative_prompt,
        seed=int(_item(p.all_seeds, index, p.seed)),
        subseed=int(_item(p.all_subseeds, index, p.subseed)),
        width=orig.width,
        height=orig.height,
        same_seed=bool(settings.read("ad_same_seed_for_each_tab")),
        denoise_power=float(settings.read("ad_dynamic_denoise_power")),
        match_mode=str(settings.read("ad_match_inpaint_bbox_size")),
        is_sdxl=host.is_sdxl(),
    )


def _save(p: Any, image: Image.Image, position: int, setting: str, suffix: str) -> None:
    if not settings.read(setting):
        return
    from modules import images, processing, shared

    index = p.iteration * p.batch_size + position
    folder = str(settings.read("ad_save_images_dir")).strip() or p.outpath_samples
    info = processing.create_infotext(
        p,
        p.all_prompts,
        p.all_seeds,
        p.all_subseeds,
        iteration=p.iteration,
        position_in_batch=position,
    )
    images.save_image(
        image,
        folder,
        "",
        seed=_item(p.all_seeds, index, p.seed),
        prompt=_item(p.all_prompts, index, p.prompt),
        extension=shared.opts.samples_format,
        info=info,
        p=p,
        suffix=suffix,
    )
