"""Device and dtype come from one helper; CPU here, CUDA when present."""

from __future__ import annotations

import pytest
import torch

from engine.models.device import resolve_device, resolve_dtype


def test_auto_device_is_cuda_only_when_a_gpu_is_visible():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


def test_an_explicit_device_is_kept():
    assert resolve_device("cpu") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_says_so():
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


@pytest.mark.parametrize(
    ("role", "device", "expected"),
    [
        ("clip", "cuda", torch.float16),
        ("diffusion", "cuda", torch.float16),
        ("llm", "cuda", torch.float16),
        ("clip", "cpu", torch.float32),
        ("diffusion", "cpu", torch.float32),
        ("llm", "cpu", torch.bfloat16),
    ],
)
def test_auto_dtype_per_role_and_device(role, device, expected):
    assert resolve_dtype(role, device) == expected


def test_an_explicit_dtype_overrides_auto_and_a_bad_one_is_named():
    assert resolve_dtype("clip", "cuda", "fp32") == torch.float32
    with pytest.raises(ValueError, match="dtype='fp8'"):
        resolve_dtype("clip", "cpu", "fp8")
