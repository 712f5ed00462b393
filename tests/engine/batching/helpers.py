"""Running several calls at once from worker threads, as the engine's queue workers do."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import torch


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Start every call at the same moment on its own thread; each one's result or exception, in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


@contextmanager
def forward_hook(module: torch.nn.Module, hook: Callable[..., Any]) -> Iterator[None]:
    """`hook(module, args, kwargs, output)` on every forward of `module` while the block runs."""
    handle = module.register_forward_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()
