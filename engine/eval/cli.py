"""`python -m engine eval`: evaluate the configured models on an indexed split and write a report.

    python -m engine eval [--split test] [--roco DIR] [--n-synthetic 16] [--pairs 2000] [--out DIR] [--seed 0]
    python -m engine eval --n-quiz 200 --topic pneumothorax --topic "pleural effusion"   # quiz.md beside it

Models come from the settings through engine/models/factory.py; the pairs from the atlas (the
split's stored image vectors) or, with `--roco DIR`, from a ROCO tree whose images are encoded
afresh. In the tiny profile with no atlas yet, the demo atlas is evaluated.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.cli_args import at_least

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the `eval` command to `python -m engine`'s subparsers."""
    p = subparsers.add_parser("eval", help="semantic consistency, retrieval and enrichment report on a split",
                              description="Evaluate the configured models on one split and write a markdown "
                                          "report, CSV tables and PNG plots.")
    p.add_argument("--split", default="test", help="split to evaluate: train, validation or test (default test)")
    p.add_argument("--roco", type=Path, metavar="DIR", help="read the split from this ROCO tree instead of the atlas")
    p.add_argument("--out", type=Path, metavar="DIR", help="output directory (default <data_dir>/eval/<split>)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    p.add_argument("--limit", type=at_least(2), metavar="N", help="evaluate at most N pairs of the split (sampled)")
    p.add_argument("--pairs", type=at_least(2), default=2000, help="subset size of the retrieval protocol (default 2000)")
    p.add_argument("--draws", type=at_least(1), default=5, help="random subsets averaged in the protocol (default 5)")
    p.add_argument("--n-consistency", type=at_least(4), default=2000,
                   help="real image–caption pairs for the consistency analysis (default 2000)")
    p.add_argument("--n-enrich", type=at_least(0), default=50,
                   help="captions run through search with the LLM (0 skips; default 50)")
    p.add_argument("--n-synthetic", type=at_least(0), default=16,
                   help="captions turned into synthetic images (0 skips; default 16)")
    p.add_argument("--n-ask", type=at_least(0), default=50,
                   help="follow-up questions answered with checked citations (0 skips; default 50)")
    p.add_argument("--n-quiz", type=at_least(0), default=200,
                   help="caption questions for the quiz's distractor hardness, on the atlas (0 skips; default 200)")
    p.add_argument("--topic", action="append", dest="topics", metavar="TEXT",
                   help="a topic whose quiz pool precision to report; repeat for several (default: a built-in list)")
    p.add_argument("--synthetic-steps", type=at_least(1), help="diffusion steps (default the engine's setting)")
    p.add_argument("--fast", action="store_true", help="generate the synthetic images in the LCM fast mode")
    p.set_defaults(func=eval_command)


def eval_command(args: argparse.Namespace) -> int:
    """Load the models, assemble the split, evaluate, write the report; 0 on success, 2 on a usage error."""
    from engine.atlas.items import AtlasSourceError
    from engine.config import describe_settings_error, get_settings
    from engine.models.base import WeightsNotFoundError

    from .data import EvalDataError

    try:
        settings = get_settings()
    except ValidationError as exc:
        log.error("invalid settings: %s", describe_settings_error(exc))
        return 2
    try:
        return _run(args, settings)
    except (EvalDataError, AtlasSourceError, WeightsNotFoundError, ValueError) as exc:
        # a usage or data problem: one clear line (the traceback only at --log-level debug)
        log.error("eval: %s", exc, exc_info=log.isEnabledFor(logging.DEBUG))
        return 2


def _run(args: argparse.Namespace, settings: Any) -> int:
    from engine.models.factory import Role, load_models

    from .report import write_report
    from .runner import EvalConfig, run_evaluation

    # 1. Settings into an evaluation config (checked before anything slow is loaded)
    config = EvalConfig(
        seed=args.seed, pairs=args.pairs, draws=args.draws, n_consistency=args.n_consistency,
        n_enrich=args.n_enrich if settings.enable_llm else 0,
        n_synthetic=args.n_synthetic if settings.enable_diffusion else 0,
        n_ask=args.n_ask if settings.enable_llm else 0,
        context_captions=settings.context_captions, max_new_tokens=settings.llm_max_new_tokens,
        top_p=settings.llm_top_p,
        synthetic_steps=args.synthetic_steps or (settings.fast_steps if args.fast else settings.diffusion_steps),
        synthetic_guidance=settings.fast_guidance if args.fast else settings.diffusion_guidance,
        synthetic_fast=args.fast,
    )
    out_dir = args.out or settings.data_dir / "eval" / args.split

    # 2. Models, as the engine loads them (all before the split, so missing weights fail fast);
    #    the LCM-LoRA only for --fast
    roles: list[Role] = ["clip"]
    roles += ["llm"] if config.n_enrich or config.n_ask else []
    roles += ["diffusion"] if config.n_synthetic else []
    models = load_models(settings, roles=roles, fast=args.fast)
    clip, llm, diffusion = models.clip, models.llm, models.diffusion
    if clip is None:  # load_models raises when a role it was asked for fails; this only narrows the type
        raise RuntimeError("CLIP did not load")

    # 3. The split: from a ROCO tree, the atlas, or (tiny profile, no atlas yet) the demo atlas
    split = _load_split(args, settings, clip)
    log.info("evaluating %d pairs of split %r from %s", len(split), split.name, split.source)

    # 4. Evaluate and write
    results = run_evaluation(split, clip, llm=llm, diffusion=diffusion, config=config)
    written = write_report(results, out_dir)
    log.info("wrote %s", ", ".join(str(p) for p in written.values()))
    print(f"report: {written['report.md']}")  # noqa: T201 - the command's answer on stdout

    # 5. The quiz on the atlas: distractor hardness under the fairness rules, topic precision
    if args.n_quiz or args.topics:
        quiz_report = _quiz(args, settings, clip, out_dir)
        if quiz_report is not None:
            print(f"quiz: {quiz_report}")  # noqa: T201
    return 0


def _quiz(args: argparse.Namespace, settings: Any, clip: Any, out_dir: Path) -> Path | None:
    """The quiz section on the configured atlas (tiny profile without one: the demo atlas, indexed in a
    temporary store); None when there is no atlas to quiz."""
    import tempfile

    from engine.pipelines.quiz import QuizPipeline
    from engine.store.base import AtlasStore
    from engine.store.factory import open_store

    from .quiz import DEFAULT_TOPICS, DEMO_TOPICS, evaluate_quiz, write_quiz_report

    demo = settings.profile == "tiny" and settings.qdrant_url is None and not settings.atlas_dir.exists()
    if not demo and settings.qdrant_url is None and not settings.atlas_dir.exists():
        log.info("no atlas at %s: the quiz section is skipped", settings.atlas_dir)
        return None
    store: AtlasStore
    with tempfile.TemporaryDirectory() as tmp:
        if demo:
            from engine.atlas.ingest import index_roco_layout
            from engine.store.edge import EdgeStore
            from engine.tiny.demo_atlas import build_demo_atlas

            store = EdgeStore.open_or_create(Path(tmp) / "atlas", clip.dim)
            index_roco_layout(build_demo_atlas(settings.demo_atlas_dir), store, clip, progress=False)
        else:
            store = open_store(settings, clip.dim, clip_model=clip.model_id)
        try:
            topics = args.topics or list(DEMO_TOPICS if settings.profile == "tiny" else DEFAULT_TOPICS)
            result = evaluate_quiz(QuizPipeline.from_settings(clip, store, settings), store,
                                   questions=args.n_quiz, topics=topics, seed=args.seed)
        finally:
            store.close()
    return write_quiz_report(result, out_dir)


def _load_split(args: argparse.Namespace, settings: Any, clip: Any):
    from engine.store.factory import open_store

    from .data import sample, split_from_roco, split_from_store

    if args.roco is not None:
        return split_from_roco(args.roco, args.split, clip, limit=args.limit, seed=args.seed)
    if settings.profile == "tiny" and settings.qdrant_url is None and not settings.atlas_dir.exists():
        from engine.tiny.demo_atlas import build_demo_atlas

        root = build_demo_atlas(settings.demo_atlas_dir)
        log.info("tiny profile and no atlas yet: evaluating the demo atlas at %s", root)
        return split_from_roco(root, args.split, clip, limit=args.limit, seed=args.seed)
    store = open_store(settings, clip.dim, clip_model=clip.model_id)  # its vectors must be this CLIP's
    try:
        return sample(split_from_store(store, args.split, dim=clip.dim), args.limit, args.seed)
    finally:
        store.close()
