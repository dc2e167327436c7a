"""The container's config: a request validated into the canonical form the config hash covers.

Every rule of input lives in validate.py; this room names the container's choices (defaults,
capabilities, the namespace types it needs) and turns a bad value into a ContainerError that
says what was wrong and what to do.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os

from ansible.module_utils.nsverify import catalog, cgroups, rootfs, safepath, seccomp, validate

DEFAULT_HOSTNAME = "isolated-box"
DEFAULT_NETWORK = "10.213.0.0/30"  # the engine's default; the module's is "auto" (container/addresses.py)
AUTO_NETWORK = "auto"
# The workload when none is given: a shell that idles and leaves on SIGTERM.
DEFAULT_COMMAND = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"]
BASE_TYPES = ("mnt", "uts", "ipc", "pid", "net", "cgroup")  # the catalogue's order
# The container cannot be built without these: the overlay root and pivot_root need mnt,
# sethostname without uts would rename the host, init must be PID 1 (reaping, stop), and
# lo/the veth are set up in the container's own network namespace.
REQUIRED_TYPES = ("mnt", "uts", "pid", "net")
DEFAULT_ID_MAP = [{"inside": 0, "outside": 100000, "count": 65536}]

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


class ContainerError(Exception):
    """Bad input or a failed step; the message says what was wrong and what to do."""

    def __init__(self, msg, **evidence):
        Exception.__init__(self, msg)
        self.evidence = evidence


def veth_names(name):
    """Default veth names: nsv + 8 hex of the container name + h (host) / c (container)."""
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return "nsv%sh" % digest, "nsv%sc" % digest


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


def validate_namespaces(namespaces, shared=()):
    """The base namespace types to unshare (sorted); None = all six. ipc and cgroup may be left
    out, e.g. on a host whose user.max_cgroup_namespaces is 0. `shared`: the types a pod member
    joins instead (they count as present)."""
    if namespaces is None:
        return sorted(BASE_TYPES)
    chosen = sorted(set(namespaces))
    unknown = [t for t in chosen if t not in BASE_TYPES]
    if unknown:
        raise ContainerError(
            "namespaces %s: unknown or not a base type; choose from %s (user and time "
            "come from user_namespace and time_offsets)" % (", ".join(unknown), ", ".join(BASE_TYPES))
        )
    missing = [t for t in REQUIRED_TYPES if t not in chosen and t not in shared]
    if missing:
        raise ContainerError(
            "namespaces must include %s: the container needs them (mnt for its root, uts so "
            "that its hostname is not the host's, pid for its init, net for lo and the veth); "
            "only ipc and cgroup may be left out" % ", ".join(missing)
        )
    return chosen


def id_map(entries, what, warnings=None):
    """A uid/gid map in either shape (validate.id_map) that maps id 0 inside, kept in the config
    as [[inside, outside, count], ...]: the form the config hash of running containers covers."""
    entries = validate.id_map(entries or DEFAULT_ID_MAP, what, warnings=warnings)
    if not validate.maps_root(entries):
        raise ContainerError("%s must map id 0 inside (the workload runs as root inside)" % what)
    return [list(line) for line in validate.id_map_lines(entries)]


def config_hash(config):
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def pod_share(config):
    """The types a pod member joins from its pod's first container ([] for a container of its own)."""
    return list((config.get("pod") or {}).get("share") or [])


def namespace_types(config):
    """Every type init's namespaces are recorded for: its own ones and those it joined from its pod."""
    shared = pod_share(config)
    types = [t for t in BASE_TYPES if t in config.get("namespaces", BASE_TYPES) or t in shared]
    if config.get("time_offsets"):
        types.append("time")
    if config.get("user"):
        types.append("user")
    return catalog.validate_names(types)


def unshare_types(config):
    """The types init gets new namespaces of at spawn: not the pod's (joined), not user (init makes it last)."""
    shared = pod_share(config)
    return [t for t in namespace_types(config) if t != "user" and t not in shared]


def _check_root(path, base):
    try:
        safepath.check_root(path, base, what="rootfs")
    except safepath.UnsafePath as exc:
        hint = "pass the path busybox_rootfs returned"
        if exc.errno == errno.EXDEV:
            hint += ", or set rootfs_base to the directory your images live in"
        raise ContainerError("%s: %s" % (exc.strerror, hint))


def _rootfs(path, required, base):
    """The rootfs' real path. Refused: the host's / (or a link to it: the "container" would run on the host's
    own files), and anything resolving outside `base`, the directory the images live in."""
    if path:
        _check_root(path, None)
    if not path or (required and not os.path.isdir(path)):
        raise ContainerError(
            "rootfs %r does not exist: build it first (role busybox_rootfs, module "
            "busybox_rootfs) and pass its path" % (path,)
        )
    _check_root(path, base)
    if os.path.isdir(path) and not rootfs.looks_like_rootfs(path):
        raise ContainerError(
            "rootfs %s has no executable bin/busybox and bin/sh: build it with the busybox_rootfs module" % path
        )
    return os.path.realpath(path)


