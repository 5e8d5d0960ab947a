"""What our per-image path is compared against, measured in the same process and run.

- `bare_inference`: the detector's own inference on a ready model, nothing of ours around it
  (ultralytics `model.predict`, MediaPipe `solution.process`). The floor our path sits on.
- `reload_per_image`: the same detection and mask steps done the original ADetailer's way, with
  the model loaded again for every image: `YOLO(path)` per image; for MediaPipe a new solution
  per call inside a `with` block. The cost our detector cache removes.

Both take the image as our path does (a PIL RGB image), so input conversion is counted on each
side: ultralytics converts inside `predict`; MediaPipe needs an array, made here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from adetailer.args import TabArgs
from adetailer.detections import Detections
from adetailer.detectors import load_detector
from adetailer.images import ensure_rgb
from adetailer.masks import preprocess
from adetailer.registry import ModelRegistry

Run = Callable[[Image.Image], Any]


def bare_inference(args: TabArgs, registry: ModelRegistry) -> tuple[Run, Callable[[], None]]:
    """The model's own inference on an image, and a function that frees what it holds.

    YOLO: `predict` on the very model object our detector holds, with the arguments our
    detector passes that change the work done (confidence, device, full-size masks), so the
    difference to our path is our code only. Its predictor already exists (our path made it),
    so ultralytics' `select_device` does not run again and the torch thread count is unchanged.
    MediaPipe: `process` on a solution built the same way as ours, once, outside the timing.
    """
    entry = registry.prepare(args.ad_model)
    confidence = args.ad_confidence
    if entry.kind == "mediapipe":
        from adetailer.detectors.mediapipe import MODELS, import_mediapipe

        solution = MODELS[entry.name].build(import_mediapipe().solutions, confidence)

        def process(image: Image.Image) -> Any:
            return solution.process(np.asarray(image))

        return process, solution.close

    detector = load_detector(entry)
    model = detector.model  # type: ignore[attr-defined]
    device = str(detector.device)  # type: ignore[attr-defined]

    def predict(image: Image.Image) -> Any:
        return model.predict(
            image, conf=confidence, device=device, retina_masks=True, save=False, verbose=False
        )

    return predict, lambda: None


def reload_per_image(args: TabArgs, registry: ModelRegistry) -> Run:
    """Detection and mask steps with the model loaded anew for each image, as the original did.

    After loading, the same code as ours runs (reading results, the mask steps), so the
    difference is the loading alone. For YOLO, ultralytics' `YOLO(path)` loads the file, as the
    original called it; the prediction then goes through our detector class, which routes
    around ultralytics' `select_device` (the original's path also let it reset torch to
    ultralytics' thread count, which on a small CPU makes every later inference slower: that
    effect is left out, to compare loading only).
    """
    entry = registry.prepare(args.ad_model)
    confidence = args.ad_confidence
    if entry.kind == "mediapipe":
        from adetailer.detectors.mediapipe import MODELS, import_mediapipe

        model = MODELS[entry.name]
        solutions = import_mediapipe().solutions

        def detect_mediapipe(image: Image.Image) -> Detections:
            rgb = ensure_rgb(image)
            pixels = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
            with model.build(solutions, confidence) as solution:
                result = solution.process(pixels)
            items = model.read(result, rgb.size, confidence)
            return preprocess(Detections(image=rgb, items=tuple(items), model=entry.name), args)

        return detect_mediapipe

    from ultralytics import YOLO

    from adetailer.detectors.yolo import YoloDetector, resolve_device

    path = str(entry.path)
    device = resolve_device("")

    def detect_yolo(image: Image.Image) -> Detections:
        detector = YoloDetector(entry.name, YOLO(path), device, world=False)
        return preprocess(detector.detect(image, confidence=confidence), args)

    return detect_yolo
