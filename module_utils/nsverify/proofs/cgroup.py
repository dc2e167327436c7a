"""Cgroup proof (NS-CGROUP-001): inside a new cgroup namespace the own cgroup reads as /,
while the host sees the real path.

The probe first moves itself into a fresh nsv-proof-<tok> cgroup at the root of the cgroup2
hierarchy (on a hybrid host the one at /sys/fs/cgroup/unified), so that its real path is not
"/" already, then unshares (or joins) the cgroup namespace and reads /proc/self/cgroup; the
host reads /proc/<pid>/cgroup of the same process. The nsv cgroup is removed afterwards.
Without the right to create cgroups (no root) the current cgroups are used: any hierarchy
(v2 or v1) whose real path is not "/" can show the difference.
"""

from __future__ import annotations

import os
import time

from ansible.module_utils.nsverify import catalog, procfs, syscalls
from ansible.module_utils.nsverify.proofs import base

TYPE = "cgroup"
CONTROL_IDS = ("NS-CGROUP-001",)


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


def _inside(rendezvous, procs_file, join_path):
    moved = None
    if procs_file:
        with open(procs_file, "w") as fh:
            fh.write("0\n")  # "0" moves the writing process (cgroup-v2.rst)
        moved = procs_file
    before = procfs.read_cgroup("self")
    # Made here, after the move, not at probe.run's unshare stage: a refusal (ENOSPC when
    # user.max_cgroup_namespaces is 0) still comes back as one, with its verdict.
    if join_path:
        base.setns_or_refuse(join_path, TYPE)
    else:
        base.unshare_or_refuse(catalog.CLONE_NEWCGROUP)
    inside = procfs.read_cgroup("self")
    rendezvous(
        {
            "pid": os.getpid(),
            "moved_into": moved,
            "before_unshare": before,
            "inside_view": inside,
            "inside_inode": os.stat(procfs.ns_path("self", "cgroup")).st_ino,
        }
    )
    return {}


def _scratch_cgroup(own):
    """(created, procs_file, note): a fresh cgroup under the cgroup2 mount for the probe to move
    into, so that its path is not / on the host; ProofSkip when neither it nor ours will do."""
    mount = cgroup2_mount(base.read_mountinfo())
    created = procs_file = note = None
    if mount:
        path = os.path.join(mount, "nsv-proof-%s" % base.token())
        try:
            os.mkdir(path)
            created = path
            procs_file = os.path.join(path, "cgroup.procs")
        except OSError as exc:
            note = "could not create %s (%s): using the current cgroup" % (path, syscalls.errno_name(exc.errno))
    if procs_file is None and all(e["path"] == "/" for e in own):
        raise base.ProofSkip(
            "denied" if note else "unknown",
            "this process is in the root cgroup of every hierarchy and cannot create "
            "one (%s): the proof needs a cgroup whose path is not /" % (note or "no cgroup2 mount"),
        )
    return created, procs_file, note


def _remove_cgroup(path):
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


def _observe(ctx, procs_file):
    """The inside's and the host's view of the probe's cgroups, while the probe holds them."""

    def host_look(data):
        seen = dict(data)
        seen["host_view"] = procfs.read_cgroup(data["pid"])
        seen["host_inode"] = base.own_inode(TYPE)
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
    res, host = base.held(_inside, host_look, args=(procs_file, join_path), **opts)
    base.require_ok(res, "cgroup probe")
    if host is None:
        raise base.ProbeFailed(res, "cgroup probe never reached its rendezvous")
    return host


def prove(ctx):
    created, procs_file, note = _scratch_cgroup(procfs.read_cgroup("self"))
    try:
        host = _observe(ctx, procs_file)
    finally:
        if created:
            _remove_cgroup(created)
    inside_v2, host_v2 = v2_path(host["inside_view"]), v2_path(host["host_view"])
    inside = dict(("%d:%s" % (e["id"], e["controllers"]), e["path"]) for e in host["inside_view"])
    outside = dict(("%d:%s" % (e["id"], e["controllers"]), e["path"]) for e in host["host_view"])
    # hierarchies where the real path is not / are the ones that can show the difference
    witnesses = sorted(k for k, p in outside.items() if p != "/")
    if ctx.target.fresh:
        ok = bool(witnesses) and all(p == "/" for p in inside.values())
    else:
        # a joined namespace's root is wherever its creator was: the view must differ from the host's
        # (rooted at a hierarchy's root it hides nothing there; one hierarchy that reads
        # differently is enough to show the namespace is not the host's)
        ok = any(inside.get(k) != outside[k] for k in witnesses)
    reason = None
    if not ok and not ctx.target.fresh:
        reason = (
            "inside and host read the same cgroup paths in every hierarchy: the target's cgroup "
            "namespace is rooted where the host's is, so it hides nothing"
        )
    evidence = {
        "cgroup_created": created,
        "note": note,
        "v2_inside": inside_v2,
        "v2_host": host_v2,
        "witness_hierarchies": witnesses,
        "same_on_both_sides": sorted(k for k in witnesses if inside.get(k) == outside[k]),
        "inside_view": inside,
        "host_view": outside,
        "inside_inode": host["inside_inode"],
        "host_inode": host["host_inode"],
    }
    ctx.add(base.check("NS-CGROUP-001", ok, reason=reason, evidence=evidence))
