"""The operator's rules for deploy/, as functions: each returns its violations, every one prefixed
with the rule's name, so a manifest change that breaks a rule fails CI saying which rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from tests.deploy.manifests import DEPLOY, REPO_ROOT, Manifests, containers, exec_form, workload

GPU = "nvidia.com/gpu"
ENGINE, BOT = "mirage-engine", "mirage-bot"

# The engine's start-up budget (docs/ARCHITECTURE.md): loading CLIP, the LLM and the
# diffusion model from the cache may take up to 10 minutes before a pod counts as failed.
STARTUP_BUDGET_S = 600
# Tiny-profile engine, process start to /readyz 200, the slowest case measured by bench/engine_start.py
# (bench/results/engine_start.md, 2026-11-30, 2 shared CPU cores: warm 11.5-24.8 s, cold 93.2 s with the
# tiny models built first): every probe and healthcheck must allow at least this.
TINY_START_S = 93.2

SECRET_ENV = re.compile(r"TOKEN|API_KEY|PASSWORD|SECRET|DATABASE_URL")
SECRET_KEY = re.compile(r"(?i)^(token|password|secret|api_?key|apikey|credentials|bearer_?token)$")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)((?::?[-?+])([^}]*))?\}")
# shapes of real credentials that must never appear in a file under deploy/
CREDENTIAL_SHAPES = {
    "a Discord bot token": re.compile(r"[MNO][A-Za-z\d_-]{23,25}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,38}"),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
}


def _where(overlay: str, doc: dict[str, Any], container: dict[str, Any] | None = None) -> str:
    place = f"k8s/{overlay}: {doc['kind']}/{doc['metadata']['name']}"
    return f"{place} container {container['name']}" if container else place


def _compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _dockerfile_env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in instructions:
        if word == "ENV":
            env.update(pair.split("=", 1) for pair in args.split() if "=" in pair)
    return env


# 1. GPU only in limits
def gpu_only_in_limits(m: Manifests) -> list[str]:
    """A GPU is asked for in limits (requests alone are refused for extended resources); only the engine gets one."""
    rule, bad = "GPU only in limits", []
    for overlay, docs in {**m.k8s, "jobs": m.jobs}.items():
        for doc, container in containers(docs):
            resources = container.get("resources") or {}
            request = (resources.get("requests") or {}).get(GPU)
            limit = (resources.get("limits") or {}).get(GPU)
            where = _where(overlay, doc, container)
            if request is not None and limit is None:
                bad.append(f"[{rule}] {where}: {GPU} in requests without limits")
            elif request is not None and str(request) != str(limit):
                bad.append(f"[{rule}] {where}: {GPU} request {request} differs from limit {limit}")
            if doc["metadata"]["name"] == ENGINE and container["name"] == "engine" and not limit:
                bad.append(f"[{rule}] {where}: the engine has no {GPU} limit, so it gets no GPU")
            if doc["metadata"]["name"] == BOT and (limit or request):
                bad.append(f"[{rule}] {where}: the bot needs no GPU")
    for name, service in m.compose["services"].items():
        devices = (((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices")
        has_gpu = any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices or [])
        if name in {"engine", "index"} and not has_gpu:
            bad.append(f"[{rule}] compose service {name}: no GPU reservation (driver nvidia, capabilities [gpu])")
        if name == "bot" and devices:
            bad.append(f"[{rule}] compose service bot: the bot needs no GPU")
    return bad


# 2. no :latest, no untagged image
def _image_problem(ref: str) -> str | None:
    if "@sha256:" in ref:
        return None
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag (pulls latest)"
    if last.split(":", 1)[1] in {"latest", ""}:
        return "is tagged latest"
    return None


def _dockerfile_bases(instructions: list[tuple[str, str]]) -> Iterator[str]:
    args: dict[str, str] = {}
    stages: set[str] = set()
    for word, rest in instructions:
        if word == "ARG" and "=" in rest:
            key, value = rest.split("=", 1)
            args[key.strip()] = value.strip()
        if word == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{?(\w+)\}?", lambda g: args.get(g.group(1), g.group(0)), parts[0])
            if len(parts) >= 3 and parts[1].upper() == "AS":
                stages.add(parts[2])
            if image not in stages:
                yield image


def pinned_images(m: Manifests) -> list[str]:
    """Every image names a version: a tag other than latest, or a digest."""
    rule, bad = "no :latest or untagged images", []
    refs: list[tuple[str, str]] = []
    for overlay, docs in {**m.k8s, "jobs": m.jobs}.items():
        refs += [(_where(overlay, doc, c), c["image"]) for doc, c in containers(docs)]
    for name, service in m.compose["services"].items():
        if "image" not in service:
            bad.append(f"[{rule}] compose service {name}: no image (a build alone gets an untagged image)")
        else:
            refs.append((f"compose service {name}", service["image"]))
    for name, instructions in m.dockerfiles.items():
        refs += [(f"deploy/docker/{name}.Dockerfile FROM", image) for image in _dockerfile_bases(instructions)]
    image = m.qdrant_values.get("image") or {}
    refs.append(("k8s/qdrant/values.yaml", f"{image.get('repository', 'qdrant/qdrant')}:{image.get('tag', '')}"))
    for where, ref in refs:
        problem = _image_problem(ref)
        if problem:
            bad.append(f"[{rule}] {where}: image {ref!r} {problem}")
    return bad


# 3. no secret values in any manifest
def _secret_literals(node: Any, path: str) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if SECRET_KEY.match(str(key)) and isinstance(value, str | int) and str(value).strip():
                yield f"{path}.{key}"
            yield from _secret_literals(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _secret_literals(item, f"{path}[{i}]")


def no_secret_values(m: Manifests) -> list[str]:
    """Secrets reach containers only by reference: secretKeyRef in Kubernetes, required ${VARS} from
    the untracked .env in compose; the example files hold placeholders; no credential in any file."""
    rule, bad = "no secret values in manifests", []
    for overlay, docs in {**m.k8s, "jobs": m.jobs}.items():
        for doc in docs:
            if doc.get("kind") == "Secret":
                bad.append(f"[{rule}] {_where(overlay, doc)}: a Secret with values is part of the overlay")
            bad += [f"[{rule}] {_where(overlay, doc)}: literal value at {p}" for p in _secret_literals(doc, "")]
        for doc, container in containers(docs):
            for item in container.get("env", []):
                if SECRET_ENV.search(item["name"]) and "secretKeyRef" not in (item.get("valueFrom") or {}):
                    bad.append(f"[{rule}] {_where(overlay, doc, container)}: {item['name']} not from a secretKeyRef")
    api_key = m.qdrant_values.get("apiKey")
    if not (isinstance(api_key, dict) and "secretKeyRef" in (api_key.get("valueFrom") or {})):
        bad.append(f"[{rule}] k8s/qdrant/values.yaml: apiKey must be valueFrom.secretKeyRef, got {api_key!r}")
    for name, service in m.compose["services"].items():
        for key, value in _compose_env(service).items():
            if not SECRET_ENV.search(key):
                continue
            defaults = [g.group(3) for g in INTERPOLATION.finditer(value) if g.group(2) and "-" in g.group(2)]
            literal = INTERPOLATION.sub("", value)
            if "DATABASE_URL" in key:  # a URL: only its password part is secret
                password = re.search(r"://[^:@/]*:([^@]*)@", literal)
                ok = password is None or not password.group(1)
            else:
                ok = not literal.strip() and "${" in value
            if not ok or defaults:
                bad.append(f"[{rule}] compose service {name}: {key} must come from a required ${{VAR}} of .env")
    for secret in m.secret_example:
        for key, value in secret.get("stringData", {}).items():
            if not re.search(r"<[^>]+>", str(value)):
                bad.append(f"[{rule}] k8s/secret.example.yaml: {key} holds a value, not a <placeholder>")
    for key, value in m.env_example.items():
        if SECRET_ENV.search(key) and value:
            bad.append(f"[{rule}] compose/mirage.env.example: {key} must be empty in the example")
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        text = path.read_text(errors="replace")
        for what, shape in CREDENTIAL_SHAPES.items():
            if shape.search(text):
                bad.append(f"[{rule}] {path.relative_to(REPO_ROOT)}: contains {what}")
    return bad


# 4. probe budgets
def _seconds(duration: str | int | float) -> float:
    total, text = 0.0, str(duration)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", text):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


def _budget(probe: dict[str, Any]) -> float:
    return probe.get("initialDelaySeconds", 0) + probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)


def engine_drain_s(env: dict[str, Any] | None = None) -> float:
    """How long a draining engine may still be finishing work: MIRAGE_DRAIN_GRACE_S as the manifest sets
    it, else the engine's own default (engine/config.py)."""
    from engine.config import EngineSettings

    value = (env or {}).get("MIRAGE_DRAIN_GRACE_S")
    if value is None:
        return float(EngineSettings.model_fields["drain_grace_s"].default)
    return float(value)


