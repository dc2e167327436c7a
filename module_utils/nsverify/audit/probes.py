"""The audit's live attempt: create a namespace of one type now, in a forked child.

The attempt never raises: it returns the stage that failed and the errno, which
audit.verdicts turns into a verdict. A `prober` is any callable
prober(name, via_user_namespace=False, uid=None) -> result; simulated kernels in the
tests feed errnos that way, and live_prober really forks (probe.run).
"""

from __future__ import annotations

import errno as _errno
import os

from ansible.module_utils.nsverify import catalog, probe, syscalls

NOBODY_UID = 65534
PROBE_TIMEOUT = 10.0

# Namespaces of pid and time apply to children: unshare(2) creates the namespace at once
# and shows it in <entry>_for_children (4.12+), while /proc/self/ns/<entry> stays put.
FOR_CHILDREN = {"pid": "pid_for_children", "time": "time_for_children"}


def _ns_inode(entry):
    try:
        return os.stat(os.path.join("/proc/self/ns", entry)).st_ino
    except OSError:
        return None


def _failure(action, exc):
    return {"ok": False, "action": action, "errno": exc.errno, "errname": syscalls.errno_name(exc.errno)}


def use_capability():
    """Exercise CAP_SYS_ADMIN inside the user namespace we are in: a new UTS namespace and
    sethostname() there; if the uts limit is exhausted, a private mount namespace and a tmpfs.
    Under Ubuntu's apparmor_restrict_unprivileged_userns this fails with EPERM although the
    user namespace itself was created."""
    action = "unshare(CLONE_NEWUTS) + sethostname()"
    try:
        syscalls.unshare(catalog.CLONE_NEWUTS)
        syscalls.sethostname("nsv-audit")
        return {"ok": True, "action": action, "errno": None, "errname": None}
    except OSError as exc:
        if exc.errno != _errno.ENOSPC:
            return _failure(action, exc)
    action = "unshare(CLONE_NEWNS) + mount tmpfs"
    try:
        syscalls.unshare(catalog.CLONE_NEWNS)
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
        target = next(d for d in ("/tmp", "/mnt", "/run", "/") if os.path.isdir(d))
        syscalls.mount("nsv-audit", target, "tmpfs", 0, "size=16k")
        return {"ok": True, "action": action, "errno": None, "errname": None}
    except OSError as exc:
        return _failure(action, exc)


def _become(uid):
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _first_process():
    # pid_for_children stays unreadable until the new namespace has its PID 1: make one
    try:
        child = os.fork()
    except OSError:
        return  # the namespace exists all the same; only the inode evidence is lost
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)


def attempt(name, via_user_namespace, uid):
    """Runs in the forked child: optionally become `uid`, optionally enter a new user
    namespace, then unshare the type. Never raises: returns what happened."""
    t = catalog.get(name)
    out = {"stage": None, "errno": None, "errname": None, "new_namespace": None, "capability": None}
    stage = None
    try:
        if uid is not None:
            stage = "setuid"
            _become(uid)
        if via_user_namespace:
            stage = "unshare-user"
            syscalls.unshare(catalog.CLONE_NEWUSER)
        entry = FOR_CHILDREN.get(name, t.proc_entry)
        before = _ns_inode(entry)
        stage = "unshare"
        syscalls.unshare(t.flag)
    except OSError as exc:
        out.update(stage=stage, errno=exc.errno, errname=syscalls.errno_name(exc.errno), error=str(exc))
        return out
    if name == "pid":
        _first_process()
    after = _ns_inode(entry)
    out["new_namespace"] = None if before is None or after is None else before != after
    if name == "user":
        out["capability"] = use_capability()
    return out


def live_prober(name, via_user_namespace=False, uid=None, timeout=PROBE_TIMEOUT):
    """Try to create a namespace of type `name` now, in a forked child (probe.run).

    Returns {ok, stage, errno, errname, error, new_namespace, capability, via_user_namespace,
    as_uid}: ok means unshare(2) succeeded (for the user type the capability use is reported
    separately under `capability`)."""
    res = probe.run(attempt, args=(name, via_user_namespace, uid), fork=False, timeout=timeout)
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


def normalise(res, via_user_namespace=False, uid=None):
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
    direct = normalise(prober(name, via_user_namespace=False))
    if retry_via_user and name != "user" and not direct["ok"] and direct["errno"] == _errno.EPERM:
        return normalise(prober(name, via_user_namespace=True), via_user_namespace=True), direct
    return direct, None
