"""The audit's static evidence: what the host says about each type without creating anything.

Release against the type's first kernel, the /proc/self/ns entry, the kernel config line,
the user.max_*_namespaces limit, the caller's privilege, the unprivileged user-namespace
policy switches, the cgroup layout and how many namespaces exist now. Every reader takes
its root (proc, sys, boot) so that tests can point it at a captured tree.
"""

from __future__ import annotations

import os
import pwd

from ansible.module_utils.nsverify import catalog, cgroups, kernel, procfs, seccomp

# /proc/<pid>/ns/<entry> appeared later than some types themselves (namespaces(7)):
# net/ipc/uts 3.0; mnt/pid/user 3.8; cgroup 4.6; time 5.6. A missing entry on a kernel
# older than this says nothing about the type.
PROC_ENTRY_SINCE = {
    "net": (3, 0, 0),
    "ipc": (3, 0, 0),
    "uts": (3, 0, 0),
    "mnt": (3, 8, 0),
    "pid": (3, 8, 0),
    "user": (3, 8, 0),
    "cgroup": (4, 6, 0),
    "time": (5, 6, 0),
}

INIT_USER_NS_INODE = 0xEFFFFFFD  # PROC_USER_INIT_INO, <linux/proc_ns.h>
CAP_SYS_ADMIN = 21


def version(v):
    return catalog.version_string(v)


# --------------------------------------------------------------------------- cgroup layout
def read_cgroup(proc="/proc"):
    mounts = procfs.parse_mountinfo(procfs.read_text(os.path.join(proc, "self", "mountinfo")) or "")
    return {"layout": cgroups.layout(mounts), "mounts": cgroups.describe_mounts(mounts)}


# --------------------------------------------------------------------------- limits, config, privilege
def read_limit(name, sys="/proc/sys"):
    """(path, value or None) of user.max_<type>_namespaces."""
    path = procfs.sysctl_path(catalog.get(name).limit_sysctl, sys)
    return path, procfs.read_int(path)


def read_boot_config(release, boot="/boot"):
    """(path, options) of /boot/config-<release> only: for a kernel that is not running,
    /proc/config.gz describes the wrong kernel."""
    path = os.path.join(boot, "config-%s" % release)
    text = procfs.read_text(path)
    if text is None:
        return None, {}
    return path, kernel.parse_config(text)


def read_privilege(proc="/proc", euid=None):
    euid = os.geteuid() if euid is None else euid
    try:
        user = pwd.getpwuid(euid).pw_name
    except KeyError:
        user = str(euid)
    uid_map = procfs.parse_id_map(procfs.read_text(os.path.join(proc, "self", "uid_map")))
    cap_eff = procfs.parse_cap_eff(procfs.read_text(os.path.join(proc, "self", "status")))
    if uid_map:
        initial = procfs.is_initial_id_map(uid_map)
    else:  # no uid_map (kernels before 3.5): the initial namespace has a fixed inode from 3.8
        ino = procfs.ns_link_inode(procfs.ns_path("self", "user", proc))
        initial = None if ino is None else ino == INIT_USER_NS_INODE
    return {
        "euid": euid,
        "user": user,
        "initial_user_ns": initial,
        "uid_map": uid_map,
        "cap_sys_admin": None if cap_eff is None else bool(cap_eff >> CAP_SYS_ADMIN & 1),
    }


def read_seccomp(proc="/proc"):
    """Seccomp mode (0 off, 1 strict, 2 filter) and filter count of the auditing process; None when unknown."""
    text = procfs.read_text(os.path.join(proc, "self", "status"))
    status = seccomp.parse_status(text) if text else {}
    return {"mode": status.get("mode"), "filters": status.get("filters")}


def read_userns_policy(release, proc="/proc", sys="/proc/sys"):
    """The switches that decide whether an unprivileged user may create a user namespace."""
    cmdline = procfs.parse_cmdline(procfs.read_text(os.path.join(proc, "cmdline")))
    policy = {
        "control_id": "NS-KRN-009",
        # Debian/Ubuntu patch: 0 forbids unprivileged CLONE_NEWUSER (Debian default up to 10)
        "unprivileged_userns_clone": procfs.read_sysctl("kernel.unprivileged_userns_clone", sys),
        # Ubuntu 23.10+: creation works but the namespace gets no capabilities
        "apparmor_restrict_unprivileged_userns": procfs.read_sysctl(
            "kernel.apparmor_restrict_unprivileged_userns", sys
        ),
        "max_user_namespaces": procfs.read_sysctl("user.max_user_namespaces", sys),
        "cmdline": {k: cmdline[k] for k in ("user_namespace.enable", "namespace.unpriv_enable") if k in cmdline},
        # a filter inherited by the audit (a container runtime's profile, systemd's RestrictNamespaces=)
        # refuses unshare(2) with EPERM for root too
        "seccomp": read_seccomp(proc),
        "notes": [],
    }
    notes = policy["notes"]
    if policy["unprivileged_userns_clone"] == 0:
        notes.append("kernel.unprivileged_userns_clone=0: only privileged callers may create user namespaces")
    if policy["apparmor_restrict_unprivileged_userns"] == 1:
        notes.append(
            "kernel.apparmor_restrict_unprivileged_userns=1: unprivileged user namespaces are created "
            "without capabilities unless an AppArmor profile allows them"
        )
    if policy["max_user_namespaces"] == 0:
        notes.append("user.max_user_namespaces=0: no user namespace can be created in this user namespace")
    if policy["seccomp"]["mode"] == seccomp.SECCOMP_MODE_FILTER:
        notes.append(
            "the audit runs under a seccomp filter (Seccomp: 2, %s filter(s)): what it refuses is refused "
            "to every probe" % policy["seccomp"]["filters"]
        )
    if ".el7" in release:
        notes.append(
            "RHEL 7: user namespaces need user.max_user_namespaces > 0 (default 0) and, before 7.4, "
            "user_namespace.enable=1 on the kernel command line (%s)"
            % ("present" if policy["cmdline"].get("user_namespace.enable") == "1" else "absent")
        )
    return policy


