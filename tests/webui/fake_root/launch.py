"""Stand-in for A1111's ``launch.py`` as seen by an extension's ``install.py`` and by ``program_version()``.

``install.py`` runs in a separate process (see ``harness.FakeWebUI.run_install_py``), so pip calls are
recorded both in memory and, when ``FAKE_LAUNCH_RECORD`` names a file, as JSON lines in that file.
``FAKE_LAUNCH_MISSING`` (comma separated) makes ``is_installed`` report those packages as absent,
so tests can drive an installer's "not installed yet" branch without touching the environment.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import shlex
import sys
from functools import lru_cache

script_path = os.path.dirname(os.path.abspath(__file__))
python = sys.executable
index_url = os.environ.get("INDEX_URL", "")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--skip-install", action="store_true")
    parser.add_argument("--data-dir", type=str, default=script_path)
    parser.add_argument("--models-dir", type=str, default=None)
    parser.add_argument("--ui-settings-file", type=str, default=None)
    parser.add_argument("--disable-all-extensions", action="store_true")
    parser.add_argument("--disable-extra-extensions", action="store_true")
    args, _ = parser.parse_known_args(shlex.split(os.environ.get("COMMANDLINE_ARGS", "")))
    if args.ui_settings_file is None:
        args.ui_settings_file = os.path.join(args.data_dir, "config.json")
    return args


# A1111 parses sys.argv plus $COMMANDLINE_ARGS. The fake reads only $COMMANDLINE_ARGS, because in
# the test process argv belongs to pytest (in an install.py subprocess argv is empty anyway).
args = _parse_args()

pip_calls: list[dict[str, object]] = []


@lru_cache
def git_tag() -> str:
    return "v1.10.1"


def commit_hash() -> str:
    return "82a973c04367123ae98bd9abdf80d9eda9b910e2"


def is_installed(package: str) -> bool:
    missing = {x.strip() for x in os.environ.get("FAKE_LAUNCH_MISSING", "").split(",") if x.strip()}
    if package in missing:
        return False

    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        try:
            spec = importlib.util.find_spec(package)
        except ModuleNotFoundError:
            return False
        return spec is not None

    return dist is not None


def run_pip(command: str, desc: str | None = None, live: bool = False) -> str | None:
    """Record the pip call instead of installing; mirrors the early return on ``--skip-install``."""
    if args.skip_install:
        return None

    index_url_line = f" --index-url {index_url}" if index_url != "" else ""
    record = {
        "command": command,
        "desc": desc,
        "live": live,
        "full_command": f'"{python}" -m pip {command} --prefer-binary{index_url_line}',
    }
    pip_calls.append(record)

    record_file = os.environ.get("FAKE_LAUNCH_RECORD")
    if record_file:
        with open(record_file, "a", encoding="utf8") as file:
            file.write(json.dumps(record) + "\n")

    return ""


def list_extensions(settings_file: str) -> list[str]:
    """Names under ``extensions/`` that ``preload.py``/``install.py`` discovery considers (unsorted)."""
    settings: dict = {}
    try:
        with open(settings_file, encoding="utf8") as file:
            settings = json.load(file)
    except FileNotFoundError:
        pass

    from modules import paths_internal

    extensions_dir = paths_internal.extensions_dir
    disabled_extensions = set(settings.get("disabled_extensions", []))
    disable_all_extensions = settings.get("disable_all_extensions", "none")

    if (
        disable_all_extensions != "none"
        or args.disable_extra_extensions
        or args.disable_all_extensions
        or not os.path.isdir(extensions_dir)
    ):
        return []

    return [x for x in os.listdir(extensions_dir) if x not in disabled_extensions]
