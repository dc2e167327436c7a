"""The BusyBox container lifecycle: start, inspect, exec into, stop, remove.

How a container starts (the caller never changes namespace):

    caller ──fork──> A: setsid, fork, exit            (double fork: the container is
                     └─> B: join cgroups, unshare      nobody's child, and holds none of
                            mnt uts ipc net cgroup     the caller's pipes, so Ansible
                            pid [time], fork, exit     does not wait on it)
                            └─> C = PID 1 inside: mount overlay, /proc, /sys (ro),
                                /dev; pivot_root and detach the old root; [unshare
                                a user namespace, the caller writes its maps];
                                report to the caller; spawn the workload with reduced
                                capabilities and no_new_privs; reap every child
                                (orphans included); on SIGTERM forward it to all,
                                wait, SIGKILL the rest after a grace, exit.

PID 1 is this already-loaded Python process acting as a tiny init, not a busybox
init: busybox init needs an inittab, answers SIGTERM by running shutdown actions
and calling reboot(2), and its reaping cannot be steered; ours is ~40 lines,
forwards SIGTERM and reaps for real (tests prove it with an orphan). It is made
immune to the OOM killer (oom_score_adj -1000) so that an allocation beyond the
memory limit kills the allocating workload, not the init.

Files:
  /run/nsverify/containers/<name>/state.json   runtime state (init pid + start time, ...)
  /run/nsverify/containers/<name>/console.log  stdout/stderr of init and workload
  /run/nsverify/containers/<name>/merged       overlay mount point (mounted in the
                                               container's mount namespace only)
  /var/lib/nsverify/containers/<name>/config.json, upper/, work/   kept when stopped
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import time
import traceback

from ansible.module_utils.nsverify import catalog, cgroups, inspect, probe, procfs, rootfs, syscalls

RUN_DIR = "/run/nsverify/containers"
DATA_DIR = "/var/lib/nsverify/containers"
DEFAULT_HOSTNAME = "isolated-box"
DEFAULT_NETWORK = "10.213.0.0/30"
# The workload when none is given: a shell that idles and leaves on SIGTERM.
DEFAULT_COMMAND = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"]
BASE_TYPES = ("mnt", "uts", "ipc", "net", "pid", "cgroup")
STOP_GRACE = 5.0
STOP_TICK = 0.2

CAPABILITIES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
)
# Docker's default set minus MKNOD: without a devices cgroup, MKNOD would let root
# inside create /dev/sda and read the host's disk. SYS_ADMIN is never kept by default,
# so the workload cannot remount /sys or /proc/sys writable, nor mount anything.
DEFAULT_CAPS = (
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SYS_CHROOT",
    "AUDIT_WRITE",
    "SETFCAP",
)

DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))
ENV = {"PATH": "/bin:/sbin:/usr/bin:/usr/sbin", "HOME": "/root", "TERM": "dumb"}

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class ContainerError(Exception):
    """Bad input or a failed step; the message says what was wrong and what to do."""

    def __init__(self, msg, **evidence):
        Exception.__init__(self, msg)
        self.evidence = evidence


# ---------------------------------------------------------------- validation


def validate_hostname(hostname):
    """RFC 1123 host name, at most 64 bytes (HOST_NAME_MAX, sethostname(2))."""
    if not hostname or len(hostname.encode()) > 64:
        raise ContainerError("hostname %r must be 1 to 64 characters (HOST_NAME_MAX)" % (hostname,))
    if not all(_LABEL_RE.match(label) for label in hostname.split(".")):
        raise ContainerError(
            "hostname %r is not a valid host name: use letters, digits and '-' in "
            "dot-separated labels, no label starting or ending with '-'" % (hostname,)
        )


def validate_ifname(name, what):
    if not name or len(name) > 15:
        raise ContainerError("%s %r must be 1 to 15 characters (IFNAMSIZ - 1)" % (what, name))
    if not name.startswith("nsv") or not _IFNAME_RE.match(name):
        raise ContainerError("%s %r must start with 'nsv' and use only letters, digits, '_', '.', '-'" % (what, name))


def veth_names(name):
    """Default veth names: nsv + 8 hex of the container name + h (host) / c (container)."""
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return "nsv%sh" % digest, "nsv%sc" % digest


def network_addresses(network):
    """'10.213.0.0/30' -> (host address with prefix, container address with prefix)."""
    try:
        net = ipaddress.ip_network(network, strict=True)
    except ValueError as exc:
        raise ContainerError("network %r is not a valid network: %s (e.g. 10.213.0.0/30)" % (network, exc))
    if net.version != 4 or net.prefixlen != 30 or not net.is_private:
        raise ContainerError("network %r must be a private IPv4 /30, e.g. 10.213.0.0/30" % (network,))
    hosts = list(net.hosts())
    return "%s/30" % hosts[0], "%s/30" % hosts[1]


def cap_numbers(names):
    out = []
    for n in names:
        key = n.upper()
        if key.startswith("CAP_"):
            key = key[4:]
        if key not in CAPABILITIES:
            raise ContainerError("unknown capability %r: choose from %s" % (n, ", ".join(CAPABILITIES)))
        out.append(CAPABILITIES.index(key))
    return sorted(set(out))


def normalize(
    name,
    rootfs_path,
    hostname=DEFAULT_HOSTNAME,
    memory=None,
    cpus=None,
    pids=None,
    veth=False,
    veth_host=None,
    veth_container=None,
    network=DEFAULT_NETWORK,
    command=None,
    capabilities=None,
    time_offsets=None,
    require_rootfs=True,
    user_namespace=False,
    uid_map=None,
    gid_map=None,
    namespaces=None,
):
    """Validate the request and return the canonical config (what the config hash covers).
    require_rootfs=False (check mode) accepts a rootfs that an earlier task would build."""
    if not name or not _NAME_RE.match(name):
        raise ContainerError(
            "container name %r must be 1-32 characters of a-z, 0-9, '_', '-', starting with a letter or digit" % (name,)
        )
    if not rootfs_path or (require_rootfs and not os.path.isdir(rootfs_path)):
        raise ContainerError(
            "rootfs %r does not exist: build it first (role busybox_rootfs, module "
            "busybox_rootfs) and pass its path" % (rootfs_path,)
        )
    if os.path.isdir(rootfs_path) and not rootfs.looks_like_rootfs(rootfs_path):
        raise ContainerError(
            "rootfs %s has no executable bin/busybox and bin/sh: build it with the busybox_rootfs module" % rootfs_path
        )
    validate_hostname(hostname)
    try:
        mem = cgroups.parse_size(memory)
    except ValueError as exc:
        raise ContainerError(str(exc))
    if mem is not None:
        floor = cgroups.min_memory(cgroups.read_layout())
        if mem < floor:
            raise ContainerError(
                "memory limit %s (%d bytes) is below the %d MiB floor: the idle busybox workload "
                "and an exec of sh + ps peak at 3.8 MiB (init's pages add 4.5 MiB where it "
                "shares the limited cgroup, on cgroup v2)" % (memory, mem, floor // (1024 * 1024))
            )
    if cpus is not None:
        cpus = float(cpus)
        if cpus < 0.01:
            raise ContainerError("cpus %r must be at least 0.01" % cpus)
    if pids is not None:
        pids = int(pids)
        if pids < cgroups.MIN_PIDS:
            raise ContainerError(
                "pids limit %d is below %d: init, the workload and an exec need room" % (pids, cgroups.MIN_PIDS)
            )
    default_host, default_ctr = veth_names(name)
    veth_host = veth_host or default_host
    veth_container = veth_container or default_ctr
    host_addr = ctr_addr = None
    if veth:
        validate_ifname(veth_host, "veth host name")
        validate_ifname(veth_container, "veth container name")
        if veth_host == veth_container:
            raise ContainerError("veth host and container names must differ")
        host_addr, ctr_addr = network_addresses(network)
    command = list(command or DEFAULT_COMMAND)
    if not command[0].startswith("/"):
        raise ContainerError("command %r must start with an absolute path inside the container" % command[0])
    caps = list(DEFAULT_CAPS if capabilities is None else capabilities)
    cap_numbers(caps)
    offsets = None
    if time_offsets:
        offsets = {}
        for clock in time_offsets:
            if clock not in ("monotonic", "boottime"):
                raise ContainerError("time offset clock %r must be monotonic or boottime" % clock)
            offsets[clock] = int(time_offsets[clock])
    chosen = validate_namespaces(namespaces)
    user = None
    if user_namespace:
        user = {"uid_map": _id_map(uid_map, "uid_map"), "gid_map": _id_map(gid_map, "gid_map")}
    elif uid_map or gid_map:
        raise ContainerError("uid_map/gid_map need user_namespace=true")
    config = {
        "name": name,
        "rootfs": os.path.realpath(rootfs_path),
        "hostname": hostname,
        "memory": mem,
        "cpus": cpus,
        "pids": pids,
        "veth": {
            "host": veth_host,
            "container": veth_container,
            "host_address": host_addr,
            "container_address": ctr_addr,
        }
        if veth
        else None,
        "command": command,
        "capabilities": sorted(c.upper().replace("CAP_", "") for c in caps),
        "time_offsets": offsets,
        "user": user,
    }
    if chosen != sorted(BASE_TYPES):
        # only when it differs: the config hash of containers started before the option stays
        config["namespaces"] = chosen
    return config


# The container cannot be built without these: the overlay root and pivot_root need mnt,
# sethostname without uts would rename the host, init must be PID 1 (reaping, stop), and
# lo/the veth are set up in the container's own network namespace.
REQUIRED_TYPES = ("mnt", "uts", "pid", "net")


def validate_namespaces(namespaces):
    """The base namespace types to unshare (sorted); None = all six. ipc and cgroup may be left
    out, e.g. on a host whose user.max_cgroup_namespaces is 0."""
    if namespaces is None:
        return sorted(BASE_TYPES)
    chosen = sorted(set(namespaces))
    unknown = [t for t in chosen if t not in BASE_TYPES]
    if unknown:
        raise ContainerError(
            "namespaces %s: unknown or not a base type; choose from %s (user and time "
            "come from user_namespace and time_offsets)" % (", ".join(unknown), ", ".join(BASE_TYPES))
        )
    missing = [t for t in REQUIRED_TYPES if t not in chosen]
    if missing:
        raise ContainerError(
            "namespaces must include %s: the container needs them (mnt for its root, uts so "
            "that its hostname is not the host's, pid for its init, net for lo and the veth); "
            "only ipc and cgroup may be left out" % ", ".join(missing)
        )
    return chosen


DEFAULT_ID_MAP = [[0, 100000, 65536]]


def _id_map(entries, what):
    """[[inside, outside, count], ...] validated (user_namespaces(7): at most 340 lines)."""
    entries = entries or DEFAULT_ID_MAP
    out = []
    try:
        for e in entries:
            inside, outside, count = (int(x) for x in e)
            if inside < 0 or outside < 0 or count < 1:
                raise ValueError
            out.append([inside, outside, count])
    except (TypeError, ValueError):
        raise ContainerError("%s %r must be a list of [inside, outside, count] with count >= 1" % (what, entries))
    if not out or len(out) > 340:
        raise ContainerError("%s must have 1 to 340 lines" % what)
    if not any(e[0] == 0 for e in out):
        raise ContainerError("%s must map id 0 inside (the workload runs as root inside)" % what)
    return out


def config_hash(config):
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def namespace_types(config):
    types = [t for t in BASE_TYPES if t in config.get("namespaces", BASE_TYPES)]
    if config.get("time_offsets"):
        types.append("time")
    if config.get("user"):
        types.append("user")
    return catalog.validate_names(types)


# ---------------------------------------------------------------- paths and state


def paths(name, run_dir=RUN_DIR, data_dir=DATA_DIR):
    run = os.path.join(run_dir, name)
    data = os.path.join(data_dir, name)
    return {
        "run": run,
        "state": os.path.join(run, "state.json"),
        "console": os.path.join(run, "console.log"),
        "merged": os.path.join(run, "merged"),
        "data": data,
        "config": os.path.join(data, "config.json"),
        "upper": os.path.join(data, "upper"),
        "work": os.path.join(data, "work"),
    }


def _read_json(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


parse_stat = procfs.parse_stat


def read_stat(pid, proc="/proc"):
    try:
        with open(os.path.join(proc, str(pid), "stat")) as fh:
            return parse_stat(fh.read())
    except (OSError, ValueError, IndexError):
        return None


def init_alive(state, proc="/proc"):
    """True when the recorded init still runs: same pid AND same start time (PID reuse guard)."""
    if not state or not state.get("init_pid"):
        return False
    st = read_stat(state["init_pid"], proc)
    return bool(st) and st["starttime"] == state.get("init_starttime") and st["state"] not in ("Z", "X")


def status(name, run_dir=RUN_DIR, data_dir=DATA_DIR):
    """{'name', 'exists', 'running', 'state', 'config'} of a container."""
    p = paths(name, run_dir, data_dir)
    state = _read_json(p["state"])
    config = _read_json(p["config"])
    return {
        "name": name,
        "exists": bool(config) or os.path.isdir(p["data"]) or os.path.isdir(p["run"]),
        "running": init_alive(state),
        "state": state,
        "config": config,
    }


def list_names(run_dir=RUN_DIR, data_dir=DATA_DIR):
    names = set()
    for d in (run_dir, data_dir):
        try:
            names.update(e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e)))
        except OSError:
            pass
    return sorted(names)


# ---------------------------------------------------------------- inside: init

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def link_up(ifname):
    """Bring an interface up with SIOCSIFFLAGS (netdevice(7)), no ip binary needed."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH", ifname.encode(), 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifr)[:18])[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH", ifname.encode(), flags | IFF_UP))


def _set_text(path, text):
    current = None
    if os.path.isfile(path) and not os.path.islink(path):
        with open(path) as fh:
            current = fh.read()
    if current != text:
        if os.path.lexists(path):
            os.unlink(path)
        with open(path, "w") as fh:
            fh.write(text)
        os.chmod(path, 0o644)


def _mount_dev(dev):
    syscalls.mount("tmpfs", dev, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NOEXEC, "mode=755,size=512k")
    for node, major, minor in DEVICES:
        path = os.path.join(dev, node)
        os.mknod(path, 0o666 | 0o020000, os.makedev(major, minor))
        os.chmod(path, 0o666)
    os.mkdir(os.path.join(dev, "pts"), 0o755)
    syscalls.mount(
        "devpts",
        os.path.join(dev, "pts"),
        "devpts",
        syscalls.MS_NOSUID | syscalls.MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=620",
    )
    os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))
    os.mkdir(os.path.join(dev, "shm"), 0o1777)
    syscalls.mount(
        "shm", os.path.join(dev, "shm"), "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV, "mode=1777,size=16m"
    )
    for link, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, os.path.join(dev, link))


