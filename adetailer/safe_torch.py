"""Load ultralytics `.pt` checkpoints without running code from the file, and without the network.

A `.pt` file is a zip holding a pickle, and unpickling can call anything the file names. So:

1. The zip is checked before anything is read from it for real: one archive folder, one
   `data.pkl`, no TorchScript code, no name twice, no entry that inflates to far more than it
   occupies (a zip bomb). A zip that ends early (an interrupted download) is damaged; a legacy
   (non-zip) torch file is refused.
2. The pickle is checked opcode by opcode (`adetailer.safe_pickle`): every global it names must
   be on the explicit lists below, and it may *call* only a few plain containers and torch's
   tensor rebuild functions. Model layers are rebuilt without their constructors running, as
   torch saves them (NEWOBJ + BUILD); a file that calls a class (say ultralytics' AutoBackend
   with a second file or a URL, or a `tasks.*Model` constructor with a yaml) is refused before
   anything is constructed.
3. The same bytes are then unpickled by torch's zip reader with our restricted unpickler; the
   allow-list lives in that unpickler, so nothing process-wide (torch's safe globals) is widened
   and another thread's `torch.load` sees torch's own rules, unchanged.

`torch.serialization.load` is called directly: A1111 swaps `torch.load` for its own restricted
loader, which rejects ultralytics classes, and this module must work with or without that swap.
It also works on torch 2.1 (A1111 1.10's own torch), which has no `safe_globals`.

ultralytics is then handed the checkpoint that was already loaded: while `YOLO(path)` runs, its
one unpickling function (`ultralytics.nn.tasks.torch_safe_load`, which would also try to
download a missing file) is replaced, for the loading thread only, by one that returns ours.

This module is also where ultralytics gets imported, with its online probe, pip auto-install
and analytics off (see `import_ultralytics`).
"""

from __future__ import annotations

import importlib
import os
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from adetailer.detectors.base import DetectorError, first_line
from adetailer.downloads import discard_cached_file
from adetailer.safe_pickle import (
    GETATTR,
    PickleDamagedError,
    PickleRefusedError,
    Policy,
    restricted_unpickler,
    verify,
)
from adetailer.thread_patch import patched_for_this_thread

if TYPE_CHECKING:
    from ultralytics import YOLO


def _names(module: str, names: str) -> list[str]:
    return [f"{module}.{name}" for name in names.split()]


# The layer and container classes of detection, segmentation and YOLO-World models (YOLOv3 to
# YOLO12 layouts), and what training checkpoints keep beside them (criterion, assigner). They
# are only ever rebuilt (NEWOBJ, then BUILD): their constructors never run. Left out on purpose:
# AutoBackend (loads files, downloads), TorchVision (builds torchvision models: downloads), the
# text models (load CLIP weights), and the heads and models of other tasks (pose, OBB,
# classification, RT-DETR, YOLOE).
TORCH_LAYERS = frozenset(
    _names(
        "torch.nn.modules.activation",
        "SiLU ReLU ReLU6 LeakyReLU GELU Sigmoid Hardswish Hardsigmoid Tanh Mish Softmax "
        "MultiheadAttention",
    )
    + _names("torch.nn.modules.batchnorm", "BatchNorm1d BatchNorm2d")
    + _names("torch.nn.modules.container", "Sequential ModuleList ModuleDict")
    + _names("torch.nn.modules.conv", "Conv1d Conv2d ConvTranspose2d")
    + _names("torch.nn.modules.dropout", "Dropout")
    + _names("torch.nn.modules.linear", "Identity Linear NonDynamicallyQuantizableLinear")
    + _names("torch.nn.modules.normalization", "LayerNorm GroupNorm")
    + _names("torch.nn.modules.pooling", "MaxPool2d AvgPool2d AdaptiveAvgPool2d")
    + _names("torch.nn.modules.upsampling", "Upsample")
    + _names("torch.nn.modules.loss", "BCEWithLogitsLoss")
)
ULTRALYTICS_LAYERS = frozenset(
    _names(
        "ultralytics.nn.modules.conv",
        "Conv Conv2 ConvTranspose DWConv DWConvTranspose2d Focus GhostConv LightConv RepConv "
        "Concat ChannelAttention SpatialAttention CBAM Index",
    )
    + _names(
        "ultralytics.nn.modules.block",
        "DFL Proto HGStem HGBlock SPP SPPF C1 C2 C3 C2f C2fAttn ImagePoolingAttn C3x C3TR C3Ghost "
        "GhostBottleneck Bottleneck BottleneckCSP RepC3 ResNetBlock ResNetLayer "
        "MaxSigmoidAttnBlock ContrastiveHead BNContrastiveHead RepNCSPELAN4 ELAN1 ADown AConv "
        "SPPELAN CBFuse CBLinear C3k2 C3k C2fPSA C2PSA RepVGGDW CIB C2fCIB Attention PSA "
        "PSABlock SCDown RepBottleneck RepCSP A2C2f AAttn ABlock",
    )
    + _names("ultralytics.nn.modules.head", "Detect Segment WorldDetect v10Detect")
    + _names("ultralytics.nn.modules.transformer", "TransformerLayer TransformerBlock MLPBlock")
)
ULTRALYTICS_MODELS = frozenset(
    _names("ultralytics.nn.tasks", "DetectionModel SegmentationModel WorldModel")
    + _names(
        "ultralytics.utils.loss",
        "v8DetectionLoss v8SegmentationLoss E2EDetectLoss BboxLoss DFLoss",
    )
    + _names("ultralytics.utils.tal", "TaskAlignedAssigner")
)
REBUILDABLE = TORCH_LAYERS | ULTRALYTICS_LAYERS | ULTRALYTICS_MODELS