def probe_budgets(m: Manifests) -> list[str]:
    """Probes give the engine its start-up budget and its drain time; readiness and liveness ask the right routes."""
    rule, bad = "probe budgets cover the engine's start and drain", []
    need_start = max(STARTUP_BUDGET_S, TINY_START_S)
    for overlay, docs in m.k8s.items():
        doc = workload(docs, ENGINE)
        spec = doc["spec"]["template"]["spec"]
        container = next(c for c in spec["containers"] if c["name"] == "engine")
        where = _where(overlay, doc, container)
        drain = engine_drain_s({e["name"]: e.get("value") for e in container.get("env", []) if "value" in e})
        startup = container.get("startupProbe")
        if not startup or _budget(startup) < need_start:
            got = _budget(startup) if startup else 0
            bad.append(f"[{rule}] {where}: startupProbe allows {got:.0f} s, needs at least {need_start} s")
        if (container.get("readinessProbe") or {}).get("httpGet", {}).get("path") != "/readyz":
            bad.append(f"[{rule}] {where}: readinessProbe must GET /readyz")
        if (container.get("livenessProbe") or {}).get("httpGet", {}).get("path") != "/healthz":
            bad.append(f"[{rule}] {where}: livenessProbe must GET /healthz (a loading engine is not dead)")
        pre_stop = ((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
        grace = spec.get("terminationGracePeriodSeconds", 30)
        if grace < drain + pre_stop:
            bad.append(f"[{rule}] {where}: terminationGracePeriodSeconds {grace} < drain {drain:.0f} s + preStop {pre_stop} s")
    engine = m.compose["services"]["engine"]
    check = engine.get("healthcheck") or {}
    if "/readyz" not in " ".join(map(str, check.get("test", []))):
        bad.append(f"[{rule}] compose service engine: healthcheck must ask /readyz")
    if _seconds(check.get("start_period", 0)) < need_start:
        bad.append(f"[{rule}] compose service engine: start_period {check.get('start_period')} < {need_start} s")
    drain = engine_drain_s(_compose_env(engine))
    if _seconds(engine.get("stop_grace_period", "10s")) <= drain:
        bad.append(f"[{rule}] compose service engine: stop_grace_period must exceed the drain of {drain:.0f} s")
    for word, args in m.dockerfiles["engine"]:
        if word == "HEALTHCHECK":
            period = re.search(r"--start-period=(\S+)", args)
            if not period or _seconds(period.group(1)) < need_start:
                bad.append(f"[{rule}] engine.Dockerfile: HEALTHCHECK --start-period must be at least {need_start} s")
    return bad


# 5. the bot never scaled above one replica
def single_bot(m: Manifests) -> list[str]:
    """One bot process per token: replicas 1, Recreate, nothing that scales it."""
    rule, bad = "the bot runs as exactly one replica", []
    for overlay, docs in m.k8s.items():
        doc = workload(docs, BOT)
        if doc["spec"].get("replicas", 1) != 1:
            bad.append(f"[{rule}] {_where(overlay, doc)}: replicas {doc['spec']['replicas']}")
        if (doc["spec"].get("strategy") or {}).get("type") != "Recreate":
            bad.append(f"[{rule}] {_where(overlay, doc)}: strategy must be Recreate (a rolling update runs two)")
        for scaler in docs:
            target = (scaler.get("spec") or {}).get("scaleTargetRef", {}).get("name")
            if target == BOT:
                bad.append(f"[{rule}] {_where(overlay, scaler)}: scales the bot")
    bot = m.compose["services"]["bot"]
    replicas = (bot.get("deploy") or {}).get("replicas", 1)
    if replicas != 1 or bot.get("scale", 1) != 1:
        bad.append(f"[{rule}] compose service bot: replicas {replicas}, scale {bot.get('scale', 1)}")
    return bad


# 6. every MIRAGE_* variable exists in the settings
def known_settings() -> dict[str, set[str]]:
    """MIRAGE_* names the engine and the bot read (their settings classes, MIRAGE_ prefix)."""
    from bot.config import BotSettings
    from engine.config import EngineSettings

    return {
        "engine": {f"MIRAGE_{name.upper()}" for name in EngineSettings.model_fields},
        "bot": {f"MIRAGE_{name.upper()}" for name in BotSettings.model_fields},
    }


def mirage_variables_exist(m: Manifests) -> list[str]:
    """A MIRAGE_* variable that no settings class reads is a typo or a leftover: it silently does nothing."""
    rule, bad = "every MIRAGE_* variable exists in the settings", []
    known = known_settings()
    setters: list[tuple[str, str, str]] = []  # (where, process, variable)
    for overlay, docs in {**m.k8s, "jobs": m.jobs}.items():
        for doc, container in containers(docs):
            process = "bot" if container["name"] == "bot" else "engine"
            setters += [(_where(overlay, doc, container), process, e["name"]) for e in container.get("env", [])]
    for name, service in m.compose["services"].items():
        if name in {"engine", "index", "bot"}:
            process = "bot" if name == "bot" else "engine"
            setters += [(f"compose service {name}", process, key) for key in _compose_env(service)]
    for name, instructions in m.dockerfiles.items():
        setters += [(f"{name}.Dockerfile ENV", name, key) for key in _dockerfile_env(instructions)]
    setters += [("compose/mirage.env.example", "either", key) for key in m.env_example]
    for where, process, variable in setters:
        if not variable.startswith("MIRAGE_"):
            continue
        names = known["engine"] | known["bot"] if process == "either" else known[process]
        if variable not in names:
            bad.append(f"[{rule}] {where}: {variable} is not one of the {process} settings")
    return bad


# 7. the engine image runs the documented entry point
def documented_entry_points(m: Manifests) -> list[str]:
    """Images run `python -m engine serve` and `python -m bot` (README); manifests do not replace them."""
    rule, bad = "the images run the documented entry points", []
    from engine.__main__ import build_parser, serve_command

    readme = (REPO_ROOT / "README.md").read_text()
    cmds = {name: [a for w, a in ins if w == "CMD"] for name, ins in m.dockerfiles.items()}
    for name, ins in m.dockerfiles.items():
        if any(w == "ENTRYPOINT" for w, _ in ins):
            bad.append(f"[{rule}] {name}.Dockerfile: ENTRYPOINT would wrap the documented command")
    engine_cmd = exec_form(cmds["engine"][-1]) if cmds["engine"] else []
    if engine_cmd[:3] != ["python", "-m", "engine"] or "python -m engine serve" not in readme:
        bad.append(f"[{rule}] engine.Dockerfile: CMD {engine_cmd} is not `python -m engine serve` (README)")
    else:
        try:
            args = build_parser().parse_args(engine_cmd[3:])
        except SystemExit:
            args = None
        if args is None or args.func is not serve_command or args.host != "0.0.0.0":
            bad.append(f"[{rule}] engine.Dockerfile: CMD {engine_cmd} is not `engine serve --host 0.0.0.0`")
    bot_cmd = exec_form(cmds["bot"][-1]) if cmds["bot"] else []
    if bot_cmd != ["python", "-m", "bot"] or "python -m bot" not in readme:
        bad.append(f"[{rule}] bot.Dockerfile: CMD {bot_cmd} is not `python -m bot` (README)")
    for overlay, docs in m.k8s.items():
        for doc, container in containers(docs):
            if "command" in container or "args" in container:
                bad.append(f"[{rule}] {_where(overlay, doc, container)}: overrides the image's command")
    for name in ("engine", "bot"):
        service = m.compose["services"][name]
        if "command" in service or "entrypoint" in service:
            bad.append(f"[{rule}] compose service {name}: overrides the image's command")
    for doc, container in containers(m.jobs):
        command = container.get("command", [])
        try:
            args = build_parser().parse_args(command[3:]) if command[:3] == ["python", "-m", "engine"] else None
        except SystemExit:
            args = None
        if args is None or args.command not in {"prefetch", "index"}:
            bad.append(f"[{rule}] {_where('jobs', doc, container)}: {command} is not `python -m engine prefetch|index`")
    index = m.compose["services"].get("index", {})
    if index and index.get("entrypoint") != ["python", "-m", "engine", "index"]:
        bad.append(f"[{rule}] compose service index: must run `python -m engine index`")
    return bad


RULES: dict[str, Callable[[Manifests], list[str]]] = {
    "gpu": gpu_only_in_limits,
    "images": pinned_images,
    "secrets": no_secret_values,
    "probes": probe_budgets,
    "bot": single_bot,
    "variables": mirage_variables_exist,
    "entry_points": documented_entry_points,
}
