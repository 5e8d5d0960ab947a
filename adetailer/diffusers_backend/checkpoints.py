"""Load the checkpoints A1111 users have into a diffusers inpaint pipeline, offline and safely.

Accepted: a single-file `.safetensors` (SD 1.x, 2.x, SDXL, also 9-channel inpainting models),
a `.ckpt` read by torch's weights-only unpickler with nothing allowed beyond what a plain state
dict needs, or a diffusers folder (each model loaded by its known class, never by a class name
the folder picks). The configuration comes from the weights (`architectures`) and the CLIP
tokenizer from the vocabulary shipped in this package, so nothing is fetched: the Hub is set
offline for the whole load.

Each model is converted with diffusers' own converters and loaded strictly, so a checkpoint that
does not match what its tensors promised fails with one line, not with a half-random model.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import pickle
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adetailer.diffusers_backend.architectures import (
    SCHEDULER_CONFIG,
    SD1,
    SD2,
    SDXL,
    SUPPORTED,
    UNET,
    VAE,
    Architecture,
    CheckpointFormatError,
    TextEncoderSpec,
    architecture,
)
from adetailer.safe_pickle import PickleDamagedError, PickleRefusedError, Policy, verify
from adetailer.safe_torch import DATA as TORCH_DATA

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline

DATA = Path(__file__).parent / "data"
BPE_FILE = DATA / "bpe_simple_vocab_16e6.txt.gz"
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


class CheckpointError(Exception):
    """A checkpoint could not be loaded; the message is one line naming the file."""


@dataclass
class LoadedModel:
    """An inpaint pipeline and what the redraw needs to know about it."""

    pipe: DiffusionPipeline
    family: str
    inpainting: bool
    source: str
    load_seconds: float = 0.0

    @property
    def is_sdxl(self) -> bool:
        return self.family == SDXL


# --- device -----------------------------------------------------------------------------------


def pick_device(name: str = "auto") -> tuple[str, torch.dtype]:
    """CUDA with fp16 when there is one, else MPS (fp16), else the CPU with fp32."""
    import torch

    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            msg = f"--device {name}: CUDA is not available here; use auto or cpu"
            raise CheckpointError(msg)
        return name, torch.float16
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            msg = "--device mps: MPS is not available here; use auto or cpu"
            raise CheckpointError(msg)
        return name, torch.float16
    if name != "cpu":
        msg = f"--device {name} is not allowed; expected auto, cpu, cuda, cuda:N or mps"
        raise CheckpointError(msg)
    return "cpu", torch.float32


# --- reading files ----------------------------------------------------------------------------


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """Hugging Face libraries may not reach the network while a model loads."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update(dict.fromkeys(names, "1"))
    levels = diffusers_logging.get_verbosity(), transformers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()  # notices about dtypes and unused config keys
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(levels[0])
        transformers_logging.set_verbosity(levels[1])
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def read_state_dict(path: Path) -> dict[str, Any]:
    """The tensors of a `.safetensors` or `.ckpt` file; a `.ckpt` never runs code."""
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    if suffix == ".ckpt":
        return _read_ckpt(path)
    msg = f"{path}: unknown checkpoint type {suffix!r}; expected .safetensors, .ckpt or a diffusers folder"
    raise CheckpointError(msg)


# What a state dict's pickle may name: the dicts, torch's tensor rebuilders and storage types.
STATE_DICT_POLICY = Policy(
    rebuildable=frozenset(),
    callable=frozenset(
        {
            "collections.OrderedDict",
            "torch._utils._rebuild_tensor_v2",
            "torch._utils._rebuild_parameter",
            "_codecs.encode",
        }
    ),
    data=frozenset(name for name in TORCH_DATA if name.startswith("torch.")),
)


