"""A1111's prompt syntax, read into plain data: attention weights, BREAK, and extra-network tags.

`(word)` weighs a part 1.1 times, `[word]` 1/1.1 times, `(word:1.3)` 1.3 times; brackets nest by
multiplying; `\\(`, `\\)`, `\\[`, `\\]` and `\\\\` stand for the characters themselves. A bracket
left open weighs everything after it. `BREAK` (upper case, a word of its own) starts a new
77-token chunk. `<lora:NAME:WEIGHT>` tags are taken out of the text before any of this, as the
web UI does with its extra networks.

The standalone backend turns these parts into weighted CLIP embeddings; nothing here needs torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROUND_WEIGHT = 1.1
SQUARE_WEIGHT = 1 / 1.1
BREAK = "BREAK"

_TOKEN = re.compile(
    r"""
    \\[()\[\]\\]        # an escaped bracket or backslash
    | \\                # a lone backslash
    | \(                # open round
    | \[                # open square
    | :\s*([+-]?[.\d]+)\s*\)   # ":1.3)": closes a round bracket with its own weight
    | \)                # close round
    | ]                 # close square
    | [^\\()\[\]:]+     # plain text
    | :                 # a colon that is not a weight
    """,
    re.VERBOSE,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*")
_EXTRA_NETWORK = re.compile(r"<(\w+):([^>]+)>")


@dataclass(frozen=True)
class Part:
    """A stretch of prompt text and its weight; `is_break` marks a BREAK (its text is empty)."""

    text: str
    weight: float = 1.0
    is_break: bool = False


def parse_attention(prompt: str) -> list[Part]:
    """The prompt as weighted parts, neighbours with equal weights joined; never empty."""
    parts: list[list] = []  # [text, weight, is_break], weights are multiplied in place
    round_open: list[int] = []
    square_open: list[int] = []

    def weigh_from(start: int, factor: float) -> None:
        for part in parts[start:]:
            part[1] *= factor

    for match in _TOKEN.finditer(prompt):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            parts.append([token[1:], 1.0, False])
        elif token == "(":
            round_open.append(len(parts))
        elif token == "[":
            square_open.append(len(parts))
        elif weight is not None and round_open and _is_number(weight):
            weigh_from(round_open.pop(), float(weight))
        elif token == ")" and round_open:
            weigh_from(round_open.pop(), ROUND_WEIGHT)
        elif token == "]" and square_open:
            weigh_from(square_open.pop(), SQUARE_WEIGHT)
        else:
            for index, piece in enumerate(_BREAK.split(token)):
                if index > 0:
                    parts.append(["", -1.0, True])
                parts.append([piece, 1.0, False])
    for start in round_open:
        weigh_from(start, ROUND_WEIGHT)
    for start in square_open:
        weigh_from(start, SQUARE_WEIGHT)

    merged: list[Part] = []
    for text, weight, is_break in parts:
        if is_break:
            merged.append(Part("", 1.0, True))
        elif not text:
            continue
        elif merged and not merged[-1].is_break and merged[-1].weight == weight:
            merged[-1] = Part(merged[-1].text + text, weight)
        else:
            merged.append(Part(text, weight))
    return merged or [Part("", 1.0)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class NetworkTag:
    """`<lora:NAME:TE[:UNET]>`: a network, its text-encoder weight and its UNet weight."""

    kind: str
    name: str
    text_encoder_weight: float = 1.0
    unet_weight: float = 1.0


def extract_networks(prompt: str) -> tuple[str, list[NetworkTag]]:
    """The prompt without its `<kind:name:weights>` tags, and the tags (A1111's extra networks).

    A weight that is not a number makes the tag an error, reported with the tag's text.
    """
    tags: list[NetworkTag] = []

    def take(match: re.Match[str]) -> str:
        kind, args = match.group(1), match.group(2).split(":")
        name = args[0]
        try:
            te = float(args[1]) if len(args) > 1 and args[1].strip() else 1.0
            unet = float(args[2]) if len(args) > 2 and args[2].strip() else te
        except ValueError:
            msg = f"{match.group(0)}: the weights after the name must be numbers"
            raise ValueError(msg) from None
        tags.append(NetworkTag(kind, name, te, unet))
        return ""

    return _EXTRA_NETWORK.sub(take, prompt), tags


CHUNK_LENGTH = 75  # tokens per chunk, between the start and end tokens CLIP adds
COMMA_BACKTRACK = 20  # A1111's "prompt word wrap length limit" default


@dataclass
class Chunk:
    """Up to 75 tokens and their weights (the start, end and padding tokens come later)."""

    tokens: list[int]
    weights: list[float]


def chunk_tokens(
    parts: list[tuple[list[int], float] | None],
    comma: int,
    length: int = CHUNK_LENGTH,
    backtrack: int = COMMA_BACKTRACK,
) -> list[Chunk]:
    """Split weighted token runs into chunks the way A1111 does; `None` is a BREAK.

    A chunk ends at `length` tokens, or at a BREAK. When a full chunk had a comma within its
    last `backtrack` tokens, the words after that comma move to the next chunk, so a phrase
    is not cut in two. There is always at least one chunk.
    """
    chunks: list[Chunk] = []
    current = Chunk([], [])
    last_comma = -1

    def close() -> None:
        nonlocal current, last_comma
        chunks.append(current)
        current = Chunk([], [])
        last_comma = -1

    for part in parts:
        if part is None:
            close()
            continue
        tokens, weight = part
        for token in tokens:
            if token == comma:
                last_comma = len(current.tokens)
            elif (
                backtrack
                and len(current.tokens) == length
                and last_comma != -1
                and len(current.tokens) - last_comma <= backtrack
            ):
                cut = last_comma + 1
                moved = Chunk(current.tokens[cut:], current.weights[cut:])
                current.tokens, current.weights = current.tokens[:cut], current.weights[:cut]
                close()
                current = moved
            if len(current.tokens) == length:
                close()
            current.tokens.append(token)
            current.weights.append(weight)
    if current.tokens or not chunks:
        close()
    return chunks
