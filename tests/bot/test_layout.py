"""The bot's imports point one way, every import counted (those under `if TYPE_CHECKING:` too, since a
circle hidden from the interpreter is still a circle for the reader):

    client → ui → services → flows → engine client, render, store, rules (and the other leaves)

ui only describes requests (it finds the services at run time); flows never reach back to the services
or the client and use from ui only the pure view builders; the leaves know no flow, ui or services;
the game rules know neither Discord nor the database. A cycle anywhere in bot/ fails here, with the
modules that form it, and so does a file that has grown past a few hundred lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import bot

ROOT = Path(bot.__file__).resolve().parent
MAX_LINES = 300
# Generated-by-hand migrations are long by nature and never read as a module's logic.
LONG_ALLOWED = ("store/migrations/",)
# Files already past the limit that another change owns: they may not grow, and should be split.
GRANDFATHERED: dict[str, int] = {}
# Pure component builders (buttons laid out on a message) that flows attach to their replies.
VIEW_BUILDERS = {"bot.ui.views", "bot.ui.quiz_views", "bot.ui.teach_views"}
UPPER = ("bot.client", "bot.__main__", "bot.ui", "bot.services", "bot.flows")
IMPURE = ("discord", "sqlalchemy", "httpx", "alembic", "aiohttp")  # what the rules must not touch


def _module_name(path: Path) -> str:
    parts = ["bot", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _all_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import in the module: at module level, inside functions and under `if TYPE_CHECKING:`."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]


def _files() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _targets(name: str, path: Path, node: ast.Import | ast.ImportFrom, known: set[str]) -> list[str]:
    """The absolute module names one import statement names (bot modules where it names one)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    base = node.module or ""
    if node.level:
        anchor = package.split(".")
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]


def import_graph() -> dict[str, set[str]]:
    """bot module → the bot modules it imports."""
    files = _files()
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in _all_imports(ast.parse(path.read_text(), str(path))):
            graph[name] |= {t for t in _targets(name, path, node, set(files)) if t in files and t != name}
    return graph


def outside_imports(module: str) -> set[str]:
    """The top-level packages outside bot/ that `module` imports."""
    files = _files()
    path = files[module]
    found: set[str] = set()
    for node in _all_imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            continue
        found |= {t.split(".")[0] for t in _targets(module, path, node, set(files))}
    return found - {"bot"}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := walk(start)):
            return cycle
    return None


def _in(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def wrong_way(graph: dict[str, set[str]]) -> list[str]:
    """Every import against the one direction, as `importer → imported (why)`."""
    found = []
    for name, imports in graph.items():
        for target in sorted(imports):
            why = None
            if _in(name, "bot.ui") and _in(target, "bot.services", "bot.flows", "bot.client"):
                why = "the ui hands requests to the services it finds at run time"
            elif _in(name, "bot.services") and _in(target, "bot.ui", "bot.client"):
                why = "the services never reach back to the ui or the client"
            elif _in(name, "bot.flows") and (
                _in(target, "bot.services", "bot.client") or (_in(target, "bot.ui") and target not in VIEW_BUILDERS)
            ):
                why = "flows use only the view builders of the ui, never the services or the client"
            elif not _in(name, *UPPER) and _in(target, *UPPER):
                why = "engine client, render, store, rules and requests are leaves"
            if why:
                found.append(f"{name} → {target} ({why})")
    return found


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_relative_absolute_and_type_checking_imports(tmp_path: Path):
    graph = import_graph()
    assert "bot.flows.run" in graph["bot.flows.search"]  # from .run import …
    assert "bot.render.text" in graph["bot.flows.search"]  # from ..render import text
    assert "bot.store.database" in graph["bot.store"]  # a package's __init__
    hidden = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .flow import QuizFlow\n")
    assert [n.module for n in _all_imports(hidden) if isinstance(n, ast.ImportFrom)] == ["typing", "flow"]


def test_the_direction_check_names_imports_against_it():
    graph = {
        "bot.ui.buttons": {"bot.flows.quiz.play", "bot.requests"},
        "bot.flows.quiz.play": {"bot.ui.quiz_views", "bot.ui.commands", "bot.render.quiz"},
        "bot.render.quiz": {"bot.flows.quiz.live"},
        "bot.services": {"bot.flows.quiz.play"},
    }
    assert [line.split(" (")[0] for line in wrong_way(graph)] == [
        "bot.ui.buttons → bot.flows.quiz.play",
        "bot.flows.quiz.play → bot.ui.commands",
        "bot.render.quiz → bot.flows.quiz.live",
    ]


def test_no_module_in_bot_imports_itself_back_not_even_for_type_checking():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_imports_point_one_way_ui_services_flows_leaves():
    found = wrong_way(import_graph())
    assert not found, "imports against the one direction:\n" + "\n".join(found)


def test_the_game_rules_know_neither_discord_nor_the_database():
    graph = import_graph()
    rules = [name for name in graph if _in(name, "bot.rules")]
    assert rules, "the quiz rules live in bot/rules"
    for name in rules:
        assert not {i for i in graph[name] if not _in(i, "bot.rules")}, name
        assert not outside_imports(name) & set(IMPURE), name


def test_no_bot_file_is_longer_than_a_few_hundred_lines():
    too_long = {
        str(path.relative_to(ROOT)): n
        for path in ROOT.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > GRANDFATHERED.get(str(path.relative_to(ROOT)), MAX_LINES)
        and not str(path.relative_to(ROOT)).startswith(LONG_ALLOWED)
    }
    assert not too_long, f"files over {MAX_LINES} lines (split them): {too_long}"
