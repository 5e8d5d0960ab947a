"""``modules.sd_samplers_common`` for the fake backend.

"Latents" of the fake are RGB tensors in [-1, 1] at full image resolution (B, 3, H, W) and the "VAE"
is the identity, so every decode/encode helper here is a plain pixel conversion.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import torch
from PIL import Image

from modules import devices, sd_models, shared
from modules.shared import opts, state

SamplerDataTuple = namedtuple("SamplerData", ["name", "constructor", "aliases", "options"])


class SamplerData(SamplerDataTuple):
    def total_steps(self, steps: int) -> int:
        if self.options.get("second_order", False):
            steps = steps * 2

        return steps


def setup_img2img_steps(p, steps: int | None = None) -> tuple[int, int]:
    """Returns (schedule length, t_enc); the sampler then runs ``t_enc + 1`` steps."""
    if opts.img2img_fix_steps or steps is not None:
        requested_steps = steps or p.steps
        steps = (
            int(requested_steps / min(p.denoising_strength, 0.999))
            if p.denoising_strength > 0
            else 0
        )
        t_enc = requested_steps - 1
    else:
        steps = p.steps
        t_enc = int(min(p.denoising_strength, 0.999) * steps)

    return steps, t_enc


approximation_indexes = {"Full": 0, "Approx NN": 1, "Approx cheap": 2, "TAESD": 3}


def samples_to_images_tensor(sample: torch.Tensor, approximation=None, model=None) -> torch.Tensor:
    return sample


def single_sample_to_image(sample: torch.Tensor, approximation=None) -> Image.Image:
    x_sample = torch.clamp((sample.float() + 1.0) / 2.0, min=0.0, max=1.0)
    x_sample = 255.0 * np.moveaxis(x_sample.cpu().numpy(), 0, 2)
    return Image.fromarray(x_sample.astype(np.uint8))


def decode_first_stage(model, x: torch.Tensor) -> torch.Tensor:
    return x


def sample_to_image(samples: torch.Tensor, index: int = 0, approximation=None) -> Image.Image:
    return single_sample_to_image(samples[index], approximation)


def samples_to_image_grid(samples: torch.Tensor, approximation=None) -> Image.Image:
    from modules import images

    return images.image_grid([single_sample_to_image(sample, approximation) for sample in samples])


def images_tensor_to_samples(image: torch.Tensor, approximation=None, model=None) -> torch.Tensor:
    """Image tensor in [0, 1] -> fake latent in [-1, 1]."""
    return image.float() * 2.0 - 1.0


def store_latent(decoded: torch.Tensor) -> None:
    state.current_latent = decoded


def is_sampler_using_eta_noise_seed_delta(p) -> bool:
    from modules import sd_samplers

    sampler_config = sd_samplers.find_sampler_config(p.sampler_name)

    eta = p.eta
    if eta is None and p.sampler is not None:
        eta = p.sampler.eta
    if eta is None and sampler_config is not None:
        eta = 0 if sampler_config.options.get("default_eta_is_0", False) else 1.0
    if eta == 0:
        return False

    return sampler_config.options.get("uses_ensd", False)


class InterruptedException(BaseException):
    pass


def apply_refiner(cfg_denoiser, sigma=None) -> bool:
    """Switch to the refiner checkpoint once the completed share of steps reaches ``refiner_switch_at``.

    The fake has no sigmas, so the ratio is always computed from steps.
    """
    p = cfg_denoiser.p
    completed_ratio = cfg_denoiser.step / cfg_denoiser.total_steps
    if opts.refiner_switch_by_sample_steps:
        p.extra_generation_params["Refiner switch by sampling steps"] = True

    refiner_switch_at = p.refiner_switch_at
    refiner_checkpoint_info = p.refiner_checkpoint_info

    if refiner_switch_at is not None and completed_ratio < refiner_switch_at:
        return False

    if (
        refiner_checkpoint_info is None
        or shared.sd_model.sd_checkpoint_info == refiner_checkpoint_info
    ):
        return False

    if getattr(p, "enable_hr", False):
        is_second_pass = p.is_hr_pass

        if opts.hires_fix_refiner_pass == "first pass" and is_second_pass:
            return False

        if opts.hires_fix_refiner_pass == "second pass" and not is_second_pass:
            return False

        if opts.hires_fix_refiner_pass != "second pass":
            p.extra_generation_params["Hires refiner"] = opts.hires_fix_refiner_pass

    p.extra_generation_params["Refiner"] = refiner_checkpoint_info.short_title
    p.extra_generation_params["Refiner switch at"] = refiner_switch_at

    with sd_models.SkipWritingToConfig():
        sd_models.reload_model_weights(info=refiner_checkpoint_info)

    devices.torch_gc()
    p.setup_conds()
    return True


class Sampler:
    """Base of the samplers; holds what scripts read from ``p.sampler`` (``eta``, ``config``, ...)."""

    def __init__(self, funcname) -> None:
        self.funcname = funcname
        self.func = funcname
        self.extra_params: list[str] = []
        self.sampler_noises = None
        self.stop_at = None
        self.eta: float | None = None
        self.config: SamplerData = None  # type: ignore[assignment]  (set by create_sampler)
        self.last_latent = None
        self.s_min_uncond = None
        self.s_churn = 0.0
        self.s_tmin = 0.0
        self.s_tmax = float("inf")
        self.s_noise = 1.0

        self.eta_option_field = "eta_ancestral"
        self.eta_infotext_field = "Eta"
        self.eta_default = 1.0

        self.conditioning_key = getattr(shared.sd_model.model, "conditioning_key", "crossattn")

        self.p = None
        self.model_wrap_cfg = None
        self.sampler_extra_args = None
        self.options: dict = {}

    def callback_state(self, d: dict) -> None:
        step = d["i"]

        if self.stop_at is not None and step > self.stop_at:
            raise InterruptedException

        state.sampling_step = step
        shared.total_tqdm.update()

    def launch_sampling(self, steps: int, func):
        state.sampling_steps = steps
        state.sampling_step = 0

        try:
            return func()
        except InterruptedException:
            return self.last_latent

    def number_of_needed_noises(self, p) -> int:
        return p.steps

    def sample(
        self, p, x, conditioning, unconditional_conditioning, steps=None, image_conditioning=None
    ):
        raise NotImplementedError()

    def sample_img2img(
        self,
        p,
        x,
        noise,
        conditioning,
        unconditional_conditioning,
        steps=None,
        image_conditioning=None,
    ):
        raise NotImplementedError()

    def add_infotext(self, p) -> None:
        pass
