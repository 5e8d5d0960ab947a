"""Timing and memory primitives shared by the benchmark workers.

Timings use `time.perf_counter`; a figure is the median of several runs, since other work on
the machine only ever adds time. Ways compared with each other run interleaved on the same
images, their order rotating, so a burst of load elsewhere hits both sides alike; ratios are
the median of those paired ratios.
"""

from __future__ import annotations

import itertools
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

Run = Callable[[Image.Image], Any]
Samples = dict[str, dict[str, list[float]]]  # way -> image -> seconds


def timed(run: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """Seconds one call took, and what it returned."""
    start = time.perf_counter()
    result = run(*args)
    return time.perf_counter() - start, result


def peak_rss_mb() -> float:
    """The process's peak resident set so far (`ru_maxrss`: KiB on Linux), libraries included."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def heap_peak_mb(run: Run, image: Image.Image) -> float:
    """Peak Python-heap growth during one call (tracemalloc: numpy arrays are counted, torch
    tensors and MediaPipe's native buffers are not). Timing is not taken here: tracing slows
    every allocation."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        run(image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - before) / 2**20


@dataclass(frozen=True)
class Rounds:
    """How many times each image is run: at least `least`, more while within `budget_s`."""

    least: int
    most: int
    budget_s: float

    def count(self, first_round_s: float) -> int:
        if first_round_s <= 0:
            return self.most
        wanted = int(self.budget_s / first_round_s)
        return max(self.least, min(self.most, wanted))


def interleaved(
    images: Mapping[str, Image.Image], ways: Mapping[str, Run], rounds: Rounds
) -> Samples:
    """Every way on every image, round after round, in every order in turn.

    A way's time depends on the way run before it: MediaPipe person's bare inference at
    1024x1536 took 3.9 ms right after ours had read the same image and 6.0 ms right after the
    reload baseline had built and freed a model. Rotating one order keeps its cycle (with
    ours, bare, reload: bare always came right after ours, ours right after reload), which
    favoured bare. Going through all orders gives each way every predecessor equally often.

    The number of rounds is set after the first one, from its duration and the budget.
    """
    names = list(ways)
    orders = list(itertools.permutations(names))
    samples: Samples = {way: {image: [] for image in images} for way in names}
    planned = rounds.least
    done = step = 0
    while done < planned:
        start = time.perf_counter()
        for image_name, image in images.items():
            for way in orders[step % len(orders)]:
                seconds, _ = timed(ways[way], image)
                samples[way][image_name].append(seconds)
            step += 1
        if done == 0:
            planned = rounds.count(time.perf_counter() - start)
        done += 1
    return samples


def flat(per_image: Mapping[str, Sequence[float]]) -> list[float]:
    return [value for values in per_image.values() for value in values]


def paired(
    first: Mapping[str, Sequence[float]],
    second: Mapping[str, Sequence[float]],
    combine: Callable[[float, float], float],
) -> list[float]:
    """`combine(a, b)` for each (image, round), from runs made next to each other: a burst of
    load elsewhere hits both runs of a pair, and the median of pairs discounts it."""
    return [
        combine(a, b)
        for image in first
        for a, b in zip(first[image], second[image], strict=True)
        if b > 0
    ]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
