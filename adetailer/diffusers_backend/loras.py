"""`<lora:NAME:WEIGHT>` in a prompt: NAME.safetensors from the LoRA folder, at that weight.

As in the web UI, the tag is taken out of the prompt text and the network applies to the whole
redraw of that detection: its text-encoder weight to the prompt encoding, its UNet weight to
the denoising. Files are loaded once (diffusers' LoRA loader, which reads A1111/kohya files) and
switched per detection. Only `.safetensors` files are read: a LoRA never runs code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from adetailer.attention import NetworkTag

LORA_KINDS = ("lora", "lyco")


class LoraError(ValueError):
    """A LoRA tag that cannot be served; the message names the tag and what is available."""


class LoraLibrary:
    def __init__(self, pipe: Any, folder: str | Path | None) -> None:
        self.pipe = pipe
        self.folder = Path(folder) if folder else None
        self.loaded: dict[str, str] = {}  # file name -> adapter name
        self.active: tuple[tuple[str, float, float], ...] = ()

    def available(self) -> list[str]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.rglob("*.safetensors"))

    def _file(self, name: str) -> Path:
        if self.folder is None:
            msg = f"<lora:{name}>: no LoRA folder given; use --lora-dir DIR"
            raise LoraError(msg)
        found = [p for p in self.folder.rglob("*.safetensors") if p.stem == name]
        if not found:
            names = ", ".join(self.available()[:12]) or "none"
            msg = f"<lora:{name}>: no {name}.safetensors in {self.folder}; found: {names}"
            raise LoraError(msg)
        return found[0]

    def key(self, tags: list[NetworkTag]) -> tuple[tuple[str, float, float], ...]:
        """What a redraw with these tags needs, comparable across detections."""
        for tag in tags:
            if tag.kind not in LORA_KINDS:
                msg = f"<{tag.kind}:{tag.name}>: only <lora:...> networks are supported here"
                raise LoraError(msg)
        return tuple(sorted((t.name, t.text_encoder_weight, t.unet_weight) for t in tags if t.kind))

    def activate(self, key: tuple[tuple[str, float, float], ...]) -> None:
        """Switch the pipeline to exactly these LoRAs and weights (none: LoRAs off)."""
        if key == self.active:
            return
        if not key:
            if self.loaded:
                self.pipe.disable_lora()
            self.active = key
            return
        names, weights = [], []
        for name, te_weight, unet_weight in key:
            if name not in self.loaded:
                adapter = re.sub(r"\W", "_", name) + f"_{len(self.loaded)}"
                try:
                    self.pipe.load_lora_weights(str(self._file(name)), adapter_name=adapter)
                except LoraError:
                    raise
                except (ValueError, KeyError, OSError, RuntimeError) as exc:
                    first = (
                        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    )
                    raise LoraError(f"<lora:{name}>: cannot load it ({first})") from None
                self.loaded[name] = adapter
            names.append(self.loaded[name])
            weights.append(self._weights(te_weight, unet_weight))
        self.pipe.enable_lora()
        self.pipe.set_adapters(names, adapter_weights=weights)
        self.active = key

    def _weights(self, te_weight: float, unet_weight: float) -> dict[str, float]:
        weights = {"unet": unet_weight, "text_encoder": te_weight}
        if getattr(self.pipe, "text_encoder_2", None) is not None:
            weights["text_encoder_2"] = te_weight
        return weights
