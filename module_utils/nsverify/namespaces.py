"""Persistent named namespaces: `ip netns add`, but for all eight types.

A named namespace `<name>` is a directory /run/nsverify/ns/<name>/ holding one
bind mount of a namespace file per requested type (`<type>`) and `state.json`
(config, inodes, holder). A bind mount keeps a namespace alive without any
process in it, except for two types:

- pid: a PID namespace whose init has exited can no longer get processes
  (fork inside fails with ENOMEM), so a holder process stays PID 1 in it.
- time: offsets are written to /proc/self/timens_offsets after
  unshare(CLONE_NEWTIME) and before the first process enters; the namespace
  applies to children only (time_for_children), so the same holder lives in it.

The holder is one small process (`nsv-holder`, an exec'd `python3 -I -S -c`)
forked by the creating child after the unshare: it is PID 1 of the new PID
namespace, lives in every new namespace, reaps orphans and sleeps. Its host PID
and start time are tracked in state.json; it is killed by PID, after checking
its identity (start time and command line), never by name.

If `user` is among the types, every other namespace is created by the same
unshare(2) call and is therefore owned by the new user namespace; the
creating process writes nothing into its own maps -- the module process (root
in the parent namespace) writes uid_map/gid_map, as user_namespaces(7) requires
for maps other than the writer's own id.

/run/nsverify/ns is bind-mounted on itself and made private (mount --make-private),
the way ip-netns(8) prepares /run/netns. Unlike /run/netns it must not be shared:
bind-mounting a mount-namespace file under a shared mount would propagate the
mount into peers, including the very namespace it names, a loop the kernel
refuses with EINVAL (unshare(1), "--mount=file").

The module process never changes namespace: a forked child unshares, the parent
only writes maps and makes bind mounts in its own (the host's) mount namespace.
"""

from __future__ import annotations

import errno as _errno
import fcntl
import json
import os
import select
import shutil
import signal
import sys
import time

from ansible.module_utils.nsverify import catalog, kernel, probe, procfs, syscalls, validate

NAMESPACES_DIR = "/run/nsverify/ns"
STATE_FILE = "state.json"
STATE_VERSION = 1

NAME_MAX = validate.NAME_MAX

# Default map: root inside is uid/gid 100000 outside, 65536 ids, the range useradd(8)
# hands out first in /etc/subuid; above every id a Debian/RHEL account gets (< 65534,
# nobody = 65534), so no real user owns a file the namespace's root creates.
DEFAULT_ID_MAP = ({"inside": 0, "outside": 100000, "count": 65536},)

# Types whose namespace needs a living process, not just a bind mount.
HOLDER_TYPES = ("pid", "time")
HOLDER_ARGV0 = "nsv-holder"

PROPAGATIONS = {"private": syscalls.MS_PRIVATE, "slave": syscalls.MS_SLAVE}
DEFAULT_PROPAGATION = "private"  # as unshare(1) --mount does by default

SPAWN_TIMEOUT = 20.0

HOLDER_CODE = r"""
import os, signal
def reap(*_):
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
def stop(*_):
    os._exit(0)
signal.signal(signal.SIGCHLD, reap)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
try:
    with open("/proc/self/comm", "w") as fh:
        fh.write("nsv-holder")
except OSError:
    pass
reap()
while True:
    signal.pause()
"""


class NamespaceError(Exception):
    """A failure with evidence for fail_json."""

    def __init__(self, msg, **evidence):
        Exception.__init__(self, msg)
        self.msg = msg
        self.evidence = evidence


class ConfigConflict(NamespaceError):
    pass


# ---------------------------------------------------------------- validation


def validate_name(name):
    """Return `name` or raise ValueError (validate.InvalidInput) saying what a valid name looks like."""
    return validate.name(name, "name", NAME_MAX)


