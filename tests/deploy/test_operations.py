"""The small operational promises of deploy/: systemd stop and restart rules and sandboxing, compose's
log rotation, health checks and restarts, install.sh's checks before any download, the engine image's
Python. Each reads the file as the operator's tool would and fails naming what is missing."""

from __future__ import annotations

import configparser
import re
import subprocess

import pytest

from tests.deploy.manifests import DEPLOY, load
from tests.deploy.rules import engine_drain_s

SANDBOX = {"NoNewPrivileges": "true", "ProtectSystem": "strict", "ProtectHome": "true", "PrivateTmp": "true"}


class _UnitFile(configparser.ConfigParser):
    def optionxform(self, optionstr: str) -> str:
        return optionstr  # systemd keys are case-sensitive


def _unit(name: str) -> configparser.SectionProxy:
    parser = _UnitFile(strict=False, interpolation=None)
    parser.read(DEPLOY / "systemd" / f"mirage-{name}.service")
    return parser["Service"]


@pytest.mark.parametrize(("name", "drain_s"), [("engine", 120.0 + 10.0), ("bot", 10.0)])
def test_systemd_units_stop_after_the_drain_and_never_restart_a_configuration_error(name: str, drain_s: float):
    """The engine's drain is at most 120 s (the longest request) plus uvicorn's 10 s; the bot's 10 s."""
    service = _unit(name)
    assert float(service["TimeoutStopSec"]) > drain_s
    assert service["RestartPreventExitStatus"].split() == ["2"]
    assert service["Restart"] == "on-failure"
    for key, value in SANDBOX.items():
        assert service.get(key) == value, f"mirage-{name}.service: {key}={value}"
    assert service.get("ReadWritePaths")


def test_the_compose_engine_drain_fits_the_systemd_timeout_too() -> None:
    assert float(_unit("engine")["TimeoutStopSec"]) >= engine_drain_s() + 10


def test_compose_rotates_logs_waits_for_a_healthy_qdrant_and_restarts_the_unhealthy() -> None:
    services = load().compose["services"]
    for name, service in services.items():
        options = (service.get("logging") or {}).get("options") or {}
        assert options.get("max-size") and options.get("max-file"), f"compose service {name}: no log rotation"
    assert "healthcheck" in services["qdrant"]
    assert services["engine"]["depends_on"]["qdrant"]["condition"] == "service_healthy"
    assert services["index"]["depends_on"]["qdrant"]["condition"] == "service_healthy"
    for name in ("engine", "bot"):
        assert services[name]["labels"]["autoheal"] == "true" and "healthcheck" in services[name]
    assert services["autoheal"]["environment"]["AUTOHEAL_CONTAINER_LABEL"] == "autoheal"
    assert "secrets" not in services["prometheus"]  # /metrics needs no token


def test_install_checks_python_and_disk_before_any_download(tmp_path) -> None:
    script = (DEPLOY / "install.sh").read_text()
    first_download = script.index("pip install")
    assert script.index("sys.version_info < (3, 11)") < first_download
    assert script.index("df -Pk") < first_download
    # and it really stops: an old Python is refused before anything is created
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    run = subprocess.run(["bash", str(DEPLOY / "install.sh")], env={"PATH": "/usr/bin:/bin", "PYTHON": str(fake)},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "needs Python 3.11 or newer" in run.stderr


def test_the_engine_image_uses_cis_python_without_a_cuda_base() -> None:
    instructions = load().dockerfiles["engine"]
    args = [a for w, a in instructions if w == "ARG"]
    bot_args = [a for w, a in load().dockerfiles["bot"] if w == "ARG"]
    (base,) = [a.split("=", 1)[1] for a in args if a.startswith("PYTHON_IMAGE=")]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base  # CI tests 3.11 (pyproject: >=3.11)
    assert any(a == f"PYTHON_IMAGE={base}" for a in bot_args)  # the same Python as the bot's image
    assert not any("cuda" in a.lower() for w, a in instructions if w in ("FROM", "ARG"))
