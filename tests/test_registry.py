from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from adetailer.downloads import ModelUnavailableError
from adetailer.registry import (
    HUB_MODELS,
    MEDIAPIPE_MODELS,
    ModelEntry,
    ModelRegistry,
    UnknownModelError,
    split_dirs,
)

HUB_NAMES = [file.filename for file in HUB_MODELS]


def touch(path: Path, content: bytes = b"weights") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "models" / "adetailer"
    folder.mkdir(parents=True)
    return folder


def test_names_without_files_are_hub_models_then_builtins(models_dir: Path) -> None:
    registry = ModelRegistry(models_dir)
    assert registry.names() == [*HUB_NAMES, *MEDIAPIPE_MODELS]
    assert HUB_NAMES == [
        "face_yolov8n.pt",
        "face_yolov8s.pt",
        "hand_yolov8n.pt",
        "person_yolov8n-seg.pt",
        "person_yolov8s-seg.pt",
        "yolov8x-worldv2.pt",
    ]
    assert MEDIAPIPE_MODELS == (
        "mediapipe_face_full",
        "mediapipe_face_short",
        "mediapipe_face_mesh",
        "mediapipe_face_mesh_eyes_only",
        "mediapipe_hand",
        "mediapipe_person",
    )


def test_hub_entries_know_their_repository(models_dir: Path) -> None:
    registry = ModelRegistry(models_dir)
    face = registry.get("face_yolov8n.pt")
    assert (face.source, face.kind, face.path) == ("hub", "yolo", None)
    assert face.url == "https://huggingface.co/Bingsu/adetailer/resolve/main/face_yolov8n.pt"
    world = registry.get("yolov8x-worldv2.pt")
    assert (world.kind, world.repo_id) == ("yolo-world", "Bingsu/yolo-world-mirror")
    assert registry.get("mediapipe_hand") == ModelEntry("mediapipe_hand", "mediapipe", "builtin")


def test_scans_main_and_extra_folders_recursively(tmp_path: Path, models_dir: Path) -> None:
    touch(models_dir / "b_face.pt")
    touch(models_dir / "nested" / "deeper" / "a_hand.pt")
    touch(models_dir / "notes.txt")
    touch(models_dir / "UPPER.PT")
    extra_one = tmp_path / "extra one"
    touch(extra_one / "custom-worldv2.pt")
    extra_two = tmp_path / "extra2"
    touch(extra_two / "z_person-seg.pt")
    setting = f" {extra_one} | | {tmp_path / 'missing'} |{extra_two}"

    registry = ModelRegistry(models_dir, setting)

    files = registry.names()[len(HUB_NAMES) + len(MEDIAPIPE_MODELS) :]
    # a folder's own files (case-insensitive order) before its subfolders', main folder first
    assert files == ["b_face.pt", "UPPER.PT", "a_hand.pt", "custom-worldv2.pt", "z_person-seg.pt"]
    assert registry.get("a_hand.pt").path == models_dir / "nested" / "deeper" / "a_hand.pt"
    assert registry.get("custom-worldv2.pt").kind == "yolo-world"
    assert registry.get("z_person-seg.pt") == ModelEntry(
        "z_person-seg.pt", "yolo", "file", extra_two / "z_person-seg.pt"
    )


def test_extra_dirs_setting_parsing(tmp_path: Path) -> None:
    assert split_dirs("") == ()
    assert split_dirs(" | |") == ()
    assert split_dirs(" /a | /b c |") == (Path("/a"), Path("/b c"))
    assert split_dirs([tmp_path, " ", "x"]) == (tmp_path, Path("x"))


def test_missing_models_dir_is_not_an_error(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "does-not-exist", str(tmp_path / "neither"))
    assert registry.names() == [*HUB_NAMES, *MEDIAPIPE_MODELS]


def test_same_file_name_in_two_folders_first_folder_wins(tmp_path: Path, models_dir: Path) -> None:
    touch(models_dir / "same.pt")
    extra = tmp_path / "extra"
    touch(extra / "same.pt")
    registry = ModelRegistry(models_dir, str(extra))
    assert registry.names().count("same.pt") == 1
    assert registry.get("same.pt").path == models_dir / "same.pt"


def test_local_file_wins_over_hub_and_keeps_its_place(models_dir: Path) -> None:
    local = touch(models_dir / "sub" / "face_yolov8s.pt")
    registry = ModelRegistry(models_dir)
    assert registry.names() == [*HUB_NAMES, *MEDIAPIPE_MODELS]
    entry = registry.get("face_yolov8s.pt")
    assert (entry.source, entry.path) == ("file", local)
    assert registry.resolve("face_yolov8s.pt") == local


def test_symlinked_folder_loop_is_scanned_once(models_dir: Path) -> None:
    touch(models_dir / "real" / "m.pt")
    (models_dir / "real" / "loop").symlink_to(models_dir / "real", target_is_directory=True)
    (models_dir / "linked").symlink_to(models_dir / "real", target_is_directory=True)
    registry = ModelRegistry(models_dir)
    assert registry.names().count("m.pt") == 1


