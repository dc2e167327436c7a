"""PID 1 of the container: build the root, drop privileges, start the workload, reap.

PID 1 is this already-loaded Python process acting as a tiny init, not a busybox
init: busybox init needs an inittab, answers SIGTERM by running shutdown actions
and calling reboot(2), and its reaping cannot be steered; ours forwards SIGTERM and
reaps for real (tests prove it with an orphan). It is made immune to the OOM killer
(oom_score_adj -1000) so that an allocation beyond the memory limit kills the
allocating workload, not the init.
"""

from __future__ import annotations

import json
import os
import signal
import time
import traceback

from ansible.module_utils.nsverify import catalog, procfs, rootfs, safepath, seccomp, syscalls
from ansible.module_utils.nsverify.container import config as config_room
from ansible.module_utils.nsverify.container import network

DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))
ENV = {"PATH": "/bin:/sbin:/usr/bin:/usr/sbin", "HOME": "/root", "TERM": "dumb"}
STOP_GRACE = 5.0
STOP_TICK = 0.2
FIRST_TICK = 0.005  # the first repeat of SIGTERM; the ticks double up to STOP_TICK
# oom_score_adj of the workload and of exec'd processes when init could not make itself
# unkillable (-1000 needs CAP_SYS_RESOURCE, which some sandboxes withhold from root): the
# OOM killer ranks by RSS plus adj/1000 of the limit, and the Python init's RSS (~26 MiB,
# mostly pages charged to the host's cgroup) would outrank a hog under a small limit. With
# the maximum, a hog wins from a limit of about 16 MiB up; below that init may be chosen.
WORKLOAD_OOM_SCORE_ADJ = 1000


# ---------------------------------------------------------------- the root
def mount_dev(dev, at=None):
    """A minimal /dev: the usual character devices, devpts, shm and the fd links. at: where to mount the tmpfs
    (/proc/self/fd/N of `dev` checked by safepath.open_mount_point), `dev` itself by default."""
    syscalls.mount("tmpfs", at or dev, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NOEXEC, "mode=755,size=512k")
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


def bind_readonly(path):
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


MOUNT_POINTS = (("proc", 0o555), ("sys", 0o555), ("dev", 0o755))


def mount_points(merged, p):
    """{name: O_PATH fd} of the root's mount points, each a directory of the root itself: the upper layer is the
    workload's, and a link it planted at /proc, /sys or /dev would carry the mount out of the root."""
    fds = {}
    try:
        for d, mode in MOUNT_POINTS:
            fds[d] = safepath.open_mount_point(merged, d, mode)
    except safepath.UnsafePath as exc:
        for fd in fds.values():
            os.close(fd)
        raise config_room.ContainerError(
            "cannot mount the container's /%s: %s; remove it from the upper layer (%s) or start afresh "
            "(state=absent removes the upper layer)" % (d, exc.strerror, os.path.join(p["upper"], d))
        )
    return fds


def _mount_kernel_filesystems(merged, fds):
    def at(d):
        return "/proc/self/fd/%d" % fds[d]  # the directory checked, whatever its path now says

    nosuid_nodev_noexec = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC
    syscalls.mount("proc", at("proc"), "proc", nosuid_nodev_noexec)
    # /proc/sys and sysrq-trigger act on the whole host: read-only like every runtime does
    # (below the proc just mounted on a directory of the root: the kernel's own files, no link of the workload's)
    for rel in ("proc/sys", "proc/sysrq-trigger", "proc/irq", "proc/bus"):
        if os.path.exists(os.path.join(merged, rel)):
            bind_readonly(os.path.join(merged, rel))
    syscalls.mount("sysfs", at("sys"), "sysfs", syscalls.MS_RDONLY | nosuid_nodev_noexec)
    mount_dev(os.path.join(merged, "dev"), at=at("dev"))


