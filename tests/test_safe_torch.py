from __future__ import annotations

import builtins
import collections
import copyreg
import http.server
import io
import pickle
import re
import shutil
import struct
import subprocess
import threading
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from adetailer.detectors.base import DetectorError
from adetailer.safe_torch import (
    CheckpointError,
    CorruptCheckpointError,
    UnsafeCheckpointError,
    load_checkpoint,
    load_yolo,
)
from adetailer.thread_patch import patched_for_this_thread
from tests.crafted import RunsCommand

# --- crafting hostile files -----------------------------------------------------------------


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


def pickle_stack_global(module: str, name: str) -> bytes:
    """Protocol 4 bytes for {"model": <module.name>} fetched with STACK_GLOBAL (dotted names)."""
    return b"\x80\x04}" + _unicode("model") + _unicode(module) + _unicode(name) + b"\x93s."


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
        (CallsExec, "__builtin__.exec"),  # as protocol 2 writes it
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
        f"refused to load {path}: it names {global_name}, which is not allowed; the file "
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
    ("module", "name"),
    [
        # reachable under ultralytics.nn or torch.nn, but not a layer class
        ("ultralytics.nn.tasks", "Path"),
        ("ultralytics.nn.tasks", "YAML"),
        ("torch.nn.modules.module", "register_module_forward_hook"),
        ("ultralytics.nn.tasks", "torch_safe_load"),
        ("ultralytics.nn.tasks", "attempt_load_one_weight"),
        # classes whose constructors read files, download or run other code
        ("ultralytics.nn.autobackend", "AutoBackend"),
        ("ultralytics.nn.modules.block", "TorchVision"),
        ("ultralytics.nn.text_model", "CLIP"),
        ("ultralytics.nn.text_model", "MobileCLIP"),
        ("ultralytics.nn.tasks", "YOLOEModel"),
        # a module that does not exist, and modules that are not model code at all
        ("ultralytics.nn.made_up", "Thing"),
        ("argparse", "Namespace"),
        ("posix", "system"),
        ("builtins", "eval"),
        ("omegaconf.dictconfig", "DictConfig"),  # ultralytics 8.0.0-8.0.2x kept its args in one
    ],
)
def test_globals_outside_the_allow_list(tmp_path: Path, module: str, name: str) -> None:
    path = checkpoint_with_pickle(tmp_path / "crafted.pt", pickle_calling(module, name, "x"))
    with pytest.raises(UnsafeCheckpointError) as caught:
        load_checkpoint(path)
    assert f"it names {module}.{name}, which is not allowed" in str(caught.value)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("torch.nn.modules.module", "torch.load"),  # an allowed module's own imports
        ("ultralytics.nn.modules.conv", "torch"),
        ("ultralytics.nn.tasks", "AutoBackend"),
        ("collections", "OrderedDict.fromkeys"),  # a method of an allowed class
        ("ultralytics.utils", "IterableSimpleNamespace.__init__"),
        ("torch.nn.modules.conv", "Conv2d.__subclasses__"),
        ("torch._utils", "_rebuild_tensor_v2.__globals__"),
    ],
)
def test_globals_reached_through_allowed_modules(tmp_path: Path, module: str, name: str) -> None:
    """Protocol 4 resolves dotted names attribute by attribute: only exact names are allowed."""
    path = checkpoint_with_pickle(tmp_path / "dotted.pt", pickle_stack_global(module, name))
    with pytest.raises(UnsafeCheckpointError, match=f"it names {re.escape(module)}"):
        load_checkpoint(path)


def test_a_name_this_installation_lacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ultralytics.nn.modules import block

    path = tmp_path / "model.pt"
    torch.save({"model": block.C3k2(8, 8)}, path)
    monkeypatch.delattr(block, "C3k2")
    with pytest.raises(
        UnsafeCheckpointError, match=r"C3k2, which this installation cannot provide"
    ):
        load_checkpoint(path)


class Calls:
    """Pickles as a call of `function(*arguments)`, like any object with a custom __reduce__."""

    def __init__(self, function: Any, *arguments: Any) -> None:
        self.function = function
        self.arguments = arguments

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (self.function, self.arguments)


def test_calling_an_allowed_class_is_refused(tmp_path: Path) -> None:
    """Conv2d may be rebuilt (NEWOBJ + BUILD), never called with the file's arguments."""
    path = tmp_path / "calls.pt"
    torch.save({"model": Calls(torch.nn.Conv2d, 3, 3, 1)}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"it calls torch\.nn\.modules\.conv\.Conv2d"):
        load_checkpoint(path)


