"""Worker: detectors in parallel, in a fresh process of its own.

Two measurements, each against a baseline taken in the same process and run:

1. Two YOLO models (yolov8n detect, yolov8n-seg segment) detect the same image, once one after
   the other and once in two threads at the same time, interleaved round by round. The ratio
   parallel / sequential shows whether anything makes one model wait for the other; the same
   with ultralytics' own `predict` (nothing of ours around it) is the baseline. torch's
   own threads share the same cores, so it is measured with torch at 1 thread (each detection
   on one core, the layout where parallel detection pays) and at torch's default.
2. A cached detector is asked for (`load_detector`, what every detect does first) over and over
   while another thread loads a third model; each wait is timed. The baseline is the same call
   with nothing loading.

Run by `benchmarks.run`: `python -m benchmarks.parallel --models-dir DIR --out FILE`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.network import NetworkGuard

FACE = "bench_face_yolov8n.pt"
PERSON = "bench_person_yolov8n-seg.pt"
LOADED = "bench_face_yolov8s.pt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--size", default="512x768")
    parser.add_argument("--confidence", type=float, default=0.3)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--loads", type=int, default=3, help="background loads to wait through")
    parser.add_argument("--out", type=Path, required=True)
    options = parser.parse_args(argv)

    guard = NetworkGuard().install()
    result = measure(options)
    result["network_attempts"] = list(guard.attempts)
    options.out.write_text(json.dumps(result, indent=1), encoding="utf8")
    return 0


def measure(options: argparse.Namespace) -> dict[str, Any]:
    import torch  # first, as in the web UI (ultralytics would set OMP_NUM_THREADS=1)

    from adetailer.detectors import load_detector
    from adetailer.registry import ModelRegistry
    from adetailer.safe_torch import import_ultralytics
    from benchmarks.images import SIZES, benchmark_images

    import_ultralytics()
    registry = ModelRegistry(options.models_dir, allow_download=False)
    image = benchmark_images(SIZES[options.size], ("astronaut",))["astronaut"]
    face = load_detector(registry.prepare(FACE), device="cpu")
    person = load_detector(registry.prepare(PERSON), device="cpu")

    def one(detector: Any) -> Callable[[], Any]:
        return lambda: detector.detect(image, confidence=options.confidence)

    def bare(detector: Any) -> Callable[[], Any]:
        """ultralytics' own predict on the same model and image, nothing of ours around it: how
        far the library itself lets two threads overlap on this machine."""
        return lambda: detector.model.predict(
            image,
            conf=options.confidence,
            device=str(detector.device),
            retina_masks=True,
            save=False,
            verbose=False,
        )

    default_threads = torch.get_num_threads()
    two_models = []
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        for detect in (one(face), one(person)):  # warm: predictor built, first-call costs paid
            detect()
        sequential, parallel = _interleaved(
            lambda: (one(face)(), one(person)()),
            lambda: _in_two_threads(one(face), one(person)),
            options.rounds,
        )
        bare_sequential, bare_parallel = _interleaved(
            lambda: (bare(face)(), bare(person)()),
            lambda: _in_two_threads(bare(face), bare(person)),
            options.rounds,
        )
        two_models.append(
            {
                "torch_threads": threads,
                "sequential_s": sequential,
                "parallel_s": parallel,
                "bare_sequential_s": bare_sequential,
                "bare_parallel_s": bare_parallel,
            }
        )
    torch.set_num_threads(default_threads)
    return {
        "size": options.size,
        "image": "astronaut",
        "confidence": options.confidence,
        "found": [
            len(face.detect(image, confidence=options.confidence).items),
            len(person.detect(image, confidence=options.confidence).items),
        ],
        "cores": _cores(),
        "two_models": two_models,
        "cached_wait": _cached_waits(registry, options),
    }


def _interleaved(
    first: Callable[[], Any], second: Callable[[], Any], rounds: int
) -> tuple[list[float], list[float]]:
    """Seconds of each way per round; the order alternates so neither always runs second."""
    times: tuple[list[float], list[float]] = ([], [])
    for round_index in range(rounds):
        order = (0, 1) if round_index % 2 == 0 else (1, 0)
        for which in order:
            work = (first, second)[which]
            began = time.perf_counter()
            work()
            times[which].append(time.perf_counter() - began)
    return times


def _in_two_threads(a: Callable[[], Any], b: Callable[[], Any]) -> None:
    errors: list[BaseException] = []

    def run(work: Callable[[], Any]) -> None:
        try:
            work()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(work,)) for work in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _cached_waits(registry: Any, options: argparse.Namespace) -> dict[str, Any]:
    """How long asking for a cached detector takes, with and without another model loading."""
    from adetailer.detectors import clear_detector_cache, load_detector

    cached = registry.prepare(FACE)
    load_detector(cached, device="cpu")
    idle = [_timed(lambda: load_detector(cached, device="cpu")) for _ in range(2000)]

    during: list[float] = []
    load_times: list[float] = []
    source = registry.prepare(LOADED).path
    for index in range(options.loads):
        # a file of its own each time: the cache never holds it, so each load is a real one
        copy = options.models_dir / f"loading-{index}.pt"
        shutil.copy(source, copy)
        registry.refresh()
        entry = registry.prepare(copy.name)
        done = threading.Event()

        def load(entry: Any = entry, done: threading.Event = done) -> None:
            began = time.perf_counter()
            load_detector(entry, device="cpu")
            load_times.append(time.perf_counter() - began)
            done.set()

        loader = threading.Thread(target=load)
        loader.start()
        while not done.is_set():
            during.append(_timed(lambda: load_detector(cached, device="cpu")))
            time.sleep(0.002)  # a detection's worth of other work between two asks
        loader.join()
    clear_detector_cache()
    return {
        "idle_ms": _summary(idle),
        "during_load_ms": _summary(during),
        "load_s": load_times,
        "asks_during_loads": len(during),
    }


def _timed(work: Callable[[], Any]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def _summary(seconds: list[float]) -> dict[str, float]:
    ms = sorted(value * 1000 for value in seconds)
    return {
        "median": statistics.median(ms),
        "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "max": ms[-1],
    }


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    raise SystemExit(main())
