"""The operator's rules hold for deploy/, and each one fails, naming itself, when a manifest breaks it."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.deploy.manifests import Manifests, load, workload
from tests.deploy.rules import (
    BOT,
    ENGINE,
    GPU,
    RULES,
    documented_entry_points,
    gpu_only_in_limits,
    mirage_variables_exist,
    no_secret_values,
    pinned_images,
    probe_budgets,
    single_bot,
)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_deploy_files_keep_the_operators_rule(rule: str) -> None:
    violations = RULES[rule](load())
    assert violations == [], "\n".join(violations)


def engine_container(m: Manifests, overlay: str = "single-gpu") -> dict:
    spec = workload(m.k8s[overlay], ENGINE)["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] if c["name"] == "engine")


def bot_container(m: Manifests, overlay: str = "cluster") -> dict:
    return workload(m.k8s[overlay], BOT)["spec"]["template"]["spec"]["containers"][0]


def broken(rule: Callable[[Manifests], list[str]], change: Callable[[Manifests], None]) -> list[str]:
    """The rule's violations after `change` was applied to a copy of the deploy files."""
    m = load()
    change(m)
    return rule(m)


def test_a_gpu_in_requests_only_is_named() -> None:
    def requests_only(m: Manifests) -> None:
        resources = engine_container(m)["resources"]
        resources["requests"][GPU] = resources["limits"].pop(GPU)

    found = broken(gpu_only_in_limits, requests_only)
    assert any(v.startswith("[GPU only in limits]") and "in requests without limits" in v for v in found)
    assert any("the engine has no nvidia.com/gpu limit" in v for v in found)


def test_a_compose_engine_without_its_gpu_reservation_is_named() -> None:
    found = broken(gpu_only_in_limits, lambda m: m.compose["services"]["engine"].pop("deploy"))
    assert found == ["[GPU only in limits] compose service engine: no GPU reservation (driver nvidia, capabilities [gpu])"]


def test_latest_and_untagged_images_are_named() -> None:
    def unpin(m: Manifests) -> None:
        bot_container(m)["image"] = "registry.example/mirage-bot:latest"
        m.compose["services"]["qdrant"]["image"] = "qdrant/qdrant"
        m.dockerfiles["bot"][0] = ("ARG", "PYTHON_IMAGE=python")

    found = broken(pinned_images, unpin)
    assert any("mirage-bot:latest' is tagged latest" in v for v in found)
    assert any("compose service qdrant: image 'qdrant/qdrant' has no tag" in v for v in found)
    assert any("bot.Dockerfile FROM: image 'python' has no tag" in v for v in found)
    assert all(v.startswith("[no :latest or untagged images]") for v in found)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: engine_container(m)["env"].__setitem__(0, {"name": "MIRAGE_ENGINE_TOKEN", "value": "s3cr3t-value"}),
         "MIRAGE_ENGINE_TOKEN not from a secretKeyRef"),
        (lambda m: m.compose["services"]["postgres"]["environment"].__setitem__("POSTGRES_PASSWORD", "hunter2"),
         "POSTGRES_PASSWORD must come from a required ${VAR} of .env"),
        (lambda m: m.compose["services"]["bot"]["environment"].__setitem__(
            "MIRAGE_ENGINE_TOKEN", "${MIRAGE_ENGINE_TOKEN:-a-default-secret}"),
         "MIRAGE_ENGINE_TOKEN must come from a required ${VAR} of .env"),
        (lambda m: m.compose["services"]["bot"]["environment"].__setitem__(
            "MIRAGE_DATABASE_URL", "postgresql+asyncpg://mirage:hunter2@postgres:5432/mirage"),
         "MIRAGE_DATABASE_URL must come from a required ${VAR} of .env"),
        (lambda m: m.k8s["cluster"].append(
            {"kind": "Secret", "metadata": {"name": "mirage-engine"}, "stringData": {"engine-token": "x"}}),
         "a Secret with values is part of the overlay"),
        (lambda m: m.qdrant_values.__setitem__("apiKey", "plain-key"), "apiKey must be valueFrom.secretKeyRef"),
        (lambda m: m.secret_example[0]["stringData"].__setitem__("engine-token", "abc123"),
         "engine-token holds a value, not a <placeholder>"),
        (lambda m: m.env_example.__setitem__("MIRAGE_DISCORD_TOKEN", "abc"), "must be empty in the example"),
    ],
)
def test_a_secret_written_into_a_manifest_is_named(change: Callable[[Manifests], None], expected: str) -> None:
    found = broken(no_secret_values, change)
    assert any(v.startswith("[no secret values in manifests]") and expected in v for v in found), found


