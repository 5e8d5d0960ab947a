"""Inpaint jobs: what each detection's redraw needs, decided before anything is redrawn.

A job is plain data (mask, prompts, seeds, strength, size), so the web UI only has to turn it
into an img2img pass, and a reader can check every decision without running a model.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from adetailer.args import TabArgs
from adetailer.boxes import Box, box_area
from adetailer.detections import Detection, Detections
from adetailer.prompts import RANDOM, is_skip, parse_box, pick, resolve, seed_token, split_prompt

logger = logging.getLogger("adetailer")

MATCH_OFF = "Off"
MATCH_STRICT = "Strict (SDXL only)"
MATCH_FREE = "Free"
MATCH_MODES = (MATCH_OFF, MATCH_STRICT, MATCH_FREE)

# The resolutions SDXL was trained at (width, height), used by the "Strict" match mode.
SDXL_RESOLUTIONS: tuple[tuple[int, int], ...] = (
    (1024, 1024),
    (1152, 896),
    (896, 1152),
    (1216, 832),
    (832, 1216),
    (1344, 768),
    (768, 1344),
    (1536, 640),
    (640, 1536),
)


def dynamic_denoise(strength: float, box: Box, image_size: tuple[int, int], power: float) -> float:
    """Small boxes get close to the full strength, large ones less: strength * (1 - share) ** power."""
    if power == 0:
        return strength
    width, height = image_size
    share = min(1.0, box_area(box) / (width * height))
    if share >= 1.0:
        return strength if power < 0 else 0.0
    # a negative power raises the strength of large boxes; it never goes past 1
    return min(1.0, strength * (1.0 - share) ** power)


def _round_up_8(value: float) -> int:
    return max(8, int(-(-value // 8) * 8))


def free_inpaint_size(width: int, height: int, box: Box) -> tuple[int, int]:
    """Keep the larger side of the inpaint size and follow the box's aspect; both sides are multiples of 8."""
    box_w, box_h = max(box[2] - box[0], 1e-6), max(box[3] - box[1], 1e-6)
    aspect = box_w / box_h
    side = _round_up_8(max(width, height))
    if aspect > 1:
        return side, _round_up_8(side / aspect)
    return _round_up_8(side * aspect), side


def strict_inpaint_size(width: int, height: int, box: Box) -> tuple[int, int]:
    """The SDXL training resolution nearest the box's aspect that holds the box and the inpaint size."""
    box_w, box_h = max(box[2] - box[0], 1e-6), max(box[3] - box[1], 1e-6)
    aspect = box_w / box_h
    fitting = [
        (w, h)
        for w, h in SDXL_RESOLUTIONS
        if w >= box_w and h >= box_h and (w >= width or h >= height)
    ]
    if not fitting:
        return width, height
    return min(fitting, key=lambda res: abs(res[0] / res[1] - aspect))


def inpaint_size(
    width: int, height: int, box: Box, mode: str = MATCH_OFF, *, is_sdxl: bool = False
) -> tuple[int, int]:
    """The size the region is redrawn at, by the "match inpaint size to the box" setting."""
    if mode == MATCH_FREE:
        return free_inpaint_size(width, height, box)
    if mode == MATCH_STRICT:
        if is_sdxl:
            return strict_inpaint_size(width, height, box)
        logger.warning(
            "ADetailer: inpaint size matching %r works with SDXL models only; using %dx%d",
            MATCH_STRICT,
            width,
            height,
        )
        return width, height
    if mode != MATCH_OFF:
        msg = f"inpaint size match mode {mode!r} is not one of {', '.join(map(repr, MATCH_MODES))}"
        raise ValueError(msg)
    return width, height


@dataclass(frozen=True)
class InpaintJob:
    """One detection's redraw."""

    index: int  # position among this tab's detections (after filtering and sorting)
    detection: Detection
    prompt: str
    negative_prompt: str
    seed: int
    subseed: int
    denoising_strength: float
    width: int
    height: int

    @property
    def mask(self) -> Image.Image:
        return self.detection.mask_image()

    def record(self) -> dict[str, Any]:
        """What reproduces this redraw, for the image's infotext."""
        return {
            **self.detection.to_dict(),
            "seed": self.seed,
            "prompt": self.prompt,
        }


@dataclass(frozen=True)
class JobSettings:
    """What a job plan needs from the image and the host, besides the tab's own arguments."""

    prompt: str
    negative_prompt: str
    seed: int
    subseed: int
    width: int
    height: int
    same_seed: bool = False
    denoise_power: float = 0.0
    match_mode: str = MATCH_OFF
    is_sdxl: bool = False
    replacements: Sequence[tuple[str, str]] = ()
    random_seed: Callable[[], int] = lambda: random.randrange(4294967294)  # as A1111 draws one


def plan_jobs(detections: Detections, args: TabArgs, settings: JobSettings) -> list[InpaintJob]:
    """One job per detection, except those whose prompt segment is `[SKIP]`.

    A detection's seed is the image's seed plus its position (or the image's seed for every
    detection with "same seed"), unless a seed token in the tab's prompt chooses it.
    """
    box = parse_box(args.ad_prompt)
    prompts = [resolve(t, settings.prompt, settings.replacements) for t in box.texts]
    negatives = split_prompt(
        args.ad_negative_prompt, settings.negative_prompt, settings.replacements
    )
    jobs = []
    for index, detection in enumerate(detections):
        prompt, negative = pick(prompts, index), pick(negatives, index)
        if is_skip(prompt) or is_skip(negative):
            continue
        step = 0 if settings.same_seed else index
        token = seed_token(box, index)
        if token is None:
            seed = settings.seed + step
        else:
            seed = settings.random_seed() if token == RANDOM else int(token)
        if args.ad_use_inpaint_width_height:
            width, height = args.ad_inpaint_width, args.ad_inpaint_height
        else:
            width, height = inpaint_size(
                settings.width,
                settings.height,
                detection.box,
                settings.match_mode,
                is_sdxl=settings.is_sdxl,
            )
        jobs.append(
            InpaintJob(
                index=index,
                detection=detection,
                prompt=prompt,
                negative_prompt=negative,
                seed=seed,
                subseed=settings.subseed + step,
                denoising_strength=dynamic_denoise(
                    args.ad_denoising_strength,
                    detection.box,
                    detections.size,
                    settings.denoise_power,
                ),
                width=width,
                height=height,
            )
        )
    return jobs


def boxes_overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    """Two (x1, y1, x2, y2) boxes, x2/y2 exclusive, share at least one pixel."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def plan_batches(
    jobs: Sequence[InpaintJob],
    regions: Sequence[Sequence[float]],
    keys: Sequence[Hashable],
    limit: int,
) -> list[list[int]]:
    """Positions of `jobs` grouped into batches that can be redrawn in one call, in job order.

    A batch holds consecutive jobs with equal keys (what one call must share: size, prompt
    length, LoRAs) whose regions (what each job reads and writes) do not overlap. Such jobs
    do not see each other's pixels, so drawing them at once gives what drawing them one after
    another gives; a job whose region overlaps an earlier one's starts a new batch and sees
    its result, as in the web UI.
    """
    if not len(jobs) == len(regions) == len(keys):
        msg = "plan_batches needs one region and one key per job"
        raise ValueError(msg)
    batches: list[list[int]] = []
    for position in range(len(jobs)):
        current = batches[-1] if batches else None
        if (
            current is not None
            and len(current) < max(1, limit)
            and keys[current[0]] == keys[position]
            and not any(boxes_overlap(regions[p], regions[position]) for p in current)
        ):
            current.append(position)
        else:
            batches.append([position])
    return batches