def _read_ckpt(path: Path) -> dict[str, Any]:
    """A `.ckpt` holding weights only; one that names anything else is refused unread.

    Two locks: the pickle is first checked opcode by opcode against `STATE_DICT_POLICY` (the
    project's verifier, `adetailer.safe_pickle`), then loaded by torch's weights-only
    unpickler with its default allow-list and nothing added. A training checkpoint that kept
    its callbacks or other objects is refused; it can be converted to `.safetensors` elsewhere.
    """
    import torch

    reason = _unsafe_reason(path)
    if reason:
        msg = f"refused to load {path}: {reason}; only plain weights are read from a .ckpt (convert it to .safetensors)"
        raise CheckpointError(msg)
    try:
        loaded = torch.serialization.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"refused to load {path}: {first}") from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path} is damaged or not a checkpoint ({first})") from None
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: no state dict in this .ckpt")
    return {k: v for k, v in state.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}


def _unsafe_reason(path: Path) -> str | None:
    """Why the `.ckpt`'s pickle may not be loaded, or None; checked before anything is built."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(pickles) != 1:
                return f"it holds {len(pickles)} pickles, not one"
            if any("/code/" in n or n.endswith(".py") for n in names):
                return "it holds TorchScript code"
            data = archive.read(pickles[0])
    except zipfile.BadZipFile:
        return "it is not a zip (torch's legacy format, which is not accepted)"
    except OSError as exc:
        return f"it cannot be read ({exc})"
    try:
        verify(data, STATE_DICT_POLICY)
    except PickleRefusedError as exc:
        return str(exc)
    except PickleDamagedError as exc:
        return f"its pickle is damaged ({exc})"
    return None


# --- the CLIP tokenizer -----------------------------------------------------------------------


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes (GPT-2's table)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    order, symbols, extra = list(printable), [chr(b) for b in printable], 0
    for byte in range(256):
        if byte not in printable:
            order.append(byte)
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols


@cache
def tokenizer_files() -> tuple[str, str]:
    """vocab.json and merges.txt of CLIP's tokenizer, built from the shipped BPE merge list.

    CLIP's vocabulary is the 256 byte symbols, the same with an end-of-word mark, one entry per
    merge, and the two special tokens: 49408 entries. Written once per process to a temp folder.
    """
    if not BPE_FILE.is_file():
        msg = f"{BPE_FILE} is missing from this installation; reinstall adetailer[detail]"
        raise CheckpointError(msg)
    with gzip.open(BPE_FILE, "rt", encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    symbols = _byte_symbols()
    vocab = [*symbols, *(s + "</w>" for s in symbols), *("".join(m) for m in merges), BOS, EOS]
    folder = Path(tempfile.mkdtemp(prefix="adetailer-clip-tokenizer-"))
    vocab_file, merges_file = folder / "vocab.json", folder / "merges.txt"
    vocab_file.write_text(
        json.dumps({token: i for i, token in enumerate(vocab)}, ensure_ascii=False),
        encoding="utf-8",
    )
    merges_file.write_text(
        "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8"
    )
    return str(vocab_file), str(merges_file)


def clip_tokenizer(pad_token: str = EOS, max_length: int = 77) -> Any:
    from transformers import CLIPTokenizer

    vocab_file, merges_file = tokenizer_files()
    return CLIPTokenizer(
        vocab_file,
        merges_file,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=pad_token,
        model_max_length=max_length,
    )


# --- building the models ----------------------------------------------------------------------


def _strict_load(model: Any, weights: Mapping[str, Any], what: str, path: Path) -> None:
    missing, unexpected = [], []
    expected = set(model.state_dict())
    missing = sorted(expected - set(weights))
    unexpected = sorted(set(weights) - expected)
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        msg = f"{path}: the {what} does not match its own shapes ({detail}); the file may be damaged or of an unsupported kind"
        raise CheckpointError(msg)
    try:
        model.load_state_dict(dict(weights), strict=True, assign=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise CheckpointError(f"{path}: the {what} does not load ({detail})") from None


def _empty(factory: Any) -> Any:
    """Build a model without initialising weights it is about to receive."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        return factory()


def _build_unet(state: Mapping[str, Any], arch: Architecture, path: Path) -> Any:
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    weights = convert_ldm_unet_checkpoint(dict(state), arch.unet)
    unet = _empty(lambda: UNet2DConditionModel.from_config(arch.unet))
    _strict_load(unet, weights, "UNet", path)
    return unet


