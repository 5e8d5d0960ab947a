"""ultralytics YOLO models: detection, segmentation and open-vocabulary YOLO-World.

The model comes from `adetailer.safe_torch.load_yolo` (allow-listed unpickling, ultralytics
imported offline). Results are read from `boxes` and `masks` only: `Results.plot()` is never
called (it fetches a font); `Detections.preview()` draws instead.

Three ultralytics behaviours are routed around on purpose:
- its `select_device` rewrites CUDA_VISIBLE_DEVICES for the whole process and maps
  "cuda:1" to "cuda:0" (correct only before CUDA starts, never inside a running web UI), and
  resets torch's CPU thread count; the device is resolved here and handed to it instead;
- every new predictor creates an empty `runs/<task>/predictN` folder (in the web UI's working
  folder), even with save=False; it is given a folder name that is never created instead;
- YOLO-World's `set_classes` imports a CLIP text encoder that ultralytics would pip-install
  when missing; its presence is checked first, so it is never installed behind the user's back.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from PIL import Image

from adetailer.boxes import box_area, boxes_to_masks, clip_box
from adetailer.detections import Detection, Detections
from adetailer.detectors.base import DetectorError, check_confidence, unknown_device
from adetailer.downloads import offline_requested
from adetailer.images import ensure_rgb
from adetailer.safe_torch import load_yolo
from adetailer.thread_patch import patched_for_this_thread

if TYPE_CHECKING:
    import torch
    from ultralytics import YOLO
    from ultralytics.engine.results import Results

CLIP_INSTALL = "pip install git+https://github.com/ultralytics/CLIP.git"
# Where the `clip` package keeps the ViT-B/32 weights YOLO-World's set_classes needs.
CLIP_WEIGHTS = Path("~/.cache/clip/ViT-B-32.pt").expanduser()


class YoloDetector:
    """One loaded ultralytics model on one device. ultralytics predictors are not thread-safe,
    so one image is detected at a time."""

    def __init__(self, name: str, model: YOLO, device: torch.device, *, world: bool) -> None:
        self.name = name
        self.model = model
        self.device = device
        self.world = world
        self._lock = threading.Lock()
        self._classes: tuple[str, ...] = ()
        self._default_classes = _WorldClasses.capture(model) if world else None

    @classmethod
    def load(cls, path: Path, *, name: str, device: str = "", world: bool = False) -> YoloDetector:
        resolved = resolve_device(device)
        model = load_yolo(path)
        return cls(name, model, resolved, world=world)

    def detect(
        self, image: Image.Image, *, confidence: float, classes: Sequence[str] = ()
    ) -> Detections:
        """`classes` selects what a YOLO-World model looks for; other models ignore it."""
        check_confidence(confidence)
        rgb = ensure_rgb(image)
        padded = _padded(rgb)
        with self._lock:
            if self.world:
                self._use_classes(tuple(c.strip() for c in classes if c.strip()))
            result = self._predict(padded, confidence)
        items = read_result(result, padded.size)
        if padded is not rgb:
            items = _cropped(items, rgb.size)
        return Detections(image=rgb, items=tuple(items), model=self.name)

    def _predict(self, image: Image.Image, confidence: float) -> Results:
        from ultralytics.engine import predictor

        try:
            with (
                patched_for_this_thread(predictor, "select_device", self._select_device),
                patched_for_this_thread(predictor, "get_save_dir", _unused_save_dir),
            ):
                results = self.model.predict(
                    image,
                    conf=confidence,
                    device=str(self.device),
                    retina_masks=True,
                    save=False,
                    verbose=False,
                )
        except Exception as error:
            width, height = image.size
            msg = f"{self.name} failed on a {width}x{height} image: {type(error).__name__}: {error}"
            raise DetectorError(msg) from error
        return results[0]

    def _select_device(self, *args: Any, **kwargs: Any) -> torch.device:
        return self.device

    def _use_classes(self, classes: tuple[str, ...]) -> None:
        """Point YOLO-World at `classes`, or back at its own classes when none are given.

        Encoding class names is costly (a CLIP pass), so it happens only when they change.
        """
        if classes == self._classes:
            return
        if not classes and self._default_classes is not None:
            self._default_classes.restore(self.model)
        elif classes:
            self._check_text_encoder(classes)
            try:
                self.model.set_classes(list(classes))
            except Exception as error:
                msg = (
                    f"{self.name} could not look for {', '.join(classes)}: the CLIP text encoder "
                    f"failed ({type(error).__name__}: {error}); it needs its weights at "
                    f"{CLIP_WEIGHTS} (downloaded on first use), or leave the classes empty"
                )
                raise DetectorError(msg) from error
        self._classes = classes

    def _check_text_encoder(self, classes: tuple[str, ...]) -> None:
        """Fail with what to do, before ultralytics would pip-install or download the encoder."""
        if getattr(self.model.model, "clip_model", None) is not None:
            return  # loaded by an earlier set_classes
        wanted = ", ".join(classes)
        encoder_imported = "ultralytics.nn.text_model" in sys.modules
        if not encoder_imported and importlib.util.find_spec("clip") is None:
            msg = (
                f"{self.name} needs the CLIP text encoder to look for {wanted}, and the clip "
                f"package is not installed: {CLIP_INSTALL} (or leave the classes empty)"
            )
            raise DetectorError(msg)
        if offline_requested() and not CLIP_WEIGHTS.is_file():
            msg = (
                f"{self.name} needs the CLIP text encoder to look for {wanted}, its weights are "
                f"not at {CLIP_WEIGHTS}, and downloads are turned off (ADETAILER_OFFLINE / "
                "HF_HUB_OFFLINE); connect once to download them, or leave the classes empty"
            )
            raise DetectorError(msg)

    def close(self) -> None:
        """Nothing to release explicitly; the model is freed with the detector."""


class _WorldClasses:
    """A YOLO-World model's own class embeddings and names, to return to after custom classes."""

    def __init__(self, features: Any, count: int, names: dict[int, str]) -> None:
        self.features = features
        self.count = count
        self.names = names

    @classmethod
    def capture(cls, model: YOLO) -> _WorldClasses:
        world = model.model
        return cls(world.txt_feats.clone(), int(world.model[-1].nc), dict(world.names))

    def restore(self, model: YOLO) -> None:
        world = model.model
        world.txt_feats = self.features.clone()
        world.model[-1].nc = self.count
        world.names = dict(self.names)
        if model.predictor is not None:
            model.predictor.model.names = dict(self.names)


