"""`python -m adetailer`: detection and masks without the web UI.

    python -m adetailer detect PATH... [--model NAME] [--confidence X] [--tiles] [--out DIR]
    python -m adetailer detail PATH... --checkpoint CKPT [--out DIR]  (see detail_command)
    python -m adetailer models

Exit code 2 with one line on stderr for anything the user has to fix before a run (bad option,
unknown model, missing path), before any image is read. An image that cannot be read or
detected is reported in one line and skipped; the run goes on and exits with 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from PIL import Image, UnidentifiedImageError

from adetailer.__version__ import __version__
from adetailer.args import MASK_FILTER_METHODS, MASK_MERGE_INVERT, TabArgs, allowed_values
from adetailer.masks import SORT_NONE, SORT_ORDERS

if TYPE_CHECKING:
    from adetailer.registry import ModelRegistry

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
DEFAULT_MODEL = "mediapipe_face_full"

# flag -> tab argument; the same names and meaning as the web UI's options
MASK_FLAGS: dict[str, str] = {
    "confidence": "ad_confidence",
    "classes": "ad_model_classes",
    "mask_min_ratio": "ad_mask_min_ratio",
    "mask_max_ratio": "ad_mask_max_ratio",
    "mask_k": "ad_mask_k",
    "mask_filter_method": "ad_mask_filter_method",
    "x_offset": "ad_x_offset",
    "y_offset": "ad_y_offset",
    "dilate_erode": "ad_dilate_erode",
    "mask_merge_invert": "ad_mask_merge_invert",
    "tiles": "ad_tiled_detection",
}


class UsageError(Exception):
    """Something the user has to fix; printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _default_models_dir() -> Path:
    return Path(os.environ.get("ADETAILER_MODELS_DIR", "models/adetailer"))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m adetailer", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"adetailer {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)

    models_help = "folder of .pt models (default: $ADETAILER_MODELS_DIR or ./models/adetailer)"
    detect = commands.add_parser("detect", help="detect, write boxes (JSON), a preview and masks")
    detect.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    detect.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"model name (default: {DEFAULT_MODEL})"
    )
    detect.add_argument("--out", type=Path, default=Path("detect-out"), help="output folder")
    detect.add_argument("--models-dir", type=Path, default=None, help=models_help)
    detect.add_argument("--extra-models-dirs", default="", help="more model folders, '|'-separated")
    detect.add_argument("--device", default="", help='"cpu", "cuda:0", ... (default: automatic)')
    detect.add_argument("--offline", action="store_true", help="never download a model")
    detect.add_argument(
        "--sort-by",
        default=SORT_NONE,
        choices=SORT_ORDERS,
        help="order of the masks",
    )
    detect.add_argument("--confidence", type=float, default=0.3, help="minimum score (0..1)")
    detect.add_argument("--classes", default="", help="comma-separated class names (YOLO-World)")
    detect.add_argument("--tiles", action="store_true", help="also detect on tiles (small faces)")
    detect.add_argument("--mask-min-ratio", type=float, default=0.0)
    detect.add_argument("--mask-max-ratio", type=float, default=1.0)
    detect.add_argument("--mask-k", type=int, default=0, help="keep the top k masks (0 = all)")
    detect.add_argument("--mask-filter-method", default="Area", choices=MASK_FILTER_METHODS)
    detect.add_argument("--x-offset", type=int, default=0)
    detect.add_argument("--y-offset", type=int, default=0, help="positive moves the masks up")
    detect.add_argument("--dilate-erode", type=int, default=4, help="negative erodes")
    detect.add_argument("--mask-merge-invert", default="None", choices=MASK_MERGE_INVERT)

    from adetailer.detail_command import add_parser as add_detail_parser

    add_detail_parser(commands, models_help)

    models = commands.add_parser("models", help="list every known model, its kind and status")
    models.add_argument("--models-dir", type=Path, default=None, help=models_help)
    models.add_argument("--extra-models-dirs", default="", help="more model folders, '|'-separated")
    models.add_argument("--offline", action="store_true", help="as if downloads were off")
    return parser


def tab_from_options(options: argparse.Namespace) -> TabArgs:
    values: dict[str, Any] = {"ad_model": options.model}
    values.update({key: getattr(options, flag) for flag, key in MASK_FLAGS.items()})
    try:
        return TabArgs(**values)
    except ValueError as exc:
        for error in getattr(exc, "errors", list)():
            key = str(error["loc"][0])
            flag = next(f for f, k in MASK_FLAGS.items() if k == key)
            value = values[key]
            raise UsageError(
                f"--{flag.replace('_', '-')} {value} is not allowed; expected {allowed_values(key)}"
            ) from None
        raise UsageError(str(exc)) from None


def image_paths(paths: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"{path}: no such file or folder")
    if not found:
        raise UsageError("no images found in " + ", ".join(str(p) for p in paths))
    return found