# What a checkpoint may call: constructors that only store what they are given. torch's tensor
# rebuild functions and `_codecs.encode` (how protocol 2 writes bytes) are swapped for stricter
# versions below; `builtins.getattr` may fetch only `Detect.forward` (see Policy.attributes).
SIMPLE_NAMESPACE = "ultralytics.utils.IterableSimpleNamespace"
CALLABLE = frozenset(
    {
        "collections.OrderedDict",
        "builtins.set",
        "types.SimpleNamespace",
        SIMPLE_NAMESPACE,
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "_codecs.encode",
        "numpy.core.multiarray.scalar",
        "numpy.core.multiarray._reconstruct",
        "numpy.dtype",
        "datetime.datetime",
        "datetime.date",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "pathlib.PurePosixPath",
        "pathlib.PureWindowsPath",
        GETATTR,
    }
)
DETECT = "ultralytics.nn.modules.head.Detect"
ATTRIBUTES = frozenset({(DETECT, "forward")})

# Plain values a checkpoint may hold: the storage types torch names in its tensor references
# (its zip reader turns them into dtypes), and numpy's array type, which _reconstruct takes.
DATA = frozenset(
    {
        *_names(
            "torch",
            "FloatStorage HalfStorage BFloat16Storage DoubleStorage LongStorage IntStorage "
            "ShortStorage CharStorage ByteStorage BoolStorage ComplexFloatStorage "
            "ComplexDoubleStorage UntypedStorage",
        ),
        "numpy.ndarray",
    }
)

# Names older releases pickled, and where the same thing lives now.
_MOVED_MODULES = {
    "__builtin__": "builtins",
    "numpy._core.multiarray": "numpy.core.multiarray",
    "ultralytics.yolo.utils": "ultralytics.utils",  # ultralytics 8.0
    "ultralytics.yolo.v8": "ultralytics.models.yolo",
    "ultralytics.yolo.data": "ultralytics.data",
}
_RENAMED = {
    "ultralytics.nn.modules.block.Silence": "torch.nn.modules.linear.Identity",  # YOLOv9e
    "ultralytics.nn.tasks.YOLOv10DetectionModel": "ultralytics.nn.tasks.DetectionModel",
    "ultralytics.utils.loss.v10DetectLoss": "ultralytics.utils.loss.E2EDetectLoss",
    # ultralytics up to 8.0.8x kept every layer in one module, ultralytics/nn/modules.py
    **{f"ultralytics.nn.modules.{name.rpartition('.')[2]}": name for name in ULTRALYTICS_LAYERS},
}

