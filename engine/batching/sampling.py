"""Top-p sampling for several prompts in one forward pass per token, with a KV cache.

Prompts of different lengths are padded on the left; the attention mask hides the padding and
position ids count only real tokens, so each row sees exactly what it would see alone. Each row has
its own seed and `torch.Generator`, so its text does not depend on its neighbours. A row leaves the
batch (its cache rows are dropped) as soon as it stops at the stop text or EOS, reaches its own
`max_new_tokens`, is cancelled, or produces non-finite logits; the others go on. A row with
`on_tokens` is told its new ids after every token (streaming; it runs on the compute lane between
steps, so it must be quick: engine/models/streaming.py decodes and hands the text on).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from engine.models.base import GenerationCancelled

from .lane import run_here

log = logging.getLogger(__name__)

RowOutcome = list[int] | BaseException  # the generated token ids, or why the row failed


@dataclass
class TextRow:
    """One prompt to complete, already tokenized."""

    prompt_ids: list[int]
    max_new_tokens: int
    top_p: float
    seed: int
    cancel: threading.Event | None = None
    on_tokens: Callable[[list[int]], None] | None = None  # the row's new ids so far, after each token

    @property
    def cancelled(self) -> bool:
        """True once its caller went away."""
        return self.cancel is not None and self.cancel.is_set()


def sample_rows(
    model: torch.nn.Module,
    rows: Sequence[TextRow],
    *,
    device: str,
    pad_id: int,
    eos_ids: Collection[int],
    stopped: Callable[[list[int]], bool],
    on_row_done: Callable[[int, RowOutcome], None] | None = None,
    admit: Callable[[int], list[TextRow]] | None = None,
    max_rows: int = 0,
    compute: Callable[..., Any] | None = None,
) -> list[RowOutcome]:
    """Sample a completion for every row; `stopped(ids)` says when a row's new tokens reached its stop text.

    Returns, per row, its new token ids (stop text included) or the exception that ended it;
    `on_row_done(index, outcome)` is called as soon as each row is finished. Between tokens,
    `admit(room)` may hand over up to `room` new rows (room = `max_rows` minus the rows running):
    they are prefilled and join the loop, and get the indices after the rows already given.
    `compute(fn, *args)` runs the prefill and each token's step (engine/batching/lane.py: on the CPU,
    the one thread for every model call, where other roles' calls fit in between tokens).
    """
    run = compute or run_here
    rows = list(rows)
    outcomes: list[RowOutcome | None] = [None] * len(rows)

    def finish(i: int, outcome: RowOutcome) -> None:
        outcomes[i] = outcome
        if on_row_done is not None:
            on_row_done(i, outcome)

    new_tokens: dict[int, list[int]] = {}
    generators: dict[int, torch.Generator] = {}

    def start(indices: list[int]) -> _Running | None:
        """1. Rows cancelled before they start never touch the model; 2. the others are prefilled together."""
        live = []
        for i in indices:
            if rows[i].cancelled:
                finish(i, GenerationCancelled("generation cancelled before it started"))
            else:
                live.append(i)
                new_tokens[i] = []
                generators[i] = torch.Generator(device=device).manual_seed(rows[i].seed)
        if not live:
            return None
        # left-padded prompts, a mask over the padding, positions counted from each row's first token
        input_ids, mask = _left_padded([rows[i].prompt_ids for i in live], pad_id, device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = model(
            input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1
        )
        return _Running(live, out.logits[:, -1, :].float(), out.cache, mask, positions[:, -1:])

    def advance(running: _Running) -> _Running | None:
        """3.–6. One token for every running row; finished rows leave, waiting rows join."""
        with torch.inference_mode():
            # 3. Sample each row's next token from its own generator
            probs = _top_p_probs(running.logits, torch.tensor([[rows[i].top_p] for i in running.rows],
                                                               device=running.logits.device))
            finite = torch.isfinite(running.logits).all(-1).tolist()
            keep = []
            for j, i in enumerate(running.rows):
                if not finite[j]:
                    finish(i, FloatingPointError("the LLM produced non-finite logits for this prompt"))
                    continue
                token = int(torch.multinomial(probs[j], 1, generator=generators[i]).item())
                new_tokens[i].append(token)
                _tell(rows[i], new_tokens[i])
                # 4. Finished rows leave the batch; the others go on
                if token in eos_ids or len(new_tokens[i]) >= rows[i].max_new_tokens or stopped(new_tokens[i]):
                    finish(i, new_tokens[i])
                elif rows[i].cancelled:
                    finish(i, GenerationCancelled(f"generation cancelled after {len(new_tokens[i])} tokens"))
                else:
                    keep.append(j)
            # 5. One more token for every row still running
            still = running.step(model, keep, [new_tokens[running.rows[j]][-1] for j in keep])
            # 6. Rows that arrived meanwhile are prefilled and join
            room = max_rows - (len(still.rows) if still else 0)
            joining = admit(room) if admit is not None and room > 0 else []
            if joining:
                rows.extend(joining)
                outcomes.extend([None] * len(joining))
                still = _Running.merge(still, start(list(range(len(rows) - len(joining), len(rows)))))
            return still

    def prefill(indices: list[int]) -> _Running | None:
        with torch.inference_mode():
            return start(indices)

    running = run(prefill, list(range(len(rows))))
    while running is not None:
        running = run(advance, running)
    return outcomes  # type: ignore[return-value]  # every row has finished by now


def _tell(row: TextRow, ids: list[int]) -> None:
    """Hand a streaming row its ids so far; a listener that fails is dropped, the row goes on."""
    if row.on_tokens is None:
        return
    try:
        row.on_tokens(list(ids))
    except Exception:
        log.warning("a token listener failed; it is dropped, the generation goes on", exc_info=True)
        row.on_tokens = None


class _Running:
    """The rows in the loop: their indices, next-token logits, KV cache, mask and last positions."""

    def __init__(self, rows: list[int], logits: torch.Tensor, cache, mask: torch.Tensor, last: torch.Tensor):
        self.rows, self.logits, self.cache, self.mask, self.last = rows, logits, cache, mask, last

    def step(self, model: torch.nn.Module, keep: list[int], tokens: list[int]) -> _Running | None:
        """Drop the rows not in `keep` (their cache rows too), then one forward pass for the rest."""
        if not keep:
            return None
        mask, last = self.mask, self.last
        if len(keep) < len(self.rows):
            index = torch.tensor(keep, device=mask.device)
            self.cache.batch_select_indices(index)
            mask, last = mask[index], last[index]
        mask = torch.cat([mask, mask.new_ones((len(keep), 1))], dim=-1)
        out = model(
            input_ids=torch.tensor([[t] for t in tokens], device=mask.device), attention_mask=mask,
            position_ids=last + 1, cache=self.cache, use_cache=True,
        )
        return _Running([self.rows[j] for j in keep], out.logits[:, -1, :].float(), out.cache, mask, last + 1)

    @staticmethod
    def merge(a: _Running | None, b: _Running | None) -> _Running | None:
        """One batch from two: the shorter history is padded on the left (masked), rows of `a` first."""
        if a is None or b is None:
            return a or b
        width = max(a.mask.shape[1], b.mask.shape[1])
        for layer_a, layer_b in zip(a.cache.layers, b.cache.layers, strict=True):
            layer_a.keys = torch.cat([_pad_left(layer_a.keys, width), _pad_left(layer_b.keys, width)])
            layer_a.values = torch.cat([_pad_left(layer_a.values, width), _pad_left(layer_b.values, width)])
        mask = torch.cat([_pad_left(a.mask, width), _pad_left(b.mask, width)])
        return _Running(a.rows + b.rows, torch.cat([a.logits, b.logits]), a.cache, mask, torch.cat([a.last, b.last]))


def _pad_left(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """Zeros on the left of the sequence axis (the last for masks, the second last for keys and values)."""
    axis = -1 if tensor.dim() == 2 else -2
    missing = width - tensor.shape[axis]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[axis] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=axis)


def _left_padded(prompts: list[list[int]], pad_id: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (rows, longest prompt), padding on the left."""
    width = max(len(ids) for ids in prompts)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for r, ids in enumerate(prompts):
        input_ids[r, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        mask[r, width - len(ids) :] = 1
    return input_ids.to(device), mask.to(device)


def _top_p_probs(logits: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Per row: the smallest set of tokens whose probability reaches `top_p` (at least one), renormalised."""
    sorted_logits, order = torch.sort(logits, dim=-1, stable=True)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = cumulative <= (1 - top_p)
    drop_sorted[:, -1] = False  # the most likely token always stays
    drop = drop_sorted.scatter(1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf")).softmax(dim=-1)
