from __future__ import annotations

import asyncio
import base64
import io
import struct
import threading
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from adetailer.__version__ import __version__
from adetailer.boxes import box_iou
from tests.extension.test_generation import calls_so_far, infotext_params, inner_calls

FACE_TAB = {"ad_model": "mediapipe_face_full"}


def txt2img(webui, args):
    return webui.txt2img_api(
        {
            "prompt": "a photo",
            "seed": 1,
            "steps": 20,
            "width": 768,
            "height": 512,
            "alwayson_scripts": {"ADetailer": {"args": args}},
        }
    )


@pytest.mark.parametrize(
    "args",
    [
        [True, FACE_TAB],  # the original runs a second, default tab for this one
        [FACE_TAB],
        [True, False, FACE_TAB],
    ],
)
def test_an_api_request_runs_exactly_the_tabs_it_sends(webui, generates_faces, args):
    start = calls_so_far()
    processed = txt2img(webui, args)
    assert len(inner_calls(start)) == 2
    params = infotext_params(processed)
    assert params["ADetailer model"] == "mediapipe_face_full"
    assert not any(key.startswith("ADetailer model ") for key in params)


def test_two_tabs_from_the_api(webui, generates_faces):
    second = {"ad_model": "mediapipe_face_short", "ad_prompt": "x"}
    start = calls_so_far()
    processed = txt2img(webui, [True, False, {**FACE_TAB, "ad_y_offset": -250}, second])
    assert len(inner_calls(start)) == 4
    assert infotext_params(processed)["ADetailer model 2nd"] == "mediapipe_face_short"


def test_the_script_name_is_case_insensitive(webui, generates_faces):
    start = calls_so_far()
    webui.txt2img_api(
        {
            "prompt": "a",
            "width": 768,
            "height": 512,
            "alwayson_scripts": {"adetailer": {"args": [FACE_TAB]}},
        }
    )
    assert len(inner_calls(start)) == 2


def test_a_bad_tab_is_skipped_and_reported_and_the_image_comes_back(webui, generates_faces, capsys):
    bad = {"ad_model": "mediapipe_face_full", "ad_confidence": 7}
    start = calls_so_far()
    processed = txt2img(webui, [True, False, bad])
    assert len(processed.images) == 1
    assert inner_calls(start) == []
    line = "ADetailer 1st tab: ad_confidence=7 is not allowed; expected a number from 0 to 1"
    assert line in capsys.readouterr().err
    # nothing ran, so no tab keys; the reason still reaches the caller
    assert line in processed.infotexts[0]


def test_one_bad_tab_does_not_stop_the_others(webui, generates_faces):
    start = calls_so_far()
    processed = txt2img(webui, [True, False, {"ad_model": "nope.pt"}, FACE_TAB])
    assert len(inner_calls(start)) == 2
    params = infotext_params(processed)
    assert params["ADetailer model 2nd"] == "mediapipe_face_full"
    assert 'ad_model="nope.pt" is not allowed' in params["ADetailer warnings"]


def test_unknown_keys_warn_and_old_keys_still_work(webui, generates_faces, capsys):
    tab = {
        "ad_model": "mediapipe_face_full",
        "ad_conf": 50,
        "ad_mask_k_largest": 1,
        "ad_colour": "red",
    }
    start = calls_so_far()
    processed = txt2img(webui, [True, False, tab])
    assert len(inner_calls(start)) == 1  # top 1
    params = infotext_params(processed)
    assert params["ADetailer confidence"] == "0.5"
    assert params["ADetailer mask only top k"] == "1"
    assert 'unknown keys ignored: "ad_colour"' in capsys.readouterr().err
    assert "ad_colour" in params["ADetailer warnings"]


@pytest.mark.parametrize(
    "args", [[True, False, "junk"], [True, False, None], [True, False, [1, 2]], ["yes", {}], 5]
)
def test_junk_never_costs_the_image(webui, generates_faces, args):
    processed = txt2img(webui, args if isinstance(args, list) else [args])
    assert len(processed.images) == 1


# --- routes ----------------------------------------------------------------------------------


@pytest.fixture
def client(webui):
    return TestClient(webui.app)


def b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_version_schema_and_models(client):
    assert client.get("/adetailer/v1/version").json() == {"version": __version__}
    schema = client.get("/adetailer/v1/schema").json()
    assert schema["properties"]["ad_confidence"]["default"] == 0.3
    models = client.get("/adetailer/v1/ad_model").json()["ad_model"]
    assert "mediapipe_face_full" in models
    assert "face_yolov8n.pt" not in models  # downloads are off in the tests: it could never load


