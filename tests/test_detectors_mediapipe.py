"""MediaPipe models on real photos that installed packages ship (see the `photos` fixture).

Face boxes were measured once with mediapipe 0.10.21 and are pinned here with a few pixels of
tolerance (x1, y1, x2, y2 in image pixels).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage

from adetailer.boxes import box_iou, box_to_mask, mask_to_box
from adetailer.detections import Detections
from adetailer.detectors import clear_detector_cache, load_count, load_detector
from adetailer.detectors.base import DetectorError, is_gpu_device
from adetailer.detectors.mediapipe import (
    LEFT_EYE_LANDMARKS,
    MEDIAPIPE_INSTALL,
    PERSON_MIN_AREA,
    PERSON_THRESHOLD,
    RIGHT_EYE_LANDMARKS,
    MediaPipeDetector,
    hull_mask,
    landmark_points,
    people_from_probability,
)
from adetailer.registry import MEDIAPIPE_MODELS, ModelEntry

TOLERANCE = 3.0  # px

FACE_BOXES = {
    ("mediapipe_face_full", "astronaut"): (173.7, 67.8, 277.6, 171.7),
    ("mediapipe_face_full", "camera"): (199.6, 122.7, 275.6, 198.7),
    ("mediapipe_face_full", "grace_hopper"): (165.9, 128.4, 366.3, 328.8),
    ("mediapipe_face_short", "astronaut"): (177.6, 82.9, 272.9, 178.2),
    ("mediapipe_face_short", "camera"): (180.4, 122.1, 265.2, 207.0),
    ("mediapipe_face_short", "grace_hopper"): (171.4, 146.9, 365.8, 341.4),
    ("mediapipe_face_mesh", "astronaut"): (178.0, 72.0, 273.0, 176.0),
    ("mediapipe_face_mesh", "camera"): (192.0, 122.0, 265.0, 204.0),
    ("mediapipe_face_mesh", "grace_hopper"): (169.0, 131.0, 358.0, 334.0),
}
FACE_PHOTOS = ["astronaut", "camera", "grace_hopper"]
# The man on the right of ultralytics' zidane.jpg points at the camera with his right hand.
ZIDANE_HAND = (1005.0, 416.0, 1146.0, 481.0)

pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture(scope="module")
def detectors() -> dict[str, MediaPipeDetector]:
    return {name: MediaPipeDetector(name) for name in MEDIAPIPE_MODELS}


def detect(detectors: dict[str, MediaPipeDetector], name: str, image: Image.Image) -> Detections:
    return detectors[name].detect(image, confidence=0.3)


def assert_well_formed(found: Detections, image: Image.Image, label: str) -> None:
    width, height = image.size
    assert found.image.mode == "RGB"
    assert found.size == image.size
    for item in found:
        assert item.label == label
        assert 0.0 < item.confidence <= 1.0
        assert item.mask.dtype == bool
        assert item.mask.shape == (height, width)
        assert item.mask.any()
        x1, y1, x2, y2 = item.box
        assert 0 <= x1 < x2 <= width
        assert 0 <= y1 < y2 <= height
        outside = item.mask & ~box_to_mask(item.box, image.size)
        assert not outside.any()


@pytest.mark.parametrize("photo", FACE_PHOTOS)
@pytest.mark.parametrize(
    "model", ["mediapipe_face_full", "mediapipe_face_short", "mediapipe_face_mesh"]
)
def test_one_face_where_measured(detectors, photos, model: str, photo: str) -> None:
    image = photos[photo]
    found = detect(detectors, model, image)
    assert len(found) == 1
    assert_well_formed(found, image, "face")
    assert np.allclose(found[0].box, FACE_BOXES[model, photo], atol=TOLERANCE), found[0].box
    assert found.model == model


@pytest.mark.parametrize("photo", FACE_PHOTOS)
def test_face_detection_mask_is_the_box(detectors, photos, photo: str) -> None:
    face = detect(detectors, "mediapipe_face_full", photos[photo])[0]
    assert np.array_equal(face.mask, box_to_mask(face.box, photos[photo].size))
    assert 0.8 < face.confidence <= 1.0


@pytest.mark.parametrize("photo", FACE_PHOTOS)
def test_face_mesh_follows_the_face(detectors, photos, photo: str) -> None:
    image = photos[photo]
    face = detect(detectors, "mediapipe_face_full", image)[0]
    mesh = detect(detectors, "mediapipe_face_mesh", image)[0]
    inside = mesh.mask & box_to_mask(face.box, image.size)
    assert inside.sum() / mesh.mask.sum() > 0.9
    assert box_iou(mesh.box, face.box) > 0.7
    assert mesh.confidence == 1.0
    # a filled hull: a solid region, much more than a box outline
    assert mesh.mask.sum() > 0.6 * mesh.area


@pytest.mark.parametrize("photo", FACE_PHOTOS)
def test_eyes_only_are_two_regions_inside_the_face(detectors, photos, photo: str) -> None:
    image = photos[photo]
    face = detect(detectors, "mediapipe_face_full", image)[0]
    mesh = detect(detectors, "mediapipe_face_mesh", image)[0]
    eyes = detect(detectors, "mediapipe_face_mesh_eyes_only", image)
    assert len(eyes) == 1
    assert_well_formed(eyes, image, "eyes")
    mask = eyes[0].mask
    assert not (mask & ~box_to_mask(face.box, image.size)).any()
    assert not (mask & ~mesh.mask).any()
    regions, _ = cv2.connectedComponents(mask.astype(np.uint8))
    assert regions - 1 == 2  # left eye, right eye (label 0 is the background)
    eyes_center_y = (eyes[0].box[1] + eyes[0].box[3]) / 2
    assert face.box[1] < eyes_center_y < (face.box[1] + face.box[3]) / 2  # upper half of face


def test_eye_landmarks_match_mediapipe() -> None:
    from mediapipe.python.solutions import face_mesh_connections as connections

    def indices(pairs: frozenset[tuple[int, int]]) -> list[int]:
        return sorted({index for pair in pairs for index in pair})

    assert indices(connections.FACEMESH_LEFT_EYE) == LEFT_EYE_LANDMARKS
    assert indices(connections.FACEMESH_RIGHT_EYE) == RIGHT_EYE_LANDMARKS


def test_hand_on_zidane(detectors, photos) -> None:
    image = photos["zidane"]
    hands = detect(detectors, "mediapipe_hand", image)
    assert len(hands) == 1
    assert_well_formed(hands, image, "hand")
    assert np.allclose(hands[0].box, ZIDANE_HAND, atol=TOLERANCE), hands[0].box
    assert hands[0].confidence > 0.9


@pytest.mark.parametrize("photo", FACE_PHOTOS)
def test_hand_on_portraits(detectors, photos, photo: str) -> None:
    """No hand is found on these portraits (none is clearly visible); whatever comes is sane."""
    image = photos[photo]
    hands = detect(detectors, "mediapipe_hand", image)
    assert_well_formed(hands, image, "hand")
    assert len(hands) <= 2


@pytest.mark.parametrize(
    ("photo", "least_share"), [("astronaut", 0.4), ("camera", 0.2), ("grace_hopper", 0.4)]
)
def test_one_person_per_portrait(detectors, photos, photo: str, least_share: float) -> None:
    image = photos[photo]
    people = detect(detectors, "mediapipe_person", image)
    assert len(people) == 1
    assert_well_formed(people, image, "person")
    width, height = image.size
    assert people[0].mask.sum() / (width * height) > least_share
    face = detect(detectors, "mediapipe_face_full", image)[0]
    face_center = box_to_mask(
        (
            (face.box[0] + face.box[2]) / 2,
            (face.box[1] + face.box[3]) / 2,
            (face.box[0] + face.box[2]) / 2 + 1,
            (face.box[1] + face.box[3]) / 2 + 1,
        ),
        image.size,
    )
    assert (people[0].mask & face_center).any()  # the person region holds the face


def test_high_confidence_finds_nothing(detectors, photos) -> None:
    found = detectors["mediapipe_face_short"].detect(photos["camera"], confidence=0.99)
    assert found.items == ()
    assert found.model == "mediapipe_face_short"


@pytest.mark.parametrize("confidence", [-0.1, 1.5])
def test_confidence_out_of_range(detectors, photos, confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence must be between 0 and 1"):
        detectors["mediapipe_face_full"].detect(photos["astronaut"], confidence=confidence)


def test_other_image_modes(detectors, photos) -> None:
    rgba = photos["astronaut"].convert("RGBA")
    found = detectors["mediapipe_face_full"].detect(rgba, confidence=0.3)
    assert len(found) == 1
    assert found.image.mode == "RGB"


def test_solutions_are_reused_per_confidence() -> None:
    detector = MediaPipeDetector("mediapipe_face_full")
    image = Image.new("RGB", (64, 64))
    for _ in range(3):
        detector.detect(image, confidence=0.3)
    assert len(detector._solutions) == 1
    first = next(iter(detector._solutions.values()))
    detector.detect(image, confidence=0.3)
    assert next(iter(detector._solutions.values())) is first
    for confidence in (0.1, 0.2, 0.4, 0.5, 0.6):
        detector.detect(image, confidence=confidence)
    assert len(detector._solutions) == 4  # the oldest are closed and dropped
    detector.close()
    assert len(detector._solutions) == 0


def test_person_model_keeps_one_solution_for_every_confidence() -> None:
    detector = MediaPipeDetector("mediapipe_person")
    image = Image.new("RGB", (32, 32))
    detector.detect(image, confidence=0.3)
    detector.detect(image, confidence=0.7)
    assert list(detector._solutions) == [None]


def test_errors_are_raised_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    detector = MediaPipeDetector("mediapipe_face_short")

    class Broken:
        def process(self, pixels: np.ndarray) -> Any:
            raise RuntimeError("graph failed")

    monkeypatch.setattr(detector, "_solution", lambda key, confidence: Broken())
    with pytest.raises(
        DetectorError,
        match=r"^mediapipe_face_short failed on a 8x6 image: RuntimeError: graph failed$",
    ):
        detector.detect(Image.new("RGB", (8, 6)), confidence=0.5)


def test_unknown_name() -> None:
    with pytest.raises(DetectorError, match="unknown MediaPipe model 'mediapipe_feet'"):
        MediaPipeDetector("mediapipe_feet")


def test_person_regions_from_a_probability_map() -> None:
    probability = np.zeros((100, 200), dtype=np.float32)
    probability[10:60, 10:50] = 0.9  # a person
    probability[20:90, 120:190] = 0.7  # another one
    probability[95:97, 100:102] = 1.0  # a speck: 4 px, under 1 % of the image
    people = people_from_probability(probability, confidence=0.3)
    assert [item.box for item in people] == [(10.0, 10.0, 50.0, 60.0), (120.0, 20.0, 190.0, 90.0)]
    assert [round(item.confidence, 2) for item in people] == [0.9, 0.7]
    assert [item.label for item in people] == ["person", "person"]
    assert people_from_probability(probability, confidence=0.8)[0].box == (10.0, 10.0, 50.0, 60.0)
    assert len(people_from_probability(probability, confidence=0.8)) == 1
    assert people_from_probability(np.zeros((8, 8), np.float32), confidence=0.3) == []


def test_a_person_keeps_what_lies_inside_her_outline_and_loses_the_specks_outside() -> None:
    probability = np.zeros((120, 100), dtype=np.float32)
    probability[10:110, 10:90] = 0.9
    probability[40:80, 30:70] = 0.0  # a hole: the gap between an arm and the body
    probability[55:60, 45:50] = 0.8  # a speck inside the hole
    probability[0:3, 0:3] = 0.9  # specks outside
    probability[115:117, 95:98] = 0.9
    (person,) = people_from_probability(probability, confidence=0.3)
    assert person.box == (10.0, 10.0, 90.0, 110.0)
    assert np.array_equal(
        person.mask, (probability >= PERSON_THRESHOLD) & box_to_mask(person.box, (100, 120))
    )
    assert not person.mask[40:55, 30:70].any()  # the hole stays a hole


def people_by_components(probability: np.ndarray) -> list[tuple[Any, np.ndarray, float]]:
    """The documented regions the straightforward way: 8-connected components (scipy), each
    with its holes filled; a component inside another's hole belongs to that one; the area
    counts every pixel inside the outline; scores are exact means. Confidence is not applied."""
    height, width = probability.shape
    person = probability >= PERSON_THRESHOLD
    labels, _ = ndimage.label(person, structure=np.ones((3, 3), dtype=bool))
    # Background reaches around 8-connected regions through its 4-neighbours: a component is
    # outside every other when one of its pixels has such a neighbour in the background that
    # reaches the image's edge (the frame added here).
    background = np.pad(~person, 1, constant_values=True)
    reached, _ = ndimage.label(background)
    outside = ndimage.binary_dilation(reached == reached[0, 0])[1:-1, 1:-1]
    outer = set(np.unique(labels[outside & person]).tolist())
    regions = []
    for label, window in enumerate(ndimage.find_objects(labels), start=1):
        rows, cols = window
        if label not in outer or (rows.stop - rows.start) * (cols.stop - cols.start) < (
            PERSON_MIN_AREA * width * height
        ):
            continue
        filled = ndimage.binary_fill_holes(labels[window] == label)
        if filled.sum() < PERSON_MIN_AREA * width * height:
            continue
        mask = np.zeros_like(person)
        mask[window] = person[window] & filled
        regions.append((mask_to_box(mask), mask, float(probability[mask].mean())))
    return regions


def assert_same_people(probability: np.ndarray) -> None:
    found = people_from_probability(probability.copy(), confidence=0.0)
    expected = people_by_components(probability)
    assert [item.box for item in found] == [box for box, _, _ in expected]
    for item, (_, mask, score) in zip(found, expected, strict=True):
        assert np.array_equal(item.mask, mask)
        assert item.confidence == pytest.approx(score, abs=0.02)
    for item in found:  # a region is kept at its own score and dropped above it
        kept = people_from_probability(probability.copy(), confidence=item.confidence)
        assert item.box in [other.box for other in kept]
        above = people_from_probability(probability.copy(), np.nextafter(item.confidence, 2))
        assert item.box not in [other.box for other in above]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(8, 160),
    st.integers(8, 160),
    st.integers(2, 12),
    st.integers(0, 2**32 - 1),
)
def test_people_are_the_outer_regions_of_the_thresholded_map(height, width, cells, seed) -> None:
    """Outlines and Pick's theorem give the regions, masks, areas and order of labelling the
    components and filling their holes; scores are means read on a grid."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((cells, cells)).astype(np.float32)  # smooth, as the model's output
    probability = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
    probability[rng.random((height, width)) < 0.02] = 1.0  # specks: many small regions
    probability[rng.random((height, width)) < 0.02] = 0.0  # and small holes
    assert_same_people(probability)


