"""An image's own infotext, as A1111 stores it: read from a file, parsed, written back.

A1111 writes the generation's parameters as one text: the prompt, a "Negative prompt:" line,
and a last line of `Key: value` pairs (a value with a comma, colon or newline JSON-quoted). PNGs
carry it in the `parameters` text chunk, JPEG and WebP in the EXIF UserComment. The standalone
detailer reads it to take the image's prompt, seed, sampler, steps and CFG scale as defaults,
and writes the source's text back with its own keys added, so PNG Info and "Send to txt2img"
read the result like any A1111 image.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, PngImagePlugin

from adetailer.args import TabArgs
from adetailer.infotext import DETECTIONS_KEY, WARNINGS_KEY, to_infotext_params

PARAMETERS = "parameters"
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_NEGATIVE = "Negative prompt:"


@dataclass
class Infotext:
    """A parsed infotext: the prompts, and every `Key: value` of the last line as text."""

    prompt: str = ""
    negative_prompt: str = ""
    params: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.params.get(key, default)


def read_infotext(image: Image.Image) -> str | None:
    """The infotext an A1111 image carries: PNG `parameters`, else the EXIF UserComment."""
    text = image.info.get(PARAMETERS)
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if isinstance(text, str) and text.strip():
        return text
    try:
        comment = image.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    except Exception:  # a damaged EXIF block is no infotext, not a failure
        return None
    text = _decode_user_comment(comment) if comment is not None else None
    return text if text and text.strip() else None


def _decode_user_comment(value: Any) -> str | None:
    """EXIF UserComment: an 8-byte charset prefix, then the text (A1111 writes "UNICODE", UTF-16)."""
    if isinstance(value, str):
        return value.rstrip("\x00")
    if not isinstance(value, bytes):
        return None
    prefix, body = value[:8], value[8:]
    if prefix.startswith(b"UNICODE"):
        # piexif writes big-endian; some tools write little-endian: the one with ASCII-like
        # high bytes (zeros) at the even positions is big-endian.
        big_endian = body[0::2].count(0) >= body[1::2].count(0)
        return body.decode("utf-16-be" if big_endian else "utf-16-le", errors="replace").rstrip(
            "\x00"
        )
    if prefix.startswith((b"ASCII", b"\x00" * 8)):
        return body.decode("utf-8", errors="replace").rstrip("\x00")
    return value.decode("utf-8", errors="replace").rstrip("\x00")


def parse_infotext(text: str) -> Infotext:
    """A1111's reading: the last line holds the parameters when it has at least three of them."""
    *lines, last = text.strip().split("\n")
    if len(_PARAM.findall(last)) < 3:
        lines.append(last)
        last = ""
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for line in lines:
        line = line.strip()
        if line.startswith(_NEGATIVE):
            in_negative = True
            line = line[len(_NEGATIVE) :].strip()
        (negative if in_negative else prompt).append(line)
    params: dict[str, str] = {}
    for key, value in _PARAM.findall(last):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            with contextlib.suppress(json.JSONDecodeError):  # A1111 keeps it as written
                value = json.loads(value)
        params[key] = str(value)
    return Infotext("\n".join(prompt), "\n".join(negative), params)


def quote(value: Any) -> str:
    """A value as A1111 writes it: JSON-quoted when it holds a comma, colon or newline."""
    text = str(value)
    if any(c in text for c in ",:\n"):
        return json.dumps(text, ensure_ascii=False)
    return text


def format_infotext(prompt: str, negative_prompt: str, params: Mapping[str, Any]) -> str:
    """The text A1111's `create_infotext` writes; None values are left out."""
    line = ", ".join(f"{key}: {quote(value)}" for key, value in params.items() if value is not None)
    negative = f"\n{_NEGATIVE} {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative}\n{line}".strip()


def png_info(text: str) -> PngImagePlugin.PngInfo:
    """A PNG text chunk holding `text` as A1111's `parameters`."""
    info = PngImagePlugin.PngInfo()
    info.add_text(PARAMETERS, text)
    return info


def detailed_infotext(
    source: Infotext | None,
    prompt: str,
    negative_prompt: str,
    generation: Mapping[str, Any],
    tabs: Sequence[tuple[int, TabArgs]],
    records: Sequence[Mapping[str, Any]] = (),
    warnings: Sequence[str] = (),
) -> str:
    """A detailed image's infotext: the source's parameters with this run's `generation` values
    (Steps, Sampler, Seed, ...), then ADetailer's keys as the web UI writes them.

    Keys of an earlier ADetailer run in the source are dropped: the new ones describe the image.
    """
    params: dict[str, Any] = {}
    if source is not None:
        params = {k: v for k, v in source.params.items() if not k.startswith("ADetailer ")}
    params |= dict(generation)
    params |= to_infotext_params(tabs)
    if records:
        params[DETECTIONS_KEY] = json.dumps(
            list(records), ensure_ascii=False, separators=(",", ":")
        )
    if warnings:
        params[WARNINGS_KEY] = " | ".join(warnings)
    return format_infotext(prompt, negative_prompt, params)
