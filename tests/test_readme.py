"""The README tells a newcomer the truth: its commands and its option table match the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

from adetailer.args import DEFAULTS, FIELD_NAMES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf8")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf8")
    command = ci.strip().splitlines()[-1]
    assert "pytest" in command
    assert f"```sh\n{command}\n```" in README


def test_every_option_is_listed_with_its_default():
    rows = dict(re.findall(r"^\| `(ad_\w+)` \| `([^`]*)` \|", README, flags=re.MULTILINE))
    assert set(rows) == set(FIELD_NAMES)
    for key in FIELD_NAMES:
        assert json.loads(rows[key]) == getattr(DEFAULTS, key), key


def test_the_standalone_command_uses_the_default_model():
    assert "python -m adetailer detect" in README
    assert "mediapipe_face_full" in README


def test_the_controlnet_auto_pick_table_is_the_codes():
    from controlnet_ext import FAMILY_MODULES, default_module

    section = README.split("**Modules (preprocessors), and auto-picking.**")[1].split(
        "The UI lists"
    )[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]+)`", section, flags=re.MULTILINE))
    assert set(rows) == set(FAMILY_MODULES)
    for family, picked in rows.items():
        assert FAMILY_MODULES[family][0] == picked, family
    assert default_module("controlnet_union_sdxl") is None
    assert "| `union` | none" in section