def test_every_model_with_its_status(client, webui):
    """?all=true: also what cannot run now (downloads are off here), and why."""
    plain = client.get("/adetailer/v1/ad_model").json()
    assert plain == {"ad_model": plain["ad_model"]}  # the original's answer, unchanged
    body = client.get("/adetailer/v1/ad_model", params={"all": "true"}).json()
    models = {model["name"]: model for model in body["models"]}
    assert body["ad_model"] == list(models)
    assert set(plain["ad_model"]) < set(models)
    assert models["mediapipe_face_full"] == {
        "name": "mediapipe_face_full",
        "kind": "mediapipe",
        "status": "built in",
        "path": None,
        "note": "",
    }
    face = models["face_yolov8n.pt"]
    assert (face["kind"], face["status"], face["path"]) == ("yolo", "not available", None)
    folder = webui.models_path / "adetailer"
    assert face["note"].startswith(f"downloads are off, put the file in {folder}")


def test_a_yolo_model_without_ultralytics_is_one_line(client, faces_photo, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ultralytics", None)  # as if not installed
    body = {"image": b64(faces_photo[0]), "ad_model": "face_yolov8n.pt"}
    answer = client.post("/adetailer/v1/detect", json=body)
    assert answer.status_code == 422
    assert answer.json()["detail"] == (
        "face_yolov8n.pt is a YOLO model and needs ultralytics, which is not installed: "
        'pip install "adetailer[yolo]" (in the web UI: restart it, install.py does it)'
    )


def test_the_model_list_is_found_again(client, webui):
    target = webui.models_path / "adetailer" / "my_faces.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"not read by listing")
    assert "my_faces.pt" in client.get("/adetailer/v1/ad_model").json()["ad_model"]


def test_detect_route(client, faces_photo):
    image, faces = faces_photo
    answer = client.post(
        "/adetailer/v1/detect",
        json={
            "image": b64(image),
            "ad_model": "mediapipe_face_full",
            "ad_dilate_erode": 0,
            "preview": True,
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["width"], body["height"]) == image.size
    assert len(body["detections"]) == 2
    assert len(body["masks"]) == 2
    mask = Image.open(io.BytesIO(base64.b64decode(body["masks"][0]["mask"])))
    assert mask.size == image.size
    assert mask.mode == "L"
    assert Image.open(io.BytesIO(base64.b64decode(body["preview"]))).size == image.size
    # each mask covers its own face: the pinned box of the face pasted into the photo
    masks = [
        np.asarray(Image.open(io.BytesIO(base64.b64decode(m["mask"])))) > 0 for m in body["masks"]
    ]
    for mask, face in zip(masks, sorted(faces), strict=True):  # masks come left to right
        ys, xs = np.nonzero(mask)
        assert box_iou((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), face) > 0.7
        left, top, right, bottom = face
        inset_x, inset_y = (right - left) / 10, (bottom - top) / 10
        core = mask[
            round(top + inset_y) : round(bottom - inset_y),
            round(left + inset_x) : round(right - inset_x),
        ]
        assert core.mean() > 0.98  # the face's middle is all mask
        assert mask.sum() < 1.5 * (right - left) * (bottom - top)  # the face, not the picture


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"image": "not base64!"}, '"image" is not a readable base64 image'),
        ({"image": "aGVsbG8gd29ybGQ="}, "not a known image format"),
        ({}, '"image" must be a base64-encoded image'),
        ({"sort_by": "Size"}, "sort_by='Size' is not allowed"),
        ({"ad_confidence": 3}, "ad_confidence=3 is not allowed"),
        ({"ad_model": "../../etc/passwd"}, "ad_model"),
        ({"ad_model": "None"}, 'ad_model="None" detects nothing'),
    ],
)
def test_detect_route_errors_are_one_line(client, faces_photo, body, expected):
    if body and "image" not in body:
        body = {"image": b64(faces_photo[0]), **body}
    answer = client.post("/adetailer/v1/detect", json=body)
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert expected in detail
    assert "\n" not in detail
    assert " at 0x" not in detail  # no Python object in a message


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds no pixels: all a decompression bomb needs to say."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_detect_refuses_images_above_the_pixel_limit(client, webui):
    from modules import shared

    limit = "larger than the limit of 100 megapixels (setting ad_detect_max_megapixels)"
    answers = [
        client.post(
            "/adetailer/v1/detect",
            json={"image": base64.b64encode(png_header(width, height)).decode()},
        )
        for width, height in [(12000, 10000), (20000, 20000)]
    ]
    assert [answer.status_code for answer in answers] == [422, 422]
    assert [answer.json()["detail"] for answer in answers] == [
        f'"image" is 12000x10000 (120.0 megapixels), {limit}',
        # above twice its MAX_IMAGE_PIXELS, Pillow refuses the file as it opens it
        f'"image" is {limit}',
    ]
    shared.opts.data["ad_detect_max_megapixels"] = 0.2
    small = b64(Image.new("RGB", (768, 512)))
    answer = client.post("/adetailer/v1/detect", json={"image": small})
    assert answer.status_code == 422
    assert "limit of 0.2 megapixels" in answer.json()["detail"]


