"""Inspect processes that other tools started: their namespaces against the host's, and their confinement.

For each target process and each of the eight types: `own` when its /proc/<pid>/ns/<type>
inode differs from the reference's (the host's initial namespaces, see userns.find_reference),
`shared` when equal, with both inodes and with whom (the host, another target). Beside the
namespaces: the NSpid chain, uid/gid maps and whether uid 0 inside is uid 0 on the host, the
user-namespace parent chain, capability sets by name, NoNewPrivs, seccomp, the LSM label, the
cgroup and its limits, and the time-namespace offsets.

The parsers below read /proc text by the kernel's grammar (proc(5)); they are candidates for
procfs.py: parse_status, parse_cgroup, parse_timens_offsets, decode_caps.
"""

from __future__ import annotations

import errno
import os

from ansible.module_utils.nsverify import catalog, cgroups, inspect, procfs, syscalls, userns

# <linux/capability.h>, in bit order (0 .. 40).
CAPABILITIES = (
    "chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap linux_immutable "
    "net_bind_service net_broadcast net_admin net_raw ipc_lock ipc_owner sys_module sys_rawio sys_chroot "
    "sys_ptrace sys_pacct sys_admin sys_boot sys_nice sys_resource sys_time sys_tty_config mknod lease "
    "audit_write audit_control setfcap mac_override mac_admin syslog wake_alarm block_suspend audit_read "
    "perfmon bpf checkpoint_restore"
).split()
CAP_SETS = (("CapInh", "inheritable"), ("CapPrm", "permitted"), ("CapEff", "effective"), ("CapBnd", "bounding"))
CAP_SETS += (("CapAmb", "ambient"),)
SECCOMP_MODES = {0: "disabled", 1: "strict", 2: "filter"}
# v1 memory.limit_in_bytes reads PAGE_COUNTER_MAX * PAGE_SIZE when unlimited (about 2^63).
V1_UNLIMITED = 1 << 62


class TargetError(Exception):
    """A target that cannot be inspected: kind is gone, kernel-thread, unreadable or exited."""

    def __init__(self, kind, msg):
        Exception.__init__(self, msg)
        self.kind = kind


# ---------------------------------------------------------------- parsers (text -> data)