def test_people_at_generation_size_and_with_very_many_regions() -> None:
    """A 1024x1536 map, where the score is read on a grid; a map of over 65536 regions; a region
    of exactly the smallest area and one a pixel under it."""
    rng = np.random.default_rng(3)
    coarse = rng.random((16, 12)).astype(np.float32)
    assert_same_people(cv2.resize(coarse, (1024, 1536), interpolation=cv2.INTER_LINEAR))
    specks = np.zeros((600, 600), dtype=np.float32)
    specks[::2, ::2] = 0.9
    specks[100:400, 50:300] = 0.8
    assert_same_people(specks)
    at_the_limit = np.zeros((100, 100), dtype=np.float32)  # the smallest region is 1 %: 100 px
    at_the_limit[10:20, 10:20] = 0.9  # 100 px: kept
    at_the_limit[50:59, 50:61] = 0.9  # 99 px: dropped
    at_the_limit[70, 70] = 0.9  # a lone pixel: 1 px
    assert_same_people(at_the_limit)
    assert len(people_from_probability(at_the_limit, 0.3)) == 1


def test_landmark_points_are_pixels() -> None:
    landmarks = SimpleNamespace(
        landmark=[SimpleNamespace(x=0.25, y=0.5), SimpleNamespace(x=1.0, y=0.1)]
    )
    points = landmark_points(landmarks, (200, 100))
    assert points.dtype == np.float64
    assert points.tolist() == [[0.25 * 200, 0.5 * 100], [1.0 * 200, 0.1 * 100]]


