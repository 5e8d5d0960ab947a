"""``modules.rng``: per-seed noise, so a batch gets the same noise as single images with those seeds."""

from __future__ import annotations

import torch


def randn(seed: int, shape) -> torch.Tensor:
    generator = torch.Generator(device="cpu").manual_seed(int(seed) & 0xFFFFFFFFFFFF)
    return torch.randn(shape, generator=generator)


def create_generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(int(seed) & 0xFFFFFFFFFFFF)


def slerp(val: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)

    if dot.mean() > 0.9995:
        return low * val + high * (1 - val)

    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (
        torch.sin(val * omega) / so
    ).unsqueeze(1) * high


class ImageRNG:
    def __init__(
        self,
        shape,
        seeds,
        subseeds=None,
        subseed_strength: float = 0.0,
        seed_resize_from_h: int = 0,
        seed_resize_from_w: int = 0,
    ) -> None:
        self.shape = tuple(map(int, shape))
        self.seeds = seeds
        self.subseeds = subseeds
        self.subseed_strength = subseed_strength
        self.seed_resize_from_h = seed_resize_from_h
        self.seed_resize_from_w = seed_resize_from_w
        self.generators = [create_generator(seed) for seed in seeds]
        self.is_first = True

    def first(self) -> torch.Tensor:
        noise_shape = self.shape
        if self.seed_resize_from_h > 0 and self.seed_resize_from_w > 0:
            noise_shape = (self.shape[0], self.seed_resize_from_h, self.seed_resize_from_w)

        xs = []
        for i, generator in enumerate(self.generators):
            subnoise = None
            if self.subseeds is not None and self.subseed_strength != 0:
                subseed = 0 if i >= len(self.subseeds) else self.subseeds[i]
                subnoise = randn(subseed, noise_shape)

            noise = torch.randn(noise_shape, generator=generator)
            if subnoise is not None:
                noise = slerp(self.subseed_strength, noise, subnoise)

            if noise_shape != self.shape:
                # Paste the noise made for the "resize from" size into the middle of the real size.
                x = torch.randn(self.shape, generator=generator)
                dx = (self.shape[2] - noise_shape[2]) // 2
                dy = (self.shape[1] - noise_shape[1]) // 2
                w = min(noise_shape[2], self.shape[2])
                h = min(noise_shape[1], self.shape[1])
                tx, ty = max(dx, 0), max(dy, 0)
                sx, sy = max(-dx, 0), max(-dy, 0)
                x[:, ty : ty + h, tx : tx + w] = noise[:, sy : sy + h, sx : sx + w]
                noise = x

            xs.append(noise)

        return torch.stack(xs)

    def next(self) -> torch.Tensor:
        if self.is_first:
            self.is_first = False
            return self.first()

        return torch.stack(
            [torch.randn(self.shape, generator=generator) for generator in self.generators]
        )
