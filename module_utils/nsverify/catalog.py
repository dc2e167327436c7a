"""The eight Linux namespace types as data: the one source of truth.

Every module, role, test and report reads type facts from here. Facts follow
namespaces(7), unshare(2), setns(2) and user_namespaces(7).
"""

from __future__ import annotations

import errno as _errno
from collections import OrderedDict, namedtuple

# flag values from <linux/sched.h>
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

NamespaceType = namedtuple(
    "NamespaceType",
    [
        "name",  # our name and the key everywhere: mnt uts ipc pid net user cgroup time
        "flag",  # CLONE_NEW* value for unshare(2)/setns(2)
        "flag_name",  # the constant's name, for evidence
        "proc_entry",  # entry under /proc/<pid>/ns/
        "first_kernel",  # (major, minor, patch) where the type became usable
        "config_option",  # kernel config option, None where there is none (mnt)
        "limit_sysctl",  # user.max_<type>_namespaces
        "limit_since",  # kernel that added /proc/sys/user/max_<type>_namespaces
        "setns_since",  # kernel from which setns(2) into this type works
        "unshare_option",  # util-linux unshare(1)/nsenter(1) long option
        "control_prefix",  # stable control-ID prefix, e.g. NS-PID
        "title",
    ],
)

_TYPES = (
    NamespaceType(
        "mnt",
        CLONE_NEWNS,
        "CLONE_NEWNS",
        "mnt",
        (2, 4, 19),
        None,
        "user.max_mnt_namespaces",
        (4, 9, 0),
        (3, 8, 0),
        "mount",
        "NS-MNT",
        "Mount",
    ),
    NamespaceType(
        "uts",
        CLONE_NEWUTS,
        "CLONE_NEWUTS",
        "uts",
        (2, 6, 19),
        "CONFIG_UTS_NS",
        "user.max_uts_namespaces",
        (4, 9, 0),
        (3, 0, 0),
        "uts",
        "NS-UTS",
        "UTS (hostname)",
    ),
    NamespaceType(
        "ipc",
        CLONE_NEWIPC,
        "CLONE_NEWIPC",
        "ipc",
        (2, 6, 19),
        "CONFIG_IPC_NS",
        "user.max_ipc_namespaces",
        (4, 9, 0),
        (3, 0, 0),
        "ipc",
        "NS-IPC",
        "IPC",
    ),
    NamespaceType(
        "pid",
        CLONE_NEWPID,
        "CLONE_NEWPID",
        "pid",
        (2, 6, 24),
        "CONFIG_PID_NS",
        "user.max_pid_namespaces",
        (4, 9, 0),
        (3, 8, 0),
        "pid",
        "NS-PID",
        "PID",
    ),
    # Network namespaces appeared in 2.6.24 but were only complete in 2.6.29 (namespaces(7)).
    NamespaceType(
        "net",
        CLONE_NEWNET,
        "CLONE_NEWNET",
        "net",
        (2, 6, 29),
        "CONFIG_NET_NS",
        "user.max_net_namespaces",
        (4, 9, 0),
        (3, 0, 0),
        "net",
        "NS-NET",
        "Network",
    ),
    NamespaceType(
        "user",
        CLONE_NEWUSER,
        "CLONE_NEWUSER",
        "user",
        (3, 8, 0),
        "CONFIG_USER_NS",
        "user.max_user_namespaces",
        (4, 9, 0),
        (3, 8, 0),
        "user",
        "NS-USER",
        "User",
    ),
    NamespaceType(
        "cgroup",
        CLONE_NEWCGROUP,
        "CLONE_NEWCGROUP",
        "cgroup",
        (4, 6, 0),
        "CONFIG_CGROUPS",
        "user.max_cgroup_namespaces",
        (4, 9, 0),
        (4, 6, 0),
        "cgroup",
        "NS-CGROUP",
        "Cgroup",
    ),
    # Time namespaces: 5.6; max_time_namespaces 5.7; setns(2) into one needs 5.8.
    NamespaceType(
        "time",
        CLONE_NEWTIME,
        "CLONE_NEWTIME",
        "time",
        (5, 6, 0),
        "CONFIG_TIME_NS",
        "user.max_time_namespaces",
        (5, 7, 0),
        (5, 8, 0),
        "time",
        "NS-TIME",
        "Time",
    ),
)

