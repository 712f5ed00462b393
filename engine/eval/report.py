"""Write an evaluation's results: a markdown report, CSV tables and PNG plots, into one directory.

Files: report.md, metrics.csv (section, item, metric, value), scores.csv (every consistency score
with its label), consistency.png, roc.png, retrieval.png, and enrichment.png / synthetic.png when
those parts ran. Plots use matplotlib's Agg canvas directly (no pyplot state, no display needed).
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .consistency import ConsistencyResult
from .metrics import RankStats, ThresholdResult, roc_curve
from .retrieval import PUBLISHED, flat_stats
from .runner import EvalResults

DIRECTIONS = {"text_to_image": "text → image", "image_to_text": "image → text"}


def write_report(results: EvalResults, out_dir: Path) -> dict[str, Path]:
    """Write every file into `out_dir` (created); returns name → path of what was written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {
        "metrics.csv": write_metrics_csv(results, out_dir / "metrics.csv"),
        "scores.csv": write_scores_csv(results, out_dir / "scores.csv"),
    }
    written.update(write_plots(results, out_dir))
    written["report.md"] = out_dir / "report.md"
    written["report.md"].write_text(markdown(results, written), encoding="utf-8")
    return written


# ---- tables ----------------------------------------------------------------------------------------


def metric_rows(results: EvalResults) -> list[tuple[str, str, str, float]]:
    """(section, item, metric, value) for every figure in the report."""
    rows: list[tuple[str, str, str, float]] = []
    for c in results.consistency:
        for label, summary in (("matched", c.matched_summary), ("unmatched", c.unmatched_summary)):
            rows += [("consistency", c.kind, f"{label}_{k}", float(v)) for k, v in asdict(summary).items()]
        rows += [("consistency", c.kind, "roc_auc", c.auc),
                 ("consistency", c.kind, "separable", float(c.threshold.separable))]
        if c.threshold.separable:  # no threshold, no accuracy when the classes are not separable
            rows += [("consistency", c.kind, "threshold", float(c.threshold.threshold or 0.0)),
                     ("consistency", c.kind, "fit_accuracy", float(c.threshold.fit_accuracy or 0.0)),
                     ("consistency", c.kind, "heldout_accuracy", float(c.threshold.heldout_accuracy or 0.0))]
    for direction in DIRECTIONS:
        stats = getattr(results.retrieval, direction)
        rows += [("retrieval_whole_split", direction, k, v) for k, v in flat_stats(stats).items()]
        rows.append(("retrieval_whole_split", direction, "n_candidates", float(stats.n_candidates)))
        proto = results.protocol
        rows += [("retrieval_protocol", direction, f"{k}_mean", v) for k, v in proto.mean[direction].items()]
        rows += [("retrieval_protocol", direction, f"{k}_std", v) for k, v in proto.std[direction].items()]
    rows += [("retrieval_protocol", "subsets", "size", float(results.protocol.size)),
             ("retrieval_protocol", "subsets", "draws", float(results.protocol.draws))]
    rows += [("published", f"{p.direction} ({p.split}, {p.source})", f"R@{p.k}", p.recall) for p in PUBLISHED]
    enrichment = results.enrichment
    if enrichment is not None:
        for label, stats in (("first_retrieval", enrichment.first), ("second_retrieval", enrichment.second)):
            rows += [("enrichment", label, k, v) for k, v in flat_stats(stats).items()]
        rows += [("enrichment", "queries", "n", float(len(enrichment.query_indices))),
                 ("enrichment", "queries", "improved", float(enrichment.improved)),
                 ("enrichment", "queries", "worsened", float(enrichment.worsened)),
                 ("enrichment", "queries", "fallbacks", float(enrichment.fallbacks))]
    grounding = results.grounding
    if grounding is not None:
        rows += [("grounding", "answers", name, float(value)) for name, value in (
            ("n", grounding.n), ("grounded", grounding.grounded), ("grounded_share", grounding.grounded_share),
            ("fell_back_to_captions", grounding.fell_back), ("citations_kept", grounding.citations_kept),
            ("citations_dropped_out_of_range", grounding.citations_dropped),
            ("malformed_markers", grounding.malformed))]
    return rows


