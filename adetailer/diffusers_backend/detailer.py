"""`Detailer`: ADetailer's whole job on images people already have, with a diffusers pipeline.

    from adetailer import Detailer

    detailer = Detailer.from_checkpoint("model.safetensors")     # or Detailer(your_pipeline)
    out = detailer(image, tabs=[{"ad_model": "face_yolov8n.pt"}], prompt="a photo", seed=1)
    out.image.save("out.png", pnginfo=out.pnginfo())

The image's own infotext (A1111's PNG `parameters` or EXIF UserComment) gives the defaults for
the prompt, negative prompt, seed, sampler, steps and CFG scale; the arguments given here win.
Each tab runs the core's path (detect, mask steps, inpaint jobs, the seed rule) and the jobs
are drawn by `redraw.TabRedraw`. The result's infotext is the source's plus ADetailer's keys.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from adetailer.args import Choices, TabArgs, parse_script_args, tab_label
from adetailer.detections import Detections
from adetailer.diffusers_backend.checkpoints import LoadedModel, load_checkpoint
from adetailer.diffusers_backend.loras import LoraLibrary
from adetailer.diffusers_backend.redraw import RedrawSettings, TabRedraw, Timings
from adetailer.diffusers_backend.samplers import (
    DEFAULT_SAMPLER,
    DEFAULT_SCHEDULE,
    SCHEDULES,
    SamplerError,
    describe,
    sampler_names,
    split_name,
)
from adetailer.images import ensure_rgb
from adetailer.infotext import tabs_from_infotext
from adetailer.inpaint import InpaintJob, JobSettings, plan_jobs
from adetailer.masks import SORT_NONE
from adetailer.pipeline import detect_and_mask
from adetailer.pnginfo import (
    Infotext,
    detailed_infotext,
    parse_infotext,
    png_info,
    read_infotext,
)
from adetailer.registry import ModelRegistry

DEFAULT_TAB = {"ad_model": "mediapipe_face_full"}  # works offline: MediaPipe ships it
DEFAULT_STEPS = 20
DEFAULT_CFG = 7.0
AUTO_BATCH = 0
# Options the web UI serves that this backend has nothing for; the tab runs without them.
_NOT_HERE = {
    "ad_use_checkpoint": "a separate checkpoint",
    "ad_use_vae": "a separate VAE",
    "ad_use_noise_multiplier": "the noise multiplier",
    "ad_restore_face": "face restoration",
}


@dataclass
class TabOutput:
    """What one tab found and redrew on the image."""

    index: int
    args: TabArgs
    found: Detections
    masks: Detections
    done: list[InpaintJob] = field(default_factory=list)
    failed: list[tuple[InpaintJob, str]] = field(default_factory=list)


@dataclass
class DetailOutput:
    """The detailed image, each tab's detections, and the infotext written into it."""

    image: Image.Image
    tabs: list[TabOutput]
    infotext: str
    warnings: list[str] = field(default_factory=list)
    seed: int = 0

    @property
    def detections(self) -> dict[int, Detections]:
        return {tab.index: tab.found for tab in self.tabs}

    @property
    def found(self) -> int:
        return sum(len(tab.found) for tab in self.tabs)

    @property
    def redrawn(self) -> int:
        return sum(len(tab.done) for tab in self.tabs)

    def pnginfo(self) -> Any:
        """The PNG text chunk A1111's PNG Info and "Send to txt2img" read."""
        return png_info(self.infotext)

    def save(self, path: str | Path) -> None:
        self.image.save(path, pnginfo=self.pnginfo())


@dataclass(frozen=True)
class _Generation:
    """The values a run takes from the caller, else the image's infotext, else the defaults."""

    prompt: str
    negative_prompt: str
    seed: int
    settings: RedrawSettings
    source: Infotext | None
    notes: list[str] = field(default_factory=list)  # what was taken differently from the image


def default_batch(device: str) -> int:
    """Crops per pipeline call when the caller does not say: what the device comfortably fits."""
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return 8 if free > 12 * 2**30 else 4
    return 2 if device == "mps" else 4


