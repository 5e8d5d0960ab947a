"""Per-detection prompts and seeds from a tab's prompt box.

`[SEP]` splits the box into one prompt per detection (in inpaint order; the last one repeats),
a segment that is only `[SKIP]` leaves that detection alone, `[PROMPT]` stands for the image's
own prompt, and a blank segment means the image's own prompt.

Seed tokens choose the seed of one detection: `[SEP:1234]` fixes the seed of the detection whose
segment follows it, `[SEP:R]` gives it a random one, and a leading `[SEED:1234]` or `[SEED:R]` does
the same for the first segment. A detection without a token (including the ones past the last
segment, which repeat its prompt) keeps the usual seed. In a negative prompt the tokens only
separate: detections take their seeds from the positive prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

SEP = "[SEP]"
SKIP = "[SKIP]"
PROMPT = "[PROMPT]"
RANDOM = "R"
MAX_SEED = 2**32 - 1  # A1111's seeds are 32-bit

Seed = int | str | None  # a fixed seed, RANDOM, or None: the usual rule

# [SEP], [SEP:<value>] and [SEED:<value>] with the spaces around them; "[SEED]" without a value
# is not a token (it stays text, as it always was)
_TOKEN = re.compile(
    r"\s*\[(?:(?P<sep>SEP)(?::(?P<sep_value>[^\[\]]*))?|SEED:(?P<seed>[^\[\]]*))\]\s*"
)
_SKIP_RE = re.compile(r"\s*\[SKIP\]\s*")
_SEED_VALUE = re.compile(r"\d{1,10}")


class SeedTokenError(ValueError):
    """A seed token whose value is not a seed; `token` is the token as written."""

    def __init__(self, token: str, reason: str) -> None:
        super().__init__(f"{token} {reason}")
        self.token = token
        self.reason = reason


@dataclass(frozen=True)
class PromptBox:
    """A prompt box cut at its separators: each segment's text and the seed its token gave."""

    texts: tuple[str, ...]
    seeds: tuple[Seed, ...]

    @property
    def has_seeds(self) -> bool:
        return any(seed is not None for seed in self.seeds)


def _seed(token: str, value: str) -> int | str:
    value = value.strip()
    if value.upper() == RANDOM:
        return RANDOM
    if _SEED_VALUE.fullmatch(value) and int(value) <= MAX_SEED:
        return int(value)
    raise SeedTokenError(
        token, f"is not a seed token: expected a whole number from 0 to {MAX_SEED}, or R"
    )


def parse_box(box: str) -> PromptBox:
    """The segments of a prompt box and their seeds; SeedTokenError for a malformed token."""
    texts: list[str] = []
    seeds: list[Seed] = []
    seed: Seed = None
    start = 0
    for match in _TOKEN.finditer(box):
        token = match.group(0).strip()
        if match.group("sep") is None:  # [SEED:...]
            if match.start() != 0 or texts:
                raise SeedTokenError(
                    token, "must come first in the prompt, before any text or [SEP]"
                )
            seed = _seed(token, match.group("seed"))
            start = match.end()
            continue
        texts.append(box[start : match.start()])
        seeds.append(seed)
        value = match.group("sep_value")
        seed = None if value is None else _seed(token, value)
        start = match.end()
    texts.append(box[start:])
    seeds.append(seed)
    return PromptBox(tuple(texts), tuple(seeds))


def malformed_token(box: str) -> SeedTokenError | None:
    """The first malformed seed token of a prompt box, or None when there is none."""
    try:
        parse_box(box)
    except SeedTokenError as error:
        return error
    return None


def resolve(text: str, main_prompt: str, replacements: Sequence[tuple[str, str]] = ()) -> str:
    """One segment as the redraw uses it: blank is the image's prompt, `[PROMPT]` stands for it.

    `replacements` are (search, replace) pairs an X/Y/Z "Prompt S/R" axis applies.
    """
    segment = text.replace(PROMPT, main_prompt) if text.strip() else main_prompt
    for search, replace in replacements:
        segment = segment.replace(search, replace)
    return segment


def split_prompt(
    box: str, main_prompt: str, replacements: Sequence[tuple[str, str]] = ()
) -> list[str]:
    """The segments of a prompt box, each resolved against the image's own prompt."""
    return [resolve(text, main_prompt, replacements) for text in parse_box(box).texts]


def render(texts: Sequence[str], seeds: Sequence[Seed]) -> str:
    """A prompt box that parses back to these segments and seeds."""
    parts = []
    for position, (text, seed) in enumerate(zip(texts, seeds, strict=True)):
        if position == 0:
            parts.append(text if seed is None else f"[SEED:{seed}] {text}")
        else:
            parts.append(f" [SEP] {text}" if seed is None else f" [SEP:{seed}] {text}")
    return "".join(parts)


def pick(segments: Sequence[str], index: int) -> str:
    """The segment for the detection at `index`: the last segment serves every later one."""
    return segments[min(index, len(segments) - 1)]


def seed_token(box: PromptBox, index: int) -> Seed:
    """The seed a token gave the detection at `index`: only its own segment's token counts."""
    return box.seeds[index] if index < len(box.seeds) else None


def is_skip(segment: str) -> bool:
    return _SKIP_RE.fullmatch(segment) is not None