def _build_vae(state: Mapping[str, Any], arch: Architecture, path: Path) -> Any:
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    weights = convert_ldm_vae_checkpoint(dict(state), arch.vae)
    vae = _empty(lambda: AutoencoderKL.from_config(arch.vae))
    _strict_load(vae, weights, "VAE", path)
    return vae


def _build_text_encoder(state: Mapping[str, Any], spec: TextEncoderSpec, path: Path) -> Any:
    from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(**spec.config)
    cls = CLIPTextModelWithProjection if spec.with_projection else CLIPTextModel
    model = _empty(lambda: cls(config))
    if spec.layout == "clip":
        weights = {
            key[len(spec.prefix) - len("text_model.") :]: value
            for key, value in state.items()
            if key.startswith(spec.prefix) and not key.endswith("position_ids")
        }
    else:
        own = {k: v for k, v in state.items() if k.startswith(spec.prefix)}
        if spec.dropped_layer is not None:
            dropped = f"{spec.prefix}transformer.resblocks.{spec.dropped_layer}."
            own = {k: v for k, v in own.items() if not k.startswith(dropped)}
            if not spec.with_projection:
                own.pop(spec.prefix + "text_projection", None)
        weights = convert_open_clip_checkpoint(model, own, prefix=spec.prefix)
        weights = {k: v for k, v in weights.items() if not k.endswith("position_ids")}
    _strict_load(model, weights, "text encoder", path)
    return model


def _uses_v_prediction(unet: Any, context_dim: int) -> bool:
    """SD 2.x comes as 512px epsilon and 768px v-prediction models with the same keys.

    The two answer a flat grey latent at the last timestep differently: a v-model's output is
    far below its input. One UNet call on an 8x8 latent tells them apart (A1111 does the same).
    """
    import torch

    with torch.no_grad():
        dtype = next(unet.parameters()).dtype
        latent = torch.full((1, unet.config.in_channels, 8, 8), 0.5, dtype=dtype)
        context = torch.full((1, 77, context_dim), 0.5, dtype=dtype)
        out = unet(latent, torch.tensor([999]), encoder_hidden_states=context).sample
    return float((out - latent[:, : out.shape[1]]).mean()) < -1