def _bind_readonly(path):
    syscalls.mount(path, path, None, syscalls.MS_BIND | syscalls.MS_REC)
    syscalls.mount(
        None,
        path,
        None,
        syscalls.MS_BIND
        | syscalls.MS_REMOUNT
        | syscalls.MS_RDONLY
        | syscalls.MS_NOSUID
        | syscalls.MS_NODEV
        | syscalls.MS_NOEXEC,
    )


def setup_root(config, p):
    """In the new mount/uts/net namespaces, as PID 1: build the container's root and enter it."""
    syscalls.sethostname(config["hostname"])
    # Nothing we mount may propagate back to the host (the host's / is shared).
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
    merged = p["merged"]
    syscalls.mount(
        "overlay",
        merged,
        "overlay",
        0,
        "lowerdir=%s,upperdir=%s,workdir=%s" % (config["rootfs"], p["upper"], p["work"]),
    )
    _set_text(os.path.join(merged, "etc/hostname"), "%s\n" % config["hostname"])
    _set_text(os.path.join(merged, "etc/hosts"), rootfs.etc_files(config["hostname"])["etc/hosts"])
    for d, mode in (("proc", 0o555), ("sys", 0o555), ("dev", 0o755), ("tmp", 0o1777)):
        if not os.path.isdir(os.path.join(merged, d)):
            os.mkdir(os.path.join(merged, d), mode)
    nosuid_nodev_noexec = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC
    syscalls.mount("proc", os.path.join(merged, "proc"), "proc", nosuid_nodev_noexec)
    # /proc/sys and sysrq-trigger act on the whole host: read-only like every runtime does
    for rel in ("proc/sys", "proc/sysrq-trigger", "proc/irq", "proc/bus"):
        if os.path.exists(os.path.join(merged, rel)):
            _bind_readonly(os.path.join(merged, rel))
    syscalls.mount("sysfs", os.path.join(merged, "sys"), "sysfs", syscalls.MS_RDONLY | nosuid_nodev_noexec)
    _mount_dev(os.path.join(merged, "dev"))
    link_up("lo")
    # pivot_root(".", ".") stacks the old root on top of the new one; unmounting "."
    # with MNT_DETACH then drops the old root, leaving nothing to chroot back into
    # (pivot_root(2), NOTES).
    os.chdir(merged)
    syscalls.pivot_root(".", ".")
    syscalls.umount2(".", syscalls.MNT_DETACH)
    os.chdir("/")


