"""The kernel capability audit: one verdict per namespace type, with its evidence.

For each type the audit gathers static evidence (release against the type's first
kernel, the /proc/self/ns entry, the kernel config line, the user.max_*_namespaces
limit) and, unless told not to, tries to create one for real in a forked child.
The live attempt decides; static evidence that disagrees with it is reported as a
`contradiction`, never silently dropped. Verdicts come from catalog.VERDICTS.

Every reader takes its root (proc, sys, boot) so that tests can point it at a
captured tree, and the live attempt is a `prober` callable so that simulated
kernels can feed errnos; the default prober really forks.
"""

from __future__ import annotations

import errno as _errno
import os
import pwd

from ansible.module_utils.nsverify import catalog, controls, kernel, probe, procfs, syscalls
from ansible.module_utils.nsverify import inspect as nsinspect

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

# Namespaces of pid and time apply to children: unshare(2) creates the namespace at once
# and shows it in <entry>_for_children (4.12+), while /proc/self/ns/<entry> stays put.
_FOR_CHILDREN = {"pid": "pid_for_children", "time": "time_for_children"}

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

NOBODY_UID = 65534
PROBE_TIMEOUT = 10.0
_INIT_USER_NS_INODE = 0xEFFFFFFD  # PROC_USER_INIT_INO, <linux/proc_ns.h>
_CAP_SYS_ADMIN = 21


# --------------------------------------------------------------------------- parsers

parse_mountinfo = procfs.parse_mountinfo


def parse_cmdline(text):
    """Kernel command line -> {key: value} (value True for bare flags); after '--' the words
    belong to init and are ignored."""
    out = {}
    for word in (text or "").split():
        if word == "--":
            break
        key, sep, value = word.partition("=")
        out[key] = value if sep else True
    return out


def parse_uid_map(text):
    """uid_map text -> [(inside, outside, count)]."""
    return [tuple(entry) for entry in procfs.parse_id_map(text)]


def is_initial_uid_map(entries):
    # The initial user namespace maps the whole 32-bit range onto itself (user_namespaces(7)).
    return entries == [(0, 0, 4294967295)]


def parse_cap_eff(status_text):
    for line in (status_text or "").splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return None


def cgroup_layout(mounts):
    """'v1', 'v2', 'hybrid' (both mounted) or 'none', from parsed mountinfo."""
    v1 = any(m["fstype"] == "cgroup" for m in mounts)
    v2 = any(m["fstype"] == "cgroup2" for m in mounts)
    if v1 and v2:
        return "hybrid"
    if v2:
        return "v2"
    if v1:
        return "v1"
    return "none"


def cgroup_mounts(mounts):
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


# --------------------------------------------------------------------------- readers


