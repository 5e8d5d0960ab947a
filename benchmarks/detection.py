"""Worker: every per-image measurement of one model, in a fresh process of its own.

A fresh process per model keeps the peak-memory figures apart and makes the first use really
the first. The phases run in this order, over all sizes each, so that each peak-memory reading
belongs to one way of working:

1. our path alone: the cold image, then every image once warm     -> cold; peak memory of ours;
2. our path with tiling: the first image cold, the others warm     -> tiling figures;
3. our path, the bare inference and the reload-per-image baseline,
   interleaved on every image for several rounds                   -> warm times and ratios;
4. getting a ready detector both ways (ours: a cache hit; the original's: load + setup, no
   inference), interleaved with each other on every image          -> acquisition times.

The acquisitions have a loop of their own: run between our path and the bare inference, the
original's (a model built and freed) would always run just before ours and slow it.

"Cold" is the first image after the detector cache was cleared (model load + first inference,
libraries already imported and initialised); "first use" is the very first image in the process,
which also pays the libraries' one-time initialisation. "Warm" is every later image.

Run by `benchmarks.run`: `python -m benchmarks.detection --model NAME --models-dir DIR --out FILE`.
"""

from __future__ import annotations

import argparse
import json
import operator
import sys
from pathlib import Path
from typing import Any

from benchmarks.network import NetworkGuard


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--confidence", type=float, required=True)
    parser.add_argument("--sizes", nargs="+", required=True)
    parser.add_argument("--images", nargs="+", required=True)
    parser.add_argument("--tiled-images", nargs="+", required=True, help="first one cold")
    parser.add_argument("--rounds", type=int, nargs=2, required=True, metavar=("LEAST", "MOST"))
    parser.add_argument("--budget", type=float, required=True, help="seconds per phase and size")
    parser.add_argument("--torch-threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--out", type=Path, required=True)
    options = parser.parse_args(argv)

    guard = NetworkGuard().install()  # before anything is imported that could reach out
    result = measure_model(options, guard)
    options.out.write_text(json.dumps(result, indent=1), encoding="utf8")
    return 0


