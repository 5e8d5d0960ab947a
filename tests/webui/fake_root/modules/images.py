"""``modules.images``: resizing, grids, file naming and saving with the infotext embedded.

JPEG/WebP infotext goes into EXIF UserComment (UNICODE, UTF-16BE) like piexif writes it, but via
Pillow, since piexif is not a dependency of the tests.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import math
import os
import re
import string

from PIL import Image, ImageColor, ImageOps, PngImagePlugin

from modules import errors, script_callbacks, shared
from modules.shared import opts

LANCZOS = Image.Resampling.LANCZOS if hasattr(Image, "Resampling") else Image.LANCZOS

_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
_UNICODE_PREFIX = b"UNICODE\x00"
_ASCII_PREFIX = b"ASCII\x00\x00\x00"


def image_grid(
    imgs: list[Image.Image], batch_size: int = 1, rows: int | None = None
) -> Image.Image:
    if rows is None:
        if opts.n_rows > 0:
            rows = opts.n_rows
        elif opts.n_rows == 0:
            rows = batch_size
        elif opts.grid_prevent_empty_spots:
            rows = math.floor(math.sqrt(len(imgs)))
            while len(imgs) % rows != 0:
                rows -= 1
        else:
            rows = round(math.sqrt(len(imgs)))
    rows = min(rows, len(imgs))

    cols = math.ceil(len(imgs) / rows)

    params = script_callbacks.ImageGridLoopParams(imgs, cols, rows)
    script_callbacks.image_grid_callback(params)

    w, h = map(max, zip(*(img.size for img in imgs), strict=True))
    grid_background_color = ImageColor.getcolor(opts.grid_background_color, "RGB")
    grid = Image.new("RGB", size=(params.cols * w, params.rows * h), color=grid_background_color)

    for i, img in enumerate(params.imgs):
        img_w, img_h = img.size
        w_offset = 0 if img_w == w else (w - img_w) // 2
        h_offset = 0 if img_h == h else (h - img_h) // 2
        grid.paste(img, box=(i % params.cols * w + w_offset, i // params.cols * h + h_offset))

    return grid


def resize_image(
    resize_mode: int, im: Image.Image, width: int, height: int, upscaler_name: str | None = None
) -> Image.Image:
    """0: stretch (keeps the mode); 1: crop to fill; anything else: fit and fill the borders by
    stretching the edges. Modes other than 0 always return a new RGB image."""
    upscaler_name = upscaler_name or opts.upscaler_for_img2img

    def resize(im: Image.Image, w: int, h: int) -> Image.Image:
        if upscaler_name is None or upscaler_name == "None" or im.mode == "L":
            return im.resize((w, h), resample=LANCZOS)

        scale = max(w / im.width, h / im.height)
        if scale > 1.0:
            upscalers = [x for x in shared.sd_upscalers if x.name == upscaler_name]
            if len(upscalers) == 0:
                upscaler = shared.sd_upscalers[0]
                print(
                    f"could not find upscaler named {upscaler_name or '<empty string>'}, using {upscaler.name} as a fallback"
                )
            else:
                upscaler = upscalers[0]
            im = upscaler.scaler.upscale(im, scale, upscaler.data_path)

        if im.width != w or im.height != h:
            im = im.resize((w, h), resample=LANCZOS)
        return im

    if resize_mode == 0:
        return resize(im, width, height)

    ratio = width / height
    src_ratio = im.width / im.height

    if resize_mode == 1:
        src_w = width if ratio > src_ratio else im.width * height // im.height
        src_h = height if ratio <= src_ratio else im.height * width // im.width
        resized = resize(im, src_w, src_h)
        res = Image.new("RGB", (width, height))
        res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
        return res

    src_w = width if ratio < src_ratio else im.width * height // im.height
    src_h = height if ratio >= src_ratio else im.height * width // im.width
    resized = resize(im, src_w, src_h)
    res = Image.new("RGB", (width, height))
    res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))

    if ratio < src_ratio:
        fill_height = height // 2 - src_h // 2
        if fill_height > 0:
            res.paste(resized.resize((width, fill_height), box=(0, 0, width, 0)), box=(0, 0))
            res.paste(
                resized.resize(
                    (width, fill_height), box=(0, resized.height, width, resized.height)
                ),
                box=(0, fill_height + src_h),
            )
    elif ratio > src_ratio:
        fill_width = width // 2 - src_w // 2
        if fill_width > 0:
            res.paste(resized.resize((fill_width, height), box=(0, 0, 0, height)), box=(0, 0))
            res.paste(
                resized.resize((fill_width, height), box=(resized.width, 0, resized.width, height)),
                box=(fill_width + src_w, 0),
            )

    return res


invalid_filename_chars = '#<>:"/\\|?*\n\r\t'
invalid_filename_prefix = " "
invalid_filename_postfix = " ."
re_nonletters = re.compile(r"[\s" + string.punctuation + "]+")
re_pattern = re.compile(r"(.*?)(?:\[([^\[\]]+)\]|$)")
re_pattern_arg = re.compile(r"(.*)<([^>]*)>$")
NOTHING_AND_SKIP_PREVIOUS_TEXT = object()


def sanitize_filename_part(text: str | None, replace_spaces: bool = True) -> str | None:
    if text is None:
        return None

    if replace_spaces:
        text = text.replace(" ", "_")

    chars = "/" if shared.cmd_opts.unix_filenames_sanitization else invalid_filename_chars
    text = text.translate({ord(x): "_" for x in chars})
    text = text.lstrip(invalid_filename_prefix)[: shared.cmd_opts.filenames_max_length]
    return text.rstrip(invalid_filename_postfix)


class FilenameGenerator:
    """File-name pattern tags. Tags not listed here stay in the name literally, as unknown tags do in A1111."""

    replacements = {  # noqa: RUF012  (A1111 class attribute)
        "basename": lambda self: self.basename or "img",
        "seed": lambda self: self.seed if self.seed is not None else "",
        "seed_first": lambda self: self.seed if self.p.batch_size == 1 else self.p.all_seeds[0],
        "seed_last": lambda self: (
            NOTHING_AND_SKIP_PREVIOUS_TEXT if self.p.batch_size == 1 else self.p.all_seeds[-1]
        ),
        "steps": lambda self: self.p and self.p.steps,
        "cfg": lambda self: self.p and self.p.cfg_scale,
        "width": lambda self: self.image.width,
        "height": lambda self: self.image.height,
        "styles": lambda self: (
            self.p
            and sanitize_filename_part(
                ", ".join([style for style in self.p.styles if style != "None"]) or "None",
                replace_spaces=False,
            )
        ),
        "sampler": lambda self: (
            self.p and sanitize_filename_part(self.p.sampler_name, replace_spaces=False)
        ),
        "model_hash": lambda self: getattr(self.p, "sd_model_hash", shared.sd_model.sd_model_hash),
        "model_name": lambda self: sanitize_filename_part(
            shared.sd_model.sd_checkpoint_info.name_for_extra, replace_spaces=False
        ),
        "date": lambda self: datetime.datetime.now().strftime("%Y-%m-%d"),
        "datetime": lambda self, *args: self.datetime(*args),
        "job_timestamp": lambda self: getattr(self.p, "job_timestamp", shared.state.job_timestamp),
        "prompt_hash": lambda self, *args: self.string_hash(self.prompt, *args),
        "negative_prompt_hash": lambda self, *args: self.string_hash(self.p.negative_prompt, *args),
        "full_prompt_hash": lambda self, *args: self.string_hash(
            f"{self.p.prompt} {self.p.negative_prompt}", *args
        ),
        "prompt": lambda self: sanitize_filename_part(self.prompt),
        "prompt_spaces": lambda self: sanitize_filename_part(self.prompt, replace_spaces=False),
        "prompt_words": lambda self: self.prompt_words(),
        "batch_number": lambda self: (
            NOTHING_AND_SKIP_PREVIOUS_TEXT
            if self.p.batch_size == 1 or self.zip
            else self.p.batch_index + 1
        ),
        "batch_size": lambda self: self.p.batch_size,
        "generation_number": lambda self: (
            NOTHING_AND_SKIP_PREVIOUS_TEXT
            if (self.p.n_iter == 1 and self.p.batch_size == 1) or self.zip
            else self.p.iteration * self.p.batch_size + self.p.batch_index + 1
        ),
        "clip_skip": lambda self: opts.data["CLIP_stop_at_last_layers"],
        "denoising": lambda self: (
            self.p.denoising_strength
            if self.p and self.p.denoising_strength
            else NOTHING_AND_SKIP_PREVIOUS_TEXT
        ),
        "user": lambda self: self.p.user,
        "none": lambda self: "",
        "image_hash": lambda self, *args: self.image_hash(*args),
    }
    default_time_format = "%Y%m%d%H%M%S"

    def __init__(self, p, seed, prompt, image, zip: bool = False, basename: str = "") -> None:
        self.p = p
        self.seed = seed
        self.prompt = prompt
        self.image = image
        self.zip = zip
        self.basename = basename

    def prompt_words(self) -> str:
        words = [x for x in re_nonletters.split(self.prompt or "") if x] or ["empty"]
        return sanitize_filename_part(
            " ".join(words[0 : opts.directories_max_prompt_words]), replace_spaces=False
        )

    def datetime(self, *args) -> str:
        time_format = args[0] if (args and args[0] != "") else self.default_time_format
        try:
            formatted_time = datetime.datetime.now().strftime(time_format)
        except (ValueError, TypeError):
            formatted_time = datetime.datetime.now().strftime(self.default_time_format)
        return sanitize_filename_part(formatted_time, replace_spaces=False)

    def image_hash(self, *args) -> str:
        length = int(args[0]) if (args and args[0] != "") else None
        return hashlib.sha256(self.image.tobytes()).hexdigest()[0:length]

    def string_hash(self, text: str, *args) -> str:
        length = int(args[0]) if (args and args[0] != "") else 8
        return hashlib.sha256(text.encode()).hexdigest()[0:length]

    def apply(self, x: str) -> str:
        res = ""

        for m in re_pattern.finditer(x):
            text, pattern = m.groups()

            if pattern is None:
                res += text
                continue

            pattern_args: list[str] = []
            while True:
                m = re_pattern_arg.match(pattern)
                if m is None:
                    break
                pattern, arg = m.groups()
                pattern_args.insert(0, arg)

            fun = self.replacements.get(pattern.lower())
            if fun is not None:
                try:
                    replacement = fun(self, *pattern_args)
                except Exception:
                    replacement = None
                    errors.report(f"Error adding [{pattern}] to filename", exc_info=True)

                if replacement == NOTHING_AND_SKIP_PREVIOUS_TEXT:
                    continue
                if replacement is not None:
                    res += text + str(replacement)
                    continue

            res += f"{text}[{pattern}]"

        return res


def get_next_sequence_number(path: str, basename: str) -> int:
    result = -1
    if basename != "":
        basename = f"{basename}-"

    prefix_length = len(basename)
    for p in os.listdir(path):
        if p.startswith(basename):
            parts = os.path.splitext(p[prefix_length:])[0].split("-")
            with contextlib.suppress(ValueError):
                result = max(int(parts[0]), result)

    return result + 1


def _user_comment(text: str) -> bytes:
    return _UNICODE_PREFIX + text.encode("utf_16_be")


def _read_user_comment(data: bytes) -> str:
    if data.startswith(_UNICODE_PREFIX):
        return data[len(_UNICODE_PREFIX) :].decode("utf_16_be", errors="ignore")
    if data.startswith(_ASCII_PREFIX):
        return data[len(_ASCII_PREFIX) :].decode("ascii", errors="ignore")
    return data.decode("utf8", errors="ignore")


def save_image_with_geninfo(
    image: Image.Image,
    geninfo: str | None,
    filename: str,
    extension: str | None = None,
    existing_pnginfo: dict | None = None,
    pnginfo_section_name: str = "parameters",
) -> None:
    if extension is None:
        extension = os.path.splitext(filename)[1]

    image_format = Image.registered_extensions()[extension]

    if extension.lower() == ".png":
        existing_pnginfo = existing_pnginfo or {}
        if opts.enable_pnginfo:
            existing_pnginfo[pnginfo_section_name] = geninfo
            pnginfo_data = PngImagePlugin.PngInfo()
            for k, v in (existing_pnginfo or {}).items():
                pnginfo_data.add_text(k, str(v))
        else:
            pnginfo_data = None

        image.save(filename, format=image_format, quality=opts.jpeg_quality, pnginfo=pnginfo_data)

    elif extension.lower() in (".jpg", ".jpeg", ".webp"):
        if image.mode == "RGBA":
            image = image.convert("RGB")

        exif = None
        if opts.enable_pnginfo and geninfo is not None:
            exif_data = Image.Exif()
            exif_data[_EXIF_IFD] = {_USER_COMMENT: _user_comment(geninfo or "")}
            exif = exif_data.tobytes()

        kwargs = {"exif": exif} if exif is not None else {}
        image.save(
            filename,
            format=image_format,
            quality=opts.jpeg_quality,
            lossless=opts.webp_lossless,
            **kwargs,
        )
    elif extension.lower() == ".gif":
        image.save(filename, format=image_format, comment=geninfo)
    else:
        image.save(filename, format=image_format, quality=opts.jpeg_quality)


def save_image(
    image: Image.Image,
    path: str,
    basename: str,
    seed=None,
    prompt: str | None = None,
    extension: str = "png",
    info=None,
    short_filename: bool = False,
    no_prompt: bool = False,
    grid: bool = False,
    pnginfo_section_name: str = "parameters",
    p=None,
    existing_info: dict | None = None,
    forced_filename: str | None = None,
    suffix: str = "",
    save_to_dirs: bool | None = None,
) -> tuple[str, str | None]:
    namegen = FilenameGenerator(p, seed, prompt, image, basename=basename)

    if ((image.height > 65535 or image.width > 65535) and extension.lower() in ("jpg", "jpeg")) or (
        (image.height > 16383 or image.width > 16383) and extension.lower() == "webp"
    ):
        print("Image dimensions too large; saving as PNG")
        extension = "png"

    if save_to_dirs is None:
        save_to_dirs = (grid and opts.grid_save_to_dirs) or (
            not grid and opts.save_to_dirs and not no_prompt
        )

    if save_to_dirs:
        dirname = (
            namegen.apply(opts.directories_filename_pattern or "[prompt_words]")
            .lstrip(" ")
            .rstrip("\\ /")
        )
        path = os.path.join(path, dirname)

    os.makedirs(path, exist_ok=True)

    if forced_filename is None:
        if short_filename or seed is None:
            file_decoration = ""
        elif opts.save_to_dirs:
            file_decoration = opts.samples_filename_pattern or "[seed]"
        else:
            file_decoration = opts.samples_filename_pattern or "[seed]-[prompt_spaces]"

        file_decoration = namegen.apply(file_decoration) + suffix

        add_number = opts.save_images_add_number or file_decoration == ""

        if file_decoration != "" and add_number:
            file_decoration = f"-{file_decoration}"

        if add_number:
            basecount = get_next_sequence_number(path, basename)
            fullfn = None
            for i in range(500):
                fn = f"{basecount + i:05}" if basename == "" else f"{basename}-{basecount + i:04}"
                fullfn = os.path.join(path, f"{fn}{file_decoration}.{extension}")
                if not os.path.exists(fullfn):
                    break
        else:
            fullfn = os.path.join(path, f"{file_decoration}.{extension}")
    else:
        fullfn = os.path.join(path, f"{forced_filename}.{extension}")

    pnginfo = existing_info or {}
    if info is not None:
        pnginfo[pnginfo_section_name] = info

    params = script_callbacks.ImageSaveParams(image, p, fullfn, pnginfo)
    script_callbacks.before_image_saved_callback(params)

    image = params.image
    fullfn = params.filename
    info = params.pnginfo.get(pnginfo_section_name, None)

    fullfn_without_extension, extension = os.path.splitext(params.filename)
    temp_file_path = f"{fullfn_without_extension}.tmp"
    save_image_with_geninfo(
        image,
        info,
        temp_file_path,
        extension,
        existing_pnginfo=params.pnginfo,
        pnginfo_section_name=pnginfo_section_name,
    )

    filename = fullfn_without_extension + extension
    if opts.save_images_replace_action != "Replace":
        n = 0
        while os.path.exists(filename):
            n += 1
            filename = f"{fullfn_without_extension}-{n}{extension}"
    os.replace(temp_file_path, filename)

    image.already_saved_as = fullfn

    oversize = image.width > opts.target_side_length or image.height > opts.target_side_length
    if opts.export_for_4chan and (
        oversize or os.stat(fullfn).st_size > opts.img_downscale_threshold * 1024 * 1024
    ):
        ratio = image.width / image.height
        resize_to = None
        if oversize and ratio > 1:
            resize_to = (
                round(opts.target_side_length),
                round(image.height * opts.target_side_length / image.width),
            )
        elif oversize:
            resize_to = (
                round(image.width * opts.target_side_length / image.height),
                round(opts.target_side_length),
            )

        jpg_image = image.resize(resize_to, LANCZOS) if resize_to is not None else image
        save_image_with_geninfo(
            jpg_image,
            info,
            f"{fullfn_without_extension}.tmp",
            ".jpg",
            existing_pnginfo=params.pnginfo,
            pnginfo_section_name=pnginfo_section_name,
        )
        os.replace(f"{fullfn_without_extension}.tmp", f"{fullfn_without_extension}.jpg")

    if opts.save_txt and info is not None:
        txt_fullfn = f"{fullfn_without_extension}.txt"
        with open(txt_fullfn, "w", encoding="utf8") as file:
            file.write(f"{info}\n")
    else:
        txt_fullfn = None

    script_callbacks.image_saved_callback(params)

    return fullfn, txt_fullfn


IGNORED_INFO_KEYS = {
    "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "exif",
    "loop", "background", "timestamp", "duration", "progressive", "progression",
    "icc_profile", "chromaticity", "photoshop",
}  # fmt: skip


def read_info_from_image(image: Image.Image) -> tuple[str | None, dict]:
    items = (image.info or {}).copy()

    geninfo = items.pop("parameters", None)

    if "exif" in items:
        exif = Image.Exif()
        try:
            exif.load(items["exif"])
            comment = exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT, b"")
        except Exception:
            comment = b""
        if isinstance(comment, str):
            comment = comment.encode("utf8")
        exif_comment = _read_user_comment(comment) if comment else ""
        if exif_comment:
            geninfo = exif_comment
    elif "comment" in items:
        geninfo = (
            items["comment"].decode("utf8", errors="ignore")
            if isinstance(items["comment"], bytes)
            else items["comment"]
        )

    for field in IGNORED_INFO_KEYS:
        items.pop(field, None)

    return geninfo, items


def flatten(img: Image.Image, bgcolor: str) -> Image.Image:
    """Composite transparency onto ``bgcolor``; always returns RGB."""
    if img.mode == "RGBA":
        background = Image.new("RGBA", img.size, bgcolor)
        background.paste(img, mask=img)
        img = background

    return img.convert("RGB")


def read(fp, **kwargs) -> Image.Image:
    return fix_image(Image.open(fp, **kwargs))


def fix_image(image: Image.Image | None) -> Image.Image | None:
    if image is None:
        return None

    try:
        image = ImageOps.exif_transpose(image)
        image = fix_png_transparency(image)
    except Exception:
        pass

    return image


def fix_png_transparency(image: Image.Image) -> Image.Image:
    if image.mode not in ("RGB", "P") or not isinstance(image.info.get("transparency"), bytes):
        return image
    return image.convert("RGBA")
