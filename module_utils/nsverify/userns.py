"""The namespace hierarchy through the nsfs ioctls (ioctl_ns(2)), and the host's reference.

NS_GET_USERNS gives the user namespace that owns any namespace; NS_GET_PARENT gives the
parent of a user or PID namespace (the hierarchical types). Both return a new file
descriptor, or EPERM when the answer lies outside the caller's user namespace -- which is
also what the initial user namespace answers, having no parent. The walk therefore finds
the root of the tree *visible to the caller*: the host's initial user namespace exactly
when the caller is itself in it (its own NS_GET_PARENT fails with EPERM).

The reference for "shared with the host" must be a process in the initial namespaces of
all eight types. PID 1 is the usual choice, but on some hosts (this one) its /proc/1/ns
links cannot be read even by root. Kernel threads (kthreadd, PID 2, and its children) run
with init_nsproxy, the kernel's initial namespaces, so kthreadd's links are the reference
when they can be read; otherwise the lowest readable PID whose user and PID namespaces are
proven initial by the ioctl walk is used, and the other six types are reported as taken
from that process, not proven.
"""

from __future__ import annotations

import errno
import fcntl
import os

from ansible.module_utils.nsverify import catalog, inspect, procfs

# <linux/nsfs.h>: _IO(0xb7, n)
NSIO = 0xB7
NS_GET_USERNS = (NSIO << 8) | 0x1
NS_GET_PARENT = (NSIO << 8) | 0x2
NS_GET_NSTYPE = (NSIO << 8) | 0x3
NS_GET_OWNER_UID = (NSIO << 8) | 0x4

HIERARCHICAL = ("pid", "user")
MAX_DEPTH = 33  # user and PID namespaces nest at most 32 deep (user_namespaces(7))
PF_KTHREAD = 0x00200000  # <linux/sched.h>: the flags field of /proc/<pid>/stat


class NoReference(Exception):
    """The host's initial namespaces cannot be known from here (with the reason)."""


def ioctl_fd(fd, request, ioctl=None):
    """An nsfs ioctl that returns a new file descriptor; OSError(errno) on failure."""
    return (ioctl or fcntl.ioctl)(fd, request)


def fd_inode(fd):
    return os.fstat(fd).st_ino


def owner_uid(fd):
    """NS_GET_OWNER_UID of a user namespace fd: the uid of its creator (as seen by the caller)."""
    import array

    buf = array.array("I", [0])
    fcntl.ioctl(fd, NS_GET_OWNER_UID, buf, True)
    return int(buf[0])


def chain(path, request=NS_GET_PARENT, ioctl=None):
    """Inodes from the namespace at `path` up through its ancestors: ([inode, parent, ...], why_it_ends).

    `request` NS_GET_PARENT walks a user or PID namespace; the walk ends at EPERM (the top of
    the tree the caller may see) and records that errno's name.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    inodes, end = [fd_inode(fd)], None
    try:
        for _unused in range(MAX_DEPTH):
            try:
                parent = ioctl_fd(fd, request, ioctl)
            except OSError as exc:
                end = errno.errorcode.get(exc.errno, str(exc.errno))
                break
            os.close(fd)
            fd = parent
            inodes.append(fd_inode(fd))
    finally:
        os.close(fd)
    return inodes, end


def owner_of(path, ioctl=None):
    """Inode of the user namespace owning the namespace at `path`, or None (EPERM: outside our view)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            owner = ioctl_fd(fd, NS_GET_USERNS, ioctl)
        except OSError:
            return None
        try:
            return fd_inode(owner)
        finally:
            os.close(owner)
    finally:
        os.close(fd)


def parent_of(path, ioctl=None):
    """Inode of the parent of a user or PID namespace at `path`, or None at the top of our view."""
    inodes, _unused = chain(path, NS_GET_PARENT, ioctl)
    return inodes[1] if len(inodes) > 1 else None


def tree_roots(proc="/proc", ioctl=None):
    """The roots of the user and PID trees seen from this process, and whether they are the host's.

    {'user': inode, 'pid': inode, 'initial': bool, 'evidence': {...}}. `initial` is True when
    this process's own user namespace has no parent it may see: then the top is the initial one.
    """
    out, evidence = {}, {}
    for name in HIERARCHICAL:
        inodes, end = chain(procfs.ns_path("self", name, proc), NS_GET_PARENT, ioctl)
        out[name] = inodes[-1]
        evidence[name] = {"own": inodes[0], "ancestors": inodes[1:], "walk_ended_with": end}
    # NS_GET_PARENT answers EPERM both at the true root and at the top of a nested caller's view,
    # so two more witnesses: only the initial user namespace maps all 2^32 ids onto themselves,
    # and kernel threads always live in it.
    try:
        with open(os.path.join(proc, "self", "uid_map")) as fh:
            uid_map = procfs.parse_id_map(fh.read())
    except OSError:
        uid_map = None
    kthread_user = inspect.read_ns_inodes(2, proc, ["user"])["user"] if is_kernel_thread(2, proc) else None
    evidence["uid_map"] = uid_map
    evidence["kthreadd_user"] = kthread_user
    out["initial"] = (
        not evidence["user"]["ancestors"] and uid_map == [[0, 0, 4294967295]] and kthread_user in (None, out["user"])
    )
    out["evidence"] = evidence
    return out


