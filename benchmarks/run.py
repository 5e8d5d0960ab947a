"""`python -m benchmarks`: measure everything issue 5 section 1 asks for and report it.

The report goes to the file `--out` names, or with `--write` to the committed
benchmarks/RESULTS.md; without either it is printed, so a trial run never overwrites the
committed figures.

The run builds the YOLO test models, then starts one worker process per measurement (start-up
core and web UI, each model, the mask steps), collects their JSON, checks the targets and writes
the report. Workers are fresh processes so that cold really is cold, peak memory belongs to one
model, and the start-up is measured the way a user's process starts.

A full run takes several minutes on a 2-core CPU; `--quick` runs one size, two images and one
round of everything (a smoke test: its figures are not meant to be quoted).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.cli import add_report_destination
from benchmarks.machine import describe_machine, load_average
from benchmarks.models import MODEL_NAMES, build_yolo_models
from benchmarks.report import BenchmarkRun, render, verdicts

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "RESULTS.md"
DEFAULT_CONFIDENCE = 0.3  # TabArgs' default, what a user gets without touching the slider


@dataclass(frozen=True)
class Plan:
    """How much of everything a run measures."""

    name: str
    sizes: tuple[str, ...]
    images: tuple[str, ...]
    tiled_images: tuple[str, ...]  # the first is timed cold, the others warm
    rounds: tuple[int, int]  # at least, at most (per phase and size)
    budget_s: float  # more rounds while one phase at one size takes less than this
    startup_runs: tuple[int, int]  # core, web UI
    mask_counts: tuple[int, ...]
    parallel_rounds: int  # two models one after the other / in two threads, each
    parallel_loads: int  # loads of another model a cached detector is asked for through
    color_match_rounds: int


FULL = Plan(
    name="full",
    sizes=("512x768", "1024x1536"),
    images=("astronaut", "camera", "grace_hopper", "group"),
    tiled_images=("astronaut", "grace_hopper", "group"),
    rounds=(3, 25),
    budget_s=3.0,
    startup_runs=(5, 3),
    mask_counts=(1, 5, 20),
    parallel_rounds=16,
    parallel_loads=3,
    color_match_rounds=300,
)
QUICK = Plan(
    name="quick",
    sizes=("512x768",),
    images=("astronaut", "group"),
    tiled_images=("group",),
    rounds=(1, 1),
    budget_s=0.0,
    startup_runs=(1, 1),
    mask_counts=(1, 5),
    parallel_rounds=1,
    parallel_loads=1,
    color_match_rounds=20,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="one size, two images, one round")
    add_report_destination(parser, DEFAULT_OUT)
    parser.add_argument(
        "--models",
        nargs="+",
        choices=MODEL_NAMES,
        default=list(MODEL_NAMES),
        metavar="MODEL",
        help="models to measure (default: all): " + ", ".join(MODEL_NAMES),
    )
    parser.add_argument(
        "--yolo-confidence",
        type=float,
        default=DEFAULT_CONFIDENCE,
        help="the YOLO test heads score 0.05 everywhere: below that they find 138 boxes per image",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="torch's CPU threads in the model workers (default: torch's own choice, as in the "
        "web UI); 1 keeps a shared, busy machine from stalling torch's threads on each other",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    # Workers start with the environment as it was before this process imported anything:
    # ultralytics, imported to build the models, sets OMP_NUM_THREADS=1 for its children.
    environment = dict(os.environ)
    options = build_parser().parse_args(argv)
    plan = QUICK if options.quick else FULL
    command = measurement_command(argv if argv is not None else sys.argv[1:])

    started = time.perf_counter()
    started_at = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="adetailer-bench-") as tmp:
        workers = Workers(Path(tmp), environment)
        models_dir = Path(tmp) / "models"
        models_dir.mkdir()
        with_yolo = any(not name.startswith("mediapipe") for name in options.models)
        if with_yolo:
            _say(f"building YOLO test models in {models_dir}")
            build_yolo_models(models_dir)
        listing = ["--models-dir", str(models_dir)]
        startup_core = workers.run_all(
            [
                Task("benchmarks.startup", f"core-{n}", ["core", *listing])
                for n in range(plan.startup_runs[0])
            ]
        )
        startup_webui = workers.run_all(
            [
                Task("benchmarks.startup", f"webui-{n}", ["webui", *listing])
                for n in range(plan.startup_runs[1])
            ]
        )
        models = workers.run_all(
            [
                Task("benchmarks.detection", name, _model_args(name, models_dir, options, plan))
                for name in options.models
            ],
        )
        mask_steps = workers.run(Task("benchmarks.mask_steps", "mask-steps", _mask_args(plan)))
        parallel = {}
        if with_yolo:
            counts = ["--rounds", str(plan.parallel_rounds), "--loads", str(plan.parallel_loads)]
            counts += ["--confidence", str(options.yolo_confidence)]
            parallel = workers.run(Task("benchmarks.parallel", "parallel", [*listing, *counts]))
        color_match = workers.run(
            Task(
                "benchmarks.color_match", "color-match", ["--rounds", str(plan.color_match_rounds)]
            )
        )

    run = BenchmarkRun(
        command=command,
        mode=plan.name,
        started=started_at,
        duration_s=time.perf_counter() - started,
        machine=describe_machine(),
        load_before=load_before,
        load_after=load_average(),
        startup_core=startup_core,
        startup_webui=startup_webui,
        models=models,
        mask_steps=mask_steps,
        parallel=parallel,
        color_match=color_match,
    )
    report = render(run)
    if options.out is None:
        print(report)
    else:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(report, encoding="utf8")
    for verdict in verdicts(run):
        print(verdict.line())
    written = "printed the report" if options.out is None else f"wrote {options.out}"
    _say(f"{written} in {run.duration_s:.0f} s")
    return 0


def measurement_command(argv: list[str], prog: str = "python -m benchmarks") -> str:
    """The command the report names: what was measured, without where the report went
    (`--write`, `--out PATH`), so the same run reads the same whether written or printed."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--out":
            skip = True
        elif arg != "--write" and not arg.startswith("--out="):
            kept.append(arg)
    return " ".join([prog, *map(shlex.quote, kept)])


