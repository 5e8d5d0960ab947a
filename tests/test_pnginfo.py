"""Reading and writing an image's A1111 infotext."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from adetailer.pnginfo import format_infotext, parse_infotext, png_info, read_infotext

TEXT = (
    "a photo of a woman, (smile:1.2)\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x768, "
    'ADetailer model: face_yolov8n.pt, ADetailer prompt: "a face, smiling", ADetailer version: 25.0.0'
)


def test_parse_takes_prompts_and_the_parameter_line():
    info = parse_infotext(TEXT)
    assert info.prompt == "a photo of a woman, (smile:1.2)"
    assert info.negative_prompt == "blurry, lowres"
    assert info.params["Seed"] == "1234"
    assert info.params["Sampler"] == "DPM++ 2M"
    assert info.params["Size"] == "512x768"
    assert info.params["ADetailer prompt"] == "a face, smiling"


def test_a_prompt_without_parameters_is_all_prompt():
    info = parse_infotext("just a prompt\nover two lines")
    assert info.prompt == "just a prompt\nover two lines"
    assert info.params == {}


@given(
    st.text(alphabet="abc ,:()\n", max_size=30).map(str.strip),
    st.text(alphabet="abc ,:()", max_size=20).map(str.strip),
    st.dictionaries(
        st.sampled_from(["Steps", "Seed", "Sampler", "ADetailer prompt", "Model"]),
        st.text(alphabet="abc,:() 12", min_size=1, max_size=12).map(str.strip).filter(bool),
        min_size=3,
    ),
)
def test_format_and_parse_round_trip(prompt, negative, params):
    if prompt.startswith("Negative prompt:") or "\nNegative prompt:" in prompt:
        return
    info = parse_infotext(format_infotext(prompt, negative, params))
    assert info.params == params
    assert info.negative_prompt == negative.strip()


def test_png_parameters_and_jpeg_and_webp_exif_user_comment_are_read():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG", pnginfo=png_info(TEXT))
    assert read_infotext(Image.open(io.BytesIO(buffer.getvalue()))) == TEXT

    exif = Image.Exif()
    exif[0x8769] = {0x9286: b"UNICODE\x00" + TEXT.encode("utf-16-be")}  # as piexif writes it
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "JPEG", exif=exif.tobytes())
    assert read_infotext(Image.open(io.BytesIO(buffer.getvalue()))) == TEXT

    buffer = io.BytesIO()  # A1111 saves WebP with the same EXIF block
    Image.new("RGB", (8, 8)).save(buffer, "WEBP", exif=exif.tobytes())
    assert read_infotext(Image.open(io.BytesIO(buffer.getvalue()))) == TEXT


def test_an_image_without_infotext_has_none():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    assert read_infotext(Image.open(io.BytesIO(buffer.getvalue()))) is None