# A layer's own `__setstate__` runs on the file's state: only these have been read and found to
# set attributes and defaults, nothing more.
_REVIEWED_SETSTATE = frozenset(
    {
        "torch.nn.modules.module.Module",
        "torch.nn.modules.conv._ConvNd",
        "torch.nn.modules.upsampling.Upsample",
        "torch.nn.modules.activation.MultiheadAttention",
    }
)

# Limits of the zip check: real checkpoints store their entries uncompressed.
MAX_PICKLE_BYTES = 256 * 2**20
MAX_TOTAL_BYTES = 16 * 2**30
MAX_INFLATION = 20  # an entry may not inflate to more than this many times its stored size
_INFLATION_FREE_BYTES = 2**20  # small entries may (a deflated data.pkl of a tiny model)
_CHUNK = 2**22

# Set before ultralytics is first imported: no DNS "online" probe, no pip auto-install.
_ULTRALYTICS_ENV = {"YOLO_OFFLINE": "true", "YOLO_AUTOINSTALL": "false"}


class CheckpointError(DetectorError):
    """A `.pt` file could not be loaded; the message names the file and what to do."""


class UnsafeCheckpointError(CheckpointError):
    """The file asks for something outside the allow-list; nothing of it was unpickled."""


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


def canonical_name(name: str) -> str:
    """Where a pickled global lives today (old ultralytics and numpy module paths moved)."""
    module, _, attribute = name.rpartition(".")
    for old, new in _MOVED_MODULES.items():
        if module == old or module.startswith(f"{old}."):
            name = f"{new}{module[len(old) :]}.{attribute}"
            break
    return _RENAMED.get(name, name)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint dict in `path`, unpickled under the allow-list, on the CPU."""
    import torch

    path = Path(path)
    if not path.is_file():
        msg = f"model file {path} does not exist"
        raise CheckpointError(msg)
    data = _checked_pickle(path)
    try:
        verify(data, POLICY)
    except PickleRefusedError as refusal:
        raise UnsafeCheckpointError(_refusal(path, str(refusal))) from None
    except PickleDamagedError as damage:
        raise _damaged(path, f"its pickle is damaged: {damage}", discard=False) from None
    pickle_module = types.ModuleType("adetailer_restricted_pickle")
    pickle_module.Unpickler = restricted_unpickler(data, POLICY, _resolve)  # type: ignore[attr-defined]
    pickle_module.load = _no_legacy_load  # type: ignore[attr-defined]
    try:
        checkpoint = torch.serialization.load(
            path, map_location="cpu", pickle_module=pickle_module, weights_only=False
        )
    except PickleRefusedError as refusal:
        raise UnsafeCheckpointError(_refusal(path, str(refusal))) from None
    except UnsafeCheckpointError:
        raise
    except RuntimeError as error:
        if "explicit pickle_module" in str(error):  # TORCH_FORCE_WEIGHTS_ONLY_LOAD=1
            msg = (
                f"cannot load {path}: TORCH_FORCE_WEIGHTS_ONLY_LOAD is set, which keeps "
                "ADetailer's own restricted loader from running; unset it"
            )
            raise CheckpointError(msg) from None
        raise _damaged(path, _describe(error), discard=False) from None
    except (EOFError, ValueError, TypeError, AttributeError, KeyError) as error:
        raise _damaged(path, _describe(error), discard=False) from None
    if not isinstance(checkpoint, dict) or all(checkpoint.get(k) is None for k in ("model", "ema")):
        msg = (
            f"{path} is not an ultralytics model checkpoint (no 'model' in it); use a YOLO .pt file"
        )
        raise CheckpointError(msg)
    hooked = _hooked(checkpoint)
    if hooked is not None:
        raise UnsafeCheckpointError(_refusal(path, f"it attaches hooks to {hooked}"))
    return checkpoint


def _hooked(checkpoint: dict[str, Any]) -> str | None:
    """The first module or tensor that carries hooks, or None.

    A module's state is the file's to choose, hook dicts included, and torch calls forward hooks
    on every inference: a model must come without them (no real checkpoint has any). The hook
    objects could only be instances of allowed layers, but nothing of the file may be called
    where the model's own code does not call it.
    """
    import torch

    for key, value in checkpoint.items():
        if not isinstance(value, torch.nn.Module):
            continue
        for name, module in value.named_modules():
            for attribute, hooks in vars(module).items():
                if attribute.endswith("_hooks") and hooks:
                    return f"{key}.{name or type(value).__name__} ({attribute})"
            for tensor_name, tensor in [
                *module.named_parameters(recurse=False),
                *module.named_buffers(recurse=False),
            ]:
                if getattr(tensor, "_backward_hooks", None):
                    return f"{key}.{name}.{tensor_name}".replace("..", ".")
    return None


def _checked_pickle(path: Path) -> bytes:
    """The bytes of the checkpoint's data.pkl, after the zip's layout and sizes were checked."""
    with path.open("rb") as file:
        head = file.read(4)
    if head != b"PK\x03\x04":
        if head[:1] == b"\x80":
            reason = (
                "it is in torch's legacy (non-zip) format, which is not accepted; "
                "save it again with torch 1.6 or later"
            )
            raise CheckpointError(_refusal(path, reason))
        raise _damaged(path, "not a zip file", discard=False)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            pickle_info = _check_layout(path, infos)
            with archive.open(pickle_info) as stream:
                data = stream.read(pickle_info.file_size + 1)
            if len(data) != pickle_info.file_size:
                reason = "its data.pkl is not the size the zip says"
                raise UnsafeCheckpointError(_refusal(path, reason))
            _check_checksums(archive, infos)
    except zipfile.BadZipFile as error:  # ends early (an interrupted download), or bad CRC
        raise _damaged(path, _describe(error), discard=True) from None
    except (OSError, EOFError, ValueError) as error:
        raise _damaged(path, _describe(error), discard=False) from None
    return data


def _check_layout(path: Path, infos: list[zipfile.ZipInfo]) -> zipfile.ZipInfo:
    names = [info.filename for info in infos]
    if not names:
        raise CheckpointError(_refusal(path, "the zip is empty"))
    if len(set(names)) != len(names):
        raise UnsafeCheckpointError(_refusal(path, "the zip holds the same name twice"))
    folder = names[0].split("/", 1)[0]
    if any(not name.startswith(f"{folder}/") for name in names):
        raise UnsafeCheckpointError(_refusal(path, "the zip holds more than one archive folder"))
    if f"{folder}/constants.pkl" in names or any(n.startswith(f"{folder}/code/") for n in names):
        raise UnsafeCheckpointError(_refusal(path, "it is a TorchScript archive, which runs code"))
    total = 0
    for info in infos:
        total += info.file_size
        inflated = info.file_size > max(_INFLATION_FREE_BYTES, info.compress_size * MAX_INFLATION)
        if inflated or total > MAX_TOTAL_BYTES:
            reason = f"{info.filename} would inflate to {info.file_size} bytes (a zip bomb)"
            raise UnsafeCheckpointError(_refusal(path, reason))
    by_name = dict(zip(names, infos, strict=True))
    pickle_info = by_name.get(f"{folder}/data.pkl")
    if pickle_info is None:
        reason = "the zip has no data.pkl: it is not a torch checkpoint"
        raise CheckpointError(_refusal(path, reason))
    if pickle_info.file_size > MAX_PICKLE_BYTES:
        reason = f"its data.pkl is {pickle_info.file_size} bytes, more than any model needs"
        raise UnsafeCheckpointError(_refusal(path, reason))
    return pickle_info


def _check_checksums(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    """Read every entry once, so that zipfile checks its CRC (torch's reader does not: a flipped
    byte in a weight would load as a wrong model). Raises BadZipFile on a mismatch."""
    for info in infos:
        with archive.open(info) as stream:
            while stream.read(_CHUNK):
                pass


def _no_legacy_load(*args: Any, **kwargs: Any) -> Any:
    msg = "torch's legacy (non-zip) format is not accepted"
    raise PickleRefusedError(msg)


# --- what the restricted unpickler hands out -------------------------------------------------


def _resolve(canonical: str) -> Any:
    """The object for an allowed canonical name, checked again now that it is imported."""
    value = _import_dotted(canonical)
    if canonical in REBUILDABLE:
        _check_rebuildable(canonical, value)
    return value


def _check_rebuildable(name: str, cls: Any) -> None:
    """A layer class is rebuilt with `cls.__new__` and filled by its `__setstate__`: refuse one
    whose installed version does more there than the versions that were reviewed."""
    if not isinstance(cls, type):
        msg = f"it names {name}, which is not a class in this installation"
        raise PickleRefusedError(msg)
    if cls.__new__ is not object.__new__:
        msg = f"it names {name}, whose __new__ has not been reviewed"
        raise PickleRefusedError(msg)
    owner = next((k for k in cls.__mro__ if "__setstate__" in vars(k)), None)
    if owner is not None and f"{owner.__module__}.{owner.__qualname__}" not in _REVIEWED_SETSTATE:
        msg = f"it names {name}, whose __setstate__ has not been reviewed"
        raise PickleRefusedError(msg)


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
        try:
            for attribute in parts[split:]:
                value = getattr(value, attribute)
        except AttributeError:
            break
        return value
    msg = f"it names {dotted}, which this installation cannot provide"
    raise PickleRefusedError(msg)


def _rebuild_tensor(
    storage: Any,
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool,
    backward_hooks: Any,
    metadata: Any = None,
) -> Any:
    """torch's `_rebuild_tensor_v2`, for tensors without hooks or metadata (what models hold)."""
    import torch

    _no_hooks(backward_hooks)
    if metadata:
        msg = "it attaches metadata to a tensor"
        raise PickleRefusedError(msg)
    return torch._utils._rebuild_tensor_v2(
        storage, storage_offset, size, stride, requires_grad, OrderedDict()
    )


