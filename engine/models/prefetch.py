"""`python -m engine prefetch`: put every configured model in the HF cache once, so the engine can serve offline.

    python -m engine prefetch                # download what is missing (progress bars), then check
    HF_HUB_OFFLINE=1 python -m engine prefetch   # only check: what an offline engine will find

For each role (CLIP, LLM, diffusion, LCM-LoRA) it (1) resolves the id the engine would load, (2) downloads
the files the loader reads (one weight format per folder, safetensors first; no single-file checkpoints,
no safety checker) into the hub cache, (3) checks them the way the loader will (the same required files,
safetensors not truncated) and (4) prints where an offline engine will find them. A missing model fails
with the engine's own WeightsNotFoundError text: the role, the id and where it looked.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from engine.config import EngineSettings, describe_settings_error
from engine.models.base import WeightsNotFoundError
from engine.models.hub import (
    HF_PREFIX,
    hf_cache_dir,
    hub_repo_cache,
    is_offline,
    local_path,
    missing_weights_as_error,
    require_hub_files,
    require_local_files,
)

EXIT_OK, EXIT_MISSING, EXIT_USAGE = 0, 1, 2
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")
CONFIG_SUFFIXES = (".json", ".txt", ".model", ".tiktoken")


@dataclass(frozen=True)
class RoleFiles:
    """What the loader of one role reads: its name in errors, its offline marker, its required files."""

    role: str
    hub_marker: str  # the file the loader looks for in the hub cache when offline
    required: tuple[str | tuple[str, ...], ...]  # globs a model directory must match (a tuple: any one)
    skip_dirs: tuple[str, ...] = ()  # folders the loader never reads


@dataclass(frozen=True)
class Found:
    """One model ready for offline use."""

    role: str
    model_id: str
    path: Path
    files: int
    size_bytes: int


def role_files() -> dict[str, RoleFiles]:
    """Each role's file rules, taken from its loader (imported here: they pull in torch)."""
    from engine.models import clip, diffusion, llm

    return {
        "clip": RoleFiles(clip.ROLE, "open_clip_config.json", ("open_clip_config.json", clip.WEIGHT_FILES)),
        "llm": RoleFiles(llm.ROLE, "config.json", ("config.json", llm.WEIGHT_FILES, llm.TOKENIZER_FILES)),
        # the engine loads diffusion with safety_checker=None, so that folder is never read
        "diffusion": RoleFiles(diffusion.ROLE, "model_index.json", ("model_index.json",), ("safety_checker",)),
        "lcm_lora": RoleFiles(diffusion.LORA_ROLE, "pytorch_lora_weights.safetensors", (diffusion.LORA_FILES,)),
    }


def planned_models(settings: EngineSettings) -> list[tuple[str, str]]:
    """(role key, id) for every model the engine will load with these settings (tiny: built locally now)."""
    from engine.models.presets import model_ids_for

    ids = model_ids_for(settings)
    plan = [("clip", ids.clip)]
    if settings.enable_llm and not settings.llm_url:  # a served LLM's weights live with its server
        plan.append(("llm", ids.llm))
    if settings.enable_diffusion:
        plan.append(("diffusion", ids.diffusion))
        if ids.lcm_lora:
            plan.append(("lcm_lora", ids.lcm_lora))
    return plan


def prefetch(
    settings: EngineSettings, *, download: bool | None = None, say: Callable[[str], None] = print
) -> tuple[list[Found], list[WeightsNotFoundError]]:
    """Fetch (unless offline or `download` is False) and check every configured model; (found, missing)."""
    download = (not is_offline()) if download is None else download
    rules = role_files()
    found: list[Found] = []
    missing: list[WeightsNotFoundError] = []
    # 1. which models: the ids the engine itself would load
    for key, model_id in planned_models(settings):
        rule = rules[key]
        say(f"{rule.role}: {model_id}")
        try:
            # 2. where they are (downloading what is missing), 3. whether the loader will accept them
            path = fetch_one(rule, model_id, download=download)
            require_local_files(rule.role, model_id, path, rule.required)
            check_safetensors(rule.role, model_id, path)
        except WeightsNotFoundError as exc:
            say(f"  MISSING: {exc}")
            missing.append(exc)
            continue
        files = [p for p in path.rglob("*") if p.is_file()]
        found.append(Found(rule.role, model_id, path, len(files), sum(p.stat().st_size for p in files)))
        say(f"  ok: {len(files)} files, {found[-1].size_bytes / 1e9:.2f} GB at {path}")
    return found, missing


