"""Random-weight models at the real profile's full shapes, saved where the real loaders read them.

Nothing can be downloaded, so `gpu_bench.py --device cpu --full` builds the architectures locally
(like engine/tiny builds its tiny ones) and saves them as the hub repos lay them out:
- clip/: open_clip ViT-L/14 at 448 px (open_clip_config.json + open_clip_model.safetensors);
- llm/: GPT-NeoX with databricks/dolly-v2-3b's config, 2.8B parameters, saved in bf16 (5.6 GB;
  fp32 would be 11 GB), with the tiny profile's byte-level BPE (Dolly's tokenizer is not here);
- diffusion/: an SD 1.5 pipeline (UNet, VAE, CLIP-L text tower, PNDM), fp32, and lcm-lora/: a
  random LoRA of lcm-lora-sdv1-5's shape (rank 64).
Each role builds in its own process (`python bench/full_models.py ROLE DIR`), so its memory is
returned before the next one; a role whose folder has BUILT is not built again.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import gpu_bench as gb  # noqa: E402  (the full-size configs live there)

BUILT = "BUILT.json"
ROLES = ("clip", "llm", "diffusion")
# text the byte-level BPE is trained on (captions and the Dolly prompt's words)
CORPUS = [
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.",
    "Explain what these figures show, citing each caption you use as [n]. Answer the question.",
    "Axial contrast-enhanced CT of the abdomen showing a hypodense lesion in the right hepatic lobe.",
    "Sagittal T1-weighted MRI of the lumbar spine with disc herniation at L4-L5 compressing the nerve root.",
    "Ultrasound of the thyroid gland showing a hypoechoic nodule with microcalcifications.",
    "Digital subtraction angiography of the left internal carotid artery showing an aneurysm.",
    "Posteroanterior chest radiograph with a right pleural effusion and blunting of the costophrenic angle.",
    "Bone scintigraphy showing increased uptake in the thoracic vertebrae, consistent with metastases.",
]
PREPROCESS = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]}


def build_clip(out: Path, shapes: str) -> dict:
    """open_clip ViT-L/14 at 448 px, random weights, as a local open_clip directory."""
    import open_clip
    from safetensors.torch import save_file

    cfg = gb.CLIP_FULL if shapes == "full" else gb.CLIP_TINY
    model = open_clip.model.CLIP(**cfg)
    out.mkdir(parents=True, exist_ok=True)
    (out / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": PREPROCESS}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "open_clip_model.safetensors"))
    return {"parameters": sum(p.numel() for p in model.parameters()), "dim": cfg["embed_dim"],
            "image_size": cfg["vision_cfg"]["image_size"]}


def build_llm(out: Path, shapes: str) -> dict:
    """GPT-NeoX at Dolly-v2-3b's shape, random weights made directly in bf16, with a byte-level BPE."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from engine.tiny.llm import EOS, PAD, build_tokenizer

    tokenizer = build_tokenizer([*CORPUS, *gb.CAPTIONS, gb.PROMPT] * 4)
    config = GPTNeoXConfig(**{**(gb.DOLLY_FULL if shapes == "full" else gb.DOLLY_TINY), "bos_token_id": tokenizer.convert_tokens_to_ids(EOS),
                              "eos_token_id": tokenizer.convert_tokens_to_ids(EOS),
                              "pad_token_id": tokenizer.convert_tokens_to_ids(PAD)})
    torch.set_default_dtype(torch.bfloat16)  # never hold the 11 GB fp32 copy
    try:
        model = GPTNeoXForCausalLM(config)
    finally:
        torch.set_default_dtype(torch.float32)
    model.save_pretrained(out, max_shard_size="2GB")
    tokenizer.save_pretrained(out)
    return {"parameters": sum(p.numel() for p in model.parameters()), "dtype": "bfloat16",
            "tokenizer_vocab": len(tokenizer)}


def build_diffusion(out: Path, shapes: str) -> dict:
    """An SD 1.5 pipeline (fp32, random) in diffusion/ and a rank-64 LCM-LoRA in lcm-lora/ beside it."""
    scale = gb.full_scale("cpu") if shapes == "full" else gb.tiny_scale()
    pipe = gb.build_diffusion(dataclasses.replace(scale, half=torch.float32))
    pipe.save_pretrained(out)  # first: adding the LoRA wraps the UNet's layers, which would change their keys
    lora = gb.save_random_lcm_lora(pipe, out.parent / "lcm-lora", rank=64 if shapes == "full" else 4)
    side = scale.unet["sample_size"] * 2 ** (len(scale.vae["block_out_channels"]) - 1)
    return {"unet_parameters": sum(p.numel() for p in pipe.unet.parameters()), "lcm_lora": str(lora), "side": side}


def build_role(role: str, root: Path, shapes: str = "full") -> dict:
    """Build one role under `root/role` unless already built; returns its BUILT record.
    `shapes` "tiny" builds gpu_bench's tiny configs instead (the test of this script's mechanics)."""
    out = root / role
    if (out / BUILT).exists():
        return json.loads((out / BUILT).read_text())
    t0 = time.perf_counter()
    torch.manual_seed(0)
    record = {"clip": build_clip, "llm": build_llm, "diffusion": build_diffusion}[role](out, shapes)
    record["build_s"] = round(time.perf_counter() - t0, 1)
    (out / BUILT).write_text(json.dumps(record))
    return record


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in ROLES:
        raise SystemExit(f"usage: full_models.py {{{','.join(ROLES)}}} DIR [full|tiny]")
    torch.set_num_threads(2)
    print(json.dumps(build_role(sys.argv[1], Path(sys.argv[2]), sys.argv[3] if len(sys.argv) == 4 else "full")))
