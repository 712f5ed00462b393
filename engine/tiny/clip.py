"""The tiny CLIP: a 2-layer open_clip ViT trained briefly on the demo atlas (docs/ARCHITECTURE.md §3).

Patch 16 rather than the 8 first planned (measured on the demo atlas, 300 steps, 1 thread): top-3 0.996 in
38 CPU-s versus 0.896 in 60 CPU-s, since a 16-px patch sees a whole lesion's shape.

Saved as a local open_clip directory (open_clip_config.json + open_clip_model.safetensors), so it
loads through `load_clip` exactly like a hub model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

log = logging.getLogger(__name__)

MODEL_CFG: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
PREPROCESS_CFG = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
TRAIN_CFG: dict[str, Any] = {"steps": 300, "batch_size": 64, "lr": 1e-3, "weight_decay": 0.05, "seed": 0}
WEIGHTS_FILE = "open_clip_model.safetensors"


def build_tiny_clip(out_dir: Path, pairs: list[tuple[str, str, Path]]) -> dict:
    """Train the tiny CLIP on (id, caption, image path) pairs, save it in `out_dir`; returns its metrics."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(TRAIN_CFG["seed"])
    model = open_clip.model.CLIP(**MODEL_CFG)
    transform = open_clip.image_transform(
        MODEL_CFG["vision_cfg"]["image_size"],
        is_train=False,
        mean=tuple(PREPROCESS_CFG["mean"]),
        std=tuple(PREPROCESS_CFG["std"]),
    )
    tokenizer = open_clip.SimpleTokenizer(context_length=MODEL_CFG["text_cfg"]["context_length"])
    images = torch.stack([transform(Image.open(path).convert("RGB")) for _, _, path in pairs])
    tokens = tokenizer([caption for _, caption, _ in pairs])

    _train(model, images, tokens)
    metrics = {"top3": top_k_rate(model, images, tokens, k=3), "pairs": len(pairs), **TRAIN_CFG}
    log.info("tiny CLIP: %.0f%% of captions find their image in the top 3", 100 * metrics["top3"])

    out_dir.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": MODEL_CFG, "preprocess_cfg": PREPROCESS_CFG}
    (out_dir / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out_dir / WEIGHTS_FILE))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def _train(model: torch.nn.Module, images: torch.Tensor, tokens: torch.Tensor) -> None:
    """Symmetric contrastive loss (CLIP's), AdamW, random batches."""
    # The token table (49,408 × 64) dominates the parameters but the captions use ~100 rows of it:
    # sparse gradients with SparseAdam update only those rows, AdamW the rest.
    model.token_embedding.sparse = True
    dense = [p for name, p in model.named_parameters() if name != "token_embedding.weight"]
    optimizers = [
        torch.optim.SparseAdam([model.token_embedding.weight], lr=TRAIN_CFG["lr"]),
        torch.optim.AdamW(dense, lr=TRAIN_CFG["lr"], weight_decay=TRAIN_CFG["weight_decay"]),
    ]
    steps, batch = TRAIN_CFG["steps"], min(TRAIN_CFG["batch_size"], len(images))
    schedules = [
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=TRAIN_CFG["lr"], total_steps=steps, pct_start=0.1)
        for opt in optimizers
    ]
    generator = torch.Generator().manual_seed(TRAIN_CFG["seed"])
    model.train()
    for _ in tqdm(range(steps), desc="training tiny CLIP", leave=False):
        idx = torch.randperm(len(images), generator=generator)[:batch]
        image_features = F.normalize(model.encode_image(images[idx]), dim=-1)
        text_features = F.normalize(model.encode_text(tokens[idx]), dim=-1)
        logits = model.logit_scale.exp() * image_features @ text_features.T
        labels = torch.arange(len(idx))
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt, schedule in zip(optimizers, schedules, strict=True):
            opt.step()
            schedule.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, np.log(100))
    model.token_embedding.sparse = False
    model.eval()


@torch.inference_mode()
def top_k_rate(model: torch.nn.Module, images: torch.Tensor, tokens: torch.Tensor, k: int = 3) -> float:
    """Share of captions whose own image is among the k images nearest to the caption."""
    image_features = F.normalize(model.encode_image(images), dim=-1)
    text_features = F.normalize(model.encode_text(tokens), dim=-1)
    top = (text_features @ image_features.T).topk(k, dim=1).indices
    return (top == torch.arange(len(tokens))[:, None]).any(dim=1).float().mean().item()
