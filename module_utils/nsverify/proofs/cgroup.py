"""Cgroup proof (NS-CGROUP-001): inside a new cgroup namespace the own cgroup reads as /,
while the host sees the real path; a cgroup hierarchy mounted from inside is rooted at the
namespace's root.

The probe first moves itself into a fresh nsv-proof-<tok> cgroup, so that its real path is not
"/" already: at the root of the cgroup2 hierarchy (on a hybrid host the one at
/sys/fs/cgroup/unified), or on a pure cgroup v1 host at the root of one v1 hierarchy (a named
one such as name=systemd first, then one whose controller does not get in the way: never
cpuset, whose new cgroups take no task until cpus and mems are set). Then it unshares (or
joins) the cgroup namespace and reads /proc/self/cgroup; the host reads /proc/<pid>/cgroup of
the same process. In a fresh namespace the probe also mounts that hierarchy again in a private
mount namespace of its own: the mount's root (mountinfo) reads "/", its directory is the scratch
cgroup (same inode as the host sees) and not the hierarchy's root, while the host's mount of the
hierarchy reads as "/.." from inside. The nsv cgroup is removed afterwards. Without the right to
create cgroups (no root) the current cgroups are used: any hierarchy (v2 or v1) whose real path
is not "/" can show the difference.
"""

from __future__ import annotations

import os
import time

from ansible.module_utils.nsverify import catalog, cgroups, procfs, syscalls
from ansible.module_utils.nsverify.proofs import base

TYPE = "cgroup"
CONTROL_IDS = ("NS-CGROUP-001",)
# v1 hierarchies to make the scratch cgroup in, best first: no controller at all, then controllers
# whose defaults leave a new child cgroup as it was; cpuset is never used (see above)
V1_PREFERENCE = ("pids", "freezer", "devices", "perf_event", "net_cls", "blkio", "cpu", "memory")


def v2_path(entries):
    for e in entries:
        if e["id"] == 0 and e["controllers"] == "":
            return e["path"]
    return None


def cgroup2_mount(mounts):
    """The mount point of the cgroup2 hierarchy (pure v2: /sys/fs/cgroup; hybrid: .../unified)."""
    for m in mounts:
        if m["fstype"] == "cgroup2" and m["root"] == "/":
            return m["mount_point"]
    return None


def v1_mount(mounts):
    """(mount point, mount options) of the v1 hierarchy for the scratch cgroup, or None: only mounts
    of a hierarchy's root; the options name its controllers (or none,name=X), as a mount must."""
    choices = []
    for d in cgroups.describe_mounts([m for m in mounts if m["fstype"] != "cgroup" or m["root"] == "/"]):
        ctrls = d.get("controllers") or []
        if d["version"] != 1 or not ctrls or "cpuset" in ctrls:
            continue
        named = [c for c in ctrls if c.startswith("name=")]
        rank = (
            -1
            if named and len(ctrls) == 1
            else min(V1_PREFERENCE.index(c) if c in V1_PREFERENCE else 99 for c in ctrls)
        )
        opts = ",".join((["none"] if named and len(ctrls) == 1 else []) + ctrls)
        choices.append((rank, d["mount_point"], opts))
    return min(choices)[1:] if choices else None


def scratch_spec(mounts):
    """Where the scratch cgroup goes: {version, mount_point, fstype, options}, or None."""
    mount = cgroup2_mount(mounts)
    if mount:
        return {"version": 2, "mount_point": mount, "fstype": "cgroup2", "options": None}
    v1 = v1_mount(mounts)
    if v1:
        return {"version": 1, "mount_point": v1[0], "fstype": "cgroup", "options": v1[1]}
    return None


def mount_root(mount_point):
    """The root field of the last mount at mount_point in our mountinfo (the one on top)."""
    roots = [m["root"] for m in base.read_mountinfo() if m["mount_point"] == mount_point]
    return roots[-1] if roots else None


