"""Shared fixtures. Each group below serves the test files named in its heading."""

from __future__ import annotations

import copy
import hashlib
import io
import math
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

# =============================================================================================
# Detectors, model registry, downloads and safe loading
# (test_images, test_registry, test_downloads, test_safe_torch, test_detectors_*)
# =============================================================================================

ULTRALYTICS_ASSETS = "ultralytics/assets"


class NetworkRefusedError(AssertionError):
    """Raised instead of any connection or name lookup while `no_network` is active."""


@pytest.fixture(autouse=True)
def forget_failed_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed download is remembered for the process; each test starts without that memory."""
    from adetailer import downloads

    monkeypatch.setattr(downloads, "_failures", {})


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test on any attempt to resolve a host name or open a connection."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NetworkRefusedError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture
def online_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No offline switch set, whatever the environment running the tests has."""
    for name in ("ADETAILER_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fresh_detector_cache() -> Iterator[None]:
    from adetailer.detectors import clear_detector_cache

    clear_detector_cache()
    yield
    clear_detector_cache()


def _site_packages_file(relative: str) -> Path:
    import ultralytics

    return Path(ultralytics.__file__).parent.parent / relative


@pytest.fixture(scope="session")
def photos() -> dict[str, Image.Image]:
    """Real photos shipped with installed packages, in the modes they come in.

    astronaut (512x512 RGB), camera (512x512 L, a cameraman), grace_hopper (512x600 RGB) and
    zidane (1280x720 RGB, ultralytics' sample: two men, one pointing with his hand).
    """
    from matplotlib import cbook
    from skimage import data

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        grace = Image.open(handle)
        grace.load()
    zidane = Image.open(_site_packages_file(f"{ULTRALYTICS_ASSETS}/zidane.jpg"))
    zidane.load()
    return {
        "astronaut": Image.fromarray(data.astronaut()),
        "camera": Image.fromarray(data.camera()),
        "grace_hopper": grace,
        "zidane": zidane,
    }


def _train_args(task: str) -> dict[str, Any]:
    from ultralytics.utils import DEFAULT_CFG_DICT

    return {**DEFAULT_CFG_DICT, "task": task, "epochs": 1, "imgsz": 640, "name": "train"}


# Random weights alone score every box near the prior (about 0.01), draw boxes larger than the
# image, and give masks that are empty on most images (ultralytics then drops the detection).
# So the heads are set by hand: every cell of the coarsest level scores PRIOR_SCORE (the finer
# levels almost nothing), boxes have a fixed size, and mask prototypes are positive everywhere,
# so each mask fills its box. Detections then come out alike on any image, and their geometry
# (clipping, letterbox, scaling to the image) can be checked exactly.
PRIOR_SCORE = 0.05
BOX_REACH = 3  # cells of 32 px: 192 px boxes, so that NMS keeps a few dozen of them


def _logit(probability: float) -> float:
    return math.log(probability / (1 - probability))


def _set_scores(head: Any) -> None:
    levels = len(head.cv2)
    for level in range(levels):
        _set_box_size(head.cv2[level][-1], head.reg_max, BOX_REACH)
        score = PRIOR_SCORE if level == levels - 1 else 1e-4
        if hasattr(head, "cv4") and hasattr(head.cv4[level], "logit_scale"):  # YOLO-World
            head.cv4[level].bias.data.fill_(_logit(score))
        else:
            classes = head.cv3[level][-1]
            classes.weight.data.zero_()
            classes.bias.data.fill_(_logit(score))


def _set_box_size(regression: Any, bins: int, reach: int) -> None:
    """Every box reaches `reach` cells from its anchor on each side (a peaked DFL distribution)."""
    regression.weight.data.zero_()
    logits = regression.bias.data.view(4, bins)
    logits.fill_(0.0)
    logits[:, reach] = 12.0


def _set_full_masks(head: Any) -> None:
    last = head.proto.cv3  # Conv(conv, bn, SiLU): constant conv output, bn shifts it to 1
    last.conv.weight.data.zero_()
    last.bn.bias.data.fill_(1.0)
    for level in range(len(head.cv4)):
        coefficients = head.cv4[level][-1]
        coefficients.weight.data.zero_()
        coefficients.bias.data.fill_(1.0)


def _built_model(model_class: type, yaml: str, names: dict[int, str], task: str) -> Any:
    import torch

    torch.manual_seed(0)
    model = model_class(yaml, nc=len(names), verbose=False)
    model.names = names
    model.task = task
    model.args = _train_args(task)
    _set_scores(model.model[-1])
    if task == "segment":
        _set_full_masks(model.model[-1])
    return model


def _metadata() -> dict[str, Any]:
    import ultralytics

    return {
        "date": "2024-05-01T12:00:00",
        "version": ultralytics.__version__,
        "license": "AGPL-3.0 License (https://ultralytics.com/license)",
        "docs": "https://docs.ultralytics.com",
    }


def _save_final_checkpoint(model: Any, path: Path) -> None:
    """What training leaves in best.pt after ultralytics' strip_optimizer."""
    import torch

    checkpoint = {
        **_metadata(),
        "epoch": -1,
        "best_fitness": None,
        "model": copy.deepcopy(model).half(),
        "ema": None,
        "updates": None,
        "optimizer": None,
        "scaler": None,
        "train_args": _train_args(model.task),
        "train_metrics": {"metrics/mAP50(B)": np.float64(0.61), "fitness": np.float64(0.42)},
        "train_results": {"epoch": [1], "train/box_loss": [1.25]},
        "git": {"root": None, "branch": None, "commit": None, "origin": None},
    }
    torch.save(checkpoint, path)


def _save_last_checkpoint(model: Any, path: Path) -> None:
    """What training writes to last.pt while running: an EMA copy, optimizer state, metrics."""
    import torch
    from ultralytics.utils import IterableSimpleNamespace

    ema = copy.deepcopy(model).half()
    ema.args = IterableSimpleNamespace(**_train_args(model.task))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    checkpoint = {
        **_metadata(),
        "epoch": 0,
        "best_fitness": np.float64(0.42),
        "model": None,
        "ema": ema,
        "updates": 10,
        "optimizer": optimizer.state_dict(),
        "scaler": {},
        "train_args": _train_args(model.task),
        "train_metrics": {"fitness": np.float64(0.42)},
        "train_results": {},
    }
    torch.save(checkpoint, path)


@pytest.fixture(scope="session")
def yolo_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with random-weight models in the formats real files come in.

    face_test.pt        detection, one class "face", final (stripped) training checkpoint
    person_test-seg.pt  segmentation, one class "person", last.pt-style (EMA + optimizer)
    test-worldv2.pt     YOLO-World v2 (s) built from ultralytics' yaml, saved with YOLO.save()
    """
    import torch

    from adetailer.safe_torch import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel, SegmentationModel

    folder = tmp_path_factory.mktemp("models")
    detect = _built_model(DetectionModel, "yolov8n.yaml", {0: "face"}, "detect")
    _save_final_checkpoint(detect, folder / "face_test.pt")
    segment = _built_model(SegmentationModel, "yolov8n-seg.yaml", {0: "person"}, "segment")
    _save_last_checkpoint(segment, folder / "person_test-seg.pt")
    torch.manual_seed(0)
    world = YOLO("yolov8s-worldv2.yaml")
    _set_scores(world.model.model[-1])
    world.save(folder / "test-worldv2.pt")
    return folder


class HubCache:
    """huggingface_hub's real cache layout, built by hand (nothing is downloaded).

    models--<owner>--<name>/refs/main names a revision; snapshots/<rev>/<file> is a symlink to
    blobs/<sha256>, as hf_hub_download leaves it.
    """

    revision = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, repo_id: str, filename: str, content: bytes) -> Path:
        repo = self.root / f"models--{repo_id.replace('/', '--')}"
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(self.revision)
        blob = repo / "blobs" / hashlib.sha256(content).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(content)
        snapshot = repo / "snapshots" / self.revision / filename
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.unlink(missing_ok=True)
        snapshot.symlink_to(Path("..") / ".." / "blobs" / blob.name)
        return snapshot


@pytest.fixture
def hub_cache(tmp_path: Path) -> HubCache:
    return HubCache(tmp_path / "hub-cache")


@pytest.fixture(scope="session")
def zip_bytes() -> bytes:
    """A small complete zip: what a checkpoint looks like to the download completeness check."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    return buffer.getvalue()