def setup_root(config, p):
    """In the new mount/uts/net namespaces, as PID 1: build the container's root and enter it.
    A pod member leaves the uts and net namespaces it joined as the first container made them."""
    shared = config_room.pod_share(config)
    if "uts" not in shared:
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
    # The upper layer is the workload's to change (/etc may now be a link to a host directory): resolve
    # inside the root, never through a link out of it (safepath.py, issue 10 escape 4).
    safepath.write_file(merged, "etc/hostname", "%s\n" % config["hostname"])
    safepath.write_file(merged, "etc/hosts", rootfs.etc_files(config["hostname"])["etc/hosts"])
    # the workload must be there before anything starts: an absent command would otherwise be a container
    # that "started" and ended at once (its exec failing in the child, rc 127)
    try:
        safepath.check_executable(merged, config["command"][0])
    except safepath.UnsafePath as exc:
        raise config_room.ContainerError(
            "the workload command %s cannot run: %s; pass a command that exists in the rootfs (or its upper layer)"
            % (config["command"][0], exc.strerror)
        )
    if not os.path.lexists(os.path.join(merged, "tmp")):
        os.mkdir(os.path.join(merged, "tmp"), 0o1777)
    fds = mount_points(merged, p)
    try:
        _mount_kernel_filesystems(merged, fds)
    finally:
        for fd in fds.values():
            os.close(fd)
    if "net" not in shared:
        network.link_up("lo")
    # pivot_root(".", ".") stacks the old root on top of the new one; unmounting "."
    # with MNT_DETACH then drops the old root, leaving nothing to chroot back into
    # (pivot_root(2), NOTES).
    os.chdir(merged)
    syscalls.pivot_root(".", ".")
    syscalls.umount2(".", syscalls.MNT_DETACH)
    os.chdir("/")


# ---------------------------------------------------------------- privileges
def workload_oom_score_adj(init_pid="self", proc="/proc"):
    init_adj = procfs.read_int(os.path.join(proc, str(init_pid), "oom_score_adj"))
    return 0 if init_adj == -1000 else WORKLOAD_OOM_SCORE_ADJ


def set_oom_score_adj(value):
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
        words = procfs.parse_status_field(fh.read(), "CapPrm")
    return int(words[0], 16) if words else 0


def drop_privileges(keep_names, permitted=None):
    """Bounding set and capset down to `keep_names`, ambient cleared, no_new_privs on.
    `permitted`: this process's CapPrm, read before a uid change made /proc/self unreadable."""
    keep = config_room.cap_numbers(keep_names)
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


def become_workload(config, in_user_namespace=True, seccomp_filter=None):
    """The workload's privileges: root inside its user namespace (if any), the kept capabilities, and the
    seccomp profile (seccomp.py; last, just before exec: the filter also binds this process). seccomp_filter:
    the config's program from seccomp.filter_for, built before joining the limited cgroup; None builds it."""
    permitted = permitted_caps()
    if in_user_namespace:
        become_root_inside(config)
    drop_privileges(config["capabilities"], permitted)
    seccomp.install_filter(seccomp.filter_for(config) if seccomp_filter is None else seccomp_filter)


def _exec_workload(config, seccomp_filter=None):
    for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGALRM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    os.setsid()
    set_oom_score_adj(workload_oom_score_adj())  # read from init, whose adj we inherited
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    become_workload(config, seccomp_filter=seccomp_filter)
    os.execve(config["command"][0], config["command"], ENV)


# ---------------------------------------------------------------- PID 1
def _prepare(chan, config, p):
    """Everything before the workload; a failure is reported to the caller and init exits."""
    try:
        syscalls.set_name("nsv-init")  # what ps shows as PID 1, inside and on the host
        setup_root(config, p)
        if "pid" in config_room.pod_share(config):
            # not PID 1 in the pod's PID namespace: keep our orphans (else the pod's PID 1 reaps them)
            syscalls.set_child_subreaper()
        set_oom_score_adj(-1000)
        if config.get("user"):
            syscalls.unshare(catalog.CLONE_NEWUSER)
            chan.request_maps()
    except BaseException as exc:  # report every failure, never leave the caller waiting
        err = getattr(exc, "errno", None)
        chan.send(
            {
                "ok": False,
                # our own refusals are written for people; anything else carries its type
                "error": str(exc)
                if isinstance(exc, config_room.ContainerError)
                else "%s: %s" % (type(exc).__name__, exc),
                "stage": "init",
                "errno": err,
                "errname": syscalls.errno_name(err),
                "traceback": None if isinstance(exc, config_room.ContainerError) else traceback.format_exc(),
            }
        )
        os._exit(1)