def build_config(
    types,
    hostname=None,
    uid_map=None,
    gid_map=None,
    monotonic_offset=None,
    boottime_offset=None,
    propagation=None,
    release=None,
    clocks=None,
):
    """The normalized config of a named namespace, the thing idempotence compares.
    Raise ValueError for any option that does not fit the chosen types."""
    if not types:
        raise ValueError("types is empty: choose one or more of %s" % ", ".join(catalog.TYPE_NAMES))
    types = catalog.validate_names(types)
    problems = []
    if hostname is not None and "uts" not in types:
        problems.append("hostname needs 'uts' in types")
    if (uid_map or gid_map) and "user" not in types:
        problems.append("uid_map/gid_map need 'user' in types")
    if (monotonic_offset is not None or boottime_offset is not None) and "time" not in types:
        problems.append("monotonic_offset/boottime_offset need 'time' in types")
    if propagation is not None and "mnt" not in types:
        problems.append("mount_propagation needs 'mnt' in types")
    if problems:
        raise ValueError("; ".join(problems) + " (types: %s)" % ", ".join(types))
    config = {"types": types}
    if "uts" in types:
        config["hostname"] = None if hostname is None else validate.hostname(hostname)
    if "user" in types:
        config["uid_map"] = validate.id_map(uid_map or list(DEFAULT_ID_MAP), "uid_map", release)
        config["gid_map"] = validate.id_map(gid_map or uid_map or list(DEFAULT_ID_MAP), "gid_map", release)
    if "time" in types:
        clocks = clocks or validate.read_clocks()
        config["monotonic_offset"] = validate.time_offset(monotonic_offset or 0, "monotonic", clocks["monotonic"])
        config["boottime_offset"] = validate.time_offset(boottime_offset or 0, "boottime", clocks["boottime"])
    if "mnt" in types:
        propagation = propagation or DEFAULT_PROPAGATION
        if propagation not in PROPAGATIONS:
            raise ValueError("mount_propagation must be one of %s" % ", ".join(PROPAGATIONS))
        config["mount_propagation"] = propagation
    return config


def join_warnings(types, release=None):
    """Messages for types this kernel can create but not join with setns(2) (nsenter): a time
    namespace before 5.8, pid/mnt/user before 3.8 (setns(2), catalog.setns_since)."""
    release = release or kernel.running_release()
    out = []
    for t in catalog.validate_names(types):
        since = catalog.get(t).setns_since
        if not kernel.at_least(release, since):
            out.append(
                "kernel %s cannot join a %s namespace with setns(2) (needs %s): the named "
                "namespace is made, but nsenter --%s into it fails"
                % (release, t, catalog.version_string(since), catalog.get(t).unshare_option)
            )
    return out


def needs_holder(types):
    return any(t in HOLDER_TYPES for t in types)


# ------------------------------------------------------------------ parsers


parse_mountinfo = procfs.parse_mountinfo
read_mountinfo = procfs.read_mountinfo


def parse_stat_starttime(text):
    """Field 22 (starttime, clock ticks since boot) of /proc/<pid>/stat."""
    return procfs.parse_stat(text)["starttime"]


def parse_stat_state(text):
    return procfs.parse_stat(text)["state"]


# ------------------------------------------------------------- state access


def name_dir(name, ns_dir=NAMESPACES_DIR):
    return os.path.join(ns_dir, validate_name(name))


def paths(name, ns_dir=NAMESPACES_DIR, types=None):
    """{type: path of the bind-mounted namespace file}; the types of the state file unless
    `types` is given."""
    if types is None:
        state = load_state(name, ns_dir) or {}
        types = state.get("config", {}).get("types", [])
    base = name_dir(name, ns_dir)
    return dict((t, os.path.join(base, t)) for t in catalog.validate_names(types))


def load_state(name, ns_dir=NAMESPACES_DIR):
    """The state dict of a named namespace, or None when absent or unreadable."""
    try:
        with open(os.path.join(name_dir(name, ns_dir), STATE_FILE)) as fh:
            state = json.load(fh)
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _valid_name(name):
    try:
        return bool(validate_name(name))
    except ValueError:
        return False