# oom_score_adj of the workload and of exec'd processes when init could not make itself
# unkillable (-1000 needs CAP_SYS_RESOURCE, which some sandboxes withhold from root): the
# OOM killer ranks by RSS plus adj/1000 of the limit, and the Python init's RSS (~26 MiB,
# mostly pages charged to the host's cgroup) would outrank a hog under a small limit. With
# the maximum, a hog wins from a limit of about 16 MiB up; below that init may be chosen.
WORKLOAD_OOM_SCORE_ADJ = 1000


def _workload_oom_score_adj(init_pid="self", proc="/proc"):
    try:
        with open(os.path.join(proc, str(init_pid), "oom_score_adj")) as fh:
            init_adj = int(fh.read())
    except (OSError, ValueError):
        init_adj = 0
    return 0 if init_adj == -1000 else WORKLOAD_OOM_SCORE_ADJ


def _set_oom_score_adj(value):
    """Best effort: lowering needs CAP_SYS_RESOURCE, which some sandboxes withhold."""
    try:
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write(str(value))
        return True
    except OSError:
        return False


def permitted_caps(proc="/proc"):
    """The CapPrm mask of this process."""
    with open(os.path.join(proc, "self/status")) as fh:
        for line in fh:
            if line.startswith("CapPrm:"):
                return int(line.split()[1], 16)
    return 0