@pytest.mark.parametrize("model_class", ["DetectionModel", "SegmentationModel", "WorldModel"])
def test_model_constructors_are_never_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_class: str
) -> None:
    """A `tasks.*Model` constructor reads a yaml (and parses it with eval); a file may not call it."""
    from ultralytics.nn import tasks

    cls = getattr(tasks, model_class)
    constructed: list[Any] = []
    monkeypatch.setattr(cls, "__init__", lambda self, *a, **k: constructed.append(a))
    path = tmp_path / "constructs.pt"
    torch.save({"model": Calls(cls, "yolov8n.yaml")}, path)
    with pytest.raises(
        UnsafeCheckpointError, match=f"it calls ultralytics\\.nn\\.tasks\\.{model_class}"
    ):
        load_checkpoint(path)
    assert constructed == []


@pytest.fixture
def autobackend_spy(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    from adetailer.safe_torch import import_ultralytics

    import_ultralytics()
    from ultralytics.nn import autobackend

    calls: list[Any] = []
    monkeypatch.setattr(autobackend.AutoBackend, "__init__", lambda self, *a, **k: calls.append(a))
    return calls


def test_autobackend_with_a_second_local_file(tmp_path: Path, autobackend_spy: list[Any]) -> None:
    """The confirmed attack: AutoBackend loads its argument with weights_only=False."""
    from ultralytics.nn.autobackend import AutoBackend

    target = tmp_path / "pwned"
    second = tmp_path / "second.pt"
    torch.save({"model": RunsCommand(f"touch {target}")}, second)
    path = tmp_path / "first.pt"
    torch.save({"model": Calls(AutoBackend, str(second))}, path)

    with pytest.raises(UnsafeCheckpointError) as caught:
        load_yolo(path)

    assert "it names ultralytics.nn.autobackend.AutoBackend, which is not allowed" in str(
        caught.value
    )
    assert autobackend_spy == []
    assert not target.exists()


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.requests.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[tuple[str, list[str]]]:
    _RecordingHandler.requests = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _RecordingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _RecordingHandler.requests
    finally:
        server.shutdown()
        server.server_close()


def test_autobackend_with_a_url(
    tmp_path: Path, autobackend_spy: list[Any], loopback_server: tuple[str, list[str]]
) -> None:
    """Given a URL, ultralytics would download the second stage while the file is read."""
    from ultralytics.nn.autobackend import AutoBackend

    url, requests = loopback_server
    path = tmp_path / "first.pt"
    torch.save({"model": Calls(AutoBackend, f"{url}/second.pt")}, path)
    with pytest.raises(UnsafeCheckpointError, match="AutoBackend"):
        load_yolo(path)
    assert autobackend_spy == []
    assert requests == []


def test_autobackend_rebuilt_without_its_constructor(tmp_path: Path) -> None:
    """Even rebuilt without __init__ (NEWOBJ + BUILD), AutoBackend is not a layer we accept."""
    data = pickle_building("ultralytics.nn.autobackend", "AutoBackend", {"pt": 1})
    path = checkpoint_with_pickle(tmp_path / "rebuilt.pt", data)
    with pytest.raises(UnsafeCheckpointError, match="AutoBackend, which is not allowed"):
        load_checkpoint(path)


class WritesOnSetstate:
    """Rebuilt with NEWOBJ; its __setstate__ writes a file."""

    target = ""

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (copyreg.__newobj__, (type(self),), {"x": 1})

    def __setstate__(self, state: dict[str, Any]) -> None:
        Path(self.target).write_text("ran")


def test_setstate_of_an_unknown_class_never_runs(tmp_path: Path) -> None:
    WritesOnSetstate.target = str(tmp_path / "pwned")
    path = tmp_path / "setstate.pt"
    torch.save({"model": WritesOnSetstate()}, path)
    with pytest.raises(UnsafeCheckpointError, match="WritesOnSetstate, which is not allowed"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_an_allowed_class_with_an_unreviewed_setstate_is_refused(
    yolo_models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If an installed torch or ultralytics gives a layer a __setstate__ of its own, the file's
    state would reach code nobody read: refused until the allow-list is reviewed again."""
    from ultralytics.nn.modules import conv

    target = tmp_path / "pwned"
    monkeypatch.setattr(
        conv.Concat, "__setstate__", lambda self, state: target.write_text("ran"), raising=False
    )
    with pytest.raises(
        UnsafeCheckpointError, match=r"Concat, whose __setstate__ has not been reviewed"
    ):
        load_checkpoint(yolo_models_dir / "face_test.pt")
    assert not target.exists()


def test_state_set_on_a_class_itself_is_refused(tmp_path: Path) -> None:
    """BUILD on a class object would set attributes of the class, for every later instance."""
    build_on_class = (
        b"\x80\x02}"
        + _unicode("model")
        + b"ctorch.nn.modules.conv\nConv2d\n}"
        + _unicode("padding_mode")
        + _unicode("circular")
        + b"sbs."
    )
    path = checkpoint_with_pickle(tmp_path / "class-state.pt", build_on_class)
    with pytest.raises(UnsafeCheckpointError, match="Conv2d as the object of a BUILD"):
        load_checkpoint(path)
    assert torch.nn.Conv2d.__dict__.get("padding_mode") is None


@pytest.mark.parametrize(
    "value",
    [
        {"hooks": torch.nn.Conv2d},  # a class kept as a value could be called by the model later
        [collections.OrderedDict],
        (torch._utils._rebuild_tensor_v2,),
    ],
)
def test_classes_and_functions_kept_as_values_are_refused(tmp_path: Path, value: Any) -> None:
    path = tmp_path / "values.pt"
    torch.save({"model": torch.nn.Identity(), "extra": value}, path)
    with pytest.raises(
        UnsafeCheckpointError, match="inside a container, where only data is allowed"
    ):
        load_checkpoint(path)


def test_tensor_hooks_are_refused(tmp_path: Path) -> None:
    """torch no longer writes hooks, but its rebuild function would still attach them."""
    hooks = collections.OrderedDict({0: torch.nn.Identity()})
    with warnings.catch_warnings():  # TypedStorage: what torch names (torch.FloatStorage)
        warnings.simplefilter("ignore")
        storage = torch.zeros(2).storage()
    weight = Calls(torch._utils._rebuild_tensor_v2, storage, 0, (2,), (1,), False, hooks)
    path = tmp_path / "hooks.pt"
    torch.save({"model": torch.nn.Identity(), "weight": weight}, path)
    with pytest.raises(UnsafeCheckpointError, match="attaches backward hooks to a tensor"):
        load_checkpoint(path)


@pytest.mark.parametrize("kind", ["forward_pre", "forward"])
def test_module_hooks_are_refused(tmp_path: Path, kind: str) -> None:
    """torch calls forward hooks on every inference; the file may not install any."""
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1))
    getattr(model[0], f"_{kind}_hooks")[0] = torch.nn.Identity()  # picklable, and an allowed layer
    path = tmp_path / "hooked.pt"
    torch.save({"model": model}, path)
    with pytest.raises(
        UnsafeCheckpointError, match=rf"it attaches hooks to model\.0 \(_{kind}_hooks\)"
    ):
        load_checkpoint(path)


def test_a_hook_set_through_a_tensors_state_is_refused(tmp_path: Path) -> None:
    """BUILD on a tensor runs Tensor.__setstate__, whose legacy 3-tuple sets _backward_hooks."""
    model = torch.nn.Linear(1, 1)
    hooks = collections.OrderedDict({0: torch.nn.Identity()})

    class HookedParameter:
        def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
            rebuild = torch._utils._rebuild_parameter
            return (
                rebuild,
                (torch.zeros(1, 1), False, collections.OrderedDict()),
                (False, None, hooks),
            )

    model._parameters["weight"] = HookedParameter()  # type: ignore[assignment]
    path = tmp_path / "tensor-state.pt"
    torch.save({"model": model}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"it attaches hooks to model\.weight;"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("owner", "attribute", "reason"),
    [
        ("ultralytics.nn.modules.head\nDetect", "__init__", "inside a container"),
        ("ultralytics.nn.modules.head\nDetect", "__subclasses__", "inside a container"),
        ("torch.nn.modules.conv\nConv2d", "forward", "inside a container"),
    ],
)
def test_getattr_fetches_only_detect_forward(
    tmp_path: Path, owner: str, attribute: str, reason: str
) -> None:
    """ultralytics 8.0 segmentation heads kept getattr(Detect, "forward"); nothing else."""
    data = (
        b"\x80\x02}"
        + _unicode("model")
        + b"c__builtin__\ngetattr\nc"
        + owner.encode()
        + b"\n"
        + _unicode(attribute)
        + b"\x86Rs."
    )
    path = checkpoint_with_pickle(tmp_path / "getattr.pt", data)
    with pytest.raises(UnsafeCheckpointError, match=reason):
        load_checkpoint(path)


def test_codecs_encode_only_makes_bytes(tmp_path: Path) -> None:
    data = (
        b"\x80\x02}"
        + _unicode("model")
        + b"c_codecs\nencode\n"
        + _unicode("x")
        + _unicode("zlib_codec")
        + b"\x86Rs."
    )
    path = checkpoint_with_pickle(tmp_path / "codec.pt", data)
    with pytest.raises(UnsafeCheckpointError, match=r"_codecs\.encode other than for bytes"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"(icollections\nOrderedDict\n", "calls a class with INST"),
        (b"(ccollections\nOrderedDict\no", "calls a class with OBJ"),
        (b"\x82\x01", "copyreg extension registry"),
        (b"P0\n", "text persistent id"),
        # a global whose module name is computed rather than written as text
        (b"K\x01" + _unicode("system") + b"\x93", "from values that are not text"),
    ],
)
def test_opcodes_real_checkpoints_never_use(tmp_path: Path, body: bytes, reason: str) -> None:
    data = b"\x80\x04}" + _unicode("model") + body + b"s."
    path = checkpoint_with_pickle(tmp_path / "opcode.pt", data)
    with pytest.raises(UnsafeCheckpointError, match=reason):
        load_checkpoint(path)


def test_legacy_ultralytics_names_are_mapped(tmp_path: Path) -> None:
    """Checkpoints from ultralytics 8.0 name ultralytics.yolo.utils.* for today's classes."""
    data = (
        b"\x80\x02}"
        + _unicode("model")
        + b"cultralytics.yolo.utils\nIterableSimpleNamespace\n)R}"
        + _unicode("nc")
        + b"K\x01sbs."
    )
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


# --- the zip around the pickle -------------------------------------------------------------


def _rezip(
    source: Path, target: Path, extra: dict[str, bytes] | None = None, **kwargs: Any
) -> Path:
    """A copy of a torch zip checkpoint, with more entries, written with zipfile's options."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", **kwargs) as new:
        for info in old.infolist():
            new.writestr(info.filename, old.read(info))
        for name, content in (extra or {}).items():
            new.writestr(name, content)
    return target


def _folder(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()[0].split("/")[0]


def test_other_pickles_in_the_zip_are_never_unpickled(
    yolo_models_dir: Path, tmp_path: Path
) -> None:
    target = tmp_path / "pwned"
    evil = pickle.dumps(RunsCommand(f"touch {target}"), protocol=2)
    source = yolo_models_dir / "face_test.pt"
    folder = _folder(source)
    path = _rezip(
        source, tmp_path / "nested.pt", {f"{folder}/extra.pkl": evil, f"{folder}/data/x.pkl": evil}
    )
    assert load_yolo(path).task == "detect"
    assert not target.exists()


def test_a_pickle_held_as_bytes_stays_bytes(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    evil = pickle.dumps(RunsCommand(f"touch {target}"), protocol=2)
    path = tmp_path / "payload.pt"
    torch.save({"model": torch.nn.Identity(), "payload": evil}, path)
    checkpoint = load_checkpoint(path)
    assert checkpoint["payload"] == evil
    assert not target.exists()


def test_a_second_archive_folder_is_refused(yolo_models_dir: Path, tmp_path: Path) -> None:
    """torch reads one folder's data.pkl; a second one must not be the one that was checked."""
    evil = pickle.dumps({"model": RunsCommand("true")}, protocol=2)
    path = _rezip(yolo_models_dir / "face_test.pt", tmp_path / "two.pt", {"other/data.pkl": evil})
    with pytest.raises(UnsafeCheckpointError, match="more than one archive folder"):
        load_checkpoint(path)


def test_the_same_name_twice_is_refused(yolo_models_dir: Path, tmp_path: Path) -> None:
    source = yolo_models_dir / "face_test.pt"
    evil = pickle.dumps({"model": RunsCommand("true")}, protocol=2)
    with pytest.warns(UserWarning, match="Duplicate name"):
        path = _rezip(source, tmp_path / "twice.pt", {f"{_folder(source)}/data.pkl": evil})
    with pytest.raises(UnsafeCheckpointError, match="the same name twice"):
        load_checkpoint(path)


def test_torchscript_archives_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Identity()), path)
    with pytest.raises(UnsafeCheckpointError, match="TorchScript archive, which runs code"):
        load_checkpoint(path)


def test_the_legacy_torch_format_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    torch.save({"model": torch.nn.Identity()}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="legacy \\(non-zip\\) format, which is not accepted"):
        load_checkpoint(path)
    assert path.exists()


def test_a_zip_bomb_is_refused_before_it_is_inflated(
    yolo_models_dir: Path, tmp_path: Path, hub_cache
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data.pkl", b"\0" * (32 * 2**20))
    cached = hub_cache.put("Bingsu/adetailer", "face_yolov8n.pt", buffer.getvalue())
    with pytest.raises(
        UnsafeCheckpointError,
        match=r"bomb/data\.pkl would inflate to 33554432 bytes \(a zip bomb\)",
    ):
        load_checkpoint(cached)
    assert cached.exists()  # a crafted file is not "damaged": it stays for the user to see


def test_a_crafted_file_in_the_download_cache_is_not_deleted(tmp_path: Path, hub_cache) -> None:
    target = tmp_path / "pwned"
    crafted = tmp_path / "crafted.pt"
    torch.save({"model": RunsCommand(f"touch {target}")}, crafted)
    cached = hub_cache.put("Bingsu/adetailer", "face_yolov8n.pt", crafted.read_bytes())
    with pytest.raises(UnsafeCheckpointError):
        load_yolo(cached)
    assert cached.exists()
    assert cached.resolve().exists()


def test_a_symlinked_model_file_is_checked_like_any_other(
    yolo_models_dir: Path, tmp_path: Path
) -> None:
    """Model folders often link to files elsewhere (another drive): allowed, and the target is
    what gets checked."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    crafted = elsewhere / "crafted.pt"
    torch.save({"model": RunsCommand(f"touch {tmp_path / 'pwned'}")}, crafted)
    models = tmp_path / "models"
    models.mkdir()
    (models / "evil.pt").symlink_to(crafted)
    (models / "good.pt").symlink_to(yolo_models_dir / "face_test.pt")
    with pytest.raises(UnsafeCheckpointError, match=r"evil\.pt"):
        load_yolo(models / "evil.pt")
    assert not (tmp_path / "pwned").exists()
    assert load_yolo(models / "good.pt").task == "detect"


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


LEGACY = Path(__file__).parent / "fixtures" / "legacy"


@pytest.mark.parametrize(
    ("filename", "task", "layout"),
    [
        ("v8_8.0.60_best.pt", "detect", "ultralytics.nn.modules.Conv"),
        ("v8-seg_8.0.60_best.pt", "segment", "ultralytics.nn.modules.Conv"),
        ("v8-seg_8.0.120_best.pt", "segment", "ultralytics.nn.modules.conv.Conv"),
    ],
)
def test_checkpoints_from_ultralytics_8_0_load_and_detect(
    filename: str, task: str, layout: str, photos: dict[str, Any]
) -> None:
    """The layout the published face_yolov8n.pt and its siblings were saved in (spring 2023):
    old module paths, ultralytics.yolo.utils args, and getattr(Detect, "forward") in seg heads."""
    path = LEGACY / filename
    assert layout.encode() in zipfile.ZipFile(path).read(f"{_folder(path)}/data.pkl").replace(
        b"\n", b"."
    )
    model = load_yolo(path)
    assert model.task == task
    result = model.predict(photos["astronaut"], conf=0.0, verbose=False, device="cpu")[0]
    assert result.boxes is not None
    assert (result.masks is not None) == (task == "segment")


@pytest.mark.parametrize(
    "yaml",
    [
        "yolov5nu.yaml",
        "yolov8n.yaml",
        "yolov8n-seg.yaml",
        "yolov9t.yaml",
        "yolov10n.yaml",
        "yolo11n.yaml",
        "yolo11n-seg.yaml",
        "yolo12n.yaml",
    ],
)
def test_every_detection_and_segmentation_family_loads(tmp_path: Path, yaml: str) -> None:
    """Users bring their own models from every YOLO generation ultralytics 8.3 builds."""
    from adetailer.safe_torch import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO

    path = tmp_path / f"{yaml.removesuffix('.yaml')}.pt"
    YOLO(yaml).save(path)
    model = load_yolo(path)
    assert model.task == ("segment" if "-seg" in yaml else "detect")


def test_loading_touches_no_network(yolo_models_dir: Path, no_network: None) -> None:
    for path in [*sorted(yolo_models_dir.glob("*.pt")), *sorted(LEGACY.glob("*.pt"))]:
        load_yolo(path)


def test_other_threads_keep_torchs_own_rules(
    yolo_models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our allow-list lives in our unpickler: while we load, another thread's weights_only load
    of an ultralytics file is refused as before, and torch's safe globals are untouched."""
    import adetailer.safe_torch as safe_torch

    inside, release = threading.Event(), threading.Event()
    real_resolve = safe_torch._resolve

    def paused_resolve(name: str) -> Any:
        inside.set()
        release.wait(30)
        return real_resolve(name)

    monkeypatch.setattr(safe_torch, "_resolve", paused_resolve)
    results: list[Any] = []
    ours = threading.Thread(
        target=lambda: results.append(load_checkpoint(yolo_models_dir / "face_test.pt"))
    )
    ours.start()
    try:
        assert inside.wait(30)
        safe_globals = getattr(torch.serialization, "get_safe_globals", list)  # torch >= 2.5
        safe_before = list(safe_globals())
        with pytest.raises(pickle.UnpicklingError, match="ultralytics"):
            torch.load(yolo_models_dir / "face_test.pt", weights_only=True)
        assert list(safe_globals()) == safe_before
    finally:
        release.set()
        ours.join(60)
    assert type(results[0]["model"]).__name__ == "DetectionModel"


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
    assert message == (
        f"{path} is damaged or incomplete (BadZipFile: File is not a zip file); "
        "delete it and download it again, or copy it again"
    )
    assert path.exists()  # a user's own file is never deleted


def _flip_a_weight_byte(source: Path, target: Path) -> bytes:
    """The bytes of `source` with one byte of its largest tensor inverted (as disk or network
    errors leave a file): zipfile's checksum sees it, torch's reader does not."""
    data = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size)
    name_length, extra_length = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    data[info.header_offset + 30 + name_length + extra_length + info.file_size // 2] ^= 0xFF
    target.write_bytes(data)
    return bytes(data)


def test_a_flipped_byte_in_a_weight_is_damage(yolo_models_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "face_test.pt"
    _flip_a_weight_byte(yolo_models_dir / "face_test.pt", path)
    with pytest.raises(CorruptCheckpointError, match=r"\(BadZipFile: Bad CRC-32 for file "):
        load_checkpoint(path)
    assert path.exists()


def test_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    path.write_text("not a model")
    with pytest.raises(CorruptCheckpointError, match=r"notes\.pt is damaged or incomplete"):
        load_checkpoint(path)


def test_truncated_pickle_inside_a_complete_zip(tmp_path: Path) -> None:
    path = checkpoint_with_pickle(tmp_path / "cut.pt", b"\x80\x02}" + _unicode("model"))
    with pytest.raises(
        CorruptCheckpointError, match=r"cut\.pt is damaged or incomplete \(its pickle is damaged"
    ):
        load_checkpoint(path)


@pytest.mark.parametrize("damage", ["truncated", "checksum"])
def test_damaged_file_in_the_download_cache_is_removed(
    yolo_models_dir: Path, hub_cache, tmp_path: Path, damage: str
) -> None:
    source = yolo_models_dir / "face_test.pt"
    if damage == "truncated":
        data = source.read_bytes()[: source.stat().st_size // 3]
    else:
        data = _flip_a_weight_byte(source, tmp_path / "flipped.pt")
    cached = hub_cache.put("Bingsu/adetailer", "face_yolov8n.pt", data)
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


def test_patched_calls_in_two_threads_do_not_wait_for_each_other() -> None:
    """The patch holds no lock while the patched code runs (YOLO predictions of two models)."""
    first_inside, second_done = threading.Event(), threading.Event()
    seen: list[str] = []

    def slow() -> str:
        first_inside.set()
        assert second_done.wait(10), "the second thread waited for the first"
        return "slow"

    def first() -> None:
        with patched_for_this_thread(Holder, "value", slow):
            seen.append(Holder.value())

    thread = threading.Thread(target=first)
    thread.start()
    assert first_inside.wait(10)
    with patched_for_this_thread(Holder, "value", lambda: "fast"):
        seen.append(Holder.value())
    second_done.set()
    thread.join(10)
    assert seen == ["fast", "slow"]
    assert Holder.value() == "original"


def test_patch_is_undone_after_an_error() -> None:
    with pytest.raises(KeyError), patched_for_this_thread(Holder, "value", lambda: "patched"):
        raise KeyError
    assert Holder.value() == "original"


def test_copy_of_a_checkpoint_loads_from_anywhere(yolo_models_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "renamed model.pt"
    shutil.copy(yolo_models_dir / "face_test.pt", copy)
    assert load_yolo(copy).ckpt_path == str(copy)