def write_metrics_csv(results: EvalResults, path: Path) -> Path:
    """metrics.csv: one figure per row."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["section", "item", "metric", "value"])
        writer.writerows((s, i, m, f"{v:.6g}") for s, i, m, v in metric_rows(results))
    return path


def write_scores_csv(results: EvalResults, path: Path) -> Path:
    """scores.csv: every consistency score (kind, label matched/unmatched, cosine)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["kind", "label", "cosine"])
        for c in results.consistency:
            writer.writerows((c.kind, "matched", f"{v:.6f}") for v in c.matched)
            writer.writerows((c.kind, "unmatched", f"{v:.6f}") for v in c.unmatched)
    return path


# ---- plots -----------------------------------------------------------------------------------------


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def write_plots(results: EvalResults, out_dir: Path) -> dict[str, Path]:
    """The PNG plots that apply to these results."""
    written: dict[str, Path] = {}
    if results.consistency:
        written["consistency.png"] = _plot_histograms(results.consistency, out_dir / "consistency.png")
        written["roc.png"] = _plot_roc(results.consistency, out_dir / "roc.png")
    written["retrieval.png"] = _plot_retrieval(results, out_dir / "retrieval.png")
    if results.enrichment is not None:
        written["enrichment.png"] = _plot_enrichment(results, out_dir / "enrichment.png")
    if results.synthetic is not None and results.synthetic.images:
        written["synthetic.png"] = _plot_synthetic(results, out_dir / "synthetic.png")
    return written


def _plot_histograms(items: list[ConsistencyResult], path: Path) -> Path:
    fig = _figure(4.2 * len(items), 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(items), squeeze=False)[0])
    for ax, c in zip(axes, items, strict=True):
        bins = np.linspace(min(c.matched.min(), c.unmatched.min()), max(c.matched.max(), c.unmatched.max()), 31)
        ax.hist(c.unmatched, bins=bins, alpha=0.6, label=f"unmatched (μ={c.unmatched_summary.mean:.3f})")
        ax.hist(c.matched, bins=bins, alpha=0.6, label=f"matched (μ={c.matched_summary.mean:.3f})")
        if c.threshold.threshold is not None:
            ax.axvline(c.threshold.threshold, color="black", linestyle="--", linewidth=1, label="threshold")
        ax.set_title(f"{c.kind} (n={c.matched_summary.n})")
        ax.set_xlabel("cosine similarity")
        ax.legend(fontsize=7)
    fig.savefig(path)
    return path


