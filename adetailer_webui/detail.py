"""The generation side: `process` prepares a generation, `postprocess_image` details each image.

The core decides what to redraw (detections, masks, inpaint jobs); this module turns each job
into one A1111 img2img "inpaint only masked" pass built from the generation's own `p`, and
guards the user's image: whatever fails in here, the generation keeps its un-detailed image.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

import controlnet_ext
from adetailer.args import (
    SAME_CHECKPOINT,
    SAME_SAMPLER,
    SAME_SCHEDULER,
    SAME_VAE,
    TabArgs,
    tab_label,
)
from adetailer.detectors.base import DetectorError
from adetailer.images import ensure_rgb
from adetailer.infotext import DETECTIONS_KEY, WARNINGS_KEY, infotext_suffix, to_infotext_params
from adetailer.inpaint import InpaintJob, JobSettings, plan_jobs
from adetailer.masks import binary_mask
from adetailer.pipeline import detect_and_mask, run_jobs
from adetailer.prompts import split_prompt
from adetailer.registry import UnknownModelError
from adetailer_webui import host, log, settings
from adetailer_webui.arguments import parse_for_generation

SKIP_STEPS = 1
SKIP_SAMPLER = "Euler"
SKIP_SIZE = 128


@dataclass(frozen=True)
class Original:
    """What Skip img2img changed on `p`, for the detail pass and the infotext."""

    steps: int
    sampler_name: str
    width: int
    height: int


@dataclass
class Run:
    """One generation's ADetailer state, kept on `p` between `process` and `postprocess_image`."""

    tabs: list[tuple[int, TabArgs]] = field(default_factory=list)
    skip_img2img: bool = False
    records: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    written: set[str] = field(default_factory=set)  # infotext keys this run put on `p`


# --- process ---------------------------------------------------------------------------------


def process(p: Any, args: Sequence[Any]) -> None:
    if getattr(p, "_ad_inner", False) or getattr(p, "_ad_busy", False):
        return  # our own detail pass, or other scripts re-armed from inside it
    p._ad_run = None
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
        return
    if is_inpaint(p) and not binary_mask(p.image_mask, p.image_mask.size).any():
        log.info("img2img inpainting with an empty mask: ADetailer is off for this generation.")
        return
    skip = parsed.skip_img2img and bool(getattr(p, "init_images", None))
    if skip and is_inpaint(p):
        log.info("Skip img2img does not work with inpainting; img2img runs as usual.")
        skip = False
    run.tabs, run.skip_img2img = _with_xyz(p, parsed.active_tabs), skip
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
    if getattr(p, "_ad_orig", None) is None:  # img2img batch reuses p for every file
        p._ad_orig = Original(p.steps, p.sampler_name, p.width, p.height)
    orig = p._ad_orig
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
    resolved = args.replace(
        ad_prompt=" [SEP] ".join(split_prompt(args.ad_prompt, prompt, pairs)),
        ad_negative_prompt=" [SEP] ".join(split_prompt(args.ad_negative_prompt, negative, pairs)),
    )
    return [(index, resolved), *tabs[1:]]


# --- postprocess_image -----------------------------------------------------------------------


def postprocess_image(p: Any, pp: Any) -> None:
    run: Run | None = getattr(p, "_ad_run", None)
    if run is None or getattr(p, "_ad_inner", False) or getattr(p, "_ad_busy", False):
        return
    original = pp.image
    try:
        detailed = detail_image(p, pp, run)
    except Exception:
        log.error("detailing failed; the image is kept as generated.")
        pp.image = original
        return
    if detailed is not None:
        pp.image = detailed


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


def detail_image(p: Any, pp: Any, run: Run) -> Image.Image | None:
    """Every tab, in order, on this image; None when nothing was redrawn."""
    from modules import shared

    index = image_index(p)
    skip = run.skip_img2img
    source = _init_image(p) if skip else pp.image
    image = ensure_rgb(source)
    params_txt = _read_text(host.params_txt_path())
    run.records.pop(index, None)

    p._ad_busy = True
    try:
        _other_scripts_postprocess(p)
        redrawn = False
        with _model_overrides() as overrides, _quiet_total_progress():
            for tab_index, args in run.tabs:
                if _should_stop():
                    break
                image, changed, stop = detail_tab(p, image, tab_index, args, run, overrides)
                redrawn |= changed
                if stop:
                    break
        if redrawn and not skip:
            _save(p, source, "ad_save_images_before", "-ad-before")
        _other_scripts_process(p)
    finally:
        p._ad_busy = False
        _write_text(host.params_txt_path(), params_txt)
        shared.state.textinfo = None
    if skip:
        return image  # the main pass produced nothing worth keeping
    return image if redrawn else None


def _init_image(p: Any) -> Image.Image:
    return p.init_images[min(getattr(p, "batch_index", 0), len(p.init_images) - 1)]


def _should_stop() -> bool:
    from modules import shared

    return bool(shared.state.interrupted or shared.state.skipped)


