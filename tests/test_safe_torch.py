from __future__ import annotations

import builtins
import io
import os
import shutil
import struct
import subprocess
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

from adetailer.detectors.base import DetectorError
from adetailer.safe_torch import (
    CheckpointError,
    CorruptCheckpointError,
    UnsafeCheckpointError,
    load_checkpoint,
    load_yolo,
    patched_for_this_thread,
)

# --- crafting hostile files -----------------------------------------------------------------


class RunsCommand:
    """Unpickling this runs a shell command: the classic malicious checkpoint."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (self.command,))


class OpensFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (builtins.open, (str(self.path), "w"))


class CallsExec:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (builtins.exec, (f"open({str(self.path)!r}, 'w').close()",))


class StartsProcess:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[list[str]]]:
        return (subprocess.Popen, (["touch", str(self.path)],))


def _unicode(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def pickle_calling(module: str, name: str, argument: str) -> bytes:
    """Pickle bytes for {"model": module.name(argument)}, naming any global we like."""
    call = b"c" + f"{module}\n{name}\n".encode() + _unicode(argument) + b"\x85R"
    return b"\x80\x02}" + _unicode("model") + call + b"s."


def pickle_building(module: str, name: str, state: dict[str, int]) -> bytes:
    """Pickle bytes for {"model": <module.name instance with __dict__ = state>}."""
    items = b"".join(_unicode(key) + b"K" + bytes([value]) for key, value in state.items())
    instance = b"c" + f"{module}\n{name}\n".encode() + b")\x81}(" + items + b"ub"
    return b"\x80\x02}" + _unicode("model") + instance + b"s."


def checkpoint_with_pickle(path: Path, data_pkl: bytes) -> Path:
    """A torch zip checkpoint whose data.pkl is `data_pkl` (written by hand, not by torch)."""
    buffer = io.BytesIO()
    torch.save({}, buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            content = data_pkl if info.filename.endswith("/data.pkl") else source.read(info)
            target.writestr(info.filename, content)
    return path


# --- refusing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "global_name"),
    [
        (lambda target: RunsCommand(f"touch {target}"), "posix.system"),
        (OpensFile, "io.open"),
        (CallsExec, "builtins.exec"),
        (StartsProcess, "commands.Popen"),  # protocol 2 writes the Python 2 name of subprocess
    ],
)
def test_code_in_a_checkpoint_is_never_run(tmp_path: Path, make: Any, global_name: str) -> None:
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": make(target), "date": "2024-01-01"}, path)

    with pytest.raises(UnsafeCheckpointError) as caught:
        load_checkpoint(path)

    assert str(caught.value) == (
        f"refused to load {path}: it contains {global_name}, which is not allowed; the file "
        "was not loaded (only ultralytics model checkpoints are accepted)"
    )
    assert not target.exists()
    assert isinstance(caught.value, DetectorError)


def test_refused_through_load_yolo_as_well(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    path = tmp_path / "face_yolov8n.pt"
    torch.save({"model": RunsCommand(f"touch {target}")}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system"):
        load_yolo(path)
    assert not target.exists()


def test_forced_unsafe_loading_env_does_not_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A1111 users set TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 for other extensions; we still refuse."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": RunsCommand(f"touch {target}")}, path)
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(path)
    assert not target.exists()


@pytest.mark.parametrize(
    ("module", "name", "reason"),
    [
        # reachable under ultralytics.nn, but defined elsewhere: not a model class
        ("ultralytics.nn.tasks", "Path", "not a model class"),
        ("ultralytics.nn.tasks", "YAML", "not a model class"),
        # a function in an allowed package: only classes may be rebuilt
        ("torch.nn.modules.module", "register_module_forward_hook", "not a model class"),
        ("ultralytics.nn.tasks", "torch_safe_load", "not a model class"),
        # a module that does not exist cannot provide anything
        ("ultralytics.nn.made_up", "Thing", "cannot provide"),
        ("argparse", "Namespace", "not allowed"),
        ("posix", "system", "not allowed"),
    ],
)
def test_globals_outside_the_allow_list(
    tmp_path: Path, module: str, name: str, reason: str
) -> None:
    path = checkpoint_with_pickle(tmp_path / "crafted.pt", pickle_calling(module, name, "x"))
    with pytest.raises(UnsafeCheckpointError, match=reason) as caught:
        load_checkpoint(path)
    assert f"it contains {module}.{name}" in str(caught.value)


def test_legacy_ultralytics_names_are_mapped(tmp_path: Path) -> None:
    """Checkpoints from ultralytics 8.0 name ultralytics.yolo.utils.* for today's classes."""
    data = pickle_building("ultralytics.yolo.utils", "IterableSimpleNamespace", {"nc": 1})
    path = checkpoint_with_pickle(tmp_path / "old.pt", data)
    checkpoint = load_checkpoint(path)
    from ultralytics.utils import IterableSimpleNamespace

    assert type(checkpoint["model"]) is IterableSimpleNamespace
    assert checkpoint["model"].nc == 1


