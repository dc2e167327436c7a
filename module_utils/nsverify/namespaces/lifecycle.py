"""Make, repair and remove named namespaces (the acting half; plan.py decides).

Creation is one child started by probe.spawn (the one protocol for long-lived children):
it unshares, asks the module process for its uid/gid maps, sets the hostname and the time
offsets, starts the holder and says ready; the module process bind-mounts the namespace
files from it (or from the holder) in its own, the host's, mount namespace, and only then
lets it go. Every step that fails is named by its stage, and whatever was made is removed.
"""

from __future__ import annotations

import errno as _errno
import os
import shutil
import signal
import time

from ansible.module_utils.nsverify import catalog, faults, probe, procfs, syscalls, validate
from ansible.module_utils.nsverify.namespaces import holder
from ansible.module_utils.nsverify.namespaces.config import PROPAGATIONS, NamespaceError, needs_holder
from ansible.module_utils.nsverify.namespaces.plan import examine, read_hostname, set_hostname
from ansible.module_utils.nsverify.namespaces.state import (
    NAMESPACES_DIR,
    MountIndex,
    ensure_namespaces_dir,
    load_state,
    lock,
    mounts_at,
    name_dir,
    new_state,
    release_namespaces_dir,
    write_state,
)

SPAWN_TIMEOUT = 20.0


# ------------------------------------------------------------ remove
def remove(name, ns_dir=NAMESPACES_DIR, proc="/proc"):
    """Remove every mount, holder and file of a named namespace, also when a crash left only
    part of them. Return what was done."""
    done = remove_many([name], ns_dir, proc)[name]
    if isinstance(done, BaseException):
        raise done
    return done


def remove_many(names, ns_dir=NAMESPACES_DIR, proc="/proc"):
    """remove() for many names in one pass: one lock, one mountinfo read, one /proc scan for
    untracked holders (only when a name may have one). {name: what was done, or the OSError
    that stopped that name}; the others are removed all the same."""
    for name in names:
        name_dir(name, ns_dir)  # a bad name fails before anything is removed
    fd = lock(ns_dir)
    try:
        index = MountIndex(ns_dir, proc)
        done = remove_locked(names, ns_dir, proc, index)
        released = release_namespaces_dir(ns_dir, proc)
        last = [n for n in names if isinstance(done[n], dict)][-1:]
        for n in last:
            done[n]["released_dir"] = released
        return done
    finally:
        os.close(fd)


def _may_have_untracked_holder(state):
    """A holder is started only for a config with pid or time, after its state file exists:
    a name without a state file, or with such a config, may have one the file does not name."""
    return not state or needs_holder((state.get("config") or {}).get("types") or [])


def remove_locked(names, ns_dir, proc, index):
    """Under the lock: stop the holders of `names`, unmount what `index` lists under each (deepest
    first; a stacked mount is listed once per layer), remove their directories, then read
    mountinfo once to check. {name: done dict or the OSError}; `index` is updated."""
    states = dict((n, load_state(n, ns_dir) or {}) for n in names)
    scan = [n for n in names if _may_have_untracked_holder(states[n])]
    known = [s["holder"]["pid"] for s in states.values() if (s.get("holder") or {}).get("pid")]
    untracked = holder.find_untracked_holders_of(scan, proc, known) if scan else {}
    out = {}
    for name in names:
        done = {"holder_killed": None, "untracked_holders_killed": [], "unmounted": [], "removed_dir": False}
        done["released_dir"] = False
        try:
            _stop_holders(name, states[name].get("holder"), untracked.get(name, ()), proc, done)
            for m in sorted(index.under(name), key=lambda m: -len(m["mount_point"])):
                _umount_quietly(m["mount_point"], done)
            index.dropped(name)
            out[name] = done
        except OSError as exc:
            out[name] = exc
    _unmount_what_is_left([n for n in names if isinstance(out[n], dict)], ns_dir, proc, index, out)
    for name in names:
        base = name_dir(name, ns_dir)
        try:
            if isinstance(out[name], dict) and os.path.lexists(base):
                shutil.rmtree(base)
                out[name]["removed_dir"] = True
        except OSError as exc:
            out[name] = exc
    return out


def _stop_holders(name, holder_rec, untracked, proc, done):
    if holder_rec and holder.stop_holder(holder_rec, name, proc):
        done["holder_killed"] = holder_rec["pid"]
    for orphan in untracked:
        if holder.stop_holder(orphan, name, proc):
            done["untracked_holders_killed"].append(orphan["pid"])


def _umount_quietly(path, done):
    try:
        syscalls.umount2(path, syscalls.MNT_DETACH)
        done["unmounted"].append(path)
    except OSError as exc:
        if exc.errno not in (_errno.EINVAL, _errno.ENOENT):
            raise


