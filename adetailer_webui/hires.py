"""The seam before the hires pass, where "Before hires fix" tabs detail each first-pass image.

A1111 1.10 (and Forge 2.0.1) make a txt2img image with hires fix inside `p.sample()`: the first
pass is sampled (and decoded, for an image upscaler), the hires checkpoint is loaded, and then
`p.sample_hr_pass(samples, decoded_samples, seeds, subseeds, subseed_strength, prompts)` upscales
and resamples the batch. No script hook sees the first-pass images (`before_hr` only gets the
upscaled latents, and cannot replace them), so the extension sets its own `sample_hr_pass` on `p`
(an instance attribute; the class's method stays as it is). It decodes the first-pass latents
when no decoded images exist (latent upscalers), has the images detailed, puts the changed ones
back the way the hires pass takes them (encoded again for a latent upscaler), loads the hires
checkpoint again (the detail passes load the first-pass one), and calls the host's own method.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from adetailer_webui import host

# What A1111 1.10 and Forge 2.0.1 pass to sample_hr_pass, by name and in order.
SIGNATURE = ("samples", "decoded_samples", "seeds", "subseeds", "subseed_strength", "prompts")
FORGE_NEEDS = ("checkpoint_change", "modules_change", "refresh_model_loading_parameters")

# Details the images of one batch; each result is the detailed image, or None when unchanged.
Detail = Callable[[Any, list[Image.Image]], list[Image.Image | None]]


def problem(p: Any) -> str | None:
    """Why this host or this generation offers no seam before the hires pass; None if it does."""
    method = getattr(type(p), "sample_hr_pass", None)
    if method is None or not callable(method):
        return f"{type(p).__name__} has no sample_hr_pass"
    try:
        names = tuple(inspect.signature(method).parameters)[1:]
    except (TypeError, ValueError):
        names = ()
    if names != SIGNATURE:
        return f"its sample_hr_pass takes ({', '.join(names)}), not ({', '.join(SIGNATURE)})"
    from modules import processing, sd_samplers_common

    for module, name in (
        (processing, "decode_latent_batch"),
        (sd_samplers_common, "images_tensor_to_samples"),
    ):
        if not hasattr(module, name):
            return f"modules.{module.__name__.rsplit('.', 1)[-1]} has no {name}"
    if host.is_forge():
        missing = _forge_missing()
        if missing:
            return f"this Forge build has no {missing} (known: Forge 2.0.1)"
    return None


def _forge_missing() -> str | None:
    try:
        from modules_forge import main_entry
    except ImportError:
        return "modules_forge.main_entry"
    from modules import sd_models

    for name in FORGE_NEEDS:
        if not callable(getattr(main_entry, name, None)):
            return f"main_entry.{name}"
    if not callable(getattr(sd_models, "forge_model_reload", None)):
        return "sd_models.forge_model_reload"
    return None


_SEAM = "_ad_hires_seam"


class HiresSeam:
    """`p.sample_hr_pass` while ADetailer has "Before hires fix" tabs on this generation."""

    def __init__(self, p: Any, detail: Detail, foreign: Callable[..., Any] | None) -> None:
        self.p = p
        self.detail = detail
        self.foreign = foreign  # another extension's own sample_hr_pass on p, kept in the chain
        self.calls: list[int] = []  # the iterations (batches) it was called for
        self.active = True  # False once taken off p: then it only hands over

    def host_method(self) -> Callable[..., Any]:
        if self.foreign is not None:
            return self.foreign
        return type(self.p).sample_hr_pass.__get__(self.p)

    def __call__(
        self,
        samples: Any,
        decoded_samples: Any,
        seeds: Sequence[int],
        subseeds: Sequence[int],
        subseed_strength: float,
        prompts: Sequence[str],
    ) -> Any:
        from adetailer_webui import log
        from adetailer_webui.inner_pass import should_stop

        p = self.p
        hand_over = self.host_method()
        if not self.active:  # another extension wrapped it and kept it past its generation
            return hand_over(samples, decoded_samples, seeds, subseeds, subseed_strength, prompts)
        self.calls.append(p.iteration)
        if should_stop():
            return hand_over(samples, decoded_samples, seeds, subseeds, subseed_strength, prompts)
        try:
            images = first_pass_images(p, samples, decoded_samples)
        except Exception:
            self.calls.pop()  # these images are detailed after hires instead
            log.error("could not read the first-pass images; those tabs run after hires fix.")
            return hand_over(samples, decoded_samples, seeds, subseeds, subseed_strength, prompts)
        try:
            detailed = self.detail(p, images)
        except Exception:
            log.error(
                "detailing before hires fix failed; the hires pass takes the images as generated."
            )
            detailed = [None] * len(images)
        if should_stop():  # interrupted or skipped: the images as far as they got, no hires pass
            return as_decoded([new or old for new, old in zip(detailed, images, strict=True)])
        samples, decoded_samples = put_back(p, samples, decoded_samples, images, detailed)
        try:
            reload_hires_model(p)
        except Exception:
            log.error("could not load the hires model again after detailing.")
        return hand_over(samples, decoded_samples, seeds, subseeds, subseed_strength, prompts)


def install(p: Any, detail: Detail) -> str | None:
    """Put the seam on `p`; the reason when the host offers none (then nothing is changed)."""
    reason = problem(p)
    if reason is not None:
        return reason
    foreign = uninstall(p)
    seam = HiresSeam(p, detail, foreign)
    p.sample_hr_pass = seam
    # kept apart too: another extension may wrap p.sample_hr_pass after ours and call it inside
    setattr(p, _SEAM, seam)
    return None


def uninstall(p: Any) -> Callable[..., Any] | None:
    """Take a seam off `p` (an X/Y/Z cell copies the previous cell's); returns what it wrapped."""
    seam = vars(p).pop(_SEAM, None)
    if isinstance(seam, HiresSeam) and seam.p is p:
        seam.active = False  # where another extension's wrapper still holds it
    current = vars(p).get("sample_hr_pass")
    if not isinstance(current, HiresSeam):
        return current
    del p.sample_hr_pass
    if current.foreign is not None:
        p.sample_hr_pass = current.foreign
    return current.foreign


def seam_of(p: Any) -> HiresSeam | None:
    seam = vars(p).get(_SEAM)
    return seam if isinstance(seam, HiresSeam) and seam.p is p else None


# --- the first-pass images, out and back in --------------------------------------------------


def first_pass_images(p: Any, samples: Any, decoded_samples: Any) -> list[Image.Image]:
    """The batch's first-pass images, as A1111's image upscaler path turns them into pictures."""
    import torch
    from modules import devices, processing

    if decoded_samples is None:
        decoded = processing.decode_latent_batch(
            p.sd_model, samples, target_device=devices.cpu, check_for_nans=True
        )
        decoded_samples = torch.stack(list(decoded)).to(dtype=torch.float32)
    pixels = torch.clamp((decoded_samples.float() + 1.0) / 2.0, min=0.0, max=1.0)
    images = []
    for sample in pixels:
        array = 255.0 * np.moveaxis(sample.cpu().numpy(), 0, 2)
        images.append(Image.fromarray(array.astype(np.uint8)))
    return images


def _tensor(image: Image.Image) -> Any:
    """(3, H, W) float32 in 0..1, for the VAE's encoder."""
    import torch

    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(np.moveaxis(array, 2, 0).copy())


def _decoded(image: Image.Image) -> Any:
    """(3, H, W) float32 in -1..1 as a decoded sample: each value the middle of its 8-bit level,
    so that A1111's conversion back to 8 bits (x * 255, truncated) gives exactly the pixel."""
    import torch

    array = (np.asarray(image.convert("RGB"), dtype=np.float32) + 0.5) / 255.0
    return torch.from_numpy(np.moveaxis(array * 2.0 - 1.0, 2, 0).copy())


def as_decoded(images: list[Image.Image]) -> Any:
    """Images as decoded samples: what a sample_hr_pass returns, so that nothing decodes them."""
    from modules import processing

    return processing.DecodedSamples(_decoded(image) for image in images)


def put_back(
    p: Any,
    samples: Any,
    decoded_samples: Any,
    images: list[Image.Image],
    detailed: list[Image.Image | None],
) -> tuple[Any, Any]:
    """The hires pass's inputs with the detailed images in place of the first-pass ones.

    Image upscalers read `decoded_samples`: the changed pixels replace the first pass's. Latent
    upscalers read `samples`, so a detailed image is encoded again, and its latent replaces the
    first pass's only where the detail passes changed the picture (with a soft edge). Elsewhere
    the first pass stays exactly as it was, without an 8-bit or a decode-encode round trip.
    """
    changed = [(i, image) for i, image in enumerate(detailed) if image is not None]
    if not changed:
        return samples, decoded_samples
    if decoded_samples is not None:  # only the pixels the detail passes changed
        import torch

        decoded_samples = decoded_samples.clone()
        for index, image in changed:
            before = np.asarray(images[index])
            where = np.any(before != np.asarray(image), axis=2)
            where = torch.from_numpy(where).to(decoded_samples.device)
            new = _decoded(image).to(decoded_samples.device, decoded_samples.dtype)
            decoded_samples[index] = torch.where(where, new, decoded_samples[index])
        return samples, decoded_samples
    import torch
    from modules import sd_samplers_common, shared

    approximation = sd_samplers_common.approximation_indexes.get(shared.opts.sd_vae_encode_method)
    samples = samples.clone()
    for index, image in changed:
        latent = sd_samplers_common.images_tensor_to_samples(
            _tensor(image)[None], approximation, p.sd_model
        )[0].to(samples.device, samples.dtype)
        weight = changed_area(images[index], image, tuple(samples.shape[-2:]))
        weight = torch.from_numpy(weight).to(samples.device, samples.dtype)
        samples[index] = samples[index] + (latent - samples[index]) * weight
    return samples, decoded_samples


# How far around the redrawn pixels a new latent is taken, and how soft its edge is (pixels).
LATENT_MARGIN = 16
LATENT_FEATHER = 8


def changed_area(
    before: Image.Image, after: Image.Image, latent_size: tuple[int, int]
) -> np.ndarray:
    """Where `after` differs from `before`, grown and feathered, as 0..1 weights at latent size."""
    import cv2

    changed = np.any(np.asarray(before) != np.asarray(after), axis=2).astype(np.uint8) * 255
    side = 2 * LATENT_MARGIN + 1
    grown = cv2.dilate(changed, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side)))
    soft = cv2.GaussianBlur(grown, (0, 0), LATENT_FEATHER).astype(np.float32) / 255.0
    soft = np.maximum(soft, grown.astype(np.float32) / 255.0)  # fully inside the grown area
    height, width = latent_size
    return cv2.resize(soft, (width, height), interpolation=cv2.INTER_AREA)


