from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from typing import Any

import huggingface_hub
import pytest
from huggingface_hub import constants as hub_constants

from adetailer.detectors.base import DetectorError
from adetailer.downloads import (
    HubFile,
    ModelUnavailableError,
    cached_file,
    discard_cached_file,
    fetch,
    is_complete_checkpoint,
    is_in_hub_cache,
    offline_requested,
)

FACE = HubFile("Bingsu/adetailer", "face_yolov8n.pt")
URL = "https://huggingface.co/Bingsu/adetailer/resolve/main/face_yolov8n.pt"

pytestmark = pytest.mark.usefixtures("no_network")


class FakeHub:
    """Stands in for hf_hub_download: cache look-ups are real, downloads write into the cache."""

    def __init__(self, hub_cache, content: bytes, error: Exception | None = None) -> None:
        self.hub_cache = hub_cache
        self.content = content
        self.error = error
        self.real = huggingface_hub.hf_hub_download
        self.downloads: list[dict[str, Any]] = []

    def __call__(self, repo_id: str, filename: str, **kwargs: Any) -> str:
        if kwargs.get("local_files_only"):
            return self.real(repo_id, filename, **kwargs)
        self.downloads.append({"repo_id": repo_id, "filename": filename, **kwargs})
        if self.error is not None:
            raise self.error
        return str(self.hub_cache.put(repo_id, filename, self.content))


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, hub_cache, zip_bytes: bytes) -> FakeHub:
    """The Hub, reachable: its connection check passes without a connection."""
    from adetailer import downloads

    fake = FakeHub(hub_cache, zip_bytes)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    monkeypatch.setattr(downloads, "hub_unreachable_reason", lambda: None)
    return fake


class Connections:
    """Stands in for `socket.create_connection`: records each attempt, fails with `error`."""

    def __init__(self, error: OSError | None = None) -> None:
        self.error = error
        self.attempts: list[tuple[Any, ...]] = []

    def __call__(self, address: tuple[str, int], timeout: float | None = None) -> Any:
        self.attempts.append((address, timeout))
        if self.error is not None:
            raise self.error
        return contextlib.nullcontext()


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Connections:
    import socket

    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub_constants, "ENDPOINT", "https://huggingface.co")
    fake = Connections()
    monkeypatch.setattr(socket, "create_connection", fake)
    return fake


@pytest.mark.usefixtures("online_env")
def test_an_unreachable_hub_is_reported_at_once_and_remembered(
    connections: Connections, monkeypatch: pytest.MonkeyPatch, hub_cache, zip_bytes, tmp_path
) -> None:
    """Offline, huggingface_hub would retry for about 23 s before failing; one connection
    attempt answers instead, and the download is not started."""
    hub = FakeHub(hub_cache, zip_bytes)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub)
    connections.error = socket.gaierror(-2, "Name or service not known")
    with pytest.raises(ModelUnavailableError) as caught:
        fetch(FACE, models_dir=tmp_path, cache_dir=hub_cache.root)
    assert str(caught.value) == (
        "model face_yolov8n.pt is not downloaded (huggingface.co cannot be reached: gaierror: "
        f"[Errno -2] Name or service not known); download {URL} and put it in {tmp_path}"
    )
    assert connections.attempts == [(("huggingface.co", 443), 5.0)]
    assert hub.downloads == []
    with pytest.raises(ModelUnavailableError, match="not retried for 10 minutes"):
        fetch(FACE, models_dir=tmp_path, cache_dir=hub_cache.root)
    assert len(connections.attempts) == 1


