"""Tiny random-weight Stable Diffusion models, written as A1111 single files and diffusers folders.

No real checkpoint can be had offline, so tests and benchmarks build SD 1.x- and SDXL-shaped
models from configs (the same block types and key layout, far fewer channels) and save them
the way users have them: one `.safetensors` in A1111's (LDM) key layout, or a diffusers folder.
They are then loaded by the real loading code (`adetailer.diffusers_backend.checkpoints`).

The LDM layout is written here by renaming diffusers' keys; a test checks that diffusers' own
converter turns it back into exactly the weights it started from.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

SD1_TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}
SDXL_TEXT_1 = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}
SDXL_TEXT_2 = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}
TIME_EMBED = 8  # SDXL's size/crop embedding width (256 in the real model)


def _text_config(spec: dict[str, int], act: str, projection: int | None = None) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=49408,
        max_position_embeddings=77,
        num_attention_heads=max(1, spec["hidden_size"] // 64),
        hidden_act=act,
        projection_dim=projection or spec["hidden_size"],
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
        **spec,
    )


def _text_encoder(cls: Any, config: Any) -> Any:
    """Random weights, with the layer norms' biases random too, as in a trained encoder.

    With zero biases the final layer norm leaves every token at mean 0, a case no real model
    has (A1111's weighting divides by that mean).
    """
    model = cls(config)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.bias.normal_(0.0, 0.1)
    return model


def _vae() -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(32, 32, 32, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=128,
    )


def tiny_pipeline(kind: str = "sd1", *, inpainting: bool = False, seed: int = 0) -> Any:
    """An inpaint pipeline of `kind` ("sd1", "sd2" or "sdxl") with random weights, CPU, fp32."""
    from diffusers import (
        DPMSolverMultistepScheduler,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from adetailer.diffusers_backend.architectures import SCHEDULER_CONFIG
    from adetailer.diffusers_backend.checkpoints import clip_tokenizer, inpaint_pipeline

    torch.manual_seed(seed)
    scheduler = DPMSolverMultistepScheduler.from_config(SCHEDULER_CONFIG)
    # two levels, attention on the second, one layer each: the SD layout at a toy size
    unet_common = {
        "sample_size": 16,
        "in_channels": 9 if inpainting else 4,
        "out_channels": 4,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
        "block_out_channels": (32, 64),
        "layers_per_block": 1,
        "norm_num_groups": 32,
    }
    if kind == "sd1":
        encoder = _text_encoder(CLIPTextModel, _text_config(SD1_TEXT, "quick_gelu"))
        unet = UNet2DConditionModel(
            **unet_common, cross_attention_dim=SD1_TEXT["hidden_size"], attention_head_dim=8
        )
        return inpaint_pipeline(unet, _vae(), [encoder], [clip_tokenizer()], scheduler)
    if kind == "sd2":  # OpenCLIP text model (its penultimate layer), linear projections
        encoder = _text_encoder(CLIPTextModel, _text_config(SD1_TEXT, "gelu"))
        unet = UNet2DConditionModel(
            **unet_common,
            cross_attention_dim=SD1_TEXT["hidden_size"],
            attention_head_dim=[1, 1],
            use_linear_projection=True,
            upcast_attention=True,
        )
        return inpaint_pipeline(unet, _vae(), [encoder], [clip_tokenizer("!")], scheduler)
    pooled = SDXL_TEXT_2["hidden_size"]
    unet = UNet2DConditionModel(
        **unet_common,
        cross_attention_dim=SDXL_TEXT_1["hidden_size"] + SDXL_TEXT_2["hidden_size"],
        attention_head_dim=[1, 1],
        transformer_layers_per_block=[1, 1],
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_EMBED,
        projection_class_embeddings_input_dim=pooled + 6 * TIME_EMBED,
    )
    encoders = [
        _text_encoder(CLIPTextModel, _text_config(SDXL_TEXT_1, "quick_gelu")),
        _text_encoder(CLIPTextModelWithProjection, _text_config(SDXL_TEXT_2, "gelu", pooled)),
    ]
    return inpaint_pipeline(
        unet, _vae(), encoders, [clip_tokenizer(), clip_tokenizer("!")], scheduler
    )


# --- diffusers names -> A1111 (LDM) names ------------------------------------------------------

_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_UNET_PLAIN = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}


def _resnet(rest: str) -> str:
    name, _, tail = rest.partition(".")
    return f"{_RESNET.get(name, name)}.{tail}"


def unet_to_ldm(state: dict[str, torch.Tensor], config: Any) -> dict[str, torch.Tensor]:
    per = config.layers_per_block + 1
    up_attention = ["CrossAttn" in t for t in config.up_block_types]
    out = {}
    for key, value in state.items():
        stem, _, param = key.rpartition(".")
        if stem in _UNET_PLAIN:
            out[f"{_UNET_PLAIN[stem]}.{param}"] = value
            continue
        if m := re.match(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            b, j, rest = int(m[1]), int(m[2]), m[3]
            out[f"input_blocks.{1 + b * per + j}.0.{_resnet(rest)}"] = value
        elif m := re.match(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", key):
            b, j, rest = int(m[1]), int(m[2]), m[3]
            out[f"input_blocks.{1 + b * per + j}.1.{rest}"] = value
        elif m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            out[f"input_blocks.{(int(m[1]) + 1) * per}.0.op.{m[2]}"] = value
        elif m := re.match(r"mid_block\.resnets\.(\d+)\.(.+)", key):
            out[f"middle_block.{2 * int(m[1])}.{_resnet(m[2])}"] = value
        elif m := re.match(r"mid_block\.attentions\.0\.(.+)", key):
            out[f"middle_block.1.{m[1]}"] = value
        elif m := re.match(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            b, j, rest = int(m[1]), int(m[2]), m[3]
            out[f"output_blocks.{b * per + j}.0.{_resnet(rest)}"] = value
        elif m := re.match(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", key):
            b, j, rest = int(m[1]), int(m[2]), m[3]
            out[f"output_blocks.{b * per + j}.1.{rest}"] = value
        elif m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            b = int(m[1])
            slot = 2 if up_attention[b] else 1
            out[f"output_blocks.{b * per + per - 1}.{slot}.conv.{m[2]}"] = value
        else:
            raise KeyError(key)
    return {"model.diffusion_model." + k: v for k, v in out.items()}


_VAE_RESNET = {"conv_shortcut": "nin_shortcut"}
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def vae_to_ldm(state: dict[str, torch.Tensor], config: Any) -> dict[str, torch.Tensor]:
    levels = len(config.block_out_channels)
    out = {}
    for key, value in state.items():
        new = key.replace("conv_norm_out", "norm_out")
        if m := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)", key):
            name = _VAE_ATTENTION[m[2]]
            if m[3] == "weight" and value.ndim == 2:
                value = value[:, :, None, None]
            new = f"{m[1]}.mid.attn_1.{name}.{m[3]}"
        elif m := re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key):
            new = f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3]}"
        elif m := re.match(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            new = f"encoder.down.{m[1]}.block.{m[2]}.{m[3]}"
        elif m := re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            new = f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            new = f"decoder.up.{levels - 1 - int(m[1])}.block.{m[2]}.{m[3]}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            new = f"decoder.up.{levels - 1 - int(m[1])}.upsample.conv.{m[2]}"
        for old, renamed in _VAE_RESNET.items():
            new = new.replace(f".{old}.", f".{renamed}.")
        out["first_stage_model." + new] = value
    return out


def openclip_to_ldm(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    fused: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key.endswith("position_ids"):
            continue
        if m := re.match(r"text_model\.encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(.+)", key):
            fused.setdefault((int(m[1]), m[3]), {})[m[2]] = value
            continue
        new = {
            "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
            "text_model.embeddings.position_embedding.weight": "positional_embedding",
            "text_model.final_layer_norm.weight": "ln_final.weight",
            "text_model.final_layer_norm.bias": "ln_final.bias",
        }.get(key)
        if key == "text_projection.weight":
            new, value = "text_projection", value.T.contiguous()
        if new is None:
            m = re.match(r"text_model\.encoder\.layers\.(\d+)\.(.+)", key)
            rest = (
                m[2]
                .replace("self_attn.out_proj", "attn.out_proj")
                .replace("layer_norm1", "ln_1")
                .replace("layer_norm2", "ln_2")
                .replace("mlp.fc1", "mlp.c_fc")
                .replace("mlp.fc2", "mlp.c_proj")
            )
            new = f"transformer.resblocks.{m[1]}.{rest}"
        out[prefix + new] = value
    for (layer, param), parts in fused.items():
        kind = "in_proj_weight" if param == "weight" else "in_proj_bias"
        out[f"{prefix}transformer.resblocks.{layer}.attn.{kind}"] = torch.cat(
            [parts["q"], parts["k"], parts["v"]]
        )
    return out


def to_a1111_state(pipe: Any) -> dict[str, torch.Tensor]:
    """The pipeline's weights in the key layout of an A1111 single-file checkpoint."""
    state = unet_to_ldm(pipe.unet.state_dict(), pipe.unet.config)
    state |= vae_to_ldm(pipe.vae.state_dict(), pipe.vae.config)
    encoder = {k: v for k, v in pipe.text_encoder.state_dict().items() if "position_ids" not in k}
    if pipe.text_encoder.config.hidden_act == "gelu":  # SD 2.x: OpenCLIP, one layer more
        state |= _sd2_text_encoder(pipe.text_encoder)
    elif getattr(pipe, "text_encoder_2", None) is None:
        state |= {"cond_stage_model.transformer." + k: v for k, v in encoder.items()}
    else:
        state |= {"conditioner.embedders.0.transformer." + k: v for k, v in encoder.items()}
        state |= openclip_to_ldm(pipe.text_encoder_2.state_dict(), "conditioner.embedders.1.model.")
    return {k: v.detach().contiguous() for k, v in state.items()}


def _sd2_text_encoder(encoder: Any) -> dict[str, torch.Tensor]:
    """SD 2.x files hold the whole OpenCLIP model: the last layer (which SD 2.x skips) and the
    projection are there too; a copy of the last layer and an identity stand in for them."""
    prefix = "cond_stage_model.model."
    state = openclip_to_ldm(encoder.state_dict(), prefix)
    last = encoder.config.num_hidden_layers - 1
    for key, value in list(state.items()):
        marker = f"{prefix}transformer.resblocks.{last}."
        if key.startswith(marker):
            state[key.replace(marker, f"{prefix}transformer.resblocks.{last + 1}.")] = value.clone()
    state[prefix + "text_projection"] = torch.eye(encoder.config.hidden_size)
    return state


def save_single_file(pipe: Any, path: Path) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".ckpt":
        torch.save({"state_dict": to_a1111_state(pipe), "global_step": 1}, path)
    else:
        save_file(to_a1111_state(pipe), str(path))
    return path
