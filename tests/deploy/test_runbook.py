"""The runbook's order, as an operator would type it: prefetch, then index, then serve; and on one GPU
the index Job gets the GPU because the engine is scaled to 0 first.

Read from deploy/README.md's code blocks, so a reordered or dropped step fails here; the GPU count is
taken from the rendered manifests, so a Job or engine asking for more GPUs fails it too.
"""

from __future__ import annotations

import re

from tests.deploy.manifests import DEPLOY, load, workload

RUNBOOK = (DEPLOY / "README.md").read_text()
GPU = "nvidia.com/gpu"


def _section(title: str) -> str:
    start = RUNBOOK.index(title)
    end = RUNBOOK.find("\n## ", start + 1)
    return RUNBOOK[start:end]


def _commands(text: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    return [line.split("#")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


def _first(commands: list[str], pattern: str) -> int:
    found = [i for i, c in enumerate(commands) if re.search(pattern, c)]
    assert found, f"no command matching {pattern!r} in the runbook"
    return found[0]


def test_compose_prefetches_then_indexes_then_serves() -> None:
    commands = _commands(_section("## 2. One GPU server"))
    prefetch = _first(commands, r"python -m engine prefetch")
    index = _first(commands, r"--profile index run --rm index")
    serve = _first(commands, r"docker compose up -d")
    assert prefetch < index < serve


def test_the_cluster_prefetches_then_indexes_then_serves() -> None:
    commands = _commands(_section("## 3. A cluster"))
    prefetch = _first(commands, r"apply -k deploy/k8s/jobs/prefetch")
    index = _first(commands, r"apply -k deploy/k8s/jobs/index")
    serve = _first(commands, r"apply -k deploy/k8s/overlays/")
    assert prefetch < index < serve
    # each Job is waited for before the next step starts
    assert _first(commands, r"wait --for=condition=complete job/mirage-prefetch") < index
    assert _first(commands, r"wait --for=condition=complete job/mirage-index") < serve


def _gpus(container: dict) -> int:
    return int(container.get("resources", {}).get("limits", {}).get(GPU, 0))


def test_on_one_gpu_the_index_job_gets_the_gpu_the_engine_gives_back() -> None:
    m = load()
    engine = workload(m.k8s["single-gpu"], "mirage-engine")
    engine_gpus = sum(_gpus(c) for c in engine["spec"]["template"]["spec"]["containers"])
    (job,) = [d for d in m.jobs if d["metadata"]["name"] == "mirage-index"]
    job_gpus = sum(_gpus(c) for c in job["spec"]["template"]["spec"]["containers"])
    assert engine_gpus == 1 and job_gpus == 1
    # as deployed, the node's one GPU is the engine's: the Job alone would stay Pending
    assert engine["spec"]["replicas"] * engine_gpus + job_gpus > 1
    commands = _commands(_section("**Re-indexing on `single-gpu`**"))
    down = _first(commands, r"scale deployment/mirage-engine --replicas=0")
    index = _first(commands, r"apply -k deploy/k8s/jobs/index")
    up = _first(commands, r"scale deployment/mirage-engine --replicas=1")
    assert down < _first(commands, r"delete job mirage-index") < index < up
    # while the Job runs, the engine holds 0 of the node's 1 GPU
    assert 0 * engine_gpus + job_gpus <= 1
