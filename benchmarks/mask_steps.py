"""Worker: what our path adds after inference, by number of detections, with no model.

The YOLO models here find nothing at the default confidence (their heads are set by hand), so
their rows show our fixed cost per image only. A real face model finds a few faces, and each
detection costs us a full-size mask and its steps. To show how that grows, ultralytics results
with k boxes (and, for segmentation, k masks at image size, as `retina_masks=True` returns them)
are made up and run through what our path does with a result: `read_result`, `Detections`, and
`preprocess` with the tab defaults (masks dilated by 4 px).

Run by `benchmarks.run`: `python -m benchmarks.mask_steps --sizes ... --counts ... --out FILE`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.network import NetworkGuard


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", required=True)
    parser.add_argument("--counts", type=int, nargs="+", required=True)
    parser.add_argument("--rounds", type=int, nargs=2, required=True, metavar=("LEAST", "MOST"))
    parser.add_argument("--budget", type=float, required=True, help="seconds per measurement")
    parser.add_argument("--out", type=Path, required=True)
    options = parser.parse_args(argv)

    guard = NetworkGuard().install()
    rows = measure_mask_steps(options)
    result = {"rows": rows, "network_attempts": guard.since(0)}
    options.out.write_text(json.dumps(result, indent=1), encoding="utf8")
    return 0


def measure_mask_steps(options: argparse.Namespace) -> list[dict[str, Any]]:
    import numpy as np
    import torch
    from PIL import Image

    from adetailer.safe_torch import import_ultralytics

    import_ultralytics()
    from ultralytics.engine.results import Results

    from adetailer.args import TabArgs
    from benchmarks.images import SIZES
    from benchmarks.measure import Rounds, median, timed

    args = TabArgs()
    rounds = Rounds(options.rounds[0], options.rounds[1], options.budget)
    rows = []
    for size_name in options.sizes:
        width, height = SIZES[size_name]
        image = Image.new("RGB", (width, height))
        pixels = np.zeros((height, width, 3), dtype=np.uint8)
        for count in options.counts:
            grid = _face_grid(count, width, height)
            boxes = torch.tensor(grid, dtype=torch.float32).reshape(-1, 6)
            masks = torch.zeros((count, height, width), dtype=torch.float32)
            for index, (x1, y1, x2, y2, _, _) in enumerate(grid):
                masks[index, int(y1) : int(y2), int(x1) : int(x2)] = 1.0
            row: dict[str, Any] = {"size": size_name, "detections": count}
            for task, result in (
                ("detect", Results(pixels, "", {0: "face"}, boxes=boxes)),
                ("segment", Results(pixels, "", {0: "person"}, boxes=boxes, masks=masks)),
            ):
                seconds = [timed(after_inference, result, image, args)[0]]
                for _ in range(rounds.count(seconds[0]) - 1):
                    seconds.append(timed(after_inference, result, image, args)[0])
                row[f"{task}_s"] = median(seconds)
            rows.append(row)
    return rows


def after_inference(result: Any, image: Any, args: Any) -> Any:
    """What our path does with an ultralytics result: read it, then the mask steps."""
    from adetailer.detections import Detections
    from adetailer.detectors.yolo import read_result
    from adetailer.masks import preprocess

    found = Detections(image=image, items=tuple(read_result(result, image.size)))
    return preprocess(found, args)


def _face_grid(count: int, width: int, height: int) -> list[tuple[float, ...]]:
    """`count` face-sized boxes (an eighth of the width) in rows, as a group photo has them."""
    side = width / 8
    per_row = max(1, int(width // (side * 1.5)))
    boxes = []
    for index in range(count):
        column, row = index % per_row, index // per_row
        x1 = side * 0.25 + column * side * 1.5
        y1 = side * 0.25 + (row * side * 1.5) % (height - side * 1.5)
        boxes.append((x1, y1, x1 + side, y1 + side, 0.9, 0.0))
    return boxes


if __name__ == "__main__":
    sys.exit(main())