def list_named(ns_dir=NAMESPACES_DIR):
    """Sorted names of the named namespaces that have a state file."""
    try:
        entries = os.listdir(ns_dir)
    except OSError:
        return []
    return sorted(n for n in entries if _valid_name(n) and os.path.isfile(os.path.join(ns_dir, n, STATE_FILE)))


def _write_state(name, state, ns_dir):
    path = os.path.join(name_dir(name, ns_dir), STATE_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(state, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


# ----------------------------------------------------------------- holder


def read_holder_identity(pid, proc="/proc"):
    """{'starttime', 'state', 'argv'} of a process, or None when it does not exist."""
    base = os.path.join(proc, str(pid))
    try:
        with open(os.path.join(base, "stat")) as fh:
            stat = fh.read()
        with open(os.path.join(base, "cmdline"), "rb") as fh:
            argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except (OSError, ValueError):
        return None
    return {"starttime": parse_stat_starttime(stat), "state": parse_stat_state(stat), "argv": argv}


def holder_alive(holder, name, proc="/proc"):
    """True when the process recorded in `holder` still runs and is ours: same start time,
    command line `nsv-holder ... <name>`, not a zombie. Guards against PID reuse."""
    if not holder or not holder.get("pid"):
        return False
    ident = read_holder_identity(holder["pid"], proc)
    if ident is None or ident["state"] in ("Z", "X"):
        return False
    if ident["starttime"] != holder.get("starttime"):
        return False
    argv = ident["argv"]
    return bool(argv) and argv[0] == HOLDER_ARGV0 and argv[-1] == name


def holder_argv(name):
    return [HOLDER_ARGV0, "-I", "-S", "-c", HOLDER_CODE, name]


def find_untracked_holders(name, proc="/proc", known=()):
    """Host PIDs of holders of `name` that state.json does not name: a module killed between
    starting the holder and recording it leaves one. Matched on the exact command line (our
    program text and the name), so no foreign process can match."""
    want = ("\0".join(holder_argv(name)) + "\0").encode()
    found = []
    for entry in os.listdir(proc):
        if not entry.isdigit() or int(entry) in known:
            continue
        try:
            with open(os.path.join(proc, entry, "cmdline"), "rb") as fh:
                if fh.read() != want:
                    continue
            with open(os.path.join(proc, entry, "stat")) as fh:
                stat = fh.read()
        except OSError:
            continue
        if parse_stat_state(stat) not in ("Z", "X"):
            found.append({"pid": int(entry), "starttime": parse_stat_starttime(stat)})
    return found


def stop_holder(holder, name, proc="/proc", timeout=5.0):
    """SIGKILL the holder if it is still ours; wait until it is gone or a zombie (its parent,
    the host's init, reaps it). Return True when a process was killed."""
    if not holder_alive(holder, name, proc):
        return False
    try:
        os.kill(holder["pid"], signal.SIGKILL)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and holder_alive(holder, name, proc):
        time.sleep(0.02)
    return True


# ----------------------------------------------------------- examine / plan


def _mounts_under(prefix, mounts):
    prefix = prefix.rstrip("/") + "/"
    return [m for m in mounts if m["mount_point"].startswith(prefix)]


def examine(name, ns_dir=NAMESPACES_DIR, proc="/proc", mounts=None):
    """What exists of a named namespace: state, which bind mounts are in place with the
    recorded inode, whether the holder lives. Read-only."""
    base = name_dir(name, ns_dir)
    if mounts is None:
        mounts = read_mountinfo(proc=proc)
    own_mounts = _mounts_under(base, mounts)
    state = load_state(name, ns_dir)
    exists = os.path.lexists(base) or bool(own_mounts)
    config = (state or {}).get("config") or {}
    inodes = (state or {}).get("inodes") or {}
    mounted = {}
    for t in config.get("types", []):
        path = os.path.join(base, t)
        ok = False
        if any(m["mount_point"] == path and m["fstype"] == "nsfs" for m in own_mounts):
            try:
                ok = os.stat(path).st_ino == inodes.get(t)
            except OSError:
                ok = False
        mounted[t] = ok
    holder = (state or {}).get("holder")
    alive = holder_alive(holder, name, proc) if needs_holder(config.get("types", [])) else None
    hostname_inside = None
    if config.get("hostname") and mounted.get("uts"):
        hostname_inside = read_hostname(os.path.join(base, "uts"))
    return {
        "exists": exists,
        "state": state,
        "complete": bool(state) and state.get("status") == "ready",
        "mounted": mounted,
        "missing": sorted(t for t, ok in mounted.items() if not ok),
        "holder_alive": alive,
        "hostname_inside": hostname_inside,
        "mounts": [m["mount_point"] for m in own_mounts],
    }


def read_hostname(uts_path):
    """The hostname inside a UTS namespace file, read by a forked child that joins it."""
    res = probe.run(lambda: os.uname().nodename, join={"uts": uts_path}, timeout=5.0)
    return res["value"] if res["ok"] else None


def set_hostname(uts_path, hostname):
    res = probe.run(syscalls.sethostname, args=(hostname,), join={"uts": uts_path}, timeout=5.0)
    if not res["ok"]:
        raise NamespaceError(
            "setting the hostname inside %s failed: %s" % (uts_path, res["error"]),
            stage=res["stage"],
            errname=res["errname"],
        )


def decide(want_present, config, exam, force=False):
    """(action, reason) for the requested state; action is one of none, create, repair,
    recreate, remove. Raise ConfigConflict when the name holds another config and not force."""
    if not want_present:
        if exam["exists"]:
            return "remove", "named namespace exists"
        return "none", "named namespace is absent"
    if not exam["exists"]:
        return "create", "named namespace does not exist"
    if not exam["complete"]:
        return "recreate", "state file is missing or records an unfinished creation"
    current = exam["state"].get("config")
    if current != config:
        if not force:
            raise ConfigConflict(
                "named namespace exists with a different config; remove it first (state=absent) "
                "or set force=true to recreate it (every process inside loses it)",
                current_config=current,
                requested_config=config,
            )
        return "recreate", "config differs and force=true"
    if exam["holder_alive"] is False:
        return "recreate", "holder process is gone, so its PID/time namespace is unusable"
    if exam["missing"]:
        if exam["holder_alive"]:
            return "repair", "bind mounts missing (%s); re-made from the holder" % ", ".join(exam["missing"])
        return "recreate", "bind mounts missing (%s) and no holder keeps those namespaces" % ", ".join(exam["missing"])
    inside = exam.get("hostname_inside")
    if config.get("hostname") and inside is not None and inside != config["hostname"]:
        return "repair", "hostname inside is %r, not %r" % (inside, config.get("hostname"))
    return "none", "named namespace is in place as configured"


def describe(name, state, ns_dir=NAMESPACES_DIR):
    """The module's per-type return value from a state dict."""
    if not state:
        return {}
    base = name_dir(name, ns_dir)
    holder = state.get("holder") or {}
    out = {}
    for t in state.get("config", {}).get("types", []):
        entry = {"path": os.path.join(base, t), "inode": (state.get("inodes") or {}).get(t)}
        if t in HOLDER_TYPES:
            entry["holder_pid"] = holder.get("pid")
        out[t] = entry
    return out


# ------------------------------------------------------------- directories


def _lock(ns_dir):
    """Serialise creators and removers on this host: flock on /run/nsverify (no file made)."""
    run_dir = os.path.dirname(ns_dir.rstrip("/"))
    os.makedirs(run_dir, mode=0o755, exist_ok=True)
    fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _mounts_at(path, mounts):
    return [m for m in mounts if m["mount_point"] == path]


def ensure_namespaces_dir(ns_dir=NAMESPACES_DIR, proc="/proc"):
    """Make `ns_dir` a private bind mount of itself (ip-netns style, but private)."""
    os.makedirs(ns_dir, mode=0o755, exist_ok=True)
    here = _mounts_at(ns_dir, read_mountinfo(proc=proc))
    if not here:
        syscalls.mount(ns_dir, ns_dir, None, syscalls.MS_BIND | syscalls.MS_REC)
        here = _mounts_at(ns_dir, read_mountinfo(proc=proc))
    if here and here[-1]["propagation"] != "private":
        syscalls.mount(None, ns_dir, None, syscalls.MS_PRIVATE | syscalls.MS_REC)


def release_namespaces_dir(ns_dir=NAMESPACES_DIR, proc="/proc"):
    """Unmount and remove `ns_dir` once no named namespace is left in it."""
    try:
        if os.listdir(ns_dir):
            return False
    except FileNotFoundError:
        return False
    for _ in range(8):
        if not _mounts_at(ns_dir, read_mountinfo(proc=proc)):
            break
        syscalls.umount2(ns_dir, syscalls.MNT_DETACH)
    os.rmdir(ns_dir)
    return True


# ------------------------------------------------------------ remove


def remove(name, ns_dir=NAMESPACES_DIR, proc="/proc"):
    """Remove every mount, holder and file of a named namespace, also when a crash left only
    part of them. Return what was done."""
    base = name_dir(name, ns_dir)
    fd = _lock(ns_dir)
    try:
        return _remove_locked(name, base, ns_dir, proc)
    finally:
        os.close(fd)


def _remove_locked(name, base, ns_dir, proc):
    done = {
        "holder_killed": None,
        "untracked_holders_killed": [],
        "unmounted": [],
        "removed_dir": False,
        "released_dir": False,
    }
    state = load_state(name, ns_dir) or {}
    holder = state.get("holder")
    if holder and stop_holder(holder, name, proc):
        done["holder_killed"] = holder["pid"]
    known = [holder["pid"]] if holder else []
    for orphan in find_untracked_holders(name, proc, known):
        if stop_holder(orphan, name, proc):
            done["untracked_holders_killed"].append(orphan["pid"])
    # unmount deepest first; repeat, since a path may carry stacked mounts
    for _ in range(8):
        own = _mounts_under(base, read_mountinfo(proc=proc))
        if not own:
            break
        for m in sorted(own, key=lambda m: -len(m["mount_point"])):
            try:
                syscalls.umount2(m["mount_point"], syscalls.MNT_DETACH)
                done["unmounted"].append(m["mount_point"])
            except OSError as exc:
                if exc.errno not in (_errno.EINVAL, _errno.ENOENT):
                    raise
    if os.path.lexists(base):
        shutil.rmtree(base)
        done["removed_dir"] = True
    done["released_dir"] = release_namespaces_dir(ns_dir, proc)
    return done


# ------------------------------------------------------------ create


def _send(fd, obj):
    probe._write_all(fd, (json.dumps(obj) + "\n").encode())


def _creator(config, name, ns_dir, ctl_w, go_r, exec_w, python):
    """The forked child: unshare, get maps, set up, fork the holder. Never returns."""
    stage = "setsid"
    types = config["types"]
    try:
        os.setsid()
        # die with the module if it dies before the namespaces are mounted
        syscalls.set_pdeathsig(signal.SIGKILL)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.chdir("/")
        flags = catalog.flags_for(types)
        if "mnt" in types:
            # A first, throwaway mount namespace, still owned by the host's user namespace, where
            # the copy of ns_dir can be detached: it would otherwise pin every other named
            # namespace's files for as long as this one lives (in a namespace owned by a new user
            # namespace the copy is MNT_LOCKED and cannot be unmounted). Propagation is set
            # first, so the unmount cannot travel back to the host.
            stage = "mount_namespace"
            syscalls.unshare(catalog.CLONE_NEWNS)
            syscalls.mount(None, "/", None, syscalls.MS_REC | PROPAGATIONS[config["mount_propagation"]])
            try:
                syscalls.umount2(ns_dir, syscalls.MNT_DETACH)
            except OSError:
                pass
        stage = "unshare"
        syscalls.unshare(flags)
        if "user" in types:
            stage = "id_map"
            _send(ctl_w, {"maps": os.getpid()})
            if os.read(go_r, 1) != b"g":
                os._exit(3)
        if "uts" in types and config.get("hostname"):
            stage = "hostname"
            syscalls.sethostname(config["hostname"])
        if "time" in types:
            stage = "timens_offsets"
            with open("/proc/self/timens_offsets", "w") as fh:
                fh.write("monotonic %d 0\nboottime %d 0\n" % (config["monotonic_offset"], config["boottime_offset"]))
        if "user" in types and validate.maps_root(config["uid_map"]):
            # Last: changing ids clears the dumpable flag, after which /proc/self files (such as
            # timens_offsets) belong to an id unmapped here and cannot be opened.
            stage = "setresuid"
            try:
                os.setgroups([])
            except OSError:
                pass
            if validate.maps_root(config["gid_map"]):
                os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)  # the holder is root of the namespace, like unshare -r
        if needs_holder(types):
            stage = "holder"
            cpid = os.fork()
            if cpid == 0:
                try:
                    # only the exec pipe crosses exec (it closes there, telling the module
                    # that the holder started); no inherited fd may keep Ansible's pipes open
                    os.closerange(3, exec_w)
                    os.closerange(exec_w + 1, min(os.sysconf("SC_OPEN_MAX"), 1 << 16))
                    os.execv(python, holder_argv(name))
                except BaseException as exc:  # exec failed: say why through the exec pipe
                    try:
                        os.write(exec_w, ("exec %s: %s" % (python, exc)).encode()[:500])
                    finally:
                        os._exit(127)
            os.close(exec_w)
            _send(ctl_w, {"holder": cpid})
        stage = "ready"
        _send(ctl_w, {"ready": os.getpid()})
        os.read(go_r, 1)  # parent has made the bind mounts (or gave up)
        os._exit(0)
    except BaseException as exc:
        err = getattr(exc, "errno", None)
        try:
            _send(ctl_w, {"error": str(exc), "stage": stage, "errno": err, "errname": syscalls.errno_name(err)})
        finally:
            os._exit(1)


class _Lines:
    """JSON lines from the creator, with a deadline."""

    def __init__(self, fd, deadline):
        self.fd, self.deadline, self.buf = fd, deadline, b""

    def next(self):
        while b"\n" not in self.buf:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise NamespaceError(
                    "the creating process did not answer within %.0fs" % SPAWN_TIMEOUT, stage="timeout"
                )
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise NamespaceError("the creating process exited without a result", stage="spawn")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line.decode())


