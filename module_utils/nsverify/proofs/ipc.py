"""IPC proof (NS-IPC-001..004): objects made on one side are invisible on the other.

Both directions: the host makes a System V shared memory segment, semaphore set and message
queue with fixed nsv keys and a POSIX message queue /nsv-h-<tok> before the inside starts;
the inside looks them up (ENOENT expected), makes its own with other keys and
/nsv-i-<tok>, and waits while the host looks those up. Lookups are by key/name
(shmget/semget/msgget without IPC_CREAT, mq_open without O_CREAT), and the host also
reads /proc/sysvipc, which shows the reader's IPC namespace. Every object is removed.
A joined IPC namespace owned by the target's user namespace is entered as that namespace's
root: its mqueue filesystem only accepts ids mapped there (EOVERFLOW otherwise).
"""

from __future__ import annotations

import ctypes
import errno
import os

from ansible.module_utils.nsverify import procfs, syscalls
from ansible.module_utils.nsverify.proofs import base

TYPE = "ipc"
CONTROL_IDS = ("NS-IPC-001", "NS-IPC-002", "NS-IPC-003", "NS-IPC-004")
KINDS = ("shm", "sem", "msg", "mq")
CONTROL_OF = {"shm": "NS-IPC-001", "sem": "NS-IPC-002", "msg": "NS-IPC-003", "mq": "NS-IPC-004"}

IPC_CREAT = 0o1000
IPC_EXCL = 0o2000
IPC_RMID = 0


def _lib():
    lib = syscalls.libc()
    try:
        getattr(lib, "mq_open")  # noqa: B009 -- glibc >= 2.34 has it in libc
    except AttributeError:
        import ctypes.util

        lib = ctypes.CDLL(ctypes.util.find_library("rt") or "librt.so.1", use_errno=True)
    return lib


def _chk(res, what):
    if res == -1:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))
    return res


def sysv_get(kind, key, create=False):
    """shmget/semget/msgget by key; with create, a new object (IPC_EXCL)."""
    lib = syscalls.libc()
    flags = (IPC_CREAT | IPC_EXCL | 0o600) if create else 0
    if kind == "shm":
        return _chk(
            lib.shmget(ctypes.c_int(key), ctypes.c_size_t(4096 if create else 0), ctypes.c_int(flags)),
            "shmget(0x%x)" % key,
        )
    if kind == "sem":
        return _chk(
            lib.semget(ctypes.c_int(key), ctypes.c_int(1 if create else 0), ctypes.c_int(flags)), "semget(0x%x)" % key
        )
    return _chk(lib.msgget(ctypes.c_int(key), ctypes.c_int(flags)), "msgget(0x%x)" % key)


def sysv_remove(kind, ident):
    lib = syscalls.libc()
    if kind == "shm":
        return _chk(lib.shmctl(ctypes.c_int(ident), ctypes.c_int(IPC_RMID), None), "shmctl(RMID)")
    if kind == "sem":
        return _chk(lib.semctl(ctypes.c_int(ident), ctypes.c_int(0), ctypes.c_int(IPC_RMID)), "semctl(RMID)")
    return _chk(lib.msgctl(ctypes.c_int(ident), ctypes.c_int(IPC_RMID), None), "msgctl(RMID)")


def mq_open(name, create=False):
    lib = _lib()
    lib.mq_open.restype = ctypes.c_int
    if create:
        fd = lib.mq_open(name.encode(), ctypes.c_int(os.O_RDWR | os.O_CREAT | os.O_EXCL), ctypes.c_uint(0o600), None)
    else:
        fd = lib.mq_open(name.encode(), ctypes.c_int(os.O_RDONLY))
    fd = _chk(fd, "mq_open(%s)" % name)
    lib.mq_close(ctypes.c_int(fd))
    return fd


def mq_unlink(name):
    return _chk(_lib().mq_unlink(name.encode()), "mq_unlink(%s)" % name)