def drop_privileges(keep_names, permitted=None):
    """Bounding set and capset down to `keep_names`, ambient cleared, no_new_privs on.
    `permitted`: this process's CapPrm, read before a uid change made /proc/self unreadable."""
    keep = cap_numbers(keep_names)
    syscalls.drop_bounding_caps(keep=keep)
    syscalls.clear_ambient_caps()
    mask = 0
    for c in keep:
        mask |= 1 << c
    mask &= permitted_caps() if permitted is None else permitted  # capset may only lower it
    syscalls.capset(mask, mask, 0)
    syscalls.set_no_new_privs()


def become_root_inside(config):
    """In the container's user namespace: uid/gid 0 inside (the map's outside ids on the host)."""
    if config.get("user"):
        os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)


def _exec_workload(config):
    for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGALRM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    os.setsid()
    _set_oom_score_adj(_workload_oom_score_adj())  # read from init, whose adj we inherited
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    permitted = permitted_caps()
    become_root_inside(config)
    drop_privileges(config["capabilities"], permitted)
    os.execve(config["command"][0], config["command"], ENV)


def init_main(config, p, report_fd, go_fd=None, payload_fds=()):
    """PID 1 of the container. Never returns.

    With a user namespace, init enters it only after building the root: the mnt, uts, net,
    ipc, pid and cgroup namespaces stay owned by the host's user namespace, so root inside
    (host uid = the map's outside id) holds no capability over them -- it cannot mount,
    set the hostname or configure interfaces -- while the kernel checks the workload's files
    as the mapped id. The caller writes the maps (only a process in the parent user namespace
    may map ids other than its own) when init asks for them on the report pipe."""
    try:
        syscalls.set_name("nsv-init")  # what ps shows as PID 1, inside and on the host
        setup_root(config, p)
        _set_oom_score_adj(-1000)
        if config.get("user"):
            syscalls.unshare(catalog.CLONE_NEWUSER)
            os.write(report_fd, b"U")
            if os.read(go_fd, 1) != b"g":
                raise ContainerError("the caller could not write the uid/gid maps")
        if go_fd is not None:
            os.close(go_fd)
    except BaseException as exc:  # report every failure, never leave the caller waiting
        os.write(
            report_fd,
            json.dumps(
                {
                    "ok": False,
                    "stage": "init",
                    "errno": getattr(exc, "errno", None),
                    "error": "%s: %s" % (type(exc).__name__, exc),
                    "traceback": traceback.format_exc(),
                }
            ).encode(),
        )
        os._exit(1)
    stopping = {"on": False, "since": 0.0}

    def on_term(signum, frame):
        if not stopping["on"]:
            stopping["on"] = True
            stopping["since"] = time.monotonic()
            try:
                os.kill(-1, signal.SIGTERM)  # -1 from PID 1: every process of this PID namespace
            except OSError:
                pass
            signal.setitimer(signal.ITIMER_REAL, STOP_TICK, STOP_TICK)

    def on_alarm(signum, frame):
        # A process can miss the first SIGTERM (forked while it went round, or a shell child
        # that still ran its parent's trap handler when it arrived): repeat it every tick,
        # then SIGKILL whatever is left after the grace.
        late = time.monotonic() - stopping["since"] >= STOP_GRACE
        try:
            os.kill(-1, signal.SIGKILL if late else signal.SIGTERM)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    # Block the signals across fork: a SIGTERM that arrives before the workload has reset
    # its handlers must hit the workload's default action, not run init's handler in it.
    handled = {signal.SIGTERM, signal.SIGINT, signal.SIGALRM}
    signal.pthread_sigmask(signal.SIG_BLOCK, handled)
    workload = os.fork()
    if workload == 0:
        try:
            for sig in handled:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, handled)
            for fd in payload_fds:  # the limited cgroup(s), which init stays out of
                os.write(fd, b"0")
            _exec_workload(config)
        except BaseException as exc:
            os.write(2, ("nsverify init: cannot start workload: %s\n" % exc).encode())
        os._exit(127)
    for fd in payload_fds:
        os.close(fd)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, handled)
    os.write(report_fd, json.dumps({"ok": True, "workload_pid_inside": workload}).encode())
    os.close(report_fd)
    # Reap every child, orphans reparented to us included; when the workload ends the
    # container ends (like docker), after the others got SIGTERM and the grace.
    while True:
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        if pid == workload:
            on_term(signal.SIGTERM, None)


def _launcher(config, p, cgroup_fds, pid_w, report_w, go_r, payload_fds=()):
    """Runs in B (see module docstring). Never returns."""
    try:
        for fd in cgroup_fds:
            os.write(fd, b"0")
            os.close(fd)
        # the user namespace comes last, made by init once the root is built (see init_main)
        flags = catalog.flags_for([t for t in namespace_types(config) if t != "user"])
        syscalls.unshare(flags)
        if config.get("time_offsets"):
            # must be written before the first process of the time namespace exists
            with open("/proc/self/timens_offsets", "w") as fh:
                for clock, secs in sorted(config["time_offsets"].items()):
                    fh.write("%s %d 0\n" % (clock, secs))
        child = os.fork()
    except BaseException as exc:
        os.write(
            report_w,
            json.dumps(
                {
                    "ok": False,
                    "stage": "unshare",
                    "errno": getattr(exc, "errno", None),
                    "error": "%s: %s" % (type(exc).__name__, exc),
                }
            ).encode(),
        )
        os._exit(1)
    if child == 0:
        os.close(pid_w)
        init_main(config, p, report_w, go_r, payload_fds)
    os.write(pid_w, str(child).encode())
    os._exit(0)


