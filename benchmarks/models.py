"""The models benchmarked: every built-in MediaPipe model, and YOLO models built offline.

No real YOLO weights can be downloaded here, so the YOLO models are built from ultralytics' own
`yolov8n`/`yolov8s` yaml files by the tests' model builder (`tests/conftest.py`, reused, not
copied) and saved as stripped training checkpoints, the form the Hub files come in. Their
architecture, and so their inference cost, is the real one; their heads are set by hand and
score every coarse cell 0.05, so at the default confidence (0.3) they find nothing, and below
0.05 they find 138 boxes on any image. The report says which confidence each row used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adetailer.registry import MEDIAPIPE_MODELS


@dataclass(frozen=True)
class YoloSpec:
    """One YOLO model to build: ultralytics yaml, task, its one class."""

    file_name: str
    yaml: str
    task: str
    label: str


YOLO_SPECS: tuple[YoloSpec, ...] = (
    YoloSpec("bench_face_yolov8n.pt", "yolov8n.yaml", "detect", "face"),
    YoloSpec("bench_face_yolov8s.pt", "yolov8s.yaml", "detect", "face"),
    YoloSpec("bench_person_yolov8n-seg.pt", "yolov8n-seg.yaml", "segment", "person"),
    YoloSpec("bench_person_yolov8s-seg.pt", "yolov8s-seg.yaml", "segment", "person"),
)

MODEL_NAMES: tuple[str, ...] = (*MEDIAPIPE_MODELS, *(spec.file_name for spec in YOLO_SPECS))


def display_name(model: str) -> str:
    """How a model is named in the report: the YOLO ones by the yaml they were built from."""
    for spec in YOLO_SPECS:
        if spec.file_name == model:
            return f"{spec.yaml.removesuffix('.yaml')} ({spec.task})"
    return model


def build_yolo_models(folder: Path) -> list[Path]:
    """Write every YOLO model of `YOLO_SPECS` into `folder` (seeded: the same weights each run)."""
    from adetailer.safe_torch import import_ultralytics

    import_ultralytics()  # offline switches set before ultralytics is first imported
    from ultralytics.nn.tasks import DetectionModel, SegmentationModel

    from tests.conftest import _built_model, _save_final_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    classes = {"detect": DetectionModel, "segment": SegmentationModel}
    paths = []
    for spec in YOLO_SPECS:
        model = _built_model(classes[spec.task], spec.yaml, {0: spec.label}, spec.task)
        path = folder / spec.file_name
        _save_final_checkpoint(model, path)
        paths.append(path)
    return paths
