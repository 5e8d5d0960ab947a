"""YOLO detectors on random-weight models built from ultralytics' own yaml files.

Random weights find nothing meaningful, so these tests check what the detector must guarantee
whatever the model says: types, shapes, clipping, masks at image size without letterbox
padding, labels from the model, the cache, devices, and the YOLO-World class path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import types
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from adetailer.boxes import box_center, box_to_mask, mask_to_box
from adetailer.detections import Detections
from adetailer.detectors import clear_detector_cache, load_count, load_detector
from adetailer.detectors import yolo as yolo_module
from adetailer.detectors.base import DetectorError
from adetailer.detectors.yolo import YoloDetector, image_masks, resolve_device
from adetailer.registry import ModelEntry, ModelRegistry

LOW = 0.01  # random weights score low; at this threshold the seeded models find boxes

pytestmark = pytest.mark.usefixtures("no_network", "fresh_detector_cache")


@pytest.fixture
def registry(yolo_models_dir: Path) -> ModelRegistry:
    return ModelRegistry(yolo_models_dir, allow_download=False)


def load(registry: ModelRegistry, name: str, device: str = "") -> YoloDetector:
    detector = load_detector(registry.prepare(name), device=device)
    assert isinstance(detector, YoloDetector)
    return detector


def assert_well_formed(found: Detections, size: tuple[int, int], labels: set[str]) -> None:
    width, height = size
    assert found.size == size
    for item in found:
        x1, y1, x2, y2 = item.box
        assert 0 <= x1 <= x2 <= width
        assert 0 <= y1 <= y2 <= height
        assert item.mask.dtype == bool
        assert item.mask.shape == (height, width)
        assert LOW <= item.confidence <= 1.0
        assert item.label in labels


def test_registry_lists_the_models(registry: ModelRegistry, yolo_models_dir: Path) -> None:
    assert registry.get("face_test.pt") == ModelEntry(
        "face_test.pt", "yolo", "file", yolo_models_dir / "face_test.pt"
    )
    assert registry.get("person_test-seg.pt").kind == "yolo"
    assert registry.get("test-worldv2.pt").kind == "yolo-world"


def test_detection_model(registry: ModelRegistry, photos: dict[str, Image.Image]) -> None:
    image = photos["astronaut"]
    found = load(registry, "face_test.pt").detect(image, confidence=LOW)
    assert len(found) > 0
    assert found.model == "face_test.pt"
    assert found.image.mode == "RGB"
    assert_well_formed(found, image.size, {"face"})
    for item in found:  # a detection model's mask is its box
        assert np.array_equal(item.mask, box_to_mask(item.box, image.size))


def test_classes_are_ignored_by_closed_set_models(
    registry: ModelRegistry, photos: dict[str, Image.Image]
) -> None:
    detector = load(registry, "face_test.pt")
    plain = detector.detect(photos["astronaut"], confidence=LOW)
    narrowed = detector.detect(photos["astronaut"], confidence=LOW, classes=["cat"])
    assert narrowed.labels == plain.labels
    assert np.array_equal(narrowed.boxes, plain.boxes)


def test_high_confidence_finds_nothing(
    registry: ModelRegistry, photos: dict[str, Image.Image]
) -> None:
    found = load(registry, "person_test-seg.pt").detect(photos["astronaut"], confidence=0.9)
    assert found.items == ()
    assert found.model == "person_test-seg.pt"


@pytest.fixture(scope="module")
def wide_image(photos: dict[str, Image.Image]) -> Image.Image:
    """Not square: the model sees it letterboxed (padded above and below)."""
    return photos["zidane"].resize((640, 360))


def test_segmentation_masks_fit_the_image(registry: ModelRegistry, wide_image) -> None:
    found = load(registry, "person_test-seg.pt").detect(wide_image, confidence=LOW)
    assert len(found) > 0
    assert_well_formed(found, wide_image.size, {"person"})
    for item in found:
        # the test model's masks fill their boxes; a mask still offset by the letterbox
        # padding (12 px here) or left at inference size would not line up with its box
        assert item.mask.any()
        assert np.allclose(mask_to_box(item.mask), item.box, atol=1.0)


def test_segmentation_masks_match_unletterboxed_inference_masks(
    registry: ModelRegistry, wide_image
) -> None:
    """The two ways to bring masks to the image agree: ultralytics' retina masks (used) and
    our own cutting of the padding from masks at inference size."""
    detector = load(registry, "person_test-seg.pt")
    found = detector.detect(wide_image, confidence=LOW)
    result = detector.model.predict(wide_image, conf=LOW, verbose=False, retina_masks=False)[0]
    inference_masks = result.masks.data.numpy()
    assert inference_masks.shape[1:] == (384, 640)  # 360 rows padded to a multiple of 32
    ours = image_masks(inference_masks, wide_image.size)
    assert ours.shape == (len(inference_masks), wide_image.height, wide_image.width)
    # Detections are paired by box: at inference size ultralytics drops boxes too small for its
    # 1/4-scale masks. Only boxes inside the image are compared: for a box reaching outside,
    # ultralytics' inference-size crop (negative index) cuts the mask wrongly, one more reason
    # the detector uses retina masks.
    width, height = wide_image.size
    compared = 0
    for box, mask in zip(result.boxes.xyxy.numpy(), ours, strict=True):
        x1, y1, x2, y2 = box
        if not (x1 > 0 and y1 > 0 and x2 < width and y2 < height):
            continue
        # masks made at 1/4 scale are a few pixels wider; not left, right, up or down
        assert np.allclose(box_center(mask_to_box(mask)), box_center(box), atol=3.0)
        assert np.allclose(mask_to_box(mask), box, atol=8.0)
        pair = min(found, key=lambda item: np.abs(np.subtract(item.box, box)).max())
        assert np.allclose(pair.box, box, atol=0.1)
        assert (pair.mask & mask).sum() / (pair.mask | mask).sum() > 0.85
        compared += 1
    assert compared >= 3


def test_unletterbox_cuts_padding_and_scales() -> None:
    """A 128x64 image letterboxed into 64x64: scaled by 1/2, 16 rows of padding above and below."""
    letterboxed = np.zeros((1, 64, 64), dtype=np.float32)
    letterboxed[0, 16:48, 0:32] = 1.0  # the image's left half
    masks = image_masks(letterboxed, (128, 64))
    assert masks.shape == (1, 64, 128)
    expected = np.zeros((64, 128), dtype=bool)
    expected[:, :64] = True
    assert (masks[0] != expected).sum() <= 64  # at most one column differs at the edge


def test_letterboxed_masks_are_each_cut_scaled_and_thresholded() -> None:
    """Written one by one into one array: the same as scaling each and stacking them."""
    letterboxed = np.random.default_rng(2).random((3, 64, 64)).astype(np.float32)
    masks = image_masks(letterboxed, (128, 64))
    assert masks.shape == (3, 64, 128)
    assert masks.dtype == bool
    for mask, one in zip(masks, letterboxed, strict=True):
        content = np.ascontiguousarray(one[16:48, :])  # 16 rows of padding above and below
        expected = cv2.resize(content, (128, 64), interpolation=cv2.INTER_LINEAR) > 0.5
        assert np.array_equal(mask, expected)


def test_masks_already_at_image_size_are_thresholded() -> None:
    masks = np.array([[[0.0, 0.7], [0.2, 1.0]]], dtype=np.float32)
    assert image_masks(masks, (2, 2)).tolist() == [[[False, True], [False, True]]]


# --- the cache ------------------------------------------------------------------------------


def test_second_load_is_a_cache_hit(registry: ModelRegistry) -> None:
    before = load_count()
    first = load(registry, "face_test.pt")
    second = load(registry, "face_test.pt")
    assert second is first
    assert load_count() == before + 1


def test_each_device_has_its_own_detector(registry: ModelRegistry) -> None:
    before = load_count()
    auto = load(registry, "face_test.pt", device="")
    cpu = load(registry, "face_test.pt", device="cpu")
    assert cpu is not auto
    assert load(registry, "face_test.pt", device="cpu") is cpu
    assert load_count() == before + 2
    assert cpu.device == torch.device("cpu")


def test_replaced_file_is_loaded_again(yolo_models_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    target = folder / "swap.pt"
    shutil.copy(yolo_models_dir / "face_test.pt", target)
    registry = ModelRegistry(folder, allow_download=False)
    before = load_count()
    first = load(registry, "swap.pt")
    assert first.model.task == "detect"
    shutil.copy(yolo_models_dir / "person_test-seg.pt", target)
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))  # a different modification time
    second = load(registry, "swap.pt")
    assert second is not first
    assert second.model.task == "segment"
    assert load_count() == before + 2
    assert load(registry, "swap.pt") is second


def test_a_cache_hit_makes_one_system_call(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another thread loads a model (pure Python), each system call of a hit waits up to
    a GIL switch interval: the hit stats the file and nothing else."""
    entry = registry.prepare("face_test.pt")
    first = load_detector(entry, device="cpu")
    calls: list[str] = []
    real_stat, real_resolve = Path.stat, Path.resolve
    monkeypatch.setattr(
        Path, "stat", lambda self, **kw: calls.append("stat") or real_stat(self, **kw)
    )
    monkeypatch.setattr(
        Path, "resolve", lambda self, strict=False: calls.append("resolve") or real_resolve(self)
    )
    assert load_detector(entry, device="cpu") is first
    assert calls == ["stat"]