def _detach_stdio(console):
    devnull = os.open("/dev/null", os.O_RDWR)
    log = os.open(console, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)


def _read_all(fd, timeout):
    return probe.read_until_eof(fd, time.monotonic() + timeout)


def _close_fds_except(keep):
    keep = sorted(set(k for k in keep if k is not None and k > 2))
    low = 3
    for k in keep:
        if low < k:
            os.closerange(low, k)
        low = k + 1
    os.closerange(low, 65536)


def _run(argv):
    res = subprocess.run(
        argv, capture_output=True, text=True, env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, timeout=30
    )
    if res.returncode != 0:
        raise ContainerError(
            "%s failed (rc %d): %s" % (" ".join(argv), res.returncode, res.stderr.strip()),
            cmd=argv,
            rc=res.returncode,
            stderr=res.stderr,
        )
    return res.stdout


def link_exists(ifname):
    return os.path.exists(os.path.join("/sys/class/net", ifname))


def setup_veth(veth, init_pid):
    """Host end in the host, peer moved into the container's network namespace, a /30 between."""
    _run(["ip", "link", "add", veth["host"], "type", "veth", "peer", "name", veth["container"], "netns", str(init_pid)])
    _run(["ip", "addr", "add", veth["host_address"], "dev", veth["host"]])
    _run(["ip", "link", "set", veth["host"], "up"])
    inside = ["nsenter", "--target", str(init_pid), "--net", "--", "ip"]
    _run(inside + ["addr", "add", veth["container_address"], "dev", veth["container"]])
    _run(inside + ["link", "set", veth["container"], "up"])


def _nothing():
    return None


def refused_types(types, proc="/proc"):
    """unshare(2) of several types fails with one errno for all: try each type alone in a
    throwaway child to name the one(s) the kernel refuses. {type: {errno, errname, limit}}."""
    out = {}
    for t in types:
        res = probe.run(_nothing, unshare=catalog.get(t).flag, fork=False, timeout=10)
        if not res["ok"] and res["stage"] == "unshare":
            limit = None
            path = os.path.join(proc, "sys", catalog.get(t).limit_sysctl.replace(".", "/"))
            try:
                with open(path) as fh:
                    limit = int(fh.read())
            except (OSError, ValueError):
                pass
            out[t] = {"errno": res["errno"], "errname": res["errname"], "limit": limit}
    return out


def explain_refusal(refused, err=None):
    """Words for people: which type, which errno, what to look at."""
    if not refused:
        return (
            "the kernel refused the namespaces (%s) but each type alone was allowed: a limit was reached "
            "while starting (retry) or a policy refuses the combination" % (syscalls.errno_name(err) or err)
        )
    parts = []
    for t, why in sorted(refused.items()):
        info = catalog.get(t)
        name = why["errname"] or str(why["errno"])
        if why["errname"] == "ENOSPC":
            hint = "the limit %s is %s: raise it (sysctl -w %s=N)" % (
                info.limit_sysctl,
                "unreadable" if why["limit"] is None else why["limit"],
                info.limit_sysctl,
            )
        elif why["errname"] == "EPERM":
            hint = (
                "not permitted: creating it needs CAP_SYS_ADMIN; look at the policy that denies it (an LSM such "
                "as AppArmor or SELinux, a seccomp filter, a container runtime around this host)"
            )
        elif why["errname"] == "EINVAL":
            hint = "the kernel is built without it (%s)" % (info.config_option or "no config option")
        else:
            hint = "see unshare(2)"
        if t in ("ipc", "cgroup"):
            hint += "; or start without it (busybox_container namespaces / busybox_container_namespaces without %s)" % t
        parts.append("a new %s namespace (%s) with %s: %s" % (t, info.flag_name, name, hint))
    return "the kernel refuses " + "; ".join(parts)