def test_a_reachable_hub_is_checked_at_its_endpoint(
    connections: Connections, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adetailer.downloads import hub_unreachable_reason

    assert hub_unreachable_reason() is None
    monkeypatch.setattr(hub_constants, "ENDPOINT", "http://hf-mirror.example:8080")
    assert hub_unreachable_reason() is None
    assert connections.attempts == [
        (("huggingface.co", 443), 5.0),
        (("hf-mirror.example", 8080), 5.0),
    ]


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"])
def test_behind_a_proxy_only_the_download_can_tell(
    connections: Connections, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    from adetailer.downloads import hub_unreachable_reason

    monkeypatch.setenv(variable, "http://proxy.example:3128")
    connections.error = OSError("no direct route")
    assert hub_unreachable_reason() is None
    assert connections.attempts == []


def test_url() -> None:
    assert FACE.url == URL


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"ADETAILER_OFFLINE": "1"}, True),
        ({"ADETAILER_OFFLINE": "true"}, True),
        ({"ADETAILER_OFFLINE": " YES "}, True),
        ({"HF_HUB_OFFLINE": "1"}, True),
        ({"HF_HUB_OFFLINE": "0"}, False),
        ({"ADETAILER_OFFLINE": ""}, False),
        ({"OTHER": "1"}, False),
    ],
)
def test_offline_requested(env: dict[str, str], expected: bool) -> None:
    assert offline_requested(env) is expected


def test_cache_hit_needs_no_network(hub_cache, zip_bytes: bytes, tmp_path: Path) -> None:
    cached = hub_cache.put(FACE.repo_id, FACE.filename, zip_bytes)
    assert cached_file(FACE, hub_cache.root) == cached
    path = fetch(FACE, models_dir=tmp_path, allow_download=False, cache_dir=hub_cache.root)
    assert path == cached
    assert path.read_bytes() == zip_bytes


def test_not_cached(hub_cache) -> None:
    assert cached_file(FACE, hub_cache.root) is None


@pytest.mark.usefixtures("online_env")
def test_downloads_when_missing(fake_hub: FakeHub, hub_cache, tmp_path: Path) -> None:
    path = fetch(FACE, models_dir=tmp_path, cache_dir=hub_cache.root)
    assert fake_hub.downloads == [
        {"repo_id": FACE.repo_id, "filename": FACE.filename, "cache_dir": hub_cache.root}
    ]
    assert is_in_hub_cache(path)
    assert path.read_bytes() == fake_hub.content
    fetch(FACE, models_dir=tmp_path, cache_dir=hub_cache.root)
    assert len(fake_hub.downloads) == 1  # now a cache hit


@pytest.mark.usefixtures("online_env")
def test_no_download_when_not_allowed(fake_hub: FakeHub, hub_cache, tmp_path: Path) -> None:
    models_dir = tmp_path / "models" / "adetailer"
    with pytest.raises(ModelUnavailableError) as caught:
        fetch(FACE, models_dir=models_dir, allow_download=False, cache_dir=hub_cache.root)
    assert str(caught.value) == (
        "model face_yolov8n.pt is not downloaded (downloads are turned off); "
        f"download {URL} and put it in {models_dir}"
    )
    assert fake_hub.downloads == []


@pytest.mark.parametrize("variable", ["ADETAILER_OFFLINE", "HF_HUB_OFFLINE"])
def test_no_download_when_env_says_offline(
    fake_hub: FakeHub, hub_cache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "1")
    with pytest.raises(ModelUnavailableError, match="downloads are turned off"):
        fetch(FACE, models_dir=tmp_path, allow_download=True, cache_dir=hub_cache.root)
    assert fake_hub.downloads == []


@pytest.mark.usefixtures("online_env")
def test_failed_download_names_model_url_and_folder(
    fake_hub: FakeHub, hub_cache, tmp_path: Path
) -> None:
    fake_hub.error = ConnectionError("Max retries exceeded with url\nsecond line")
    with pytest.raises(ModelUnavailableError) as caught:
        fetch(FACE, models_dir=tmp_path, cache_dir=hub_cache.root)
    message = str(caught.value)
    assert message == (
        "model face_yolov8n.pt is not downloaded (the download failed: ConnectionError: "
        f"Max retries exceeded with url); download {URL} and put it in {tmp_path}"
    )
    assert caught.value.__cause__ is fake_hub.error
    assert isinstance(caught.value, DetectorError)


