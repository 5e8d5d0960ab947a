"""Keep MediaPipe's native log lines (TFLite, glog, absl) off the user's terminal.

MediaPipe's C++ code writes straight to file descriptor 2, where no Python logging setting and
no environment variable reaches (GLOG_minloglevel and TF_CPP_MIN_LOG_LEVEL were tried, on
0.10.11 and 0.10.21): "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." when the first
graph starts, and in newer releases a warning or two per graph ("W0000 ... .cc:114] Feedback
manager requires ..."). These come only while a graph is built and runs for the first time.

So, for that short window only, descriptor 2 points at a temporary file; afterwards every line
that is not such a log line (a warning or error of ours, of Python, of another thread) is
written to the real stderr, and only the library's INFO and WARNING lines are dropped. Its
ERROR and FATAL lines still show.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

STDERR_FD = 2

_LIBRARY_LINE = re.compile(
    rb"INFO: Created TensorFlow Lite \w+ delegate for \w+\."
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    # glog / absl: severity I or W, date, time, thread id, file:line]
    rb"|[IW]\d{4}[ \d:.]+\d+ [\w./-]+:\d+\] .*"
)
_lock = threading.Lock()  # one redirection at a time: each restores what it found


def is_library_line(line: bytes) -> bool:
    return _LIBRARY_LINE.fullmatch(line.rstrip(b"\r\n")) is not None


@contextlib.contextmanager
def library_logs_dropped() -> Iterator[None]:
    """Run the block with native INFO/WARNING log lines on stderr dropped, the rest kept."""
    with _lock:
        try:
            saved = os.dup(STDERR_FD)
        except OSError:  # no stderr at all (a windowed process): nothing to keep clean
            yield
            return
        with tempfile.TemporaryFile() as captured:
            sys.stderr.flush()
            os.dup2(captured.fileno(), STDERR_FD)
            try:
                yield
            finally:
                with contextlib.suppress(ValueError, OSError):
                    sys.stderr.flush()
                os.dup2(saved, STDERR_FD)
                os.close(saved)
                captured.seek(0)
                kept = [line for line in captured if not is_library_line(line)]
                with open(STDERR_FD, "wb", closefd=False) as stderr:
                    stderr.writelines(kept)