# --------------------------------------------------------------------------- namespace counts
def _count_processes(proc, types, seen):
    """Add the inodes of every readable /proc/<pid>/ns link to `seen`; (readable, unreadable)."""
    readable = unreadable = 0
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        pids = []
    for pid in pids:
        ok = True
        for t in types:
            try:
                target = os.readlink(procfs.ns_path(pid, t, proc))
            except FileNotFoundError:
                continue  # process gone, or this kernel lacks the type
            except OSError:
                ok = False
                continue
            try:
                _unused, ino = procfs.parse_ns_link(target)
            except ValueError:
                ok = False
                continue
            seen[t].add(ino)
        if ok:
            readable += 1
        else:
            unreadable += 1
    return readable, unreadable


def _count_nsfs_mounts(proc, types, seen):
    """Add the namespaces kept alive only by an nsfs bind mount to `seen`; how many mounts."""
    entry_to_type = {catalog.get(t).proc_entry: t for t in types}
    nsfs = 0
    for m in procfs.parse_mountinfo(procfs.read_text(os.path.join(proc, "self", "mountinfo")) or ""):
        if m["fstype"] != "nsfs":
            continue
        entry, _unused, rest = m["root"].partition(":[")
        if entry in entry_to_type and rest.endswith("]") and rest[:-1].isdigit():
            seen[entry_to_type[entry]].add(int(rest[:-1]))
            nsfs += 1
    return nsfs


def count_namespaces(proc="/proc", types=None):
    """Distinct namespaces per type visible now: inodes of /proc/*/ns/<entry> that we can read,
    plus namespaces kept alive only by an nsfs bind mount (ip netns, our /run/nsverify).

    A process whose links we cannot read (another user's, when not root; this machine's PID 1)
    is counted as unreadable and makes the count a lower bound."""
    types = list(types or catalog.TYPE_NAMES)
    seen = {t: set() for t in types}
    readable, unreadable = _count_processes(proc, types, seen)
    nsfs = _count_nsfs_mounts(proc, types, seen)
    return {
        "counts": {t: (len(seen[t]) if seen[t] else None) for t in types},
        "inodes": {t: sorted(seen[t]) for t in types},  # for callers and tests; not put into the facts
        "processes_unreadable": unreadable,
        "nsfs_mounts": nsfs,
        "lower_bound": unreadable > 0 or readable == 0,
    }


# --------------------------------------------------------------------------- one type's static evidence
def type_evidence(name, rel, options, config_path, sys="/proc/sys", proc="/proc", euid=0, offline=False):
    """(static, evidence) of one type: `static` is what decide() reads, `evidence` what the facts show."""
    t = catalog.get(name)
    entry_path = procfs.ns_path("self", name, proc)
    limit_path, limit = read_limit(name, sys)
    gate = kernel.at_least(rel, t.first_kernel)
    static = {
        "gate": gate,
        "entry_present": None if offline else os.path.lexists(entry_path),
        "entry_expected": kernel.at_least(rel, PROC_ENTRY_SINCE[name]),
        "config_value": options.get(t.config_option) if t.config_option else None,
        "limit": None if offline else limit,
        "euid": euid,
        "config_source": config_path,
    }
    evidence = {
        "release": rel.raw,
        "version_gate": {"first_kernel": version(t.first_kernel), "release_at_least": gate},
        "proc_entry": {
            "path": entry_path,
            "present": static["entry_present"],
            "inode": None if offline else procfs.ns_link_inode(entry_path),
            "expected_since": version(PROC_ENTRY_SINCE[name]),
        },
        "config": {
            "option": t.config_option,
            "line": kernel.config_line(options, t.config_option),
            "source": config_path,
        },
        "limit": {
            "sysctl": t.limit_sysctl,
            "path": limit_path,
            "value": static["limit"],
            "exists_since": version(t.limit_since),
        },
        "probe": {"attempted": False},
    }
    if name == "net" and kernel.at_least(rel, (2, 6, 24)) and not gate:
        evidence["note"] = "network namespaces exist from 2.6.24 but are only complete from 2.6.29"
    if name == "time":
        evidence["setns_supported"] = kernel.at_least(rel, t.setns_since)
        if gate and not evidence["setns_supported"]:
            evidence["note"] = "time namespaces can be created from 5.6, but setns(2) into one needs 5.8"
    if name == "mnt":
        evidence["config"]["note"] = "mount namespaces have no config option of their own"
    return static, evidence