class Detailer:
    """Detect, mask and redraw with a diffusers pipeline; one instance serves many images."""

    def __init__(
        self,
        pipe: Any,
        *,
        registry: ModelRegistry | None = None,
        lora_dir: str | Path | None = None,
        detection_device: str | None = None,
    ) -> None:
        self.model = pipe if isinstance(pipe, LoadedModel) else _wrap_pipeline(pipe)
        self.model.pipe.set_progress_bar_config(disable=True)  # the caller shows progress
        self.registry = registry or ModelRegistry(_default_models_dir())
        self.loras = LoraLibrary(self.model.pipe, lora_dir)
        device = self.model.pipe.unet.device
        self.device = str(device) if device.type != "cpu" else "cpu"
        self.detection_device = detection_device if detection_device is not None else self.device
        self.timings = Timings()

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str = "auto",
        *,
        registry: ModelRegistry | None = None,
        lora_dir: str | Path | None = None,
    ) -> Detailer:
        """A `.safetensors`/`.ckpt` checkpoint or a diffusers folder, loaded offline."""
        return cls(load_checkpoint(path, device), registry=registry, lora_dir=lora_dir)

    def parse_tabs(self, tabs: Sequence[Any] | None) -> list[tuple[int, TabArgs]]:
        """Validated tabs from dicts, `TabArgs` or an `alwayson_scripts` argument list."""
        items = [t.dict() if isinstance(t, TabArgs) else t for t in (tabs or [])]
        parsed = parse_script_args(items, tab_choices(self.registry))
        if parsed.errors:
            raise ValueError(parsed.errors[0])
        return parsed.active_tabs

    def __call__(
        self,
        image: Image.Image,
        tabs: Sequence[Any] | None = None,
        *,
        prompt: str | None = None,
        negative_prompt: str | None = None,
        seed: int | None = None,
        sampler: str | None = None,
        scheduler: str | None = None,
        steps: int | None = None,
        cfg_scale: float | None = None,
        clip_skip: int | None = None,
        batch_size: int = AUTO_BATCH,
        infotext: str | bool = True,
        from_infotext: bool = False,
        sort_by: str = SORT_NONE,
        on_progress: Callable[[int], None] | None = None,
    ) -> DetailOutput:
        """Detail `image` with each tab in turn; the image itself is never changed.

        `infotext`: True reads the image's own, a string is used as the image's infotext,
        False ignores it. `from_infotext` takes the tabs from its "ADetailer ..." keys.
        """
        text = read_infotext(image) if infotext is True else (infotext or None)
        source = parse_infotext(text) if text else None
        run = self._generation(
            source, prompt, negative_prompt, seed, sampler, scheduler, steps, cfg_scale, clip_skip
        )
        if from_infotext:
            if source is None:
                raise ValueError("--from-infotext: the image has no infotext")
            found = tabs_from_infotext(source.params)
            if not found:
                raise ValueError("--from-infotext: the image's infotext has no ADetailer keys")
            active = [(i, a) for i, a in found.items() if not a.need_skip()]
        else:
            active = self.parse_tabs(tabs if tabs is not None else [DEFAULT_TAB])
        limit = batch_size if batch_size > 0 else default_batch(self.device)

        current = ensure_rgb(image)
        outputs, warnings = [], list(run.notes)
        for index, args in active:
            warnings += _unsupported(index, args)
            current, output = self._tab(current, index, args, run, limit, sort_by, on_progress)
            outputs.append(output)
        info = self._infotext(image, run, active, outputs, warnings)
        return DetailOutput(current, outputs, info, warnings, run.seed)

    # --- steps ----------------------------------------------------------------------------------

    def _generation(
        self,
        source: Infotext | None,
        prompt: str | None,
        negative: str | None,
        seed: int | None,
        sampler: str | None,
        scheduler: str | None,
        steps: int | None,
        cfg_scale: float | None,
        clip_skip: int | None,
    ) -> _Generation:
        params = source.params if source else {}
        notes: list[str] = []
        if sampler is None and params.get("Sampler"):
            try:
                split_name(params["Sampler"], scheduler or params.get("Schedule type"))
                sampler, scheduler = params["Sampler"], scheduler or params.get("Schedule type")
            except SamplerError:  # the image's own sampler has no diffusers twin: say so, go on
                notes.append(
                    f"the image's sampler {params['Sampler']!r} is not available here; "
                    f"{DEFAULT_SAMPLER} {DEFAULT_SCHEDULE} is used"
                )
        if sampler is None:
            sampler, scheduler = DEFAULT_SAMPLER, scheduler or DEFAULT_SCHEDULE
        split_name(sampler, scheduler)  # a name the caller gave fails here, before any work
        if seed is None:  # the image's own seed; -1 asks for a random one, as in the web UI
            seed = _int(params.get("Seed"))
        if seed is None or seed < 0:
            seed = random.randrange(2**32)
        settings = RedrawSettings(
            steps=steps if steps is not None else _int(params.get("Steps")) or DEFAULT_STEPS,
            cfg_scale=cfg_scale
            if cfg_scale is not None
            else _float(params.get("CFG scale"), DEFAULT_CFG),
            sampler=sampler,
            schedule=scheduler,
            clip_skip=clip_skip if clip_skip is not None else _int(params.get("Clip skip")) or 1,
        )
        return _Generation(
            prompt if prompt is not None else (source.prompt if source else ""),
            negative if negative is not None else (source.negative_prompt if source else ""),
            seed,
            settings,
            source,
            notes,
        )

    def _tab(
        self,
        image: Image.Image,
        index: int,
        args: TabArgs,
        run: _Generation,
        limit: int,
        sort_by: str,
        on_progress: Callable[[int], None] | None,
    ) -> tuple[Image.Image, TabOutput]:
        result = detect_and_mask(
            image, args, self.registry, sort_by=sort_by, device=self.detection_device
        )
        output = TabOutput(index, args, result.found, result.masks)
        width, height = image.size
        jobs = plan_jobs(
            result.masks,
            args,
            JobSettings(
                prompt=run.prompt,
                negative_prompt=run.negative_prompt,
                seed=run.seed,
                subseed=run.seed,
                width=width,
                height=height,
                is_sdxl=self.model.is_sdxl,
            ),
        )
        if not jobs:
            return image, output
        redraw = TabRedraw(
            self.model,
            args,
            RedrawSettings.for_tab(run.settings, args),
            self.loras,
            self.timings,
            on_batch=on_progress or (lambda done: None),
        )
        done = redraw.run(image, jobs, limit)
        output.done, output.failed = done.done, done.failed
        return done.image, output

    def _infotext(
        self,
        image: Image.Image,
        run: _Generation,
        tabs: list[tuple[int, TabArgs]],
        outputs: list[TabOutput],
        warnings: list[str],
    ) -> str:
        sampler, schedule = describe(run.settings.sampler, run.settings.schedule)
        generation: dict[str, Any] = {
            "Steps": run.settings.steps,
            "Sampler": sampler,
            "Schedule type": schedule,
            "CFG scale": _number(run.settings.cfg_scale),
            "Seed": run.seed,
        }
        if run.source is None or "Size" not in run.source.params:
            generation["Size"] = f"{image.width}x{image.height}"
        if run.settings.clip_skip > 1:
            generation["Clip skip"] = run.settings.clip_skip
        records = [{"tab": out.index + 1, **job.record()} for out in outputs for job in out.done]
        return detailed_infotext(
            run.source, run.prompt, run.negative_prompt, generation, tabs, records, warnings
        )


