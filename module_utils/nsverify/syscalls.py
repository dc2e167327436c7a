"""Small ctypes wrappers around the syscalls Python 3.8-3.11 lacks.

Each wrapper is named after its syscall, raises OSError(errno, strerror) on
failure, and takes an optional `libc` so that tests can inject a fake.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno as _errno
import os
import platform

# mount(2) flags, <linux/mount.h>
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_STRICTATIME = 1 << 24

# umount2(2) flags
MNT_FORCE = 1
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8

# prctl(2) options
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

CAP_LAST_CAP_DEFAULT = 40

# Syscall numbers for calls glibc does not wrap (or wraps only in new versions).
_SYSCALL_NUMBERS = {
    "x86_64": {"pivot_root": 155, "capget": 125, "capset": 126, "clone3": 435},
    "aarch64": {"pivot_root": 41, "capget": 90, "capset": 91, "clone3": 435},
    "ppc64le": {"pivot_root": 203, "capget": 183, "capset": 184, "clone3": 435},
    "s390x": {"pivot_root": 217, "capget": 184, "capset": 185, "clone3": 435},
}

_LIBC = None


def libc():
    """The process's C library, loaded once with errno tracking."""
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _LIBC


def _check(result, what):
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))
    return result


def _b(value):
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else value


def syscall_number(name, machine=None):
    machine = machine or platform.machine()
    try:
        return _SYSCALL_NUMBERS[machine][name]
    except KeyError:
        raise OSError(_errno.ENOSYS, "no syscall number for %s on %s" % (name, machine))


def unshare(flags, libc=None):
    """unshare(2): move the calling process into new namespaces given by CLONE_NEW* flags."""
    lib = libc or globals()["libc"]()
    return _check(lib.unshare(ctypes.c_int(flags)), "unshare(0x%x)" % flags)


def setns(fd, nstype=0, libc=None):
    """setns(2): join the namespace referred to by `fd` (an open /proc/<pid>/ns/* file)."""
    lib = libc or globals()["libc"]()
    return _check(lib.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns(fd=%d, 0x%x)" % (fd, nstype))


def mount(source, target, fstype=None, flags=0, data=None, libc=None):
    """mount(2)."""
    lib = libc or globals()["libc"]()
    res = lib.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data))
    return _check(res, "mount(%r, %r, %r, 0x%x)" % (source, target, fstype, flags))


def umount2(target, flags=0, libc=None):
    """umount2(2)."""
    lib = libc or globals()["libc"]()
    return _check(lib.umount2(_b(target), ctypes.c_int(flags)), "umount2(%r, %d)" % (target, flags))


def pivot_root(new_root, put_old, libc=None):
    """pivot_root(2), which glibc does not wrap."""
    lib = libc or globals()["libc"]()
    lib.syscall.restype = ctypes.c_long
    nr = syscall_number("pivot_root")
    res = lib.syscall(ctypes.c_long(nr), _b(new_root), _b(put_old))
    return _check(res, "pivot_root(%r, %r)" % (new_root, put_old))


def sethostname(name, libc=None):
    """sethostname(2): sets the hostname of the caller's UTS namespace."""
    lib = libc or globals()["libc"]()
    raw = _b(name)
    return _check(lib.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname(%r)" % name)


def prctl(option, arg2=0, arg3=0, arg4=0, arg5=0, libc=None):
    """prctl(2) with integer arguments."""
    lib = libc or globals()["libc"]()
    res = lib.prctl(
        ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)
    )
    return _check(res, "prctl(%d)" % option)


def set_no_new_privs(libc=None):
    return prctl(PR_SET_NO_NEW_PRIVS, 1, libc=libc)


def set_name(name, libc=None):
    """prctl(PR_SET_NAME): the thread's comm (at most 15 bytes), what ps and top show."""
    lib = libc or globals()["libc"]()
    raw = ctypes.create_string_buffer(_b(name)[:15])
    return _check(lib.prctl(ctypes.c_int(PR_SET_NAME), raw, 0, 0, 0), "prctl(PR_SET_NAME, %r)" % name)


def set_pdeathsig(sig, libc=None):
    return prctl(PR_SET_PDEATHSIG, sig, libc=libc)


def set_child_subreaper(libc=None):
    return prctl(PR_SET_CHILD_SUBREAPER, 1, libc=libc)


def cap_last_cap(proc="/proc"):
    try:
        with open(os.path.join(proc, "sys/kernel/cap_last_cap")) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return CAP_LAST_CAP_DEFAULT


def drop_bounding_caps(keep=(), libc=None):
    """Drop every capability not in `keep` from the bounding set (needs CAP_SETPCAP)."""
    for cap in range(cap_last_cap() + 1):
        if cap in keep:
            continue
        try:
            prctl(PR_CAPBSET_DROP, cap, libc=libc)
        except OSError as exc:
            if exc.errno != _errno.EINVAL:  # EINVAL: cap unknown to this kernel
                raise


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capset(effective, permitted, inheritable, libc=None):
    """capset(2) for the calling thread; masks are 64-bit integers."""
    lib = libc or globals()["libc"]()
    lib.syscall.restype = ctypes.c_long
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    res = lib.syscall(ctypes.c_long(syscall_number("capset")), ctypes.byref(header), data)
    return _check(res, "capset")


def clear_ambient_caps(libc=None):
    try:
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, libc=libc)
    except OSError as exc:
        if exc.errno != _errno.EINVAL:  # kernels before 4.3 have no ambient set
            raise


def errno_name(number):
    """'EPERM' for 1, etc.; 'E?<n>' for numbers the platform does not name."""
    if number is None:
        return None
    return _errno.errorcode.get(number, "E?%d" % number)
