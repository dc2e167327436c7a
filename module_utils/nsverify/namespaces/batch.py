"""Many named namespaces in one call (the module's `names:`): one lock, one mountinfo read, one creator.

For types a bind mount alone keeps alive and that one process can make again and again without nesting
(net, uts, ipc, cgroup: `BATCH_TYPES`), one child started by probe.spawn does what `ip netns add` does
in-process, for each name in turn: unshare(2), the hostname, mkdir, bind-mount /proc/self/ns/<type> on
the name's files (it stays in the host's mount namespace), and reports the name as made or failed with
its stage and errno. The module process records each made name with one atomic state-file write
(status ready) and removes all of a failed name (its mounts, its directory), so a failure mid-way leaves
the names before and after it created and nothing of the failed one. A crash before the state file is
written leaves a directory without one: examine() calls that incomplete, so a rerun recreates it and
state=absent removes it.

mnt and user are made one child per name as before (a user namespace unshared again would nest in the
last one; a mount namespace's file is bind-mounted from outside it), and pid and time need a holder:
create_many() creates those one by one with create(), under the same lock and the same mountinfo read.
"""

from __future__ import annotations

import errno as _errno
import os
import shutil
import signal

from ansible.module_utils.nsverify import catalog, faults, probe, procfs, syscalls
from ansible.module_utils.nsverify.namespaces import lifecycle
from ansible.module_utils.nsverify.namespaces.config import NamespaceError
from ansible.module_utils.nsverify.namespaces.state import (
    NAMESPACES_DIR,
    MountIndex,
    ensure_namespaces_dir,
    lock,
    name_dir,
    new_state,
    release_namespaces_dir,
    write_state,
)

BATCH_TYPES = ("net", "uts", "ipc", "cgroup")


def batchable(config):
    """True when one child can make every name of this config in turn."""
    return all(t in BATCH_TYPES for t in config["types"])


def create_many(names, config, ns_dir=NAMESPACES_DIR, proc="/proc", timeout=lifecycle.SPAWN_TIMEOUT):
    """create() for many names with one config: {name: its state, or the NamespaceError or OSError that
    stopped it (nothing of that name is left)}. A name that exists is removed first, as create() does."""
    for name in names:
        name_dir(name, ns_dir)  # a bad name fails before anything is made
    fd = lock(ns_dir)
    try:
        index = MountIndex(ns_dir, proc)
        if not batchable(config):
            return dict((n, _one(n, config, ns_dir, proc, timeout, index)) for n in names)
        out = _clear_leftovers(names, ns_dir, proc, index)
        todo = [n for n in names if n not in out]
        if todo:
            ensure_namespaces_dir(ns_dir, proc, index)
            out.update(_create_batch(todo, config, ns_dir, proc, timeout, index))
        if not any(isinstance(v, dict) for v in out.values()):
            release_namespaces_dir(ns_dir, proc)  # nothing made: leave the host as found
        return dict((n, out[n]) for n in names)
    finally:
        os.close(fd)


def _one(name, config, ns_dir, proc, timeout, index):
    try:
        return lifecycle.create_locked(name, config, ns_dir, proc, timeout, index)
    except (NamespaceError, OSError) as exc:
        return exc


def _clear_leftovers(names, ns_dir, proc, index):
    """Remove what exists of the names (a recreate, a crashed creation); {name: OSError} of those that could not be."""
    there = [n for n in names if index.under(n) or os.path.lexists(name_dir(n, ns_dir))]
    done = lifecycle.remove_locked(there, ns_dir, proc, index) if there else {}
    return dict(
        (n, NamespaceError("cannot clear what is at %s: %s" % (name_dir(n, ns_dir), v), stage="leftover"))
        for n, v in done.items()
        if isinstance(v, BaseException)
    )


def _batch_creator(chan, config, ns_dir, proc, names):
    """The spawned child: for each name, new namespaces and their bind mounts; one message per name."""
    os.chdir("/")
    flags = catalog.flags_for(config["types"])
    for name in names:
        try:
            chan.send({"made": name, "inodes": _make_one(name, config, flags, ns_dir, proc)})
        except _Failed as failed:
            chan.send(dict(failed.message, failed=name))
    chan.send({"done": len(names)})
    os._exit(0)


class _Failed(Exception):
    def __init__(self, message):
        Exception.__init__(self, message["error"])
        self.message = message