@dataclass(frozen=True)
class Task:
    """One worker run: `python -m module *args --out <label>.json`."""

    module: str
    label: str
    args: list[str]


class Workers:
    """Worker processes: fresh interpreters, their output in `work`, their logs shown on failure."""

    def __init__(self, work: Path, environment: dict[str, str]) -> None:
        self.work = work
        path = os.pathsep.join(filter(None, [str(REPO_ROOT), environment.get("PYTHONPATH")]))
        self.environment = {**environment, "PYTHONPATH": path}

    def run_all(self, tasks: list[Task]) -> list[dict[str, Any]]:
        """Every task's result, one task at a time: parallel workers would share the cores and
        slow each other's inference (torch's threads spin while waiting for each other)."""
        return [self.run(task) for task in tasks]

    def run(self, task: Task) -> dict[str, Any]:
        begun = time.perf_counter()
        log = self.work / f"{task.label}.log"
        with log.open("wb") as handle:
            completed = subprocess.run(
                [sys.executable, "-m", task.module, *task.args, "--out", str(self._out(task))],
                cwd=REPO_ROOT,
                env=self.environment,
                stdout=handle,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if completed.returncode != 0:
            tail = log.read_text(encoding="utf8", errors="replace")[-4000:]
            code = completed.returncode
            msg = f"benchmark worker {task.module} ({task.label}) failed ({code}):\n{tail}"
            raise RuntimeError(msg)
        _say(f"{task.module} {task.label}: {time.perf_counter() - begun:.0f} s")
        return json.loads(self._out(task).read_text(encoding="utf8"))

    def _out(self, task: Task) -> Path:
        return self.work / f"{task.label}.json"


def _model_args(model: str, models_dir: Path, options: argparse.Namespace, plan: Plan) -> list[str]:
    confidence = DEFAULT_CONFIDENCE if model.startswith("mediapipe") else options.yolo_confidence
    return [
        "--model",
        model,
        "--models-dir",
        str(models_dir),
        "--confidence",
        str(confidence),
        "--sizes",
        *plan.sizes,
        "--images",
        *plan.images,
        "--tiled-images",
        *plan.tiled_images,
        "--rounds",
        *map(str, plan.rounds),
        "--budget",
        str(plan.budget_s),
        "--torch-threads",
        str(options.torch_threads),
    ]


def _mask_args(plan: Plan) -> list[str]:
    counts = [str(count) for count in plan.mask_counts]
    return ["--sizes", *plan.sizes, "--counts", *counts, "--rounds", "3", "50", "--budget", "0.3"]


def _say(message: str) -> None:
    print(f"[benchmarks] {message}", flush=True)