def test_clearing_the_cache_loads_again(registry: ModelRegistry) -> None:
    first = load(registry, "face_test.pt")
    clear_detector_cache()
    assert load(registry, "face_test.pt") is not first


def test_hub_entry_must_be_fetched_first() -> None:
    entry = ModelEntry("face_yolov8n.pt", "yolo", "hub", repo_id="Bingsu/adetailer")
    with pytest.raises(DetectorError, match=r"ModelRegistry\.prepare"):
        load_detector(entry)


def test_missing_file() -> None:
    entry = ModelEntry("gone.pt", "yolo", "file", Path("/nonexistent/gone.pt"))
    with pytest.raises(DetectorError, match=r"model file /nonexistent/gone\.pt cannot be read"):
        load_detector(entry)


# --- devices ----------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_devices_on_a_machine_without_gpu(registry: ModelRegistry) -> None:
    assert resolve_device("") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    for device in ("cuda", "cuda:0", "0"):
        with pytest.raises(DetectorError, match="torch sees 0 CUDA GPU"):
            resolve_device(device)
    before = load_count()
    with pytest.raises(DetectorError, match="not available"):
        load(registry, "face_test.pt", device="cuda:1")
    assert load_count() == before


def test_unknown_device() -> None:
    with pytest.raises(DetectorError, match="unknown device 'gpu please'"):
        resolve_device("gpu please")


