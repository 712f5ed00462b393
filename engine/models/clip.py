"""CLIP through open_clip: one loader for hub ids, built-in names and local directories."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from engine.models.device import is_cuda, resolve_device, resolve_dtype
from engine.models.hub import (
    HF_PREFIX,
    LOCAL_DIR_PREFIX,
    local_path,
    looked_in,
    missing_weights_as_error,
    require_hub_files,
    require_local_files,
)

ROLE = "CLIP"
WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pth")
_PRECISION = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


class ClipPreprocess:
    """PIL image → normalised CPU tensor (C, H, W). Small and picklable, for DataLoader workers."""

    def __init__(self, transform) -> None:
        self.transform = transform

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.transform(image.convert("RGB"))


class OpenClipEncoder:
    """An open_clip model behind the ClipEncoder protocol: unit float32 rows for texts and images."""

    def __init__(
        self,
        model,
        transform,
        tokenizer,
        *,
        model_id: str,
        device: str,
        dtype: torch.dtype,
        batch_size: int = 64,
    ) -> None:
        self.model = model.eval()
        self.model_id = model_id
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.preprocess = ClipPreprocess(transform)
        self.tokenizer = tokenizer
        self.dim = int(model.visual.output_dim)
        self.context_length = int(getattr(tokenizer, "context_length", 77))
        self._lock = threading.Lock()  # one forward pass at a time on a shared model
        self._text_tower = partial(_trimmed_text_tower, model) if _can_trim(model) else model.encode_text

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) unit float32 rows; texts longer than the context are cut by the tokenizer."""
        if isinstance(texts, str):
            raise TypeError("encode_text expects a sequence of strings, not a single string")
        chunks = [
            self._encode(self.tokenizer(list(texts[i : i + self.batch_size])), self._text_tower)
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) unit float32 rows for RGB PIL images of any size."""
        chunks = [
            self.encode_pixels(torch.stack([self.preprocess(im) for im in images[i : i + self.batch_size]]))
            for i in range(0, len(images), self.batch_size)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)

    def encode_pixels(self, batch: torch.Tensor) -> np.ndarray:
        """(n, dim) unit float32 rows for a batch already made by `preprocess` (for bulk ingestion)."""
        return self._encode(batch, self.model.encode_image)

    def _encode(self, batch: torch.Tensor, encode) -> np.ndarray:
        batch = batch.to(self.device, non_blocking=True)
        if batch.is_floating_point():
            batch = batch.to(self.dtype)
        device_type = "cuda" if is_cuda(self.device) else "cpu"
        with (
            self._lock,
            torch.inference_mode(),
            torch.autocast(device_type, dtype=self.dtype, enabled=self.dtype != torch.float32),
        ):
            features = encode(batch)
        # normalise in fp32: fp16 rows are only unit to ~1e-3
        return F.normalize(features.float(), dim=-1).cpu().numpy()


def load_clip(model_id: str, *, device: str = "auto", dtype: str = "auto") -> OpenClipEncoder:
    """Load CLIP from `hf-hub:org/name`, a local directory (open_clip_config.json + weights) or `NAME@TAG`."""
    import open_clip

    device = resolve_device(device)
    torch_dtype = resolve_dtype("clip", device, dtype)
    name, pretrained = _open_clip_name(model_id)
    with missing_weights_as_error(ROLE, model_id, looked_in(model_id)):
        model, _, transform = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, precision=_PRECISION[torch_dtype], device=device
        )
        tokenizer = open_clip.get_tokenizer(name)
    return OpenClipEncoder(model, transform, tokenizer, model_id=model_id, device=device, dtype=torch_dtype)


def _can_trim(model: object) -> bool:
    """True for open_clip's own CLIP text tower: causal attention, pooled at the end-of-text token."""
    import open_clip

    return (
        getattr(type(model), "encode_text", None) is open_clip.model.CLIP.encode_text
        and getattr(model, "text_pool_type", None) == "argmax"
        and getattr(model, "attn_mask", None) is not None
    )


def _trimmed_text_tower(model, tokens: torch.Tensor) -> torch.Tensor:
    """open_clip's `CLIP.encode_text` on the tokens up to the batch's last end-of-text token.

    The tokenizer pads every text to the full context (77), but attention is causal and the text's
    vector is read at its end-of-text token (the highest id, so `argmax`), which never sees the
    positions after it: cutting them off gives the same vector for a fraction of the work (a
    10-token query costs a seventh of a full context).
    """
    from open_clip.transformer import text_global_pool

    length = int(tokens.argmax(dim=-1).max()) + 1
    tokens = tokens[:, :length]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype) + model.positional_embedding[:length].to(cast_dtype)
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:length, :length]))
    x = text_global_pool(x, tokens, model.text_pool_type)
    projection = model.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection


def _open_clip_name(model_id: str) -> tuple[str, str | None]:
    """(model_name, pretrained) for open_clip, after checking the weights are reachable."""
    if model_id.startswith(HF_PREFIX):
        require_hub_files(ROLE, model_id, "open_clip_config.json")
        return model_id, None
    path = local_path(model_id)
    if path is not None:
        require_local_files(ROLE, model_id, path, ["open_clip_config.json", WEIGHT_FILES])
        return f"{LOCAL_DIR_PREFIX}{path}", None
    import open_clip

    name, _, tag = model_id.partition("@")
    if name not in open_clip.list_models():
        raise ValueError(
            f"CLIP model id {model_id!r} is neither 'hf-hub:org/name', an existing directory, "
            f"nor a built-in open_clip name; built-ins: {', '.join(open_clip.list_models()[:8])}, …"
        )
    if not tag:
        tags = [t for n, t in open_clip.list_pretrained() if n == name]
        raise ValueError(f"built-in CLIP {name!r} needs pretrained weights as NAME@TAG; tags: {tags}")
    return name, tag
