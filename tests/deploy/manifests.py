"""Everything under deploy/ that an operator runs, loaded once as data for the rule checks.

Kubernetes manifests are read as `kubectl kustomize` renders each overlay (what `kubectl apply -k`
would send), compose as written, Dockerfiles as (instruction, arguments) pairs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
OVERLAYS = ("single-gpu", "cluster")
JOBS = ("prefetch", "index")  # deploy/k8s/jobs/<job>: one kustomization each, applied by hand in this order
DOCKERFILES = ("engine", "bot")
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}


def tool(name: str) -> str:
    """The path of a command-line tool from the deploy-check extra (next to this Python first)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise AssertionError(f"{name} not found: install the deploy-check extra (deploy/install.sh does)")
    return found


@dataclass
class Manifests:
    """The deploy files as data; tests break copies of it to prove each rule bites."""

    k8s: dict[str, list[dict[str, Any]]]  # overlay -> rendered documents
    jobs: list[dict[str, Any]]  # deploy/k8s/jobs/<job>, as kustomize renders them, applied by hand
    compose: dict[str, Any]
    dockerfiles: dict[str, list[tuple[str, str]]]  # "engine"/"bot" -> [(INSTRUCTION, args)]
    qdrant_values: dict[str, Any]
    secret_example: list[dict[str, Any]]  # one example Secret per consumer
    env_example: dict[str, str]


def render(folder: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize <folder>` as a list of documents."""
    result = subprocess.run([tool("kubectl"), "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kubectl kustomize {folder} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_overlay(overlay: str) -> list[dict[str, Any]]:
    """`kubectl kustomize deploy/k8s/overlays/<overlay>` as a list of documents."""
    return render(DEPLOY / "k8s" / "overlays" / overlay)


def render_job(job: str) -> list[dict[str, Any]]:
    """`kubectl kustomize deploy/k8s/jobs/<job>` (namespace, labels and images applied)."""
    return render(DEPLOY / "k8s" / "jobs" / job)


def parse_dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line[:-1].strip()}" if line.endswith("\\") else f"{pending} {line}"
        if line.endswith("\\"):
            continue
        word, _, rest = pending.strip().partition(" ")
        instructions.append((word.upper(), rest.strip()))
        pending = ""
    return instructions


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of an env file (comments and blanks skipped)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


@lru_cache(maxsize=1)
def _load() -> Manifests:
    return Manifests(
        k8s={overlay: render_overlay(overlay) for overlay in OVERLAYS},
        jobs=[doc for job in JOBS for doc in render_job(job)],
        compose=yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text()),
        dockerfiles={name: parse_dockerfile(DEPLOY / "docker" / f"{name}.Dockerfile") for name in DOCKERFILES},
        qdrant_values=yaml.safe_load((DEPLOY / "k8s" / "qdrant" / "values.yaml").read_text()),
        secret_example=[d for d in yaml.safe_load_all((DEPLOY / "k8s" / "secret.example.yaml").read_text()) if d],
        env_example=read_env_file(DEPLOY / "compose" / "mirage.env.example"),
    )


def load() -> Manifests:
    """A fresh deep copy of the deploy files (cached rendering; callers may mutate their copy)."""
    import copy

    return copy.deepcopy(_load())


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec inside a workload document, or None for other kinds."""
    kind = doc.get("kind")
    if kind not in POD_KINDS:
        return None
    if kind == "Pod":
        return doc["spec"]
    if kind == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def containers(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload document, container) for every container and init container."""
    for doc in docs:
        spec = pod_spec(doc)
        if spec is None:
            continue
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            yield doc, container


def workload(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The Deployment called `name`."""
    return next(d for d in docs if d.get("kind") == "Deployment" and d["metadata"]["name"] == name)


def exec_form(args: str) -> list[str]:
    """A Dockerfile CMD/ENTRYPOINT in JSON (exec) form as a list; the shell form fails the check."""
    try:
        value = json.loads(args)
    except ValueError:
        raise AssertionError(f"not in exec (JSON) form, so signals would not reach python: {args}") from None
    assert isinstance(value, list)
    return value
