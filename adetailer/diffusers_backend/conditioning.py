"""Prompts to CLIP embeddings the way A1111 makes them: weighted, in 77-token chunks.

Each prompt is read with A1111's attention syntax (`adetailer.attention`), tokenized without
truncation and cut into chunks of 75 tokens (a comma near the end moves the last words on,
BREAK starts a chunk). Each chunk becomes [start, tokens, end, padding] and is encoded on its
own; the token weights multiply the hidden states, which are then scaled back to the chunk's
original mean. The chunks are joined along the token axis, as A1111 feeds them to the UNet.

SD 1.x takes the last layer (or the one `clip_skip` names) through the final layer norm; SD 2.x
models loaded here already end at the penultimate layer; SDXL takes both encoders' penultimate
layers, joined along the features, and the second encoder's pooled output of the first chunk.
A negative prompt and a prompt are given the same number of chunks (empty ones are added).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from adetailer.attention import Chunk, chunk_tokens, parse_attention

CHUNK_LENGTH = 75


@dataclass
class Conditioning:
    embeds: torch.Tensor  # (1, 77 * chunks, features)
    pooled: torch.Tensor | None = None  # (1, projection) for SDXL

    @property
    def chunks(self) -> int:
        return self.embeds.shape[1] // (CHUNK_LENGTH + 2)


class PromptEncoder:
    """Encodes prompts with a pipeline's tokenizer(s) and text encoder(s)."""

    def __init__(self, pipe: Any, *, is_sdxl: bool, clip_skip: int = 1) -> None:
        self.is_sdxl = is_sdxl
        self.clip_skip = max(1, int(clip_skip))
        self.tokenizers = [pipe.tokenizer] + ([pipe.tokenizer_2] if is_sdxl else [])
        self.encoders = [pipe.text_encoder] + ([pipe.text_encoder_2] if is_sdxl else [])
        tokenizer = self.tokenizers[0]
        self.comma = tokenizer.convert_tokens_to_ids(",</w>")

    def chunks(self, prompt: str) -> list[Chunk]:
        parts = parse_attention(prompt)
        texts = [p.text for p in parts if not p.is_break]
        ids = (
            self.tokenizers[0](texts, add_special_tokens=False, truncation=False)["input_ids"]
            if texts
            else []
        )
        runs: list[tuple[list[int], float] | None] = []
        tokens = iter(ids)
        for part in parts:
            runs.append(None if part.is_break else (list(next(tokens)), part.weight))
        return chunk_tokens(runs, self.comma, CHUNK_LENGTH)

    def count(self, prompt: str) -> int:
        return len(self.chunks(prompt))

    @torch.no_grad()
    def encode(self, prompt: str, chunks: int | None = None) -> Conditioning:
        pieces = self.chunks(prompt)
        while chunks is not None and len(pieces) < chunks:
            pieces.append(Chunk([], []))
        hidden: list[torch.Tensor] = []
        pooled = None
        for tokenizer, encoder in zip(self.tokenizers, self.encoders, strict=True):
            z, pool = self._encode_chunks(tokenizer, encoder, pieces)
            hidden.append(z)
            if pool is not None:
                pooled = pool
        embeds = torch.cat(hidden, dim=-1) if len(hidden) > 1 else hidden[0]
        return Conditioning(embeds, pooled if self.is_sdxl else None)

    def _encode_chunks(
        self, tokenizer: Any, encoder: Any, pieces: list[Chunk]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        device = encoder.device
        rows, weights = [], []
        for piece in pieces:
            padding = CHUNK_LENGTH - len(piece.tokens)
            rows.append(
                [tokenizer.bos_token_id, *piece.tokens, tokenizer.eos_token_id]
                + [tokenizer.pad_token_id] * padding
            )
            weights.append([1.0, *piece.weights, 1.0] + [1.0] * padding)
        ids = torch.tensor(rows, dtype=torch.long, device=device)
        out = encoder(ids, output_hidden_states=True)
        if self.is_sdxl:
            z = out.hidden_states[-2]
        elif self.clip_skip > 1:
            z = encoder.text_model.final_layer_norm(out.hidden_states[-self.clip_skip])
        else:
            z = out.last_hidden_state
        multipliers = torch.tensor(weights, dtype=z.dtype, device=device)
        if bool((multipliers != 1).any()):
            original = z.float().mean(dim=(1, 2), keepdim=True)
            z = z * multipliers[..., None]
            scaled = z.float().mean(dim=(1, 2), keepdim=True)
            # a chunk whose mean is 0 has nothing to restore (and 0/0 would be NaN)
            ratio = torch.where(scaled == 0, torch.ones_like(scaled), original / scaled)
            z = (z.float() * ratio).to(z.dtype)
        pooled = getattr(out, "text_embeds", None)
        return z.reshape(1, -1, z.shape[-1]), (pooled[:1] if pooled is not None else None)
