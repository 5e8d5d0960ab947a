"""Install, preload, script filtering and the core's independence from the web UI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.extension.conftest import REPO_ROOT, launch
from tests.extension.test_generation import calls_so_far, inner_calls, txt2img

FACE_TAB = {"ad_model": "mediapipe_face_full"}
SAMPLE = REPO_ROOT / "tests" / "webui" / "sample_extension"


def test_install_py_installs_only_what_is_missing_without_moving_pins(tmp_path):
    with launch(tmp_path) as webui:
        nothing = webui.run_install_py("adetailer")
        assert nothing.returncode == 0, nothing.stderr
        assert nothing.pip_calls == []

        result = webui.run_install_py("adetailer", missing=["ultralytics", "mediapipe"])
        assert result.returncode == 0, result.stderr
        (call,) = result.pip_calls
        command = call["command"]
        assert '"ultralytics>=8.3.0,<8.4"' in command
        assert '"mediapipe==0.10.9"' in command  # A1111's protobuf 3.20, and no jax
        assert "rich" not in command
        assert " -c " in command  # installed with the web UI's pins as constraints
        for untouched in ("torch", "numpy", "pillow"):
            assert f'"{untouched}' not in command


def test_install_py_respects_skip_install(tmp_path):
    with launch(tmp_path) as webui:
        result = webui.run_install_py(
            "adetailer", missing=["ultralytics"], env={"COMMANDLINE_ARGS": "--skip-install"}
        )
        assert result.returncode == 0, result.stderr
        assert result.pip_calls == []


def load_install_py():
    sys.path.insert(0, str(REPO_ROOT / "tests" / "webui" / "fake_root"))
    try:
        import install  # the extension's install.py (the repository root is on sys.path)
    finally:
        sys.path.pop(0)
    return install


FOR_PROTOBUF_3 = "mediapipe==0.10.9"  # installed under protobuf 3: the last without jax


@pytest.mark.parametrize(
    ("installed", "expected"),
    [
        ({"protobuf": "3.20.0", "mediapipe": "0.10.21"}, [FOR_PROTOBUF_3]),
        ({"protobuf": "3.20.0", "mediapipe": "0.10.11"}, []),  # kept where it is already
        ({"protobuf": "3.20.0", "mediapipe": "0.10.9"}, []),
        ({"protobuf": "3.20.0", "mediapipe": "0.10.8"}, [FOR_PROTOBUF_3]),
        ({"protobuf": "4.25.8", "mediapipe": "0.10.21"}, []),
        ({"protobuf": "4.25.8", "mediapipe": "0.10.11"}, ["mediapipe>=0.10.13,<0.10.30"]),
        ({"protobuf": "3.20.0"}, [FOR_PROTOBUF_3]),
        (
            {"protobuf": "3.20.0", "mediapipe": "0.10.11", "ultralytics": "8.4.1"},
            ["ultralytics>=8.3.0,<8.4"],
        ),
    ],
)
def test_mediapipe_fits_the_web_uis_protobuf(monkeypatch, installed, expected):
    """A1111 puts protobuf 3.20 back at every start: a mediapipe for protobuf 4 would break."""
    install = load_install_py()
    present = {
        "ultralytics": "8.3.253",
        "rich": "13.9.4",
        "huggingface_hub": "0.36.2",
        "pydantic": "1.10.21",
    }
    versions = {**present, **installed}
    monkeypatch.setattr(install, "installed_version", versions.get)
    assert install.missing() == expected


def test_install_constraints_hold_the_installed_versions():
    import importlib.metadata

    install = load_install_py()
    text = install.constraints()
    assert f"numpy=={importlib.metadata.version('numpy')}" in text
    assert f"torch=={importlib.metadata.version('torch')}" in text
    assert f"protobuf=={importlib.metadata.version('protobuf')}" in text
    assert install.satisfies("8.3.253", ">=8.3.0,<8.4")
    assert not install.satisfies("8.4.0", ">=8.3.0,<8.4")
    assert not install.satisfies("0.10.30", ">=0.10.13,<0.10.30")
    assert install.satisfies("0.10.21", ">=0.10.13,<0.10.30")


@pytest.mark.parametrize(
    ("installed", "expected", "absent"),
    [
        (  # A1111 1.10 with numpy 1 and OpenCV already there
            {"numpy": "1.26.2", "opencv-python": "4.11.0.86"},
            ["jax<0.7.2", "jaxlib<0.7.2", "opencv-contrib-python==4.11.0.86"],
            [],
        ),
        (  # numpy 1, no OpenCV yet: the releases that still work with it
            {"numpy": "1.26.4"},
            ["jaxlib<0.7.2", "opencv-python<4.12", "opencv-contrib-python<4.12"],
            [],
        ),
        ({"numpy": "2.1.0"}, ["numpy==2.1.0"], ["jax", "opencv"]),  # numpy 2: no bound needed
    ],
)
def test_install_constraints_let_pip_resolve_at_once(monkeypatch, installed, expected, absent):
    """mediapipe needs jax at any version: without a bound, pip fetches each jaxlib (~80 MB)
    that wants numpy 2 before it finds one for the web UI's numpy 1."""
    install = load_install_py()
    monkeypatch.setattr(install, "installed_version", installed.get)
    lines = install.constraints().splitlines()
    for line in expected:
        assert line in lines
    for prefix in absent:
        assert not [line for line in lines if line.startswith(prefix)]


