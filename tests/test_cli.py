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
from tests.crafted import save_crafted_model
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
    assert capsys.readouterr().err.strip().endswith(f"1 image, 0 failed -> {out}")


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
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["NAME", "KIND", "STATUS"]
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
    assert mine.split()[1:3] == ["yolo", "local"]
    assert str(models_dir) in mine


def test_models_offline_still_lists_every_model(models_dir, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert run("models", models=models_dir) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert len(lines) == 12
    face = next(line for line in lines if line.startswith("face_yolov8n.pt "))
    assert f"not available: downloads are off, put the file in {models_dir}" in face
    assert all("built in" in line for line in lines if line.startswith("mediapipe_"))


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
        (
            ["detect", str(GRACE), "--device", "banana"],
            "unknown device 'banana': use '' (automatic), 'cpu', 'cuda', 'cuda:0' or 'mps'",
        ),
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


def test_a_folder_run_goes_on_after_a_bad_image(tmp_path, models_dir, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(GRACE).save(folder / "a.png")
    (folder / "b.png").write_bytes(b"\x89PNG not really")
    Image.open(GRACE).save(folder / "c.jpg")
    (folder / "d.jpg").write_bytes(b"")
    out = tmp_path / "out"
    assert run("detect", str(folder), "--out", str(out), models=models_dir) == 1
    assert (out / "a.json").exists()
    assert (out / "c.json").exists()
    assert not (out / "b.json").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"adetailer: error: {folder / 'b.png'}: not a readable image "
        f"(UnidentifiedImageError: cannot identify image file '{folder / 'b.png'}')",
        f"adetailer: error: {folder / 'd.jpg'}: not a readable image "
        f"(UnidentifiedImageError: cannot identify image file '{folder / 'd.jpg'}')",
        f"4 images, 2 failed -> {out}",
    ]


def test_a_bad_model_stops_before_any_image(tmp_path, models_dir, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ultralytics", None)  # as if not installed
    models_dir.mkdir()
    (models_dir / "mine.pt").write_bytes(b"x")
    out = tmp_path / "out"
    code = run("detect", str(GRACE), "--model", "mine.pt", "--out", str(out), models=models_dir)
    assert code == 2
    assert capsys.readouterr().err == (
        "adetailer: error: mine.pt is a YOLO model and needs ultralytics, which is not "
        'installed: pip install "adetailer[yolo]" (in the web UI: restart it, install.py does it)\n'
    )
    assert not out.exists()


def test_mediapipe_on_a_gpu_device_says_it_runs_on_the_cpu(tmp_path, models_dir, capsys):
    out = tmp_path / "out"
    assert (
        run("detect", str(GRACE), "--device", "cuda:0", "--out", str(out), models=models_dir) == 0
    )
    note, summary = capsys.readouterr().err.strip().splitlines()
    assert note == (
        "adetailer: note: mediapipe_face_full runs on the CPU (MediaPipe's built-in models "
        "have no GPU path); --device cuda:0 applies to YOLO models"
    )
    assert summary == f"1 image, 0 failed -> {out}"


def test_no_command_prints_usage(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m adetailer")
    assert "detect" in err
    assert "models" in err


def test_piped_run_keeps_stdout_empty_and_the_library_quiet(tmp_path, models_dir):
    """Two images (the progress bar's case), stdout a pipe: nothing on it; on stderr, our
    summary and no line of MediaPipe's native logging."""
    for name in ("a", "b"):
        Image.open(GRACE).save(tmp_path / f"{name}.png")
    out = tmp_path / "out"
    args = [str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "adetailer", "detect", *args, "--models-dir", str(models_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == f"2 images, 0 failed -> {out}\n"


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


def test_a_crafted_model_file_exits_2_with_one_line(tmp_path, models_dir, capsys):
    target = tmp_path / "pwned"
    crafted = save_crafted_model(models_dir / "crafted.pt", target)
    code = run(
        "detect",
        str(GRACE),
        "--model",
        "crafted.pt",
        "--out",
        str(tmp_path / "o"),
        models=models_dir,
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"adetailer: error: refused to load {crafted}: it names posix.system, which is not "
        "allowed; the file was not loaded (only ultralytics model checkpoints are accepted)"
    ]
    assert not target.exists()