def start(config, run_dir=RUN_DIR, data_dir=DATA_DIR, timeout=30.0):
    """Start the container described by `config` (from normalize()); return its state.
    On any failure everything made so far is removed and ContainerError raised."""
    name = config["name"]
    p = paths(name, run_dir, data_dir)
    made_run = not os.path.isdir(p["run"])
    made_data = not os.path.isdir(p["data"])
    cg = None
    init_pid = None
    try:
        for d in (p["run"], p["merged"], p["data"], p["upper"], p["work"]):
            os.makedirs(d, mode=0o700, exist_ok=True)
        # the upper dir's mode is the container's / mode: root inside a user namespace is
        # an unprivileged host uid and must be able to traverse it
        os.chmod(p["merged"], 0o755)
        os.chmod(p["upper"], 0o755)
        _write_json(p["config"], {"config": config, "config_hash": config_hash(config)})
        try:
            cg = cgroups.create(name, memory=config["memory"], cpus=config["cpus"], pids=config["pids"])
        except cgroups.CgroupError as exc:
            raise ContainerError(str(exc))
        cgroup_fds = cgroups.open_procs_files(cg)
        payload_fds = cgroups.open_procs_files(cg, payload=True)
        pid_r, pid_w = os.pipe()
        rep_r, rep_w = os.pipe()
        go_r, go_w = os.pipe()
        a = os.fork()
        if a == 0:  # A
            try:
                os.close(pid_r)
                os.close(rep_r)
                os.close(go_w)
                os.setsid()
                _detach_stdio(p["console"])
                _close_fds_except(cgroup_fds + payload_fds + [pid_w, rep_w, go_r])
                if os.fork() == 0:  # B
                    _launcher(config, p, cgroup_fds, pid_w, rep_w, go_r, payload_fds)
            finally:
                os._exit(0)
        for fd in cgroup_fds + payload_fds + [pid_w, rep_w, go_r]:
            os.close(fd)
        os.waitpid(a, 0)
        raw_pid = _read_all(pid_r, timeout)
        os.close(pid_r)
        if raw_pid:
            init_pid = int(raw_pid.decode())
        if config.get("user") and init_pid:
            ready, _, _ = select.select([rep_r], [], [], timeout)
            first = os.read(rep_r, 1) if ready else b""
            if first == b"U":
                try:
                    probe.write_id_maps(init_pid, config["user"]["uid_map"], config["user"]["gid_map"])
                    os.write(go_w, b"g")
                except OSError as exc:
                    os.write(go_w, b"x")
                    raise ContainerError("writing the uid/gid maps of %s failed: %s" % (name, exc))
                first = b""
            raw_rep = first + (_read_all(rep_r, timeout) or b"")
        else:
            raw_rep = _read_all(rep_r, timeout)
        os.close(rep_r)
        os.close(go_w)
        try:
            report = json.loads(raw_rep.decode()) if raw_rep else None
        except ValueError:
            report = None
        if report and report.get("stage") == "unshare" and report.get("errno"):
            types = [t for t in namespace_types(config) if t != "user"]
            refused = refused_types(types)
            raise ContainerError(
                "container %s did not start: %s (unshare of %s: %s)"
                % (name, explain_refusal(refused, report["errno"]), " ".join(types), report.get("error")),
                report=report,
                refused=refused,
            )
        if not report or not report.get("ok") or not init_pid:
            raise ContainerError(
                "container %s did not start: %s"
                % (name, (report or {}).get("error") or "no report from init within %ds" % timeout),
                report=report,
            )
        st = read_stat(init_pid)
        if config["veth"]:
            setup_veth(config["veth"], init_pid)
        state = {
            "name": name,
            "status": "running",
            "init_pid": init_pid,
            "init_starttime": st["starttime"] if st else None,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "config": config,
            "config_hash": config_hash(config),
            "namespaces": inspect.read_ns_inodes(init_pid, types=namespace_types(config)),
            "host_namespaces": inspect.read_ns_inodes("self", types=namespace_types(config)),
            "overlay": {"lower": config["rootfs"], "upper": p["upper"], "work": p["work"], "merged": p["merged"]},
            "cgroups": {
                "dirs": cg["dirs"],
                "limits": cg["limits"],
                "init_dirs": cg["init_dirs"],
                "payload_dirs": cg["payload_dirs"],
                "paths": {c: cg[c] for c in cgroups.CONTROLLERS},
                "v2": cg["v2"],
            },
            "veth": config["veth"],
            "paths": p,
        }
        _write_json(p["state"], state)
        return state
    except BaseException as exc:
        if init_pid:
            _kill_and_wait(init_pid, read_stat(init_pid), 0.5)
        if config.get("veth") and link_exists(config["veth"]["host"]):
            subprocess.run(["ip", "link", "del", config["veth"]["host"]], capture_output=True)
        if cg:
            cgroups.remove(cg)
        _remove_tree(p["run"] if made_run else None)
        if made_data:
            _remove_tree(p["data"])
        _prune_parents(run_dir, data_dir)
        if isinstance(exc, ContainerError):
            raise
        raise ContainerError("container %s did not start: %s: %s" % (name, type(exc).__name__, exc))


def _tail(path, size=2000):
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - size))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def _remove_tree(path):
    if path and os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def _prune_parents(run_dir=RUN_DIR, data_dir=DATA_DIR):
    """rmdir the containers/ dirs and /run/nsverify when empty (other users may hold them)."""
    for d in (run_dir, os.path.dirname(run_dir), data_dir):
        try:
            os.rmdir(d)
        except OSError:
            pass


def _kill_and_wait(pid, stat, timeout):
    """SIGTERM, wait up to `timeout`, then SIGKILL; True when the process is gone."""
    if not stat:
        return True

    def gone():
        now = read_stat(pid)
        return not now or now["starttime"] != stat["starttime"] or now["state"] in ("Z", "X")

    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if gone():
            return True
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if gone():
                return True
            time.sleep(0.05)
    return gone()