def inpaint_pipeline(
    unet: Any, vae: Any, encoders: list[Any], tokenizers: list[Any], scheduler: Any
) -> Any:
    """diffusers' inpaint pipeline of the family (two text encoders: SDXL), without a safety
    checker (A1111 has none either)."""
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionXLInpaintPipeline

    if len(encoders) == 2:
        return StableDiffusionXLInpaintPipeline(
            vae=vae,
            text_encoder=encoders[0],
            text_encoder_2=encoders[1],
            tokenizer=tokenizers[0],
            tokenizer_2=tokenizers[1],
            unet=unet,
            scheduler=scheduler,
            requires_aesthetics_score=False,
            force_zeros_for_empty_prompt=False,
        )
    return StableDiffusionInpaintPipeline(
        vae=vae,
        text_encoder=encoders[0],
        tokenizer=tokenizers[0],
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def pipeline_from_state(
    state: Mapping[str, Any], path: Path, device: str, dtype: torch.dtype
) -> LoadedModel:
    """The inpaint pipeline of a single-file checkpoint's state dict."""
    from diffusers.schedulers import DPMSolverMultistepScheduler

    try:
        arch = architecture(state)
    except CheckpointFormatError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except (KeyError, IndexError, AttributeError) as exc:
        msg = f"{path}: the {arch_name(state)} weights are incomplete (no {exc}); supported: {SUPPORTED}"
        raise CheckpointError(msg) from None
    unet = _build_unet(state, arch, path)
    vae = _build_vae(state, arch, path)
    encoders = [_build_text_encoder(state, spec, path) for spec in arch.text_encoders]
    tokenizers = [clip_tokenizer(spec.pad_token) for spec in arch.text_encoders]
    scheduler_config = dict(SCHEDULER_CONFIG)
    if arch.family == SD2 and _uses_v_prediction(unet.float(), arch.unet["cross_attention_dim"]):
        scheduler_config["prediction_type"] = "v_prediction"
    scheduler = DPMSolverMultistepScheduler.from_config(scheduler_config)
    pipe = inpaint_pipeline(unet, vae, encoders, tokenizers, scheduler)
    pipe.to(device=device, dtype=dtype)
    return LoadedModel(pipe, arch.family, arch.inpainting, str(path))


def arch_name(state: Mapping[str, Any]) -> str:
    try:
        from adetailer.diffusers_backend.architectures import detect_family

        return detect_family(state)
    except CheckpointFormatError:
        return "checkpoint"


def _load_folder(path: Path, device: str, dtype: torch.dtype) -> LoadedModel:
    """A diffusers folder: each model by its known class; never code or classes the folder names."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.schedulers import DPMSolverMultistepScheduler
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    needed = ["unet", "vae", "text_encoder", "tokenizer"]
    missing = [name for name in needed if not (path / name).is_dir()]
    if missing:
        msg = f"{path}: not a diffusers Stable Diffusion folder (no {', '.join(missing)}); supported: {SUPPORTED}"
        raise CheckpointError(msg)
    sdxl = (path / "text_encoder_2").is_dir()
    common = {"local_files_only": True, "torch_dtype": dtype}
    unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet", **common)
    vae = AutoencoderKL.from_pretrained(path, subfolder="vae", **common)
    scheduler_dir = path / "scheduler"
    scheduler_config = dict(SCHEDULER_CONFIG)
    if (scheduler_dir / "scheduler_config.json").is_file():
        own = json.loads((scheduler_dir / "scheduler_config.json").read_text(encoding="utf-8"))
        scheduler_config |= {k: v for k, v in own.items() if not k.startswith("_")}
    scheduler = DPMSolverMultistepScheduler.from_config(scheduler_config)
    parts = [("text_encoder", CLIPTextModel), ("text_encoder_2", CLIPTextModelWithProjection)]
    encoders = [
        cls.from_pretrained(path, subfolder=name, **common) for name, cls in parts[: 1 + sdxl]
    ]
    tokenizers = [
        CLIPTokenizer.from_pretrained(path, subfolder=name, local_files_only=True)
        for name in (["tokenizer", "tokenizer_2"] if sdxl else ["tokenizer"])
    ]
    pipe = inpaint_pipeline(unet, vae, encoders, tokenizers, scheduler)
    quick_gelu = encoders[0].config.hidden_act == "quick_gelu"  # OpenAI CLIP: SD 1.x
    family = SDXL if sdxl else (SD1 if quick_gelu else SD2)
    pipe.to(device=device, dtype=dtype)
    return LoadedModel(pipe, family, unet.config.in_channels == 9, str(path))


def load_checkpoint(path: str | os.PathLike[str], device: str = "auto") -> LoadedModel:
    """The pipeline for a checkpoint file or diffusers folder, on `device` ("auto": the best)."""
    started = time.perf_counter()
    path = Path(path).expanduser()
    device, dtype = pick_device(device)
    if not path.exists():
        msg = f"--checkpoint {path}: no such file or folder; expected a .safetensors or .ckpt file or a diffusers folder"
        raise CheckpointError(msg)
    with offline():
        if path.is_dir():
            try:
                loaded = _load_folder(path, device, dtype)
            except (OSError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise CheckpointError(
                    f"{path}: cannot load this diffusers folder ({first})"
                ) from None
        else:
            state = read_state_dict(path)
            if not any(k.startswith((UNET, VAE)) for k in state):
                msg = f"{path}: not a Stable Diffusion checkpoint; supported: {SUPPORTED}"
                raise CheckpointError(msg)
            loaded = pipeline_from_state(state, path, device, dtype)
            del state
    loaded.load_seconds = time.perf_counter() - started
    return loaded
