"""`python -m benchmarks detail`: the standalone detailer, batched against one crop per call.

On composed pictures with 3 and 6 faces (tests/group_photo.py, found by tiled MediaPipe), with
the tiny random-weight SD 1.x model of the tests saved as an A1111 single file, each measurement
runs in a fresh process:

- load: importing diffusers and loading the checkpoint (cold), apart from everything else;
- detail: one warm-up image, then rounds of the same image with `--batch` 6 (all the crops of a
  tab in one pipeline call) and with `--batch 1` (one call per crop), alternating; per image:
  the time, the time inside diffusers' pipeline calls, detection alone, and the peak memory;
- asdff: the original author's diffusers pipeline (`asdff.AdPipeline`) on the same image, the
  same model and the same masks (our detector hands them over), one crop per call as it does;
  or the error it ends with on the installed diffusers.

The figures describe this machine's CPU and a tiny model: a real SD 1.5 UNet is ~600 times the
work per step, so the pipeline's share of the time is far larger there, and a GPU, which a
single 512px crop leaves mostly idle, gains far more from batching than a CPU does.
The report is printed; `--write` writes the committed benchmarks/DETAIL.md, `--out PATH` another
file (as `python -m benchmarks` does, so a trial run never overwrites the committed figures).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.cli import add_report_destination

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "DETAIL.md"
SCENES = {
    "3 faces": {"size": (768, 384), "faces": (64, 64, 64), "seed": 1},
    "6 faces": {"size": (1024, 512), "faces": (64,) * 6, "seed": 1},
}
TAB = {
    "ad_model": "mediapipe_face_full",
    "ad_tiled_detection": True,
    "ad_use_inpaint_width_height": True,
    "ad_inpaint_width": 256,
    "ad_inpaint_height": 256,
    "ad_prompt": "a detailed face, (sharp eyes:1.2)",
}
GENERATION = {"prompt": "a group photo", "seed": 1, "steps": 20, "cfg_scale": 7.0}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _scene(name: str):
    from tests.group_photo import compose

    spec = SCENES[name]
    image, _ = compose(spec["size"], spec["faces"], seed=spec["seed"])
    return image


# --- workers (one fresh process each) -----------------------------------------------------------


def worker_load(checkpoint: str) -> dict[str, Any]:
    started = time.perf_counter()
    import diffusers  # noqa: F401
    import transformers  # noqa: F401

    imported = time.perf_counter()
    from adetailer.diffusers_backend.checkpoints import load_checkpoint

    model = load_checkpoint(checkpoint, "cpu")
    return {
        "import_s": imported - started,
        "load_s": model.load_seconds,
        "rss_after_load_mib": _rss_mib(),
        "peak_rss_mib": _peak_rss_mib(),
    }


def worker_detail(checkpoint: str, scene: str, rounds: int, models_dir: str) -> dict[str, Any]:
    from adetailer import Detailer
    from adetailer.args import TabArgs
    from adetailer.pipeline import detect_and_mask
    from adetailer.registry import ModelRegistry

    registry = ModelRegistry(models_dir, allow_download=False)
    detailer = Detailer.from_checkpoint(checkpoint, "cpu", registry=registry)
    rss_loaded = _rss_mib()
    image = _scene(scene)
    found = detect_and_mask(image, TabArgs(**TAB), registry)  # cold: starts MediaPipe's graph
    started = time.perf_counter()
    detect_and_mask(image, TabArgs(**TAB), registry)  # warm, as inside each detailed image
    detect_s = time.perf_counter() - started
    results: dict[str, dict[str, list[float]]] = {}
    detailer(image, [TAB], batch_size=6, **GENERATION)  # warm-up: first calls, caches
    for _ in range(rounds):
        for label, batch in (("batched", 6), ("one by one", 1)):
            timings = detailer.timings
            inside, calls = timings.pipeline_seconds, timings.calls
            started = time.perf_counter()
            out = detailer(image, [TAB], batch_size=batch, **GENERATION)
            total = time.perf_counter() - started
            entry = results.setdefault(label, {"total": [], "pipeline": [], "calls": []})
            entry["total"].append(total)
            entry["pipeline"].append(timings.pipeline_seconds - inside)
            entry["calls"].append(timings.calls - calls)
            entry.setdefault("redrawn", [out.redrawn])
    return {
        "faces": len(found.masks),
        "detect_s": detect_s,
        "results": results,
        "rss_loaded_mib": rss_loaded,
        "peak_rss_mib": _peak_rss_mib(),
    }


def worker_asdff(checkpoint: str, scene: str, rounds: int, models_dir: str) -> dict[str, Any]:
    """asdff's own loop (one inpaint call per mask) on our model and our masks."""
    try:
        from asdff import AdPipeline
    except Exception as exc:  # not installed, or it does not import with this diffusers
        return {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    import torch

    from adetailer.args import TabArgs
    from adetailer.diffusers_backend.checkpoints import load_checkpoint
    from adetailer.pipeline import detect_and_mask
    from adetailer.registry import ModelRegistry

    registry = ModelRegistry(models_dir, allow_download=False)
    model = load_checkpoint(checkpoint, "cpu")
    image = _scene(scene)
    masks = [d.mask_image() for d in detect_and_mask(image, TabArgs(**TAB), registry).masks]
    try:
        pipe = AdPipeline(**dict(model.pipe.components))
        pipe.inpaint_pipeline.set_progress_bar_config(disable=True)
        common = {
            "prompt": TAB["ad_prompt"],
            "num_inference_steps": GENERATION["steps"],
            "guidance_scale": GENERATION["cfg_scale"],
        }

        def run() -> Any:
            return pipe(
                common=common,
                inpaint_only={
                    "strength": 0.4,
                    "generator": torch.Generator().manual_seed(1),
                    # the size ours redraws at (asdff would take the UNet's default, 128 here)
                    "width": TAB["ad_inpaint_width"],
                    "height": TAB["ad_inpaint_height"],
                },
                images=[image],
                detectors=[lambda _image: masks],
            )

        run()
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            out = run()
            times.append(time.perf_counter() - started)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    return {"total": times, "images": len(out.images), "peak_rss_mib": _peak_rss_mib()}


# --- the run ------------------------------------------------------------------------------------


def _spawn(kind: str, *args: Any, env: dict[str, str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.detail", "--worker", kind, json.dumps(args)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"worker {kind} failed: {tail}"}
    return json.loads(lines[-1])


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _render(data: dict[str, Any], seconds: float) -> str:
    from benchmarks.machine import describe_machine

    machine = describe_machine()
    lines = [
        "# Standalone detailer benchmark",
        "",
        f"Written by `{data['command']}` on {data['when']} in {seconds:.0f} s. "
        "Do not edit by hand: run the command again.",
        "",
        "Model: the tests' tiny random-weight SD 1.x model (UNet 32/64 channels, 4-level VAE with "
        "32 channels), saved as an A1111 single-file `.safetensors` and loaded by the real loader. "
        f"Tab: `{json.dumps(TAB)}`; {GENERATION['steps']} steps at denoising strength 0.4 "
        f"(so {int(GENERATION['steps'] * 0.4)} are run), CFG {GENERATION['cfg_scale']}, "
        "DPM++ 2M Karras. CPU, fp32, torch threads: "
        f"{data['threads']}.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in machine.items()),
        f"| Load average | {data['load_before']} before, {data['load_after']} after |",
        "",
        "## Loading (fresh process)",
        "",
    ]
    load = data["load"]
    if "error" in load:
        lines.append(f"Failed: {load['error']}")
    else:
        lines += [
            "| import diffusers + transformers | load the checkpoint | RSS after load | peak RSS |",
            "|---|---|---|---|",
            f"| {load['import_s']:.2f} s | {load['load_s']:.2f} s | "
            f"{load['rss_after_load_mib']:.0f} MiB | {load['peak_rss_mib']:.0f} MiB |",
        ]
    lines += [
        "",
        "## Per image (median of the rounds, after one warm-up image)",
        "",
        "| image | faces redrawn | batched (--batch 6) | one by one (--batch 1) | one by one / batched | pipeline calls | outside diffusers' calls (batched) | detection alone (warm) | asdff (one by one) | asdff / batched | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for scene, entry in data["scenes"].items():
        if "error" in entry:
            lines.append(f"| {scene} | failed: {entry['error']} |||||||||")
            continue
        batched = entry["results"]["batched"]
        single = entry["results"]["one by one"]
        b, s = _median(batched["total"]), _median(single["total"])
        inside = _median(batched["pipeline"])
        outside = (b - inside) / b
        detect_share = entry["detect_s"] / b
        asdff = data["asdff"].get(scene, {})
        if "error" in asdff:
            asdff_cell, asdff_ratio = f"error: {asdff['error']}", "-"
        else:
            a = _median(asdff["total"])
            asdff_cell, asdff_ratio = f"{a:.2f} s", f"{a / b:.2f}x"
        lines.append(
            f"| {scene} | {batched['redrawn'][0]} | {b:.2f} s | {s:.2f} s | {s / b:.2f}x | "
            f"{int(batched['calls'][0])} vs {int(single['calls'][0])} | {outside:.0%} | "
            f"{detect_share:.0%} | {asdff_cell} | {asdff_ratio} | {entry['peak_rss_mib']:.0f} MiB |"
        )
        if scene == "6 faces":
            verdicts.append(
                f"- batched at least 2x faster than one by one on 6 faces: "
                f"{'PASS' if s / b >= 2 else 'FAIL'} ({s / b:.2f}x)"
            )
        verdicts.append(
            f"- time outside diffusers' calls at most 10% ({scene}): "
            f"{'PASS' if outside <= 0.10 else 'FAIL'} ({outside:.0%} of {b:.2f} s; detection "
            f"alone is {detect_share:.0%})"
        )
    lines += ["", "## Targets", "", *verdicts, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks detail")
    parser.add_argument("--rounds", type=int, default=3)
    add_report_destination(parser, DEFAULT_OUT)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="?", default="[]", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.worker:
        import torch

        torch.set_num_threads(int(os.environ.get("ADETAILER_BENCH_THREADS", "1")))
        worker = {"load": worker_load, "detail": worker_detail, "asdff": worker_asdff}
        print(json.dumps(worker[options.worker](*json.loads(options.args))))
        return 0

    from benchmarks.machine import load_average
    from benchmarks.run import measurement_command
    from tests.tiny_diffusion import save_single_file, tiny_pipeline

    began = time.perf_counter()
    env = {**os.environ, "ADETAILER_BENCH_THREADS": str(options.torch_threads)}
    arguments = list(argv) if argv is not None else sys.argv[2:]
    data: dict[str, Any] = {
        "command": measurement_command(arguments, "python -m benchmarks detail"),
        "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "threads": options.torch_threads,
        "load_before": load_average(),
        "scenes": {},
        "asdff": {},
    }
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = str(
            save_single_file(tiny_pipeline("sd1"), Path(folder) / "tiny-sd1.safetensors")
        )
        models = str(Path(folder) / "detectors")
        print("loading ...", file=sys.stderr)
        data["load"] = _spawn("load", checkpoint, env=env)
        for scene in SCENES:
            print(f"{scene}: ours ...", file=sys.stderr)
            data["scenes"][scene] = _spawn(
                "detail", checkpoint, scene, options.rounds, models, env=env
            )
            print(f"{scene}: asdff ...", file=sys.stderr)
            data["asdff"][scene] = _spawn(
                "asdff", checkpoint, scene, options.rounds, models, env=env
            )
    data["load_after"] = load_average()
    report = _render(data, time.perf_counter() - began)
    if options.out is not None:
        options.out.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