def test_refresh_finds_new_and_forgets_removed_files(models_dir: Path) -> None:
    old = touch(models_dir / "old.pt")
    registry = ModelRegistry(models_dir)
    assert "old.pt" in registry.names()
    touch(models_dir / "new" / "new.pt")
    old.unlink()
    assert "new.pt" not in registry.names()  # listing is cached until refresh
    registry.refresh()
    assert "new.pt" in registry.names()
    assert "old.pt" not in registry.names()


def test_unknown_name_lists_what_is_available(models_dir: Path) -> None:
    touch(models_dir / "mine.pt")
    registry = ModelRegistry(models_dir)
    with pytest.raises(UnknownModelError) as caught:
        registry.get("nope.pt")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("unknown model 'nope.pt'; available: face_yolov8n.pt, ")
    assert "mediapipe_face_full" in message
    assert message.endswith("mine.pt")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "name",
    [
        "../x.pt",
        "a/b.pt",
        "nested/inside.pt",
        "a\\b.pt",
        "..",
        "x..pt",
        "/etc/passwd",
        "C:\\models\\x.pt",
        "C:x.pt",
    ],
)
def test_path_like_names_are_refused(models_dir: Path, name: str) -> None:
    touch(models_dir / "nested" / "inside.pt")
    touch(models_dir.parent / "x.pt")
    registry = ModelRegistry(models_dir)
    for method in (registry.get, registry.resolve, registry.prepare):
        with pytest.raises(UnknownModelError, match=r"^refused model name .*; available: "):
            method(name)


def test_a_file_found_deeper_is_named_by_its_file_name_only(models_dir: Path) -> None:
    inside = touch(models_dir / "nested" / "inside.pt")
    registry = ModelRegistry(models_dir)
    assert registry.resolve("inside.pt") == inside


def test_non_string_name_is_refused(models_dir: Path) -> None:
    with pytest.raises(UnknownModelError, match="must be a string"):
        ModelRegistry(models_dir).get(Path("x.pt"))  # type: ignore[arg-type]


def test_builtin_models_have_no_file(models_dir: Path) -> None:
    registry = ModelRegistry(models_dir)
    assert registry.prepare("mediapipe_person").path is None
    with pytest.raises(ValueError, match="mediapipe_person is built into mediapipe"):
        registry.resolve("mediapipe_person")


def test_file_removed_after_listing(models_dir: Path) -> None:
    gone = touch(models_dir / "gone.pt")
    registry = ModelRegistry(models_dir)
    registry.names()
    gone.unlink()
    with pytest.raises(ModelUnavailableError, match=r"gone\.pt .*no longer exists"):
        registry.resolve("gone.pt")


