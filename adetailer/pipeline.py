"""The path every image takes: image -> detections -> masks -> inpaint jobs -> image.

Both the standalone command and the web UI go through these functions; the web UI only supplies
the img2img pass that redraws one job (`Inpainter`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image

from adetailer.args import TabArgs
from adetailer.detections import Detections
from adetailer.detectors import load_detector
from adetailer.detectors.base import check_package
from adetailer.detectors.tiling import detect_tiled
from adetailer.images import ensure_rgb
from adetailer.inpaint import InpaintJob
from adetailer.masks import SORT_NONE, preprocess
from adetailer.registry import ModelRegistry

logger = logging.getLogger("adetailer")


def detect(
    image: Image.Image, args: TabArgs, registry: ModelRegistry, *, device: str = ""
) -> Detections:
    """What the tab's model finds on the image (tiled when the tab asks for it)."""
    entry = registry.get(args.ad_model)
    check_package(entry.name, entry.kind)  # before a download that could not be used
    entry = registry.prepare(args.ad_model)  # a hub model is downloaded on first use
    detector = load_detector(entry, device=device)
    classes = args.class_names() if entry.kind == "yolo-world" else []
    image = ensure_rgb(image)
    # A generation and an API request may detect at once: each detector serialises its own
    # model calls, so no lock is needed here.
    if args.ad_tiled_detection:
        return detect_tiled(detector, image, confidence=args.ad_confidence, classes=classes)
    return detector.detect(image, confidence=args.ad_confidence, classes=classes)


@dataclass(frozen=True)
class TabDetections:
    """A tab's view of one image: everything found, and what is left to redraw."""

    found: Detections
    masks: Detections


def detect_and_mask(
    image: Image.Image,
    args: TabArgs,
    registry: ModelRegistry,
    *,
    sort_by: str = SORT_NONE,
    user_mask: Image.Image | None = None,
    device: str = "",
) -> TabDetections:
    found = detect(image, args, registry, device=device)
    return TabDetections(found, preprocess(found, args, sort_by, user_mask))


class Inpainter(Protocol):
    """Redraws one job's region of `image`; None when the host stopped (interrupt, no image)."""

    def __call__(self, image: Image.Image, job: InpaintJob) -> Image.Image | None: ...


@dataclass
class DetailResult:
    """The image as far as detailing got, and what happened on the way."""

    image: Image.Image
    done: list[InpaintJob] = field(default_factory=list)
    failed: list[tuple[InpaintJob, str]] = field(default_factory=list)
    stopped: bool = False


def run_jobs(
    image: Image.Image,
    jobs: Sequence[InpaintJob],
    inpaint: Inpainter,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    recoverable: tuple[type[BaseException], ...] = (),
) -> DetailResult:
    """Redraw the jobs one after another, each on the previous result.

    A `recoverable` error (e.g. a NaN in one detection) skips that job; a stop request ends
    the run with the image as far as it got. Other errors propagate: the caller keeps the
    image it started with.
    """
    return run_batches(
        image,
        [[job] for job in jobs],
        lambda current, batch: inpaint(current, batch[0]),
        should_stop=should_stop,
        recoverable=recoverable,
    )


class BatchInpainter(Protocol):
    """Redraws several jobs whose regions do not overlap in one pass (see `inpaint.plan_batches`).

    Returns the image with every job of the batch pasted in, or None when the host stopped.
    """

    def __call__(self, image: Image.Image, jobs: Sequence[InpaintJob]) -> Image.Image | None: ...


def run_batches(
    image: Image.Image,
    batches: Sequence[Sequence[InpaintJob]],
    inpaint: BatchInpainter,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    recoverable: tuple[type[BaseException], ...] = (),
) -> DetailResult:
    """`run_jobs` for batches: each batch is drawn on the result of the batches before it."""
    result = DetailResult(image)
    for batch in batches:
        if should_stop():
            result.stopped = True
            break
        try:
            redrawn = inpaint(result.image, batch)
        except recoverable as exc:
            for job in batch:
                logger.warning("ADetailer: detection %d skipped: %s", job.index + 1, exc)
                result.failed.append((job, str(exc)))
            continue
        if redrawn is None:
            result.stopped = True
            break
        result.image = redrawn
        result.done.extend(batch)
    return result
