"""The MediaPipe models that ship inside the mediapipe wheel (legacy `mediapipe.solutions`).

Nothing is downloaded: mediapipe 0.10.9 - 0.10.21 bundle the face, face mesh, hand and
selfie segmentation models. mediapipe is imported only when one of these models is loaded,
so YOLO models keep working on machines without it.

Confidence, per model (each result's score as MediaPipe reports it, where it reports one):
- face detection: the detection score;
- hands: the handedness score (the legacy Hands API reports no separate presence score);
- face mesh and eyes: 1.0, since FaceMesh gives no score; every mesh it returns has already
  passed `min_detection_confidence` = the requested confidence;
- person: the mean segmentation probability inside the region (read in some of its rows).
"""

from __future__ import annotations

import operator
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import cv2
import numpy as np
from PIL import Image

from adetailer.boxes import box_area, box_to_mask, clip_box, mask_to_box
from adetailer.detections import Detection, Detections
from adetailer.detectors.base import MEDIAPIPE_INSTALL, DetectorError, check_confidence
from adetailer.detectors.native_logs import library_logs_dropped
from adetailer.images import ensure_rgb

MAX_FACES = 20
MAX_HANDS = 10
# Selfie segmentation: a pixel is "person" at this probability; a region counts as a person
# when its outline holds at least this share of the image (smaller blobs are segmentation noise).
PERSON_THRESHOLD = 0.5
PERSON_MIN_AREA = 0.01
# Solutions are built per confidence (MediaPipe takes it at construction); keep a few.
_SOLUTIONS_KEPT = 4

Size = tuple[int, int]


def import_mediapipe() -> ModuleType:
    """mediapipe, or a DetectorError that says how to install a release that still has solutions."""
    try:
        import mediapipe
    except ImportError as error:
        msg = f"MediaPipe models need the mediapipe package, which is not installed: {MEDIAPIPE_INSTALL}"
        raise DetectorError(msg) from error
    if getattr(mediapipe, "solutions", None) is None:
        version = getattr(mediapipe, "__version__", "?")
        msg = f"mediapipe {version} no longer ships the legacy solutions these models use: {MEDIAPIPE_INSTALL}"
        raise DetectorError(msg)
    return mediapipe


@dataclass(frozen=True)
class _Model:
    """How one built-in model is made and how its raw result becomes detections."""

    build: Callable[[Any, float], Any]  # (mediapipe.solutions, confidence) -> solution
    read: Callable[[Any, Size, float], list[Detection]]  # (result, image size, confidence)
    confidence_in_graph: bool = True  # False: one solution serves every confidence


class MediaPipeDetector:
    """One built-in MediaPipe model. Solutions are kept between images (building one is costly
    for some models) and used by one thread at a time (they are not thread-safe)."""

    def __init__(self, name: str) -> None:
        if name not in MODELS:
            msg = f"unknown MediaPipe model {name!r}; available: {', '.join(MODELS)}"
            raise DetectorError(msg)
        self.name = name
        self._model = MODELS[name]
        self._solutions_api = import_mediapipe().solutions
        self._solutions: OrderedDict[float | None, Any] = OrderedDict()
        self._lock = threading.Lock()

    def detect(
        self, image: Image.Image, *, confidence: float, classes: Sequence[str] = ()
    ) -> Detections:
        """`classes` is ignored: these models each find one kind of thing."""
        check_confidence(confidence)
        rgb = ensure_rgb(image)
        pixels = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
        with self._lock:
            key = round(confidence, 4) if self._model.confidence_in_graph else None
            # a graph logs natively while it is built and runs for the first time
            first_run = library_logs_dropped() if key not in self._solutions else nullcontext()
            with first_run:
                solution = self._solution(key, confidence)
                try:
                    result = solution.process(pixels)
                except Exception as error:
                    width, height = rgb.size
                    msg = f"{self.name} failed on a {width}x{height} image: {type(error).__name__}: {error}"
                    raise DetectorError(msg) from error
        items = self._model.read(result, rgb.size, confidence)
        return Detections(image=rgb, items=tuple(items), model=self.name)

    def close(self) -> None:
        with self._lock:
            for solution in self._solutions.values():
                solution.close()
            self._solutions.clear()

    def _solution(self, key: float | None, confidence: float) -> Any:
        """The solution for `key` (the rounded confidence; None: one for all), built on first use."""
        if key in self._solutions:
            self._solutions.move_to_end(key)
            return self._solutions[key]
        solution = self._model.build(self._solutions_api, confidence)
        self._solutions[key] = solution
        if len(self._solutions) > _SOLUTIONS_KEPT:
            _, oldest = self._solutions.popitem(last=False)
            oldest.close()
        return solution


