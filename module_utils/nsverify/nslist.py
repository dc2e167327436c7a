"""Every namespace on the host, like lsns(8), and the processes that match a description.

lsns(8) finds namespaces through processes only: a namespace kept alive by a bind mount
(`ip netns add`, /run/nsverify/ns/<name>/<type>) or by an open file descriptor alone is
missing from its list. Here each namespace carries `held_by`: its processes, every nsfs
mount (read from the mountinfo of one process in each mount namespace) and every open
descriptor (/proc/<pid>/fd/* links to nsfs). Owner and parent come from the nsfs ioctls.
"""

from __future__ import annotations

import os
import pwd
import re

from ansible.module_utils.nsverify import catalog, inspect, procfs, userns

_LINK_RE = re.compile(r"^([a-z_]+):\[(\d+)\]$")
_TYPE_OF_ENTRY = {catalog.get(n).proc_entry: n for n in catalog.TYPE_NAMES}


class TooMany(Exception):
    """A process match that found more processes than allowed."""


def pids(proc="/proc"):
    try:
        return sorted(int(e) for e in os.listdir(proc) if e.isdigit())
    except OSError:
        return []


def _read(path):
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return None


def comm(pid, proc="/proc"):
    text = _read(os.path.join(proc, str(pid), "comm"))
    return text.strip() if text is not None else None


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _owner_uid(pid, proc):
    try:
        return os.stat(os.path.join(proc, str(pid))).st_uid
    except OSError:
        return None


def nsfs_link(target):
    """'net:[4026531833]' -> ('net', 4026531833) for the eight types; None for anything else."""
    m = _LINK_RE.match(target or "")
    if not m or m.group(1) not in _TYPE_OF_ENTRY:
        return None
    return _TYPE_OF_ENTRY[m.group(1)], int(m.group(2))


def nsfs_mounts(mountinfo_text):
    """[(type, inode, mount point)] of the nsfs mounts in a mountinfo (their root reads 'net:[N]')."""
    out = []
    for m in procfs.parse_mountinfo(mountinfo_text):
        if m["fstype"] == "nsfs":
            link = nsfs_link(m["root"])
            if link:
                out.append((link[0], link[1], m["mount_point"]))
    return out


def _entry(found, type_name, inode):
    return found.setdefault(
        (type_name, inode), {"type": type_name, "inode": inode, "pids": [], "mounts": [], "fds": [], "path": None}
    )


def _scan_fds(pid, proc, found):
    fd_dir = os.path.join(proc, str(pid), "fd")
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return
    for fd in names:
        try:
            link = nsfs_link(os.readlink(os.path.join(fd_dir, fd)))
        except OSError:
            continue
        if link:
            e = _entry(found, *link)
            e["fds"].append("%s/fd/%s" % (pid, fd))
            e["path"] = e["path"] or os.path.join(fd_dir, fd)


def scan(proc="/proc", fds=True, mounts=True):
    """{(type, inode): {'type', 'inode', 'pids', 'mounts', 'fds', 'path'}} over every readable process."""
    found, mnt_seen, unreadable = {}, set(), 0
    for pid in pids(proc):
        links = inspect.read_ns_inodes(pid, proc)
        if all(v is None for v in links.values()):
            unreadable += 1
        for name, ino in links.items():
            if ino is not None:
                e = _entry(found, name, ino)
                e["pids"].append(pid)
                e["path"] = e["path"] or procfs.ns_path(pid, name, proc)
        if fds:
            _scan_fds(pid, proc, found)
        if mounts and links["mnt"] is not None and links["mnt"] not in mnt_seen:
            mnt_seen.add(links["mnt"])
            text = _read(os.path.join(proc, str(pid), "mountinfo")) or ""
            for type_name, ino, point in nsfs_mounts(text):
                e = _entry(found, type_name, ino)
                e["mounts"].append({"path": point, "mnt_namespace": links["mnt"], "via_pid": pid})
                # reach the mount through that process's root, whatever its mount namespace
                e["path"] = e["path"] or os.path.join(proc, str(pid), "root", point.lstrip("/"))
    return found, unreadable


def _relations(entry, ioctl=None):
    owner = parent = None
    if entry["path"]:
        try:
            owner = userns.owner_of(entry["path"], ioctl)
            if entry["type"] in userns.HIERARCHICAL:
                parent = userns.parent_of(entry["path"], ioctl)
        except OSError:
            pass
    return owner, parent


def list_namespaces(proc="/proc", types=None, ioctl=None):
    """lsns-like rows, sorted by type (catalogue order) then inode; plus how many processes were unreadable."""
    found, unreadable = scan(proc)
    rows = []
    order = {n: i for i, n in enumerate(catalog.TYPE_NAMES)}
    for (type_name, ino), e in sorted(found.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        if types and type_name not in types:
            continue
        owner, parent = _relations(e, ioctl)
        low = min(e["pids"]) if e["pids"] else None
        held = (["processes"] if e["pids"] else []) + ["mount:%s" % m["path"] for m in e["mounts"]]
        held += ["fd:%s" % f for f in e["fds"]]
        uid = _owner_uid(low, proc) if low is not None else None
        rows.append(
            {
                "type": type_name,
                "inode": ino,
                "nprocs": len(e["pids"]),
                "pid": low,
                "command": comm(low, proc) if low is not None else None,
                "user": user_name(uid) if uid is not None else None,
                "owner_user_namespace": owner,
                "parent": parent,
                "held_by": held,
                "only_by_mount_or_fd": not e["pids"],
                "mounts": e["mounts"],
                "fds": e["fds"],
            }
        )
    return {"namespaces": rows, "processes_unreadable": unreadable}


# ---------------------------------------------------------------- process match


def _cgroup_paths(pid, proc):
    text = _read(os.path.join(proc, str(pid), "cgroup")) or ""
    return [line.split(":", 2)[2] for line in text.splitlines() if line.count(":") >= 2]


def _unit_of(paths):
    """systemd units named in cgroup paths ('/system.slice/ssh.service' -> 'ssh.service')."""
    units = set()
    for p in paths:
        for part in p.split("/"):
            if part.endswith((".service", ".scope", ".slice")):
                units.add(part)
    return units


def match(command=None, cgroup=None, unit=None, limit=256, proc="/proc", exclude=()):
    """PIDs (lowest first) whose comm equals `command`, whose cgroup path contains `cgroup`, and/or
    whose cgroup names the systemd `unit`. All given criteria must hold. Kernel threads never match.

    Raises TooMany when more than `limit` match (the count is in the message).
    """
    out = []
    for pid in pids(proc):
        if pid in exclude:
            continue
        if command is not None and comm(pid, proc) != command:
            continue
        if cgroup is not None or unit is not None:
            paths = _cgroup_paths(pid, proc)
            if cgroup is not None and not any(cgroup in p for p in paths):
                continue
            if unit is not None and unit not in _unit_of(paths):
                continue
        if userns.is_kernel_thread(pid, proc):
            continue
        out.append(pid)
    if len(out) > limit:
        raise TooMany(
            "the process match found %d processes, more than max_targets=%d (lowest PIDs %s ...): "
            "narrow the match or raise max_targets" % (len(out), limit, ", ".join(str(p) for p in out[:5]))
        )
    return out
