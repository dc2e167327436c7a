"""User proof (NS-USER-001..003).

001: /proc/<pid>/uid_map and gid_map, read inside and from the host, are the requested maps
     (a joined namespace without requested maps: anything but the initial identity map).
002: root inside (setresuid(0) in the namespace) is a non-zero id on the host (Uid line of
     /proc/<pid>/status read from outside), and a file it creates in an nsv directory is
     owned by that id on the host.
003: with every capability inside (CapEff), opening for writing a host-root-owned file that
     only CAP_DAC_OVERRIDE in the initial namespace could open fails with EACCES. As root the
     file is our own /tmp/nsv-user-*/root-only (0600); without root an existing root-owned
     file that we cannot write is opened without O_TRUNC and closed unwritten.
"""

from __future__ import annotations

import errno
import os
import tempfile

from ansible.module_utils.nsverify import catalog, procfs, syscalls
from ansible.module_utils.nsverify.proofs import base

TYPE = "user"
CONTROL_IDS = ("NS-USER-001", "NS-USER-002", "NS-USER-003")
ROOT_DEFAULT_MAP = [[0, 100000, 65536]]
IDENTITY_MAP = [[0, 0, 4294967295]]


def map_id(id_map, inside_id):
    """The outside id of `inside_id` under `id_map`, or None when unmapped."""
    for inside, outside, count in id_map:
        if inside <= inside_id < inside + count:
            return outside + inside_id - inside
    return None


def unmapped_outside(requested, own_map):
    """Entries of `requested` whose outside ids are not all mapped in `own_map` (the engine's own
    uid_map/gid_map, whose first column is ids of the engine's namespace): user_namespaces(7) lets
    a child's map use only ids that are mapped in the writer's namespace."""
    bad = []
    for inside, outside, count in requested or []:
        want, end = outside, outside + count
        for first, _unused, n in sorted(own_map):
            if first <= want < first + n:
                want = first + n
        if want < end:
            bad.append([inside, outside, count])
    return bad


def default_maps(euid, egid):
    if euid == 0:
        return [list(e) for e in ROOT_DEFAULT_MAP], [list(e) for e in ROOT_DEFAULT_MAP]
    return [[0, euid, 1]], [[0, egid, 1]]


def _normalize(id_map):
    return [[int(x) for x in e] for e in id_map] if id_map else None


def _inside(rendezvous, workdir, probe_file):
    maps = {"uid_map": procfs.read_id_map("self", "uid_map"), "gid_map": procfs.read_id_map("self", "gid_map")}
    became = "ok"
    try:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    except OSError as exc:
        became = syscalls.errno_name(exc.errno)
    created = os.path.join(workdir, "made-inside")
    with open(created, "w") as fh:
        fh.write("nsv\n")
    inside_stat = os.stat(created)
    try:
        fd = os.open(probe_file, os.O_WRONLY | os.O_NOCTTY)  # no O_TRUNC: never changes the file
        os.close(fd)
        write_open = "opened"
    except OSError as exc:
        write_open = syscalls.errno_name(exc.errno)
    me = procfs.read_status_ids("self")
    rendezvous(
        {
            "inside_maps": maps,
            "become_root": became,
            "inside_uid": os.getuid(),
            "inside_gid": os.getgid(),
            "inside_file_uid": inside_stat.st_uid,
            "file": created,
            "cap_eff_inside": me.get("CapEff"),
            "probe_file": probe_file,
            "write_open": write_open,
            "pid": os.getpid(),
            "inside_inode": os.stat(procfs.ns_path("self", "user")).st_ino,
        }
    )
    return {}


def _probe_file(workdir, euid):
    if euid == 0:
        path = os.path.join(workdir, "root-only")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        return path
    for path in ("/etc/hostname", "/etc/passwd", "/etc/group"):
        try:
            st = os.stat(path)
        except OSError:
            continue
        if st.st_uid == 0 and not st.st_mode & 0o022 and not os.access(path, os.W_OK):
            return path
    return None


def _explain_id_map(exc, want_uid, want_gid):
    """Name the requested outside ids that this engine's own user namespace does not map."""
    own = {"uid_map": procfs.read_id_map("self", "uid_map"), "gid_map": procfs.read_id_map("self", "gid_map")}
    bad = {"uid_map": unmapped_outside(want_uid, own["uid_map"]), "gid_map": unmapped_outside(want_gid, own["gid_map"])}
    exc.evidence.update(engine_maps=own, requested_but_unmapped=bad)
    if bad["uid_map"] or bad["gid_map"]:
        exc.reason += (
            "; the requested outside ids %s are not mapped in the engine's own user namespace "
            "(its uid_map: %s), so no child map may use them: pass uid_map/gid_map within it"
            % (bad["uid_map"] or bad["gid_map"], own["uid_map"])
        )