def _read(path):
    try:
        with open(path, errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _read_int(path):
    text = _read(path)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def sysctl_path(sys_root, name):
    return os.path.join(sys_root, *name.split("."))


def read_limit(name, sys="/proc/sys"):
    """(path, value or None) of user.max_<type>_namespaces."""
    path = sysctl_path(sys, catalog.get(name).limit_sysctl)
    return path, _read_int(path)


def read_boot_config(release, boot="/boot"):
    """(path, options) of /boot/config-<release> only: for a kernel that is not running,
    /proc/config.gz describes the wrong kernel."""
    path = os.path.join(boot, "config-%s" % release)
    text = _read(path)
    if text is None:
        return None, {}
    return path, kernel.parse_config(text)


def read_privilege(proc="/proc", euid=None):
    euid = os.geteuid() if euid is None else euid
    try:
        user = pwd.getpwuid(euid).pw_name
    except KeyError:
        user = str(euid)
    uid_map = parse_uid_map(_read(os.path.join(proc, "self", "uid_map")))
    cap_eff = parse_cap_eff(_read(os.path.join(proc, "self", "status")))
    if uid_map:
        initial = is_initial_uid_map(uid_map)
    else:  # no uid_map (kernels before 3.5): the initial namespace has a fixed inode from 3.8
        ino = _link_inode(os.path.join(proc, "self", "ns", "user"))
        initial = None if ino is None else ino == _INIT_USER_NS_INODE
    return {
        "euid": euid,
        "user": user,
        "initial_user_ns": initial,
        "uid_map": [list(e) for e in uid_map],
        "cap_sys_admin": None if cap_eff is None else bool(cap_eff >> _CAP_SYS_ADMIN & 1),
    }


def read_cgroup(proc="/proc"):
    mounts = parse_mountinfo(_read(os.path.join(proc, "self", "mountinfo")) or "")
    return {"layout": cgroup_layout(mounts), "mounts": cgroup_mounts(mounts)}


def count_namespaces(proc="/proc", types=None):
    """Distinct namespaces per type visible now: inodes of /proc/*/ns/<entry> that we can read,
    plus namespaces kept alive only by an nsfs bind mount (ip netns, our /run/nsverify).

    A process whose links we cannot read (another user's, when not root; this machine's PID 1)
    is counted as unreadable and makes the count a lower bound."""
    types = list(types or catalog.TYPE_NAMES)
    seen = {t: set() for t in types}
    entry_to_type = {catalog.get(t).proc_entry: t for t in types}
    readable = unreadable = 0
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        pids = []
    for pid in pids:
        ok = True
        for t in types:
            path = os.path.join(proc, pid, "ns", catalog.get(t).proc_entry)
            try:
                target = os.readlink(path)
            except FileNotFoundError:
                continue  # process gone, or this kernel lacks the type
            except OSError:
                ok = False
                continue
            try:
                _, ino = nsinspect.parse_ns_link(target)
            except ValueError:
                ok = False
                continue
            seen[t].add(ino)
        if ok:
            readable += 1
        else:
            unreadable += 1
    nsfs = 0
    for m in parse_mountinfo(_read(os.path.join(proc, "self", "mountinfo")) or ""):
        if m["fstype"] != "nsfs":
            continue
        entry, _, rest = m["root"].partition(":[")
        if entry in entry_to_type and rest.endswith("]") and rest[:-1].isdigit():
            seen[entry_to_type[entry]].add(int(rest[:-1]))
            nsfs += 1
    return {
        "counts": {t: (len(seen[t]) if seen[t] else None) for t in types},
        "inodes": {t: sorted(seen[t]) for t in types},  # for callers and tests; not put into the facts
        "processes_unreadable": unreadable,
        "nsfs_mounts": nsfs,
        "lower_bound": unreadable > 0 or readable == 0,
    }


def read_userns_policy(release, proc="/proc", sys="/proc/sys"):
    """The switches that decide whether an unprivileged user may create a user namespace."""
    cmdline = parse_cmdline(_read(os.path.join(proc, "cmdline")))
    policy = {
        "control_id": "NS-KRN-009",
        # Debian/Ubuntu patch: 0 forbids unprivileged CLONE_NEWUSER (Debian default up to 10)
        "unprivileged_userns_clone": _read_int(sysctl_path(sys, "kernel.unprivileged_userns_clone")),
        # Ubuntu 23.10+: creation works but the namespace gets no capabilities
        "apparmor_restrict_unprivileged_userns": _read_int(
            sysctl_path(sys, "kernel.apparmor_restrict_unprivileged_userns")
        ),
        "max_user_namespaces": _read_int(sysctl_path(sys, "user.max_user_namespaces")),
        "cmdline": {k: cmdline[k] for k in ("user_namespace.enable", "namespace.unpriv_enable") if k in cmdline},
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
    if ".el7" in release:
        notes.append(
            "RHEL 7: user namespaces need user.max_user_namespaces > 0 (default 0) and, before 7.4, "
            "user_namespace.enable=1 on the kernel command line (%s)"
            % ("present" if policy["cmdline"].get("user_namespace.enable") == "1" else "absent")
        )
    return policy


# --------------------------------------------------------------------------- live probing


def _link_inode(path):
    """Inode named by a namespace link ('net:[4026531840]'): the caller's namespace of that type."""
    try:
        return nsinspect.parse_ns_link(os.readlink(path))[1]
    except (OSError, ValueError):
        return None


def _ns_inode(entry):
    try:
        return os.stat("/proc/self/ns/%s" % entry).st_ino
    except OSError:
        return None


def _use_capability():
    """Exercise CAP_SYS_ADMIN inside the user namespace we are in: a new UTS namespace and
    sethostname() there; if the uts limit is exhausted, a private mount namespace and a tmpfs.
    Under Ubuntu's apparmor_restrict_unprivileged_userns this fails with EPERM although the
    user namespace itself was created."""
    try:
        syscalls.unshare(catalog.CLONE_NEWUTS)
        syscalls.sethostname("nsv-audit")
        return {"ok": True, "action": "unshare(CLONE_NEWUTS) + sethostname()", "errno": None, "errname": None}
    except OSError as exc:
        if exc.errno != _errno.ENOSPC:
            return {
                "ok": False,
                "action": "unshare(CLONE_NEWUTS) + sethostname()",
                "errno": exc.errno,
                "errname": syscalls.errno_name(exc.errno),
            }
    action = "unshare(CLONE_NEWNS) + mount tmpfs"
    try:
        syscalls.unshare(catalog.CLONE_NEWNS)
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
        target = next(d for d in ("/tmp", "/mnt", "/run", "/") if os.path.isdir(d))
        syscalls.mount("nsv-audit", target, "tmpfs", 0, "size=16k")
        return {"ok": True, "action": action, "errno": None, "errname": None}
    except OSError as exc:
        return {"ok": False, "action": action, "errno": exc.errno, "errname": syscalls.errno_name(exc.errno)}


def _attempt(name, via_user_namespace, uid):
    """Runs in the forked child: optionally become `uid`, optionally enter a new user
    namespace, then unshare the type. Never raises: returns what happened."""
    t = catalog.get(name)
    out = {"stage": None, "errno": None, "errname": None, "new_namespace": None, "capability": None}

    def failed(stage, exc):
        out.update(stage=stage, errno=exc.errno, errname=syscalls.errno_name(exc.errno), error=str(exc))
        return out

    if uid is not None:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        except OSError as exc:
            return failed("setuid", exc)
    if via_user_namespace:
        try:
            syscalls.unshare(catalog.CLONE_NEWUSER)
        except OSError as exc:
            return failed("unshare-user", exc)
    entry = _FOR_CHILDREN.get(name, t.proc_entry)
    before = _ns_inode(entry)
    try:
        syscalls.unshare(t.flag)
    except OSError as exc:
        return failed("unshare", exc)
    if name == "pid":
        # pid_for_children stays unreadable until the new namespace has its PID 1: make one
        try:
            child = os.fork()
        except OSError:
            child = None  # the namespace exists all the same; only the inode evidence is lost
        if child == 0:
            os._exit(0)
        if child:
            os.waitpid(child, 0)
    after = _ns_inode(entry)
    out["new_namespace"] = None if before is None or after is None else before != after
    if name == "user":
        out["capability"] = _use_capability()
    return out


def live_prober(name, via_user_namespace=False, uid=None, timeout=PROBE_TIMEOUT):
    """Try to create a namespace of type `name` now, in a forked child (probe.run).

    Returns {ok, stage, errno, errname, error, new_namespace, capability, via_user_namespace,
    as_uid}: ok means unshare(2) succeeded (for the user type the capability use is reported
    separately under `capability`)."""
    res = probe.run(_attempt, args=(name, via_user_namespace, uid), fork=False, timeout=timeout)
    if res["ok"]:
        value = res["value"]
        out = {
            "ok": value["errno"] is None and value["stage"] is None,
            "stage": value["stage"],
            "errno": value["errno"],
            "errname": value["errname"],
            "error": value.get("error"),
            "new_namespace": value["new_namespace"],
            "capability": value["capability"],
        }
    else:
        out = {
            "ok": False,
            "stage": res["stage"],
            "errno": res["errno"],
            "errname": res["errname"],
            "error": (res["error"] or "")[-500:],
            "new_namespace": None,
            "capability": None,
        }
    out["via_user_namespace"] = via_user_namespace
    out["as_uid"] = uid
    return out


def _normalise(res, via_user_namespace=False, uid=None):
    """Fill the keys a (possibly simulated) prober may leave out."""
    out = {
        "ok": False,
        "stage": None,
        "errno": None,
        "errname": None,
        "error": None,
        "new_namespace": None,
        "capability": None,
        "via_user_namespace": via_user_namespace,
        "as_uid": uid,
    }
    out.update(res or {})
    if out["errno"] is not None and not out["errname"]:
        out["errname"] = syscalls.errno_name(out["errno"])
    return out


def run_probes(name, prober, retry_via_user=True):
    """The direct attempt, and on EPERM (no CAP_SYS_ADMIN here) the same inside a fresh user
    namespace, which is how an unprivileged caller gets namespaces. Returns (final, direct)."""
    direct = _normalise(prober(name, via_user_namespace=False))
    if retry_via_user and name != "user" and not direct["ok"] and direct["errno"] == _errno.EPERM:
        return _normalise(prober(name, via_user_namespace=True), via_user_namespace=True), direct
    return direct, None


# --------------------------------------------------------------------------- verdicts


def _v(version):
    return catalog.version_string(version)


def decide(name, release, static, result=None, policy=None, exercised=True, offline=False):
    """The verdict of one type from its static evidence and the live result.

    static: {gate, entry_present, entry_expected, config_value, limit}
    result: normalised prober result (final attempt), or None when not exercised.
    Returns (verdict, reason, contradiction)."""
    t = catalog.get(name)
    first = _v(t.first_kernel)
    rel = release.raw
    gate = static["gate"]
    # entry absent on a kernel that would show it: the kernel lacks the type
    entry_missing = static["entry_present"] is False and static["entry_expected"]
    config_unset = static["config_value"] == "n"
    limit = static["limit"]
    contradictions = []

    if not exercised or result is None:
        if offline:
            note = "not exercised: offline audit of release %s, which is not running (%s)" % (
                rel,
                "config %s" % static["config_source"]
                if static.get("config_source")
                else "no /boot/config-%s readable" % rel,
            )
        else:
            note = "not exercised (probe=false): static checks only"
        if not gate:
            if static["entry_present"]:
                return (
                    "unknown",
                    "%s; release %s is below %s's first kernel %s, but /proc/self/ns/%s exists"
                    % (note, rel, name, first, t.proc_entry),
                    "release %s is below %s but the /proc entry exists" % (rel, first),
                )
            return "kernel-too-old", "%s; release %s is below %s's first kernel %s" % (note, rel, name, first), None
        if entry_missing:
            return "not-built", "%s; /proc/self/ns/%s is missing" % (note, t.proc_entry), None
        if config_unset:
            return "not-built", "%s; %s is not set in the kernel config" % (note, t.config_option), None
        if limit == 0:
            return "limit-zero", "%s; %s is 0" % (note, t.limit_sysctl), None
        if name == "user" and policy and policy.get("unprivileged_userns_clone") == 0 and static.get("euid"):
            return "denied", "%s; kernel.unprivileged_userns_clone=0 and the caller is not root" % note, None
        if offline:
            return "unknown", "%s; the version gate and the config raise no objection" % note, None
        return "unknown", "%s; release, /proc entry, config and limit raise no objection" % note, None

    err = result["errno"]
    errname = result["errname"] or (str(err) if err is not None else None)
    via = " inside a new user namespace" if result.get("via_user_namespace") else ""

    def joined():
        return "; ".join(contradictions) if contradictions else None

    if result["ok"]:
        cap = result.get("capability")
        if name == "user" and cap is not None and not cap.get("ok") and cap.get("errno") == _errno.ENOSPC:
            return (
                "unknown",
                "a user namespace was created, but no namespace was left to use a capability in "
                "(%s: ENOSPC), so its capabilities could not be tested" % cap.get("action"),
                None,
            )
        if name == "user" and cap is not None and not cap.get("ok"):
            return (
                "denied",
                "a user namespace was created but using a capability inside it failed "
                "(%s: %s): an LSM policy such as kernel.apparmor_restrict_unprivileged_userns strips "
                "capabilities from new user namespaces" % (cap.get("action"), cap.get("errname")),
                None,
            )
        if not gate:
            contradictions.append(
                "release %s is below %s's first kernel %s, yet a %s namespace was created: "
                "the live probe wins (backport, or a misleading release string)" % (rel, name, first, name)
            )
        if entry_missing:
            contradictions.append("/proc/self/ns/%s is missing, yet creation worked" % t.proc_entry)
        if config_unset:
            contradictions.append(
                "the kernel config says %s is not set, yet creation worked (config file "
                "of another build?)" % t.config_option
            )
        if limit == 0:
            contradictions.append("%s reads 0, yet creation worked" % t.limit_sysctl)
        if name == "user" and cap is not None:
            via += " and %s worked inside it" % cap.get("action")
        return "supported", "a new %s namespace was created just now%s" % (name, via), joined()

    if err == _errno.EINVAL:
        if not gate:
            return (
                "kernel-too-old",
                "release %s is below %s's first kernel %s and unshare(%s) gives EINVAL"
                % (rel, name, first, t.flag_name),
                None,
            )
        reason = "unshare(%s) gives EINVAL%s: the kernel was built without it" % (t.flag_name, via)
        if entry_missing:
            reason += "; /proc/self/ns/%s is missing" % t.proc_entry
        if config_unset:
            reason += "; %s is not set" % t.config_option
        if name == "user" and ".el7" in rel:
            reason += "; RHEL 7 before 7.4 needs user_namespace.enable=1 on the kernel command line"
        return "not-built", reason, None

    if err in (_errno.ENOSPC, _errno.EUSERS):
        if not gate:
            contradictions.append(
                "release %s is below %s's first kernel %s, yet the kernel counted a %s "
                "namespace against a limit" % (rel, name, first, name)
            )
        if result.get("stage") == "unshare-user":
            return (
                "denied",
                "an unprivileged caller needs a user namespace first, and creating one gave %s "
                "(user.max_user_namespaces=%s)" % (errname, policy.get("max_user_namespaces") if policy else None),
                joined(),
            )
        if limit == 0:
            reason = "%s is 0: unshare(%s)%s gives %s" % (t.limit_sysctl, t.flag_name, via, errname)
        else:
            reason = (
                "unshare(%s)%s gives %s while %s reads %s: the limit of an ancestor user namespace, "
                "this user's count, or the nesting depth (32) is exhausted"
                % (t.flag_name, via, errname, t.limit_sysctl, limit)
            )
        if name == "user" and ".el7" in rel:
            reason += "; RHEL 7 defaults user.max_user_namespaces to 0"
        return "limit-zero", reason, joined()

    if entry_missing or config_unset:
        what = ("/proc/self/ns/%s is missing" % t.proc_entry) if entry_missing else ("%s is not set" % t.config_option)
        return "not-built", "%s; the probe failed with %s" % (what, errname or result.get("stage")), None

    if err in (_errno.EPERM, _errno.EACCES):  # EACCES: some LSMs (SELinux) refuse that way
        if not gate and not static["entry_present"]:
            return (
                "kernel-too-old",
                "release %s is below %s's first kernel %s and no /proc entry exists; the "
                "probe was refused (%s), so it could not confirm" % (rel, name, first, errname),
                None,
            )
        if not gate:
            contradictions.append(
                "release %s is below %s's first kernel %s, but /proc/self/ns/%s exists"
                % (rel, name, first, t.proc_entry)
            )
        if result.get("stage") == "unshare-user":
            reason = (
                "an unprivileged caller needs a user namespace, and creating one was refused (%s): "
                "see userns_policy" % errname
            )
        elif name == "user":
            reason = (
                "unshare(CLONE_NEWUSER) gives %s: a sysctl (kernel.unprivileged_userns_clone), an LSM "
                "or a seccomp filter refuses user namespaces; see userns_policy" % errname
            )
        else:
            reason = (
                "unshare(%s)%s gives %s: no CAP_SYS_ADMIN in the owning user namespace, an LSM or a "
                "seccomp filter" % (t.flag_name, via, errname)
            )
        return "denied", reason, joined()

    detail = errname or (result.get("error") or "no result").splitlines()[-1][:200]
    if not gate:
        return (
            "kernel-too-old",
            "release %s is below %s's first kernel %s; the probe was inconclusive (%s)" % (rel, name, first, detail),
            None,
        )
    if err == _errno.ENOSYS:
        return "unknown", "unshare(2) gives ENOSYS: a seccomp filter or an emulated kernel", None
    return "unknown", "the probe failed at stage %s: %s" % (result.get("stage"), detail), None


def audit(
    types=None,
    release=None,
    probe=True,
    prober=None,
    proc="/proc",
    sys="/proc/sys",
    boot="/boot",
    machine=None,
    euid=None,
    offline=False,
):
    """Audit namespace support; returns the ansible_facts.nsverify structure.

    release: the running kernel's release (default uname -r); a malformed one raises ValueError.
    offline: audit an installed but not running kernel `release` from /boot/config-<release> only:
      nothing of the running kernel (/proc entries, limits, probes) is taken as its evidence.
    prober: callable(name, via_user_namespace=False, uid=None) -> result dict (default: live_prober).
    """
    names = catalog.validate_names(catalog.TYPE_NAMES if types is None else types)
    uname = os.uname()
    rel = kernel.parse_release(release if release is not None else uname.release)
    machine = machine or uname.machine
    prober = prober or live_prober
    exercised = bool(probe) and not offline
    euid = os.geteuid() if euid is None else euid

    if offline:
        config_path, options = read_boot_config(rel.raw, boot)
    else:
        config_path, options = kernel.read_config(rel.raw, proc=proc, boot=boot)

    privilege = read_privilege(proc, euid)
    policy = read_userns_policy(rel.raw, proc, sys)
    counts = count_namespaces(proc, names) if not offline else None
    if counts is not None:
        why = []
        if euid != 0:
            why.append("not root")
        if privilege["initial_user_ns"] is False:
            why.append("not in the initial user namespace")
        if counts["processes_unreadable"]:
            why.append("%d process(es) unreadable" % counts["processes_unreadable"])
        counts["lower_bound"] = bool(why) or counts["lower_bound"]
        counts["lower_bound_because"] = ", ".join(why) or None

    facts = {
        "kernel": {"release": rel.raw, "version": list(kernel.version_tuple(rel)), "machine": machine},
        "config": {"source": config_path},
        "privilege": privilege,
        "mode": "offline" if offline else ("live" if exercised else "static"),
        "types": {},
        "userns_policy": policy,
        "cgroup": read_cgroup(proc) if not offline else {"layout": None, "mounts": []},
        "headroom": None,
        "summary": {},
    }

    for name in names:
        t = catalog.get(name)
        entry_path = os.path.join(proc, "self", "ns", t.proc_entry)
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
            "version_gate": {"first_kernel": _v(t.first_kernel), "release_at_least": gate},
            "proc_entry": {
                "path": entry_path,
                "present": static["entry_present"],
                "inode": None if offline else _link_inode(entry_path),
                "expected_since": _v(PROC_ENTRY_SINCE[name]),
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
                "exists_since": _v(t.limit_since),
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

        result = None
        if exercised:
            result, direct = run_probes(name, prober)
            evidence["probe"] = dict(result, attempted=True)
            if direct is not None:
                evidence["probe"]["direct"] = {k: direct[k] for k in ("errno", "errname", "stage")}
        verdict, reason, contradiction = decide(name, rel, static, result, policy, exercised, offline)
        if verdict == "denied":
            evidence["policy"] = {
                k: policy[k]
                for k in (
                    "unprivileged_userns_clone",
                    "apparmor_restrict_unprivileged_userns",
                    "max_user_namespaces",
                    "cmdline",
                )
            }
        count = counts["counts"].get(name) if counts else None
        facts["types"][name] = {
            "verdict": verdict,
            "reason": reason,
            "control_id": controls.audit_control(name).id,
            "evidence": evidence,
            "contradiction": contradiction,
            "count": count,
            "limit": static["limit"],
        }

    _unprivileged_policy(facts, prober, exercised, euid)
    if counts is not None:
        facts["headroom"] = _headroom(facts["types"], counts)
    facts["summary"] = {v: [n for n in names if facts["types"][n]["verdict"] == v] for v in catalog.VERDICTS}
    return facts


def _unprivileged_policy(facts, prober, exercised, euid):
    """Can an unprivileged user create a user namespace and use a capability inside it?
    As root, the probe drops to nobody in the child; otherwise the caller is the subject."""
    policy = facts["userns_policy"]
    policy["unprivileged_can_create"] = None
    policy["unprivileged_can_use_capabilities"] = None
    policy["unprivileged_probe"] = None
    if not exercised:
        return
    if euid == 0 and facts["privilege"]["initial_user_ns"] is not False:
        subject = "uid %d (the probe child drops root's privileges)" % NOBODY_UID
        res = _normalise(prober("user", via_user_namespace=False, uid=NOBODY_UID), uid=NOBODY_UID)
    else:
        # a non-root caller, or root of a non-initial user namespace: the caller is the subject
        subject = "the caller (euid %d%s)" % (
            euid,
            "" if facts["privilege"]["initial_user_ns"] else ", not in the initial user namespace",
        )
        user = facts["types"].get("user")
        res = dict(user["evidence"]["probe"]) if user else _normalise(prober("user", via_user_namespace=False))
    policy["unprivileged_probe"] = {k: res.get(k) for k in ("ok", "stage", "errno", "errname", "capability", "as_uid")}
    policy["unprivileged_probe"]["subject"] = subject
    if res.get("stage") == "setuid":
        policy["notes"].append(
            "could not switch to uid %d here (%s): unprivileged policy not exercised" % (NOBODY_UID, res.get("errname"))
        )
        return
    policy["unprivileged_can_create"] = bool(res.get("ok"))
    cap = res.get("capability")
    policy["unprivileged_can_use_capabilities"] = bool(res.get("ok") and cap and cap.get("ok"))
    if res.get("ok") and cap and not cap.get("ok"):
        policy["notes"].append(
            "an unprivileged user namespace is created without usable capabilities (%s: %s)"
            % (cap.get("action"), cap.get("errname"))
        )
    elif not res.get("ok"):
        policy["notes"].append("an unprivileged user cannot create a user namespace (%s)" % res.get("errname"))


def _headroom(types, counts):
    rows = {}
    for name, entry in types.items():
        count, limit = entry["count"], entry["limit"]
        rows[name] = {
            "count": count,
            "limit": limit,
            "headroom": (limit - count) if (count is not None and limit is not None) else None,
        }
    return {
        "control_id": "NS-KRN-010",
        "lower_bound": counts["lower_bound"],
        "processes_unreadable": counts["processes_unreadable"],
        "nsfs_mounts": counts["nsfs_mounts"],
        "note": (
            "counts are distinct namespaces seen in /proc/*/ns and nsfs bind mounts%s; a limit applies per "
            "user within each user namespace, so headroom is a conservative estimate"
            % (
                " (a lower bound: %s)" % (counts.get("lower_bound_because") or "no process was readable")
                if counts["lower_bound"]
                else ""
            )
        ),
        "types": rows,
    }
