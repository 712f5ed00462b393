"""Where a model runs and in what precision: the one place that decides (nothing else names "cuda").

`auto` picks CUDA when a GPU is visible, else CPU. Precision per role:
CLIP and diffusion run fp16 on CUDA and fp32 on CPU; the LLM runs fp16 on CUDA (its weights are
usually 8-bit there) and bf16 on CPU, where a 2.8B model in fp32 would need ~11 GB of RAM.
"""

from __future__ import annotations

from typing import Literal

import torch

Role = Literal["clip", "llm", "diffusion"]

DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

# role -> (dtype on an accelerator, dtype on CPU)
_AUTO_DTYPES: dict[Role, tuple[str, str]] = {
    "clip": ("fp16", "fp32"),
    "diffusion": ("fp16", "fp32"),
    "llm": ("fp16", "bf16"),
}


def resolve_device(device: str = "auto") -> str:
    """`auto` → "cuda" when available, else "cpu"; anything else ("cpu", "cuda:1", "mps") is kept."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; use 'cpu' or 'auto'")
    return device


def resolve_dtype(role: Role, device: str, dtype: str = "auto") -> torch.dtype:
    """The torch dtype for `role` on the (already resolved) `device`; `dtype` overrides `auto`."""
    if dtype == "auto":
        on_accelerator, on_cpu = _AUTO_DTYPES[role]
        dtype = on_cpu if device == "cpu" else on_accelerator
    try:
        return DTYPES[dtype]
    except KeyError:
        raise ValueError(f"dtype={dtype!r} is not one of {['auto', *DTYPES]}") from None


def is_cuda(device: str) -> bool:
    """True for "cuda" and "cuda:N"."""
    return device.startswith("cuda")
