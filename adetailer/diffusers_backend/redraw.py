"""The standalone redraw: a tab's inpaint jobs drawn by a diffusers inpaint pipeline.

Each job is cut out as A1111's "inpaint only masked" cuts it (`adetailer.crops`), redrawn by
diffusers' inpaint pipeline at the processing size (masked content "original": the crop's own
latents noised to the denoising strength; a 9-channel inpainting UNet gets the mask and masked
image too), and pasted back through the blurred mask.

Jobs whose regions do not overlap, and that share what one pipeline call must share (size,
strength, prompt chunk count, LoRAs), are drawn in one call (`inpaint.plan_batches`): each
keeps its own prompt embeddings and its own seeded generator, so a batch draws what the jobs
one by one would. Jobs whose regions overlap run in order, each on the previous result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from adetailer.args import TabArgs
from adetailer.attention import extract_networks
from adetailer.crops import Crop, paste, prepare_crop
from adetailer.diffusers_backend.checkpoints import LoadedModel
from adetailer.diffusers_backend.conditioning import Conditioning, PromptEncoder
from adetailer.diffusers_backend.loras import LoraLibrary
from adetailer.diffusers_backend.samplers import make_scheduler
from adetailer.inpaint import InpaintJob, plan_batches
from adetailer.pipeline import DetailResult, run_batches


@dataclass(frozen=True)
class RedrawSettings:
    """What every job of a tab shares: the image's own values, or the tab's overrides."""

    steps: int
    cfg_scale: float
    sampler: str
    schedule: str | None
    clip_skip: int = 1

    @classmethod
    def for_tab(cls, base: RedrawSettings, args: TabArgs) -> RedrawSettings:
        from adetailer.args import SAME_SAMPLER, SAME_SCHEDULER

        sampler, schedule = base.sampler, base.schedule
        if args.ad_use_sampler and args.ad_sampler != SAME_SAMPLER:
            sampler = args.ad_sampler
            schedule = None if args.ad_scheduler == SAME_SCHEDULER else args.ad_scheduler
        elif args.ad_use_sampler and args.ad_scheduler != SAME_SCHEDULER:
            schedule = args.ad_scheduler
        return cls(
            steps=args.ad_steps if args.ad_use_steps else base.steps,
            cfg_scale=args.ad_cfg_scale if args.ad_use_cfg_scale else base.cfg_scale,
            sampler=sampler,
            schedule=schedule,
            clip_skip=args.ad_clip_skip if args.ad_use_clip_skip else base.clip_skip,
        )


@dataclass
class Timings:
    """Where the time went: inside diffusers' pipeline calls, and how many calls."""

    pipeline_seconds: float = 0.0
    calls: int = 0
    images_drawn: int = 0


@dataclass
class _Prepared:
    job: InpaintJob
    crop: Crop
    cond: Conditioning
    uncond: Conditioning
    loras: tuple[tuple[str, float, float], ...]


