"""The deploy files pass the same offline linters and schema checks an operator's CI would run.

Nothing here needs Docker, a cluster or the network: yamllint, the compose spec bundled in
check-jsonschema, kubectl's built-in kustomize and kubernetes-validate's bundled schemas, hadolint.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.manifests import DEPLOY, DOCKERFILES, JOBS, OVERLAYS, REPO_ROOT, render_overlay, tool

K8S_VERSION = "1.33.0"  # the oldest Kubernetes these manifests promise to fit (native preStop sleep is 1.30+)


def run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)


def test_yamllint_passes_on_everything_under_deploy() -> None:
    result = run([tool("yamllint"), "--strict", "-c", str(DEPLOY / ".yamllint.yaml"), str(DEPLOY)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_file_follows_the_compose_spec() -> None:
    result = run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                  str(DEPLOY / "compose" / "compose.yaml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_spec_check_really_rejects_a_wrong_key(tmp_path: Path) -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    compose["services"]["engine"]["shm-size"] = "2gb"  # the real key is shm_size
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump(compose))
    result = run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(broken)])
    assert result.returncode != 0 and "shm-size" in result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_renders_and_validates_against_the_kubernetes_schemas(overlay: str) -> None:
    rendered = run([tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)])
    assert rendered.returncode == 0, rendered.stderr
    # --strict: an unknown or misspelt field is an error, not silently dropped by the API server
    result = run([tool("kubernetes-validate"), "--strict", "-k", K8S_VERSION, "--quiet", "-"], stdin=rendered.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout


@pytest.mark.parametrize("job", JOBS)
def test_the_one_shot_jobs_render_and_validate_against_the_kubernetes_schemas(job: str) -> None:
    rendered = run([tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / "jobs" / job)])
    assert rendered.returncode == 0, rendered.stderr
    result = run([tool("kubernetes-validate"), "--strict", "-k", K8S_VERSION, "--quiet", "-"], stdin=rendered.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    (doc,) = yaml.safe_load_all(rendered.stdout)
    # the kustomization reaches the Job: namespace, labels, and the image tag set in components/images
    assert doc["metadata"]["namespace"] == "mirage"
    assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "mirage"
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "mirage-engine:0.1.0"


def test_kubernetes_validate_really_rejects_a_misspelt_field() -> None:
    rendered = run([tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / "overlays" / "single-gpu")]).stdout
    broken = rendered.replace("terminationGracePeriodSeconds:", "terminationGracePeriod:", 1)
    result = run([tool("kubernetes-validate"), "--strict", "-k", K8S_VERSION, "--quiet", "-"], stdin=broken)
    assert result.returncode != 0 and "terminationGracePeriod" in result.stdout


def test_the_custom_resources_kubernetes_validate_cannot_check_have_the_fields_keda_and_prometheus_need() -> None:
    docs = {d["kind"]: d for d in render_overlay("cluster")}
    scaled = docs["ScaledObject"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == "mirage-engine"
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert "mirage_queue_depth" in trigger["metadata"]["query"]  # the engine's gauge (engine/api/metrics.py)
    assert "mirage_bot_open_jobs" in trigger["metadata"]["query"]  # the bot's (bot/metrics.py)
    assert float(trigger["metadata"]["threshold"]) > 0 and trigger["metadata"]["serverAddress"].startswith("http")
    monitors = {d["metadata"]["name"]: d for d in render_overlay("cluster") if d["kind"] == "ServiceMonitor"}
    for name, port in (("mirage-engine", "http"), ("mirage-bot", "metrics")):
        monitor = monitors[name]
        assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics" and endpoint["port"] == port
        assert "authorization" not in endpoint and "bearerTokenSecret" not in endpoint  # /metrics needs no token


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_passes_on_the_dockerfiles(name: str) -> None:
    dockerfile = DEPLOY / "docker" / f"{name}.Dockerfile"
    result = run([tool("hadolint"), "--config", str(DEPLOY / "docker" / ".hadolint.yaml"), str(dockerfile)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_secret_is_not_part_of_any_kustomization() -> None:
    for kustomization in (DEPLOY / "k8s").rglob("kustomization.yaml"):
        listed = yaml.safe_load(kustomization.read_text())
        for entry in listed.get("resources", []) + listed.get("components", []):
            assert not entry.endswith("secret.example.yaml"), kustomization