def _observe(ctx, want_uid, want_gid, workdir, probe_file):
    """Run the inside in the requested maps; the host reads its ids, maps and file while it holds."""

    def host_look(data):
        seen = dict(data)
        pid = data["pid"]
        seen["host_sees_ids"] = procfs.read_status_ids(pid)
        seen["host_reads_maps"] = {
            "uid_map": procfs.read_id_map(pid, "uid_map"),
            "gid_map": procfs.read_id_map(pid, "gid_map"),
        }
        seen["host_file_uid"] = os.stat(data["file"]).st_uid
        seen["host_inode"] = base.own_inode(TYPE)
        return seen

    fresh = ctx.target.fresh
    opts = {"timeout": ctx.timeout}
    if fresh:
        opts.update(unshare=catalog.CLONE_NEWUSER, uid_map=want_uid, gid_map=want_gid)
    else:
        opts.update(join=ctx.target.join(TYPE))
    res, host = base.held(_inside, host_look, args=(workdir, probe_file), **opts)
    try:
        base.require_ok(res, "user-namespace probe")
    except base.ProofSkip as exc:
        if fresh and res.get("stage") == "id_map":
            _explain_id_map(exc, want_uid, want_gid)
        raise
    if host is None:
        raise base.ProofSkip("unknown", "the user-namespace probe never reached its rendezvous", {"probe": res})
    return host


def _observe_in_workdir(ctx, want_uid, want_gid):
    """_observe with a scratch directory under /tmp that is removed whatever happens."""
    workdir = tempfile.mkdtemp(prefix="nsv-user-", dir="/tmp")
    made = []
    try:
        os.chmod(workdir, 0o1777)  # whoever root inside maps to may create its file here
        probe_file = _probe_file(workdir, ctx.euid)
        if probe_file is None:
            raise base.ProofSkip("unknown", "no root-owned file that this user cannot write was found")
        if probe_file.startswith(workdir):
            made.append(probe_file)
        made.append(os.path.join(workdir, "made-inside"))
        return _observe(ctx, want_uid, want_gid, workdir, probe_file)
    finally:
        for path in made:
            try:
                os.unlink(path)
            except OSError:
                pass
        os.rmdir(workdir)


def _check_maps(ctx, host, want_uid, want_gid):
    maps = host["host_reads_maps"]
    ev1 = {
        "requested": {"uid_map": want_uid, "gid_map": want_gid},
        "inside_reads": host["inside_maps"],
        "host_reads": maps,
        "inside_inode": host["inside_inode"],
        "host_inode": host["host_inode"],
    }
    if want_uid or want_gid:
        ok1 = (not want_uid or (maps["uid_map"] == want_uid == host["inside_maps"]["uid_map"])) and (
            not want_gid or (maps["gid_map"] == want_gid == host["inside_maps"]["gid_map"])
        )
    else:
        ok1 = maps["uid_map"] != IDENTITY_MAP and maps["gid_map"] != IDENTITY_MAP
    ctx.add(base.check("NS-USER-001", ok1, ev1))


def _check_root_is_unprivileged(ctx, host):
    maps = host["host_reads_maps"]
    outside_uid = host["host_sees_ids"].get("Uid", [None])[0]
    ok2 = (
        host["become_root"] == "ok"
        and host["inside_uid"] == 0
        and outside_uid not in (None, 0)
        and host["inside_file_uid"] == 0
        and host["host_file_uid"] == outside_uid
        and outside_uid == map_id(maps["uid_map"], 0)
    )
    evidence = {
        "become_root_inside": host["become_root"],
        "uid_inside": host["inside_uid"],
        "uid_seen_by_host": host["host_sees_ids"].get("Uid"),
        "file": host["file"],
        "file_owner_inside": host["inside_file_uid"],
        "file_owner_on_host": host["host_file_uid"],
        "expected_outside_uid": map_id(maps["uid_map"], 0),
    }
    ctx.add(base.check("NS-USER-002", ok2, evidence))


def _check_capabilities(ctx, host):
    cap_eff = host["cap_eff_inside"] or "0"
    all_caps = (1 << (syscalls.cap_last_cap() + 1)) - 1
    full_caps = int(cap_eff, 16) & all_caps == all_caps
    ok3 = full_caps and host["write_open"] in (errno.errorcode[errno.EACCES], errno.errorcode[errno.EPERM])
    evidence = {
        "cap_eff_inside": cap_eff,
        "full_capabilities_inside": full_caps,
        "action": "open(O_WRONLY)",
        "file": host["probe_file"],
        "result": host["write_open"],
        "expected": "EACCES",
    }
    ctx.add(base.check("NS-USER-003", ok3, evidence))


def prove(ctx):
    want_uid = _normalize(ctx.options.get("uid_map"))
    want_gid = _normalize(ctx.options.get("gid_map"))
    if ctx.target.fresh:
        dflt_uid, dflt_gid = default_maps(ctx.euid, ctx.egid)
        want_uid, want_gid = want_uid or dflt_uid, want_gid or dflt_gid
    host = _observe_in_workdir(ctx, want_uid, want_gid)
    _check_maps(ctx, host, want_uid, want_gid)
    _check_root_is_unprivileged(ctx, host)
    _check_capabilities(ctx, host)
