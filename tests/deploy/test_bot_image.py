"""The bot image holds no torch: its dependency set, resolved from the installed metadata, and the
engine files it copies (the contract alone) are checked here."""

from __future__ import annotations

import ast
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.manifests import REPO_ROOT

MODEL_STACK = {"torch", "torchvision", "transformers", "diffusers", "open-clip-torch", "bitsandbytes", "accelerate"}


def bot_dependency_closure() -> set[str]:
    """Every distribution `pip install '.[bot]'` brings in: pyproject's base and bot requirements, then
    each installed distribution's own requirements (with the extras asked of it), transitively."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pending = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["bot"]]
    seen: dict[str, set[str]] = {}
    while pending:
        req = pending.pop()
        name = canonicalize_name(req.name)
        extras = set(req.extras)
        if name in seen and extras <= seen[name]:
            continue
        seen.setdefault(name, set()).update(extras)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            raise AssertionError(f"{req.name} (needed by the bot) is not installed; run deploy/install.sh") from None
        for line in requires:
            sub = Requirement(line)
            environments = [{"extra": e} for e in extras] or [{"extra": ""}]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in environments):
                pending.append(sub)
    return set(seen)


def test_the_bot_dependency_set_has_no_torch_or_model_library() -> None:
    closure = bot_dependency_closure()
    assert "discord-py" in closure and "httpx" in closure  # the walk really followed the bot extra
    assert not closure & MODEL_STACK, f"the bot image would install {sorted(closure & MODEL_STACK)}"
    assert not {name for name in closure if name.startswith("nvidia-")}


def test_the_walk_would_notice_torch_if_the_bot_needed_it() -> None:
    # the engine extra does pull torch in: the same walk over it must find it
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    names = {canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"]["engine"]}
    assert "torch" in names
    assert "torch" in {canonicalize_name(Requirement(r).name) for r in metadata.requires("open_clip_torch") or []}


def test_the_bot_imports_nothing_of_the_engine_but_its_contract() -> None:
    """bot.Dockerfile copies engine/__init__.py and engine/contract.py only; that must be enough."""
    allowed = {"engine", "engine.contract"}
    imported: set[tuple[str, str]] = set()
    for path in sorted((REPO_ROOT / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            imported |= {(str(path.relative_to(REPO_ROOT)), n) for n in names if n.split(".")[0] == "engine"}
    outside = sorted((where, name) for where, name in imported if name not in allowed)
    assert outside == [], f"the bot image lacks these engine modules: {outside}"
    contract = ast.parse((REPO_ROOT / "engine" / "contract.py").read_text())
    for node in ast.walk(contract):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0 and not node.module.startswith("engine"), node.module
    package_init = ast.parse((REPO_ROOT / "engine" / "__init__.py").read_text())
    assert not [n for n in ast.walk(package_init) if isinstance(n, ast.Import | ast.ImportFrom)]