def stop(name, timeout=10.0, run_dir=RUN_DIR, data_dir=DATA_DIR):
    """Stop init (SIGTERM, SIGKILL after `timeout`), remove cgroups, veth and runtime files;
    keep the upper layer and config. Returns what was removed."""
    p = paths(name, run_dir, data_dir)
    state = _read_json(p["state"]) or {}
    removed = {"init_pid": None, "cgroups": [], "veth": None, "run_dir": None}
    if init_alive(state):
        if not _kill_and_wait(state["init_pid"], read_stat(state["init_pid"]), timeout):
            raise ContainerError("init %d of %s did not die after SIGKILL" % (state["init_pid"], name))
        removed["init_pid"] = state["init_pid"]
    veth = (state.get("config") or {}).get("veth") or ((_read_json(p["config"]) or {}).get("config") or {}).get("veth")
    if veth and link_exists(veth["host"]):
        subprocess.run(["ip", "link", "del", veth["host"]], capture_output=True)
        removed["veth"] = veth["host"]
    if veth:
        # the kernel tears a dead network namespace down asynchronously (cleanup_net
        # workqueue): its veth pair can outlive init by a moment
        deadline = time.monotonic() + 5.0
        while link_exists(veth["host"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        if link_exists(veth["host"]):
            subprocess.run(["ip", "link", "del", veth["host"]], capture_output=True)
    cg_dirs = (state.get("cgroups") or {}).get("dirs")
    if cg_dirs is None:  # no state: find them by name
        cg_dirs = cgroups.with_children([d for d in cgroups.find_named() if os.path.basename(d) == "nsv-%s" % name])
    left = cgroups.remove({"dirs": cg_dirs})
    if left:
        raise ContainerError("cgroups of %s still busy: %s" % (name, ", ".join(left)), cgroups=left)
    removed["cgroups"] = cg_dirs
    if os.path.isdir(p["run"]):
        _remove_tree(p["run"])
        removed["run_dir"] = p["run"]
    _prune_parents(run_dir, data_dir)
    return removed


def remove(name, timeout=10.0, run_dir=RUN_DIR, data_dir=DATA_DIR):
    """stop() and also delete the upper layer and config."""
    removed = stop(name, timeout, run_dir, data_dir)
    p = paths(name, run_dir, data_dir)
    removed["data_dir"] = p["data"] if os.path.isdir(p["data"]) else None
    _remove_tree(p["data"])
    _prune_parents(run_dir, data_dir)
    return removed


def leftovers(name, run_dir=RUN_DIR, data_dir=DATA_DIR):
    """What of container `name` exists on the host: for stop/absent decisions and tests."""
    p = paths(name, run_dir, data_dir)
    host_veth, _ = veth_names(name)
    out = {}
    if os.path.isdir(p["run"]):
        out["run_dir"] = p["run"]
    if os.path.isdir(p["data"]):
        out["data_dir"] = p["data"]
    cg = [d for d in cgroups.find_named() if os.path.basename(d) == "nsv-%s" % name]
    if cg:
        out["cgroups"] = cg
    if link_exists(host_veth):
        out["veth"] = host_veth
    return out


# ---------------------------------------------------------------- exec


def exec_in(state, argv, timeout=30.0, limit=1 << 20, join_user=True):
    """Run `argv` inside a running container: join its cgroups, then setns into every
    namespace of its init (catalog.JOIN_ORDER), fork (pid/time apply to children), drop
    capabilities like the workload, exec. Returns {'rc', 'stdout', 'stderr', 'timed_out'};
    rc is 128+N when the command died of signal N."""
    if not init_alive(state):
        raise ContainerError("container %s is not running" % state.get("name"))
    pid = state["init_pid"]
    oom_adj = _workload_oom_score_adj(pid)
    # The container's namespaces are owned by the host's user namespace (init made its own
    # user namespace last), so join them first and the user namespace last.
    types = [t for t in catalog.JOIN_ORDER if t in state["namespaces"] and t != "user"]
    if join_user and "user" in state["namespaces"]:
        types.append("user")
    ns_fds = {}
    cg_fds = []
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        for t in types:
            ns_fds[t] = os.open("/proc/%d/ns/%s" % (pid, catalog.get(t).proc_entry), os.O_RDONLY)
        cg_fds = cgroups.open_procs_files(state.get("cgroups") or {}) + cgroups.open_procs_files(
            state.get("cgroups") or {}, payload=True
        )
        # the open fds must be of the same init: re-check after opening (PID reuse)
        if not init_alive(state):
            raise ContainerError("container %s stopped while joining it" % state.get("name"))
        child = os.fork()
        if child == 0:
            code = 126
            try:
                os.close(out_r)
                os.close(err_r)
                for fd in cg_fds:
                    os.write(fd, b"0")
                for t in types:
                    syscalls.setns(ns_fds[t], catalog.get(t).flag)
                grand = os.fork()
                if grand == 0:
                    try:
                        syscalls.set_pdeathsig(signal.SIGKILL)
                        os.chdir("/")
                        devnull = os.open("/dev/null", os.O_RDONLY)
                        os.dup2(devnull, 0)
                        os.dup2(out_w, 1)
                        os.dup2(err_w, 2)
                        _close_fds_except([])
                        _set_oom_score_adj(oom_adj)
                        permitted = permitted_caps()
                        if "user" in types:
                            become_root_inside(state["config"])
                        drop_privileges(state["config"]["capabilities"], permitted)
                        os.execve(argv[0], argv, ENV)
                    except BaseException as exc:
                        os.write(2, ("nsverify exec: %s\n" % exc).encode())
                    os._exit(127)
                _, status = os.waitpid(grand, 0)
                code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
            except BaseException as exc:
                try:
                    os.write(err_w, ("nsverify exec: joining the container failed: %s\n" % exc).encode())
                except OSError:
                    pass
            os._exit(code)
    finally:
        for fd in list(ns_fds.values()) + cg_fds + [out_w, err_w]:
            os.close(fd)
    bufs = {out_r: [], err_r: []}
    open_fds = [out_r, err_r]
    deadline = time.monotonic() + timeout
    exited_at = None
    status = None
    timed_out = False
    # Background jobs left inside keep the pipes open: read until the command's own
    # process has exited, then drain briefly instead of waiting for EOF.
    while open_fds:
        now = time.monotonic()
        if now > deadline:
            timed_out = True
            break
        if status is None:
            wpid, wst = os.waitpid(child, os.WNOHANG)
            if wpid:
                status, exited_at = wst, now
        if exited_at is not None and now - exited_at > 0.2:
            break
        ready, _, _ = select.select(open_fds, [], [], 0.05)
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.remove(fd)
            elif sum(len(c) for c in bufs[fd]) < limit:
                bufs[fd].append(chunk)
    if status is None:
        if timed_out:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status = os.waitpid(child, 0)
    os.close(out_r)
    os.close(err_r)
    rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    return {
        "rc": rc,
        "stdout": b"".join(bufs[out_r]).decode(errors="replace"),
        "stderr": b"".join(bufs[err_r]).decode(errors="replace"),
        "timed_out": timed_out,
    }


SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B


def _ipv4_of(sock, ifname, request):
    ifr = struct.pack("256s", ifname.encode()[:15])
    return socket.inet_ntoa(fcntl.ioctl(sock.fileno(), request, ifr)[20:24])


def interfaces_here():
    """[[name, 'addr/prefix' or None], ...] of the calling process's network namespace
    (SIOCGIFADDR, netdevice(7): the first IPv4 address; no ip binary needed)."""
    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in sorted(socket.if_nameindex()):
            try:
                addr = _ipv4_of(s, name, SIOCGIFADDR)
                mask = _ipv4_of(s, name, SIOCGIFNETMASK)
                out.append([name, "%s/%d" % (addr, ipaddress.IPv4Network("0.0.0.0/%s" % mask).prefixlen)])
            except OSError:  # EADDRNOTAVAIL: no IPv4 address
                out.append([name, None])
    return out


def _look_inside():
    return {"hostname": os.uname().nodename, "interfaces": interfaces_here()}


def observe(state, timeout=10.0):
    """What the container's init sees now: hostname (uts) and interfaces (net), read by a
    probe that joins those two namespaces; {'error': ...} when the probe failed."""
    join = {
        t: "/proc/%d/ns/%s" % (state["init_pid"], catalog.get(t).proc_entry)
        for t in ("uts", "net")
        if t in (state.get("namespaces") or {})
    }
    res = probe.run(_look_inside, join=join, timeout=timeout)
    if not res["ok"]:
        return {"error": "%s (stage %s)" % (res.get("error"), res.get("stage"))}
    return res["value"]


def human_bytes(n):
    """67108864 -> '64M' (K/M/G when exact, else bytes)."""
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size and n % size == 0:
            return "%d%s" % (n // size, unit)
    return "%d bytes" % n


def _where(spec):
    """{'version': 1, 'path': '/sys/fs/cgroup/memory/nsv-box/payload'} + controller ->
    'v1 memory nsv-box/payload' (the hierarchy and the path below its root)."""
    parts = spec["path"].split(os.sep)
    rel = next((os.sep.join(parts[i:]) for i, part in enumerate(parts) if part.startswith("nsv-")), spec["path"])
    return rel


def limit_lines(cg_state, config):
    """'cgroup limits: memory 64M (v1 memory nsv-box/payload), cpu 0.5 (cfs 50000/100000), pids 64
    (v1 pids nsv-box)': the limits as the kernel reports them now, where they live."""
    paths = (cg_state or {}).get("paths") or {}
    parts = []

    def read(spec, fname):
        return cgroups.read_value(os.path.join(spec["path"], fname))

    for ctrl in ("memory", "cpu", "pids"):
        spec = paths.get(ctrl)
        if not config.get({"cpu": "cpus"}.get(ctrl, ctrl)):
            parts.append("%s unlimited" % ctrl)
            continue
        if not spec:
            parts.append("%s not available" % ctrl)
            continue
        where = "v%d %s %s" % (spec["version"], ctrl, _where(spec))
        if ctrl == "memory":
            raw = read(spec, "memory.limit_in_bytes" if spec["version"] == 1 else "memory.max")
            value = human_bytes(int(raw)) if raw and raw.isdigit() else raw
            parts.append("memory %s (%s)" % (value, where))
        elif ctrl == "cpu":
            if spec["version"] == 1:
                quota, period = read(spec, "cpu.cfs_quota_us"), read(spec, "cpu.cfs_period_us")
            else:
                quota, _, period = (read(spec, "cpu.max") or "").partition(" ")
            try:
                cpus = "%g" % (int(quota) / int(period))
            except (TypeError, ValueError, ZeroDivisionError):
                cpus = "unlimited" if quota == "max" else "?"
            parts.append("cpu %s (cfs %s/%s, %s)" % (cpus, quota, period, where))
        else:
            parts.append("pids %s (%s)" % (read(spec, "pids.max"), where))
    return ["cgroup limits: " + ", ".join(parts)]


def namespace_lines(state):
    """A small table: 'mnt     4026532177 vs host 4026531832  isolated'."""
    ns = state.get("namespaces") or {}
    host = state.get("host_namespaces") or {}
    now = inspect.read_ns_inodes(state["init_pid"], types=list(ns)) if state.get("init_pid") else {}
    lines = ["namespaces (container vs host):"]
    for t in [t for t in catalog.TYPE_NAMES if t in ns]:
        mine, theirs = now.get(t) or ns[t], host.get(t)
        verdict = "unknown" if mine is None or theirs is None else ("isolated" if mine != theirs else "SHARED")
        lines.append("  %-6s %-10s vs host %-10s %s" % (t, mine, theirs, verdict))
    for t in [t for t in BASE_TYPES if t not in ns]:
        lines.append("  %-6s the host's, left out by request (namespaces)" % t)
    return lines


def summary_lines(state):
    """What a person reads at the end of a run, one fact a line, read from the kernel now."""
    if not state:
        return []
    cfg = state.get("config") or {}
    try:
        nspid = inspect.read_nspid(state["init_pid"])
    except OSError:
        nspid = []
    lines = [
        "container %s: init PID %s on the host, %s inside (NSpid %s)"
        % (state.get("name"), state.get("init_pid"), nspid[-1] if nspid else "?", " ".join(str(p) for p in nspid))
    ]
    seen = observe(state)
    if "error" in seen:
        lines.append("inside: could not look (%s)" % seen["error"])
    else:
        lines.append("hostname inside %s, on the host %s" % (seen["hostname"], os.uname().nodename))
        lines.append(
            "interfaces inside: %s"
            % ", ".join("%s %s" % (n, a) if a else "%s (no IPv4)" % n for n, a in seen["interfaces"])
        )
    veth = state.get("veth")
    if veth:
        lines.append(
            "veth to the host: %s %s (host) <-> %s %s (container)"
            % (veth["host"], veth["host_address"], veth["container"], veth["container_address"])
        )
    lines += limit_lines(state.get("cgroups"), cfg)
    lines += namespace_lines(state)
    return lines


def describe(state):
    """A short summary of a running container for playbooks and reports."""
    if not state:
        return {}
    ns = state.get("namespaces") or {}
    host = state.get("host_namespaces") or {}
    return {
        "name": state.get("name"),
        "init_pid": state.get("init_pid"),
        "hostname": (state.get("config") or {}).get("hostname"),
        "namespaces": {
            t: {
                "container": ns.get(t),
                "host": host.get(t),
                "isolated": None if ns.get(t) is None or host.get(t) is None else ns[t] != host[t],
            }
            for t in ns
        },
        "cgroup_limits": cgroups.read_limits(state.get("cgroups") or {}),
        "veth": state.get("veth"),
    }