# --- building solutions -------------------------------------------------------------------


def _face_detection(model_selection: int) -> Callable[[Any, float], Any]:
    def build(solutions: Any, confidence: float) -> Any:
        return solutions.face_detection.FaceDetection(
            model_selection=model_selection, min_detection_confidence=confidence
        )

    return build


def _face_mesh(solutions: Any, confidence: float) -> Any:
    return solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=MAX_FACES, min_detection_confidence=confidence
    )


def _hands(solutions: Any, confidence: float) -> Any:
    return solutions.hands.Hands(
        static_image_mode=True, max_num_hands=MAX_HANDS, min_detection_confidence=confidence
    )


def _selfie_segmentation(solutions: Any, confidence: float) -> Any:
    return solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)


# --- reading results ----------------------------------------------------------------------


def _read_faces(result: Any, size: Size, confidence: float) -> list[Detection]:
    width, height = size
    items = []
    for detection in result.detections or ():
        rel = detection.location_data.relative_bounding_box
        box = clip_box(
            (
                rel.xmin * width,
                rel.ymin * height,
                (rel.xmin + rel.width) * width,
                (rel.ymin + rel.height) * height,
            ),
            size,
        )
        score = float(detection.score[0]) if detection.score else confidence
        # The graph does not always apply its own threshold (the short-range model returned
        # a 0.77 face at min_detection_confidence=0.99), so it is applied here as well.
        if box_area(box) > 0 and score >= confidence:
            items.append(Detection(box, box_to_mask(box, size), score, "face"))
    return items


def _read_face_meshes(result: Any, size: Size, confidence: float) -> list[Detection]:
    items = []
    for landmarks in result.multi_face_landmarks or ():
        mask = hull_mask(landmark_points(landmarks, size), size)
        items.extend(_from_mask(mask, 1.0, "face"))
    return items


def _read_eyes(result: Any, size: Size, confidence: float) -> list[Detection]:
    items = []
    for landmarks in result.multi_face_landmarks or ():
        points = landmark_points(landmarks, size)
        mask = hull_mask(points[LEFT_EYE_LANDMARKS], size, points[RIGHT_EYE_LANDMARKS])
        items.extend(_from_mask(mask, 1.0, "eyes"))
    return items


def _read_hands(result: Any, size: Size, confidence: float) -> list[Detection]:
    items = []
    handedness = result.multi_handedness or ()
    for index, landmarks in enumerate(result.multi_hand_landmarks or ()):
        score = handedness[index].classification[0].score if index < len(handedness) else 1.0
        mask = hull_mask(landmark_points(landmarks, size), size)
        items.extend(_from_mask(mask, float(score), "hand"))
    return items


def _read_people(result: Any, size: Size, confidence: float) -> list[Detection]:
    probability = np.asarray(result.segmentation_mask, dtype=np.float32)
    return people_from_probability(probability, confidence)


