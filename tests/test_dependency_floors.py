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


# The floors must also be installable *together*: transformers 4.56 (the first with dtype=) needs
# huggingface_hub<1.0 while diffusers 0.40 needs >=1.23, so the transformers floor is 5.0 (hub >=1.3,<2).
# Each floor's own requirement on huggingface_hub, read from its wheel's METADATA (2026-11-30):
FLOOR_HUB_RANGES = {"transformers": ">=1.3.0,<2.0", "diffusers": ">=1.23.0,<2.0"}


def test_the_floors_agree_on_huggingface_hub():
    from packaging.specifiers import SpecifierSet

    hub_floor = next(_floor(r) for r in _requirements() if canonicalize_name(r.name) == "huggingface-hub")
    floors = {canonicalize_name(r.name): _floor(r) for r in _requirements()}
    assert floors["transformers"] >= Version("5.0"), "transformers<5 needs huggingface_hub<1.0, which diffusers refuses"
    for package, spec in FLOOR_HUB_RANGES.items():
        assert hub_floor in SpecifierSet(spec), f"huggingface_hub>={hub_floor} is outside {package}'s floor range {spec}"


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
