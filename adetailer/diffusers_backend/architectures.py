"""What a single-file checkpoint is, read from its own tensors: family, inpainting, every size.

diffusers' single-file loader asks the Hub for each model's configuration. Offline there is no
Hub, so the configuration is worked out from the checkpoint itself: which keys it has says the
family (SD 1.x, SD 2.x, SDXL), the shapes say the widths, depths and channel counts. Only what
weights cannot show comes from the family (attention head counts, VAE scaling factor), the
same values the published configurations hold. Fine-tunes, merges and inpainting variants of a
family therefore load without a file of their own, and so do the tiny models the tests build.

Nothing here imports torch: the state dict's values only need a `.shape`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

UNET = "model.diffusion_model."
VAE = "first_stage_model."
SD1_CLIP = "cond_stage_model.transformer.text_model."
SD2_OPENCLIP = "cond_stage_model.model."
SDXL_CLIP = "conditioner.embedders.0.transformer.text_model."
SDXL_OPENCLIP = "conditioner.embedders.1.model."

SD1, SD2, SDXL = "SD 1.x", "SD 2.x", "SDXL"
SUPPORTED = "SD 1.x, SD 2.x and SDXL checkpoints (and their inpainting versions)"

# The noise schedule every SD 1.x, 2.x and SDXL model was trained with (A1111's and diffusers').
SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "steps_offset": 1,
    "clip_sample": False,
    "set_alpha_to_one": False,
    "timestep_spacing": "leading",
}


class CheckpointFormatError(ValueError):
    """The file is not a checkpoint this backend can use; the message says what it found."""


@dataclass(frozen=True)
class TextEncoderSpec:
    """One text encoder: where its weights are, how they are laid out, and its configuration."""

    prefix: str
    layout: str  # "clip" (Hugging Face names) or "openclip" (OpenCLIP names, fused attention)
    config: dict[str, Any]
    with_projection: bool = False
    pad_token: str = "<|endoftext|>"
    dropped_layer: int | None = None  # SD 2.x uses the penultimate layer: the last one is left out


@dataclass(frozen=True)
class Architecture:
    family: str
    inpainting: bool
    unet: dict[str, Any]
    vae: dict[str, Any]
    text_encoders: tuple[TextEncoderSpec, ...]
    scheduler: dict[str, Any] = field(default_factory=lambda: dict(SCHEDULER_CONFIG))

    @property
    def is_sdxl(self) -> bool:
        return self.family == SDXL

    def describe(self) -> str:
        return f"{self.family}{' inpainting' if self.inpainting else ''}"


def _indices(keys: Any, prefix: str) -> list[int]:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m.group(1)) for k in keys if (m := pattern.match(k))})


def _has_prefix(keys: Any, prefix: str) -> bool:
    return any(k.startswith(prefix) for k in keys)


def detect_family(state: Mapping[str, Any]) -> str:
    """SD 1.x, SD 2.x or SDXL, by where the text encoders live; anything else is refused."""
    keys = state.keys()
    if not _has_prefix(keys, UNET) or not _has_prefix(keys, VAE):
        found = "a diffusers or other single model" if _has_prefix(keys, "down_blocks.") else None
        parts = sorted({k.split(".")[0] for k in keys})[:6]
        what = found or ("keys starting with " + ", ".join(parts) if parts else "no tensors")
        msg = (
            f"not a full Stable Diffusion checkpoint (found {what}); supported: {SUPPORTED} "
            "with UNet, VAE and text encoder in one file, or a diffusers folder"
        )
        raise CheckpointFormatError(msg)
    if _has_prefix(keys, SDXL_OPENCLIP) and _has_prefix(keys, SDXL_CLIP):
        return SDXL
    if _has_prefix(keys, "conditioner.embedders.0.model."):
        msg = f"an SDXL refiner checkpoint cannot redraw on its own; supported: {SUPPORTED}"
        raise CheckpointFormatError(msg)
    if _has_prefix(keys, SD2_OPENCLIP):
        return SD2
    if _has_prefix(keys, SD1_CLIP):
        return SD1
    msg = f"a checkpoint without a known text encoder; supported: {SUPPORTED}"
    raise CheckpointFormatError(msg)


def unet_config(state: Mapping[str, Any], family: str, pooled_dim: int = 0) -> dict[str, Any]:
    keys = list(state)
    conv_in = state[UNET + "input_blocks.0.0.weight"].shape
    inputs = _indices(keys, UNET + "input_blocks.")
    downsamples = [i for i in inputs if UNET + f"input_blocks.{i}.0.op.weight" in state]
    per_level = downsamples[0] - 1 if downsamples else len(inputs) - 1
    levels = len(downsamples) + 1

    def first(level: int) -> int:
        return 1 + level * (per_level + 1)

    channels = [
        int(state[UNET + f"input_blocks.{first(level)}.0.out_layers.3.weight"].shape[0])
        for level in range(levels)
    ]
    depths = [
        len(_indices(keys, UNET + f"input_blocks.{first(level)}.1.transformer_blocks."))
        for level in range(levels)
    ]
    attended = [level for level, depth in enumerate(depths) if depth]
    if not attended:
        msg = "the UNet has no cross-attention layers; not a Stable Diffusion UNet"
        raise CheckpointFormatError(msg)
    block = UNET + f"input_blocks.{first(attended[0])}.1."
    config: dict[str, Any] = {
        "sample_size": {SD1: 64, SD2: 96, SDXL: 128}[family],
        "in_channels": int(conv_in[1]),
        "out_channels": int(state[UNET + "out.2.weight"].shape[0]),
        "down_block_types": ["CrossAttnDownBlock2D" if d else "DownBlock2D" for d in depths],
        "up_block_types": ["CrossAttnUpBlock2D" if d else "UpBlock2D" for d in reversed(depths)],
        "block_out_channels": channels,
        "layers_per_block": per_level,
        "cross_attention_dim": int(
            state[block + "transformer_blocks.0.attn2.to_k.weight"].shape[1]
        ),
        "use_linear_projection": len(state[block + "proj_in.weight"].shape) == 2,
        "transformer_layers_per_block": [max(d, 1) for d in depths],
        # heads are not in the weights: SD 1.x has 8 everywhere, later families 64 channels each
        "attention_head_dim": 8 if family == SD1 else [max(1, c // 64) for c in channels],
        "upcast_attention": family == SD2,
    }
    if UNET + "label_emb.0.0.weight" in state:
        embed_in = int(state[UNET + "label_emb.0.0.weight"].shape[1])
        config |= {
            "addition_embed_type": "text_time",
            "addition_time_embed_dim": (embed_in - pooled_dim) // 6,  # 6 size/crop numbers
            "projection_class_embeddings_input_dim": embed_in,
        }
    return config


def vae_config(state: Mapping[str, Any], family: str) -> dict[str, Any]:
    keys = list(state)
    levels = _indices(keys, VAE + "encoder.down.")
    channels = [int(state[VAE + f"encoder.down.{i}.block.0.conv2.weight"].shape[0]) for i in levels]
    return {
        "in_channels": int(state[VAE + "encoder.conv_in.weight"].shape[1]),
        "out_channels": int(state[VAE + "decoder.conv_out.weight"].shape[0]),
        "down_block_types": ["DownEncoderBlock2D"] * len(levels),
        "up_block_types": ["UpDecoderBlock2D"] * len(levels),
        "block_out_channels": channels,
        "layers_per_block": len(_indices(keys, VAE + "encoder.down.0.block.")),
        "latent_channels": int(state[VAE + "quant_conv.weight"].shape[0]) // 2,
        "sample_size": 1024 if family == SDXL else 512,
        "scaling_factor": 0.13025 if family == SDXL else 0.18215,
        "force_upcast": family == SDXL,  # SDXL's VAE overflows in fp16
    }


def _clip_config(
    vocab: int, hidden: int, positions: int, layers: int, inner: int, act: str, projection: int
) -> dict[str, Any]:
    return {
        "model_type": "clip_text_model",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": inner,
        "num_hidden_layers": layers,
        "num_attention_heads": max(1, hidden // 64),
        "max_position_embeddings": positions,
        "hidden_act": act,
        "projection_dim": projection,
        "bos_token_id": 0,
        "eos_token_id": 2,  # the legacy value: the end of text is found as the largest id
        "pad_token_id": 1,
    }


def clip_spec(state: Mapping[str, Any], prefix: str) -> TextEncoderSpec:
    """OpenAI CLIP text model in Hugging Face names (SD 1.x, SDXL's first encoder)."""
    vocab, hidden = state[prefix + "embeddings.token_embedding.weight"].shape
    config = _clip_config(
        int(vocab),
        int(hidden),
        int(state[prefix + "embeddings.position_embedding.weight"].shape[0]),
        len(_indices(state.keys(), prefix + "encoder.layers.")),
        int(state[prefix + "encoder.layers.0.mlp.fc1.weight"].shape[0]),
        "quick_gelu",
        int(hidden),
    )
    return TextEncoderSpec(prefix, "clip", config)


def openclip_spec(state: Mapping[str, Any], prefix: str, *, penultimate: bool) -> TextEncoderSpec:
    """OpenCLIP text model (SD 2.x's ViT-H, SDXL's ViT-bigG)."""
    vocab, hidden = state[prefix + "token_embedding.weight"].shape
    layers = len(_indices(state.keys(), prefix + "transformer.resblocks."))
    projection = state.get(prefix + "text_projection")
    config = _clip_config(
        int(vocab),
        int(hidden),
        int(state[prefix + "positional_embedding"].shape[0]),
        layers - 1 if penultimate else layers,
        int(state[prefix + "transformer.resblocks.0.mlp.c_fc.weight"].shape[0]),
        "gelu",
        int(projection.shape[1]) if projection is not None else int(hidden),
    )
    return TextEncoderSpec(
        prefix,
        "openclip",
        config,
        with_projection=not penultimate,
        pad_token="!",
        dropped_layer=layers - 1 if penultimate else None,
    )


def architecture(state: Mapping[str, Any]) -> Architecture:
    """Everything needed to build the pipeline's models for this state dict."""
    family = detect_family(state)
    if family == SDXL:
        encoders: tuple[TextEncoderSpec, ...] = (
            clip_spec(state, SDXL_CLIP),
            openclip_spec(state, SDXL_OPENCLIP, penultimate=False),
        )
        pooled = encoders[1].config["projection_dim"]
    elif family == SD2:
        encoders, pooled = (openclip_spec(state, SD2_OPENCLIP, penultimate=True),), 0
    else:
        encoders, pooled = (clip_spec(state, SD1_CLIP),), 0
    unet = unet_config(state, family, pooled)
    inpainting = unet["in_channels"] == 9
    if unet["in_channels"] not in (4, 9):
        msg = f"a UNet with {unet['in_channels']} input channels; supported: {SUPPORTED}"
        raise CheckpointFormatError(msg)
    return Architecture(family, inpainting, unet, vae_config(state, family), encoders)