def descendants(root, proc="/proc"):
    """The pids (as this PID namespace sees them) of every descendant of `root`, read from /proc/*/stat."""
    children = {}
    for entry in os.listdir(proc):
        if entry.isdigit():
            try:
                children.setdefault(procfs.read_stat(entry, proc)["ppid"], []).append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    out, todo = [], [root]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def signal_all(sig, own_only=False):
    """kill(-1) from PID 1 reaches every process of its PID namespace; a pod member that joined the pod's
    PID namespace signals only its own descendants (it is their subreaper), never its peers'."""
    if not own_only:
        os.kill(-1, sig)
        return
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _stopper(own_only=False):
    """SIGTERM/SIGINT and SIGALRM handlers of init: forward, repeat, then SIGKILL after the grace."""
    stopping = {"on": False, "since": 0.0, "tick": FIRST_TICK}

    def on_term(signum, frame):
        if not stopping["on"]:
            stopping["on"] = True
            stopping["since"] = time.monotonic()
            try:
                signal_all(signal.SIGTERM, own_only)  # every process of this PID namespace (or our own)
            except OSError:
                pass
            signal.setitimer(signal.ITIMER_REAL, FIRST_TICK)

    def on_alarm(signum, frame):
        # A process can miss the first SIGTERM (forked while it went round, or a shell child
        # that still ran its parent's trap handler when it arrived): repeat it every tick,
        # then SIGKILL whatever is left after the grace.
        # The first repeats come soon (a missed SIGTERM was the usual cause of a slow stop),
        # then every STOP_TICK.
        late = time.monotonic() - stopping["since"] >= STOP_GRACE
        try:
            signal_all(signal.SIGKILL if late else signal.SIGTERM, own_only)
        except OSError:
            pass
        stopping["tick"] = min(stopping["tick"] * 2, STOP_TICK)
        signal.setitimer(signal.ITIMER_REAL, stopping["tick"])

    return on_term, on_alarm


def _start_workload(config, payload_fds, handled):
    """Fork and exec the workload: (its pid, None) once the exec happened, (pid, {error, errno}) when the child
    failed before or at execve. The child reports through a close-on-exec pipe, so EOF means the exec
    succeeded (the way runtimes learn of an exec failure)."""
    # Block the signals across fork: a SIGTERM that arrives before the workload has reset
    # its handlers must hit the workload's default action, not run init's handler in it.
    seccomp_filter = seccomp.filter_for(config)  # here, outside the limited cgroup
    failed_r, failed_w = os.pipe()  # both O_CLOEXEC (PEP 446)
    signal.pthread_sigmask(signal.SIG_BLOCK, handled)
    workload = os.fork()
    if workload == 0:
        try:
            os.close(failed_r)
            for sig in handled:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, handled)
            for fd in payload_fds:  # the limited cgroup(s), which init stays out of
                os.write(fd, b"0")
            _exec_workload(config, seccomp_filter)
        except BaseException as exc:
            why = "%s: %s" % (syscalls.errno_name(getattr(exc, "errno", None)) or type(exc).__name__, exc)
            os.write(2, ("nsverify init: cannot start workload: %s\n" % why).encode())
            os.write(failed_w, json.dumps({"error": why, "errno": getattr(exc, "errno", None)}).encode())
        os._exit(127)
    os.close(failed_w)
    for fd in payload_fds:
        os.close(fd)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, handled)
    report = b""
    while True:
        chunk = os.read(failed_r, 4096)
        if not chunk:
            break
        report += chunk
    os.close(failed_r)
    return workload, (json.loads(report.decode()) if report else None)


def init_main(chan, config, p, payload_fds=()):
    """PID 1 of the container, run by probe.spawn (chan is its channel to the caller). Never returns.

    With a user namespace, init enters it only after building the root: the mnt, uts, net,
    ipc, pid and cgroup namespaces stay owned by the host's user namespace, so root inside
    (host uid = the map's outside id) holds no capability over them -- it cannot mount,
    set the hostname or configure interfaces -- while the kernel checks the workload's files
    as the mapped id. The caller writes the maps (only a process in the parent user namespace
    may map ids other than its own) when init asks for them (chan.request_maps)."""
    _prepare(chan, config, p)
    on_term, on_alarm = _stopper(own_only="pid" in config_room.pod_share(config))
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    workload, failed = _start_workload(config, payload_fds, {signal.SIGTERM, signal.SIGINT, signal.SIGALRM})
    if failed:  # the exec failed: a failed start, not a container that ran and ended
        chan.send(
            {
                "ok": False,
                "error": "the workload %s could not be executed: %s" % (config["command"][0], failed["error"]),
                "stage": "exec",
                "errno": failed["errno"],
                "errname": syscalls.errno_name(failed["errno"]),
            }
        )
        os.waitpid(workload, 0)
        os._exit(1)
    chan.ready({"ok": True, "workload_pid_inside": workload})
    chan.close()
    # Reap every child, orphans reparented to us included; when the workload ends the
    # container ends (like docker), after the others got SIGTERM and the grace.
    while True:
        try:
            pid, _unused = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        if pid == workload:
            on_term(signal.SIGTERM, None)
