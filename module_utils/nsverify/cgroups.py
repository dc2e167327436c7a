"""Cgroup limits for a container on v1, v2 and hybrid hosts.

The layout is read from mountinfo, never assumed: on a hybrid host (this one)
the v1 hierarchies carry the controllers and the v2 tree at
/sys/fs/cgroup/unified has none enabled; on a pure v2 host the controllers must
be enabled in the parent's cgroup.subtree_control before a child cgroup gets
memory.max, pids.max and cpu.max files. A container's cgroup is nsv-<name>
directly under each hierarchy's root.

On a v1 memory hierarchy the memory limit sits one level down, on
nsv-<name>/payload, which holds the workload and every exec'd process while the
container's init stays in nsv-<name>: the OOM killer of a limited cgroup only
chooses among its own tasks, so an allocation beyond the limit can never take the
init (which, being the forked Python process, has the largest RSS of all).
On v2 the no-internal-process rule forbids that shape; there init shares the
limited cgroup and is protected by oom_score_adj instead.
"""

from __future__ import annotations

import errno
import os
import time

from ansible.module_utils.nsverify import procfs

CONTROLLERS = ("memory", "pids", "cpu")
PAYLOAD = "payload"
CPU_PERIOD_US = 100000

# Memory floors, measured on this host (kernel 6.18, busybox 1.35 static): the idle
# workload (sh + sleep) and an exec of sh + ps + ls peak at 3.6-3.8 MiB in the payload
# cgroup (page tables, kernel stacks and touched pages of each task are charged); at
# 3 MiB the exec was OOM-killed, at 4 MiB it ran. Where init shares the limited cgroup
# (v2), its copy-on-write pages (peak 4.5 MiB at start) come on top.
MIN_MEMORY = 4 * 1024 * 1024
MIN_MEMORY_SHARED_WITH_INIT = 12 * 1024 * 1024


def min_memory(layout):
    """The floor for this host: 4 MiB when init stays out of the limited cgroup (v1 memory)."""
    return MIN_MEMORY if "memory" in layout.get("v1", {}) else MIN_MEMORY_SHARED_WITH_INIT


MIN_PIDS = 4


class CgroupError(Exception):
    pass


# cgroup v1 controllers as they appear in the super options of a cgroup mount (cgroups(7));
# "name=systemd" style named hierarchies are kept too.
V1_CONTROLLERS = (
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "debug",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
)


def layout(mounts):
    """'v1', 'v2', 'hybrid' (both mounted) or 'none', from parsed mountinfo (procfs.parse_mountinfo)."""
    v1 = any(m["fstype"] == "cgroup" for m in mounts)
    v2 = any(m["fstype"] == "cgroup2" for m in mounts)
    if v1 and v2:
        return "hybrid"
    if v2:
        return "v2"
    if v1:
        return "v1"
    return "none"


def describe_mounts(mounts):
    """The cgroup mounts of parsed mountinfo, for reports: [{mount_point, fstype, version
    [, controllers]}] sorted by mount point; v1 controllers from the super options (mount
    flags such as rw or xattr are left out, named hierarchies kept as name=...)."""
    out = []
    for m in mounts:
        if m["fstype"] not in ("cgroup", "cgroup2"):
            continue
        entry = {
            "mount_point": m["mount_point"],
            "fstype": m["fstype"],
            "version": 2 if m["fstype"] == "cgroup2" else 1,
        }
        if m["fstype"] == "cgroup":
            entry["controllers"] = sorted(
                o for o in m["super_options"].split(",") if o in V1_CONTROLLERS or o.startswith("name=")
            )
        out.append(entry)
    return sorted(out, key=lambda e: e["mount_point"])


def parse_mountinfo_cgroups(text):
    """mountinfo text -> [{'version': 1|2, 'mount_point', 'root', 'controllers': [...]}].

    Fields are read by the kernel's grammar: optional fields end at the ' - '
    separator, then fstype, source, super options (where v1 names its controllers).
    """
    out = []
    for m in procfs.parse_mountinfo(text):
        if m["fstype"] == "cgroup":
            opts = m["super_options"].split(",") if m["super_options"] else []
            ctrls = [
                o
                for o in opts
                if o not in ("rw", "ro")
                and not o.startswith(("name=", "release_agent"))
                and o not in ("noprefix", "clone_children", "xattr", "cpuset_v2_mode", "nsdelegate")
            ]
            out.append({"version": 1, "mount_point": m["mount_point"], "root": m["root"], "controllers": ctrls})
        elif m["fstype"] == "cgroup2":
            out.append({"version": 2, "mount_point": m["mount_point"], "root": m["root"], "controllers": []})
    return out


