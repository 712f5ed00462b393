"""The Kubernetes "restricted" Pod Security Standard and MIRAGE's NetworkPolicies, checked offline.

`restricted_violations` follows the published profile (kubernetes.io/docs/concepts/security/pod-security-standards,
baseline + restricted, policy version latest) field by field, plus the two things the runbook asks
beyond it: a read-only root filesystem and no service-account token. `reachable` evaluates ingress
NetworkPolicies the way the API documents them (a pod selected by no policy takes everything; a
selected one only what some rule allows), for pods inside the namespace and for other namespaces.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.deploy.manifests import pod_spec

# restricted: only these volume types
ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                   "projected", "secret"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def _all_containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key, [])


def restricted_violations(doc: dict[str, Any]) -> list[str]:
    """What keeps the workload `doc` from the restricted profile (and from MIRAGE's two extras)."""
    spec = pod_spec(doc)
    if spec is None:
        return []
    name = f"{doc['kind']}/{doc['metadata']['name']}"
    bad: list[str] = []
    pod_ctx = spec.get("securityContext") or {}
    # baseline
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            bad.append(f"{name}: {field} is true")
    for sysctl in pod_ctx.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            bad.append(f"{name}: unsafe sysctl {sysctl['name']}")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            bad.append(f"{name}: volume {volume['name']} of type {sorted(kinds - ALLOWED_VOLUMES)}")
    if pod_ctx.get("runAsUser") == 0:
        bad.append(f"{name}: the pod runs as user 0")
    pod_seccomp = (pod_ctx.get("seccompProfile") or {}).get("type")
    if (pod_ctx.get("seLinuxOptions") or {}).get("type", "") not in SELINUX_TYPES:
        bad.append(f"{name}: pod SELinux type")
    # MIRAGE's extra: no service-account token in any pod
    if spec.get("automountServiceAccountToken") is not False:
        bad.append(f"{name}: automountServiceAccountToken must be false")
    for c in _all_containers(spec):
        where = f"{name} container {c['name']}"
        ctx = c.get("securityContext") or {}
        if ctx.get("privileged"):
            bad.append(f"{where}: privileged")
        caps = ctx.get("capabilities") or {}
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            bad.append(f"{where}: adds capabilities {caps['add']}")
        if "ALL" not in caps.get("drop", []):
            bad.append(f"{where}: must drop ALL capabilities")
        if any(port.get("hostPort") for port in c.get("ports", [])):
            bad.append(f"{where}: hostPort")
        if ctx.get("procMount", "Default") != "Default":
            bad.append(f"{where}: procMount")
        if (ctx.get("seLinuxOptions") or {}).get("type", "") not in SELINUX_TYPES:
            bad.append(f"{where}: SELinux type")
        if (ctx.get("appArmorProfile") or {}).get("type", "RuntimeDefault") not in ("RuntimeDefault", "Localhost"):
            bad.append(f"{where}: AppArmor profile")
        if ctx.get("allowPrivilegeEscalation") is not False:
            bad.append(f"{where}: allowPrivilegeEscalation must be false")
        if ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is not True:
            bad.append(f"{where}: runAsNonRoot must be true (pod or container)")
        if ctx.get("runAsUser") == 0:
            bad.append(f"{where}: runs as user 0")
        seccomp = (ctx.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            bad.append(f"{where}: seccompProfile must be RuntimeDefault or Localhost, got {seccomp}")
        # MIRAGE's extra: the image is never written to; writes go to emptyDirs and volumes
        if ctx.get("readOnlyRootFilesystem") is not True:
            bad.append(f"{where}: readOnlyRootFilesystem must be true")
    return bad


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """matchLabels only (what these manifests use); an empty selector selects everything."""
    if set(selector) - {"matchLabels"}:
        raise AssertionError(f"this checker reads matchLabels only, got {selector}")
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def reachable(policies: list[dict[str, Any]], source: dict[str, str], namespace: str, target: dict[str, str],
              port: int, *, home: str = "mirage") -> bool:
    """May a pod labelled `source` in `namespace` open `port` on a pod labelled `target` in `home`?"""
    selecting = [p for p in policies if _selects(p["spec"]["podSelector"], target)
                 and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            ports = rule.get("ports")
            if ports and not any(p.get("port") == port for p in ports):
                continue
            peers = rule.get("from")
            if peers is None:
                return True
            for peer in peers:
                ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
                in_ns = (namespace == home) if ns_sel is None else _selects(
                    ns_sel, {"kubernetes.io/metadata.name": namespace})
                if in_ns and (pod_sel is None or _selects(pod_sel, source)):
                    return True
    return False
