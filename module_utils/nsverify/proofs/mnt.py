"""Mount proof (NS-MNT-001..005).

001: a tmpfs mounted inside (source nsv-src-<tok>) is in the inside's mountinfo, and neither
     in the host's mountinfo nor its marker file visible at the same path on the host. A fresh
     inside makes its tree private first, as unshare(1) does: a copy of a shared tree is in the
     same peer group and would propagate (mount_namespaces(7)).
002-005: the propagation types between two mount namespaces, "outer" (a private copy of the
     target's tree, so neither the host nor the target is touched) and "inner" (unshared from
     outer), on tmpfs mounts under a /tmp/nsv-mnt-* directory:
       private     mounts cross in neither direction
       shared      mounts cross in both directions
       slave       outer -> inner only
       unbindable  a bind mount of it is refused (EINVAL), while a bind of a private one works;
                   it propagates in neither direction (its copy in a new namespace is private)
"""

from __future__ import annotations

import os
import tempfile

from ansible.module_utils.nsverify import catalog, probe, procfs, syscalls
from ansible.module_utils.nsverify.proofs import base

TYPE = "mnt"
CONTROL_IDS = ("NS-MNT-001", "NS-MNT-002", "NS-MNT-003", "NS-MNT-004", "NS-MNT-005")
KERNEL_CHECKS = ("NS-MNT-002", "NS-MNT-003", "NS-MNT-004", "NS-MNT-005")  # namespaces made here (foreign.py)
KINDS = ("private", "shared", "slave", "unbindable")
KIND_FLAGS = {
    "private": syscalls.MS_PRIVATE,
    "shared": syscalls.MS_SHARED,
    "slave": syscalls.MS_SHARED,  # shared in outer; inner turns its copy into a slave
    "unbindable": syscalls.MS_UNBINDABLE,
}
EXPECTED = {  # (outer mount seen inner, inner mount seen outer)
    "private": (False, False),
    "shared": (True, True),
    "slave": (True, False),
    "unbindable": (False, False),
}
CONTROL_OF = {"private": "NS-MNT-002", "shared": "NS-MNT-003", "slave": "NS-MNT-004", "unbindable": "NS-MNT-005"}


def _tmpfs(source, target):
    syscalls.mount(source, target, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV, "size=64k,mode=0755")


def _mounted(source, mount_point):
    return any(m["source"] == source and m["mount_point"] == mount_point for m in base.read_mountinfo())


def _propagation_tag(mount_point):
    for m in base.read_mountinfo():
        if m["mount_point"] == mount_point:
            return m["optional"]
    return None


# ---------------------------------------------------------------- 001
def _inside(rendezvous, where, source, fresh):
    if fresh:
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
    made = []  # where and its missing parents: in a joined target's own filesystem, removed again
    d = where
    while not os.path.isdir(d):
        made.append(d)
        d = os.path.dirname(d)
    for d in reversed(made):
        os.mkdir(d, 0o755)
    _tmpfs(source, where)
    try:
        with open(os.path.join(where, "marker"), "w") as fh:
            fh.write(source)
        # The /proc of a joined mount namespace may belong to another PID namespace (a
        # container's): the host reads our mountinfo through its own /proc instead.
        rendezvous({"pid": os.getpid(), "inside_marker": os.path.exists(os.path.join(where, "marker"))})
    finally:
        syscalls.umount2(where, syscalls.MNT_DETACH)
        for d in made:
            os.rmdir(d)
    return {"unmounted_inside": not os.path.exists(os.path.join(where, "marker"))}


# ---------------------------------------------------------------- 002-005
def _inner(chan, scratch, tok):
    """The inner namespace, spawned by outer into a new mount namespace: a slave of outer's
    slave mount; reports what it sees of outer's mounts and stays until outer has looked at its own."""
    syscalls.mount(None, os.path.join(scratch, "slave"), None, syscalls.MS_SLAVE)
    inner_tags = dict((k, _propagation_tag(os.path.join(scratch, k))) for k in KINDS)
    chan.ready()
    if (chan.recv() or {}).get("mounted") is not True:
        return {}
    seen = dict((k, _mounted("nsv-o-%s-%s" % (k, tok), os.path.join(scratch, k, "o"))) for k in KINDS)
    for k in KINDS:
        _tmpfs("nsv-i-%s-%s" % (k, tok), os.path.join(scratch, k, "i"))
    chan.send({"inner_tags": inner_tags, "seen_from_outer": seen})
    chan.recv()  # outer has looked (EOF)
    return {}


def _propagation(where, tok):
    """The outer namespace (a private copy): set up, fork inner, mount, compare. The directories it makes
    for `where` are in the target's own filesystem (a joined target's, e.g. a container's upper layer):
    removed again, once its mounts are detached, whatever the outcome."""
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
    if not os.path.exists("/proc/self/mountinfo"):
        # the copied tree's /proc is another PID namespace's (a container's): mount our own,
        # in this private copy only
        syscalls.mount("proc", "/proc", "proc", syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC)
    made = []
    d = where
    while not os.path.isdir(d):
        made.append(d)
        d = os.path.dirname(d)
    if made and d != "/":
        # a tmpfs over the nearest directory that exists (this private copy only): what follows is made on
        # it, not in the target's filesystem (an overlay would keep even a copied-up parent directory)
        _tmpfs("nsv-base-%s" % tok, d)
    for d in reversed(made):
        os.mkdir(d, 0o755)
    try:
        return _propagation_on(where, tok)
    finally:
        try:
            syscalls.umount2(where, syscalls.MNT_DETACH)
        except OSError:
            pass
        for d in made:
            try:
                os.rmdir(d)
            except OSError:
                pass