def read_layout(proc="/proc"):
    """{'layout': 'v1'|'v2'|'hybrid'|'none', 'v1': {controller: mount point}, 'v2': mount point|None,
    'v2_controllers': [...]} as seen by this process."""
    with open(os.path.join(proc, "self/mountinfo")) as fh:
        mounts = parse_mountinfo_cgroups(fh.read())
    v1 = {}
    v2 = None
    for m in mounts:
        if m["root"] != "/":
            continue
        if m["version"] == 1:
            for c in m["controllers"]:
                v1.setdefault(c, m["mount_point"])
        elif v2 is None:
            v2 = m["mount_point"]
    v2_controllers = []
    if v2:
        try:
            with open(os.path.join(v2, "cgroup.controllers")) as fh:
                v2_controllers = fh.read().split()
        except OSError:
            pass
    if v1 and v2:
        layout = "hybrid"
    elif v1:
        layout = "v1"
    elif v2:
        layout = "v2"
    else:
        layout = "none"
    return {"layout": layout, "v1": v1, "v2": v2, "v2_controllers": v2_controllers}


def plan_paths(name, layout):
    """Where the container's cgroup lives per controller:
    {'memory': {'version': 1|2, 'path': dir}, ..., 'v2': dir or None (membership only)}.

    v1 wins where a v1 hierarchy has the controller (on hybrid hosts the v2 tree cannot
    also have it); otherwise v2 when its root offers the controller.
    """
    dirname = "nsv-%s" % name
    out = {}
    for ctrl in CONTROLLERS:
        if ctrl in layout["v1"]:
            out[ctrl] = {"version": 1, "path": os.path.join(layout["v1"][ctrl], dirname)}
            if ctrl == "memory":
                out[ctrl] = {
                    "version": 1,
                    "path": os.path.join(layout["v1"][ctrl], dirname, PAYLOAD),
                    "parent": os.path.join(layout["v1"][ctrl], dirname),
                }
        elif layout["v2"] and ctrl in layout["v2_controllers"]:
            out[ctrl] = {"version": 2, "path": os.path.join(layout["v2"], dirname)}
        else:
            out[ctrl] = None
    out["v2"] = os.path.join(layout["v2"], dirname) if layout["v2"] else None
    return out


def limit_files(memory=None, cpus=None, pids=None, version=1):
    """[(controller, file, value)] in the order they must be written."""
    files = []
    if version == 1:
        if memory is not None:
            files.append(("memory", "memory.limit_in_bytes", str(memory)))
            # with swap accounting the mem+swap limit must be set too (after, as it must be >=)
            files.append(("memory", "memory.memsw.limit_in_bytes", str(memory)))
        if pids is not None:
            files.append(("pids", "pids.max", str(pids)))
        if cpus is not None:
            files.append(("cpu", "cpu.cfs_period_us", str(CPU_PERIOD_US)))
            files.append(("cpu", "cpu.cfs_quota_us", str(int(cpus * CPU_PERIOD_US))))
    else:
        if memory is not None:
            files.append(("memory", "memory.max", str(memory)))
            files.append(("memory", "memory.swap.max", "0"))
        if pids is not None:
            files.append(("pids", "pids.max", str(pids)))
        if cpus is not None:
            files.append(("cpu", "cpu.max", "%d %d" % (int(cpus * CPU_PERIOD_US), CPU_PERIOD_US)))
    return files


def _write(path, value):
    with open(path, "w") as fh:
        fh.write(value)


def enable_v2_controllers(root, ctrls):
    """Enable the missing controllers in root's cgroup.subtree_control in one write
    ("+memory +pids"); returns what was enabled."""
    path = os.path.join(root, "cgroup.subtree_control")
    with open(path) as fh:
        enabled = fh.read().split()
    missing = [c for c in ctrls if c not in enabled]
    if missing:
        _write(path, " ".join("+%s" % c for c in missing))
    return missing


