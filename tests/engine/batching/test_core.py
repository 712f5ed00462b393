"""The batcher on its own: who shares a batch, who waits, and how failures and cancels stay private."""

from __future__ import annotations

import functools
import threading
import time

import pytest

from engine.batching.core import Batcher, Pending
from engine.models.base import GenerationCancelled

from .helpers import together


class Doubler:
    """A 'model' that doubles numbers, records each batch, and refuses negative numbers."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay

    def __call__(self, batch: list[Pending[int]]) -> None:
        self.batches.append([p.request for p in batch])
        time.sleep(self.delay)
        for pending in batch:
            if pending.request < 0:
                pending.fail(ValueError(f"negative: {pending.request}"))
            else:
                pending.resolve(pending.request * 2)


def call_together(batcher: Batcher, values: list[int]) -> list[object]:
    """Call the batcher from one thread per value at once; each thread's result or exception."""
    return together([functools.partial(batcher, value) for value in values])


def test_calls_within_the_window_share_one_batch_and_each_gets_its_own_result():
    model = Doubler()
    batcher = Batcher("test", model, window_s=0.2, max_size=8)
    assert call_together(batcher, [1, 2, 3, 4]) == [2, 4, 6, 8]
    assert len(model.batches) == 1 and sorted(model.batches[0]) == [1, 2, 3, 4]
    assert batcher.sizes == {4: 1}
    batcher.close()


def test_a_full_batch_runs_without_waiting_for_the_window():
    model = Doubler()
    batcher = Batcher("test", model, window_s=30.0, max_size=3)
    started = time.monotonic()
    assert call_together(batcher, [1, 2, 3]) == [2, 4, 6]
    assert time.monotonic() - started < 10  # not the 30 s window
    batcher.close()


def test_batches_never_exceed_the_maximum():
    model = Doubler(delay=0.05)
    batcher = Batcher("test", model, window_s=0.05, max_size=3)
    assert call_together(batcher, list(range(10))) == [2 * v for v in range(10)]
    assert max(len(b) for b in model.batches) <= 3
    assert sorted(v for b in model.batches for v in b) == list(range(10))
    batcher.close()


def test_a_batch_size_of_one_runs_every_call_alone():
    model = Doubler()
    batcher = Batcher("test", model, window_s=1.0, max_size=1)
    assert call_together(batcher, [1, 2, 3]) == [2, 4, 6]
    assert all(len(b) == 1 for b in model.batches)
    batcher.close()


def test_one_failing_request_fails_alone():
    batcher = Batcher("test", Doubler(), window_s=0.2, max_size=8)
    results = call_together(batcher, [1, -5, 3])
    assert results[0] == 2 and results[2] == 6
    assert isinstance(results[1], ValueError) and "negative: -5" in str(results[1])
    batcher.close()


def test_a_batch_that_raises_as_a_whole_is_retried_alone_so_only_the_culprit_fails():
    seen: list[list[int]] = []

    def strict(batch: list[Pending[int]]) -> None:
        seen.append([p.request for p in batch])
        if any(p.request == 13 for p in batch):
            raise RuntimeError("unlucky number in the batch")
        for pending in batch:
            pending.resolve(pending.request + 1)

    batcher = Batcher("test", strict, window_s=0.2, max_size=8)
    results = call_together(batcher, [1, 13, 2])
    assert results[0] == 2 and results[2] == 3
    assert isinstance(results[1], RuntimeError) and "unlucky" in str(results[1])
    assert [13] in seen  # the culprit ran alone
    batcher.close()


def test_requests_with_different_keys_never_share_a_batch():
    model = Doubler()
    batcher = Batcher("test", model, window_s=0.2, max_size=8, key=lambda v: v % 2)
    assert call_together(batcher, [1, 2, 3, 4, 5]) == [2, 4, 6, 8, 10]
    assert sorted(sorted(b) for b in model.batches) == [[1, 3, 5], [2, 4]]
    batcher.close()


def test_a_caller_cancelled_while_waiting_leaves_at_once_and_the_others_still_run():
    model = Doubler(delay=0.5)
    batcher = Batcher("test", model, window_s=0.0, max_size=1)
    blocker = threading.Thread(target=batcher, args=(100,))
    blocker.start()  # occupies the dispatcher for 0.5 s
    time.sleep(0.1)
    cancel = threading.Event()
    outcome: list[object] = []

    def waiting_caller() -> None:
        try:
            outcome.append(batcher(7, cancel=cancel))
        except GenerationCancelled as exc:
            outcome.append(exc)

    caller = threading.Thread(target=waiting_caller)
    caller.start()
    time.sleep(0.05)
    cancel.set()
    caller.join(2)
    assert isinstance(outcome[0], GenerationCancelled)
    blocker.join(5)
    assert batcher(8) == 16
    assert [7] not in model.batches  # the cancelled request never reached the model
    batcher.close()


def test_a_call_with_its_cancel_already_set_is_refused():
    batcher = Batcher("test", Doubler(), window_s=0.0, max_size=4)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelled):
        batcher(1, cancel=cancel)
    batcher.close()


def test_bad_settings_name_the_field():
    with pytest.raises(ValueError, match="max_size"):
        Batcher("test", Doubler(), window_s=0.0, max_size=0)
    with pytest.raises(ValueError, match="window_s"):
        Batcher("test", Doubler(), window_s=-1, max_size=2)
