"""Fixtures for tests that run an extension inside the fake web UI (see harness.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import harness
import pytest


@pytest.fixture
def webui_factory(tmp_path: Path) -> Iterator[Callable[..., harness.FakeWebUI]]:
    """Create fresh web UIs in ``tmp_path``; each is closed at teardown (one open at a time)."""
    created: list[harness.FakeWebUI] = []

    def make(**kwargs) -> harness.FakeWebUI:
        for webui in created:
            webui.close()
        webui = harness.FakeWebUI(tmp_path / f"webui{len(created)}", **kwargs)
        created.append(webui)
        return webui

    yield make

    for webui in created:
        webui.close()


@pytest.fixture
def sample_webui(webui_factory) -> harness.FakeWebUI:
    """A web UI with the sample extension installed, started with ``--api``."""
    webui = webui_factory(checkpoints=["sd15.safetensors", "sdxl_base.safetensors"])
    webui.install_extension(harness.SAMPLE_EXTENSION, "sample")
    return webui.launch(api=True)