def parse_stat_flags(text):
    """The flags field (9th) of /proc/<pid>/stat, counted after comm's last ')'."""
    return int(text[text.rindex(")") + 2 :].split()[6])


def is_kernel_thread(pid, proc="/proc"):
    """True for a kernel thread (PF_KTHREAD); None when the process cannot be read."""
    try:
        with open(os.path.join(proc, str(pid), "stat")) as fh:
            return bool(parse_stat_flags(fh.read()) & PF_KTHREAD)
    except (OSError, ValueError, IndexError):
        return None


def _comm(pid, proc):
    try:
        with open(os.path.join(proc, str(pid), "comm")) as fh:
            return fh.read().strip()
    except OSError:
        return None


def _numeric_pids(proc):
    try:
        return sorted(int(e) for e in os.listdir(proc) if e.isdigit())
    except OSError:
        return []


def _candidate(pid, roots, proc, basis):
    links = inspect.read_ns_inodes(pid, proc)
    if any(v is None for v in links.values()):
        return None
    if links["user"] != roots["user"] or links["pid"] != roots["pid"]:
        return None
    return {
        "pid": pid,
        "command": _comm(pid, proc),
        "inodes": links,
        "basis": basis,
    }


def _explicit(reference_pid, roots, proc):
    links = inspect.read_ns_inodes(reference_pid, proc)
    missing = [t for t, v in links.items() if v is None]
    if missing:
        raise NoReference(
            "reference_pid %s: cannot read /proc/%s/ns/{%s} (process gone, or no permission)"
            % (reference_pid, reference_pid, ",".join(missing))
        )
    return {
        "pid": int(reference_pid),
        "command": _comm(reference_pid, proc),
        "inodes": links,
        "basis": "given",
        "why": "reference_pid %s was given; its namespaces are the reference as they are" % reference_pid,
        "initial_user": links["user"] == roots["user"] and roots["initial"],
        "initial_pid": links["pid"] == roots["pid"] and roots["initial"],
    }


def find_reference(reference_pid=None, proc="/proc", ioctl=None):
    """The process whose namespaces stand for "the host", with why it was chosen.

    Raises NoReference when no honest reference exists: this process sits in a nested
    user namespace (the host's initial namespaces are outside its view), or no process in
    the initial user and PID namespaces has readable links.
    """
    roots = tree_roots(proc, ioctl)
    summary = {k: roots[k] for k in HIERARCHICAL}
    if reference_pid is not None:
        ref = _explicit(reference_pid, roots, proc)
        ref.update(roots=summary, tree=roots["evidence"])
        return ref
    if not roots["initial"]:
        raise NoReference(
            "this inspector runs in a nested user namespace (uid_map %s, kthreadd's user namespace %s, own %s): "
            "the host's initial namespaces are outside its view; run it on the host, or pass reference_pid"
            % (roots["evidence"]["uid_map"], roots["evidence"]["kthreadd_user"], roots["user"])
        )
    why = None
    if is_kernel_thread(2, proc) and _comm(2, proc) == "kthreadd":
        ref = _candidate(2, roots, proc, "kthreadd")
        if ref:
            ref["why"] = (
                "kthreadd (PID 2) is a kernel thread: kernel threads run in the kernel's initial namespaces "
                "(init_nsproxy) of all eight types; its user and PID namespaces are the roots of the ioctl walk"
            )
            why = ref
    if why is None:
        for pid in _numeric_pids(proc):
            ref = _candidate(pid, roots, proc, "lowest-initial-pid")
            if ref:
                ref["why"] = (
                    "PID %d is the lowest PID whose links are readable and whose user and PID namespaces are "
                    "the roots of the ioctl walk (kthreadd was not readable); its %s namespaces are taken as "
                    "the host's, not proven initial"
                    % (pid, ", ".join(t for t in catalog.TYPE_NAMES if t not in HIERARCHICAL))
                )
                why = ref
                break
    if why is None:
        raise NoReference(
            "no process in the initial user and PID namespaces has readable /proc/<pid>/ns links; pass reference_pid"
        )
    why.update(initial_user=True, initial_pid=True, roots=summary, tree=roots["evidence"])
    return why
