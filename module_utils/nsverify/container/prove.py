"""The namespace proofs of namespace_verify (proofs.run, target pid) against a running container's init.

What to prove comes from the container's own record (its state file), not from the caller: the types
it has its own namespaces of, its uid map when it has a user namespace, and the one link NS-NET-001
must accept besides lo (its veth, or its pod's when it shares the first container's network). This is
what busybox_container_verify runs next to the NS-CTR checks in the same module call, so a playbook
proves a container with one module round trip instead of two.
"""

from __future__ import annotations

from ansible.module_utils.nsverify import proofs
from ansible.module_utils.nsverify.container import checks as checks_room
from ansible.module_utils.nsverify.container import state
from ansible.module_utils.nsverify.container.config import ContainerError
from ansible.module_utils.nsverify.proofs import base

DEFAULT_TIMEOUT = 20.0


def _lines(entries):
    """The stored id map (config.normalize keeps [inside, outside, count] lines) as the proofs take it."""
    return [list(e) for e in entries] if entries else None


def plan(running):
    """(types, options) of the proofs for a running container's state."""
    types = list(running["namespaces"])
    config = running.get("config") or {}
    user = config.get("user") or {}
    veth = running.get("veth") or (running.get("pod") or {}).get("veth")
    options = {
        "uid_map": _lines(user.get("uid_map")),
        "gid_map": None,
        "time_offsets": {},
        "expected_interfaces": [veth["container"]] if veth and veth.get("container") else [],
    }
    return types, options


def prove(running, timeout=DEFAULT_TIMEOUT):
    """proofs.result() of the proofs against the container's init (ContainerError when it is not
    running, or stopped before the proofs were done: a result about another process is no result)."""
    if not state.init_alive(running):
        raise ContainerError("container %s is not running" % running.get("name"))
    types, options = plan(running)
    target = base.make_target("pid", pid=running["init_pid"], types=types)
    out = proofs.result(proofs.run(types, target, options, timeout))
    if not state.init_alive(running):
        raise ContainerError(
            "container %s stopped while its namespaces were being proved (init PID %s)"
            % (running.get("name"), running["init_pid"])
        )
    return out


def request_error(checks, timeout):
    """What is wrong with a verify request (unknown check ids, a timeout that is no positive number), or None."""
    unknown = [c for c in checks or [] if c not in checks_room.CHECK_IDS]
    if unknown:
        return "unknown check id(s) %s: choose from %s" % (", ".join(unknown), ", ".join(checks_room.CHECK_IDS))
    if timeout <= 0:
        return "proofs_timeout must be a positive number of seconds, not %s" % timeout
    return None


def verify(running, checks=None, prove_namespaces=False, timeout=DEFAULT_TIMEOUT):
    """The NS-CTR checks (ids `checks`; None = all, [] = none) and, with `prove_namespaces`, the proofs,
    of a running container: {checks, summary[, namespace_proofs]} as busybox_container_verify returns them
    (busybox_container returns the same keys when asked to verify what it started)."""
    out = {"checks": checks_room.run(running, checks) if checks != [] else []}
    if prove_namespaces:
        out["namespace_proofs"] = prove(running, timeout)
    out["summary"] = checks_room.summarize(out["checks"])
    return out


def failed(result):
    """The failed NS-CTR check ids and type:control of failed proofs in verify()'s result."""
    return list(result["summary"]["failed"]) + list((result.get("namespace_proofs") or {}).get("failed_checks") or [])