def _unmount_what_is_left(names, ns_dir, proc, index, out):
    """Read mountinfo again: a mount made meanwhile or a layer the first read did not show is
    unmounted here; repeat (at most 8 times) while any is left."""
    left = list(names)
    for _unused in range(8):
        index.refresh()
        left = [n for n in left if index.under(n)]
        if not left:
            return
        for name in left:
            try:
                for m in sorted(index.under(name), key=lambda m: -len(m["mount_point"])):
                    _umount_quietly(m["mount_point"], out[name])
            except OSError as exc:
                out[name] = exc
        left = [n for n in left if isinstance(out[n], dict)]


# ------------------------------------------------------------ create: the child
def _private_mount_namespace(config, ns_dir):
    # A first, throwaway mount namespace, still owned by the host's user namespace, where the
    # copy of ns_dir can be detached: it would otherwise pin every other named namespace's
    # files for as long as this one lives (in a namespace owned by a new user namespace the
    # copy is MNT_LOCKED and cannot be unmounted). Propagation is set first, so the unmount
    # cannot travel back to the host.
    syscalls.unshare(catalog.CLONE_NEWNS)
    syscalls.mount(None, "/", None, syscalls.MS_REC | PROPAGATIONS[config["mount_propagation"]])
    try:
        syscalls.umount2(ns_dir, syscalls.MNT_DETACH)
    except OSError:
        pass


def _become_root(config):
    # Last: changing ids clears the dumpable flag, after which /proc/self files (such as
    # timens_offsets) belong to an id unmapped here and cannot be opened.
    try:
        os.setgroups([])
    except OSError:
        pass
    if validate.maps_root(config["gid_map"]):
        os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)  # the holder is root of the namespace, like unshare -r


def _creator(chan, config, name, ns_dir, exec_w, python):
    """The spawned child: unshare, maps, set up, start the holder, then wait until the module
    process has made the bind mounts (or gave up: EOF). Never returns."""
    types = config["types"]
    stage = "mount_namespace"
    try:
        os.chdir("/")
        if "mnt" in types:
            _private_mount_namespace(config, ns_dir)
        stage = "unshare"
        syscalls.unshare(catalog.flags_for(types))
        if "user" in types:
            stage = "id_map"
            chan.request_maps(os.getpid())
        if "uts" in types and config.get("hostname"):
            stage = "hostname"
            syscalls.sethostname(config["hostname"])
        if "time" in types:
            stage = "timens_offsets"
            probe.write_timens_offsets({"monotonic": config["monotonic_offset"], "boottime": config["boottime_offset"]})
        if "user" in types and validate.maps_root(config["uid_map"]):
            stage = "setresuid"
            _become_root(config)
        if needs_holder(types):
            stage = "holder"
            cpid = os.fork()
            if cpid == 0:
                holder.exec_holder(name, python, exec_w)
            chan.send({"holder": cpid})
        os.close(exec_w)
        stage = "ready"
        chan.ready(os.getpid())
        chan.recv()
    except BaseException as exc:
        try:
            chan.send(probe.error_message(exc, stage))
        finally:
            os._exit(1)
    os._exit(0)


# ------------------------------------------------------------ create: the module process
def refusal_hint(msg, types):
    """What a refused unshare means (the catalogue's errno table), and where to look."""
    if msg.get("stage") != "unshare" or catalog.verdict_for_errno(msg.get("errno"), "unshare") == "unknown":
        return ""
    return "; %s (one of %s): run the namespace_facts audit" % (catalog.errno_meaning(msg["errno"]), ", ".join(types))


def _await_ready(child, config, state, name, ns_dir, proc, timeout):
    """Read the creator's messages until it is ready; record the holder as soon as it is
    named. Returns the process whose namespace files are to be bind-mounted."""
    holder_pid = None
    while True:
        try:
            msg = child.recv()
        except probe.SpawnTimeout:
            raise NamespaceError("the creating process did not answer within %.0fs" % timeout, stage="timeout")
        except probe.SpawnError as exc:
            raise NamespaceError("the creating process sent %s" % exc, stage="spawn")
        if msg is None:
            raise NamespaceError("the creating process exited without a result", stage="spawn")
        if "error" in msg:
            raise NamespaceError(
                "creating the namespaces failed at %s: %s%s"
                % (msg["stage"], msg["error"], refusal_hint(msg, config["types"])),
                stage=msg["stage"],
                errno=msg["errno"],
                errname=msg["errname"],
            )
        if "holder" in msg:
            holder_pid = msg["holder"]
            ident = holder.read_holder_identity(holder_pid, proc)
            state["holder"] = {"pid": holder_pid, "starttime": ident["starttime"] if ident else None}
            write_state(name, state, ns_dir)  # tracked before anything else can fail
        elif "ready" in msg:
            return holder_pid or msg["ready"]


def _await_holder(exec_r, state, name, proc, timeout):
    """The holder's exec pipe closes when exec succeeded; what arrives on it says why not."""
    failure = probe.read_until_eof(exec_r, time.monotonic() + timeout)
    if failure is None:
        raise NamespaceError("the holder process did not start within %.0fs" % timeout, stage="holder")
    if failure:
        raise NamespaceError("the holder process could not start: %s" % failure.decode(), stage="holder")
    if not holder.holder_alive(state["holder"], name, proc):
        raise NamespaceError("the holder process exited right after it started", stage="holder")


