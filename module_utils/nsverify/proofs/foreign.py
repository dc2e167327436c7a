"""What a proof of a joined (foreign) target tested, and what its per-type result means.

Checks that work on namespaces the proof made itself (a module's KERNEL_CHECKS: the mount
propagation pairs, the veth between two namespaces) test the kernel, not the target: they
carry tests=kernel, every other check tests=target. A type the target shares with the
reference (the host's initial namespaces, found as namespace_inspect finds them, through
userns.find_reference) never passes; a type it owns never fails without the real reason.
"""

from __future__ import annotations

import os

from ansible.module_utils.nsverify import catalog, procfs, userns

ROOT_MAPPED = "own user namespace, but uid 0 inside is uid 0 on the host"


def engine_inodes():
    out = {}
    for t in catalog.TYPE_NAMES:
        try:
            out[t] = os.stat(procfs.ns_path("self", t)).st_ino
        except OSError:
            out[t] = None
    return out


def reference(target, proc="/proc"):
    """{basis, inodes, why[, pid]}: whose namespaces stand for the host (None for a fresh target)."""
    if target.fresh:
        return None
    if target.sandboxed:
        return {"basis": "engine", "inodes": engine_inodes(), "why": "sandboxed: the engine plays the host"}
    try:
        ref = userns.find_reference(proc=proc)
    except (userns.NoReference, OSError) as exc:
        return {
            "basis": "engine",
            "inodes": engine_inodes(),
            "why": "host reference not knowable (%s); compared with the engine's own namespaces" % exc,
        }
    return {"basis": ref["basis"], "pid": ref["pid"], "inodes": ref["inodes"], "why": ref.get("why")}


def mark_tests(res, kernel_checks):
    for c in res["checks"]:
        c["tests"] = "kernel" if c["id"] in kernel_checks else "target"


def _root_mapped(res):
    for c in res["checks"]:
        if c["id"] == "NS-USER-002" and c["status"] == "fail":
            ev = c.get("evidence") or {}
            seen = (ev.get("uid_seen_by_host") or [None])[0]
            return seen == 0 or ev.get("expected_outside_uid") == 0
    return False


def _own_failure(type_name, res, inode, ref_inode):
    """Name why a type the target owns failed: root mapped to host root is a finding of its own."""
    if type_name == "user" and _root_mapped(res):
        reason = "%s (own user namespace inode %s, host's %s): root inside acts as host root on host files" % (
            ROOT_MAPPED,
            inode,
            ref_inode,
        )
        for c in res["checks"]:
            if c["status"] == "fail" and c["id"] in ("NS-USER-002", "NS-USER-003"):
                c["reason"] = ROOT_MAPPED
        res["findings"] = [{"id": "root-mapped-to-host-root", "severity": "high", "status": "fail", "reason": reason}]
        res["reason"] = reason
        return
    failed = [c["id"] for c in res["checks"] if c["status"] == "fail"]
    kernel = [c["id"] for c in res["checks"] if c["status"] == "fail" and c.get("tests") == "kernel"]
    res["reason"] = "own %s namespace (inode %s), but check(s) failed: %s%s" % (
        type_name,
        inode,
        ", ".join(failed),
        " (kernel behaviour, not the target: %s)" % ", ".join(kernel) if kernel else "",
    )


def judge(type_name, res, target, ref, kernel_checks=()):
    """Annotate one type's result of a joined target against the reference (see module doc)."""
    mark_tests(res, kernel_checks)
    if ref is None or res["status"] == "skipped":
        return res
    try:
        inode = target.inode(type_name)
    except OSError:
        return res
    ref_inode = ref["inodes"].get(type_name)
    engine = engine_inodes().get(type_name)
    if inode is not None and inode == ref_inode:
        who = "host's" if ref["basis"] != "engine" else "engine's"
        res["sharing"] = {"status": "shared", "with": "host", "inode": inode, "reference_inode": ref_inode}
        res["status"] = "failed"
        res["reason"] = "shares the %s %s namespace (inode %s)" % (who, type_name, inode)
        return res
    if inode is not None and inode == engine:
        res["sharing"] = {"status": "shared", "with": "engine", "inode": inode, "reference_inode": ref_inode}
        res["status"] = "failed"
        res["reason"] = "shares the engine's %s namespace (inode %s; the host's is %s)" % (type_name, inode, ref_inode)
        return res
    res["sharing"] = {"status": "own", "inode": inode, "reference_inode": ref_inode}
    if res["status"] == "failed":
        _own_failure(type_name, res, inode, ref_inode)
    return res