def reload_hires_model(p: Any) -> None:
    """Load the hires pass's model again, as `p.sample()` does before it calls sample_hr_pass."""
    from modules import sd_models

    if host.is_forge():
        _reload_hires_model_forge(p)
        return
    with sd_models.SkipWritingToConfig():
        sd_models.reload_model_weights(info=p.hr_checkpoint_info)


def _reload_hires_model_forge(p: Any) -> None:
    """Forge switches to the hires checkpoint and modules for the load only, then puts the
    first-pass choices back into the settings (Forge 2.0.1's `sample()` does the same). Without
    separate hires choices, the first-pass model is loaded again (a tab may have used another)."""
    from modules import sd_models, shared
    from modules_forge import main_entry

    first_checkpoint = shared.opts.sd_model_checkpoint
    first_modules = getattr(shared.opts, "forge_additional_modules", [])
    modules = getattr(p, "hr_additional_modules", None)
    if modules and "Use same choices" not in modules:
        main_entry.modules_change(modules, save=False, refresh=False)
    if p.hr_checkpoint_name and p.hr_checkpoint_name != "Use same checkpoint":
        main_entry.checkpoint_change(p.hr_checkpoint_name, save=False, refresh=False)
    try:
        main_entry.refresh_model_loading_parameters()
        sd_models.forge_model_reload()  # loads only what differs from the loaded model
    finally:
        main_entry.modules_change(first_modules, save=False, refresh=False)
        main_entry.checkpoint_change(first_checkpoint, save=False, refresh=False)
        main_entry.refresh_model_loading_parameters()
