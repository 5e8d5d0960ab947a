"""Load ultralytics `.pt` checkpoints without running code from the file, and without the network.

A `.pt` file is a pickle, and unpickling can call any function the file names. So a checkpoint
is read only with torch's `weights_only=True` unpickler, which refuses every global that is not
allow-listed. The allow-list is built per file: each global the checkpoint names must be a
class from `ultralytics.nn.*` or `torch.nn.modules.*` (what a YOLO model is made of), or one
of a few plain data types trained checkpoints hold. Anything else (`os.system`,
`builtins.exec`, ...) is refused before unpickling starts; safe unpickling is never turned off.

`torch.serialization.load` is called directly: A1111 swaps `torch.load` for its own restricted
loader, which rejects ultralytics classes, and this module must work with or without that swap.

ultralytics is then handed the checkpoint that was already loaded: while `YOLO(path)` runs, its
one unpickling function (`ultralytics.nn.tasks.torch_safe_load`, called by `load_checkpoint` /
`attempt_load_one_weight` in every 8.3 release) is replaced, for the loading thread and under
a lock, by one that returns our checkpoint.

This module is also where ultralytics gets imported, with its online probe, pip auto-install
and analytics off (see `import_ultralytics`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from adetailer.detectors.base import DetectorError, first_line
from adetailer.downloads import discard_cached_file

if TYPE_CHECKING:
    from ultralytics import YOLO

# Classes from these packages may be rebuilt: a YOLO model is a tree of them. Loss and
# target-assigner classes appear in training checkpoints that kept their criterion.
_CLASS_PREFIXES = (
    "ultralytics.nn.",
    "torch.nn.modules.",
    "ultralytics.utils.loss.",
    "ultralytics.utils.tal.",
)

# Plain data that trained checkpoints carry next to the model (train args, metrics, dates).
# numpy's scalar/_reconstruct are functions, but they only rebuild numbers and arrays.
_EXPLICIT_GLOBALS = frozenset(
    {
        "ultralytics.utils.IterableSimpleNamespace",
        "collections.OrderedDict",
        "types.SimpleNamespace",
        "datetime.datetime",
        "datetime.date",
        "pathlib.PosixPath",
        "pathlib.PurePosixPath",
        "pathlib.PureWindowsPath",
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
    }
)

# Names older ultralytics releases pickled, mapped to where the same class lives now
# (the same renames ultralytics applies in `torch_safe_load`).
_LEGACY_MODULES = {
    "ultralytics.yolo.utils": "ultralytics.utils",
    "ultralytics.yolo.v8": "ultralytics.models.yolo",
    "ultralytics.yolo.data": "ultralytics.data",
}
_RENAMED_GLOBALS = {
    "ultralytics.nn.modules.block.Silence": "torch.nn.modules.linear.Identity",
    "ultralytics.nn.tasks.YOLOv10DetectionModel": "ultralytics.nn.tasks.DetectionModel",
    "ultralytics.utils.loss.v10DetectLoss": "ultralytics.utils.loss.E2EDetectLoss",
}

# Set before ultralytics is first imported: no DNS "online" probe, no pip auto-install.
_ULTRALYTICS_ENV = {"YOLO_OFFLINE": "true", "YOLO_AUTOINSTALL": "false"}

_LOAD_LOCK = threading.Lock()  # safe_globals() edits a process-wide list
_PATCH_LOCK = threading.RLock()


class CheckpointError(DetectorError):
    """A `.pt` file could not be loaded; the message names the file and what to do."""


class UnsafeCheckpointError(CheckpointError):
    """The file names a global outside the allow-list; it was not unpickled."""


class CorruptCheckpointError(CheckpointError):
    """The file is damaged or incomplete."""


def import_ultralytics() -> ModuleType:
    """Import ultralytics so that nothing it does on its own reaches the network.

    Before the first import, YOLO_OFFLINE=true stops its DNS probe at import and turns its
    analytics and pip self-update checks off, and YOLO_AUTOINSTALL=false stops it from
    pip-installing packages it misses (CLIP for YOLO-World). Values the user set are kept.
    If another extension imported ultralytics first, analytics are switched off here as well.
    """
    if "ultralytics" not in sys.modules:
        for key, value in _ULTRALYTICS_ENV.items():
            os.environ.setdefault(key, value)
    import ultralytics

    _disable_analytics()
    return ultralytics


def _disable_analytics() -> None:
    for module_name in ("ultralytics.utils.events", "ultralytics.hub.utils"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        events = getattr(module, "events", None)
        if events is not None and getattr(events, "enabled", False):
            events.enabled = False


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint dict in `path`, unpickled with only allow-listed globals, on the CPU."""
    import torch

    path = Path(path)
    if not path.is_file():
        msg = f"model file {path} does not exist"
        raise CheckpointError(msg)
    allowed = _allowed_globals(path)
    with _LOAD_LOCK, torch.serialization.safe_globals(allowed + _numpy_dtype_classes()):
        try:
            checkpoint = torch.serialization.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            if "global" in str(error).lower():
                raise UnsafeCheckpointError(_refusal(path, _weights_only_reason(error))) from error
            raise _corrupt(path, error) from error
        except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile) as error:
            raise _corrupt(path, error) from error
    if not isinstance(checkpoint, dict) or all(checkpoint.get(k) is None for k in ("model", "ema")):
        msg = (
            f"{path} is not an ultralytics model checkpoint (no 'model' in it); use a YOLO .pt file"
        )
        raise CheckpointError(msg)
    return checkpoint