class ImageError(Exception):
    """One image that could not be read or detected; the run goes on without it."""


def open_image(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageError(
            f"{path}: not a readable image ({exc.__class__.__name__}: {exc})"
        ) from None


def _unique_stems(paths: Sequence[Path]) -> list[str]:
    seen: dict[str, int] = {}
    stems = []
    for path in paths:
        count = seen.get(path.stem, 0)
        seen[path.stem] = count + 1
        stems.append(path.stem if count == 0 else f"{path.stem}-{count + 1}")
    return stems


def _registry(options: argparse.Namespace, allow_download: bool = True) -> ModelRegistry:
    from adetailer.registry import ModelRegistry

    models_dir = options.models_dir or _default_models_dir()
    return ModelRegistry(models_dir, options.extra_models_dirs, allow_download=allow_download)


def run_detect(options: argparse.Namespace) -> int:
    args = tab_from_options(options)
    paths = image_paths(options.paths)
    registry = _registry(options, allow_download=not options.offline)
    load_model(registry, args.ad_model, options.device)
    options.out.mkdir(parents=True, exist_ok=True)

    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)  # stdout stays clean for whoever reads it
    failed = 0
    with Progress(
        console=console, transient=True, disable=len(paths) < 2 or not console.is_terminal
    ) as progress:
        task = progress.add_task("detecting", total=len(paths))
        for path, stem in zip(paths, _unique_stems(paths), strict=True):
            try:
                detect_image(path, stem, args, registry, options)
            except ImageError as exc:
                failed += 1
                print(f"adetailer: error: {exc}", file=sys.stderr)  # through the progress bar
            progress.advance(task)
    count = len(paths)
    print(
        f"{count} image{'' if count == 1 else 's'}, {failed} failed -> {options.out}",
        file=sys.stderr,
    )
    return 1 if failed else 0


def detect_image(
    path: Path, stem: str, args: TabArgs, registry: ModelRegistry, options: argparse.Namespace
) -> None:
    """One image from file to outputs; ImageError when it cannot be read or detected."""
    from adetailer.detectors.base import DetectorError
    from adetailer.pipeline import detect_and_mask

    image = open_image(path)
    try:
        result = detect_and_mask(
            image, args, registry, sort_by=options.sort_by, device=options.device
        )
    except DetectorError as exc:
        raise ImageError(f"{path}: {exc}") from None
    write_outputs(options.out, stem, path, result.found, result.masks)


def load_model(registry: ModelRegistry, name: str, device: str) -> None:
    """Check, fetch and load the model before the first image, so that a model that cannot be
    had (unknown, no package, offline, damaged file, bad device) stops the run at once."""
    from adetailer.detectors import load_detector
    from adetailer.detectors.base import DetectorError, check_package, is_gpu_device
    from adetailer.registry import UnknownModelError

    try:
        entry = registry.get(name)
        check_package(entry.name, entry.kind)
        entry = registry.prepare(name)
        load_detector(entry, device=device)
    except (DetectorError, UnknownModelError) as exc:
        raise UsageError(str(exc)) from None
    if entry.kind == "mediapipe" and is_gpu_device(device):
        print(
            f"adetailer: note: {name} runs on the CPU (MediaPipe's built-in models have no GPU "
            f"path); --device {device} applies to YOLO models",
            file=sys.stderr,
        )


def write_outputs(out: Path, stem: str, source: Path, found, masks) -> None:
    """`<stem>.json`, `<stem>-preview.png`, and one `<stem>-mask-<k>.png` per mask after preprocessing."""
    report = {"image": str(source), **found.to_dict()}
    report["masks"] = [d.to_dict() for d in masks]  # the k-th entry describes <stem>-mask-<k>.png
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    found.preview().save(out / f"{stem}-preview.png")
    for old in out.glob(f"{stem}-mask-*.png"):
        old.unlink()
    for k, detection in enumerate(masks):
        detection.mask_image().save(out / f"{stem}-mask-{k}.png")


def run_models(options: argparse.Namespace) -> int:
    """Every known model with its status, whether it can run here or not; never downloads."""
    registry = _registry(options, allow_download=not options.offline)
    statuses = registry.statuses()
    width = max(len(s.name) for s in statuses) + 2
    print(f"{'NAME':<{width}}{'KIND':<12}STATUS")
    for status in statuses:
        print(f"{status.name:<{width}}{status.kind:<12}{status.describe()}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        options = parser.parse_args(argv)
        if options.command == "detect":
            return run_detect(options)
        if options.command == "detail":
            from adetailer.detail_command import run_detail

            return run_detail(options)
        if options.command == "models":
            return run_models(options)
        parser.print_help(sys.stderr)
        return 2
    except UsageError as exc:
        print(f"adetailer: error: {exc}", file=sys.stderr)
        return 2