def test_ultralytics_does_not_change_process_settings(
    registry: ModelRegistry, photos: dict[str, Image.Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ultralytics' own device selection would set CUDA_VISIBLE_DEVICES and the thread count."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        load(registry, "face_test.pt", device="cpu").detect(photos["camera"], confidence=LOW)
        assert "CUDA_VISIBLE_DEVICES" not in os.environ
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


# --- what must not happen -------------------------------------------------------------------


def ultralytics_output_folders() -> set[Path]:
    """Every folder where ultralytics puts runs/<task>/predictN (under pytest it uses another)."""
    from ultralytics.utils import ROOT, RUNS_DIR

    roots = (Path(RUNS_DIR), ROOT.parent / "tests" / "tmp" / "runs")
    return {path for root in roots if root.is_dir() for path in root.rglob("*")}


def test_never_plots_and_writes_nothing(
    registry: ModelRegistry,
    photos: dict[str, Image.Image],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from ultralytics.engine.results import Results

    def no_plot(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Results.plot was called")

    monkeypatch.setattr(Results, "plot", no_plot)
    monkeypatch.chdir(tmp_path)
    before = ultralytics_output_folders()
    found = load(registry, "person_test-seg.pt").detect(photos["astronaut"], confidence=LOW)
    assert found.preview().size == photos["astronaut"].size
    assert ultralytics_output_folders() == before  # no empty runs/segment/predictN folder
    assert list(tmp_path.iterdir()) == []


def test_inference_errors_are_raised(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    detector = load(registry, "face_test.pt")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(detector.model, "predict", broken)
    with pytest.raises(
        DetectorError, match=r"^face_test\.pt failed on a 16x8 image: RuntimeError: out of memory$"
    ):
        detector.detect(Image.new("RGB", (16, 8)), confidence=0.5)


def test_yolo_works_without_mediapipe(
    registry: ModelRegistry, photos: dict[str, Image.Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    found = load(registry, "face_test.pt").detect(photos["astronaut"], confidence=LOW)
    assert len(found) > 0


OFFLINE_SCRIPT = textwrap.dedent(
    """
    import json, socket
    lookups = []
    real_getaddrinfo = socket.getaddrinfo
    def record(host, *args, **kwargs):
        lookups.append(host)
        raise OSError("no network in this test")
    socket.getaddrinfo = record
    from adetailer.safe_torch import import_ultralytics
    import_ultralytics()
    import ultralytics.utils as utils
    from ultralytics.utils import checks
    from ultralytics.utils.events import events
    print(json.dumps({
        "online": utils.ONLINE,
        "autoinstall": checks.AUTOINSTALL,
        "analytics": events.enabled,
        "lookups": lookups,
    }))
    """
)


def test_ultralytics_is_imported_offline() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    completed = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report == {"online": False, "autoinstall": False, "analytics": False, "lookups": []}


# --- YOLO-World -------------------------------------------------------------------------------


class FakeTextEncoder:
    """Stands in for ultralytics' CLIP text model: one fixed unit vector per class name."""

    def __init__(self) -> None:
        self.tokenized: list[list[str]] = []
        self._batch: list[str] = []

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        self._batch = list(texts)
        self.tokenized.append(list(texts))
        return torch.arange(len(texts)).unsqueeze(1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        rows = []
        for token in tokens[:, 0].tolist():
            generator = torch.Generator().manual_seed(zlib.crc32(self._batch[token].encode()))
            row = torch.randn(512, generator=generator)
            rows.append(row / row.norm())
        return torch.stack(rows)


@pytest.fixture
def text_encoder(monkeypatch: pytest.MonkeyPatch) -> FakeTextEncoder:
    """Replaces the one place WorldModel gets its encoder: ultralytics.nn.text_model."""
    encoder = FakeTextEncoder()
    module = types.ModuleType("ultralytics.nn.text_model")
    module.build_text_model = lambda variant, device=None: encoder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ultralytics.nn.text_model", module)
    for name in ("ADETAILER_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    return encoder


def test_world_classes_reach_the_model(
    registry: ModelRegistry, text_encoder: FakeTextEncoder, photos: dict[str, Image.Image]
) -> None:
    detector = load(registry, "test-worldv2.pt")
    assert detector.world
    image = photos["grace_hopper"]
    found = detector.detect(image, confidence=LOW, classes=[" cat", "dog ", "", "red car"])
    assert text_encoder.tokenized == [["cat", "dog", "red car"]]
    assert detector.model.model.names == ["cat", "dog", "red car"]
    assert len(found) > 0
    assert_well_formed(found, image.size, {"cat", "dog", "red car"})

    detector.detect(image, confidence=LOW, classes=["cat", "dog", "red car"])
    assert len(text_encoder.tokenized) == 1  # unchanged classes are not encoded again

    again = detector.detect(image, confidence=LOW, classes=["hat"])
    assert text_encoder.tokenized[-1] == ["hat"]
    assert set(again.labels) <= {"hat"}


def test_world_returns_to_its_own_classes(
    registry: ModelRegistry, text_encoder: FakeTextEncoder, photos: dict[str, Image.Image]
) -> None:
    detector = load(registry, "test-worldv2.pt")
    image = photos["astronaut"]
    own = detector.detect(image, confidence=LOW)
    own_names = dict(detector.model.model.names)
    assert len(own_names) == 80  # the yaml's 80 placeholder classes
    detector.detect(image, confidence=LOW, classes=["helmet"])
    restored = detector.detect(image, confidence=LOW, classes=[])
    assert detector.model.model.names == own_names
    assert restored.labels == own.labels
    assert np.allclose(restored.boxes, own.boxes)
    assert len(text_encoder.tokenized) == 1


def test_world_without_clip_says_how_to_install(
    registry: ModelRegistry, photos: dict[str, Image.Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ultralytics.utils import checks

    installs: list[Any] = []
    monkeypatch.setattr(checks, "check_requirements", lambda *a, **k: installs.append(a))
    monkeypatch.delitem(sys.modules, "ultralytics.nn.text_model", raising=False)
    find_spec = yolo_module.importlib.util.find_spec
    monkeypatch.setattr(
        yolo_module.importlib.util,
        "find_spec",
        lambda name: None if name == "clip" else find_spec(name),
    )
    detector = load(registry, "test-worldv2.pt")
    with pytest.raises(DetectorError) as caught:
        detector.detect(photos["astronaut"], confidence=LOW, classes=["helmet"])
    assert str(caught.value) == (
        "test-worldv2.pt needs the CLIP text encoder to look for helmet, and the clip package "
        "is not installed: pip install git+https://github.com/ultralytics/CLIP.git "
        "(or leave the classes empty)"
    )
    assert installs == []
    assert len(detector.detect(photos["astronaut"], confidence=LOW)) > 0  # own classes work


def test_world_offline_without_clip_weights(
    registry: ModelRegistry,
    text_encoder: FakeTextEncoder,
    photos: dict[str, Image.Image],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(yolo_module, "CLIP_WEIGHTS", tmp_path / "ViT-B-32.pt")
    monkeypatch.setenv("ADETAILER_OFFLINE", "1")
    detector = load(registry, "test-worldv2.pt")
    with pytest.raises(DetectorError, match="downloads are turned off"):
        detector.detect(photos["astronaut"], confidence=LOW, classes=["helmet"])
    assert text_encoder.tokenized == []


def test_world_encoder_failure_is_reported(
    registry: ModelRegistry,
    text_encoder: FakeTextEncoder,
    photos: dict[str, Image.Image],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreachable(texts: list[str]) -> torch.Tensor:
        raise OSError("urlopen error [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(text_encoder, "tokenize", unreachable)
    detector = load(registry, "test-worldv2.pt")
    with pytest.raises(DetectorError, match=r"could not look for helmet: the CLIP text encoder"):
        detector.detect(photos["astronaut"], confidence=LOW, classes=["helmet"])