def people_from_probability(probability: np.ndarray, confidence: float) -> list[Detection]:
    """One detection per sizeable person region, scored by its mean probability.

    A region is an outer outline of the thresholded map with everything set inside it (a speck
    in the gap between an arm and the body belongs to that person). Outlines are found in one
    pass with `findContours`: labelling every pixel (`connectedComponents`), with a full-size
    mask and mean per label, took 1.6-2.3 ms at 1024x1536 next to the model's 2.5-3.5 ms, far
    over the 1.2x of inference our per-image path may take. With one person, the usual case,
    her mask is the thresholded map with the specks outside her outline cleared, so no other
    full-size array is made.
    """
    height, width = probability.shape
    person = probability >= PERSON_THRESHOLD
    pixels = person.view(np.uint8)  # bool is one byte: 0 or 1; cv2 writes into `person`
    outlines, _ = cv2.findContours(pixels, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    min_area = PERSON_MIN_AREA * width * height
    kept, specks = [], []
    for outline in outlines:
        (kept if outline_area(outline) >= min_area else specks).append(outline)
    # The order of the first pixel of each region in reading order, as labelling gives it.
    kept.sort(key=lambda outline: (int(outline[0, 0, 1]), int(outline[0, 0, 0])))
    rects = [cv2.boundingRect(outline) for outline in kept]
    if len(kept) == 1:
        if specks:
            cv2.drawContours(pixels, specks, -1, 0, cv2.FILLED)
        masks = [person]
    else:
        masks = [
            region_mask(outline, rect, pixels) for outline, rect in zip(kept, rects, strict=True)
        ]
    items = []
    for (x, y, w, h), mask in zip(rects, masks, strict=True):
        box = (float(x), float(y), float(x + w), float(y + h))
        score = mean_inside(probability, mask, box)
        if score >= confidence:
            items.append(Detection(box, mask, score, "person"))
    return items


def outline_area(outline: np.ndarray) -> float:
    """Pixels inside and on a closed outline of pixel centres (every step of it, as
    `CHAIN_APPROX_NONE` gives): Pick's theorem, polygon area + steps / 2 + 1. A lone pixel's
    outline is one point and no step."""
    steps = len(outline) if len(outline) > 1 else 0
    return cv2.contourArea(outline) + steps / 2 + 1


def region_mask(outline: np.ndarray, rect: Sequence[int], pixels: np.ndarray) -> np.ndarray:
    """The set pixels of `pixels` (0 or 1) on and inside `outline`, as a full-size boolean mask;
    only the outline's bounding box `rect` (x, y, width, height) is filled and intersected."""
    x, y, w, h = rect
    mask = np.zeros(pixels.shape, dtype=np.uint8)
    window = mask[y : y + h, x : x + w]  # a view: cv2 draws into `mask`
    cv2.drawContours(window, [outline], -1, 1, cv2.FILLED, offset=(-x, -y))
    np.bitwise_and(window, pixels[y : y + h, x : x + w], out=window)
    return mask.view(bool)


# A region's score is the mean over this many of its box's rows, evenly spaced (every row of
# a shorter box). Rows are read whole, where memory is fast; a grid of single pixels over a
# 1024x1536 map cost as much as finding the outlines. On the test photos the mean of these
# rows is within 0.005 of the mean of all pixels.
SCORE_ROWS = 32


def mean_inside(values: np.ndarray, mask: np.ndarray, box: tuple[float, ...]) -> float:
    """The mean of `values` where `mask` is set, read in `SCORE_ROWS` rows of `box` (which
    holds the whole mask); in every row of it when those rows miss the mask."""
    x1, y1, x2, y2 = (int(v) for v in box)
    rows = slice(y1, y2, max(1, (y2 - y1) // SCORE_ROWS))
    if not mask[rows, x1:x2].any():
        rows = slice(y1, y2)
    inside = mask[rows, x1:x2].view(np.uint8)
    return float(cv2.mean(values[rows, x1:x2], mask=inside)[0])


# --- geometry -----------------------------------------------------------------------------


def landmark_points(landmarks: Any, size: Size) -> np.ndarray:
    """Landmarks (normalised to the image) as an (N, 2) array of pixel coordinates."""
    width, height = size
    normalised = np.array(list(map(_XY, landmarks.landmark)), dtype=np.float64).reshape(-1, 2)
    return normalised * (width, height)


_XY = operator.attrgetter("x", "y")


def hull_mask(points: np.ndarray, size: Size, *more: np.ndarray) -> np.ndarray:
    """The filled convex hull of `points` (and of each of `more`, as separate hulls: both
    eyes), as a boolean mask of the image: one canvas, filled in place, read as booleans."""
    width, height = size
    canvas = np.zeros((height, width), dtype=np.uint8)
    for each in (points, *more):
        hull = cv2.convexHull(np.round(each).astype(np.int32))
        cv2.fillConvexPoly(canvas, hull, 1)
    return canvas.view(bool)  # filled with 0 and 1 only


def _from_mask(mask: np.ndarray, confidence: float, label: str) -> list[Detection]:
    """A detection boxed by its own mask; none when the mask fell entirely outside the image."""
    box = mask_to_box(mask)
    return [] if box is None else [Detection(box, mask, confidence, label)]


# FaceMesh landmark numbers around each eye (mediapipe's FACEMESH_LEFT_EYE / _RIGHT_EYE),
# written out so that importing this module does not import mediapipe.
# fmt: off
LEFT_EYE_LANDMARKS = [249, 263, 362, 373, 374, 380, 381, 382,
                      384, 385, 386, 387, 388, 390, 398, 466]
RIGHT_EYE_LANDMARKS = [7, 33, 133, 144, 145, 153, 154, 155,
                       157, 158, 159, 160, 161, 163, 173, 246]
# fmt: on

MODELS: dict[str, _Model] = {
    "mediapipe_face_short": _Model(_face_detection(0), _read_faces),
    "mediapipe_face_full": _Model(_face_detection(1), _read_faces),
    "mediapipe_face_mesh": _Model(_face_mesh, _read_face_meshes),
    "mediapipe_face_mesh_eyes_only": _Model(_face_mesh, _read_eyes),
    "mediapipe_hand": _Model(_hands, _read_hands),
    "mediapipe_person": _Model(_selfie_segmentation, _read_people, confidence_in_graph=False),
}
