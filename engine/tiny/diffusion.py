"""The tiny Stable Diffusion: random small UNet, VAE and CLIP text encoder at 64 px, plus a tiny LCM-LoRA.

The text tokenizer is CLIP's real BPE (vocab and merges written from open_clip's bundled file), so
prompts are cut at 77 tokens exactly as in SD 1.x. Saved with save_pretrained / save_lora_weights and
loaded back through `load_diffusion`, like Prompt2MedImage and latent-consistency/lcm-lora-sdv1-5.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

TEXT_CFG = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 77,
    "projection_dim": 32,
}
UNET_CFG = {
    "sample_size": 32,  # latents; the VAE halves once, so images are 64 px
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "cross_attention_dim": 32,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
}
VAE_CFG = {
    "block_out_channels": (32, 64),
    "down_block_types": ("DownEncoderBlock2D", "DownEncoderBlock2D"),
    "up_block_types": ("UpDecoderBlock2D", "UpDecoderBlock2D"),
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 64,
}
# SD 1.x's default scheduler settings (PNDM, scaled-linear betas)
SCHEDULER_CFG = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "skip_prk_steps": True,
    "steps_offset": 1,
}
LORA_CFG = {"r": 4, "alpha": 4, "targets": ["to_q", "to_k", "to_v", "to_out.0"], "init_std": 0.05}
SEED = 0


def build_tiny_diffusion(pipe_dir: Path, lora_dir: Path) -> None:
    """Save a tiny random StableDiffusionPipeline in `pipe_dir` and an LCM-LoRA for its UNet in `lora_dir`."""
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(SEED)
    scratch = pipe_dir.parent / f".{pipe_dir.name}-tokenizer"
    tokenizer = _clip_tokenizer(scratch)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=tokenizer.vocab_size,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **TEXT_CFG,
        )
    )
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL(**VAE_CFG),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=UNet2DConditionModel(**UNET_CFG),
        scheduler=PNDMScheduler(**SCHEDULER_CFG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(pipe_dir)
    shutil.rmtree(scratch, ignore_errors=True)
    _save_lcm_lora(pipe, lora_dir)


def _clip_tokenizer(scratch: Path):
    """CLIPTokenizer with CLIP's real 49,408-token BPE, written from open_clip's bundled merges."""
    from open_clip.tokenizer import SimpleTokenizer
    from transformers import CLIPTokenizer

    simple = SimpleTokenizer()
    rename = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {rename.get(token, token): index for token, index in simple.encoder.items()}
    merges = sorted(simple.bpe_ranks, key=simple.bpe_ranks.get)
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (scratch / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
    )
    return CLIPTokenizer(
        str(scratch / "vocab.json"),
        str(scratch / "merges.txt"),
        pad_token="<|endoftext|>",
        model_max_length=77,
    )


def _save_lcm_lora(pipe, lora_dir: Path) -> None:
    """A random rank-4 LoRA on the UNet's attention projections, in diffusers' LoRA file format."""
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = pipe.unet
    unet.add_adapter(
        LoraConfig(r=LORA_CFG["r"], lora_alpha=LORA_CFG["alpha"], target_modules=LORA_CFG["targets"])
    )
    with torch.no_grad():  # LoRA B starts at zero (a no-op); make the adapter actually change the output
        for name, param in unet.named_parameters():
            if "lora_B" in name:
                param.normal_(0, LORA_CFG["init_std"])
    StableDiffusionPipeline.save_lora_weights(lora_dir, unet_lora_layers=get_peft_model_state_dict(unet))