def test_hull_mask_of_two_hulls_is_their_union() -> None:
    left = np.array([[10.2, 10.0], [30.0, 12.6], [20.0, 25.0]])
    right = np.array([[50.0, 10.0], [70.4, 14.0], [60.0, 30.0], [55.0, 12.0]])
    both = hull_mask(left, (80, 40), right)
    assert both.dtype == bool
    assert np.array_equal(both, hull_mask(left, (80, 40)) | hull_mask(right, (80, 40)))


# --- without mediapipe ----------------------------------------------------------------------


def test_missing_mediapipe_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, fresh_detector_cache: None
) -> None:
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # makes `import mediapipe` fail
    with pytest.raises(DetectorError) as caught:
        load_detector(ModelEntry("mediapipe_face_full", "mediapipe", "builtin"))
    assert str(caught.value) == (
        "mediapipe_face_full is a MediaPipe model and needs mediapipe, which is not installed: "
        f"{MEDIAPIPE_INSTALL}"
    )
    assert 'pip install "mediapipe>=0.10.9,<0.10.30"' in MEDIAPIPE_INSTALL


def test_mediapipe_without_solutions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mediapipe", SimpleNamespace(__version__="0.10.31"))
    with pytest.raises(DetectorError, match=r"mediapipe 0\.10\.31 no longer ships the legacy"):
        MediaPipeDetector("mediapipe_hand")