def _propagation_on(where, tok):
    _tmpfs("nsv-scratch-%s" % tok, where)
    for k in KINDS:
        d = os.path.join(where, k)
        os.mkdir(d)
        _tmpfs("nsv-%s-%s" % (k, tok), d)
        os.mkdir(os.path.join(d, "o"))
        os.mkdir(os.path.join(d, "i"))
        syscalls.mount(None, d, None, KIND_FLAGS[k])
        os.mkdir(os.path.join(where, "bind-%s" % k))
    outer_tags = dict((k, _propagation_tag(os.path.join(where, k))) for k in KINDS)
    # Where it is marked: a copy in a new namespace is no longer unbindable, only private.
    bind = {}
    for k in ("unbindable", "private"):
        dest = os.path.join(where, "bind-%s" % k)
        try:
            syscalls.mount(os.path.join(where, k), dest, None, syscalls.MS_BIND)
            bind[k] = "ok"
            syscalls.umount2(dest, syscalls.MNT_DETACH)
        except OSError as exc:
            bind[k] = syscalls.errno_name(exc.errno)
    with probe.spawn(_inner, args=(where, tok), unshare=catalog.CLONE_NEWNS) as child:
        base.await_ready(child, catalog.CLONE_NEWNS, "inner mount namespace")
        for k in KINDS:
            _tmpfs("nsv-o-%s-%s" % (k, tok), os.path.join(where, k, "o"))
        child.send({"mounted": True})
        report = child.recv() or {"error": "no report"}
        inner = {"error": report["error"]} if "error" in report else report
        seen_in_outer = dict((k, _mounted("nsv-i-%s-%s" % (k, tok), os.path.join(where, k, "i"))) for k in KINDS)
    return {"outer_tags": outer_tags, "inner": inner, "bind": bind, "inner_mounts_seen_by_outer": seen_in_outer}


def prove(ctx):
    tok = base.token()
    workdir = tempfile.mkdtemp(prefix="nsv-mnt-", dir="/tmp")
    os.chmod(workdir, 0o755)
    try:
        where = os.path.join(workdir, "m")
        os.mkdir(where)
        source = "nsv-src-%s" % tok

        def host_look(data):
            seen = dict(data)
            seen.update(
                inside_mount_points=base.mounts_with_source(base.read_mountinfo(data["pid"]), source),
                inside_inode=os.stat(procfs.ns_path(data["pid"], "mnt")).st_ino,
                host_mount_points=base.mounts_with_source(base.read_mountinfo(), source),
                host_marker=os.path.exists(os.path.join(where, "marker")),
                host_inode=base.own_inode(TYPE),
            )
            return seen

        res, host = base.held(_inside, host_look, args=(where, source, ctx.target.fresh), **ctx.options_for(TYPE))
        value = base.require_ok(res, "mount probe")
        if host is None:
            raise base.ProbeFailed(res, "mount probe never reached its rendezvous")
        host.update(value, source=source, mount_point=where)
        ok1 = (
            where in host["inside_mount_points"]
            and host["inside_marker"]
            and not host["host_mount_points"]
            and not host["host_marker"]
        )
        ctx.add(base.check("NS-MNT-001", ok1, host))

        opts = ctx.options_for(TYPE, extra_unshare=catalog.CLONE_NEWNS if not ctx.target.fresh else 0)
        pres = base.run_probe(_propagation, args=(os.path.join(workdir, "p"), tok), **opts)
        prop = base.require_ok(pres, "propagation probe")
        inner = prop["inner"]
        if "error" in inner:
            raise base.ProbeFailed({"error": inner["error"], "stage": "run"}, "inner mount namespace")
        for k in KINDS:
            got = (inner["seen_from_outer"][k], prop["inner_mounts_seen_by_outer"][k])
            ev = {
                "propagation": k,
                "outer_tag": prop["outer_tags"][k],
                "inner_tag": inner["inner_tags"][k],
                "outer_mount_seen_inner": got[0],
                "inner_mount_seen_outer": got[1],
                "expected": list(EXPECTED[k]),
            }
            ok = got == EXPECTED[k]
            if k == "unbindable":
                ev["bind_unbindable"] = prop["bind"].get("unbindable")
                ev["bind_private_control"] = prop["bind"].get("private")
                ok = ok and ev["bind_unbindable"] == "EINVAL" and ev["bind_private_control"] == "ok"
            ctx.add(base.check(CONTROL_OF[k], ok, ev))
    finally:
        for d in (os.path.join(workdir, "m"), os.path.join(workdir, "p"), workdir):
            try:
                os.rmdir(d)
            except OSError:
                pass
