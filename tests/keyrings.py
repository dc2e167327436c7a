"""Test-side keyring calls (escape 2 of issue 10): add a key to the host's user keyring, look for it from
inside, always remove it. ctypes for Python callers; inside a BusyBox container (no Python, no keyctl applet)
tests use the static prober of static_helpers.py.

Keys are not namespaced by mnt/pid/uts/ipc/net/cgroup: a process with the same uid in the same user namespace
finds the key in the same user keyring (keyrings(7)). Every key made here is named nsv-<pid>-<random>.
"""

import contextlib
import ctypes
import os
import platform
import uuid

from ansible.module_utils.nsverify import seccomp

KEY_SPEC_USER_KEYRING = -4
KEYCTL_REVOKE = 3
KEYCTL_UNLINK = 9
KEYCTL_SEARCH = 10
KEYCTL_READ = 11
KEYCTL_INVALIDATE = 21

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _nr(name):
    return seccomp.ARCHES[platform.machine()].numbers[name]


def _call(name, *args):
    ctypes.set_errno(0)
    res = _libc.syscall(ctypes.c_long(_nr(name)), *args)
    if res < 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (name, os.strerror(err)))
    return res


def add_key(description, payload, keyring=KEY_SPEC_USER_KEYRING):
    """add_key("user", description, payload, keyring) -> serial."""
    data = payload.encode()
    return _call("add_key", b"user", description.encode(), data, ctypes.c_size_t(len(data)), ctypes.c_long(keyring))


def search(description, keyring=KEY_SPEC_USER_KEYRING):
    """keyctl(KEYCTL_SEARCH, keyring, "user", description, 0) -> serial (ENOKEY when absent)."""
    return _call("keyctl", ctypes.c_long(KEYCTL_SEARCH), ctypes.c_long(keyring), b"user", description.encode(), 0)


def read(serial):
    """keyctl(KEYCTL_READ, serial, buf, len) -> the payload."""
    buf = ctypes.create_string_buffer(4096)
    n = _call("keyctl", ctypes.c_long(KEYCTL_READ), ctypes.c_long(serial), buf, ctypes.c_long(len(buf)))
    return buf.raw[:n].decode()


def remove(serial, keyring=KEY_SPEC_USER_KEYRING):
    """Invalidate (gone at once, 3.5+) and unlink the key; revoke where invalidate is missing. Best effort."""
    for args in ((KEYCTL_INVALIDATE, serial), (KEYCTL_REVOKE, serial), (KEYCTL_UNLINK, serial, keyring)):
        try:
            _call("keyctl", *[ctypes.c_long(a) for a in args])
            if args[0] == KEYCTL_INVALIDATE:
                return
        except OSError:
            pass


def unique_description():
    return "nsv-%d-%s" % (os.getpid(), uuid.uuid4().hex[:12])


@contextlib.contextmanager
def host_key(payload="nsv-secret"):
    """A key in this process's (the host's) user keyring for the duration of the block; removed after, always.
    Yields (description, serial)."""
    description = unique_description()
    serial = add_key(description, payload)
    try:
        yield description, serial
    finally:
        remove(serial)


def keys_named(prefix="nsv-"):
    """Descriptions of live keys in /proc/keys that start with `prefix` (what a test might have left); an
    invalidated or revoked key stays listed, flagged i/R/D, until the kernel's garbage collector runs."""
    out = []
    with open("/proc/keys") as fh:
        for line in fh:
            fields = line.split(None, 8)
            if len(fields) == 9 and fields[8].startswith(prefix) and not set(fields[1]) & set("iRD"):
                out.append(fields[8].split(":")[0])
    return out