def _rebuild_parameter(data: Any, requires_grad: bool, backward_hooks: Any) -> Any:
    import torch

    _no_hooks(backward_hooks)
    return torch._utils._rebuild_parameter(data, requires_grad, OrderedDict())


def _no_hooks(hooks: Any) -> None:
    # torch's own comment: the hooks are expected to be empty; a hook would run on backward
    if not isinstance(hooks, OrderedDict) or hooks:
        msg = "it attaches backward hooks to a tensor"
        raise PickleRefusedError(msg)


def _encode(text: Any, encoding: Any = "utf-8", *args: Any) -> bytes:
    """`_codecs.encode` as protocol 2 uses it for bytes: latin-1 text to bytes, nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or args:
        msg = "it calls _codecs.encode other than for bytes"
        raise PickleRefusedError(msg)
    return text.encode("latin-1")


def _getattr(owner: Any, name: Any) -> Any:
    """`builtins.getattr` for the pairs in ATTRIBUTES only (the verifier checked the names; this
    checks the objects, which the unpickler resolved)."""
    for owner_name, attribute in ATTRIBUTES:
        if name == attribute and owner is _import_dotted(owner_name):
            return getattr(owner, name)
    msg = f"it calls getattr for {name!r}"
    raise PickleRefusedError(msg)


POLICY = Policy(
    rebuildable=REBUILDABLE,
    callable=CALLABLE,
    data=DATA,
    attributes=ATTRIBUTES,
    rename=canonical_name,
    replacements={
        "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
        "torch._utils._rebuild_parameter": _rebuild_parameter,
        "_codecs.encode": _encode,
        GETATTR: _getattr,
    },
)


# --- building the YOLO ---------------------------------------------------------------------


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
    """Stands in for `torch_safe_load` while a YOLO is built: returns the checkpoint we loaded
    (ultralytics' own would also try to download the file when it is not found)."""

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


# --- messages ------------------------------------------------------------------------------


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {first_line(error).split('. ')[0].rstrip('.')}"


def _refusal(path: Path, reason: str) -> str:
    return (
        f"refused to load {path}: {reason}; the file was not loaded "
        "(only ultralytics model checkpoints are accepted)"
    )


def _damaged(path: Path, detail: str, *, discard: bool) -> CorruptCheckpointError:
    """The error for a damaged file. Only damage that a download leaves (a zip that ends early,
    a checksum that fails) removes a copy in the Hub cache, so the next use fetches it again;
    a file that is whole but wrong may be crafted, and stays for the user to look at."""
    if discard and discard_cached_file(path):
        advice = "it was removed from the download cache, and the next use downloads it again"
    else:
        advice = "delete it and download it again, or copy it again"
    return CorruptCheckpointError(f"{path} is damaged or incomplete ({detail}); {advice}")