def _processing_size(width: int, height: int) -> tuple[int, int]:
    """Latents are 1/8 of the image: the size the pipeline can draw (A1111 floors it too)."""
    return max(8, width // 8 * 8), max(8, height // 8 * 8)


@dataclass
class TabRedraw:
    """One tab's jobs on one image: planned once, then drawn batch by batch."""

    model: LoadedModel
    args: TabArgs
    settings: RedrawSettings
    loras: LoraLibrary
    timings: Timings = field(default_factory=Timings)
    on_batch: Callable[[int], None] = lambda done: None
    prepared: dict[int, _Prepared] = field(default_factory=dict)

    def prepare(self, jobs: Sequence[InpaintJob]) -> list[InpaintJob]:
        """Regions and prompt embeddings of every job; jobs with an empty mask are dropped."""
        encoder = PromptEncoder(
            self.model.pipe, is_sdxl=self.model.is_sdxl, clip_skip=self.settings.clip_skip
        )
        kept = []
        encoded: dict[tuple[str, int, tuple], Conditioning] = {}
        for job in jobs:
            crop = prepare_crop(
                job.detection.mask,
                blur=self.args.ad_mask_blur,
                size=_processing_size(job.width, job.height),
                only_masked=self.args.ad_inpaint_only_masked,
                padding=self.args.ad_inpaint_only_masked_padding,
            )
            if crop is None:
                continue
            prompt, prompt_tags = extract_networks(job.prompt)
            negative, negative_tags = extract_networks(job.negative_prompt)
            key = self.loras.key(prompt_tags + negative_tags)
            self.loras.activate(key)  # LoRAs change the text encoders too
            count = max(encoder.count(prompt), encoder.count(negative))
            cond = encoded.get((prompt, count, key))
            if cond is None:  # detections of a tab mostly share their prompts: encode each once
                cond = encoded[(prompt, count, key)] = encoder.encode(prompt, count)
            uncond = encoded.get((negative, count, key))
            if uncond is None:
                uncond = encoded[(negative, count, key)] = encoder.encode(negative, count)
            self.prepared[id(job)] = _Prepared(job, crop, cond, uncond, key)
            kept.append(job)
        return kept

    def batches(self, jobs: Sequence[InpaintJob], limit: int) -> list[list[InpaintJob]]:
        items = [self.prepared[id(job)] for job in jobs]
        keys = [(p.crop.size, p.job.denoising_strength, p.cond.chunks, p.loras) for p in items]
        positions = plan_batches(jobs, [p.crop.box for p in items], keys, limit)
        return [[jobs[p] for p in batch] for batch in positions]

    def run(self, image: Image.Image, jobs: Sequence[InpaintJob], limit: int) -> DetailResult:
        jobs = self.prepare(jobs)
        return run_batches(image, self.batches(jobs, limit), self)

    def __call__(self, image: Image.Image, jobs: Sequence[InpaintJob]) -> Image.Image:
        items = [self.prepared[id(job)] for job in jobs]
        drawn = self.draw(image, items)
        color_match = self.args.ad_color_match
        for item, picture in zip(items, drawn, strict=True):
            image = paste(image, picture, item.crop, color_match)
        self.on_batch(len(items))
        return image

    def draw(self, image: Image.Image, items: Sequence[_Prepared]) -> list[Image.Image]:
        """One pipeline call for jobs that share size, strength, chunk count and LoRAs."""
        pipe = self.model.pipe
        first = items[0]
        width, height = first.crop.size
        strength = first.job.denoising_strength
        if strength <= 0:  # nothing to denoise: the paste gives back the image as it was
            return [p.crop.take(image) for p in items]
        steps = self.settings.steps
        if int(steps * strength) < 1:  # diffusers runs steps * strength of them; A1111 runs one
            steps = math.ceil(1 / strength)
        device = pipe.unet.device
        self.loras.activate(first.loras)
        pipe.scheduler = make_scheduler(
            self.settings.sampler, self.settings.schedule, dict(pipe.scheduler.config)
        )
        if hasattr(pipe.scheduler, "noise_sampler_seed"):  # DPM++ SDE: one Brownian tree each
            seeds = [p.job.seed for p in items]
            pipe.scheduler.noise_sampler_seed = seeds if len(seeds) > 1 else seeds[0]
        generator_device = "cpu" if device.type == "mps" else device
        call: dict[str, Any] = {
            "image": [p.crop.take(image) for p in items],
            "mask_image": [p.crop.mask for p in items],
            "prompt_embeds": torch.cat([p.cond.embeds for p in items]),
            "negative_prompt_embeds": torch.cat([p.uncond.embeds for p in items]),
            "width": width,
            "height": height,
            "strength": first.job.denoising_strength,
            "num_inference_steps": steps,
            "guidance_scale": self.settings.cfg_scale,
            "generator": [torch.Generator(generator_device).manual_seed(p.job.seed) for p in items],
            "output_type": "pil",
        }
        if self.model.is_sdxl:
            call["pooled_prompt_embeds"] = torch.cat([p.cond.pooled for p in items])
            call["negative_pooled_prompt_embeds"] = torch.cat([p.uncond.pooled for p in items])
        started = time.perf_counter()
        output = pipe(**call)
        self.timings.pipeline_seconds += time.perf_counter() - started
        self.timings.calls += 1
        self.timings.images_drawn += len(items)
        return [picture.convert("RGB") for picture in output.images]
