"""Top-p sampling for several prompts in one forward pass per token, with a KV cache.

Prompts of different lengths are padded on the left; the attention mask hides the padding and
position ids count only real tokens, so each row sees exactly what it would see alone. Each row has
its own seed and `torch.Generator`, so its text does not depend on its neighbours. A row leaves the
batch (its cache rows are dropped) as soon as it stops at the stop text or EOS, reaches its own
`max_new_tokens`, is cancelled, or produces non-finite logits; the others go on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import torch

from engine.models.base import GenerationCancelled

RowOutcome = list[int] | BaseException  # the generated token ids, or why the row failed


@dataclass
class TextRow:
    """One prompt to complete, already tokenized."""

    prompt_ids: list[int]
    max_new_tokens: int
    top_p: float
    seed: int
    cancel: threading.Event | None = None

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
) -> list[RowOutcome]:
    """Sample a completion for every row; `stopped(ids)` says when a row's new tokens reached its stop text.

    Returns, per row, its new token ids (stop text included) or the exception that ended it;
    `on_row_done(index, outcome)` is called as soon as each row is finished.
    """
    outcomes: list[RowOutcome | None] = [None] * len(rows)

    def finish(i: int, outcome: RowOutcome) -> None:
        outcomes[i] = outcome
        if on_row_done is not None:
            on_row_done(i, outcome)

    # 1. Rows cancelled before they start never touch the model
    active = []
    for i, row in enumerate(rows):
        if row.cancelled:
            finish(i, GenerationCancelled("generation cancelled before it started"))
        else:
            active.append(i)
    if not active:
        return outcomes  # type: ignore[return-value]

    # 2. Prefill: left-padded prompts, a mask over the padding, positions counted from each row's first token
    input_ids, mask = _left_padded([rows[i].prompt_ids for i in active], pad_id, device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    generators = {i: torch.Generator(device=device).manual_seed(rows[i].seed) for i in active}
    new_tokens: dict[int, list[int]] = {i: [] for i in active}
    with torch.inference_mode():
        out = model(
            input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1
        )
        while True:
            # 3. Sample each row's next token from its own generator
            logits = out.logits[:, -1, :].float()
            top_p = torch.tensor([[rows[i].top_p] for i in active], device=logits.device)
            probs = _top_p_probs(logits, top_p)
            finite = torch.isfinite(logits).all(-1).tolist()
            keep = []
            for j, i in enumerate(active):
                if not finite[j]:
                    finish(i, FloatingPointError("the LLM produced non-finite logits for this prompt"))
                    continue
                token = int(torch.multinomial(probs[j], 1, generator=generators[i]).item())
                new_tokens[i].append(token)
                # 4. Finished rows leave the batch; the others go on
                if token in eos_ids or len(new_tokens[i]) >= rows[i].max_new_tokens or stopped(new_tokens[i]):
                    finish(i, new_tokens[i])
                elif rows[i].cancelled:
                    finish(i, GenerationCancelled(f"generation cancelled after {len(new_tokens[i])} tokens"))
                else:
                    keep.append(j)
            if not keep:
                break
            cache = out.cache  # transformers 5 names the KV cache `cache` (it was `past_key_values`)
            if len(keep) < len(active):
                index = torch.tensor(keep, device=mask.device)
                cache.batch_select_indices(index)
                mask, positions = mask[index], positions[index]
                active = [active[j] for j in keep]
            # 5. One more token for every row still running
            step_ids = torch.tensor([[new_tokens[i][-1]] for i in active], device=mask.device)
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=-1)
            positions = positions[:, -1:] + 1
            out = model(
                input_ids=step_ids, attention_mask=mask, position_ids=positions,
                cache=cache, use_cache=True,
            )
    return outcomes  # type: ignore[return-value]


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