def _bind_mount_all(types, source, base, state, proc):
    for t in types:
        target = os.path.join(base, t)
        os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o444))
        src = procfs.ns_path(source, t, proc)
        try:
            syscalls.mount(src, target, None, syscalls.MS_BIND)
        except OSError as exc:
            raise NamespaceError(
                "bind-mounting %s on %s failed: %s" % (src, target, exc),
                stage="bind_mount",
                errno=exc.errno,
                errname=syscalls.errno_name(exc.errno),
            )
        state["inodes"][t] = os.stat(target).st_ino


def create(name, config, ns_dir=NAMESPACES_DIR, proc="/proc", timeout=SPAWN_TIMEOUT):
    """Create a named namespace from a build_config() dict and return its state.
    On any failure everything made so far is removed and NamespaceError raised."""
    name_dir(name, ns_dir)
    fd = lock(ns_dir)
    try:
        return create_locked(name, config, ns_dir, proc, timeout, MountIndex(ns_dir, proc))
    except BaseException:
        release_namespaces_dir(ns_dir, proc)  # when this was the only one
        raise
    finally:
        os.close(fd)


def create_locked(name, config, ns_dir, proc, timeout, index):
    """create() under the lock a caller holds, with the caller's MountIndex (kept up to date)."""
    base = name_dir(name, ns_dir)
    if os.path.lexists(base) or index.under(name):
        clear(name, ns_dir, proc, index)
    try:
        return _create_locked(name, config, base, ns_dir, proc, timeout, index)
    except BaseException:
        clear(name, ns_dir, proc, index)
        raise


def clear(name, ns_dir, proc, index):
    """Remove what is left of `name` under the lock (a leftover, a failed creation); raise what stopped it."""
    done = remove_locked([name], ns_dir, proc, index)[name]
    if isinstance(done, BaseException):
        raise done
    return done


def _create_locked(name, config, base, ns_dir, proc, timeout, index):
    ensure_namespaces_dir(ns_dir, proc, index)
    os.mkdir(base, 0o755)
    state = new_state(name, config)
    write_state(name, state, ns_dir)
    faults.point("namespace:state")
    exec_r, exec_w = os.pipe()
    try:
        child = probe.spawn(
            _creator,
            args=(config, name, ns_dir, exec_w, holder.holder_python()),
            uid_map=config.get("uid_map"),
            gid_map=config.get("gid_map"),
            setsid=True,
            stdio=os.devnull,
            pdeathsig=signal.SIGKILL,  # die with the module if it dies before the namespaces are mounted
            proc=proc,
            timeout=timeout,
        )
    finally:
        os.close(exec_w)
    try:
        with child:  # its exit lets the creator go (EOF) and reaps it
            try:
                source = _await_ready(child, config, state, name, ns_dir, proc, timeout)
                if state["holder"]:
                    _await_holder(exec_r, state, name, proc, timeout)
                faults.point("namespace:ready")
                _bind_mount_all(config["types"], source, base, state, proc)
                for t in config["types"]:
                    index.added(name, os.path.join(base, t))
                faults.point("namespace:mounted")
            except BaseException:
                if state["holder"]:
                    # still our grandchild (its parent waits for our word), so the PID is surely ours
                    holder.stop_holder(state["holder"], name, proc) or holder.kill_quietly(state["holder"]["pid"])
                raise
            state["status"] = "ready"
            write_state(name, state, ns_dir)
            return state
    finally:
        os.close(exec_r)


# ------------------------------------------------------------ repair
def repair(name, ns_dir=NAMESPACES_DIR, proc="/proc"):
    """Re-make missing bind mounts from the living holder, keeping every namespace (and inode)."""
    base = name_dir(name, ns_dir)
    fd = lock(ns_dir)
    try:
        ensure_namespaces_dir(ns_dir, proc)
        exam = examine(name, ns_dir, proc)
        state = exam["state"]
        if exam["missing"] and not exam["holder_alive"]:
            raise NamespaceError("cannot repair %s: its holder process is gone" % name, stage="repair")
        for t in exam["missing"]:
            pid = state["holder"]["pid"]
            target = os.path.join(base, t)
            for _unused in range(8):  # drop whatever sits there now (a stale or foreign mount)
                if not mounts_at(target, procfs.read_mountinfo(proc=proc)):
                    break
                syscalls.umount2(target, syscalls.MNT_DETACH)
            src = procfs.ns_path(pid, t, proc)
            if os.stat(src).st_ino != state["inodes"].get(t):
                raise NamespaceError(
                    "cannot repair %s: the holder is no longer in the recorded %s namespace" % (name, t), stage="repair"
                )
            if not os.path.exists(target):
                os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o444))
            syscalls.mount(src, target, None, syscalls.MS_BIND)
        hostname = state["config"].get("hostname")
        if hostname and read_hostname(os.path.join(base, "uts")) != hostname:
            set_hostname(os.path.join(base, "uts"), hostname)
        return load_state(name, ns_dir)
    finally:
        os.close(fd)