def mount_view(spec):
    """Inside the new cgroup namespace: mount the scratch's hierarchy again, in a private mount
    namespace of this probe only. Never raises: a refused mount is evidence, not a failed proof."""
    at = spec["mount_point"]
    out = {"mount_point": at, "fstype": spec["fstype"], "options": spec["options"], "inherited_root": mount_root(at)}
    try:
        syscalls.unshare(catalog.CLONE_NEWNS)
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
        # the kernel refuses a superblock on top of its own mount root (EBUSY, do_add_mount): cover it first
        syscalls.mount("nsv-cgroup-cover", at, "tmpfs", 0, "size=4k,mode=755")
        syscalls.mount("nsv-cgroup", at, spec["fstype"], 0, spec["options"])
    except OSError as exc:
        out["error"] = syscalls.errno_name(exc.errno)
        return out
    with open(os.path.join(at, "cgroup.procs")) as fh:
        procs = [int(p) for p in fh.read().split()]
    out.update(root=mount_root(at), inode=os.stat(at).st_ino, procs=procs)
    return out


def _inside(rendezvous, procs_file, join_path, spec):
    moved = None
    if procs_file:
        with open(procs_file, "w") as fh:
            fh.write("0\n")  # "0" moves the writing process (v2 cgroup-v2.rst; v1 the same)
        moved = procs_file
    before = procfs.read_cgroup("self")
    # Made here, after the move, not at probe.run's unshare stage: a refusal (ENOSPC when
    # user.max_cgroup_namespaces is 0) still comes back as one, with its verdict.
    if join_path:
        base.setns_or_refuse(join_path, TYPE)
    else:
        base.unshare_or_refuse(catalog.CLONE_NEWCGROUP)
    inside = procfs.read_cgroup("self")
    data = {
        "pid": os.getpid(),
        "moved_into": moved,
        "before_unshare": before,
        "inside_view": inside,
        "inside_inode": os.stat(procfs.ns_path("self", "cgroup")).st_ino,
    }
    if spec and not join_path:
        data["mount_view"] = mount_view(spec)
    rendezvous(data)
    return {}


def scratch_cgroup(own, mounts=None):
    """(scratch, note): a fresh cgroup for the probe to move into, so that its path is not / on the
    host (scratch: {path, procs, version, mount_point, fstype, options}, or None: use the current
    cgroups); ProofSkip when neither it nor ours will do."""
    spec = scratch_spec(base.read_mountinfo() if mounts is None else mounts)
    scratch = note = None
    if spec:
        path = os.path.join(spec["mount_point"], "nsv-proof-%s" % base.token())
        try:
            os.mkdir(path)
            scratch = dict(spec, path=path, procs=os.path.join(path, "cgroup.procs"))
        except OSError as exc:
            note = "could not create %s (%s): using the current cgroup" % (path, syscalls.errno_name(exc.errno))
    if scratch is None and all(e["path"] == "/" for e in own):
        raise base.ProofSkip(
            "denied" if note else "unknown",
            "this process is in the root cgroup of every hierarchy and cannot create "
            "one (%s): the proof needs a cgroup whose path is not /" % (note or "no cgroup hierarchy to make one in"),
        )
    return scratch, note


def remove_cgroup(path):
    deadline = time.monotonic() + 1.0  # the probe's exit frees the cgroup a moment later
    delay = 0.0005
    while True:
        try:
            os.rmdir(path)
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.02)


