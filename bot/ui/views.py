"""The buttons under each kind of answer (pure builders: no Discord calls)."""

from __future__ import annotations

import discord

from engine.contract import K_MAX

from ..queue import Job
from .buttons import (
    ATLAS_ID,
    AskFollowUpButton,
    CancelButton,
    MoreResultsButton,
    NewSeedButton,
    UseAsQueryButton,
)
from .set_buttons import AddToSetButton, PickSetButton, ids_that_fit

MAX_QUERY_BUTTONS = 5


def cancel_view(job: Job) -> discord.ui.View:
    """The cancel button under a job's status line."""
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job.id, job.user_id))
    return view


def _add_query_buttons(view: discord.ui.View, labelled_ids: list[tuple[str, str]]) -> None:
    # One button per atlas image: Discord refuses a message whose components repeat a custom_id.
    seen: set[str] = set()
    for label, atlas_id in labelled_ids[:MAX_QUERY_BUTTONS]:
        if ATLAS_ID.fullmatch(atlas_id) and atlas_id not in seen:
            seen.add(atlas_id)
            view.add_item(UseAsQueryButton(atlas_id, label))


def follow_up_view() -> discord.ui.View:
    """Only 'Ask a follow-up' (under a follow-up's answer)."""
    view = discord.ui.View(timeout=None)
    view.add_item(AskFollowUpButton())
    return view


def search_view(*, shown: int, modality: str | None, hit_ids: list[str], first: int = 1) -> discord.ui.View:
    """More results (while under K_MAX), a follow-up, and 'use #n as query' for the hits."""
    view = discord.ui.View(timeout=None)
    if shown < K_MAX:
        view.add_item(MoreResultsButton(shown, modality))
    view.add_item(AskFollowUpButton())
    _add_query_buttons(view, [(f"Use #{first + i} as query", h) for i, h in enumerate(hit_ids)])
    _add_set_button(view, hit_ids, first)
    return view


def hits_view(hit_ids: list[str]) -> discord.ui.View:
    """A follow-up and 'Use #n as query' for image-search hits."""
    view = follow_up_view()
    _add_query_buttons(view, [(f"Use #{n} as query", h) for n, h in enumerate(hit_ids, 1)])
    _add_set_button(view, hit_ids, 1)
    return view


def _add_set_button(view: discord.ui.View, hit_ids: list[str], first: int) -> None:
    """➕ Add to set for the hits shown (as many as fit in its custom id: all of a page of ROCO ids)."""
    fitting = ids_that_fit(hit_ids)
    if fitting:
        whole = len(fitting) == len(dict.fromkeys(hit_ids))
        view.add_item(AddToSetButton(fitting, "Add to set" if whole else f"Add #{first}–#{first + len(fitting) - 1} to set"))


def set_picker_view(sets: list[tuple[int, str, int]], hit_ids: list[str]) -> discord.ui.View:
    """The Add-to-set picker: one button per study set, (id, title, size), the first (the most recently
    changed) highlighted."""
    view = discord.ui.View(timeout=None)
    for n, (set_id, title, size) in enumerate(sets):
        view.add_item(PickSetButton(set_id, hit_ids, f"{title} ({size})", recent=n == 0))
    return view


def compare_view(left_id: str, right_id: str) -> discord.ui.View:
    """A follow-up and 'Use left/right as query'."""
    view = follow_up_view()
    if left_id == right_id:  # the arithmetic moved nowhere: both sides are the same image
        _add_query_buttons(view, [("Use this image as query", left_id)])
    else:
        _add_query_buttons(view, [("Use left as query", left_id), ("Use right as query", right_id)])
    return view


def generate_view(*, steps: int, fast: bool, nearest_id: str | None) -> discord.ui.View:
    """New seed, a follow-up, and 'use the nearest real image as query'."""
    view = discord.ui.View(timeout=None)
    view.add_item(NewSeedButton(steps, fast))
    view.add_item(AskFollowUpButton())
    if nearest_id:
        _add_query_buttons(view, [("Use the real image as query", nearest_id)])
    return view
