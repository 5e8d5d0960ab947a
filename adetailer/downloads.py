"""Model files from the Hugging Face Hub: the only module that touches the network.

A file already in the Hub cache is used without any request. A download happens only when a
model is used (never when it is listed) and only when downloads are allowed. A cached file
that cannot be a complete checkpoint is removed so the next use fetches it again.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from adetailer.detectors.base import DetectorError, first_line

HUB_URL = "https://huggingface.co"

# Either variable turns downloads off: ours, or the one huggingface_hub itself honours.
OFFLINE_ENV_VARS = ("ADETAILER_OFFLINE", "HF_HUB_OFFLINE")
_TRUE_VALUES = frozenset({"1", "true", "yes", "on"})


# A download that failed is not tried again for this long (seconds).
RETRY_AFTER = 600
# Offline, huggingface_hub retries a request for about 23 s (waits of 1, 2, 4, 8 and 8 s, seen
# in a real A1111 1.10.1): one connection attempt first answers at once, or within this.
CONNECT_TIMEOUT_S = 5.0
_failures: dict[HubFile, tuple[float, str]] = {}


class ModelUnavailableError(DetectorError):
    """A Hub model is not on this machine and could not be downloaded."""


@dataclass(frozen=True)
class HubFile:
    repo_id: str
    filename: str

    @property
    def url(self) -> str:
        return f"{HUB_URL}/{self.repo_id}/resolve/main/{self.filename}"


def offline_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment forbids downloads; read at each use so a change takes effect."""
    env = os.environ if environ is None else environ
    return any(env.get(name, "").strip().lower() in _TRUE_VALUES for name in OFFLINE_ENV_VARS)


def cached_file(file: HubFile, cache_dir: Path | None = None) -> Path | None:
    """The file's path in the Hub cache, or None; never makes a request."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = hf_hub_download(
            file.repo_id, file.filename, cache_dir=cache_dir, local_files_only=True
        )
    except LocalEntryNotFoundError:
        return None
    return Path(path)


def fetch(
    file: HubFile,
    *,
    models_dir: Path,
    allow_download: bool = True,
    cache_dir: Path | None = None,
) -> Path:
    """A local path for `file`: the cached copy, or a fresh download when that is allowed.

    `models_dir` is only named in the error, as the place a user can put the file by hand.
    """
    path = cached_file(file, cache_dir)
    if path is not None:
        if is_complete_checkpoint(path):
            return path
        discard_cached_file(path)
    if not allow_download or offline_requested():
        raise ModelUnavailableError(_unavailable(file, models_dir, "downloads are turned off"))
    failed = _failures.get(file)
    if failed is not None and time.monotonic() - failed[0] < RETRY_AFTER:
        # huggingface_hub retries for half a minute offline; every image would pay it again
        raise ModelUnavailableError(f"{failed[1]} (not retried for {RETRY_AFTER // 60} minutes)")
    try:
        unreachable = hub_unreachable_reason()
        if unreachable is not None:
            raise ModelUnavailableError(_unavailable(file, models_dir, unreachable))
        path = _download(file, models_dir, cache_dir)
    except ModelUnavailableError as error:
        _failures[file] = (time.monotonic(), str(error))
        raise
    _failures.pop(file, None)
    if not is_complete_checkpoint(path):
        discard_cached_file(path)
        reason = "the downloaded file was incomplete and has been removed"
        raise ModelUnavailableError(_unavailable(file, models_dir, reason))
    return path


def hub_unreachable_reason() -> str | None:
    """Why the Hub cannot be reached right now, or None when a connection to it opens.

    The Hub is huggingface_hub's endpoint (`HF_ENDPOINT` moves it to a mirror). Behind a proxy
    only the download itself can tell, so nothing is tried here and None is returned.
    """
    from huggingface_hub import constants

    endpoint = urllib.parse.urlsplit(constants.ENDPOINT)
    scheme = endpoint.scheme or "https"
    proxies = urllib.request.getproxies()
    if endpoint.hostname is None or scheme in proxies or "all" in proxies:
        return None
    port = endpoint.port or (443 if scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname, port), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as error:
        return f"{endpoint.hostname} cannot be reached: {type(error).__name__}: {first_line(error)}"


def _download(file: HubFile, models_dir: Path, cache_dir: Path | None) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(file.repo_id, file.filename, cache_dir=cache_dir))
    except Exception as error:  # any failure is reported with the manual way out
        reason = f"the download failed: {type(error).__name__}: {first_line(error)}"
        raise ModelUnavailableError(_unavailable(file, models_dir, reason)) from error


def _unavailable(file: HubFile, models_dir: Path, reason: str) -> str:
    return (
        f"model {file.filename} is not downloaded ({reason}); "
        f"download {file.url} and put it in {models_dir}"
    )


def is_complete_checkpoint(path: Path) -> bool:
    """Cheap completeness test: a PyTorch checkpoint is a zip, and a cut-off zip has no directory.

    This catches interrupted downloads without reading the whole file; damage inside a complete
    zip is found by the loader (`adetailer.safe_torch`).
    """
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def is_in_hub_cache(path: Path) -> bool:
    """Whether `path` is a file huggingface_hub placed in a cache (.../models--*/snapshots/<rev>/)."""
    path = Path(path)
    snapshots = path.parent.parent
    return snapshots.name == "snapshots" and snapshots.parent.name.startswith("models--")


def discard_cached_file(path: Path) -> bool:
    """Remove a broken file from the Hub cache so the next use downloads it again.

    Removes the snapshot entry and the blob it points to; files outside a Hub cache are never
    touched (a user's own copy is theirs to replace). Returns whether anything was removed.
    """
    path = Path(path)
    if not is_in_hub_cache(path):
        return False
    repo_dir = path.parent.parent.parent
    blob = path.resolve() if path.is_symlink() else None
    path.unlink(missing_ok=True)
    if blob is not None and blob.parent == (repo_dir / "blobs").resolve():
        blob.unlink(missing_ok=True)
    return True
