"""Which detection models exist, and where each one's file comes from.

Three sources, listed in this order (the order of the original ADetailer dropdown):
known models on the Hugging Face Hub (downloaded on first use, never when listed),
MediaPipe models built into the mediapipe wheel, and any `.pt` file found in the model
folders. Listing reads only the local disk, so it is fast and works offline.

A model name coming from outside (an API request, a saved setting) can only select one of
these entries: it is never used as a path.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from adetailer.detectors.base import missing_package
from adetailer.downloads import (
    HubFile,
    ModelUnavailableError,
    cached_file,
    fetch,
    offline_requested,
)

ModelKind = Literal["mediapipe", "yolo", "yolo-world"]
ModelSource = Literal["builtin", "hub", "file"]

ADETAILER_REPO = "Bingsu/adetailer"
YOLO_WORLD_REPO = "Bingsu/yolo-world-mirror"

HUB_MODELS: tuple[HubFile, ...] = (
    HubFile(ADETAILER_REPO, "face_yolov8n.pt"),
    HubFile(ADETAILER_REPO, "face_yolov8s.pt"),
    HubFile(ADETAILER_REPO, "hand_yolov8n.pt"),
    HubFile(ADETAILER_REPO, "person_yolov8n-seg.pt"),
    HubFile(ADETAILER_REPO, "person_yolov8s-seg.pt"),
    HubFile(YOLO_WORLD_REPO, "yolov8x-worldv2.pt"),
)

MEDIAPIPE_MODELS: tuple[str, ...] = (
    "mediapipe_face_full",
    "mediapipe_face_short",
    "mediapipe_face_mesh",
    "mediapipe_face_mesh_eyes_only",
    "mediapipe_hand",
    "mediapipe_person",
)

MODEL_SUFFIX = ".pt"


@dataclass(frozen=True)
class ModelEntry:
    """One selectable model. `path` is set for local files, and for Hub models once fetched."""

    name: str
    kind: ModelKind
    source: ModelSource
    path: Path | None = None
    repo_id: str | None = None
    filename: str | None = None

    @property
    def hub_file(self) -> HubFile | None:
        if self.repo_id is None or self.filename is None:
            return None
        return HubFile(self.repo_id, self.filename)

    @property
    def url(self) -> str | None:
        hub_file = self.hub_file
        return hub_file.url if hub_file is not None else None

    def with_path(self, path: Path) -> ModelEntry:
        return dataclasses.replace(self, path=path)


ModelState = Literal["built in", "local file", "downloaded", "will download", "not available"]


@dataclass(frozen=True)
class ModelStatus:
    """Whether a model can be used on this machine now, and if not, what to do about it."""

    name: str
    kind: ModelKind
    state: ModelState
    path: Path | None = None  # a local file, or a Hub model's copy in the download cache
    note: str = ""  # where a download comes from, or why the model is not available

    def describe(self) -> str:
        """The status column of the `models` command."""
        if self.state in ("local file", "downloaded"):
            return f"{self.state} {self.path}"
        if self.state == "will download":
            return f"will download on first use ({self.note})"
        if self.state == "not available":
            return f"not available: {self.note}"
        return self.state

    def to_dict(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.state,
            "path": str(self.path) if self.path is not None else None,
            "note": self.note,
        }


class UnknownModelError(ValueError):
    """A model name that selects no registry entry (unknown, or shaped like a path)."""


def model_kind(path: Path) -> ModelKind:
    """YOLO-World checkpoints are told apart by name, as ultralytics itself does."""
    return "yolo-world" if "-world" in Path(path).stem else "yolo"


def split_dirs(extra_dirs: str | Iterable[str | os.PathLike[str]]) -> tuple[Path, ...]:
    """Folders from the `|`-separated setting (or a list), blanks dropped."""
    parts = extra_dirs.split("|") if isinstance(extra_dirs, str) else extra_dirs
    return tuple(Path(str(part).strip()) for part in parts if str(part).strip())


def scan_models(directory: Path) -> Iterator[Path]:
    """Every `.pt` file below `directory`, in a stable order; a missing folder yields nothing.

    Symlinked folders are followed (model folders are often links), each real folder once.
    """
    seen: set[str] = set()
    for root, dirs, files in os.walk(directory, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort(key=str.lower)
        for filename in sorted(files, key=str.lower):
            if filename.lower().endswith(MODEL_SUFFIX):
                yield Path(root) / filename


def is_path_like(name: str) -> bool:
    """Names that try to be paths are refused before any lookup could turn them into one."""
    return (
        "/" in name
        or "\\" in name
        or ".." in name
        or os.path.isabs(name)
        or (len(name) >= 2 and name[1] == ":")
    )


class ModelRegistry:
    """The models a user can choose, found again on `refresh()` without a restart.

    `models_dir` is the main folder (A1111: `<models_path>/adetailer`); `extra_dirs` are more
    folders, as a `|`-separated string (the web UI setting) or a list. Downloads are allowed
    unless `allow_download=False` or ADETAILER_OFFLINE=1 / HF_HUB_OFFLINE=1 is set.
    """

    def __init__(
        self,
        models_dir: str | os.PathLike[str],
        extra_dirs: str | Iterable[str | os.PathLike[str]] = "",
        *,
        allow_download: bool = True,
        hub_cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.models_dir = Path(models_dir)
        self.extra_dirs = split_dirs(extra_dirs)
        self.allow_download = allow_download
        self.hub_cache_dir = Path(hub_cache_dir) if hub_cache_dir is not None else None
        self._entries: dict[str, ModelEntry] | None = None
        self._lock = threading.Lock()

    @property
    def model_dirs(self) -> tuple[Path, ...]:
        return (self.models_dir, *self.extra_dirs)

    @property
    def downloads_allowed(self) -> bool:
        return self.allow_download and not offline_requested()

    def refresh(self) -> None:
        """Scan the model folders again (new, removed or renamed files)."""
        entries = self._build_entries()
        with self._lock:
            self._entries = entries

    def entries(self) -> list[ModelEntry]:
        return list(self._current().values())

    def names(self) -> list[str]:
        """Every model a user can choose now.

        While downloads are off, a Hub model that is not on this machine could never load: it is
        left out (`get` still knows it, to say where to put the file).
        """
        entries = self._current()
        if self.downloads_allowed:
            return list(entries)
        return [
            name
            for name, entry in entries.items()
            if entry.hub_file is None
            or entry.path is not None
            or cached_file(entry.hub_file, self.hub_cache_dir) is not None
        ]

    def statuses(self) -> list[ModelStatus]:
        """Every known model, whether it can run now or not, with its status (`models`).

        Reads the local disk (folders, the Hub download cache) and never the network.
        """
        return [self.status(entry) for entry in self.entries()]

    def status(self, entry: ModelEntry) -> ModelStatus:
        here = ModelStatus(entry.name, entry.kind, "built in", entry.path)
        missing = missing_package(entry.kind)
        if missing is not None:
            return dataclasses.replace(here, state="not available", note=missing)
        if entry.source == "file":
            return dataclasses.replace(here, state="local file")
        hub_file = entry.hub_file
        if hub_file is None:
            return here
        cached = cached_file(hub_file, self.hub_cache_dir)
        if cached is not None:
            return dataclasses.replace(here, state="downloaded", path=cached)
        if self.downloads_allowed:
            return dataclasses.replace(
                here, state="will download", note=f"from Hugging Face {hub_file.repo_id}"
            )
        note = f"downloads are off, put the file in {self.models_dir} (from {hub_file.url})"
        return dataclasses.replace(here, state="not available", note=note)

    def get(self, name: str) -> ModelEntry:
        entries = self._current()
        if not isinstance(name, str):
            msg = f"model name must be a string, got {type(name).__name__}"
            raise UnknownModelError(msg)
        if is_path_like(name):
            problem = f"refused model name {name!r}: a model is chosen by its name, never by a path"
        elif name not in entries:
            problem = f"unknown model {name!r}"
        else:
            return entries[name]
        msg = f"{problem}; available: {', '.join(entries)}"
        raise UnknownModelError(msg)

    def prepare(self, name: str) -> ModelEntry:
        """The entry ready to load: a Hub model is fetched (downloaded on first use) here."""
        entry = self.get(name)
        if entry.source == "builtin":
            return entry
        if entry.source == "hub" and entry.hub_file is not None:
            path = fetch(
                entry.hub_file,
                models_dir=self.models_dir,
                allow_download=self.downloads_allowed,
                cache_dir=self.hub_cache_dir,
            )
            return entry.with_path(path)
        if entry.path is None or not entry.path.is_file():
            msg = f"model {name} was at {entry.path}, which no longer exists; put it back or refresh the model list"
            raise ModelUnavailableError(msg)
        return entry

    def resolve(self, name: str) -> Path:
        """The local file of a YOLO model, downloading a Hub model on first use."""
        entry = self.prepare(name)
        if entry.path is None:
            msg = f"model {name} is built into mediapipe and has no file"
            raise ValueError(msg)
        return entry.path

    def _current(self) -> dict[str, ModelEntry]:
        """The entries, scanning the folders on first use rather than at construction.

        The scan (disk I/O) runs outside the lock, so a slow folder never makes other threads
        wait for the lock; two first uses at once may both scan, and the first result is kept.
        """
        entries = self._entries
        if entries is None:
            scanned = self._build_entries()
            with self._lock:
                if self._entries is None:
                    self._entries = scanned
                entries = self._entries
        return entries

    def _build_entries(self) -> dict[str, ModelEntry]:
        files = self._scan_files()
        entries: dict[str, ModelEntry] = {}
        for hub_file in HUB_MODELS:
            local = files.pop(hub_file.filename, None)
            entries[hub_file.filename] = local or ModelEntry(
                name=hub_file.filename,
                kind=model_kind(Path(hub_file.filename)),
                source="hub",
                repo_id=hub_file.repo_id,
                filename=hub_file.filename,
            )
        for name in MEDIAPIPE_MODELS:
            entries[name] = ModelEntry(name=name, kind="mediapipe", source="builtin")
        entries.update(files)
        return entries

    def _scan_files(self) -> dict[str, ModelEntry]:
        """Local files by file name; when two folders hold the same name, the first one wins."""
        found: dict[str, ModelEntry] = {}
        for directory in self.model_dirs:
            for path in scan_models(directory):
                if path.name not in found:
                    found[path.name] = ModelEntry(
                        name=path.name, kind=model_kind(path), source="file", path=path
                    )
        return found