def parse_status(text):
    """/proc/<pid>/status -> {key: value} ("Key:<tab>value" lines; values stripped)."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def parse_cgroup(text):
    """/proc/<pid>/cgroup -> [{'hierarchy', 'controllers', 'path'}] ("ID:controllers:path";
    v2 is "0::path"; the path may itself hold ':')."""
    out = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3 or not parts[0].isdigit():
            continue
        out.append({"hierarchy": int(parts[0]), "controllers": [c for c in parts[1].split(",") if c], "path": parts[2]})
    return out


def parse_timens_offsets(text):
    """/proc/<pid>/timens_offsets -> {clock: {'seconds', 'nanoseconds'}} ("<clock> <secs> <nanosecs>")."""
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) == 3:
            try:
                out[f[0]] = {"seconds": int(f[1]), "nanoseconds": int(f[2])}
            except ValueError:
                continue
    return out


def decode_caps(hex_text, last_cap=None):
    """'000001ffffffffff' -> ['chown', ...]; bits beyond the table read as 'cap_<n>'."""
    value = int(hex_text, 16)
    names = []
    for bit in range(64):
        if value & (1 << bit) and (last_cap is None or bit <= last_cap):
            names.append(CAPABILITIES[bit] if bit < len(CAPABILITIES) else "cap_%d" % bit)
    return names


def maps_to(id_map, inside):
    """The outside id that `inside` maps to through [[inside, outside, count]], or None (unmapped)."""
    for first, outside, count in id_map or []:
        if first <= inside < first + count:
            return outside + inside - first
    return None


# ---------------------------------------------------------------- readers


def _read(pid, name, proc):
    with open(os.path.join(proc, str(pid), name)) as fh:
        return fh.read()


def _try(pid, name, proc):
    """(text, None) or (None, 'ENOENT: ...')."""
    try:
        return _read(pid, name, proc), None
    except OSError as exc:
        return None, "%s: %s" % (errno.errorcode.get(exc.errno, exc.errno), exc.strerror)


def start_time(pid, proc="/proc"):
    """The start time of `pid` (clock ticks after boot), or None when it is gone."""
    try:
        return procfs.parse_stat(_read(pid, "stat", proc))["starttime"]
    except (OSError, ValueError, IndexError):
        return None


def capabilities(status, last_cap):
    full = (1 << (last_cap + 1)) - 1
    out = {"note": "capabilities are relative to the process's own user namespace (user_namespaces(7))"}
    for key, name in CAP_SETS:
        if key in status:
            out[name] = decode_caps(status[key], last_cap)
    if "CapBnd" in status and "CapEff" in status:
        out["full_bounding"] = int(status["CapBnd"], 16) & full == full
        out["full_effective"] = int(status["CapEff"], 16) & full == full
    return out


def security(status, pid, proc):
    seccomp = int(status["Seccomp"]) if status.get("Seccomp", "").isdigit() else None
    filters = status.get("Seccomp_filters")
    label, why = _try(pid, "attr/current", proc)
    return {
        "no_new_privs": status.get("NoNewPrivs") == "1" if "NoNewPrivs" in status else None,
        "seccomp": {
            "mode": SECCOMP_MODES.get(seccomp, seccomp),
            "filters": int(filters) if filters and filters.isdigit() else None,
        },
        "lsm": {
            "label": label.strip("\x00\n ") if label is not None else None,
            "reason": None if label is not None else "/proc/%s/attr/current: %s (no LSM gives a label)" % (pid, why),
        },
    }


def user_namespace(pid, proc, ioctl=None):
    """uid/gid maps, where uid 0 and gid 0 land on the host, and the parent chain of the user namespace."""
    out = {}
    for kind in ("uid", "gid"):
        text, why = _try(pid, "%s_map" % kind, proc)
        out["%s_map" % kind] = procfs.parse_id_map(text) if text is not None else None
        if why:
            out["%s_map_error" % kind] = why
    root = maps_to(out["uid_map"], 0)
    out["root_maps_to"] = root
    out["root_is_host_root"] = root == 0
    out["root_group_maps_to"] = maps_to(out["gid_map"], 0)
    try:
        chain, end = userns.chain(procfs.ns_path(pid, "user", proc), userns.NS_GET_PARENT, ioctl)
        out["parent_chain"] = chain
        out["chain_ended_with"] = end
    except OSError as exc:
        out["parent_chain"] = None
        out["chain_error"] = os.strerror(exc.errno)
    return out


def limit_value(spec, text):
    text = text.strip()
    if spec in ("memory.max", "pids.max"):
        return None if text == "max" else int(text)
    if spec == "memory.limit_in_bytes":
        value = int(text)
        return None if value >= V1_UNLIMITED else value
    if spec == "cpu.max":
        quota, _unused, period = text.partition(" ")
        return None if quota == "max" else round(int(quota) / int(period or cgroups.CPU_PERIOD_US), 3)
    return text


LIMIT_FILES = {
    1: {"memory": "memory.limit_in_bytes", "pids": "pids.max", "cpu": "cpu.cfs_quota_us"},
    2: {"memory": "memory.max", "pids": "pids.max", "cpu": "cpu.max"},
}


def _read_limit(directory, version, controller):
    spec = LIMIT_FILES[version][controller]
    path = os.path.join(directory, spec)
    try:
        with open(path) as fh:
            text = fh.read()
        if spec == "cpu.cfs_quota_us":
            quota = int(text)
            with open(os.path.join(directory, "cpu.cfs_period_us")) as fh:
                period = int(fh.read())
            value = None if quota < 0 else round(quota / period, 3)
        else:
            value = limit_value(spec, text)
    except (OSError, ValueError) as exc:
        return {"file": path, "value": None, "error": str(exc)}
    return {"file": path, "value": value}


def cgroup_limits(pid, proc="/proc", layout=None):
    """The target's cgroup per hierarchy and the memory, pids and cpu limits set in its own cgroup.

    On a v1 or hybrid host each controller lives in its v1 hierarchy; on v2 (or a hybrid v2 tree
    with the controller enabled) in the unified one. value None means no limit there.
    """
    text, why = _try(pid, "cgroup", proc)
    if text is None:
        return {"error": why}
    layout = layout or cgroups.read_layout(proc)
    entries = parse_cgroup(text)
    v2_path = next((e["path"] for e in entries if e["hierarchy"] == 0), None)
    limits = {}
    for ctrl in cgroups.CONTROLLERS:
        entry = next((e for e in entries if ctrl in e["controllers"]), None)
        if entry and ctrl in layout["v1"]:
            where = (1, os.path.join(layout["v1"][ctrl], entry["path"].lstrip("/")), entry["path"])
        elif v2_path is not None and layout["v2"] and ctrl in layout["v2_controllers"]:
            where = (2, os.path.join(layout["v2"], v2_path.lstrip("/")), v2_path)
        else:
            limits[ctrl] = {"value": None, "error": "no %s controller mounted" % ctrl}
            continue
        limits[ctrl] = dict(_read_limit(where[1], where[0], ctrl), version=where[0], cgroup=where[2])
    systemd = next((e["path"] for e in entries if "name=systemd" in e["controllers"]), None)
    return {"layout": layout["layout"], "paths": entries, "v2_path": v2_path, "systemd_path": systemd, "limits": limits}


def time_offsets(pid, proc="/proc"):
    text, why = _try(pid, "timens_offsets", proc)
    if text is None:
        return {"offsets": None, "error": why}
    offsets = parse_timens_offsets(text)
    return {"offsets": offsets, "zero": all(v["seconds"] == 0 and v["nanoseconds"] == 0 for v in offsets.values())}


def children(pid, proc="/proc"):
    """The PIDs whose parent is `pid`, oldest first (by start time); [] when it has none or is gone."""
    try:
        kids = [int(c) for c in _read(pid, "task/%s/children" % pid, proc).split()]
    except OSError:  # no CONFIG_PROC_CHILDREN: scan every process's parent
        kids = []
        for entry in filter(str.isdigit, os.listdir(proc)):
            try:
                if procfs.parse_stat(_read(entry, "stat", proc))["ppid"] == int(pid):
                    kids.append(int(entry))
            except (OSError, ValueError, IndexError, KeyError):
                continue
    dated = [(start_time(k, proc), k) for k in kids]
    return [k for t, k in sorted(d for d in dated if d[0] is not None)]


def nsverify_workload(spec, proc="/proc"):
    """The process to inspect for an nsverify container: its workload, not its init. nsv-init is the runtime's
    part (as conmon is podman's): it stays unfiltered, with the caller's capabilities, outside the limited
    cgroup, while the workload runs under the seccomp profile, the kept capabilities and the limits. The
    workload is init's oldest child (the first it forks); exec'd processes and orphans it adopts are younger.
    Other runtimes' specs, and a container whose workload is gone, are returned as they are."""
    if spec.get("runtime") != "nsverify" or not spec.get("pid"):
        return spec
    kids = children(spec["pid"], proc)
    return dict(spec, pid=kids[0], init_pid=spec["pid"]) if kids else spec


def read_process(pid, proc="/proc", layout=None, last_cap=None, ioctl=None):
    """Everything about one process except the sharing (which needs the other targets).

    Raises TargetError when it is gone, a kernel thread, its links cannot be read, or it
    exits (or its PID is reused) while being read.
    """
    before = start_time(pid, proc)
    if before is None:
        raise TargetError("gone", "PID %s: no such process (/proc/%s is gone)" % (pid, pid))
    if userns.is_kernel_thread(pid, proc):
        raise TargetError("kernel-thread", "PID %s is a kernel thread: it runs in the host's namespaces" % pid)
    links = inspect.read_ns_inodes(pid, proc)
    if all(v is None for v in links.values()):
        gone = start_time(pid, proc) != before
        raise TargetError(
            "exited" if gone else "unreadable",
            "PID %s exited during inspection" % pid
            if gone
            else "PID %s: /proc/%s/ns/* cannot be read (no ptrace access: run as root)" % (pid, pid),
        )
    status = parse_status(_read(pid, "status", proc))
    out = {
        "pid": int(pid),
        "command": status.get("Name"),
        "ppid": int(status["PPid"]) if "PPid" in status else None,
        "uid": status.get("Uid", "").split(),
        "nspid": [int(x) for x in status.get("NSpid", "").split()],
        "inodes": links,
        "user_namespace": user_namespace(pid, proc, ioctl),
        "capabilities": capabilities(status, last_cap if last_cap is not None else len(CAPABILITIES) - 1),
        "security": security(status, pid, proc),
        "cgroup": cgroup_limits(pid, proc, layout),
        "time": time_offsets(pid, proc),
    }
    if start_time(pid, proc) != before:
        raise TargetError("exited", "PID %s exited during inspection" % pid)
    return out


# ---------------------------------------------------------------- sharing


def sharing(targets, reference, others=()):
    """Add per-type `namespaces` to each inspected target: own/shared, both inodes, and the holders.

    A namespace equal to the reference's is `shared` with "host"; any other target holding the same
    inode is named in `shared_with` (a pod peer, a process that joined with nsenter), and so is any
    of `others` ({'name', 'inodes', 'pod'?}: discovered containers that are not targets). Holders of one
    runtime's pod (the `pod` a discovery row names) are also in `pod_peers`, and `relation` says it in
    words: "shared with pod peer nsverify:a", "shared with the host", "shared with pid:42", "own".
    """
    holders, pods = {}, {}
    for t in list(targets) + list(others):
        if t.get("pod"):
            pods[t["name"]] = (t.get("runtime"), t["pod"])
        if "inodes" in t:
            for name, ino in t["inodes"].items():
                if t["name"] not in holders.setdefault((name, ino), []):
                    holders[(name, ino)].append(t["name"])
    for t in targets:
        if "inodes" not in t:
            continue
        per_type = {}
        for name in catalog.TYPE_NAMES:
            ino, ref = t["inodes"].get(name), reference["inodes"].get(name)
            peers = [n for n in holders.get((name, ino), []) if n != t["name"]]
            if ino is None or ref is None:
                status = "unknown"
            else:
                status = "shared" if ino == ref else "own"
            # the host's namespaces are held by everything else too: name peers only of own ones
            shared_with = ["host"] if status == "shared" else peers
            pod = pods.get(t["name"])
            pod_peers = [n for n in shared_with if pod and pods.get(n) == pod]
            per_type[name] = {
                "status": status,
                "inode": ino,
                "reference_inode": ref,
                "shared_with": shared_with,
                "pod_peers": pod_peers,
                "relation": relation(status, shared_with, pod_peers),
            }
        t["namespaces"] = per_type
        t["notes"] = notes(t)
    return targets


def relation(status, shared_with, pod_peers):
    """With whom a namespace is shared, in words: pod peers first, then any other holder."""
    if status == "shared":
        return "shared with the host"
    if status != "own":
        return status
    words = ["pod peer %s" % n for n in pod_peers] + [n for n in shared_with if n not in pod_peers]
    return "shared with %s" % ", ".join(words) if words else "own"


def notes(target):
    """Findings that are not sharing: root mapped to host root in an own user namespace, zero time offsets."""
    out = []
    ns = target["namespaces"]
    if ns["user"]["status"] == "own" and target["user_namespace"].get("root_is_host_root"):
        out.append("own user namespace, but uid 0 inside is uid 0 on the host")
    if ns["time"]["status"] == "own" and target["time"].get("zero"):
        out.append("own time namespace, offsets are zero")
    return out


def inspect_targets(specs, reference, proc="/proc", ioctl=None, others=()):
    """Inspect each target spec {'name', 'pid', 'runtime'?, ...}: (inspected, errors).

    A target that cannot be read becomes an entry of `errors` ({'name', 'pid', 'kind', 'error'});
    the others are still inspected and compared with the reference and with each other.
    """
    layout = cgroups.read_layout(proc)
    last_cap = syscalls.cap_last_cap(proc)
    inspected, errors = [], []
    for spec in specs:
        spec = nsverify_workload(spec, proc)
        try:
            data = read_process(spec["pid"], proc, layout, last_cap, ioctl)
        except TargetError as exc:
            errors.append(dict(spec, kind=exc.kind, error=str(exc)))
            continue
        except OSError as exc:  # a file vanished between two reads: the process is going away
            gone = start_time(spec["pid"], proc) is None
            errors.append(dict(spec, kind="exited" if gone else "unreadable", error="PID %s: %s" % (spec["pid"], exc)))
            continue
        data.update(spec)
        inspected.append(data)
    known = {t["name"] for t in inspected}
    extra = [
        {
            "name": o["name"],
            "runtime": o.get("runtime"),
            "pod": o.get("pod"),
            "inodes": inspect.read_ns_inodes(o["pid"], proc),
        }
        for o in others
        if o["name"] not in known
    ]
    sharing(inspected, reference, extra)
    return inspected, errors


def cell(ns):
    """'own', 'shared', 'own (podman:b)', 'own (pod peer nsverify:a)' or 'shared (host, nsv:x)' for a table."""
    pod_peers = ns.get("pod_peers") or []
    peers = ["pod peer %s" % n for n in pod_peers] + [
        n for n in ns["shared_with"] if n != "host" and n not in pod_peers
    ]
    return ns["status"] + (" (%s)" % ", ".join(peers) if peers else "")


def table(targets):
    """One row per target for people: workload, runtime, process (its PID), each type, notes and findings."""
    rows = []
    for t in targets:
        # "pid" is a type name: the process's PID is "process"
        row = {"workload": t["name"], "runtime": t.get("runtime") or "-", "process": t["pid"]}
        row.update((name, cell(t["namespaces"][name])) for name in catalog.TYPE_NAMES)
        row["notes"] = t.get("notes", [])
        row["findings"] = t.get("findings", [])
        rows.append(row)
    return rows