TYPES = OrderedDict((t.name, t) for t in _TYPES)
TYPE_NAMES = tuple(TYPES)

# setns(2) order when joining several at once: the user namespace first, so that
# the capabilities it grants apply to the others; mnt last but before pid/time,
# whose effect is only on children (namespaces(7), nsenter(1)).
JOIN_ORDER = ("user", "cgroup", "ipc", "uts", "net", "mnt", "pid", "time")

# Verdict vocabulary, shared by the audit, the proofs and the reports.
VERDICTS = ("supported", "kernel-too-old", "not-built", "limit-zero", "denied", "unknown")


def get(name):
    """Return the NamespaceType called `name`; raise ValueError naming the valid choices."""
    try:
        return TYPES[name]
    except KeyError:
        raise ValueError("unknown namespace type %r: choose from %s" % (name, ", ".join(TYPE_NAMES)))


def validate_names(names):
    """Return `names` as a list in catalogue order; raise ValueError on any unknown name."""
    names = list(names)
    unknown = [n for n in names if n not in TYPES]
    if unknown:
        raise ValueError(
            "unknown namespace type(s) %s: choose from %s"
            % (", ".join(repr(n) for n in unknown), ", ".join(TYPE_NAMES))
        )
    return [n for n in TYPE_NAMES if n in names]


def flags_for(names):
    """OR of the CLONE_NEW* flags of the named types."""
    value = 0
    for n in names:
        value |= get(n).flag
    return value


def version_string(version):
    return ".".join(str(p) for p in version)


# ---------------------------------------------------------------- errno -> verdict: the one table
# What an errno from creating (unshare/clone) or joining (setns) a namespace means, for the
# audit, the proofs, named namespaces and the container alike (unshare(2), setns(2),
# user_namespaces(7)). EUSERS is what kernels before 4.9 returned for the user-namespace
# nesting limit; ENOSPC is a user.max_<type>_namespaces limit (or the nesting depth, 32).
ERRNO_VERDICTS = (
    (
        _errno.EPERM,
        "denied",
        "not permitted: no CAP_SYS_ADMIN in the owning user namespace, an LSM or sysctl policy, or a seccomp filter",
    ),
    (_errno.EACCES, "denied", "refused by an LSM (SELinux refuses with EACCES)"),
    (_errno.ENOSPC, "limit-zero", "a user.max_<type>_namespaces limit (or the nesting depth of 32) is reached"),
    (_errno.EUSERS, "limit-zero", "the user-namespace nesting limit is reached (EUSERS, kernels before 4.9)"),
    (_errno.EINVAL, "not-built", "the kernel was built without this namespace type"),
)
_ERRNO_VERDICT = {e: (v, why) for e, v, why in ERRNO_VERDICTS}
# EINVAL only means "not built" where the call itself names the type; elsewhere (a write to a
# /proc file, a mount) it is a bad argument.
_NOT_BUILT_STAGES = (None, "unshare", "setns", "clone", "unshare-user")


def verdict_for_errno(err, stage=None):
    """The support verdict (VERDICTS) that an errno from unshare/setns/clone stands for."""
    verdict, _unused = _ERRNO_VERDICT.get(err, ("unknown", None))
    if verdict == "not-built" and stage not in _NOT_BUILT_STAGES:
        return "unknown"
    return verdict


def errno_meaning(err, type_name=None, limit=None):
    """Words for people: what the errno of a refused namespace means and what to do."""
    verdict = verdict_for_errno(err)
    if verdict == "limit-zero" and type_name:
        sysctl = get(type_name).limit_sysctl
        if limit == 0:
            return "%s is 0: raise it (sysctl -w %s=N)" % (sysctl, sysctl)
        return (
            "%s reads %s; the limit of an ancestor user namespace, this user's count or the nesting depth (32) "
            "is exhausted" % (sysctl, "unreadable" if limit is None else limit)
        )
    if verdict == "not-built" and type_name:
        return "the kernel is built without it (%s)" % (get(type_name).config_option or "no config option")
    if verdict in ("denied", "limit-zero", "not-built"):
        return _ERRNO_VERDICT[err][1]
    if err == _errno.ENOSYS:
        return "the syscall is not implemented: a seccomp filter or an emulated kernel"
    return "see unshare(2) and setns(2)"
