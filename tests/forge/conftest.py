"""Forge's side of the web UI: gradio 4.40 and pydantic 2 (run in the Forge environment).

These tests run in the environment made from constraints-forge.txt (see .ci/run); the main
environment (gradio 3.41, A1111's) skips them, and tests/extension covers A1111 there.
"""

from __future__ import annotations

import sys
import types

import pytest

gradio = pytest.importorskip("gradio")
if not gradio.__version__.startswith("4."):
    pytest.skip("the Forge tests need gradio 4 (constraints-forge.txt)", allow_module_level=True)


@pytest.fixture
def forge_modules(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    from tests.forge import forge_ui_components as components

    package = types.ModuleType("modules")
    package.__path__ = []  # a package: `from modules.ui_components import ...` works
    package.ui_components = components
    monkeypatch.setitem(sys.modules, "modules", package)
    monkeypatch.setitem(sys.modules, "modules.ui_components", components)
    return components
