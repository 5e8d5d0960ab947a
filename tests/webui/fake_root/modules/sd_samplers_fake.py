"""The fake diffusion backend: deterministic images instead of denoising, and a record of every call.

- ``sample`` (txt2img, first pass) returns a smooth RGB pattern derived from (prompt, seed, size).
- ``sample_img2img`` (img2img and the hires pass) returns the input shifted by a large per-channel
  offset (mod 256), so every pixel the sampler is allowed to touch visibly changes; in img2img with a
  mask, ``p.sample`` blends it back so only the masked area changes (as A1111 does with latents).

Test hooks (reset with ``reset()``):
- ``calls``: one ``SamplerCall`` per sampling call, in order (also ``processing.sampler_calls``);
- ``nan_calls``: indexes of calls whose result is all NaN, so ``devices.test_for_nans`` raises;
- ``interrupt_calls`` / ``skip_calls``: indexes of calls at whose first step ``state.interrupt()``
  / ``state.skip()`` is called, so the call returns its input like an interrupted A1111 sampler;
- ``cond_calls``: prompts the "text encoder" was run for (the cond cache decides when).
"""

from __future__ import annotations

import copy
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from modules import script_callbacks, sd_samplers_common, sd_schedulers, shared
from modules.shared import opts, state


@dataclass
class SamplerCall:
    """What a sampling call saw. Sizes are of the sampled tensor (= image size in the fake)."""

    index: int
    kind: str  # "txt2img", "img2img" or "hires"
    width: int
    height: int
    p_width: int
    p_height: int
    steps: int  # length of the schedule
    denoise_steps: int  # steps actually run (t_enc + 1 for img2img)
    sampler_name: str
    scheduler: str | None
    cfg_scale: float
    seeds: list[int]
    subseeds: list[int]
    subseed_strength: float
    denoising_strength: float | None
    prompts: list[str]
    negative_prompts: list[str]
    batch_size: int
    is_hr_pass: bool
    eta: float | None
    mask_bbox: tuple[int, int, int, int] | None  # bbox of the latent mask in sampled-tensor pixels
    initial_noise_multiplier: float | None
    inpaint_full_res: Any
    inpaint_full_res_padding: int | None
    inpainting_fill: int | None
    mask_blur_x: int | None
    mask_blur_y: int | None
    paste_to: tuple | None
    override_settings: dict[str, Any]
    opts_in_effect: dict[str, Any]  # values of the overridden keys at sampling time
    clip_skip: int
    sd_model_checkpoint: str | None  # title of the loaded checkpoint
    sd_model_is_sdxl: bool
    sd_vae: str | None  # file name of the loaded VAE
    alwayson_scripts: list[str] | None  # titles, in runner order
    script_args: Any
    p: Any = field(repr=False, default=None)
    interrupted: bool = False
    nan: bool = False

    @property
    def seed(self) -> int:
        return self.seeds[0]

    @property
    def prompt(self) -> str:
        return self.prompts[0]

    @property
    def negative_prompt(self) -> str:
        return self.negative_prompts[0]


calls: list[SamplerCall] = []
nan_calls: set[int] = set()
interrupt_calls: set[int] = set()
skip_calls: set[int] = set()
cond_calls: list[list[str]] = []


def reset() -> None:
    calls.clear()
    nan_calls.clear()
    interrupt_calls.clear()
    skip_calls.clear()
    cond_calls.clear()


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("|".join(str(x) for x in parts).encode()).digest()