def _make_one(name, config, flags, ns_dir, proc):
    stage = "unshare"
    try:
        syscalls.unshare(flags)
        if config.get("hostname"):
            stage = "hostname"
            syscalls.sethostname(config["hostname"])
        stage = "bind_mount"
        base = os.path.join(ns_dir, name)
        os.mkdir(base, 0o755)
        inodes = {}
        for t in config["types"]:
            target, src = os.path.join(base, t), procfs.ns_path("self", t, proc)
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o444))
            try:
                syscalls.mount(src, target, None, syscalls.MS_BIND)
            except OSError as exc:
                raise OSError(exc.errno, "bind-mounting %s on %s failed: %s" % (src, target, exc))
            inodes[t] = os.stat(target).st_ino
        return inodes
    except Exception as exc:
        raise _Failed(probe.error_message(exc, stage))


def _create_batch(names, config, ns_dir, proc, timeout, index):
    """Start the batch creator, then record what it reported, name by name."""
    child = probe.spawn(
        _batch_creator,
        args=(config, ns_dir, proc, names),
        setsid=True,
        stdio=os.devnull,
        pdeathsig=signal.SIGKILL,  # dies with the module: what it made without a state file is incomplete
        proc=proc,
        timeout=timeout,
    )
    reports = []
    with child:
        try:
            _receive(child, timeout, reports)
        except NamespaceError as exc:
            child.kill()
            failure = exc
        else:
            failure = NamespaceError("the creating process exited without a result", stage="spawn")
    # Recorded once the child is done: while it mounts, every open() here waits on the mount lock it
    # takes (a state-file write then cost ~2 ms instead of ~0.1 ms).
    out = {}
    for msg in reports:
        name = msg.get("made") or msg.get("failed")
        out[name] = _made(name, msg, config, ns_dir, index) if "made" in msg else _failed(name, msg, config, ns_dir)
    for name in names:
        if name not in out:
            _discard(name, config, ns_dir)
            out[name] = failure
    return out


def _receive(child, timeout, reports):
    """The child's per-name reports, until it is done, exits or fails as a whole."""
    while True:
        try:
            msg = child.recv(timeout=timeout)
        except probe.SpawnTimeout:
            raise NamespaceError("the creating process did not answer within %.0fs" % timeout, stage="timeout")
        except probe.SpawnError as exc:
            raise NamespaceError("the creating process sent %s" % exc, stage="spawn")
        if msg is None or "done" in msg:
            return
        if "error" in msg and "failed" not in msg:
            raise NamespaceError(
                "starting the creating process failed at %s: %s" % (msg["stage"], msg["error"]),
                **dict((k, msg.get(k)) for k in ("stage", "errno", "errname")),
            )
        reports.append(msg)


def _made(name, msg, config, ns_dir, index):
    """Record a name the child made: check its files from here, then its one state-file write."""
    base = name_dir(name, ns_dir)
    try:
        inodes = dict((t, os.stat(os.path.join(base, t)).st_ino) for t in config["types"])
        if inodes != msg["inodes"]:
            raise NamespaceError("the namespace files of %s changed while it was made" % name, stage="bind_mount")
        for t in config["types"]:
            index.added(name, os.path.join(base, t))
        faults.point("namespace:mounted")
        state = new_state(name, config, status="ready", inodes=inodes)
        write_state(name, state, ns_dir)
        return state
    except (NamespaceError, OSError) as exc:
        _discard(name, config, ns_dir)
        index.dropped(name)
        return exc if isinstance(exc, NamespaceError) else NamespaceError(str(exc), stage="state", errno=exc.errno)


def _failed(name, msg, config, ns_dir):
    _discard(name, config, ns_dir)
    hint = lifecycle.refusal_hint(msg, config["types"])
    return NamespaceError(
        "creating the namespaces failed at %s: %s%s" % (msg["stage"], msg["error"], hint),
        stage=msg["stage"],
        errno=msg["errno"],
        errname=msg["errname"],
    )


def _discard(name, config, ns_dir):
    """Everything the batch made of one name: its bind mounts (if any) and its directory."""
    base = name_dir(name, ns_dir)
    for t in config["types"]:
        try:
            syscalls.umount2(os.path.join(base, t), syscalls.MNT_DETACH)
        except OSError as exc:
            if exc.errno not in (_errno.EINVAL, _errno.ENOENT):
                raise
    if os.path.isdir(base) and not os.path.islink(base):
        shutil.rmtree(base)