def _observe(ctx, scratch):
    """The inside's and the host's view of the probe's cgroups, while the probe holds them."""

    def host_look(data):
        seen = dict(data)
        seen["host_view"] = procfs.read_cgroup(data["pid"])
        seen["host_inode"] = base.own_inode(TYPE)
        if scratch:
            seen["scratch_inode"] = os.stat(scratch["path"]).st_ino
            seen["hierarchy_root_inode"] = os.stat(scratch["mount_point"]).st_ino
        return seen

    opts = {"timeout": ctx.timeout, "unshare": 0}
    if ctx.rootless and ctx.target.fresh:
        opts["unshare"] = catalog.CLONE_NEWUSER
        opts["uid_map"], opts["gid_map"] = ctx.self_map()
    join = ctx.target.join(TYPE)
    if not ctx.target.fresh and not join:
        join_path = procfs.ns_path("self", "cgroup")  # shared with the engine: joining changes nothing
    else:
        join_path = join.get(TYPE)
    procs_file = scratch["procs"] if scratch else None
    spec = {k: scratch[k] for k in ("mount_point", "fstype", "options")} if scratch else None
    res, host = base.held(_inside, host_look, args=(procs_file, join_path, spec), **opts)
    base.require_ok(res, "cgroup probe")
    if host is None:
        raise base.ProbeFailed(res, "cgroup probe never reached its rendezvous")
    return host


def judge_mount_view(host):
    """(shown, reason): the hierarchy mounted inside is rooted at the scratch cgroup, the namespace's
    root (True); rooted elsewhere (False); or not tried / refused (None)."""
    view = host.get("mount_view")
    if not view or view.get("error"):
        return None, None
    if view["root"] == "/" and view["inode"] == host["scratch_inode"] != host["hierarchy_root_inode"]:
        return True, None
    where = "the hierarchy's root" if view["inode"] == host["hierarchy_root_inode"] else "inode %s" % view["inode"]
    return False, "the %s hierarchy mounted inside shows root %r at %s, not the scratch cgroup (inode %s)" % (
        view["fstype"],
        view["root"],
        where,
        host["scratch_inode"],
    )


def prove(ctx):
    scratch, note = scratch_cgroup(procfs.read_cgroup("self"))
    try:
        host = _observe(ctx, scratch)
    finally:
        if scratch:
            remove_cgroup(scratch["path"])
    inside_v2, host_v2 = v2_path(host["inside_view"]), v2_path(host["host_view"])
    inside = dict(("%d:%s" % (e["id"], e["controllers"]), e["path"]) for e in host["inside_view"])
    outside = dict(("%d:%s" % (e["id"], e["controllers"]), e["path"]) for e in host["host_view"])
    # hierarchies where the real path is not / are the ones that can show the difference
    witnesses = sorted(k for k, p in outside.items() if p != "/")
    mounted, reason = judge_mount_view(host) if ctx.target.fresh else (None, None)
    if ctx.target.fresh:
        ok = bool(witnesses) and all(p == "/" for p in inside.values()) and mounted is not False
        if not ok and reason is None:
            reason = "inside, /proc/self/cgroup reads %s; the host sees %s" % (inside, outside)
    else:
        # a joined namespace's root is wherever its creator was: the view must differ from the host's
        # (rooted at a hierarchy's root it hides nothing there; one hierarchy that reads
        # differently is enough to show the namespace is not the host's)
        ok = any(inside.get(k) != outside[k] for k in witnesses)
    if not ok and not ctx.target.fresh:
        reason = (
            "inside and host read the same cgroup paths in every hierarchy: the target's cgroup "
            "namespace is rooted where the host's is, so it hides nothing"
        )
    evidence = {
        "cgroup_created": scratch["path"] if scratch else None,
        "scratch_version": scratch["version"] if scratch else None,
        "note": note,
        "v2_inside": inside_v2,
        "v2_host": host_v2,
        "witness_hierarchies": witnesses,
        "same_on_both_sides": sorted(k for k in witnesses if inside.get(k) == outside[k]),
        "inside_view": inside,
        "host_view": outside,
        "inside_inode": host["inside_inode"],
        "host_inode": host["host_inode"],
        "mount_view": dict(
            host.get("mount_view") or {},
            shown=mounted,
            scratch_inode=host.get("scratch_inode"),
            hierarchy_root_inode=host.get("hierarchy_root_inode"),
        )
        if host.get("mount_view")
        else None,
    }
    ctx.add(base.check("NS-CGROUP-001", ok, reason=reason, evidence=evidence))