def test_builtin_detector_is_cached(fresh_detector_cache: None) -> None:
    entry = ModelEntry("mediapipe_face_short", "mediapipe", "builtin")
    before = load_count()
    first = load_detector(entry)
    assert load_detector(entry) is first
    assert load_count() == before + 1
    clear_detector_cache()
    assert load_detector(entry) is not first


def test_concurrent_first_use_loads_once(fresh_detector_cache: None) -> None:
    entry = ModelEntry("mediapipe_face_mesh", "mediapipe", "builtin")
    before = load_count()
    with ThreadPoolExecutor(max_workers=8) as pool:
        detectors = list(pool.map(lambda _: load_detector(entry), range(16)))
    assert load_count() == before + 1
    assert all(detector is detectors[0] for detector in detectors)


IMPORT_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import adetailer.detectors
    import adetailer.registry
    import adetailer.downloads
    heavy = [m for m in ("torch", "ultralytics", "mediapipe", "huggingface_hub", "cv2")
             if m in sys.modules]
    print(json.dumps(heavy))
    """
)


def test_importing_detectors_loads_no_framework() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT], capture_output=True, text=True, check=True
    )
    assert json.loads(completed.stdout) == []


@pytest.mark.parametrize(
    ("device", "gpu"),
    [("", False), ("auto", False), (" CPU ", False), ("cuda", True), ("cuda:1", True), ("0", True)],
)
def test_mediapipe_takes_the_device_option_and_runs_on_the_cpu(device: str, gpu: bool) -> None:
    assert is_gpu_device(device) is gpu
    detector = load_detector(
        ModelEntry("mediapipe_face_short", "mediapipe", "builtin"), device=device
    )
    assert isinstance(detector, MediaPipeDetector)


@pytest.mark.parametrize("device", ["banana", "cuda:x", "gpu"])
def test_mediapipe_refuses_an_unknown_device_as_yolo_does(device: str) -> None:
    entry = ModelEntry("mediapipe_face_short", "mediapipe", "builtin")
    with pytest.raises(DetectorError, match=rf"^unknown device '{device}': use '' \(automatic\)"):
        load_detector(entry, device=device)