def fetch_one(rule: RoleFiles, model_id: str, *, download: bool) -> Path:
    """The directory the loader will read `model_id` from, downloading the needed hub files first."""
    path = local_path(model_id)
    if path is not None:
        return path  # a local directory is used in place; nothing to download
    from huggingface_hub import HfApi, snapshot_download

    if rule.role == "CLIP" and not model_id.startswith(HF_PREFIX):
        raise WeightsNotFoundError(
            rule.role, model_id, [], hint="a built-in open_clip name is fetched by open_clip itself; "
            "use an hf-hub: id or a directory to prefetch it"
        )
    repo_id = model_id.removeprefix(HF_PREFIX)
    where = [hub_repo_cache(repo_id)]
    if not download:
        # offline: the same check the loader makes at start, then the whole cached snapshot
        with _offline_env():
            require_hub_files(rule.role, model_id, rule.hub_marker)
        with missing_weights_as_error(rule.role, model_id, where):
            return Path(snapshot_download(repo_id, local_files_only=True))
    with missing_weights_as_error(rule.role, model_id, where):
        wanted = choose_files(HfApi().list_repo_files(repo_id), skip_dirs=rule.skip_dirs)
        return Path(snapshot_download(repo_id, allow_patterns=wanted))  # tqdm progress per file


def choose_files(repo_files: Sequence[str], *, skip_dirs: Sequence[str] = ()) -> list[str]:
    """The files of a hub repo that the loaders read: configs and tokenizers, and per folder one weight
    format (safetensors over .bin/.pth) without variants (`.fp16.`, `.non_ema.`) when a plain file exists.
    Single-file checkpoints (.ckpt), other frameworks' weights and skipped folders are left out."""
    chosen: list[str] = []
    weights: dict[str, list[PurePosixPath]] = {}
    for name in repo_files:
        path = PurePosixPath(name)
        if path.parts[0] in skip_dirs:
            continue
        if path.suffix in CONFIG_SUFFIXES:
            chosen.append(name)
        elif path.suffix in WEIGHT_SUFFIXES:
            weights.setdefault(str(path.parent), []).append(path)
    for group in weights.values():
        plain = [p for p in group if "." not in p.stem] or group
        safe = [p for p in plain if p.suffix == ".safetensors"]
        chosen.extend(str(p) for p in (safe or plain))
    return sorted(chosen)


def check_safetensors(role: str, model_id: str, path: Path) -> None:
    """Every .safetensors file under `path` is as long as its header says (an interrupted copy is not)."""
    for file in sorted(path.rglob("*.safetensors")):
        size = file.stat().st_size
        try:
            with file.open("rb") as handle:
                (header_len,) = struct.unpack("<Q", handle.read(8))
                header = json.loads(handle.read(header_len)) if header_len < size else None
        except (struct.error, ValueError):
            header = None
        ends = [t["data_offsets"][1] for k, t in (header or {}).items() if k != "__metadata__"]
        if header is None or 8 + header_len + max(ends, default=0) != size:
            raise WeightsNotFoundError(
                role, model_id, [str(file)], hint="the file is truncated or corrupt: delete it and prefetch again"
            )


class _offline_env:
    """HF_HUB_OFFLINE=1 for the duration (the loaders' offline checks read it at call time)."""

    def __enter__(self) -> None:
        self._before = os.environ.get("HF_HUB_OFFLINE")
        os.environ["HF_HUB_OFFLINE"] = "1"

    def __exit__(self, *exc: object) -> None:
        if self._before is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = self._before


def register(subparsers: Any) -> None:
    """Add the `prefetch` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "prefetch",
        help="download every configured model into the HF cache and check it (for offline serving)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--check-only", action="store_true", help="download nothing; report what is there")
    p.set_defaults(func=prefetch_command)


def prefetch_command(args: argparse.Namespace) -> int:
    """Run prefetch for the configured settings; 0 when every model is there, 1 when one is missing."""
    try:
        settings = EngineSettings()
    except ValidationError as exc:
        print("prefetch: invalid settings:", describe_settings_error(exc))  # noqa: T201
        return EXIT_USAGE
    download = False if args.check_only else None
    found, missing = prefetch(settings, download=download)
    # 4. what an offline engine will find
    print(f"\nWith HF_HUB_OFFLINE=1 (hub cache {hf_cache_dir()}) the engine will find:")  # noqa: T201
    for item in found:
        print(f"  {item.role:<9} {item.model_id}  ->  {item.path}")  # noqa: T201
    for absent in missing:
        print(f"  {absent.role:<9} {absent.model_id}  ->  NOT FOUND (looked in {', '.join(absent.looked_in)})")  # noqa: T201
    if missing:
        print(f"\nprefetch: {len(missing)} model(s) missing; the engine would not get ready offline")  # noqa: T201
        return EXIT_MISSING
    return EXIT_OK
