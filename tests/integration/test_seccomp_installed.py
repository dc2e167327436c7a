"""The default seccomp profile installed for real, in forked children (probe.run): the kernel's own answer to each
denied call, what must keep working, and a control without the filter for every escape, so that each test would
fail if the filter were not installed."""

import ctypes
import errno
import mmap
import os
import platform
import resource
import signal
import socket
import subprocess

import keyrings
import pytest

from ansible.module_utils.nsverify import probe, seccomp

pytestmark = pytest.mark.skipif(platform.machine() not in seccomp.ARCHES, reason="no profile for this architecture")

NR = seccomp.ARCHES.get(platform.machine(), seccomp.ARCHES["x86_64"]).numbers
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def raw_syscall(nr, *args):
    """The errno name of a raw syscall, or 'ok'."""
    ctypes.set_errno(0)
    res = _libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return "ok" if res >= 0 else errno.errorcode[ctypes.get_errno()]


def in_child(fn, profile="default", *args):
    """fn(*args) in a forked child that first installs `profile`; its JSON-able result."""

    def confined():
        seccomp.install(profile)
        return fn(*args)

    return probe.run_checked(confined, timeout=30)


def status():
    return seccomp.read_status()


def test_filter_shows_in_proc_status():
    assert in_child(status) == {"mode": 2, "filters": 1, "no_new_privs": 1}
    assert in_child(status, "unconfined")["mode"] == 0  # the control: a child without it


CLONE_NEWUSER = 0x10000000
ESCAPES = [
    ("add_key", lambda: raw_syscall(NR["add_key"], 0, 0, 0, 0, 0), "EPERM"),
    (
        "keyctl",
        lambda: raw_syscall(NR["keyctl"], keyrings.KEYCTL_SEARCH, keyrings.KEY_SPEC_USER_KEYRING, 0, 0, 0),
        "EPERM",
    ),
    ("unshare-user", lambda: raw_syscall(NR["unshare"], CLONE_NEWUSER), "EPERM"),
    ("mount", lambda: raw_syscall(NR["mount"], 0, 0, 0, 0, 0), "EPERM"),
    ("bpf", lambda: raw_syscall(NR["bpf"], 0, 0, 0), "EPERM"),
    ("perf_event_open", lambda: raw_syscall(NR["perf_event_open"], 0, 0, -1, -1, 0), "EPERM"),
    ("clone3", lambda: raw_syscall(NR["clone3"], 0, 0), "ENOSYS"),
    ("finit_module", lambda: raw_syscall(NR["finit_module"], -1, 0, 0), "EPERM"),
    ("userfaultfd", lambda: raw_syscall(NR["userfaultfd"], 0), "EPERM"),
]


@pytest.mark.parametrize("fn,expected", [(e[1], e[2]) for e in ESCAPES], ids=[e[0] for e in ESCAPES])
def test_denied_calls_get_the_profiles_errno(fn, expected):
    assert in_child(fn) == expected
    # without the filter the kernel answers otherwise (EFAULT, EBADF, ENOKEY, ok, ...): the errno above is the filter's
    assert in_child(fn, "unconfined") != expected


def works():
    out = {}
    pid = os.fork()  # glibc's fork: clone(SIGCHLD)
    if pid == 0:
        os._exit(7)
    out["fork"] = os.WEXITSTATUS(os.waitpid(pid, 0)[1])
    # posix_spawn/vfork in glibc tries clone3 first and falls back to clone on ENOSYS
    out["exec"] = subprocess.run(["/bin/true"]).returncode
    a, b = socket.socketpair()
    a.sendall(b"x")
    out["socketpair"] = b.recv(1).decode()
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        with socket.create_connection(srv.getsockname(), timeout=5) as cli:
            conn, _ = srv.accept()
            cli.sendall(b"tcp")
            out["tcp"] = conn.recv(3).decode()
            conn.close()
    path = "/tmp/nsv-seccomp-%d" % os.getpid()
    with open(path, "w") as fh:
        fh.write("io")
    with open(path) as fh:
        out["file"] = fh.read()
    os.unlink(path)
    out["unshare-fs"] = raw_syscall(NR["unshare"], 0x200)  # CLONE_FS: no namespace, no privilege
    return out


def test_ordinary_work_still_works_under_the_filter():
    assert in_child(works) == {
        "fork": 7,
        "exec": 0,
        "socketpair": "x",
        "tcp": "tcp",
        "file": "io",
        "unshare-fs": "ok",
    }


def find_key(description):
    try:
        return keyrings.read(keyrings.search(description))
    except OSError as exc:
        return errno.errorcode[exc.errno]


def test_host_key_is_out_of_reach_of_a_confined_process():
    with keyrings.host_key("nsv-host-secret") as (description, _):
        assert in_child(find_key, "unconfined", description) == "nsv-host-secret"  # escape 2 without the filter
        assert in_child(find_key, "default", description) == "EPERM"
    # removed again, here on the host (an invalidated key may answer EKEYREVOKED until the garbage collector ran)
    assert find_key(description) in ("ENOKEY", "EKEYREVOKED")
    assert description not in keyrings.keys_named()


def killed_by(fn):
    """The signal that ended a forked child running fn() under the filter (None: it exited)."""
    pid = os.fork()
    if pid == 0:
        try:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            seccomp.install()
            fn()
        finally:
            os._exit(0)
    _, st = os.waitpid(pid, 0)
    return os.WTERMSIG(st) if os.WIFSIGNALED(st) else None


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x32 is an x86_64 ABI")
def test_x32_call_kills_the_process():
    assert killed_by(lambda: raw_syscall(seccomp.X32_SYSCALL_BIT | 39)) == signal.SIGSYS


def int80_getpid():
    """getpid through the i386 entry (int 0x80) from this 64-bit process."""
    code = bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3])  # mov eax, 20; int 0x80; ret
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
    return ctypes.CFUNCTYPE(ctypes.c_int)(addr)()


@pytest.mark.skipif(platform.machine() != "x86_64", reason="int 0x80 is x86")
def test_i386_entry_kills_the_process():
    try:
        mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC).close()
    except OSError:
        pytest.skip("no writable+executable mapping allowed here")
    assert killed_by(int80_getpid) == signal.SIGSYS


def mode_after_install_for(config):
    seccomp.install_for(config)
    return [seccomp.read_status()["mode"], raw_syscall(NR["mount"], 0, 0, 0, 0, 0)]


@pytest.mark.parametrize(
    "config,expected",
    [
        ({"capabilities": ["CHOWN"]}, [2, "EPERM"]),
        ({"capabilities": ["SYS_ADMIN"]}, [2, "EFAULT"]),  # the kept capability lifts the mount rule, as in moby
        ({"seccomp": "unconfined", "capabilities": []}, [0, "EFAULT"]),
    ],
    ids=["default", "sys-admin", "unconfined"],
)
def test_install_for_a_container_config(config, expected):
    assert probe.run_checked(mode_after_install_for, config) == expected
