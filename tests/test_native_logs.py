"""MediaPipe's native log lines are dropped while a graph starts; every other line is kept."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from adetailer.detectors.native_logs import is_library_line

SCRIPT = textwrap.dedent(
    """
    import os, sys
    from adetailer.detectors.native_logs import library_logs_dropped

    print("before", file=sys.stderr, flush=True)
    with library_logs_dropped():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
        print("ours, inside", file=sys.stderr, flush=True)
        os.write(2, b"W0000 00:00:1796610841.804036   18145 inference_feedback_manager.cc:114] "
                    b"Feedback manager requires a model with a single signature inference.\\n")
        os.write(2, b"E0000 00:00:1796610841.804036   18145 graph.cc:1] a real error\\n")
    print("after", file=sys.stderr, flush=True)
    with library_logs_dropped():
        raise SystemExit("the block's own error still shows")
    """
)


def test_only_the_librarys_info_and_warning_lines_are_dropped():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "before",
        "ours, inside",
        "E0000 00:00:1796610841.804036   18145 graph.cc:1] a real error",
        "after",
        "the block's own error still shows",
    ]


@pytest.mark.parametrize(
    ("line", "dropped"),
    [
        (b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n", True),
        (
            b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
            True,
        ),
        (b"I1207 02:30:41.123456 12345 calculator_graph.cc:77] started\n", True),
        (b"W0000 00:00:1796610842.222028   18145 landmark_projection_calculator.cc:186] x\n", True),
        (b"F0000 00:00:1796610842.222028   18145 graph.cc:1] fatal\n", False),
        (b"ADetailer 1st tab: ad_confidence=7 is not allowed\n", False),
        (b"INFO: something of ours\n", False),
    ],
)
def test_library_lines(line: bytes, dropped: bool):
    assert is_library_line(line) is dropped