def pattern_image(prompt: str, seed: int, width: int, height: int) -> np.ndarray:
    """Deterministic smooth RGB image (H, W, 3) uint8 for a txt2img result."""
    d = _digest("txt2img", prompt, seed)
    c0 = np.array(list(d[0:3]), dtype=np.float32)
    c1 = np.array(list(d[3:6]), dtype=np.float32)
    angle = d[6] / 255.0 * 2 * np.pi
    freq = 1.0 + d[7] / 64.0

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u = xs / max(width - 1, 1)
    v = ys / max(height - 1, 1)
    t = (np.cos(angle) * u + np.sin(angle) * v + 1.0) / 2.0
    t = np.clip(t + 0.15 * np.sin(2 * np.pi * freq * u) * np.cos(2 * np.pi * freq * v), 0.0, 1.0)

    image = c0 * (1.0 - t[..., None]) + c1 * t[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


def img2img_offsets(prompt: str, seed: int) -> np.ndarray:
    """Per-channel shift in [96, 159]; mod 256 that moves every channel value by at least 96."""
    d = _digest("img2img", prompt, seed)
    return np.array([96 + d[i] % 64 for i in range(3)], dtype=np.int32)


def _to_pixels(latent: torch.Tensor) -> np.ndarray:
    x = torch.clamp((latent.float() + 1.0) / 2.0, 0.0, 1.0)
    return np.rint(np.moveaxis(x.cpu().numpy(), 0, 2) * 255.0).astype(np.int32)


def _to_latent(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.moveaxis(pixels.astype(np.float32) / 255.0, 2, 0)) * 2.0 - 1.0


def _mask_bbox(nmask: torch.Tensor | None) -> tuple[int, int, int, int] | None:
    if nmask is None:
        return None
    m = nmask[0] if nmask.dim() == 3 else nmask
    ys, xs = torch.nonzero(m > 0.5, as_tuple=True)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


class FakeDenoiser:
    """Stands in for A1111's CFGDenoiser: what ``on_mask_blend``/cfg callbacks and the refiner see."""

    def __init__(self, sampler: FakeSampler) -> None:
        self.sampler = sampler
        self.p = None
        self.mask = None
        self.nmask = None
        self.init_latent = None
        self.step = 0
        self.steps = 0
        self.total_steps = 0
        self.image_cfg_scale = None
        self.mask_before_denoising = False


_ETA_SAMPLERS = {
    "Euler a",
    "DPM2 a",
    "DPM++ 2S a",
    "DPM++ SDE",
    "DPM++ 2M SDE",
    "DPM++ 2M SDE Heun",
    "DPM++ 3M SDE",
    "DPM fast",
    "DPM adaptive",
    "DDIM",
    "DDIM CFG++",
}
_TIMESTEP_SAMPLERS = {"DDIM", "DDIM CFG++", "PLMS", "UniPC"}


class FakeSampler(sd_samplers_common.Sampler):
    def __init__(self, funcname: str, sd_model) -> None:
        super().__init__(funcname)
        self.model = sd_model
        self.model_wrap_cfg = FakeDenoiser(self)
        self.model_wrap = None
        if funcname in ("ddim", "ddim_cfgpp"):
            self.eta_option_field = "eta_ddim"
            self.eta_infotext_field = "Eta DDIM"
            self.eta_default = 0.0

    def initialize(self, p) -> dict:
        self.p = p
        self.model_wrap_cfg.p = p
        self.model_wrap_cfg.mask = p.mask if hasattr(p, "mask") else None
        self.model_wrap_cfg.nmask = p.nmask if hasattr(p, "nmask") else None
        self.model_wrap_cfg.step = 0
        self.model_wrap_cfg.image_cfg_scale = getattr(p, "image_cfg_scale", None)
        self.eta = p.eta if p.eta is not None else getattr(opts, self.eta_option_field, 0.0)
        self.s_min_uncond = getattr(p, "s_min_uncond", 0.0)

        if self.config.name in _ETA_SAMPLERS and self.eta != self.eta_default:
            p.extra_generation_params[self.eta_infotext_field] = self.eta

        return {}

    def _note_schedule(self, p) -> None:
        """The infotext side effects of k-diffusion's ``get_sigmas`` (schedule type, sigma overrides)."""
        if self.config.name in _TIMESTEP_SAMPLERS:
            return

        if opts.always_discard_next_to_last_sigma and not self.config.options.get(
            "discard_next_to_last_sigma", False
        ):
            p.extra_generation_params["Discard penultimate sigma"] = True

        scheduler_name = (p.hr_scheduler if p.is_hr_pass else p.scheduler) or "Automatic"
        if scheduler_name == "Automatic":
            scheduler_name = self.config.options.get("scheduler", None)

        scheduler = sd_schedulers.schedulers_map.get(scheduler_name)
        if p.sampler_noise_scheduler_override or scheduler is None or scheduler.function is None:
            return

        if scheduler.label != "Automatic" and not p.is_hr_pass:
            p.extra_generation_params["Schedule type"] = scheduler.label
        elif scheduler.label != p.extra_generation_params.get("Schedule type"):
            p.extra_generation_params["Hires schedule type"] = scheduler.label

        if opts.sigma_min != 0:
            p.extra_generation_params["Schedule min sigma"] = opts.sigma_min
        if opts.sigma_max != 0:
            p.extra_generation_params["Schedule max sigma"] = opts.sigma_max
        if scheduler.default_rho != -1 and opts.rho != 0 and opts.rho != scheduler.default_rho:
            p.extra_generation_params["Schedule rho"] = opts.rho
        if scheduler.label == "Beta":
            p.extra_generation_params["Beta schedule alpha"] = opts.beta_dist_alpha
            p.extra_generation_params["Beta schedule beta"] = opts.beta_dist_beta

    def _record(self, p, kind: str, x: torch.Tensor, steps: int, denoise_steps: int) -> SamplerCall:
        from modules import sd_vae

        is_img2img_p = hasattr(p, "init_images")
        nmask = getattr(p, "nmask", None) if kind == "img2img" else None
        sd_model = shared.sd_model
        call = SamplerCall(
            index=len(calls),
            kind=kind,
            width=int(x.shape[3]),
            height=int(x.shape[2]),
            p_width=p.width,
            p_height=p.height,
            steps=steps,
            denoise_steps=denoise_steps,
            sampler_name=self.config.name,
            scheduler=p.hr_scheduler if p.is_hr_pass else p.scheduler,
            cfg_scale=p.cfg_scale,
            seeds=list(p.seeds),
            subseeds=list(p.subseeds),
            subseed_strength=p.subseed_strength,
            denoising_strength=p.denoising_strength,
            prompts=list(p.hr_prompts if p.is_hr_pass else p.prompts),
            negative_prompts=list(p.hr_negative_prompts if p.is_hr_pass else p.negative_prompts),
            batch_size=int(x.shape[0]),
            is_hr_pass=p.is_hr_pass,
            eta=self.eta,
            mask_bbox=_mask_bbox(nmask),
            initial_noise_multiplier=getattr(p, "initial_noise_multiplier", None),
            inpaint_full_res=getattr(p, "inpaint_full_res", None) if is_img2img_p else None,
            inpaint_full_res_padding=getattr(p, "inpaint_full_res_padding", None)
            if is_img2img_p
            else None,
            inpainting_fill=getattr(p, "inpainting_fill", None) if is_img2img_p else None,
            mask_blur_x=getattr(p, "mask_blur_x", None) if is_img2img_p else None,
            mask_blur_y=getattr(p, "mask_blur_y", None) if is_img2img_p else None,
            paste_to=p.paste_to,
            override_settings=copy.copy(p.override_settings),
            opts_in_effect={k: getattr(opts, k, None) for k in p.override_settings},
            clip_skip=opts.CLIP_stop_at_last_layers,
            sd_model_checkpoint=sd_model.sd_checkpoint_info.title if sd_model is not None else None,
            sd_model_is_sdxl=bool(getattr(sd_model, "is_sdxl", False)),
            sd_vae=os.path.basename(sd_vae.loaded_vae_file) if sd_vae.loaded_vae_file else None,
            alwayson_scripts=[s.title() for s in p.scripts.alwayson_scripts]
            if p.scripts is not None
            else None,
            script_args=p.script_args,
            p=p,
        )
        calls.append(call)
        return call

    def _run_steps(
        self,
        call: SamplerCall,
        p,
        x: torch.Tensor,
        target: torch.Tensor,
        n_steps: int,
        conditioning,
        unconditional_conditioning,
        image_conditioning,
    ) -> torch.Tensor:
        """Walk from ``x`` to ``target`` in ``n_steps``, with A1111's per-step checks and callbacks."""
        denoiser = self.model_wrap_cfg
        denoiser.steps = n_steps
        denoiser.total_steps = self.config.total_steps(n_steps)
        self.last_latent = x
        completed: list[bool] = []
        blend_hooks = p.scripts is not None and bool(p.scripts.ordered_scripts("on_mask_blend"))

        def run():
            current = x
            for i in range(n_steps):
                if i == 0 and call.index in interrupt_calls:
                    state.interrupt()
                if i == 0 and call.index in skip_calls:
                    state.skip()
                if state.interrupted or state.skipped:
                    raise sd_samplers_common.InterruptedException

                sd_samplers_common.apply_refiner(denoiser)

                sigma = torch.tensor(float(n_steps - i))
                script_callbacks.cfg_denoiser_callback(
                    script_callbacks.CFGDenoiserParams(
                        current,
                        image_conditioning,
                        sigma,
                        state.sampling_step,
                        state.sampling_steps,
                        conditioning,
                        unconditional_conditioning,
                        denoiser,
                    )
                )

                # Intermediate steps keep the current latent; the last step lands on the target.
                denoised = target if i == n_steps - 1 else current
                script_callbacks.cfg_denoised_callback(
                    script_callbacks.CFGDenoisedParams(
                        denoised, state.sampling_step, state.sampling_steps, None
                    )
                )

                # Blending is idempotent, so it is skipped on steps nobody observes.
                if denoiser.mask is not None and (i == n_steps - 1 or blend_hooks):
                    blended = denoised * denoiser.nmask + denoiser.init_latent * denoiser.mask
                    if p.scripts is not None:
                        from modules import scripts

                        mba = scripts.MaskBlendArgs(
                            denoised,
                            denoiser.nmask,
                            denoiser.init_latent,
                            denoiser.mask,
                            blended,
                            denoiser=denoiser,
                            sigma=sigma,
                        )
                        p.scripts.on_mask_blend(p, mba)
                        blended = mba.blended_latent
                    denoised = blended

                script_callbacks.cfg_after_cfg_callback(
                    script_callbacks.AfterCFGCallbackParams(
                        denoised, state.sampling_step, state.sampling_steps
                    )
                )

                current = denoised
                self.last_latent = current
                denoiser.step += 1
                self.callback_state({"i": i})

            completed.append(True)
            return current

        result = self.launch_sampling(n_steps, run)
        call.interrupted = not completed

        if call.index in nan_calls:
            result = torch.full_like(result, float("nan"))
            call.nan = True

        return result

    def sample(
        self, p, x, conditioning, unconditional_conditioning, steps=None, image_conditioning=None
    ):
        steps = steps or p.steps
        self._note_schedule(p)

        if opts.sgm_noise_multiplier:
            p.extra_generation_params["SGM noise multiplier"] = True

        self.initialize(p)
        call = self._record(p, "txt2img", x, steps, steps)

        height, width = int(x.shape[2]), int(x.shape[3])
        target = torch.stack(
            [
                _to_latent(pattern_image(prompt, seed, width, height))
                for prompt, seed in zip(call.prompts, call.seeds, strict=False)
            ]
        )

        # An interrupted txt2img returns its starting point: the (clamped) noise.
        samples = self._run_steps(
            call,
            p,
            torch.clamp(x, -1.0, 1.0),
            target,
            steps,
            conditioning,
            unconditional_conditioning,
            image_conditioning,
        )
        self.add_infotext(p)
        return samples

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
        steps, t_enc = sd_samplers_common.setup_img2img_steps(p, steps)
        self._note_schedule(p)

        if opts.img2img_extra_noise > 0:
            p.extra_generation_params["Extra noise"] = opts.img2img_extra_noise
            params = script_callbacks.ExtraNoiseParams(noise, x, x + noise)
            script_callbacks.extra_noise_callback(params)

        self.initialize(p)
        self.model_wrap_cfg.init_latent = x
        call = self._record(p, "hires" if p.is_hr_pass else "img2img", x, steps, t_enc + 1)

        targets = []
        for i, (prompt, seed) in enumerate(zip(call.prompts, call.seeds, strict=False)):
            pixels = _to_pixels(x[i])
            targets.append(_to_latent((pixels + img2img_offsets(prompt, seed)) % 256))
        target = torch.stack(targets)

        samples = self._run_steps(
            call,
            p,
            x,
            target,
            t_enc + 1,
            conditioning,
            unconditional_conditioning,
            image_conditioning,
        )
        self.add_infotext(p)
        return samples


samplers_k_diffusion = [
    ("DPM++ 2M", "sample_dpmpp_2m", ["k_dpmpp_2m"], {"scheduler": "karras"}),
    (
        "DPM++ SDE",
        "sample_dpmpp_sde",
        ["k_dpmpp_sde"],
        {"scheduler": "karras", "second_order": True, "brownian_noise": True},
    ),
    (
        "DPM++ 2M SDE",
        "sample_dpmpp_2m_sde",
        ["k_dpmpp_2m_sde"],
        {"scheduler": "exponential", "brownian_noise": True},
    ),
    (
        "DPM++ 2M SDE Heun",
        "sample_dpmpp_2m_sde",
        ["k_dpmpp_2m_sde_heun"],
        {"scheduler": "exponential", "brownian_noise": True, "solver_type": "heun"},
    ),
    (
        "DPM++ 2S a",
        "sample_dpmpp_2s_ancestral",
        ["k_dpmpp_2s_a"],
        {"scheduler": "karras", "uses_ensd": True, "second_order": True},
    ),
    (
        "DPM++ 3M SDE",
        "sample_dpmpp_3m_sde",
        ["k_dpmpp_3m_sde"],
        {"scheduler": "exponential", "discard_next_to_last_sigma": True, "brownian_noise": True},
    ),
    ("Euler a", "sample_euler_ancestral", ["k_euler_a", "k_euler_ancestral"], {"uses_ensd": True}),
    ("Euler", "sample_euler", ["k_euler"], {}),
    ("LMS", "sample_lms", ["k_lms"], {}),
    ("Heun", "sample_heun", ["k_heun"], {"second_order": True}),
    (
        "DPM2",
        "sample_dpm_2",
        ["k_dpm_2"],
        {"scheduler": "karras", "discard_next_to_last_sigma": True, "second_order": True},
    ),
    (
        "DPM2 a",
        "sample_dpm_2_ancestral",
        ["k_dpm_2_a"],
        {
            "scheduler": "karras",
            "discard_next_to_last_sigma": True,
            "uses_ensd": True,
            "second_order": True,
        },
    ),
    ("DPM fast", "sample_dpm_fast", ["k_dpm_fast"], {"uses_ensd": True}),
    ("DPM adaptive", "sample_dpm_adaptive", ["k_dpm_ad"], {"uses_ensd": True}),
    ("Restart", "restart_sampler", ["restart"], {"scheduler": "karras", "second_order": True}),
]

samplers_timesteps = [
    ("DDIM", "ddim", ["ddim"], {}),
    ("DDIM CFG++", "ddim_cfgpp", ["ddim_cfgpp"], {}),
    ("PLMS", "plms", ["plms"], {}),
    ("UniPC", "unipc", ["unipc"], {}),
]

samplers_lcm = [("LCM", "sample_lcm", ["k_lcm"], {})]

samplers_data = [
    sd_samplers_common.SamplerData(
        label, lambda model, funcname=funcname: FakeSampler(funcname, model), aliases, options
    )
    for label, funcname, aliases, options in samplers_k_diffusion
    + samplers_timesteps
    + samplers_lcm
]