def tab_choices(registry: ModelRegistry) -> Choices:
    """The names a tab may use here: the registry's models, the samplers this backend maps."""
    return Choices(models=registry.names(), samplers=sampler_names(), schedulers=list(SCHEDULES))


def _unsupported(index: int, args: TabArgs) -> list[str]:
    lines = [
        f"{tab_label(index)}: {what} ({key}) is not available in the standalone detailer; ignored"
        for key, what in _NOT_HERE.items()
        if getattr(args, key)
    ]
    if args.ad_controlnet_model != "None":
        lines.append(
            f"{tab_label(index)}: ControlNet (ad_controlnet_model) is not available in the "
            "standalone detailer; ignored"
        )
    return lines


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _default_models_dir() -> Path:
    from adetailer.cli import _default_models_dir as models_dir

    return models_dir()


def _wrap_pipeline(pipe: Any) -> LoadedModel:
    """An inpaint pipeline sharing the components of the user's own (no copy of the weights)."""
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionXLInpaintPipeline

    from adetailer.diffusers_backend.architectures import SD1, SD2, SDXL

    components: Mapping[str, Any] = getattr(pipe, "components", {})
    if not {"unet", "vae", "text_encoder", "tokenizer", "scheduler"} <= set(components):
        msg = (
            f"Detailer needs a Stable Diffusion (1.x, 2.x or SDXL) pipeline with unet, vae, "
            f"text_encoder, tokenizer and scheduler; got {type(pipe).__name__}"
        )
        raise TypeError(msg)
    sdxl = components.get("text_encoder_2") is not None
    target = StableDiffusionXLInpaintPipeline if sdxl else StableDiffusionInpaintPipeline
    inpaint = pipe if isinstance(pipe, target) else target.from_pipe(pipe)
    quick_gelu = pipe.text_encoder.config.hidden_act == "quick_gelu"  # OpenAI CLIP: SD 1.x
    family = SDXL if sdxl else (SD1 if quick_gelu else SD2)
    return LoadedModel(inpaint, family, pipe.unet.config.in_channels == 9, type(pipe).__name__)