def _wait_eof(fd, deadline):
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NamespaceError("the holder process did not start within %.0fs" % SPAWN_TIMEOUT, stage="holder")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                return data
            data += chunk


def _holder_python():
    return os.path.realpath(sys.executable) if sys.executable else "/usr/bin/python3"


def create(name, config, ns_dir=NAMESPACES_DIR, proc="/proc", timeout=SPAWN_TIMEOUT):
    """Create a named namespace from a build_config() dict and return its state.
    On any failure everything made so far is removed and NamespaceError raised."""
    base = name_dir(name, ns_dir)
    fd = _lock(ns_dir)
    try:
        if os.path.lexists(base) or _mounts_under(base, read_mountinfo(proc=proc)):
            _remove_locked(name, base, ns_dir, proc)
        try:
            return _create_locked(name, config, base, ns_dir, proc, timeout)
        except BaseException:
            _remove_locked(name, base, ns_dir, proc)
            raise
    finally:
        os.close(fd)


def _create_locked(name, config, base, ns_dir, proc, timeout):
    types = config["types"]
    ensure_namespaces_dir(ns_dir, proc)
    os.mkdir(base, 0o755)
    state = {
        "version": STATE_VERSION,
        "name": name,
        "status": "creating",
        "config": config,
        "holder": None,
        "inodes": {},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _write_state(name, state, ns_dir)

    ctl_r, ctl_w = os.pipe()
    go_r, go_w = os.pipe()
    exec_r, exec_w = os.pipe()
    python = _holder_python()
    pid = os.fork()
    if pid == 0:
        os.close(ctl_r)
        os.close(go_w)
        os.close(exec_r)
        _creator(config, name, ns_dir, ctl_w, go_r, exec_w, python)
    os.close(ctl_w)
    os.close(go_r)
    os.close(exec_w)
    holder_pid = None
    try:
        lines = _Lines(ctl_r, time.monotonic() + timeout)
        source = None
        while source is None:
            msg = lines.next()
            if "error" in msg:
                hint = ""
                if msg["stage"] == "unshare" and msg["errname"] in ("EINVAL", "ENOSPC", "EPERM", "EUSERS"):
                    hint = (
                        "; one of %s is not built into this kernel, at its user.max_*_namespaces "
                        "limit or denied by policy: run the namespace_facts audit" % ", ".join(types)
                    )
                raise NamespaceError(
                    "creating the namespaces failed at %s: %s%s" % (msg["stage"], msg["error"], hint),
                    stage=msg["stage"],
                    errno=msg["errno"],
                    errname=msg["errname"],
                )
            if "maps" in msg:
                try:
                    probe.write_id_maps(
                        pid,
                        validate.id_map_lines(config["uid_map"]),
                        validate.id_map_lines(config["gid_map"]),
                        proc=proc,
                    )
                except OSError as exc:
                    os.write(go_w, b"x")
                    raise NamespaceError(
                        "writing uid_map/gid_map failed: %s" % exc,
                        stage="id_map",
                        errno=exc.errno,
                        errname=syscalls.errno_name(exc.errno),
                    )
                os.write(go_w, b"g")
            elif "holder" in msg:
                holder_pid = msg["holder"]
                ident = read_holder_identity(holder_pid, proc)
                state["holder"] = {"pid": holder_pid, "starttime": ident["starttime"] if ident else None}
                _write_state(name, state, ns_dir)  # tracked before anything else can fail
            elif "ready" in msg:
                source = holder_pid or msg["ready"]
        if holder_pid:
            failure = _wait_eof(exec_r, time.monotonic() + timeout)
            if failure:
                raise NamespaceError("the holder process could not start: %s" % failure.decode(), stage="holder")
            if not holder_alive(state["holder"], name, proc):
                raise NamespaceError("the holder process exited right after it started", stage="holder")
        for t in types:
            target = os.path.join(base, t)
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o444))
            src = os.path.join(proc, str(source), "ns", catalog.get(t).proc_entry)
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
        state["status"] = "ready"
        _write_state(name, state, ns_dir)
        return state
    except BaseException:
        if holder_pid:
            # still our grandchild (its parent waits for our word), so the PID is surely ours
            stop_holder(state["holder"], name, proc) or _kill_quietly(holder_pid)
        _kill_quietly(pid)
        raise
    finally:
        for f in (ctl_r, go_w, exec_r):
            try:
                os.close(f)
            except OSError:
                pass
        os.waitpid(pid, 0)


def _kill_quietly(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def repair(name, ns_dir=NAMESPACES_DIR, proc="/proc"):
    """Re-make missing bind mounts from the living holder, keeping every namespace (and inode)."""
    base = name_dir(name, ns_dir)
    fd = _lock(ns_dir)
    try:
        ensure_namespaces_dir(ns_dir, proc)
        exam = examine(name, ns_dir, proc)
        state = exam["state"]
        if exam["missing"] and not exam["holder_alive"]:
            raise NamespaceError("cannot repair %s: its holder process is gone" % name, stage="repair")
        for t in exam["missing"]:
            pid = state["holder"]["pid"]
            target = os.path.join(base, t)
            for _ in range(8):  # drop whatever sits there now (a stale or foreign mount)
                if not _mounts_at(target, read_mountinfo(proc=proc)):
                    break
                syscalls.umount2(target, syscalls.MNT_DETACH)
            src = os.path.join(proc, str(pid), "ns", catalog.get(t).proc_entry)
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
