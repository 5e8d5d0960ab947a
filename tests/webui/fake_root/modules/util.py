"""Small helpers that ``modules.shared`` re-exports (``natural_sort_key``, ``listfiles``, ...)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from modules.paths_internal import cwd, script_path


def natural_sort_key(s: str, regex: re.Pattern = re.compile("([0-9]+)")) -> list:
    return [int(text) if text.isdigit() else text.lower() for text in regex.split(s)]


def listfiles(dirname: str) -> list[str]:
    names = sorted(os.listdir(dirname), key=natural_sort_key)
    filenames = [os.path.join(dirname, x) for x in names if not x.startswith(".")]
    return [file for file in filenames if os.path.isfile(file)]


def html_path(filename: str) -> str:
    return os.path.join(script_path, "html", filename)


def html(filename: str) -> str:
    try:
        with open(html_path(filename), encoding="utf8") as file:
            return file.read()
    except OSError:
        return ""


def walk_files(path: str, allowed_extensions=None) -> Iterator[str]:
    if not os.path.exists(path):
        return

    allowed = set(allowed_extensions) if allowed_extensions is not None else None
    items = sorted(os.walk(path, followlinks=True), key=lambda x: natural_sort_key(x[0]))
    for root, _, files in items:
        for filename in sorted(files, key=natural_sort_key):
            if allowed is not None and os.path.splitext(filename)[1].lower() not in allowed:
                continue
            yield os.path.join(root, filename)


def ldm_print(*args, **kwargs) -> None:
    print(*args, **kwargs)


def truncate_path(target_path: str, base_path: str = cwd) -> str:
    abs_target, abs_base = os.path.abspath(target_path), os.path.abspath(base_path)
    try:
        if os.path.commonpath([abs_target, abs_base]) == abs_base:
            return os.path.relpath(abs_target, abs_base)
    except ValueError:
        pass
    return abs_target


def topological_sort(dependencies: dict[str, list[str]]) -> list[str]:
    """Depth-first order; unknown or circular dependencies are ignored like in A1111."""
    visited: set[str] = set()
    result: list[str] = []

    def visit(name: str) -> None:
        visited.add(name)
        for dep in dependencies.get(name, []):
            if dep in dependencies and dep not in visited:
                visit(dep)
        result.append(name)

    for name in dependencies:
        if name not in visited:
            visit(name)

    return result