def _unused_save_dir(*args: Any, **kwargs: Any) -> Path:
    """Where ultralytics would save outputs: nothing is saved (save=False), so never created."""
    return Path(tempfile.gettempdir()) / "adetailer-no-output"


def resolve_device(device: str) -> torch.device:
    """A torch device for "" (CUDA when torch sees a GPU, else CPU), "cpu", "cuda", "cuda:N",
    "N" or "mps", checked against what this machine has."""
    import torch

    text = device.strip().lower()
    if text in ("", "auto"):
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if text.isdigit():
        text = f"cuda:{text}"
    try:
        resolved = torch.device(text)
    except RuntimeError as error:
        raise DetectorError(unknown_device(device)) from error
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = resolved.index or 0
        if index >= count:
            msg = f"device {device!r} is not available: torch sees {count} CUDA GPU(s); use 'cpu' or ''"
            raise DetectorError(msg)
        return torch.device("cuda", index)
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        msg = f"device {device!r} is not available on this machine; use 'cpu' or ''"
        raise DetectorError(msg)
    return resolved


# Below this aspect ratio ultralytics' letterbox leaves the short side (and its masks) empty.
MIN_ASPECT = 1 / 16


def _padded(image: Image.Image) -> Image.Image:
    """A strip many times longer than wide, padded with black at its end to a workable shape."""
    width, height = image.size
    target = (
        max(width, math.ceil(height * MIN_ASPECT)),
        max(height, math.ceil(width * MIN_ASPECT)),
    )
    if target == image.size:
        return image
    canvas = Image.new("RGB", target)
    canvas.paste(image, (0, 0))
    return canvas


def _cropped(items: list[Detection], size: tuple[int, int]) -> list[Detection]:
    """Detections on the padded image, back on the image itself (those in the padding go)."""
    width, height = size
    kept = []
    for item in items:
        box = clip_box(item.box, size)
        mask = item.mask[:height, :width]
        if box_area(box) > 0 and mask.any():
            kept.append(item.replace(box=box, mask=np.ascontiguousarray(mask)))
    return kept


def read_result(result: Results, size: tuple[int, int]) -> list[Detection]:
    """Detections from one ultralytics result, boxes clipped to the image, masks at image size."""
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return []
    xyxy = boxes.xyxy.detach().cpu().numpy()
    scores = boxes.conf.detach().cpu().numpy()
    class_ids = [int(c) for c in boxes.cls.detach().cpu().numpy()]
    clipped = [clip_box(box, size) for box in xyxy]
    if result.masks is not None:
        masks = image_masks(result.masks.data.detach().cpu().numpy(), size)
    else:
        masks = boxes_to_masks(clipped, size)
    return [
        Detection(box, mask, float(score), class_name(result.names, class_id))
        for box, mask, score, class_id in zip(clipped, masks, scores, class_ids, strict=True)
    ]


def class_name(names: Mapping[int, str] | Sequence[str] | None, class_id: int) -> str:
    """The label for a class id; YOLO-World keeps its names as a list after `set_classes`."""
    if isinstance(names, Mapping):
        return str(names.get(class_id, class_id))
    if names is not None and 0 <= class_id < len(names):
        return str(names[class_id])
    return str(class_id)


def image_masks(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Boolean (N, height, width) masks. Masks at another size are taken to be on the model's
    letterboxed input (image scaled to fit, centred, padded): the padding is cut off and the
    rest scaled to the image, as ultralytics does for its own retina masks. Each is written
    straight into one array made for all of them, not stacked (copied) afterwards."""
    width, height = size
    if masks.shape[1:] == (height, width):
        return masks > 0.5
    result = np.empty((len(masks), height, width), dtype=bool)
    for mask, out in zip(masks, result, strict=True):
        np.greater(_unletterbox(mask, size), 0.5, out=out)
    return result


def _unletterbox(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One letterboxed mask's content, scaled to the image (probabilities, not yet thresholded)."""
    width, height = size
    input_height, input_width = mask.shape
    gain = min(input_height / height, input_width / width)
    pad_x = (input_width - width * gain) / 2
    pad_y = (input_height - height * gain) / 2
    top, left = round(pad_y - 0.1), round(pad_x - 0.1)
    bottom, right = input_height - round(pad_y + 0.1), input_width - round(pad_x + 0.1)
    content = np.ascontiguousarray(mask[top:bottom, left:right], dtype=np.float32)
    return cv2.resize(content, (width, height), interpolation=cv2.INTER_LINEAR)