def _plot_roc(items: list[ConsistencyResult], path: Path) -> Path:
    fig = _figure(4.5, 4.2)
    ax = fig.subplots()
    for c in items:
        fpr, tpr = roc_curve(c.matched, c.unmatched)
        ax.plot(fpr, tpr, label=f"{c.kind} (AUC {c.auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("matched vs unmatched pairs")
    ax.legend(fontsize=7)
    fig.savefig(path)
    return path


def _plot_retrieval(results: EvalResults, path: Path) -> Path:
    fig = _figure(7.5, 3.6)
    axes = fig.subplots(1, 2)
    ks = list(results.config.ks)
    x = np.arange(len(ks))
    for ax, direction in zip(axes, DIRECTIONS, strict=True):
        whole = getattr(results.retrieval, direction).recall
        proto = results.protocol.mean[direction]
        ax.bar(x - 0.2, [whole[k] for k in ks], width=0.4, label=f"whole split (n={len(results.split)})")
        ax.bar(x + 0.2, [proto[f"R@{k}"] for k in ks], width=0.4, label=f"{results.protocol.size}-pair protocol")
        for p in PUBLISHED:
            if p.direction == direction and p.k in ks:
                ax.scatter([ks.index(p.k)], [p.recall], marker="*", s=120, color="black",
                           label=f"published ({p.split})", zorder=3)
        ax.set_xticks(x, [f"R@{k}" for k in ks])
        ax.set_ylim(0, 1)
        ax.set_title(DIRECTIONS[direction])
        ax.legend(fontsize=7)
    fig.savefig(path)
    return path


def _plot_enrichment(results: EvalResults, path: Path) -> Path:
    enrichment = results.enrichment
    assert enrichment is not None
    ks = list(results.config.ks)
    x = np.arange(len(ks))
    fig = _figure(4.8, 3.6)
    ax = fig.subplots()
    ax.bar(x - 0.2, [enrichment.first.recall[k] for k in ks], width=0.4, label="first retrieval (caption)")
    ax.bar(x + 0.2, [enrichment.second.recall[k] for k in ks], width=0.4, label="second retrieval (explanation)")
    ax.set_xticks(x, [f"R@{k}" for k in ks])
    ax.set_ylim(0, 1)
    ax.set_title(f"text → image, {len(enrichment.query_indices)} caption queries")
    ax.legend(fontsize=7)
    fig.savefig(path)
    return path


def _plot_synthetic(results: EvalResults, path: Path, limit: int = 8) -> Path:
    synthetic = results.synthetic
    assert synthetic is not None
    shown = list(zip(synthetic.images, synthetic.prompts, strict=True))[:limit]
    fig = _figure(2.2 * len(shown), 2.6)
    axes = np.atleast_1d(fig.subplots(1, len(shown), squeeze=False)[0])
    for ax, (image, prompt) in zip(axes, shown, strict=True):
        ax.imshow(np.asarray(image))
        ax.set_title(prompt[:40] + ("…" if len(prompt) > 40 else ""), fontsize=6)
        ax.axis("off")
    fig.savefig(path)
    return path


# ---- markdown --------------------------------------------------------------------------------------


def _rank_row(label: str, stats: RankStats, ks: list[int]) -> str:
    recalls = " | ".join(f"{stats.recall[k]:.3f}" for k in ks)
    return f"| {label} | {recalls} | {stats.mean_rank:.1f} | {stats.median_rank:.1f} |"


def _one_line(text: str, limit: int) -> str:
    """`text` on one line (whitespace collapsed), cut to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def markdown(results: EvalResults, written: dict[str, Path]) -> str:
    """The report as markdown, linking the plots written beside it."""
    cfg, split = results.config, results.split
    ks = list(cfg.ks)
    k_head = " | ".join(f"R@{k}" for k in ks)
    k_rule = "|".join("---:" for _ in ks)
    lines = [
        f"# MIRAGE evaluation: {split.name} split ({len(split)} pairs)",
        "",
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC in {results.elapsed_s:.0f} s. "
        f"Source: `{split.source}`. Seed {cfg.seed}.",
        "",
        "| role | model |", "|---|---|",
        *[f"| {role} | `{model_id}` |" for role, model_id in results.models.items()],
        "",
        "## Semantic consistency",
        "",
        "Cosine similarity of matched pairs vs unmatched pairs. Unmatched pairs pair item *i* with the "
        "partner of item π(*i*) for a seeded random derangement π, one per matched pair (balanced classes). "
        "The threshold is fitted on a random half of the pairs and its accuracy reported on the other half; "
        "with ROC AUC ≤ 0.5 matched pairs do not outscore unmatched ones and no threshold is fitted "
        "(*not separable*).",
        "",
        "| pairs | n | matched mean ± sd (median) | unmatched mean ± sd (median) | ROC AUC | threshold | held-out accuracy |",
        "|---|---:|---|---|---:|---:|---:|",
    ]
    for c in results.consistency:
        m, u = c.matched_summary, c.unmatched_summary
        lines.append(
            f"| {c.kind} | {m.n} | {m.mean:.3f} ± {m.std:.3f} ({m.median:.3f}) | {u.mean:.3f} ± {u.std:.3f} "
            f"({u.median:.3f}) | {c.auc:.3f} | {_threshold_cells(c.threshold)} |")
    lines += ["", *[f"- **{c.kind}**: {c.description}." for c in results.consistency], ""]
    if "consistency.png" in written:
        lines += ["![consistency histograms](consistency.png) ![ROC curves](roc.png)", ""]

    proto = results.protocol
    lines += [
        "## Retrieval",
        "",
        f"Whole split: every query against all {len(split)} candidates. Ties count against the model "
        f"(tie rule: {cfg.ties}).",
        "",
        f"| direction | {k_head} | mean rank | median rank |", f"|---|{k_rule}|---:|---:|",
        *[_rank_row(DIRECTIONS[d], getattr(results.retrieval, d), ks) for d in DIRECTIONS],
        "",
        f"{proto.size}-pair protocol: mean ± sd over {proto.draws} random subset(s) (seeds {cfg.seed}…"
        f"{cfg.seed + proto.draws - 1}), retrieval within each subset. {proto.note}",
        "",
        f"| direction | {k_head} | mean rank |", f"|---|{k_rule}|---:|",
    ]
    for d in DIRECTIONS:
        mean, std = proto.mean[d], proto.std[d]
        cells = " | ".join(f"{mean[f'R@{k}']:.3f} ± {std[f'R@{k}']:.3f}" for k in ks)
        lines.append(f"| {DIRECTIONS[d]} | {cells} | {mean['mean_rank']:.1f} |")
    lines += ["", "Published figures for reference (other split and protocol details may differ):", "",
              "| source | split | direction | figure | published | ours (protocol) |", "|---|---|---|---|---:|---:|"]
    for p in PUBLISHED:
        ours = proto.mean[p.direction].get(f"R@{p.k}")
        lines.append(f"| {p.source} | {p.split} | {DIRECTIONS[p.direction]} | R@{p.k} | {p.recall:.3f} | "
                     + (f"{ours:.3f} |" if ours is not None else "– |"))
    lines += ["", "![retrieval](retrieval.png)", ""]

    enrichment = results.enrichment
    lines += ["## Does enrichment help?", ""]
    if enrichment is None:
        lines += ["Not run (see notes).", ""]
    else:
        n = len(enrichment.query_indices)
        lines += [
            f"{n} captions used as queries through the search pipeline (context: top {cfg.context_captions} "
            f"captions, {cfg.max_new_tokens} new tokens, top_p {cfg.top_p}, seed {cfg.seed}). Both retrievals "
            f"rank the caption's own image among the split's {len(split)} images.",
            "",
            f"| retrieval | {k_head} | mean rank | median rank |", f"|---|{k_rule}|---:|---:|",
            _rank_row("first (caption)", enrichment.first, ks),
            _rank_row("second (LLM explanation)", enrichment.second, ks),
            "",
            f"Better after enrichment: {enrichment.improved}; worse: {enrichment.worsened}; unchanged: "
            f"{n - enrichment.improved - enrichment.worsened}; fallbacks (no usable explanation): "
            f"{enrichment.fallbacks}.",
            "",
            "Caveat: the query is an atlas caption, so its own image's caption is often among the LLM's "
            "context; a user's free-text query is not. This measures the pipeline as built.",
            "",
            "![enrichment](enrichment.png)",
            "",
        ]
        examples = [(enrichment.query_indices[j], t) for j, t in enumerate(enrichment.enriched_texts) if t][:3]
        for i, text in examples:
            lines += [f"> **caption**: {_one_line(split.captions[i], 200)}  ",
                      f"> **explanation**: {_one_line(text, 300)}", ""]
    lines += _grounding_section(results)
    if results.synthetic is not None:
        s = results.synthetic
        lines += ["## Synthetic images", "",
                  f"{len(s.images)} images generated from captions ({s.steps} steps, guidance {s.guidance}, "
                  f"fast={s.fast}); seed {cfg.seed} + i for caption i.", "",
                  "![synthetic samples](synthetic.png)" if "synthetic.png" in written else "", ""]
    if results.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in results.notes], ""]
    lines += ["Files: " + ", ".join(f"`{name}`" for name in sorted(written)), ""]
    return "\n".join(lines)


def _grounding_section(results: EvalResults) -> list[str]:
    """Follow-up grounding: how often the LLM's answer cites its sources validly (engine/eval/grounding.py)."""
    g = results.grounding
    lines = ["## Follow-up grounding", ""]
    if g is None:
        return [*lines, "Not run (see notes).", ""]
    lines += [
        f"{g.n} follow-up questions, each about the {g.context} split images nearest to a sampled caption "
        "(the hits a search thread holds), answered through the ask pipeline: captions numbered "
        f"[1]…[{g.context}], citations outside that range dropped in code, the numbered captions shown "
        "instead when no valid citation remains.",
        "",
        "| answers | count | share |", "|---|---:|---:|",
        f"| grounded (≥ 1 valid citation) | {g.grounded} | {g.grounded_share:.3f} |",
        f"| fell back to the captions | {g.fell_back} | {g.fell_back_share:.3f} |",
        "",
        f"Citations kept: {g.citations_kept}; dropped as out of range: {g.citations_dropped}; "
        f"malformed markers removed: {g.malformed}.",
        "",
    ]
    for question, answer in g.examples:
        lines += [f"> **question**: {question}  ", f"> **answer**: {_one_line(answer, 300)}", ""]
    return lines


def _threshold_cells(result: ThresholdResult) -> str:
    """The threshold and held-out accuracy cells, or "not separable" when there is no threshold."""
    if not result.separable or result.threshold is None or result.heldout_accuracy is None:
        return "not separable | —"
    return f"{result.threshold:.3f} | {result.heldout_accuracy:.3f}"