def test_the_real_compose_database_url_carries_no_password_of_its_own() -> None:
    url = load().compose["services"]["bot"]["environment"]["MIRAGE_DATABASE_URL"]
    assert url.startswith("postgresql+asyncpg://mirage:${POSTGRES_PASSWORD:?")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: engine_container(m)["startupProbe"].__setitem__("failureThreshold", 3),
         "startupProbe allows 30 s, needs at least 600 s"),
        (lambda m: workload(m.k8s["cluster"], ENGINE)["spec"]["template"]["spec"].__setitem__(
            "terminationGracePeriodSeconds", 30), "terminationGracePeriodSeconds 30 < drain 120 s"),
        (lambda m: engine_container(m)["livenessProbe"]["httpGet"].__setitem__("path", "/readyz"),
         "livenessProbe must GET /healthz"),
        (lambda m: m.compose["services"]["engine"]["healthcheck"].__setitem__("start_period", "40s"),
         "start_period 40s < 600 s"),
    ],
)
def test_a_probe_budget_too_short_is_named(change: Callable[[Manifests], None], expected: str) -> None:
    found = broken(probe_budgets, change)
    assert any(v.startswith("[probe budgets cover the engine's start and drain]") and expected in v for v in found), found


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: workload(m.k8s["cluster"], BOT)["spec"].__setitem__("replicas", 2), "replicas 2"),
        (lambda m: workload(m.k8s["single-gpu"], BOT)["spec"].__setitem__("strategy", {"type": "RollingUpdate"}),
         "strategy must be Recreate"),
        (lambda m: m.k8s["cluster"].append(
            {"kind": "ScaledObject", "metadata": {"name": "bot"}, "spec": {"scaleTargetRef": {"name": BOT}}}),
         "scales the bot"),
        (lambda m: m.compose["services"]["bot"]["deploy"].__setitem__("replicas", 3), "replicas 3"),
    ],
)
def test_a_second_bot_is_named(change: Callable[[Manifests], None], expected: str) -> None:
    found = broken(single_bot, change)
    assert any(v.startswith("[the bot runs as exactly one replica]") and expected in v for v in found), found


def test_an_unknown_or_misplaced_mirage_variable_is_named() -> None:
    def typos(m: Manifests) -> None:
        engine_container(m)["env"].append({"name": "MIRAGE_QDRANT_APIKEY", "value": "x"})
        m.compose["services"]["engine"]["environment"]["MIRAGE_DISCORD_TOKEN"] = "${MIRAGE_DISCORD_TOKEN}"

    found = broken(mirage_variables_exist, typos)
    assert any("MIRAGE_QDRANT_APIKEY is not one of the engine settings" in v for v in found)
    assert any("compose service engine: MIRAGE_DISCORD_TOKEN is not one of the engine settings" in v for v in found)
    assert all(v.startswith("[every MIRAGE_* variable exists in the settings]") for v in found)


def test_an_engine_image_that_does_not_run_engine_serve_is_named() -> None:
    def other_command(m: Manifests) -> None:
        cmds = [i for i, (word, _) in enumerate(m.dockerfiles["engine"]) if word == "CMD"]
        m.dockerfiles["engine"][cmds[-1]] = ("CMD", json.dumps(["python", "-m", "engine", "index"]))
        bot_container(m)["command"] = ["python", "-c", "print('hi')"]

    found = broken(documented_entry_points, other_command)
    assert any("engine.Dockerfile: CMD" in v and "not `engine serve --host 0.0.0.0`" in v for v in found), found
    assert any("container bot: overrides the image's command" in v for v in found)
    assert all(v.startswith("[the images run the documented entry points]") for v in found)


def test_a_job_running_something_else_than_an_engine_command_is_named() -> None:
    def other_job(m: Manifests) -> None:
        m.jobs[0]["spec"]["template"]["spec"]["containers"][0]["command"] = ["python", "-m", "engine", "frobnicate"]

    found = broken(documented_entry_points, other_job)
    assert any("is not `python -m engine prefetch|index`" in v for v in found), found


def test_a_shell_form_cmd_is_refused_because_signals_would_not_reach_python() -> None:
    def shell_form(m: Manifests) -> None:
        cmds = [i for i, (word, _) in enumerate(m.dockerfiles["bot"]) if word == "CMD"]
        m.dockerfiles["bot"][cmds[-1]] = ("CMD", "python -m bot")

    with pytest.raises(AssertionError, match="not in exec"):
        broken(documented_entry_points, shell_form)
