"""Where a container lives on the host and what is known of it: paths, the state and config
files, whether its init runs, what of it is left.

  /run/nsverify/containers/<name>/state.json   runtime state (init pid + start time, ...)
  /run/nsverify/containers/<name>/console.log  stdout/stderr of init and workload
  /run/nsverify/containers/<name>/merged       overlay mount point (mounted in the
                                               container's mount namespace only)
  /var/lib/nsverify/containers/<name>/config.json, upper/, work/   kept when stopped
"""

from __future__ import annotations

import json
import os
import shutil

from ansible.module_utils.nsverify import cgroups, procfs
from ansible.module_utils.nsverify.container import config as config_room
from ansible.module_utils.nsverify.container import network

RUN_DIR = "/run/nsverify/containers"
DATA_DIR = "/var/lib/nsverify/containers"


def paths(name, run_dir=RUN_DIR, data_dir=DATA_DIR):
    run = os.path.join(run_dir, name)
    data = os.path.join(data_dir, name)
    return {
        "run": run,
        "state": os.path.join(run, "state.json"),
        "console": os.path.join(run, "console.log"),
        "merged": os.path.join(run, "merged"),
        "data": data,
        "config": os.path.join(data, "config.json"),
        "upper": os.path.join(data, "upper"),
        "work": os.path.join(data, "work"),
    }


def read_json(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


parse_stat = procfs.parse_stat


def read_stat(pid, proc="/proc"):
    """procfs.read_stat, or None when the process is gone or its stat unreadable."""
    try:
        return procfs.read_stat(pid, proc)
    except (OSError, ValueError, IndexError):
        return None


def init_alive(state, proc="/proc"):
    """True when the recorded init still runs: same pid AND same start time (PID reuse guard)."""
    if not state or not state.get("init_pid"):
        return False
    st = read_stat(state["init_pid"], proc)
    return bool(st) and st["starttime"] == state.get("init_starttime") and st["state"] not in ("Z", "X")


def status(name, run_dir=RUN_DIR, data_dir=DATA_DIR):
    """{'name', 'exists', 'running', 'state', 'config'} of a container."""
    p = paths(name, run_dir, data_dir)
    state = read_json(p["state"])
    config = read_json(p["config"])
    return {
        "name": name,
        "exists": bool(config) or os.path.isdir(p["data"]) or os.path.isdir(p["run"]),
        "running": init_alive(state),
        "state": state,
        "config": config,
    }


def state_word(st):
    """running, stopped or absent, from status()."""
    if st["running"]:
        return "running"
    return "stopped" if st["exists"] else "absent"


def list_names(run_dir=RUN_DIR, data_dir=DATA_DIR):
    names = set()
    for d in (run_dir, data_dir):
        try:
            names.update(e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e)))
        except OSError:
            pass
    return sorted(names)


def named_cgroups(name):
    return [d for d in cgroups.find_named() if os.path.basename(d) == "nsv-%s" % name]


def leftovers(name, run_dir=RUN_DIR, data_dir=DATA_DIR):
    """What of container `name` exists on the host: for stop/absent decisions and tests."""
    p = paths(name, run_dir, data_dir)
    host_veth, _unused = config_room.veth_names(name)
    out = {}
    if os.path.isdir(p["run"]):
        out["run_dir"] = p["run"]
    if os.path.isdir(p["data"]):
        out["data_dir"] = p["data"]
    cg = named_cgroups(name)
    if cg:
        out["cgroups"] = cg
    if network.link_exists(host_veth):
        out["veth"] = host_veth
    return out


def remove_tree(path):
    """Delete a directory tree we made (nothing when `path` is None or no directory)."""
    if path and os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def prune_parents(run_dir=RUN_DIR, data_dir=DATA_DIR):
    """rmdir the containers/ dirs and /run/nsverify when empty (other users may hold them)."""
    for d in (run_dir, os.path.dirname(run_dir), data_dir):
        try:
            os.rmdir(d)
        except OSError:
            pass
