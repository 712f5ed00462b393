"""pyproject's version floors are honest: as high as the code needs, and met by the pins CI installs.

CI installs exactly deploy/constraints.txt, so the floors themselves are never installed together;
what can be checked offline is that (1) every pin satisfies pyproject's specifier, so the tested set
is a set pyproject allows, and (2) no floor sits below the first release with an API the code calls.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]

# package -> (first release with what we call, what that is, where we call it, the call's text there)
NEEDED = {
    "transformers": ("4.56.0", "from_pretrained(dtype=...)", "engine/models/llm.py", '{"dtype": torch_dtype}'),
    "diffusers": ("0.40.0", "StableDiffusionPipeline.from_pretrained(dtype=...)", "engine/models/diffusion.py",
                  "dtype=torch_dtype"),
}


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    return [Requirement(line) for line in lines]


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "deploy" / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonicalize_name(name.split("[")[0])] = Version(version.split(";")[0].strip())
    return pins


def _floor(req: Requirement) -> Version | None:
    floors = [Version(s.version) for s in req.specifier if s.operator in (">=", "==", "~=")]
    return max(floors) if floors else None


def test_every_pinned_version_satisfies_pyproject():
    pins = _pins()
    wrong = [
        f"{req.name}: pinned {pins[canonicalize_name(req.name)]}, pyproject asks {req.specifier}"
        for req in _requirements()
        if canonicalize_name(req.name) in pins
        and (req.marker is None or req.marker.evaluate())
        and not req.specifier.contains(pins[canonicalize_name(req.name)], prereleases=True)
    ]
    assert not wrong, wrong


def test_every_requirement_is_pinned_for_ci():
    pins = _pins()
    unpinned = [
        req.name for req in _requirements()
        if (req.marker is None or req.marker.evaluate()) and canonicalize_name(req.name) not in pins
    ]
    assert not unpinned, f"add to deploy/constraints.txt: {unpinned}"


@pytest.mark.parametrize("package", sorted(NEEDED))
def test_the_floor_is_the_first_release_with_the_api_the_code_calls(package):
    needed, api, where, call = NEEDED[package]
    reqs = [r for r in _requirements() if canonicalize_name(r.name) == package]
    assert reqs, f"{package} is not in pyproject.toml"
    for req in reqs:
        floor = _floor(req)
        assert floor is not None and floor >= Version(needed), (
            f"{package}{req.specifier}: {where} calls {api}, first in {needed}"
        )
    assert call in (ROOT / where).read_text(), f"{where} no longer calls {api}: is the floor still needed?"
