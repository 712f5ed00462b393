"""The alerting rules: one set for compose's Prometheus and the cluster's PrometheusRule, unit-tested.

`promtool test rules` (Prometheus's own rule evaluator, from the Debian/Ubuntu package `prometheus`)
runs tests/deploy/alerts_test.yml: recorded series for each alert, firing and quiet. Every metric a
rule reads must be one the engine or the bot exports, so a renamed metric cannot silence an alert.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest

from tests.deploy.manifests import DEPLOY, render_overlay

RULES = DEPLOY / "compose" / "alerts.yml"
CASES = Path(__file__).with_name("alerts_test.yml")
ALERTS = {"MirageEngineNotReady", "MirageComponentFailed", "MirageAtlasEmpty", "MirageTooManyRejected",
          "MirageTooManyTimeouts", "MirageQueueWaitHigh", "MirageBotSlowAcknowledgement"}


def _groups() -> list[dict]:
    return yaml.safe_load(RULES.read_text())["groups"]


def test_the_cluster_and_compose_rules_are_the_same() -> None:
    (rule,) = [d for d in render_overlay("cluster") if d["kind"] == "PrometheusRule"]
    assert rule["spec"]["groups"] == _groups()
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    config = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]


def test_every_alert_the_runbook_promises_exists() -> None:
    assert {r["alert"] for g in _groups() for r in g["rules"]} == ALERTS


def test_every_metric_a_rule_reads_is_exported(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from bot.metrics import BotMetrics
    from engine.api.app import create_app
    from tests.engine.api.helpers import fake_runtime

    with TestClient(create_app(fake_runtime(tmp_path))) as client:
        client.post("/v1/search", json={"query": "x"})
        exported = client.get("/metrics").text
    bot = BotMetrics()
    bot.acknowledged("search", dt.datetime.now(dt.UTC))
    exported += generate_latest(bot.registry).decode()
    names = {n for g in _groups() for r in g["rules"] for n in re.findall(r"\b(mirage_[a-z_]+)", r["expr"])}
    missing = {n for n in names if not re.search(rf"^(# HELP )?{n}\b", exported, re.M)}
    assert missing == set()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    shutil.copy(RULES, tmp_path / "alerts.yml")
    shutil.copy(CASES, tmp_path / "alerts_test.yml")
    result = subprocess.run(["promtool", "test", "rules", "alerts_test.yml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
def test_promtool_would_notice_a_threshold_change(tmp_path: Path) -> None:
    """The cases pin the thresholds: a rule loosened from 5 % to 50 % refused fails them."""
    text = RULES.read_text().replace("[5m])) > 0.05", "[5m])) > 0.5")
    assert text != RULES.read_text()
    (tmp_path / "alerts.yml").write_text(text)
    shutil.copy(CASES, tmp_path / "alerts_test.yml")
    result = subprocess.run(["promtool", "test", "rules", "alerts_test.yml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "MirageTooManyRejected" in result.stdout + result.stderr
