"""Texts of the study sets (`/mirage set …`, the ➕ Add to set button): pure functions, no Discord."""

from __future__ import annotations

from collections.abc import Sequence

from .lines import DISCLAIMER_LINE

LIST_IDS_MAX = 20  # ids named in one line before "and n more"

NOT_IN_SERVER = "Study sets belong to a server: use `/mirage set` in the server whose set it is."
NOT_A_MEMBER = "Only members of this server can use its study sets."
NOT_A_TEACHER = (
    "Building study sets is for teachers: members who may manage messages here, or who have a role the "
    "server's operator named in MIRAGE_SET_EDITOR_ROLES."
)
NO_SETS = (
    "This server has no study sets yet. Make one with `/mirage set create name:`, then add images with "
    "`/mirage set add` or the ➕ Add to set button under search results."
)
NO_SETS_YOU_MAY_CHANGE = (
    "You may add to your own sets only (moderators to any): make one with `/mirage set create name:`."
)
NO_IDS = "Give atlas ids separated by spaces or commas, e.g. `ROCO_00020 ROCO_00113`."


def ids_line(ids: Sequence[str]) -> str:
    """`ROCO_1`, `ROCO_2` … and 3 more."""
    shown = ", ".join(f"`{i}`" for i in ids[:LIST_IDS_MAX])
    return shown + (f" … and {len(ids) - LIST_IDS_MAX} more" if len(ids) > LIST_IDS_MAX else "")


def no_such_set(name: str, names: Sequence[str]) -> str:
    """The server has no set of that name (and which it has)."""
    known = f" Its sets: {', '.join(f'**{n}**' for n in names[:LIST_IDS_MAX])}." if names else ""
    return f"This server has no study set named **{name}**.{known}"


def not_yours(title: str) -> str:
    """Someone other than the owner or a moderator tried to change a set."""
    return f"Only the teacher who made **{title}** or a moderator (Manage Messages) may change or delete it."


def created(title: str) -> str:
    """After /mirage set create."""
    return (
        f"📚 Made the study set **{title}** for this server. Add images with `/mirage set add name:{title} ids:…` "
        "or the ➕ Add to set button under search results; play it with `/mirage set play`."
    )


def added(
    title: str, *, added: Sequence[str], already: Sequence[str], missing: Sequence[str],
    over_limit: Sequence[str], size: int, limit: int,
) -> str:
    """What an add did, id by id (nothing the teacher gave goes unmentioned)."""
    lines = [f"📚 **{title}** now has {size} image{'s' if size != 1 else ''}."]
    if added:
        lines.append(f"Added {len(added)}: {ids_line(added)}.")
    if already:
        lines.append(f"Already in the set: {ids_line(already)}.")
    if missing:
        lines.append(f"⚠️ Not in the atlas, left out: {ids_line(missing)}. Check the ids (they look like `ROCO_00020`).")
    if over_limit:
        lines.append(f"⚠️ A set holds at most {limit} images; these did not fit: {ids_line(over_limit)}.")
    return "\n".join(lines)


def removed(title: str, removed: Sequence[str], absent: Sequence[str], size: int) -> str:
    """What a remove did."""
    lines = [f"📚 **{title}** now has {size} image{'s' if size != 1 else ''}."]
    if removed:
        lines.append(f"Removed {len(removed)}: {ids_line(removed)}.")
    if absent:
        lines.append(f"Not in the set (nothing to remove): {ids_line(absent)}.")
    return "\n".join(lines)


def deleted(title: str, items: int) -> str:
    """After /mirage set delete."""
    return f"🗑️ Deleted the study set **{title}** ({items} image{'s' if items != 1 else ''})."


def set_list(sets: Sequence[tuple[str, int, int | None]]) -> str:
    """The server's sets: (title, size, owner id), most recently changed first."""
    lines = ["📚 **This server's study sets** (most recently changed first)"]
    for title, size, owner in sets:
        by = f" · by <@{owner}>" if owner else " · the server's"
        lines.append(f"• **{title}** · {size} image{'s' if size != 1 else ''}{by}")
    lines.append("Play one with `/mirage set play name:`; see its images with `/mirage set list name:`.")
    return "\n".join(lines)


def set_items(title: str, ids: Sequence[str], owner: int | None) -> str:
    """One set's images, in the order a quiz asks them."""
    by = f"by <@{owner}>" if owner else "the server's"
    if not ids:
        return f"📚 **{title}** ({by}) is empty: add images with `/mirage set add`."
    numbered = "\n".join(f"{n}. `{i}`" for n, i in enumerate(ids, 1))
    return f"📚 **{title}** ({by}), {len(ids)} image{'s' if len(ids) != 1 else ''} in quiz order:\n{numbered}"


def empty_set(title: str) -> str:
    """Playing a set with nothing in it."""
    return f"**{title}** is empty: add images with `/mirage set add` or the ➕ Add to set button first."


def nothing_playable(title: str, missing: Sequence[str]) -> str:
    """None of the set's images is in the atlas any more."""
    return (
        f"None of the images of **{title}** can be asked: {ids_line(missing)} are not in the atlas (or not "
        "usable in a quiz). The set is unchanged."
    )


def play_header(title: str, count: int, starter_id: int, left_out: Sequence[str]) -> str:
    """The message a set's quiz opens its thread on."""
    text = (
        f"📚 **Study set quiz: {title}** · {count} question{'s' if count != 1 else ''}, in the set's order · "
        f"started by <@{starter_id}>"
    )
    if left_out:
        text += f"\n⚠️ Left out of this round (not in the atlas or not usable in a quiz): {ids_line(left_out)}."
    return f"{text}\n{DISCLAIMER_LINE}"


def pick_set(ids: Sequence[str], recent: str) -> str:
    """The Add-to-set button's private question: which set."""
    return (
        f"➕ Add these {len(ids)} image{'s' if len(ids) != 1 else ''} ({ids_line(ids)}) to which study set? "
        f"**{recent}**, first, is the one changed most recently. Only you see this."
    )


def exported(title: str, size: int) -> str:
    """With the export file."""
    return (
        f"📦 **{title}** ({size} image{'s' if size != 1 else ''}) as a file: share it with another server or "
        "course, which loads it with `/mirage set import file:`. It holds the set's name and atlas ids only."
    )


def import_refused(why: str) -> str:
    """An import file that cannot be read; nothing changed."""
    return f"❌ I can't import that file: {why}. Nothing was changed."
