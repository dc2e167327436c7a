"""Where named namespaces live: /run/nsverify/ns/<name>/ (a private bind mount of itself),
its state file and the host-wide lock that serialises creators and removers."""

from __future__ import annotations

import fcntl
import json
import os
import time

from ansible.module_utils.nsverify import catalog, procfs, syscalls
from ansible.module_utils.nsverify.namespaces.config import validate_name

NAMESPACES_DIR = "/run/nsverify/ns"
STATE_FILE = "state.json"
STATE_VERSION = 1


def name_dir(name, ns_dir=NAMESPACES_DIR):
    return os.path.join(ns_dir, validate_name(name))


def paths(name, ns_dir=NAMESPACES_DIR, types=None):
    """{type: path of the bind-mounted namespace file}; the types of the state file unless
    `types` is given."""
    if types is None:
        state = load_state(name, ns_dir) or {}
        types = state.get("config", {}).get("types", [])
    base = name_dir(name, ns_dir)
    return dict((t, os.path.join(base, t)) for t in catalog.validate_names(types))


def load_state(name, ns_dir=NAMESPACES_DIR):
    """The state dict of a named namespace, or None when absent or unreadable."""
    try:
        with open(os.path.join(name_dir(name, ns_dir), STATE_FILE)) as fh:
            state = json.load(fh)
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _valid_name(name):
    try:
        return bool(validate_name(name))
    except ValueError:
        return False


def list_named(ns_dir=NAMESPACES_DIR):
    """Sorted names of the named namespaces that have a state file."""
    try:
        entries = os.listdir(ns_dir)
    except OSError:
        return []
    return sorted(n for n in entries if _valid_name(n) and os.path.isfile(os.path.join(ns_dir, n, STATE_FILE)))


def new_state(name, config, status="creating", inodes=None):
    """The state file's contents (what examine, the module and the tests read) for a new name."""
    return {
        "version": STATE_VERSION,
        "name": name,
        "status": status,
        "config": config,
        "holder": None,
        "inodes": dict(inodes or {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_state(name, state, ns_dir):
    path = os.path.join(name_dir(name, ns_dir), STATE_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(state, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


# ------------------------------------------------------------- the directory of all named namespaces
def lock(ns_dir):
    """Serialise creators and removers on this host: flock on /run/nsverify (no file made)."""
    run_dir = os.path.dirname(ns_dir.rstrip("/"))
    os.makedirs(run_dir, mode=0o755, exist_ok=True)
    fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def mounts_under(prefix, mounts):
    prefix = prefix.rstrip("/") + "/"
    return [m for m in mounts if m["mount_point"].startswith(prefix)]


def mounts_at(path, mounts):
    return [m for m in mounts if m["mount_point"] == path]


class MountIndex:
    """/proc/self/mountinfo read once for a batch of names: the mounts at `ns_dir` (`top`) and, per
    name, those under `ns_dir/<name>/` (what mounts_under() gives), kept up to date by the batch as it
    mounts and unmounts, instead of a read (which grows with every namespace) per name."""

    def __init__(self, ns_dir=NAMESPACES_DIR, proc="/proc"):
        self.ns_dir, self.proc = ns_dir.rstrip("/"), proc
        self.refresh()

    def refresh(self):
        mounts = procfs.read_mountinfo(proc=self.proc)
        self.top = mounts_at(self.ns_dir, mounts)
        self.by_name = {}
        prefix = self.ns_dir + "/"
        for m in mounts:
            rest = m["mount_point"][len(prefix) :] if m["mount_point"].startswith(prefix) else ""
            if "/" in rest:
                self.by_name.setdefault(rest.split("/", 1)[0], []).append(m)
        return self

    def under(self, name):
        return list(self.by_name.get(name, ()))

    def added(self, name, path, fstype="nsfs"):
        self.by_name.setdefault(name, []).append({"mount_point": path, "fstype": fstype})

    def dropped(self, name):
        self.by_name.pop(name, None)


def ensure_namespaces_dir(ns_dir=NAMESPACES_DIR, proc="/proc", index=None):
    """Make `ns_dir` a private bind mount of itself (ip-netns style, but private); `index`: a
    MountIndex of this call, read instead of /proc/self/mountinfo."""
    os.makedirs(ns_dir, mode=0o755, exist_ok=True)
    here = index.top if index is not None else mounts_at(ns_dir, procfs.read_mountinfo(proc=proc))
    if not here:
        syscalls.mount(ns_dir, ns_dir, None, syscalls.MS_BIND | syscalls.MS_REC)
        here = mounts_at(ns_dir, procfs.read_mountinfo(proc=proc))
    if here and here[-1]["propagation"] != "private":
        syscalls.mount(None, ns_dir, None, syscalls.MS_PRIVATE | syscalls.MS_REC)
        here = mounts_at(ns_dir, procfs.read_mountinfo(proc=proc))
    if index is not None:
        index.top = here


def release_namespaces_dir(ns_dir=NAMESPACES_DIR, proc="/proc"):
    """Unmount and remove `ns_dir` once no named namespace is left in it."""
    try:
        if os.listdir(ns_dir):
            return False
    except FileNotFoundError:
        return False
    for _unused in range(8):
        if not mounts_at(ns_dir, procfs.read_mountinfo(proc=proc)):
            break
        syscalls.umount2(ns_dir, syscalls.MNT_DETACH)
    os.rmdir(ns_dir)
    return True
