"""Pods: containers that join a first container's net, ipc and uts (optionally pid) namespaces, like the
containers of a Kubernetes pod (pid like shareProcessNamespace).

    a   the first container, started as usual: its init holds the pod's namespaces, its veth is the pod's
    b   pod: a, pod_share: [net, ipc, uts] -- b's spawn setns()es into a's init's /proc/PID/ns/<type> files
        (probe.spawn join=, opened here and checked against a's recorded inodes and start time), then
        unshares the rest: its own mnt (root, overlay), cgroup (limits), pid unless shared, time; user last

A member gets no veth (it shares the first container's network) and, sharing uts, the pod's hostname. Its
state.json records the pod: name, joined types, the first container's init (pid, start time) and the inodes
joined. Stopping the first container stops its running members first (a pid-shared member would be killed by
the kernel with the pod's PID 1 anyway; the others would hold a network nobody configures); the result names
them (removed.pod_members). A member whose pod was restarted since it joined is restarted by its next start.
Not covered: a member still starting (no state.json yet) when its first container stops is not among the
members stopped; it fails its start, or runs on in the old namespaces until its next start rejoins (stale()).
"""

from __future__ import annotations

import os

from ansible.module_utils.nsverify import catalog, procfs
from ansible.module_utils.nsverify.container import state
from ansible.module_utils.nsverify.container.config import DEFAULT_HOSTNAME, ContainerError


def first_container(entry, run_dir=state.RUN_DIR, data_dir=state.DATA_DIR):
    """The running state of the pod's first container; ContainerError naming why it cannot be joined."""
    name = entry["name"]
    st = state.status(name, run_dir, data_dir)
    if not st["exists"]:
        running = [n for n in state.list_names(run_dir, data_dir) if state.status(n, run_dir, data_dir)["running"]]
        known = ", ".join(running)
        raise ContainerError(
            "pod %s: no nsverify container of that name exists; start it first (busybox_container name=%s) "
            "or name a running one (running: %s)" % (name, name, known or "none")
        )
    if not st["running"]:
        raise ContainerError(
            "pod %s is not running (%s): start it first (busybox_container name=%s state=started), then its members"
            % (name, state.state_word(st), name)
        )
    first = st["state"]
    if first.get("pod"):
        raise ContainerError(
            "pod %s is itself a member of pod %s: name %s, the pod's first container"
            % (name, first["pod"]["name"], first["pod"]["name"])
        )
    own, host = first.get("namespaces") or {}, first.get("host_namespaces") or {}
    for t in entry["share"]:
        if own.get(t) is None or own.get(t) == host.get(t):
            raise ContainerError(
                "pod %s has no %s namespace of its own (it shares the host's: started without %s in namespaces): "
                "joining it would share the host's; leave %s out of pod_share" % (name, t, t, t)
            )
    return first


def member_hostname(entry, hostname, require_running=True, run_dir=state.RUN_DIR, data_dir=state.DATA_DIR):
    """The hostname a member has: the pod's when it shares uts (a hostname other than the default and the
    pod's is refused). Without require_running (check mode) a pod that does not run yet is let pass."""
    try:
        first = first_container(entry, run_dir, data_dir)
    except ContainerError:
        if require_running:
            raise
        return hostname
    if "uts" not in entry["share"]:
        return hostname
    theirs = first["config"]["hostname"]
    if hostname not in (DEFAULT_HOSTNAME, theirs):
        raise ContainerError(
            "hostname %s: a member sharing uts with pod %s has the pod's hostname %s; leave hostname out, set it "
            "to %s, or leave uts out of pod_share" % (hostname, entry["name"], theirs, theirs)
        )
    return theirs


