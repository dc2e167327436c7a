"""What a person and a playbook read about a running container, read from the kernel now:
init's NSpid, the hostname and interfaces seen from inside (a probe joins uts and net), the veth,
the cgroup limits with where they live, and a namespace table against the host's."""

from __future__ import annotations

import os

from ansible.module_utils.nsverify import catalog, cgroups, inspect, probe, procfs, seccomp
from ansible.module_utils.nsverify.container import network, pod
from ansible.module_utils.nsverify.container.config import BASE_TYPES


def _look_inside():
    return {"hostname": os.uname().nodename, "interfaces": network.interfaces_here()}


def observe(state, timeout=10.0):
    """What the container's init sees now: hostname (uts) and interfaces (net), read by a
    probe that joins those two namespaces; {'error': ...} when the probe failed."""
    join = {t: procfs.ns_path(state["init_pid"], t) for t in ("uts", "net") if t in (state.get("namespaces") or {})}
    res = probe.run(_look_inside, join=join, timeout=timeout)
    if not res["ok"]:
        return {"error": "%s (stage %s)" % (res.get("error"), res.get("stage"))}
    return res["value"]


def human_bytes(n):
    """67108864 -> '64M' (K/M/G when exact, else bytes)."""
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size and n % size == 0:
            return "%d%s" % (n // size, unit)
    return "%d bytes" % n


def _where(spec):
    """{'version': 1, 'path': '/sys/fs/cgroup/memory/nsv-box/payload'} + controller ->
    'v1 memory nsv-box/payload' (the hierarchy and the path below its root)."""
    parts = spec["path"].split(os.sep)
    rel = next((os.sep.join(parts[i:]) for i, part in enumerate(parts) if part.startswith("nsv-")), spec["path"])
    return rel


def limit_lines(cg_state, config):
    """'cgroup limits: memory 64M (v1 memory nsv-box/payload), cpu 0.5 (cfs 50000/100000), pids 64
    (v1 pids nsv-box)': the limits as the kernel reports them now, where they live."""
    paths = (cg_state or {}).get("paths") or {}
    parts = []

    def read(spec, fname):
        return cgroups.read_value(os.path.join(spec["path"], fname))

    for ctrl in ("memory", "cpu", "pids"):
        spec = paths.get(ctrl)
        if not config.get({"cpu": "cpus"}.get(ctrl, ctrl)):
            parts.append("%s unlimited" % ctrl)
            continue
        if not spec:
            parts.append("%s not available" % ctrl)
            continue
        where = "v%d %s %s" % (spec["version"], ctrl, _where(spec))
        if ctrl == "memory":
            raw = read(spec, "memory.limit_in_bytes" if spec["version"] == 1 else "memory.max")
            value = human_bytes(int(raw)) if raw and raw.isdigit() else raw
            parts.append("memory %s (%s)" % (value, where))
        elif ctrl == "cpu":
            if spec["version"] == 1:
                quota, period = read(spec, "cpu.cfs_quota_us"), read(spec, "cpu.cfs_period_us")
            else:
                quota, _unused, period = (read(spec, "cpu.max") or "").partition(" ")
            try:
                cpus = "%g" % (int(quota) / int(period))
            except (TypeError, ValueError, ZeroDivisionError):
                cpus = "unlimited" if quota == "max" else "?"
            parts.append("cpu %s (cfs %s/%s, %s)" % (cpus, quota, period, where))
        else:
            parts.append("pids %s (%s)" % (read(spec, "pids.max"), where))
    return ["cgroup limits: " + ", ".join(parts)]


def namespace_lines(state):
    """A small table: 'mnt     4026532177 vs host 4026531832  isolated'."""
    ns = state.get("namespaces") or {}
    host = state.get("host_namespaces") or {}
    now = inspect.read_ns_inodes(state["init_pid"], types=list(ns)) if state.get("init_pid") else {}
    lines = ["namespaces (container vs host):"]
    for t in [t for t in catalog.TYPE_NAMES if t in ns]:
        mine, theirs = now.get(t) or ns[t], host.get(t)
        verdict = "unknown" if mine is None or theirs is None else ("isolated" if mine != theirs else "SHARED")
        if pod.shared_with(state, t):
            verdict += ", shared with pod peer %s" % pod.shared_with(state, t)
        lines.append("  %-6s %-10s vs host %-10s %s" % (t, mine, theirs, verdict))
    for t in [t for t in BASE_TYPES if t not in ns]:
        lines.append("  %-6s the host's, left out by request (namespaces)" % t)
    return lines


def summary_lines(state):
    """What a person reads at the end of a run, one fact a line, read from the kernel now."""
    if not state:
        return []
    cfg = state.get("config") or {}
    try:
        nspid = inspect.read_nspid(state["init_pid"])
    except OSError:
        nspid = []
    lines = [
        "container %s: init PID %s on the host, %s inside (NSpid %s)"
        % (state.get("name"), state.get("init_pid"), nspid[-1] if nspid else "?", " ".join(str(p) for p in nspid))
    ]
    seen = observe(state)
    if "error" in seen:
        lines.append("inside: could not look (%s)" % seen["error"])
    else:
        lines.append("hostname inside %s, on the host %s" % (seen["hostname"], os.uname().nodename))
        lines.append(
            "interfaces inside: %s"
            % ", ".join("%s %s" % (n, a) if a else "%s (no IPv4)" % n for n, a in seen["interfaces"])
        )
    veth = state.get("veth")
    if veth:
        lines.append(
            "veth to the host: %s %s (host) <-> %s %s (container)"
            % (veth["host"], veth["host_address"], veth["container"], veth["container_address"])
        )
    lines += limit_lines(state.get("cgroups"), cfg)
    lines += namespace_lines(state)
    return lines


def describe(state):
    """A short summary of a running container for playbooks and reports."""
    if not state:
        return {}
    ns = state.get("namespaces") or {}
    host = state.get("host_namespaces") or {}
    return {
        "name": state.get("name"),
        "init_pid": state.get("init_pid"),
        "hostname": (state.get("config") or {}).get("hostname"),
        "namespaces": {
            t: {
                "container": ns.get(t),
                "host": host.get(t),
                "isolated": None if ns.get(t) is None or host.get(t) is None else ns[t] != host[t],
            }
            for t in ns
        },
        "cgroup_limits": cgroups.read_limits(state.get("cgroups") or {}),
        "veth": state.get("veth"),
        "seccomp": seccomp.profile_of(state.get("config")),
        "pod": state.get("pod"),
    }