def test_a_decompression_bomb_is_a_422_when_pillow_refuses_it_first(client, webui):
    from modules import shared

    shared.opts.data["ad_detect_max_megapixels"] = 10_000
    bomb = base64.b64encode(png_header(30000, 30000)).decode()
    answer = client.post("/adetailer/v1/detect", json={"image": bomb})
    assert answer.status_code == 422
    assert "larger than Pillow allows" in answer.json()["detail"]


def test_an_upscaled_8k_image_is_within_the_default_limit():
    from adetailer_webui.api import decode_image, max_detect_pixels

    image = decode_image(b64(Image.new("RGB", (7680, 4320))), max_detect_pixels())
    assert image.size == (7680, 4320)


def test_the_model_list_route_does_not_run_on_the_event_loop(webui):
    route = next(r for r in webui.app.routes if getattr(r, "path", "") == "/adetailer/v1/ad_model")
    assert not asyncio.iscoroutinefunction(route.endpoint)


def test_a_folder_scan_does_not_hold_the_registry_lock(webui, monkeypatch):
    """Generation asks host.registry() for every image; an API scan must not make it wait."""
    from adetailer.registry import ModelRegistry
    from adetailer_webui import host

    current = host.registry()
    inside, release = threading.Event(), threading.Event()
    real_build = ModelRegistry._build_entries

    def slow_build(self):
        inside.set()
        assert release.wait(30)
        return real_build(self)

    monkeypatch.setattr(ModelRegistry, "_build_entries", slow_build)
    scan = threading.Thread(target=lambda: host.registry(refresh=True))
    scan.start()
    try:
        assert inside.wait(30)
        assert host.registry() is current  # while the scan is under way
        assert "mediapipe_face_full" in current.names()
    finally:
        release.set()
        scan.join(30)


def test_detect_with_one_model_while_a_generation_detects_with_another(yolo_webui, faces_photo):
    """A /detect request is answered while a generation's YOLO model is mid-forward."""
    from adetailer.detectors import load_detector
    from adetailer_webui import host

    face = load_detector(host.registry().prepare("face_test.pt"), device=host.detection_device())
    network = face.model.model
    original = network.forward
    inside, release = threading.Event(), threading.Event()

    def held_forward(*args, **kwargs):
        if threading.current_thread() is generation:
            inside.set()
            assert release.wait(60), "the /detect request never finished"
        return original(*args, **kwargs)

    network.forward = held_forward
    results = []
    tab = {"ad_model": "face_test.pt", "ad_confidence": 0.01, "ad_mask_k": 1}
    generation = threading.Thread(target=lambda: results.append(txt2img(yolo_webui, [tab])))
    try:
        generation.start()
        assert inside.wait(60)
        answer = TestClient(yolo_webui.app).post(
            "/adetailer/v1/detect",
            json={
                "image": b64(faces_photo[0]),
                "ad_model": "person_test-seg.pt",
                "ad_confidence": 0.01,
            },
        )
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["detections"]) > 0
    finally:
        release.set()
        generation.join(120)
        del network.forward
    assert len(results[0].images) == 1


def test_detect_refuses_a_crafted_model_in_one_line_and_logs_it(client, webui, faces_photo, capsys):
    from tests.crafted import save_crafted_model

    crafted = webui.models_path / "adetailer" / "crafted.pt"
    save_crafted_model(crafted, crafted.parent / "pwned")
    answer = client.post(
        "/adetailer/v1/detect", json={"image": b64(faces_photo[0]), "ad_model": "crafted.pt"}
    )
    assert answer.status_code == 422
    refusal = f"refused to load {crafted}: it names posix.system, which is not allowed"
    assert answer.json()["detail"].startswith(refusal)
    err = capsys.readouterr().err
    assert f"detect request: {refusal}" in err
    assert "Traceback" not in err
    assert not (crafted.parent / "pwned").exists()