def open_joins(config, run_dir=state.RUN_DIR, data_dir=state.DATA_DIR):
    """Open the first container's init's namespace files of the shared types now, then check they are the
    ones it recorded and that init is still the same process (PID reuse): ([(type, fd)], first's state, the
    inodes the fds name)."""
    entry = config["pod"]
    first = first_container(entry, run_dir, data_dir)
    fds = []
    try:
        for t in [t for t in catalog.JOIN_ORDER if t in entry["share"]]:
            fds.append((t, os.open(procfs.ns_path(first["init_pid"], t), os.O_RDONLY)))
        inodes = {t: os.fstat(fd).st_ino for t, fd in fds}
        recorded = first.get("namespaces") or {}
        moved = [t for t in inodes if t in recorded and inodes[t] != recorded[t]]
        if moved or not state.init_alive(first):
            raise ContainerError(
                "pod %s stopped or changed while %s joined it (%s): start it again"
                % (entry["name"], config["name"], ", ".join(moved) or "its init is gone")
            )
    except BaseException:
        for _unused, fd in fds:
            os.close(fd)
        raise
    return fds, first, inodes


def record(first, share, inodes):
    """What a member's state.json says of its pod: the first container, the types and the inodes joined."""
    return {
        "name": first["name"],
        "share": list(share),
        "init_pid": first["init_pid"],
        "init_starttime": first["init_starttime"],
        "namespaces": {t: inodes[t] for t in share},
        # the pod's network: its link inside is the member's too (namespace_verify's expected_interfaces)
        "veth": first.get("veth") if "net" in share else None,
    }


def members(name, run_dir=state.RUN_DIR, data_dir=state.DATA_DIR):
    """The running containers that joined container `name`'s namespaces."""
    out = []
    for n in state.list_names(run_dir, data_dir):
        st = state.status(n, run_dir, data_dir)
        if n != name and st["running"] and ((st["state"] or {}).get("pod") or {}).get("name") == name:
            out.append(n)
    return out


def stale(running, run_dir=state.RUN_DIR, data_dir=state.DATA_DIR):
    """Why a running member no longer shares its pod's namespaces (None when it does, or is no member)."""
    joined = (running or {}).get("pod")
    if not joined:
        return None
    st = state.status(joined["name"], run_dir, data_dir)
    if not st["running"]:
        return "pod %s is not running any more" % joined["name"]
    now = st["state"]
    if (now["init_pid"], now["init_starttime"]) != (joined["init_pid"], joined["init_starttime"]):
        return "pod %s was restarted since %s joined it (init %s, was %s)" % (
            joined["name"],
            running["name"],
            now["init_pid"],
            joined["init_pid"],
        )
    return None


def peer(running, run_dir=state.RUN_DIR, data_dir=state.DATA_DIR):
    """For the checks: the pod peer a member shares its types with, as it runs now:
    {'name', 'share', 'state' (None when it does not run), 'inodes' (its init's, read now)}; None for no member."""
    joined = (running or {}).get("pod")
    if not joined:
        return None
    st = state.status(joined["name"], run_dir, data_dir)
    first = st["state"] if st["running"] else None
    inodes = {}
    if first:
        inodes = {t: procfs.ns_link_inode(procfs.ns_path(first["init_pid"], t)) for t in joined["share"]}
    return {"name": joined["name"], "share": list(joined["share"]), "state": first, "inodes": inodes}


def shared_with(running, type_name):
    """The pod peer's name when `running` joined `type_name` from it, else None."""
    joined = (running or {}).get("pod") or {}
    return joined.get("name") if type_name in (joined.get("share") or ()) else None


def sharing(running, type_name):
    """How a member's joined type looks now: its init's inode against its pod peer's and the host's
    (this process's), and the verdict; None when `running` did not join `type_name` from a pod.
    ok only when shared with the peer and NOT with the host."""
    name = shared_with(running, type_name)
    if not name:
        return None
    theirs = peer(running)["inodes"].get(type_name)
    mine = procfs.ns_link_inode(procfs.ns_path(running["init_pid"], type_name))
    host = procfs.ns_link_inode(procfs.ns_path("self", type_name))
    if mine is not None and mine == host:
        verdict = "shares the host's %s namespace (inode %s), through pod %s" % (type_name, mine, name)
    elif mine is not None and mine == theirs:
        verdict = "shared with pod peer %s" % name
    else:
        verdict = "not shared with pod peer %s (inode %s, the peer's %s)" % (name, mine, theirs)
    return {
        "pod_peer": name,
        "inode": mine,
        "peer_inode": theirs,
        "host_inode": host,
        "ok": mine is not None and mine == theirs and mine != host,
        "verdict": verdict,
    }
