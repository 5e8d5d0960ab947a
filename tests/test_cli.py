from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib.cbook
import numpy as np
import pytest
from PIL import Image

from adetailer.boxes import box_iou
from adetailer.cli import main
from tests.group_photo import compose

GRACE = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
GRACE_FACE = (165.9, 128.4, 366.3, 328.8)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


def run(*args: str, models: Path) -> int:
    return main([*args, "--models-dir", str(models)])


def test_detect_writes_boxes_preview_and_masks(tmp_path, models_dir, capsys):
    out = tmp_path / "out"
    assert run("detect", str(GRACE), "--out", str(out), models=models_dir) == 0
    report = json.loads((out / "grace_hopper.json").read_text())
    assert report["image"] == str(GRACE)
    assert report["model"] == "mediapipe_face_full"
    assert (report["width"], report["height"]) == (512, 600)
    (face,) = report["detections"]
    assert set(face) == {"box", "confidence", "label"}
    assert box_iou(face["box"], GRACE_FACE) > 0.9
    assert face["label"] == "face"
    assert Image.open(out / "grace_hopper-preview.png").size == (512, 600)
    mask = Image.open(out / "grace_hopper-mask-0.png")
    assert mask.mode == "L"
    assert not (out / "grace_hopper-mask-1.png").exists()
    # the default dilation of 4 grows the mask beyond the box
    left, _, right, _ = mask.getbbox()
    assert left < face["box"][0]
    assert right > face["box"][2]
    assert capsys.readouterr().err.strip().endswith(f"1 image(s) -> {out}")


def test_mask_options(tmp_path, models_dir):
    out = tmp_path / "out"
    args = ["--dilate-erode", "0", "--mask-merge-invert", "Merge and Invert", "--y-offset", "10"]
    assert run("detect", str(GRACE), "--out", str(out), *args, models=models_dir) == 0
    mask = np.asarray(Image.open(out / "grace_hopper-mask-0.png")) > 0
    # inverted: the face (moved up 10 px) is the hole
    assert not mask[160:300, 200:330].any()
    assert mask[0:100, :].all()
    report = json.loads((out / "grace_hopper.json").read_text())
    assert report["masks"][0]["label"] == "face"


def test_folders_several_images_and_same_stems(tmp_path, models_dir):
    folder_a, folder_b = tmp_path / "a", tmp_path / "b"
    folder_a.mkdir()
    folder_b.mkdir()
    Image.open(GRACE).save(folder_a / "photo.png")
    Image.open(GRACE).save(folder_b / "photo.jpg")
    (folder_a / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    assert run("detect", str(folder_a), str(folder_b), "--out", str(out), models=models_dir) == 0
    assert (out / "photo.json").exists()
    assert (out / "photo-2.json").exists()
    assert json.loads((out / "photo-2.json").read_text())["image"].endswith("photo.jpg")


def test_tiles_find_small_faces(tmp_path, models_dir):
    image, faces = compose((1536, 1024), (40, 56, 72, 96, 128, 180, 220), seed=0)
    path = tmp_path / "group.png"
    image.save(path)
    out = tmp_path / "out"
    assert run("detect", str(path), "--out", str(out), models=models_dir) == 0
    plain = json.loads((out / "group.json").read_text())["detections"]
    assert run("detect", str(path), "--out", str(out), "--tiles", models=models_dir) == 0
    tiled = json.loads((out / "group.json").read_text())["detections"]
    assert len(plain) < len(faces) == len(tiled)
    assert len(list(out.glob("group-mask-*.png"))) == len(faces)


def test_models_lists_names_kinds_and_sources(models_dir, capsys):
    models_dir.mkdir()
    (models_dir / "mine.pt").write_bytes(b"x")
    assert run("models", models=models_dir) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert names[:6] == [
        "face_yolov8n.pt",
        "face_yolov8s.pt",
        "hand_yolov8n.pt",
        "person_yolov8n-seg.pt",
        "person_yolov8s-seg.pt",
        "yolov8x-worldv2.pt",
    ]
    assert "mediapipe_face_full" in names
    assert "mediapipe_hand" in names
    mine = next(line for line in lines if line.startswith("mine.pt"))
    assert "yolo" in mine
    assert str(models_dir) in mine


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["detect", "missing.png"], "missing.png: no such file or folder"),
        (["detect", str(GRACE), "--model", "nope.pt"], "unknown model 'nope.pt'"),
        (["detect", str(GRACE), "--model", "../x.pt"], "'../x.pt'"),
        (
            ["detect", str(GRACE), "--confidence", "3"],
            "--confidence 3.0 is not allowed; expected a number from 0 to 1",
        ),
        (
            ["detect", str(GRACE), "--mask-k", "-1"],
            "--mask-k -1 is not allowed; expected an integer >= 0",
        ),
        (["detect", str(GRACE), "--mask-merge-invert", "Invert"], "invalid choice: 'Invert'"),
        (["detect", str(GRACE), "--model", "face_yolov8n.pt", "--offline"], "face_yolov8n.pt"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_mistakes_exit_2_with_one_line(models_dir, tmp_path, capsys, args, message):
    extra = (
        ["--models-dir", str(models_dir), "--out", str(tmp_path / "o")]
        if args[0] == "detect"
        else []
    )
    code = main([*args, *extra])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("adetailer: error: ")
    assert "\n" not in err
    assert message in err


def test_unreadable_image(tmp_path, models_dir, capsys):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG not really")
    assert run("detect", str(path), "--out", str(tmp_path / "o"), models=models_dir) == 2
    assert "broken.png: not a readable image" in capsys.readouterr().err


def test_offline_hub_model_says_where_to_put_it(tmp_path, models_dir, capsys):
    code = run(
        "detect",
        str(GRACE),
        "--model",
        "face_yolov8n.pt",
        "--offline",
        "--out",
        str(tmp_path / "o"),
        models=models_dir,
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "face_yolov8n.pt" in err
    assert str(models_dir) in err
    assert "https://huggingface.co/Bingsu/adetailer/resolve/main/face_yolov8n.pt" in err


def test_module_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "adetailer", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("adetailer ")