def test_a_checkpoint_without_a_model_is_not_an_ultralytics_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError, match="not an ultralytics model checkpoint"):
        load_checkpoint(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"missing\.pt does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


# --- loading real ultralytics checkpoints ----------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "model_class"),
    [
        ("face_test.pt", "DetectionModel"),
        ("person_test-seg.pt", "SegmentationModel"),
        ("test-worldv2.pt", "WorldModel"),
    ],
)
def test_ultralytics_checkpoints_load(
    yolo_models_dir: Path, filename: str, model_class: str
) -> None:
    checkpoint = load_checkpoint(yolo_models_dir / filename)
    model = checkpoint["model"] or checkpoint["ema"]
    assert type(model).__name__ == model_class
    assert next(model.parameters()).dtype == torch.float16


@pytest.mark.parametrize(
    ("filename", "yolo_class", "task", "names"),
    [
        ("face_test.pt", "YOLO", "detect", {0: "face"}),
        ("person_test-seg.pt", "YOLO", "segment", {0: "person"}),
        ("test-worldv2.pt", "YOLOWorld", "detect", None),
    ],
)
def test_load_yolo_builds_the_model(
    yolo_models_dir: Path, filename: str, yolo_class: str, task: str, names: Any
) -> None:
    from ultralytics.nn import tasks

    original = tasks.torch_safe_load
    model = load_yolo(yolo_models_dir / filename)
    assert type(model).__name__ == yolo_class
    assert model.task == task
    if names is not None:
        assert model.names == names
    assert tasks.torch_safe_load is original  # the hand-over is gone again


def test_does_not_use_the_global_torch_load(
    yolo_models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A1111 replaces torch.load with a loader that rejects ultralytics classes."""

    def a1111_style_load(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("torch.load was called")

    monkeypatch.setattr(torch, "load", a1111_style_load)
    model = load_yolo(yolo_models_dir / "face_test.pt")
    assert model.task == "detect"


def test_ultralytics_asking_for_another_file_is_refused(
    yolo_models_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ultralytics.engine import model as engine_model

    real = engine_model.load_checkpoint

    def swapped(weight: Any, *args: Any, **kwargs: Any) -> Any:
        return real(str(tmp_path / "other.pt"), *args, **kwargs)

    monkeypatch.setattr(engine_model, "load_checkpoint", swapped)
    with pytest.raises(CheckpointError, match=r"asked for another file .*other\.pt"):
        load_yolo(yolo_models_dir / "face_test.pt")


# --- damaged files ------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_file_gives_a_clear_error(
    yolo_models_dir: Path, tmp_path: Path, keep: float
) -> None:
    data = (yolo_models_dir / "face_test.pt").read_bytes()
    path = tmp_path / "face_test.pt"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CorruptCheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert message.startswith(f"{path} is damaged or incomplete (RuntimeError: PytorchStreamReader")
    assert message.endswith("; delete it and download it again, or copy it again")
    assert "\n" not in message
    assert path.exists()  # a user's own file is never deleted


def test_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    path.write_text("not a model")
    with pytest.raises(CorruptCheckpointError, match=r"notes\.pt is damaged or incomplete"):
        load_checkpoint(path)


def test_truncated_pickle_inside_a_complete_zip(tmp_path: Path) -> None:
    path = checkpoint_with_pickle(tmp_path / "cut.pt", b"\x80\x02}" + _unicode("model"))
    with pytest.raises(CorruptCheckpointError, match=r"cut\.pt is damaged or incomplete"):
        load_checkpoint(path)


def test_damaged_file_in_the_download_cache_is_removed(
    yolo_models_dir: Path, hub_cache, tmp_path: Path
) -> None:
    data = (yolo_models_dir / "face_test.pt").read_bytes()
    cached = hub_cache.put("Bingsu/adetailer", "face_yolov8n.pt", data[: len(data) // 3])
    blob = cached.resolve()
    with pytest.raises(CorruptCheckpointError) as caught:
        load_yolo(cached)
    assert str(caught.value).endswith(
        "; it was removed from the download cache, and the next use downloads it again"
    )
    assert not cached.exists()
    assert not blob.exists()


# --- the thread-scoped patch ---------------------------------------------------------------


class Holder:
    @staticmethod
    def value() -> str:
        return "original"


def test_patch_applies_to_the_patching_thread_only() -> None:
    seen_elsewhere: list[str] = []
    with patched_for_this_thread(Holder, "value", lambda: "patched"):
        assert Holder.value() == "patched"
        other = threading.Thread(target=lambda: seen_elsewhere.append(Holder.value()))
        other.start()
        other.join()
    assert seen_elsewhere == ["original"]
    assert Holder.value() == "original"


def test_patch_is_undone_after_an_error() -> None:
    with pytest.raises(KeyError), patched_for_this_thread(Holder, "value", lambda: "patched"):
        raise KeyError
    assert Holder.value() == "original"


def test_copy_of_a_checkpoint_loads_from_anywhere(yolo_models_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "renamed model.pt"
    shutil.copy(yolo_models_dir / "face_test.pt", copy)
    assert load_yolo(copy).ckpt_path == str(copy)
