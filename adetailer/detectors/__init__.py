"""Detectors: one entry point, `load_detector`, with a cache so a model loads once.

Loading a model costs seconds; detecting costs milliseconds. The cache keeps one detector per
(model file or built-in name, device) and reloads it only when the file itself changed (its
modification time or size), so a replaced file takes effect without a restart.

Importing this package is cheap: torch, ultralytics and mediapipe are imported only when a
model of theirs is loaded.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from adetailer.detectors.base import (
    Detector,
    DetectorError,
    MissingPackageError,
    check_device,
    check_package,
)

if TYPE_CHECKING:
    from adetailer.registry import ModelEntry

__all__ = [
    "Detector",
    "DetectorError",
    "MissingPackageError",
    "clear_detector_cache",
    "load_count",
    "load_detector",
]

_CacheKey = tuple[str, str]
_FileStamp = tuple[int, int] | None

_cache: dict[_CacheKey, tuple[_FileStamp, Detector]] = {}
_loading: dict[_CacheKey, _Loading] = {}
_lock = threading.Lock()  # guards the two dicts; never held while a model loads
# Each system call on a cache hit lets go of the GIL, and while another thread loads a model
# (pure Python for tens of ms) getting it back takes up to sys.getswitchinterval() (5 ms): so a
# hit makes one call, the stat, and reuses the resolved path while the file's stamp is the same.
_resolved: dict[tuple[str, _FileStamp], Path] = {}
_loads = 0


class _Loading:
    """A load in progress: threads that want the same model wait for it instead of loading it
    again; threads that want other models never wait for it."""

    def __init__(self, stamp: _FileStamp) -> None:
        self.stamp = stamp
        self.done = threading.Event()
        self.detector: Detector | None = None
        self.error: BaseException | None = None


def load_detector(entry: ModelEntry, *, device: str = "") -> Detector:
    """The detector for `entry` on `device`, loaded on first use and reused afterwards.

    A Hub entry must have been fetched first (`ModelRegistry.prepare`), so that it has a path.
    MediaPipe models run on the CPU whatever `device` says, but an unknown device is refused.
    """
    global _loads
    check_package(entry.name, entry.kind)
    if entry.kind == "mediapipe":
        check_device(device)
    path, stamp = _local_file(entry)
    key = (str(path) if path is not None else f"builtin:{entry.name}", device)
    while True:
        with _lock:
            cached = _cache.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            loading = _loading.get(key)
            owner = loading is None
            if loading is None:
                loading = _loading[key] = _Loading(stamp)
        if owner:
            break
        loading.done.wait()
        if loading.stamp == stamp:
            if loading.error is not None:
                raise loading.error
            if loading.detector is not None:
                return loading.detector
        # the file changed while another thread loaded its older version: look again
    try:
        detector = _load(entry, path, device)
    except BaseException as error:
        loading.error = error
        with _lock:
            del _loading[key]
        loading.done.set()
        raise
    loading.detector = detector
    with _lock:
        replaced = _cache.get(key)
        _cache[key] = (stamp, detector)
        del _loading[key]
        _loads += 1
    loading.done.set()
    if replaced is not None:
        _close(replaced[1])
    return detector


def clear_detector_cache() -> None:
    """Forget every loaded detector (frees their models), e.g. when the user asks to unload."""
    with _lock:
        detectors = [detector for _, detector in _cache.values()]
        _cache.clear()
    for detector in detectors:
        _close(detector)


def load_count() -> int:
    """How many models have been loaded in this process; lets tests see a cache hit."""
    return _loads


def _local_file(entry: ModelEntry) -> tuple[Path | None, _FileStamp]:
    """The model's resolved file and its (mtime, size), so a replaced file is noticed."""
    if entry.kind == "mediapipe":
        return None, None
    if entry.path is None:
        msg = f"model {entry.name} has no local file yet; fetch it with ModelRegistry.prepare first"
        raise DetectorError(msg)
    path = Path(entry.path)
    try:
        stat = path.stat()
    except OSError as error:
        msg = f"model file {path} cannot be read ({error.strerror}); put it back or refresh the model list"
        raise DetectorError(msg) from error
    stamp = (stat.st_mtime_ns, stat.st_size)
    resolved = _resolved.get((str(path), stamp))
    if resolved is None:
        resolved = _resolved[(str(path), stamp)] = path.resolve()
    return resolved, stamp


def _load(entry: ModelEntry, path: Path | None, device: str) -> Detector:
    if entry.kind == "mediapipe":
        from adetailer.detectors.mediapipe import MediaPipeDetector

        return MediaPipeDetector(entry.name)
    if entry.kind in ("yolo", "yolo-world") and path is not None:
        from adetailer.detectors.yolo import YoloDetector

        world = entry.kind == "yolo-world"
        return YoloDetector.load(path, name=entry.name, device=device, world=world)
    msg = f"model {entry.name} has an unknown kind {entry.kind!r}"
    raise DetectorError(msg)


def _close(detector: Detector) -> None:
    close = getattr(detector, "close", None)
    if callable(close):
        close()
