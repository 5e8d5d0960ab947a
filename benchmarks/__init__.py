"""Benchmarks of ADetailer's per-image detection path and start-up (issue 5, section 1).

`python -m benchmarks` measures, on this machine, and writes `benchmarks/RESULTS.md`:

- per-image cost of detection + mask preprocessing for every built-in MediaPipe model and for
  YOLO detection/segmentation models built from ultralytics' yolov8n/yolov8s yaml files, on the
  tests' photos and a composed group photo, at 512x768 and 1024x1536, cold and warm, with
  tiling off and on;
- the same work done the original's way (the model loaded again for every image), that
  loading by itself against our cache hit, and the bare detector inference, measured in the
  same run and reported as ratios; peak memory;
- start-up: importing the core and listing models, and loading our script in the A1111 test
  double, with every network attempt refused and counted.

Speed targets live here, as ratios against baselines measured in the same run, and never in
timed tests. `--quick` is a smoke test (tests/test_benchmarks.py).
"""
