"""`python -m adetailer detail`: detect and redraw faces, hands or people in images on disk.

    python -m adetailer detail PATH... --checkpoint CKPT --out DIR [--prompt P] [--model NAME]
        [--ad-<option> VALUE]... [--tab JSON]... [--tabs-file FILE] [--seed S] [--sampler NAME]
        [--steps N] [--cfg-scale X] [--device auto|cpu|cuda|cuda:N|mps] [--batch N]
        [--from-infotext] [--save-masks] [--previews] [--lora-dir DIR]

Every tab option has a flag named after its key (`--ad-confidence 0.5`, `--ad-prompt ...`);
they make the first tab. More tabs come from `--tab '{"ad_model": ...}'` (repeatable) or a JSON
file holding the `alwayson_scripts` argument list. All of them go through the argument model.

Exit codes: 0 all images detailed; 1 some image failed (each failure is one line, the rest
still run); 2 a bad flag, tab, sampler or checkpoint (one line naming it and what is allowed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from adetailer.args import FIELD_NAMES, TabArgs, parse_script_args
from adetailer.infotext import infotext_suffix
from adetailer.masks import SORT_NONE, SORT_ORDERS

INSTALL_HINT = "the detail command needs the [detail] extra: pip install 'adetailer[detail]'"
DEFAULT_MODEL = "mediapipe_face_full"
DETAIL_PACKAGES = ("torch", "diffusers", "transformers", "accelerate", "safetensors")


def add_parser(commands: Any, models_help: str) -> None:
    """The `detail` subcommand's flags (called by `adetailer.cli.build_parser`)."""
    detail = commands.add_parser(
        "detail", help="detect and redraw (needs a Stable Diffusion checkpoint)"
    )
    detail.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    detail.add_argument(
        "--checkpoint", required=True, help=".safetensors/.ckpt file or diffusers folder"
    )
    detail.add_argument("--out", type=Path, default=Path("detail-out"), help="output folder")
    detail.add_argument("--prompt", default=None, help="the image's prompt (default: its own)")
    detail.add_argument("--negative-prompt", default=None, help="the image's negative prompt")
    detail.add_argument(
        "--model", default=None, help=f"first tab's model (default: {DEFAULT_MODEL})"
    )
    detail.add_argument("--tab", action="append", default=[], help="one more tab as JSON")
    detail.add_argument("--tabs-file", type=Path, default=None, help="JSON list of tabs")
    detail.add_argument(
        "--seed", type=int, default=None, help="default: the image's, else random; -1: random"
    )
    detail.add_argument("--sampler", default=None, help="A1111 sampler name (default: the image's)")
    detail.add_argument("--scheduler", default=None, help="A1111 schedule type, e.g. Karras")
    detail.add_argument("--steps", type=int, default=None)
    detail.add_argument("--cfg-scale", type=float, default=None)
    detail.add_argument("--clip-skip", type=int, default=None)
    detail.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    detail.add_argument("--batch", type=int, default=0, help="crops per call (0: fit the device)")
    detail.add_argument(
        "--from-infotext", action="store_true", help="tabs from the image's infotext"
    )
    detail.add_argument("--save-masks", action="store_true", help="write each tab's masks")
    detail.add_argument("--previews", action="store_true", help="write each tab's preview")
    detail.add_argument("--lora-dir", type=Path, default=None, help="folder of <lora:NAME> files")
    detail.add_argument(
        "--sort-by", default=SORT_NONE, choices=SORT_ORDERS, help="order of the masks"
    )
    detail.add_argument("--models-dir", type=Path, default=None, help=models_help)
    detail.add_argument("--extra-models-dirs", default="", help="more model folders, '|'-separated")
    detail.add_argument("--offline", action="store_true", help="never download a model")
    tab_options = detail.add_argument_group("tab options (the first tab)")
    for key in FIELD_NAMES:
        flag = key.replace("_", "-")
        tab_options.add_argument(f"--{flag}", dest=key, default=None, metavar="VALUE")


def tabs_from_options(options: argparse.Namespace) -> list[Any]:
    """The raw tab list: the flags' tab first (when any is given, or no tab came otherwise)."""
    from adetailer.cli import UsageError

    flags = {key: getattr(options, key) for key in FIELD_NAMES if getattr(options, key) is not None}
    if options.model is not None:
        flags.setdefault("ad_model", options.model)
    tabs: list[Any] = []
    for text in options.tab:
        try:
            tabs.append(json.loads(text))
        except json.JSONDecodeError as exc:
            raise UsageError(f"--tab {text!r}: not JSON ({exc.msg})") from None
    if options.tabs_file is not None:
        tabs.extend(_tabs_file(options.tabs_file))
    if flags or not (tabs or options.from_infotext):
        flags.setdefault("ad_model", DEFAULT_MODEL)
        tabs.insert(0, flags)
    return tabs


def _tabs_file(path: Path) -> list[Any]:
    from adetailer.cli import UsageError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"--tabs-file {path}: {exc}") from None
    if isinstance(data, dict):  # {"ADetailer": {"args": [...]}} or {"args": [...]}
        data = data.get("ADetailer", data).get("args", data)
    if not isinstance(data, list):
        msg = f"--tabs-file {path}: expected a JSON list of tabs (the alwayson_scripts args)"
        raise UsageError(msg)
    items = list(data)
    while items and isinstance(items[0], bool):  # the leading enable / skip-img2img flags
        items.pop(0)
    return items