def _seccomp(profile):
    """The profile's config entry: absent for the default (config hashes of older containers stay)."""
    profile = profile or seccomp.DEFAULT_PROFILE
    if profile not in seccomp.PROFILES:
        raise ContainerError("seccomp %r must be one of %s" % (profile, ", ".join(seccomp.PROFILES)))
    if profile == "unconfined":
        return {"seccomp": profile}
    try:
        seccomp.arch_for()
    except seccomp.SeccompError as exc:
        raise ContainerError(exc.strerror)
    return {}


def _limits(memory, cpus, pids):
    mem = validate.size(memory, "memory")
    if mem is not None:
        floor = cgroups.min_memory(cgroups.read_layout())
        if mem < floor:
            raise ContainerError(
                "memory limit %s (%d bytes) is below the %d MiB floor: the idle busybox workload "
                "and an exec of sh + ps peak at 3.8 MiB (init's pages add 4.5 MiB where it "
                "shares the limited cgroup, on cgroup v2)" % (memory, mem, floor // (1024 * 1024))
            )
    if pids is not None:
        pids = validate.integer(pids, "pids")
        if pids < cgroups.MIN_PIDS:
            raise ContainerError(
                "pids limit %d is below %d: init, the workload and an exec need room" % (pids, cgroups.MIN_PIDS)
            )
    return {"memory": mem, "cpus": validate.cpus(cpus), "pids": pids}


def _veth(name, veth, host, container, network):
    if not veth:
        return None
    default_host, default_ctr = veth_names(name)
    host = validate.ifname(host or default_host, "veth host name")
    container = validate.ifname(container or default_ctr, "veth container name")
    if host == container:
        raise ContainerError("veth host and container names must differ")
    if network in (None, AUTO_NETWORK):
        # a free /30 of the pool, or the one this container recorded (addresses imports state, which imports us)
        from ansible.module_utils.nsverify.container import addresses

        network = addresses.allocate(name, host)
    _unused, host_addr, ctr_addr = validate.network30(network)
    return {"host": host, "container": container, "host_address": host_addr, "container_address": ctr_addr}


def _pod(name, pod, share, veth, hostname, require_running):
    """The pod entry of the config and the hostname the member has: {'name', 'share'} or None.
    The pod's first container must run (checked in container/pod.py) unless require_running is false
    (check mode: an earlier task may start it)."""
    entry = validate.pod(pod, share, member=name)
    if not entry:
        return None, hostname
    if veth and "net" in entry["share"]:
        raise ContainerError(
            "veth: a member of pod %s shares its first container's network namespace and gets no veth of its "
            "own (the first container's veth is the pod's); leave veth out (false) or net out of pod_share"
            % entry["name"]
        )
    from ansible.module_utils.nsverify.container import pod as pod_room  # pod imports state, which imports us

    return entry, pod_room.member_hostname(entry, hostname, require_running)


def _user(user_namespace, uid_map, gid_map, warnings):
    if not user_namespace:
        if uid_map or gid_map:
            raise ContainerError("uid_map/gid_map need user_namespace=true")
        return None
    return {"uid_map": id_map(uid_map, "uid_map", warnings), "gid_map": id_map(gid_map, "gid_map", warnings)}


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
    warnings=None,
    seccomp=seccomp.DEFAULT_PROFILE,
    rootfs_base=None,
    pod=None,
    pod_share=None,
):
    """Validate the request and return the canonical config (what the config hash covers).
    require_rootfs=False (check mode) accepts a rootfs that an earlier task would build.
    `warnings` (a list) receives deprecation messages, e.g. for id maps given as lists.
    rootfs_base: the rootfs must resolve inside it; None (engine callers, tests) refuses only the host's /,
    the module passes its option (default rootfs.DEFAULT_BASE, the images' directory).
    pod/pod_share: join the running container `pod`'s namespaces of those types (container/pod.py)."""
    try:
        validate.container_name(name)
        root = _rootfs(rootfs_path, require_rootfs, rootfs_base)
        validate.hostname(hostname)
        pod_entry, hostname = _pod(name, pod, pod_share, veth, hostname, require_rootfs)
        limits = _limits(memory, cpus, pids)
        veth_config = _veth(name, veth, veth_host, veth_container, network)
        offsets = validate.time_offsets(time_offsets)
        user = _user(user_namespace, uid_map, gid_map, warnings)
    except validate.InvalidInput as exc:
        raise ContainerError(str(exc))
    command = list(command or DEFAULT_COMMAND)
    if not command[0].startswith("/"):
        raise ContainerError("command %r must start with an absolute path inside the container" % command[0])
    caps = list(DEFAULT_CAPS if capabilities is None else capabilities)
    cap_numbers(caps)
    chosen = validate_namespaces(namespaces, (pod_entry or {}).get("share", ()))
    config = dict(
        name=name,
        rootfs=root,
        hostname=hostname,
        veth=veth_config,
        command=command,
        capabilities=sorted(c.upper().replace("CAP_", "") for c in caps),
        time_offsets=offsets,
        user=user,
        **dict(limits, **_seccomp(seccomp)),
    )
    if chosen != sorted(BASE_TYPES):
        # only when it differs: the config hash of containers started before the option stays
        config["namespaces"] = chosen
    if pod_entry:
        # only for members: the config hash of containers of their own stays
        config["pod"] = pod_entry
    return config