def test_describe(models_dir: Path, hub_cache, online_env) -> None:
    local = touch(models_dir / "mine-worldv2.pt")
    registry = ModelRegistry(models_dir, hub_cache_dir=hub_cache.root)
    lines = {status.name: status.describe() for status in registry.statuses()}
    assert (
        lines["face_yolov8n.pt"]
        == "will download on first use (from Hugging Face Bingsu/adetailer)"
    )
    assert lines["mediapipe_face_mesh"] == "built in"
    assert lines["mine-worldv2.pt"] == f"local file {local}"


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("downloads", ["allowed", "off"])
def test_statuses_list_every_model_whatever_can_run(
    models_dir: Path, hub_cache, zip_bytes: bytes, monkeypatch: pytest.MonkeyPatch, downloads: str
) -> None:
    """Offline the list is still complete: what cannot run says why and what to do."""
    for name in ("ADETAILER_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    cached = hub_cache.put("Bingsu/adetailer", "hand_yolov8n.pt", zip_bytes)
    local = touch(models_dir / "mine.pt")
    registry = ModelRegistry(
        models_dir, allow_download=downloads == "allowed", hub_cache_dir=hub_cache.root
    )
    statuses = {status.name: status for status in registry.statuses()}
    assert list(statuses) == [*HUB_NAMES, *MEDIAPIPE_MODELS, "mine.pt"]
    assert statuses["mediapipe_person"].state == "built in"
    assert (statuses["mine.pt"].state, statuses["mine.pt"].path) == ("local file", local)
    hand = statuses["hand_yolov8n.pt"]
    assert (hand.state, hand.path) == ("downloaded", cached)
    assert hand.describe() == f"downloaded {cached}"
    face = statuses["face_yolov8n.pt"]
    if downloads == "allowed":
        assert face.state == "will download"
    else:
        assert face.state == "not available"
        assert face.describe().startswith(
            f"not available: downloads are off, put the file in {models_dir} (from https://"
        )
    assert face.to_dict() == {
        "name": "face_yolov8n.pt",
        "kind": "yolo",
        "status": face.state,
        "path": None,
        "note": face.note,
    }


def test_statuses_say_which_package_is_missing(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ultralytics", None)  # as if not installed
    touch(models_dir / "mine.pt")
    statuses = {status.name: status for status in ModelRegistry(models_dir).statuses()}
    for name in ("face_yolov8n.pt", "yolov8x-worldv2.pt", "mine.pt"):
        assert statuses[name].state == "not available"
        assert statuses[name].note.startswith(
            'needs ultralytics, which is not installed: pip install "adetailer[yolo]"'
        )
    assert statuses["mediapipe_face_full"].state == "built in"


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    ("allow_download", "env"),
    [(False, {}), (True, {"ADETAILER_OFFLINE": "1"}), (True, {"HF_HUB_OFFLINE": "1"})],
)
def test_offline_hub_model_error_says_where_to_put_it(
    models_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    allow_download: bool,
    env: dict[str, str],
) -> None:
    for name in ("ADETAILER_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    registry = ModelRegistry(
        models_dir, allow_download=allow_download, hub_cache_dir=tmp_path / "empty-cache"
    )
    assert not registry.downloads_allowed
    with pytest.raises(ModelUnavailableError) as caught:
        registry.resolve("hand_yolov8n.pt")
    message = str(caught.value)
    assert "\n" not in message
    assert "hand_yolov8n.pt is not downloaded" in message
    assert "https://huggingface.co/Bingsu/adetailer/resolve/main/hand_yolov8n.pt" in message
    assert str(models_dir) in message


@pytest.mark.usefixtures("no_network")
def test_hub_model_in_cache_resolves_without_network(
    models_dir: Path, hub_cache, zip_bytes: bytes
) -> None:
    cached = hub_cache.put("Bingsu/yolo-world-mirror", "yolov8x-worldv2.pt", zip_bytes)
    registry = ModelRegistry(models_dir, allow_download=False, hub_cache_dir=hub_cache.root)
    entry = registry.prepare("yolov8x-worldv2.pt")
    assert entry.path == cached
    assert entry.source == "hub"
    assert registry.resolve("yolov8x-worldv2.pt") == cached


@pytest.mark.usefixtures("no_network")
def test_hub_model_is_downloaded_on_first_use_only(
    models_dir: Path, hub_cache, zip_bytes: bytes, monkeypatch: pytest.MonkeyPatch, online_env
) -> None:
    import huggingface_hub

    from adetailer import downloads

    real = huggingface_hub.hf_hub_download
    calls: list[bool] = []

    def fake_download(repo_id: str, filename: str, **kwargs) -> str:
        calls.append(kwargs.get("local_files_only", False))
        if kwargs.get("local_files_only"):
            return real(repo_id, filename, **kwargs)
        return str(hub_cache.put(repo_id, filename, zip_bytes))

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr(downloads, "hub_unreachable_reason", lambda: None)
    registry = ModelRegistry(models_dir, hub_cache_dir=hub_cache.root)
    registry.names()
    registry.get("face_yolov8n.pt")
    assert calls == []  # listing and looking up never touch the Hub
    first = registry.resolve("face_yolov8n.pt")
    assert calls == [True, False]
    second = registry.resolve("face_yolov8n.pt")
    assert calls == [True, False, True]  # the second use is a cache hit
    assert first == second


LISTING_SCRIPT = textwrap.dedent(
    """
    import json, socket, sys

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    socket.getaddrinfo = refuse
    socket.create_connection = refuse
    socket.socket.connect = refuse
    from adetailer.registry import ModelRegistry

    registry = ModelRegistry(sys.argv[1], sys.argv[2])
    names = registry.names()
    entries = [registry.get(name) for name in names]
    heavy = [m for m in ("torch", "ultralytics", "mediapipe", "huggingface_hub") if m in sys.modules]
    print(json.dumps({"names": names, "heavy": heavy}))
    """
)


def test_import_and_listing_is_light_and_offline(tmp_path: Path, models_dir: Path) -> None:
    """No heavy library, no network. How fast it is (< 1 s) is a benchmark target
    (`python -m benchmarks`, "Start-up (offline)"), not a timed test: under load it flakes."""
    for index in range(50):
        touch(models_dir / f"group{index % 5}" / f"model{index}.pt")
    extra = tmp_path / "extra"
    touch(extra / "x-worldv2.pt")
    env = {k: v for k, v in os.environ.items() if k not in ("ADETAILER_OFFLINE", "HF_HUB_OFFLINE")}
    completed = subprocess.run(
        [sys.executable, "-c", LISTING_SCRIPT, str(models_dir), str(extra)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    report = json.loads(completed.stdout)
    assert report["heavy"] == []
    assert len(report["names"]) == len(HUB_NAMES) + len(MEDIAPIPE_MODELS) + 51


def test_offline_lists_only_hub_models_on_this_machine(
    models_dir: Path, hub_cache, zip_bytes: bytes
) -> None:
    registry = ModelRegistry(models_dir, allow_download=False, hub_cache_dir=hub_cache.root)
    assert registry.names() == list(MEDIAPIPE_MODELS)
    hub_cache.put("Bingsu/adetailer", "hand_yolov8n.pt", zip_bytes)
    assert registry.names() == ["hand_yolov8n.pt", *MEDIAPIPE_MODELS]
    # still known, to say where to put the file
    assert registry.get("face_yolov8n.pt").source == "hub"