@pytest.mark.usefixtures("online_env")
def test_incomplete_cached_file_is_replaced_by_a_new_download(
    fake_hub: FakeHub, hub_cache, tmp_path: Path, zip_bytes: bytes
) -> None:
    partial = hub_cache.put(FACE.repo_id, FACE.filename, zip_bytes[: len(zip_bytes) // 2])
    blob = partial.resolve()
    path = fetch(FACE, models_dir=tmp_path, cache_dir=hub_cache.root)
    assert len(fake_hub.downloads) == 1
    assert path.read_bytes() == zip_bytes
    assert not blob.exists()


def test_incomplete_cached_file_offline_is_removed_and_reported(
    hub_cache, tmp_path: Path, zip_bytes: bytes
) -> None:
    partial = hub_cache.put(FACE.repo_id, FACE.filename, zip_bytes[:10])
    blob = partial.resolve()
    with pytest.raises(ModelUnavailableError, match="is not downloaded"):
        fetch(FACE, models_dir=tmp_path, allow_download=False, cache_dir=hub_cache.root)
    assert not partial.exists()
    assert not blob.exists()


@pytest.mark.usefixtures("online_env")
def test_incomplete_download_is_removed(
    fake_hub: FakeHub, hub_cache, tmp_path: Path, zip_bytes: bytes
) -> None:
    fake_hub.content = zip_bytes[:-30]
    with pytest.raises(ModelUnavailableError, match="downloaded file was incomplete"):
        fetch(FACE, models_dir=tmp_path, cache_dir=hub_cache.root)
    assert cached_file(FACE, hub_cache.root) is None


def test_completeness_check(tmp_path: Path, zip_bytes: bytes) -> None:
    whole = tmp_path / "whole.pt"
    whole.write_bytes(zip_bytes)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(zip_bytes[:-5])
    assert is_complete_checkpoint(whole)
    assert not is_complete_checkpoint(cut)
    assert not is_complete_checkpoint(tmp_path / "missing.pt")


def test_only_hub_cache_files_are_ever_discarded(hub_cache, tmp_path: Path) -> None:
    own = tmp_path / "models" / "face_yolov8n.pt"
    own.parent.mkdir()
    own.write_bytes(b"user's file")
    assert not is_in_hub_cache(own)
    assert discard_cached_file(own) is False
    assert own.exists()

    cached = hub_cache.put(FACE.repo_id, FACE.filename, b"x")
    assert is_in_hub_cache(cached)
    assert discard_cached_file(cached) is True
    assert not cached.exists()
    assert list((cached.parent.parent.parent / "blobs").iterdir()) == []


def test_discard_copied_cache_file_without_symlink(tmp_path: Path) -> None:
    """On Windows without symlink rights the snapshot holds a copy, not a link."""
    snapshot = tmp_path / "models--Bingsu--adetailer" / "snapshots" / "abc" / "face_yolov8n.pt"
    snapshot.parent.mkdir(parents=True)
    snapshot.write_bytes(b"copy")
    assert discard_cached_file(snapshot) is True
    assert not snapshot.exists()


def test_a_failed_download_is_not_retried_for_a_while(
    fake_hub: FakeHub, hub_cache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, online_env: None
) -> None:
    from adetailer import downloads

    fake_hub.error = OSError("no network")
    with pytest.raises(ModelUnavailableError, match="the download failed"):
        fetch(FACE, models_dir=tmp_path, cache_dir=hub_cache.root)
    assert len(fake_hub.downloads) == 1
    with pytest.raises(ModelUnavailableError, match="not retried for 10 minutes"):
        fetch(FACE, models_dir=tmp_path, cache_dir=hub_cache.root)
    assert len(fake_hub.downloads) == 1  # no second attempt
    monkeypatch.setattr(downloads, "RETRY_AFTER", 0)
    with pytest.raises(ModelUnavailableError, match="the download failed"):
        fetch(FACE, models_dir=tmp_path, cache_dir=hub_cache.root)
    assert len(fake_hub.downloads) == 2