def test_preload_adds_the_no_huggingface_flag(tmp_path):
    from modules import shared

    with launch(tmp_path, config={}) as webui:
        assert shared.cmd_opts.ad_no_huggingface is False
        del webui
    with launch_with_argv(tmp_path / "b", ["--ad-no-huggingface"]):
        assert shared.cmd_opts.ad_no_huggingface is True
        from adetailer_webui import host

        assert host.registry().downloads_allowed is False


def launch_with_argv(path: Path, argv: list[str]):
    import harness

    webui = harness.FakeWebUI(path, argv=argv)
    webui.install_extension(REPO_ROOT, "adetailer", symlink=True)
    webui.launch()
    return webui


@pytest.mark.parametrize(
    ("config", "kept"),
    [
        ({}, False),
        ({"ad_script_names": "sample, wildcards"}, True),
        ({"ad_only_selected_scripts": False}, True),
    ],
)
def test_detail_passes_run_only_allowed_scripts(tmp_path, generates_faces, config, kept):
    import harness

    webui = harness.FakeWebUI(tmp_path, checkpoints=["sd15.safetensors"], config=config)
    webui.install_extension(REPO_ROOT, "adetailer", symlink=True)
    webui.install_extension(SAMPLE, "sample")
    with webui.launch():
        start = calls_so_far()
        txt2img(webui, script_values={"ADetailer": [True, False, FACE_TAB]})
        inner = inner_calls(start)
        assert len(inner) == 2
        for call in inner:
            titles = call.alwayson_scripts or []
            assert ("Sample" in titles) == kept, titles
            assert "ADetailer" not in titles


def test_the_core_never_imports_the_web_ui():
    code = (
        "import sys, adetailer, adetailer.pipeline, adetailer.cli, adetailer.infotext, "
        "adetailer.masks, adetailer.detectors.tiling; "
        "assert 'modules' not in sys.modules, 'modules imported'; "
        "assert 'gradio' not in sys.modules, 'gradio imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=False
    )
    assert result.returncode == 0, result.stderr


def test_use_cpu_and_low_vram_put_detection_on_the_cpu(tmp_path):
    from modules import shared

    from adetailer_webui import host

    with launch(tmp_path):
        assert host.detection_device() == ""
        for flags in (
            {"use_cpu": ["adetailer"]},
            {"use_cpu": ["all"]},
            {"lowvram": True},
            {"medvram_sdxl": True},
        ):
            saved = {k: getattr(shared.cmd_opts, k) for k in flags}
            try:
                for key, value in flags.items():
                    setattr(shared.cmd_opts, key, value)
                assert host.detection_device() == "cpu", flags
            finally:
                for key, value in saved.items():
                    setattr(shared.cmd_opts, key, value)
