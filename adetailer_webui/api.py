"""HTTP routes under /adetailer/v1, added to A1111's FastAPI app when it starts.

GET  /adetailer/v1/version   {"version": "..."}
GET  /adetailer/v1/schema    the JSON schema of one tab's arguments
GET  /adetailer/v1/ad_model  {"ad_model": [model names]}  (the folder is scanned again)
     ?all=true                 also the models that cannot run now, and each one's status:
                               {"ad_model": [every name], "models": [{"name", "kind", "status",
                               "path", "note"}]}
POST /adetailer/v1/detect    an image and a tab's detection and mask options in; boxes, labels,
                             scores and base64 PNG masks out; nothing is generated

The routes that read the disk or run a model are plain `def`s: FastAPI runs them in its worker
threads, so a folder scan or a detection never blocks the server's event loop.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from PIL import Image, UnidentifiedImageError

from adetailer.__version__ import __version__
from adetailer.args import parse_tab, tab_json_schema, tab_label
from adetailer.detectors.base import DetectorError, first_line
from adetailer.masks import SORT_NONE, SORT_ORDERS
from adetailer.pipeline import detect_and_mask
from adetailer.registry import UnknownModelError
from adetailer_webui import host, log, settings


class RequestError(ValueError):
    """A request the caller has to fix; answered with HTTP 422 and one line."""


def decode_image(data: Any, max_pixels: int | None = None) -> Image.Image:
    """The image in a base64 string; one larger than `max_pixels` is refused from its header,
    before its pixels are decoded (a small file can declare a huge image)."""
    if not isinstance(data, str) or not data:
        raise RequestError('"image" must be a base64-encoded image (PNG, JPEG, WebP)')
    if data.startswith("data:") and "," in data:
        data = data.split(",", 1)[1]
    try:
        raw = base64.b64decode(data, validate=False)
        with Image.open(io.BytesIO(raw)) as image:
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                raise RequestError(_too_large(width, height, max_pixels))
            image.load()
            return image.copy()
    except RequestError:
        raise
    except Image.DecompressionBombError:
        # Pillow refuses twice its MAX_IMAGE_PIXELS when it opens the file, before we see the size
        pillow_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        if max_pixels is not None and max_pixels <= pillow_limit:
            raise RequestError(f'"image" is {_over(max_pixels)}') from None
        raise RequestError(
            f'"image" is larger than Pillow allows ({pillow_limit} pixels)'
        ) from None
    except UnidentifiedImageError:
        raise RequestError(
            '"image" is not a readable base64 image: not a known image format'
        ) from None
    except (binascii.Error, OSError, ValueError) as exc:
        raise RequestError(f'"image" is not a readable base64 image: {exc}') from None


def _too_large(width: int, height: int, max_pixels: int) -> str:
    return (
        f'"image" is {width}x{height} ({width * height / 1e6:.1f} megapixels), {_over(max_pixels)}'
    )


def _over(max_pixels: int) -> str:
    return f"larger than the limit of {max_pixels / 1e6:g} megapixels (setting ad_detect_max_megapixels)"


def max_detect_pixels() -> int:
    try:
        megapixels = float(settings.read("ad_detect_max_megapixels"))
    except (TypeError, ValueError):
        megapixels = settings.DEFAULTS["ad_detect_max_megapixels"]
    return int(max(megapixels, 0.0) * 1e6)


def encode_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def detect_request(body: Any) -> dict[str, Any]:
    """What POST /adetailer/v1/detect answers, or RequestError for a bad request."""
    if not isinstance(body, dict):
        raise RequestError('the body must be a JSON object with an "image" and ad_* options')
    options = dict(body)
    image = decode_image(options.pop("image", None), max_detect_pixels())
    sort_by = options.pop("sort_by", SORT_NONE)
    if sort_by not in SORT_ORDERS:
        allowed = ", ".join(f'"{o}"' for o in SORT_ORDERS)
        raise RequestError(f"sort_by={sort_by!r} is not allowed; expected one of {allowed}")
    include_preview = bool(options.pop("preview", False))
    options.setdefault("ad_model", "mediapipe_face_full")
    result = parse_tab(options, 0, host.choices())
    if result.args is None:
        raise RequestError(str(result.error).removeprefix(f"{tab_label(0)}: "))
    if result.args.ad_model == "None":
        raise RequestError(
            'ad_model="None" detects nothing; expected a model name (GET /adetailer/v1/ad_model)'
        )
    try:
        found = detect_and_mask(
            image, result.args, host.registry(), sort_by=sort_by, device=host.detection_device()
        )
    except DetectorError as exc:  # the model could not be had or was refused: worth a log line
        log.warn(f"detect request: {first_line(exc)}")
        raise RequestError(str(exc)) from None
    except UnknownModelError as exc:
        raise RequestError(str(exc)) from None
    answer: dict[str, Any] = {
        **found.found.to_dict(),
        "masks": [{**d.to_dict(), "mask": encode_png(d.mask_image())} for d in found.masks],
        "warnings": list(result.warnings),
    }
    if include_preview:
        answer["preview"] = encode_png(found.found.preview())
    return answer


def add_routes(_demo: Any, app: Any) -> None:
    """`on_app_started` callback (also called with `--nowebui`, where demo is None)."""
    from fastapi import Body, Query
    from fastapi.responses import JSONResponse

    @app.get("/adetailer/v1/version")
    async def version() -> dict[str, str]:
        return {"version": __version__}

    @app.get("/adetailer/v1/schema")
    async def schema() -> dict[str, Any]:
        return tab_json_schema()

    @app.get("/adetailer/v1/ad_model")
    def ad_model(every: bool = Query(False, alias="all")) -> dict[str, Any]:
        registry = host.registry(refresh=True)
        if not every:
            return {"ad_model": registry.names()}
        statuses = registry.statuses()
        return {
            "ad_model": [status.name for status in statuses],
            "models": [status.to_dict() for status in statuses],
        }

    @app.post("/adetailer/v1/detect")
    def detect(body: Any = Body(...)) -> Any:  # noqa: B008 - FastAPI's way of taking a body
        try:
            return detect_request(body)
        except RequestError as exc:
            return JSONResponse(status_code=422, content={"detail": str(exc)})
        except Exception as exc:
            log.error("detect request failed")
            return JSONResponse(status_code=500, content={"detail": f"detection failed: {exc}"})
