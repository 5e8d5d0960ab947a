"""What our per-image path is compared against, measured in the same process and run.

- `bare_inference`: the detector's own inference on a ready model, nothing of ours around it
  (ultralytics `model.predict`, MediaPipe `solution.process`). The floor our path sits on.
- `reload_per_image`: the same detection and mask steps done the original ADetailer's way, with
  the model loaded again for every image: `YOLO(path)` per image; for MediaPipe a new solution
  per call inside a `with` block. The cost our detector cache removes, end to end.
- `acquire_reloaded` and `acquire_ours`: that cost by itself, without any inference: a ready
  detector the original's way (the model loaded from its file and, for ultralytics, the
  predictor its first call builds; for MediaPipe a solution made and closed) against ours
  (the registry entry and a cache hit in `load_detector`).

Both take the image as our path does (a PIL RGB image), so input conversion is counted on each
side: ultralytics converts inside `predict`; MediaPipe needs an array, made here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
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
Acquire = Callable[[], Any]

# What ultralytics' `Model.predict` sets before the caller's arguments (ultralytics 8.3), and
# the arguments our detector passes: together, the predictor the original's first call builds.
PREDICT_DEFAULTS: dict[str, Any] = {"batch": 1, "mode": "predict", "rect": True}


def bare_inference(args: TabArgs, registry: ModelRegistry) -> tuple[Run, Callable[[], None]]:
    """The model's own inference on an image, and a function that frees what it holds.

    YOLO: `predict` on the very model object our detector holds, with the arguments our
    detector passes that change the work done (confidence, device, full-size masks), so the
    difference to our path is our code only. Its predictor already exists (our path made it),
    so ultralytics' `select_device` does not run again and the torch thread count is unchanged.
    MediaPipe: `process` on a solution built the same way as ours, once, outside the timing.

    The model's output is released inside the timed call, as our path releases it once read:
    handing it back would leave its release (for MediaPipe person, a 6 MB map at 1024x1536,
    about 0.8 ms to free) out of every timing, so the bare figure would not be the model's
    cost per image when run image after image.
    """
    entry = registry.prepare(args.ad_model)
    confidence = args.ad_confidence
    if entry.kind == "mediapipe":
        from adetailer.detectors.mediapipe import MODELS, import_mediapipe

        solution = MODELS[entry.name].build(import_mediapipe().solutions, confidence)

        def process(image: Image.Image) -> None:
            solution.process(np.asarray(image))  # its output released here, see above

        return process, solution.close

    detector = load_detector(entry)
    model = detector.model  # type: ignore[attr-defined]
    device = str(detector.device)  # type: ignore[attr-defined]

    def predict(image: Image.Image) -> None:
        model.predict(  # its output released here, see above
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


def acquire_ours(args: TabArgs, registry: ModelRegistry) -> Acquire:
    """What our path does for every image to get its detector: look the model up in the
    registry and take the loaded detector from `load_detector`'s cache."""

    def acquire() -> Any:
        return load_detector(registry.prepare(args.ad_model))

    return acquire


def acquire_reloaded(args: TabArgs, registry: ModelRegistry, image: Image.Image) -> Acquire:
    """A ready detector the original's way, as it paid for every image, without inference.

    YOLO: `YOLO(path)`, then what ultralytics' `Model.predict` does on a model's first call
    before it infers: build the predictor, `setup_model` (AutoBackend: device, fused layers)
    and the warm-up pass (which ultralytics runs on GPUs only). Checked once on `image`: a
    detection on the acquired model must use that predictor rather than build another, or the
    timing would miss part of the setup. ultralytics' `select_device` and `get_save_dir` are
    routed around as in our detector (process-wide side effects).
    MediaPipe: a solution built and closed, as the original's `with` block did for every image.
    What is built is released when the call returns, as it was after the original's image.
    """
    entry = registry.prepare(args.ad_model)
    confidence = args.ad_confidence
    if entry.kind == "mediapipe":
        from adetailer.detectors.mediapipe import MODELS, import_mediapipe

        model = MODELS[entry.name]
        solutions = import_mediapipe().solutions

        def acquire_mediapipe() -> None:
            with model.build(solutions, confidence):
                pass

        return acquire_mediapipe

    from ultralytics import YOLO
    from ultralytics.engine import predictor as predictor_module
    from ultralytics.utils.checks import check_imgsz

    from adetailer.detectors.yolo import YoloDetector, resolve_device
    from adetailer.thread_patch import patched_for_this_thread

    path = str(entry.path)
    device = resolve_device("")
    predict_args = {
        "conf": confidence,
        "device": str(device),
        "retina_masks": True,
        "save": False,
        "verbose": False,
    }
    unused_dir = Path(tempfile.gettempdir()) / "adetailer-bench-no-output"

    def acquire_yolo() -> YOLO:
        model = YOLO(path)
        overrides = {**model.overrides, **PREDICT_DEFAULTS, **predict_args}
        with (
            patched_for_this_thread(predictor_module, "select_device", lambda *a, **k: device),
            patched_for_this_thread(predictor_module, "get_save_dir", lambda *a, **k: unused_dir),
        ):
            model.predictor = model._smart_load("predictor")(
                overrides=overrides, _callbacks=model.callbacks
            )
            model.predictor.setup_model(model=model.model, verbose=False)
        predictor = model.predictor
        size = check_imgsz(predictor.args.imgsz, stride=predictor.model.stride, min_dim=2)
        predictor.model.warmup(imgsz=(1, predictor.model.ch, *size))  # a no-op on CPU
        predictor.done_warmup = True
        return model

    acquired = acquire_yolo()
    built = acquired.predictor
    YoloDetector(entry.name, acquired, device, world=False).detect(image, confidence=confidence)
    if acquired.predictor is not built:
        msg = (
            f"{entry.name}: ultralytics built another predictor on the first detection; the "
            "acquisition timing would miss part of the original's setup"
        )
        raise RuntimeError(msg)

    def acquire_and_release_yolo() -> None:
        acquire_yolo()  # dropped here, as the original dropped its model after each image

    return acquire_and_release_yolo