def load_yolo(path: str | os.PathLike[str]) -> YOLO:
    """An ultralytics YOLO (or YOLOWorld) model built from a safely loaded checkpoint."""
    path = Path(path)
    checkpoint = load_checkpoint(path)
    import_ultralytics()
    from ultralytics import YOLO
    from ultralytics.nn import tasks

    if not hasattr(tasks, "torch_safe_load"):
        msg = (
            f"cannot load {path}: this ultralytics release no longer loads weights through "
            "ultralytics.nn.tasks.torch_safe_load; install ultralytics>=8.3,<8.4"
        )
        raise CheckpointError(msg)
    hand_over = _CheckpointHandOver(path, checkpoint)
    with patched_for_this_thread(tasks, "torch_safe_load", hand_over):
        model = YOLO(str(path))
    if not hand_over.used:
        msg = f"ultralytics did not load {path} through torch_safe_load; refusing to trust it"
        raise CheckpointError(msg)
    return model


class _CheckpointHandOver:
    """Stands in for `torch_safe_load` while a YOLO is built: returns the checkpoint we loaded."""

    def __init__(self, path: Path, checkpoint: dict[str, Any]) -> None:
        self.path = path
        self.checkpoint = checkpoint
        self.used = False

    def __call__(self, weight: Any, *args: Any, **kwargs: Any) -> tuple[dict[str, Any], str]:
        if Path(weight).resolve() != self.path.resolve():
            msg = (
                f"while loading {self.path}, ultralytics asked for another file ({weight}); refused"
            )
            raise CheckpointError(msg)
        self.used = True
        return self.checkpoint, str(self.path)


@contextlib.contextmanager
def patched_for_this_thread(owner: ModuleType, name: str, replacement: Any) -> Iterator[None]:
    """Replace `owner.name` for the calling thread only, for the duration of the block.

    ultralytics offers no hook where we need one (which checkpoint to unpickle, which device to
    use), so the one function it calls there is replaced. Other threads (another extension
    using ultralytics meanwhile) still reach the original, and patches never overlap (lock).
    """
    original = getattr(owner, name)
    thread = threading.get_ident()

    def dispatch(*args: Any, **kwargs: Any) -> Any:
        chosen = replacement if threading.get_ident() == thread else original
        return chosen(*args, **kwargs)

    with _PATCH_LOCK:
        setattr(owner, name, dispatch)
        try:
            yield
        finally:
            setattr(owner, name, original)


def _allowed_globals(path: Path) -> list[tuple[Any, str]]:
    """(object, pickled name) for every global in the file, or a refusal naming the first bad one."""
    import torch

    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except (
        RuntimeError,
        EOFError,
        ValueError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
    ) as error:
        raise _corrupt(path, error) from error
    return [(_resolve_global(path, name), name) for name in sorted(names)]


def _resolve_global(path: Path, name: str) -> Any:
    canonical = _canonical_name(name)
    explicit = canonical in _EXPLICIT_GLOBALS
    if not explicit and not canonical.startswith(_CLASS_PREFIXES):
        raise UnsafeCheckpointError(_refusal(path, f"it contains {name}, which is not allowed"))
    try:
        value = _import_dotted(canonical)
    except (ImportError, AttributeError) as error:
        reason = f"it contains {name}, which this installation cannot provide ({error})"
        raise UnsafeCheckpointError(_refusal(path, reason)) from error
    if explicit:
        return value
    defined_in = getattr(value, "__module__", "") or ""
    if not isinstance(value, type) or not f"{defined_in}.".startswith(_CLASS_PREFIXES):
        raise UnsafeCheckpointError(
            _refusal(path, f"it contains {name}, which is not a model class")
        )
    return value


def _canonical_name(name: str) -> str:
    if name in _RENAMED_GLOBALS:
        return _RENAMED_GLOBALS[name]
    for old, new in _LEGACY_MODULES.items():
        if name.startswith(f"{old}."):
            return new + name[len(old) :]
    return name


def _import_dotted(dotted: str) -> Any:
    """The object at `package.module.Class` (or a nested `Class.Inner`)."""
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        if module_name.startswith("ultralytics"):
            import_ultralytics()
        try:
            value: Any = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            value = getattr(value, attribute)
        return value
    msg = f"no module for {dotted}"
    raise ImportError(msg)


def _numpy_dtype_classes() -> list[Any]:
    """numpy's per-dtype classes: unpickling a numpy scalar builds one, unnamed in the file."""
    try:
        import numpy.dtypes
    except ImportError:
        return []
    return [getattr(numpy.dtypes, name) for name in numpy.dtypes.__all__]


def _weights_only_reason(error: BaseException) -> str:
    """The one informative line of torch's long weights_only message."""
    for line in str(error).splitlines():
        if "global" in line.lower() and line.strip():
            return line.strip()
    return str(error).splitlines()[0]


def _first_sentence(error: BaseException) -> str:
    return first_line(error).split(". ")[0].rstrip(".")


def _refusal(path: Path, reason: str) -> str:
    return f"refused to load {path}: {reason}; the file was not loaded (only ultralytics model checkpoints are accepted)"


def _corrupt(path: Path, error: BaseException) -> CorruptCheckpointError:
    """The error for a damaged file; a copy in the Hub cache is removed so it is fetched again."""
    detail = f"{type(error).__name__}: {_first_sentence(error)}"
    if discard_cached_file(path):
        advice = "it was removed from the download cache, and the next use downloads it again"
    else:
        advice = "delete it and download it again, or copy it again"
    return CorruptCheckpointError(f"{path} is damaged or incomplete ({detail}); {advice}")
