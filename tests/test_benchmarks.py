"""Smoke test of `python -m benchmarks`: a quick run writes a complete, readable RESULTS table.

Timings are never checked here (speed targets belong to the benchmarks, as ratios against a
baseline of the same run). To stay fast, the quick run measures one model of each family: the
MediaPipe and the YOLO paths are different code, the models within a family are not.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.models import display_name
from benchmarks.report import parse_ratio

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS = ("mediapipe_face_full", "bench_face_yolov8n.pt")
QUICK_SIZES = ("512x768",)
SECTIONS = (
    "## Machine",
    "## Targets",
    "## Start-up (offline)",
    "## Per-image cost: detection + mask preprocessing, no tiling",
    "## Model acquisition per image: reloading against our cache",
    "## Tiling",
    "## Warm time per image (ms, our path) and what was found",
    "## Memory",
    "## Our steps after inference, by number of detections",
    "## Detectors in parallel",
    "## Seamless pastes (`ad_color_match`)",
    "## How this was measured",
)


def table(text: str, heading: str) -> list[dict[str, str]]:
    """The first markdown table under `heading`, one dict per row keyed by the header cells."""
    lines = text.split(heading, 1)[1].splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("|"))
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, _separator, *body = block
    return [dict(zip(header, cells, strict=True)) for cells in body]


def test_quick_run_writes_every_row_with_readable_ratios(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--torch-threads",
            "1",
            "--models",
            *MODELS,
            "--out",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    text = out.read_text(encoding="utf8")
    for section in SECTIONS:
        assert section in text

    expected = {(display_name(model), size) for model in MODELS for size in QUICK_SIZES}
    per_image = table(text, "## Per-image cost")
    assert {(row["Model"], row["Size"]) for row in per_image} == expected
    for row in per_image:
        assert parse_ratio(row["Ours / bare"]) > 0
        assert parse_ratio(row["Reload / ours"]) > 0
        assert parse_ratio(row["Ceiling: reload / bare"]) > 0
        assert row["<= 1.2x"] in ("PASS", "FAIL")
        assert row[">= 5x end to end"] in ("PASS", "FAIL")
    acquisition = table(text, "## Model acquisition per image")
    assert {(row["Model"], row["Size"]) for row in acquisition} == expected
    for row in acquisition:
        assert parse_ratio(row["Reload / ours"]) > 0
        assert row[">= 5x"] in ("PASS", "FAIL")
    targets = {row["Target"] for row in table(text, "## Targets")}
    assert ">= 5x faster than reloading per image: per image, end to end" in targets
    assert ">= 5x faster than reloading per image: model acquisition per image" in targets
    assert "| Device (model workers) | MediaPipe: CPU" in text
    assert "; YOLO: " in text  # the torch device the YOLO worker resolved
    tiling = table(text, "## Tiling")
    assert {(row["Model"], row["Size"]) for row in tiling} == expected
    memory = table(text, "## Memory")
    assert {row["Model"] for row in memory} == {display_name(model) for model in MODELS}

    startup = table(text, "## Start-up (offline)")
    assert len(startup) == 2
    assert all(row["Network attempts"] == "0" for row in startup)

    parallel = table(text, "## Detectors in parallel")
    assert "1" in {row["torch threads"] for row in parallel}
    for row in parallel:
        assert parse_ratio(row["Parallel / sequential"]) > 0
    assert "two YOLO models in two threads <= 0.7x of one after the other" in targets
    assert "a cached detect waits <= 5 ms while another model loads" in targets

    seams = table(text, "## Seamless pastes")
    assert {(row["Photo"], row["Redraw"]) for row in seams} == {
        (photo, redraw)
        for photo in ("astronaut", "camera", "grace_hopper")
        for redraw in ("shift", "shift + softening")
    }
    for row in seams:
        assert row["<= 25 %"] in (("PASS", "FAIL") if row["Redraw"] == "shift" else ("-",))
    assert "pixels outside the crop bit-identical" in targets

    verdicts = [line for line in completed.stdout.splitlines() if line[:4] in ("PASS", "FAIL")]
    # three ratio targets per model and size (overhead; reload end to end and acquisition),
    # two start-up timings, one network check, two parallel targets, and for the color match
    # one seam target per photo, the pixels outside the crop and its cost
    assert len(verdicts) == 3 * len(expected) + 5 + 3 + 2


def test_the_report_is_written_only_where_asked() -> None:
    """A trial run never overwrites the committed RESULTS.md: it is printed unless a path
    (`--out`) or `--write` is given."""
    from benchmarks.run import DEFAULT_OUT, build_parser

    parser = build_parser()
    assert parser.parse_args([]).out is None
    assert parser.parse_args(["--write"]).out == DEFAULT_OUT
    assert parser.parse_args(["--out", "x.md"]).out == Path("x.md")
    with pytest.raises(SystemExit):
        parser.parse_args(["--write", "--out", "x.md"])


def test_the_report_names_what_was_measured_not_where_it_went() -> None:
    from benchmarks.run import measurement_command

    assert measurement_command(["--torch-threads", "1", "--write"]) == (
        "python -m benchmarks --torch-threads 1"
    )
    assert measurement_command(["--quick", "--out", "/tmp/r.md", "--models", "a b"]) == (
        "python -m benchmarks --quick --models 'a b'"
    )
    assert measurement_command(["--out=/tmp/r.md"]) == "python -m benchmarks"


def test_the_readme_gives_the_command_that_wrote_the_committed_results() -> None:
    results = (REPO_ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf8")
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf8")
    command = re.search(r"Written by `(python -m benchmarks[^`]*)`", results).group(1)
    assert f"`{command} --write`" in readme
