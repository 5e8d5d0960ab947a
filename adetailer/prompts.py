"""Per-detection prompts from a tab's prompt box.

`[SEP]` splits the box into one prompt per detection (in inpaint order; the last one repeats),
a segment that is only `[SKIP]` leaves that detection alone, `[PROMPT]` stands for the image's
own prompt, and a blank segment means the image's own prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

SEP = "[SEP]"
SKIP = "[SKIP]"
PROMPT = "[PROMPT]"

_SEP_RE = re.compile(r"\s*\[SEP\]\s*")
_SKIP_RE = re.compile(r"\s*\[SKIP\]\s*")


def split_prompt(
    box: str, main_prompt: str, replacements: Sequence[tuple[str, str]] = ()
) -> list[str]:
    """The segments of a prompt box, each resolved against the image's own prompt.

    `replacements` are (search, replace) pairs an X/Y/Z "Prompt S/R" axis applies.
    """
    segments = []
    for segment in _SEP_RE.split(box):
        segment = segment.replace(PROMPT, main_prompt) if segment.strip() else main_prompt
        for search, replace in replacements:
            segment = segment.replace(search, replace)
        segments.append(segment)
    return segments


def pick(segments: Sequence[str], index: int) -> str:
    """The segment for the detection at `index`: the last segment serves every later one."""
    return segments[min(index, len(segments) - 1)]


def is_skip(segment: str) -> bool:
    return _SKIP_RE.fullmatch(segment) is not None