def lookup(kind, ref):
    """'absent' (ENOENT), 'visible', or the errno name of another error."""
    try:
        if kind == "mq":
            mq_open(ref)
        else:
            sysv_get(kind, ref)
        return "visible"
    except OSError as exc:
        return "absent" if exc.errno == errno.ENOENT else syscalls.errno_name(exc.errno)


def make_all(refs):
    """Create one object of each kind; return {kind: id} (mq: the name)."""
    made = {}
    for kind in KINDS:
        if kind == "mq":
            mq_open(refs[kind], create=True)
            made[kind] = refs[kind]
        else:
            made[kind] = sysv_get(kind, refs[kind], create=True)
    return made


def remove_all(made):
    errors = {}
    for kind, ident in made.items():
        try:
            if kind == "mq":
                mq_unlink(ident)
            else:
                sysv_remove(kind, ident)
        except OSError as exc:
            errors[kind] = syscalls.errno_name(exc.errno)
    return errors


def refs(tag, tok):
    base_key = 0x6E730000 | (int(tok[:4], 16) & 0xFFF0)  # "ns" + random: fixed nsv key space
    if tag == "i":
        base_key += 8
    return {"shm": base_key + 1, "sem": base_key + 2, "msg": base_key + 3, "mq": "/nsv-%s-%s" % (tag, tok)}


def _inside(rendezvous, host_refs, inside_refs):
    seen_host = dict((k, lookup(k, host_refs[k])) for k in KINDS)
    made = {}
    try:
        made = make_all(inside_refs)
        seen_own = dict((k, lookup(k, inside_refs[k])) for k in KINDS)
        rendezvous(
            {
                "inside_saw_host_objects": seen_host,
                "inside_saw_own_objects": seen_own,
                "inside_ids": made,
                "inside_inode": os.stat(procfs.ns_path("self", "ipc")).st_ino,
            }
        )
    finally:
        errors = remove_all(made)
    return {"inside_cleanup_errors": errors}


def prove(ctx):
    tok = base.token()
    host_refs, inside_refs = refs("h", tok), refs("i", tok)
    host_made = {}
    try:
        host_made = make_all(host_refs)

        def host_look(data):
            seen = dict(data)
            seen["host_saw_inside_objects"] = dict((k, lookup(k, inside_refs[k])) for k in KINDS)
            seen["host_sysvipc_has_inside_key"] = dict(
                (k, inside_refs[k] in procfs.read_sysvipc_keys(k)) for k in ("shm", "sem", "msg")
            )
            seen["host_inode"] = base.own_inode(TYPE)
            return seen

        res, host = base.held(_inside, host_look, args=(host_refs, inside_refs), **ctx.options_for(TYPE, as_owner=True))
        value = base.require_ok(res, "IPC probe")
        if host is None:
            raise base.ProbeFailed(res, "IPC probe never reached its rendezvous")
    finally:
        host_errors = remove_all(host_made)
    for kind in KINDS:
        ev = {
            "host_object": host_refs[kind],
            "inside_object": inside_refs[kind],
            "inside_saw_host_object": host["inside_saw_host_objects"][kind],
            "inside_saw_own_object": host["inside_saw_own_objects"][kind],
            "host_saw_inside_object": host["host_saw_inside_objects"][kind],
            "inside_inode": host["inside_inode"],
            "host_inode": host["host_inode"],
        }
        if kind != "mq":
            ev["host_sysvipc_lists_inside_key"] = host["host_sysvipc_has_inside_key"][kind]
            ev["keys_hex"] = ["0x%08x" % host_refs[kind], "0x%08x" % inside_refs[kind]]
        ev["cleanup_errors"] = [e for e in (host_errors.get(kind), value["inside_cleanup_errors"].get(kind)) if e]
        ok = (
            ev["inside_saw_own_object"] == "visible"
            and ev["inside_saw_host_object"] == "absent"
            and ev["host_saw_inside_object"] == "absent"
            and not ev.get("host_sysvipc_lists_inside_key")
        )
        ctx.add(base.check(CONTROL_OF[kind], ok, ev))