def create(name, memory=None, cpus=None, pids=None, layout=None):
    """Make the container's cgroups and write its limits. Returns the plan_paths() dict
    plus 'dirs' (every directory made, for removal) and 'limits' (what was written where)."""
    layout = layout or read_layout()
    paths = plan_paths(name, layout)
    made = []
    limits = {}
    wanted = {"memory": memory, "pids": pids, "cpu": cpus}
    try:
        dirs = []
        payload = []
        for ctrl in CONTROLLERS:
            if paths[ctrl] and paths[ctrl]["path"] not in dirs:
                if wanted[ctrl] is not None or paths[ctrl]["version"] == 1:
                    if paths[ctrl].get("parent"):
                        dirs.append(paths[ctrl]["parent"])
                        payload.append(paths[ctrl]["path"])
                    dirs.append(paths[ctrl]["path"])
            elif paths[ctrl] is None and wanted[ctrl] is not None:
                raise CgroupError(
                    "the %s controller is not available on this host (layout %s): drop the "
                    "%s limit or enable the controller" % (ctrl, layout["layout"], ctrl)
                )
        if paths["v2"] and paths["v2"] not in dirs:
            dirs.append(paths["v2"])
        v2_wanted = [c for c in CONTROLLERS if paths[c] and paths[c]["version"] == 2 and wanted[c] is not None]
        if v2_wanted:
            enable_v2_controllers(layout["v2"], v2_wanted)
        for d in dirs:
            try:
                os.mkdir(d, 0o755)
            except FileExistsError:
                # left by a container that died without its stop: reuse it when empty
                if read_value(os.path.join(d, "cgroup.procs")):
                    raise CgroupError(
                        "cgroup %s exists and has processes: another container of that name "
                        "runs; stop it (busybox_container state=absent) first" % d
                    )
            made.append(d)
        for version in (1, 2):
            for ctrl, fname, value in limit_files(memory, cpus, pids, version):
                spec = paths[ctrl]
                if not spec or spec["version"] != version:
                    continue
                target = os.path.join(spec["path"], fname)
                if not os.path.exists(target):
                    if fname in ("memory.memsw.limit_in_bytes", "memory.swap.max"):
                        continue  # no swap accounting on this kernel: nothing to limit
                    raise CgroupError(
                        "%s is missing: the %s controller is not enabled for %s" % (target, ctrl, spec["path"])
                    )
                _write(target, value)
                limits[target] = value
    except OSError as exc:
        remove({"dirs": made})
        raise CgroupError("creating cgroup for %s: %s" % (name, exc))
    except CgroupError:
        remove({"dirs": made})
        raise
    paths["dirs"] = made
    paths["init_dirs"] = [d for d in made if d not in payload]
    paths["payload_dirs"] = payload
    paths["limits"] = limits
    return paths


def attach(cgroup_info, pid="0"):
    """Move process `pid` ('0' = the writer) into every cgroup of the container."""
    for d in cgroup_info.get("dirs", []):
        _write(os.path.join(d, "cgroup.procs"), str(pid))


def open_procs_files(cgroup_info, payload=False):
    """Open each cgroup.procs for writing now, so that a child can join later from
    inside other namespaces (the fd keeps pointing at the host's cgroupfs).
    payload=False: the init's cgroups; True: the payload cgroups the workload joins after."""
    dirs = cgroup_info.get("payload_dirs" if payload else "init_dirs")
    if dirs is None:
        dirs = [] if payload else cgroup_info.get("dirs", [])
    return [os.open(os.path.join(d, "cgroup.procs"), os.O_WRONLY) for d in dirs]


def remove(cgroup_info, timeout=5.0):
    """rmdir every cgroup directory made; EBUSY means tasks are still dying, so retry."""
    left = []
    for d in reversed(cgroup_info.get("dirs", [])):
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    left.append(d)
                    break
                time.sleep(0.05)
    return left


def read_value(path):
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def read_limits(cgroup_info):
    """The limits as the kernel reports them now: {file path: value}."""
    return {p: read_value(p) for p in sorted(cgroup_info.get("limits", {}))}


def find_named(prefix="nsv-", layout=None):
    """Every cgroup directory named prefix* under each hierarchy root (for teardown)."""
    layout = layout or read_layout()
    roots = set(layout["v1"].values())
    if layout["v2"]:
        roots.add(layout["v2"])
    out = []
    for root in sorted(roots):
        try:
            for entry in os.listdir(root):
                if entry.startswith(prefix) and os.path.isdir(os.path.join(root, entry)):
                    out.append(os.path.join(root, entry))
        except OSError:
            pass
    return sorted(out)


def with_children(dirs):
    """`dirs` with their child cgroups after each (remove() goes in reverse: children first)."""
    out = []
    for d in dirs:
        out.append(d)
        try:
            out.extend(os.path.join(d, e) for e in sorted(os.listdir(d)) if os.path.isdir(os.path.join(d, e)))
        except OSError:
            pass
    return out