def detail_tab(
    p: Any,
    image: Image.Image,
    tab_index: int,
    args: TabArgs,
    run: Run,
    overrides: _Overrides,
) -> tuple[Image.Image, bool, bool]:
    """One tab on one image: (image as far as it got, anything redrawn, stop requested)."""
    from modules import devices, shared

    index = image_index(p)
    label = tab_label(tab_index)
    try:
        result = detect_and_mask(
            image,
            args,
            host.registry(),
            sort_by=str(settings.read("ad_bbox_sortby")),
            user_mask=_user_mask(p, image.size),
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
    _save(
        p, preview, "ad_save_previews", "-ad-preview" + infotext_suffix(tab_index).replace(" ", "-")
    )

    jobs = plan_jobs(result.masks, args, _job_settings(p, args, index))
    if not jobs:
        return image, False, False
    shared.state.job_count += len(jobs)
    overrides.use(_overrides_for(args))
    styles = image_prompts(p, index)[2]

    def inpaint(current: Image.Image, job: InpaintJob) -> Image.Image | None:
        return run_inner_pass(p, current, job, args, styles)

    done = run_jobs(
        image,
        jobs,
        inpaint,
        should_stop=_should_stop,
        recoverable=(devices.NansException,),
    )
    for job, reason in done.failed:
        log.warn(f"{label}, detection {job.index + 1}: skipped ({reason.splitlines()[0]})")
    run.records.setdefault(index, []).extend(
        {"tab": tab_index + 1, **job.record()} for job in done.done
    )
    return done.image, bool(done.done), done.stopped


def _user_mask(p: Any, size: tuple[int, int]) -> Image.Image | None:
    """In img2img inpaint "whole picture", only detections touching the user's mask are redrawn."""
    if not is_inpaint(p) or getattr(p, "inpaint_full_res", False):
        return None
    from modules import images
    from PIL import ImageOps

    mask = p.image_mask.convert("L") if p.image_mask.mode not in ("RGBA", "LA") else p.image_mask
    mask = Image.fromarray(binary_mask(mask, mask.size).astype("uint8") * 255, mode="L")
    if getattr(p, "inpainting_mask_invert", 0):
        mask = ImageOps.invert(mask)
    return images.resize_image(p.resize_mode, mask, size[0], size[1])


def _job_settings(p: Any, args: TabArgs, index: int) -> JobSettings:
    prompt, negative, _ = image_prompts(p, index)
    orig: Original | None = getattr(p, "_ad_orig", None)
    width, height = (orig.width, orig.height) if orig else (p.width, p.height)
    return JobSettings(
        prompt=prompt,
        negative_prompt=negative,
        seed=int(_item(p.all_seeds, index, p.seed)),
        subseed=int(_item(p.all_subseeds, index, p.subseed)),
        width=width,
        height=height,
        same_seed=bool(settings.read("ad_same_seed_for_each_tab")),
        denoise_power=float(settings.read("ad_dynamic_denoise_power")),
        match_mode=str(settings.read("ad_match_inpaint_bbox_size")),
        is_sdxl=host.is_sdxl(),
    )


def _overrides_for(args: TabArgs) -> dict[str, Any]:
    wanted: dict[str, Any] = {}
    if args.ad_use_checkpoint and args.ad_checkpoint not in (None, "", "None", SAME_CHECKPOINT):
        wanted["sd_model_checkpoint"] = args.ad_checkpoint
    if args.ad_use_vae and args.ad_vae not in (None, "", SAME_VAE):
        wanted["sd_vae"] = args.ad_vae
    if args.ad_use_clip_skip:
        wanted["CLIP_stop_at_last_layers"] = args.ad_clip_skip
    return wanted


def run_inner_pass(
    p: Any, image: Image.Image, job: InpaintJob, args: TabArgs, styles: list[str]
) -> Image.Image | None:
    """One detection's img2img "inpaint only masked" pass; None when it did not finish."""
    from modules import processing

    p2 = build_inner_p(p, image, job, args, styles)
    try:
        with controlnet_ext.units.batch_hijack_off():  # ControlNet
            processed = processing.process_images(p2)
    finally:
        p2.close()
    if not processed.images or _should_stop():
        return None  # an interrupted pass is half done: keep the image from before it
    result = processed.images[0]
    if result.size != image.size:  # a separate inpaint size in "whole picture" mode
        result = result.resize(image.size, Image.LANCZOS)
    return ensure_rgb(result)


def _sampler(p: Any, args: TabArgs) -> str:
    orig: Original | None = getattr(p, "_ad_orig", None)
    if args.ad_use_sampler and args.ad_sampler != SAME_SAMPLER:
        return args.ad_sampler
    if args.ad_use_sampler:
        return p.sampler_name if not orig else orig.sampler_name
    return orig.sampler_name if orig else p.sampler_name


def _scheduler(p: Any, args: TabArgs) -> str:
    if args.ad_use_sampler and args.ad_scheduler != SAME_SCHEDULER:
        return args.ad_scheduler
    return getattr(p, "scheduler", None) or "Automatic"


def build_inner_p(
    p: Any, image: Image.Image, job: InpaintJob, args: TabArgs, styles: list[str]
) -> Any:
    from modules.processing import StableDiffusionProcessingImg2Img

    orig: Original | None = getattr(p, "_ad_orig", None)
    steps = args.ad_steps if args.ad_use_steps else (orig.steps if orig else p.steps)
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
    controlnet_ext.units.prepare_inner_pass(p, p2, args)  # ControlNet: units of this pass
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


# --- around the detail pass ------------------------------------------------------------------


class _Overrides:
    """Checkpoint, VAE and CLIP skip of the detail pass, switched only when they change.

    A1111 would load a separate checkpoint or VAE for every detection and switch back after
    each; here each is loaded once per image and the user's settings come back at the end.
    """

    KEYS = ("sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers")

    def __init__(self) -> None:
        from modules import shared

        opts = shared.opts
        self.saved = {key: getattr(opts, key, None) for key in self.KEYS}
        self.present = {key: key in opts.data for key in self.KEYS}
        self.current = dict(self.saved)

    def use(self, wanted: Mapping[str, Any]) -> None:
        for key in self.KEYS:
            target = wanted.get(key, self.saved[key])
            if target != self.current[key]:
                self._set(key, target)

    def restore(self) -> None:
        from modules import shared

        self.use({})
        for key in self.KEYS:
            if not self.present[key]:
                shared.opts.data.pop(key, None)

    def _set(self, key: str, value: Any) -> None:
        self.current[key] = value
        if host.is_forge():
            self._set_in_forge(key, value)
            return
        from modules import sd_models, sd_vae, shared

        shared.opts.set(key, value, is_api=True, run_callbacks=False)
        if key == "sd_model_checkpoint":
            sd_models.reload_model_weights()
        elif key == "sd_vae":
            sd_vae.reload_vae_weights()

    def _set_in_forge(self, key: str, value: Any) -> None:
        """Forge switches checkpoints through `sysinfo.set_config` and loads the model at the next
        `process_images` (the detail pass; the generation's next batch reloads the user's own).
        Its VAE comes from its own "VAE / Text Encoder" setting, not from `sd_vae`."""
        if key == "sd_vae":
            if value is not None:
                log.info(
                    "Forge chooses the VAE in its own setting; the tab's separate VAE is not used."
                )
            return
        from modules import sysinfo

        sysinfo.set_config({key: value}, is_api=True, run_callbacks=False, save_config=False)


@contextlib.contextmanager
def _model_overrides() -> Iterator[_Overrides]:
    overrides = _Overrides()
    try:
        yield overrides
    finally:
        overrides.restore()


@contextlib.contextmanager
def _quiet_total_progress() -> Iterator[None]:
    """The console's total progress bar would count the detail passes as extra main steps."""
    from modules import shared

    data = shared.opts.data
    had, before = "multiple_tqdm" in data, data.get("multiple_tqdm")
    data["multiple_tqdm"] = False
    try:
        yield
    finally:
        if had:
            data["multiple_tqdm"] = before
        else:
            data.pop("multiple_tqdm", None)


@contextlib.contextmanager
def _same_prompts(p: Any) -> Iterator[None]:
    saved = (p.all_prompts, p.all_negative_prompts)
    try:
        yield
    finally:
        p.all_prompts, p.all_negative_prompts = saved


def _other_scripts_postprocess(p: Any) -> None:
    """Let other scripts (ControlNet) undo their hooks on the model before the detail passes."""
    if p.scripts is None or getattr(p, "batch_index", 0) != 0:
        return
    from modules.processing import Processed

    with _same_prompts(p):
        p.scripts.postprocess(copy.copy(p), Processed(p, [], p.seed, ""))


def _other_scripts_process(p: Any) -> None:
    """And re-arm them for the next batch after the last image of this one."""
    if p.scripts is None or getattr(p, "batch_index", 0) != p.batch_size - 1:
        return
    with _same_prompts(p):
        copied = copy.copy(p)
        p.scripts.before_process(copied)
        p.scripts.process(copied)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf8")
    except OSError:
        return None


def _write_text(path: Path, content: str | None) -> None:
    if content is None:
        return
    with contextlib.suppress(OSError):
        path.write_text(content, encoding="utf8")


def _save(p: Any, image: Image.Image, setting: str, suffix: str) -> None:
    if not settings.read(setting):
        return
    from modules import images, processing, shared

    index = image_index(p)
    folder = str(settings.read("ad_save_images_dir")).strip() or p.outpath_samples
    info = processing.create_infotext(
        p,
        p.all_prompts,
        p.all_seeds,
        p.all_subseeds,
        iteration=p.iteration,
        position_in_batch=getattr(p, "batch_index", 0),
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