def missing_packages() -> list[str]:
    """The `[detail]` extra's packages that are not installed (looked up, not imported)."""
    import importlib.util

    return [name for name in DETAIL_PACKAGES if importlib.util.find_spec(name) is None]


def run_detail(options: argparse.Namespace) -> int:
    from adetailer.cli import UsageError, _registry, _unique_stems, image_paths, open_image

    missing = missing_packages()
    if missing:
        raise UsageError(f"{INSTALL_HINT} (missing: {', '.join(missing)})")
    from adetailer.diffusers_backend.checkpoints import CheckpointError
    from adetailer.diffusers_backend.detailer import Detailer, tab_choices
    from adetailer.diffusers_backend.samplers import SamplerError, split_name

    if options.batch < 0:
        raise UsageError(f"--batch {options.batch} is not allowed; expected 0 (auto) or more")
    raw_tabs = tabs_from_options(options)
    registry = _registry(options, allow_download=not options.offline)
    if options.sampler is not None or options.scheduler is not None:
        try:
            split_name(options.sampler or "DPM++ 2M", options.scheduler)
        except SamplerError as exc:
            raise UsageError(f"--sampler/--scheduler: {exc}") from None
    tabs: list[TabArgs] = []
    if raw_tabs:
        parsed = parse_script_args(raw_tabs, tab_choices(registry))
        if parsed.errors:
            raise UsageError(parsed.errors[0])
        tabs = [args for _, args in parsed.active_tabs]
        for line in parsed.warnings:
            print(f"adetailer: warning: {line}", file=sys.stderr)
    paths = image_paths(options.paths)
    try:
        detailer = Detailer.from_checkpoint(
            options.checkpoint, options.device, registry=registry, lora_dir=options.lora_dir
        )
    except CheckpointError as exc:
        raise UsageError(str(exc)) from None
    print(
        f"loaded {detailer.model.family}{' inpainting' if detailer.model.inpainting else ''} "
        f"checkpoint in {detailer.model.load_seconds:.1f} s on {detailer.device}",
        file=sys.stderr,
    )
    options.out.mkdir(parents=True, exist_ok=True)
    return _detail_all(options, detailer, tabs, paths, _unique_stems(paths), open_image)


def _detail_all(options, detailer, tabs, paths, stems, open_image) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from adetailer.cli import ImageError
    from adetailer.diffusers_backend.loras import LoraError
    from adetailer.diffusers_backend.samplers import SamplerError

    failed = 0
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        images_task = progress.add_task("images", total=len(paths))
        jobs_task = progress.add_task("detections", total=None)
        for path, stem in zip(paths, stems, strict=True):
            started = time.perf_counter()
            try:
                image = open_image(path)
            except ImageError as exc:
                console.print(
                    f"adetailer: error: {exc}", markup=False, highlight=False, soft_wrap=True
                )
                failed += 1
                progress.advance(images_task)
                continue
            try:
                output = detailer(
                    image,
                    [t.dict() for t in tabs] if not options.from_infotext else None,
                    prompt=options.prompt,
                    negative_prompt=options.negative_prompt,
                    seed=options.seed,
                    sampler=options.sampler,
                    scheduler=options.scheduler,
                    steps=options.steps,
                    cfg_scale=options.cfg_scale,
                    clip_skip=options.clip_skip,
                    batch_size=options.batch,
                    from_infotext=options.from_infotext,
                    sort_by=options.sort_by,
                    on_progress=lambda done: progress.advance(jobs_task, done),
                )
            except (ValueError, SamplerError, LoraError) as exc:
                console.print(
                    f"adetailer: error: {path}: {exc}",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
                failed += 1
                progress.advance(images_task)
                continue
            output.save(options.out / f"{stem}.png")
            _write_extras(options, stem, output)
            seconds = time.perf_counter() - started
            console.print(
                f"{path.name}: found {output.found}, redrawn {output.redrawn}, {seconds:.1f} s",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            for line in output.warnings:
                console.print(
                    f"adetailer: warning: {line}", markup=False, highlight=False, soft_wrap=True
                )
            progress.advance(images_task)
    done = len(paths) - failed
    print(f"{done} of {len(paths)} image(s) detailed -> {options.out}", file=sys.stderr)
    return 1 if failed else 0


def _write_extras(options: argparse.Namespace, stem: str, output: Any) -> None:
    """What `detect` writes, per tab: `<stem>-preview.png`, `<stem>-mask-<k>.png` (later tabs
    add their ordinal: `<stem>-2nd-preview.png`)."""
    for tab in output.tabs:
        name = stem + infotext_suffix(tab.index).replace(" ", "-")
        if options.previews:
            tab.found.preview().save(options.out / f"{name}-preview.png")
        if options.save_masks:
            for old in options.out.glob(f"{name}-mask-*.png"):
                old.unlink()
            for k, detection in enumerate(tab.masks):
                detection.mask_image().save(options.out / f"{name}-mask-{k}.png")
