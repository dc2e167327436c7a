"""Examine what exists of a named namespace, decide what to do, describe the result.

examine() only reads; decide() is a table from (wanted, config, what exists) to one of
none, create, repair, recreate, remove; the module acts on it unless in check mode.
"""

from __future__ import annotations

import os

from ansible.module_utils.nsverify import probe, procfs, syscalls
from ansible.module_utils.nsverify.namespaces.config import HOLDER_TYPES, ConfigConflict, NamespaceError, needs_holder
from ansible.module_utils.nsverify.namespaces.holder import holder_alive
from ansible.module_utils.nsverify.namespaces.state import NAMESPACES_DIR, load_state, mounts_under, name_dir


def examine(name, ns_dir=NAMESPACES_DIR, proc="/proc", mounts=None):
    """What exists of a named namespace: state, which bind mounts are in place with the
    recorded inode, whether the holder lives. Read-only. `mounts`: mountinfo as read, or a
    MountIndex (many names, one read)."""
    base = name_dir(name, ns_dir)
    if mounts is None:
        mounts = procfs.read_mountinfo(proc=proc)
    own_mounts = mounts.under(name) if hasattr(mounts, "under") else mounts_under(base, mounts)
    state = load_state(name, ns_dir)
    exists = os.path.lexists(base) or bool(own_mounts)
    config = (state or {}).get("config") or {}
    inodes = (state or {}).get("inodes") or {}
    mounted = {}
    for t in config.get("types", []):
        path = os.path.join(base, t)
        ok = False
        if any(m["mount_point"] == path and m["fstype"] == "nsfs" for m in own_mounts):
            try:
                ok = os.stat(path).st_ino == inodes.get(t)
            except OSError:
                ok = False
        mounted[t] = ok
    holder = (state or {}).get("holder")
    alive = holder_alive(holder, name, proc) if needs_holder(config.get("types", [])) else None
    hostname_inside = None
    if config.get("hostname") and mounted.get("uts"):
        hostname_inside = read_hostname(os.path.join(base, "uts"))
    return {
        "exists": exists,
        "state": state,
        "complete": bool(state) and state.get("status") == "ready",
        "mounted": mounted,
        "missing": sorted(t for t, ok in mounted.items() if not ok),
        "holder_alive": alive,
        "hostname_inside": hostname_inside,
        "mounts": [m["mount_point"] for m in own_mounts],
    }


def read_hostname(uts_path):
    """The hostname inside a UTS namespace file, read by a forked child that joins it."""
    res = probe.run(lambda: os.uname().nodename, join={"uts": uts_path}, timeout=5.0)
    return res["value"] if res["ok"] else None


def set_hostname(uts_path, hostname):
    res = probe.run(syscalls.sethostname, args=(hostname,), join={"uts": uts_path}, timeout=5.0)
    if not res["ok"]:
        raise NamespaceError(
            "setting the hostname inside %s failed: %s" % (uts_path, res["error"]),
            stage=res["stage"],
            errname=res["errname"],
        )


def decide(want_present, config, exam, force=False):
    """(action, reason) for the requested state; action is one of none, create, repair,
    recreate, remove. Raise ConfigConflict when the name holds another config and not force."""
    if not want_present:
        if exam["exists"]:
            return "remove", "named namespace exists"
        return "none", "named namespace is absent"
    if not exam["exists"]:
        return "create", "named namespace does not exist"
    if not exam["complete"]:
        return "recreate", "state file is missing or records an unfinished creation"
    current = exam["state"].get("config")
    if current != config:
        if not force:
            raise ConfigConflict(
                "named namespace exists with a different config; remove it first (state=absent) "
                "or set force=true to recreate it (every process inside loses it)",
                current_config=current,
                requested_config=config,
            )
        return "recreate", "config differs and force=true"
    if exam["holder_alive"] is False:
        return "recreate", "holder process is gone, so its PID/time namespace is unusable"
    if exam["missing"]:
        if exam["holder_alive"]:
            return "repair", "bind mounts missing (%s); re-made from the holder" % ", ".join(exam["missing"])
        return "recreate", "bind mounts missing (%s) and no holder keeps those namespaces" % ", ".join(exam["missing"])
    inside = exam.get("hostname_inside")
    if config.get("hostname") and inside is not None and inside != config["hostname"]:
        return "repair", "hostname inside is %r, not %r" % (inside, config.get("hostname"))
    return "none", "named namespace is in place as configured"


def describe(name, state, ns_dir=NAMESPACES_DIR):
    """The module's per-type return value from a state dict."""
    if not state:
        return {}
    base = name_dir(name, ns_dir)
    holder = state.get("holder") or {}
    out = {}
    for t in state.get("config", {}).get("types", []):
        entry = {"path": os.path.join(base, t), "inode": (state.get("inodes") or {}).get(t)}
        if t in HOLDER_TYPES:
            entry["holder_pid"] = holder.get("pid")
        out[t] = entry
    return out