def measure_model(options: argparse.Namespace, guard: NetworkGuard) -> dict[str, Any]:
    # torch first, as in the web UI: ultralytics, imported first, would set OMP_NUM_THREADS=1.
    import torch

    if options.torch_threads > 0:
        torch.set_num_threads(options.torch_threads)

    from adetailer.args import TabArgs
    from adetailer.detectors import clear_detector_cache, load_count
    from adetailer.detectors.tiling import tile_boxes
    from adetailer.pipeline import detect_and_mask
    from adetailer.registry import ModelRegistry
    from benchmarks.baseline import acquire_ours, acquire_reloaded, bare_inference, reload_per_image
    from benchmarks.images import SIZES, benchmark_images
    from benchmarks.measure import Rounds, heap_peak_mb, interleaved, paired, peak_rss_mb, timed

    registry = ModelRegistry(options.models_dir, allow_download=False)
    kind = registry.get(options.model).kind
    if kind == "mediapipe":
        from adetailer.detectors.mediapipe import import_mediapipe

        import_mediapipe()
    else:
        from adetailer.safe_torch import import_ultralytics

        import_ultralytics()
        import ultralytics.engine.predictor  # noqa: F401 - imported by the first predict otherwise

    threads = torch.get_num_threads()
    device = _device(kind)
    args = TabArgs(ad_model=options.model, ad_confidence=options.confidence)
    tiled_args = args.replace(ad_tiled_detection=True)
    rounds = Rounds(options.rounds[0], options.rounds[1], options.budget)
    images = {size: benchmark_images(SIZES[size], tuple(options.images)) for size in options.sizes}
    first_image = options.images[0]

    def ours(image: Any) -> Any:
        return detect_and_mask(image, args, registry)

    def ours_tiled(image: Any) -> Any:
        return detect_and_mask(image, tiled_args, registry)

    rss = {"setup": peak_rss_mb()}
    first_use_s, _ = timed(ours, images[options.sizes[0]][first_image])

    sizes: dict[str, dict[str, Any]] = {size: {} for size in options.sizes}
    for size, row in sizes.items():  # 1. ours alone: cold, then each image warm
        clear_detector_cache()
        row["cold_s"], _ = timed(ours, images[size][first_image])
        found = {name: ours(image) for name, image in images[size].items()}
        row["detections"] = {name: len(tab.found) for name, tab in found.items()}
        row["masks"] = {name: len(tab.masks) for name, tab in found.items()}
    rss["ours"] = peak_rss_mb()

    for size, row in sizes.items():  # 2. ours with tiling
        clear_detector_cache()
        tiled = benchmark_images(SIZES[size], tuple(options.tiled_images))
        cold_name, *warm_names = options.tiled_images
        row["tiles"] = len(tile_boxes(SIZES[size]))
        row["tiled_cold_s"], tab = timed(ours_tiled, tiled[cold_name])
        row["tiled_warm_s"] = {}
        row["tiled_detections"] = {cold_name: len(tab.found)}
        for name in warm_names:
            seconds, tab = timed(ours_tiled, tiled[name])
            row["tiled_warm_s"][name] = seconds
            row["tiled_detections"][name] = len(tab.found)
    rss["ours_tiled"] = peak_rss_mb()

    reload = reload_per_image(args, registry)
    acquire = acquire_ours(args, registry)
    acquire_reload = acquire_reloaded(args, registry, images[options.sizes[0]][first_image])
    for size, row in sizes.items():  # 3. ours, bare inference and reload per image, interleaved
        first = images[size][first_image]
        ours(first)  # loaded (the cache) before the warm runs
        loads = load_count()
        bare, close_bare = bare_inference(args, registry)
        bare(first)  # the bare solution's first run, outside the timing
        reload(first)  # its one-time costs (first import, first graph of the kind)
        ways = {"ours": ours, "bare": bare, "reload": reload}
        samples = interleaved(images[size], ways, rounds)
        close_bare()
        if load_count() != loads:
            msg = f"{options.model}: the detector was loaded again between warm images"
            raise RuntimeError(msg)
        row.update({f"{way}_s": samples[way] for way in ways})
        row["overhead_ratios"] = paired(samples["ours"], samples["bare"], operator.truediv)
        row["added_s"] = paired(samples["ours"], samples["bare"], operator.sub)
        row["speedup_ratios"] = paired(samples["reload"], samples["ours"], operator.truediv)
        row["saved_s"] = paired(samples["reload"], samples["ours"], operator.sub)
        # What a cache with nothing of ours around the model would give: the end-to-end ceiling.
        row["ceiling_ratios"] = paired(samples["reload"], samples["bare"], operator.truediv)
    acquisitions = {
        "acquire_ours": lambda image: acquire(),
        "acquire_reload": lambda image: acquire_reload(),
    }
    for size, row in sizes.items():  # 4. a ready detector: ours and the original's, interleaved
        loads = load_count()
        samples = interleaved(images[size], acquisitions, rounds)
        if load_count() != loads:
            msg = f"{options.model}: getting our detector loaded it again"
            raise RuntimeError(msg)
        row.update({f"{way}_s": samples[way] for way in acquisitions})
        row["acquisition_ratios"] = paired(
            samples["acquire_reload"], samples["acquire_ours"], operator.truediv
        )
    rss["with_reload"] = peak_rss_mb()

    largest = max(options.sizes, key=lambda size: SIZES[size][0])
    heap_image = images[largest][options.images[-1]]
    heap = {
        "size": largest,
        "image": options.images[-1],
        "ours_mb": heap_peak_mb(ours, heap_image),
        "reload_mb": heap_peak_mb(reload, heap_image),
    }
    clear_detector_cache()
    if torch.get_num_threads() != threads:
        msg = f"torch threads changed from {threads} to {torch.get_num_threads()} during the run"
        raise RuntimeError(msg)
    return {
        "model": options.model,
        "kind": kind,
        "confidence": options.confidence,
        "torch_threads": threads,
        "device": device,
        "first_use_s": first_use_s,
        "sizes": sizes,
        "rss_mb": rss,
        "heap": heap,
        "network_attempts": guard.since(0),
    }


def _device(kind: str) -> str:
    """Where the model's inference runs: the torch device our detector resolves for "" (the
    web UI's default), with the GPU's name; MediaPipe's legacy solutions run their CPU graphs."""
    if kind == "mediapipe":
        return "CPU (the legacy solutions run their CPU graphs)"
    import torch

    from adetailer.detectors.yolo import resolve_device

    device = resolve_device("")
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return f"{device} (torch sees {count} CUDA GPU{'' if count == 1 else 's'})"


if __name__ == "__main__":
    sys.exit(main())
