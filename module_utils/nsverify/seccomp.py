"""The container workload's default seccomp profile, as a classic BPF program built in pure Python.

Modelled on what container runtimes ship by default: moby's profile (moby/profiles, seccomp/default_linux.go;
containers/common's seccomp.json for podman/crun is its sibling). Those are allowlists of ~370 calls with the
default action EPERM; the calls they leave out, or allow only with a capability, are the ones below. This
profile is the matching denylist: what moby refuses a container that lacks the capability, refused with EPERM
the same way, everything else allowed. A denylist stays right on kernels newer than its table (a new harmless
call is not refused), at the price that a new dangerous call is not refused either until it is listed here.

Like moby, a rule is lifted when the container keeps the capability that makes the call legitimate
(`unless_caps`): a workload given CAP_SYS_ADMIN may mount, as it may under Docker. `seccomp: unconfined` on the
container turns the profile off.

Shape of the program (seccomp(2), "Pitfalls"; the kernel's samples/seccomp/bpf-helper.h):
  1. the architecture of the call (seccomp_data.arch) must be this build's; anything else -- an i386 `int 0x80`
     from an x86_64 process, an arm32 compat call -- is killed: its syscall numbers mean other calls, so a
     denylist written in x86_64 numbers would not apply to it;
  2. on x86_64 the x32 ABI (numbers with bit 30 set, __X32_SYSCALL_BIT) is killed as well, for the same reason
     (moby allows x32 as a sub-architecture with its own numbers; nothing in the BusyBox rootfs is x32);
  3. one block per denied call, then allow.
"""

from __future__ import annotations

import collections
import ctypes
import errno as _errno
import os
import platform
import struct

from ansible.module_utils.nsverify import kernel, syscalls

PROFILES = ("default", "unconfined")
DEFAULT_PROFILE = "default"

# <linux/filter.h>, <linux/bpf_common.h>
BPF_LD, BPF_ALU, BPF_JMP, BPF_RET = 0x00, 0x04, 0x05, 0x06
BPF_W, BPF_ABS, BPF_K = 0x00, 0x20, 0x00
BPF_AND, BPF_JEQ, BPF_JGE, BPF_JSET = 0x50, 0x10, 0x30, 0x40
LD_ABS = BPF_LD | BPF_W | BPF_ABS
JEQ = BPF_JMP | BPF_JEQ | BPF_K
JGE = BPF_JMP | BPF_JGE | BPF_K
JSET = BPF_JMP | BPF_JSET | BPF_K
RET = BPF_RET | BPF_K
BPF_MAXINSNS = 4096

# <linux/seccomp.h>
SECCOMP_RET_KILL_PROCESS = 0x80000000  # before 4.14 the kernel masks it to SECCOMP_RET_KILL (the thread)
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_DATA = 0x0000FFFF
SECCOMP_MODE_FILTER = 2
SECCOMP_SET_MODE_FILTER = 1
PR_SET_SECCOMP = 22
PR_GET_SECCOMP = 21

# struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
OFF_NR = 0
OFF_ARCH = 4


def off_arg_low(index):
    """Offset of the low 32 bits of args[index] (both supported arches are little-endian)."""
    return 16 + 8 * index


AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET:
# moby's mask for clone. clone() has no CLONE_NEWTIME: bits 0-7 of its flags are the exit signal.
CLONE_NS_FLAGS = 0x7E020000
CLONE_NEWTIME = 0x00000080
CLONE_NEWUSER = 0x10000000

Arch = collections.namedtuple("Arch", "name audit x32 numbers")

# Syscall numbers as data: arch/x86/entry/syscalls/syscall_64.tbl and include/uapi/asm-generic/unistd.h.
_COMMON_NEW = {  # the same number on every architecture from 5.1 on
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "clone3": 435,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "mount_setattr": 442,
    "quotactl_fd": 443,
    "open_tree_attr": 467,
}
# fmt: off
X86_64 = dict(
    _COMMON_NEW,
    add_key=248, request_key=249, keyctl=250, unshare=272, clone=56, mount=165, umount2=166, pivot_root=155,
    bpf=321, perf_event_open=298, init_module=175, finit_module=313, delete_module=176, kexec_load=246,
    kexec_file_load=320, open_by_handle_at=304, setns=308, reboot=169, swapon=167, swapoff=168, userfaultfd=323,
    ptrace=101, process_vm_readv=310, process_vm_writev=311, acct=163, syslog=103, quotactl=179,
    lookup_dcookie=212, iopl=172, ioperm=173, settimeofday=164, clock_settime=227, uselib=134, ustat=136,
    sysfs=139, _sysctl=156, seccomp=317,
)
AARCH64 = dict(
    _COMMON_NEW,
    add_key=217, request_key=218, keyctl=219, unshare=97, clone=220, mount=40, umount2=39, pivot_root=41,
    bpf=280, perf_event_open=241, init_module=105, finit_module=273, delete_module=106, kexec_load=104,
    kexec_file_load=294, open_by_handle_at=265, setns=268, reboot=142, swapon=224, swapoff=225, userfaultfd=282,
    ptrace=117, process_vm_readv=270, process_vm_writev=271, acct=89, syslog=116, quotactl=60,
    lookup_dcookie=18, settimeofday=170, clock_settime=112, seccomp=277,
)
# fmt: on
ARCHES = {
    "x86_64": Arch("x86_64", AUDIT_ARCH_X86_64, True, X86_64),
    "aarch64": Arch("aarch64", AUDIT_ARCH_AARCH64, False, AARCH64),
}

# names: the calls; err: the errno returned; unless_caps: kept capabilities that lift the rule (moby's
# "includes caps"); arg_mask: refuse only when the low word of args[0] has one of these bits; before: refuse only
# on kernels below this version; why: the reason, shown in the module's output.
Rule = collections.namedtuple("Rule", "names err unless_caps arg_mask before why")


def _rule(names, why, unless_caps=(), err=_errno.EPERM, arg_mask=None, before=None):
    return Rule(tuple(names), err, tuple(unless_caps), arg_mask, before, why)


RULES = (
    _rule(
        ("add_key", "keyctl", "request_key"),
        "keyrings are not namespaced: without a user namespace root inside shares the host root's user keyring "
        "(read a host key, plant one); moby allows them to no one",
    ),
    _rule(
        ("unshare",),
        "a new user namespace gives every capability over the namespaces made in it (mount a cgroup hierarchy, "
        "raise the container's own limits); moby refuses unshare without CAP_SYS_ADMIN, here only the namespace "
        "flags are (CLONE_FS, CLONE_FILES, CLONE_SYSVSEM need no privilege and stay allowed)",
        unless_caps=("SYS_ADMIN",),
        arg_mask=CLONE_NS_FLAGS | CLONE_NEWTIME,
    ),
    _rule(
        ("clone",),
        "the same new namespaces by clone(2): moby's masked rule on the flags argument (fork and threads pass)",
        unless_caps=("SYS_ADMIN",),
        arg_mask=CLONE_NS_FLAGS,
    ),
    _rule(
        ("clone3",),
        "clone3 passes its flags in memory, which a seccomp filter cannot read; ENOSYS (as moby, crun's "
        "containers/common profile and Chromium answer) makes glibc fall back to clone, where the flags are seen",
        unless_caps=("SYS_ADMIN",),
        err=_errno.ENOSYS,
    ),
    _rule(
        ("mount", "umount2", "move_mount", "open_tree", "open_tree_attr", "fsopen", "fsmount", "fsconfig", "fspick"),
        "mounts (old and new mount API) are how a workload reshapes its view: moby allows them with CAP_SYS_ADMIN",
        unless_caps=("SYS_ADMIN",),
    ),
    _rule(
        ("mount_setattr",),
        "changes mount flags (read-only /sys, nosuid): CAP_SYS_ADMIN in moby",
        unless_caps=("SYS_ADMIN",),
    ),  # fmt: skip
    _rule(("pivot_root",), "only the container's init switches root; moby allows pivot_root to no one"),
    _rule(
        ("bpf",),
        "loading BPF programs is kernel attack surface (verifier bugs); moby: CAP_SYS_ADMIN or CAP_BPF",
        unless_caps=("SYS_ADMIN", "BPF"),
    ),
    _rule(
        ("perf_event_open",),
        "host-wide performance data and kernel addresses, a long CVE history; moby: CAP_SYS_ADMIN or CAP_PERFMON",
        unless_caps=("SYS_ADMIN", "PERFMON"),
    ),
    _rule(
        ("init_module", "finit_module", "delete_module"),
        "kernel modules are code in the host's kernel; moby: CAP_SYS_MODULE",
        unless_caps=("SYS_MODULE",),
    ),
    _rule(
        ("kexec_load", "kexec_file_load"),
        "boots another kernel in place of the host's; moby allows it to no one",
    ),
    _rule(
        ("open_by_handle_at",),
        "opens any file of a host filesystem by its handle, past the container's root (the 2014 'shocker' "
        "escape); moby: CAP_DAC_READ_SEARCH. name_to_handle_at stays allowed, as in moby: a handle is harmless "
        "without this call",
        unless_caps=("DAC_READ_SEARCH",),
    ),
    _rule(
        ("setns",),
        "joins namespaces of other processes through a /proc/<pid>/ns or pidfd descriptor; moby: CAP_SYS_ADMIN",
        unless_caps=("SYS_ADMIN",),
    ),
    _rule(
        ("reboot",),
        "in a PID namespace it only ends the container's init, still refused as moby does without CAP_SYS_BOOT",
        unless_caps=("SYS_BOOT",),
    ),
    _rule(("swapon", "swapoff"), "the host's swap is host-wide; moby allows it to no one"),
    _rule(
        ("userfaultfd",),
        "stalls the kernel on a page fault of the caller's choosing, the classic way to win kernel races in "
        "exploits; moby allows it to no one",
    ),
    _rule(
        ("io_uring_setup", "io_uring_enter", "io_uring_register"),
        "operations submitted through io_uring are not seen by seccomp, and io_uring has been a frequent source of "
        "kernel privilege escalations; left out of moby's and containers/common's profiles since 2023",
    ),
    _rule(
        ("ptrace", "process_vm_readv", "process_vm_writev"),
        "before 4.8 a tracer could change a tracee's syscall after the seccomp check (a bypass); moby allows them "
        "from 4.8 on, and with CAP_SYS_PTRACE",
        unless_caps=("SYS_PTRACE",),
        before=(4, 8),
    ),
    _rule(("acct",), "process accounting to a file of its choosing; moby: CAP_SYS_PACCT", unless_caps=("SYS_PACCT",)),
    _rule(("syslog",), "the kernel log (addresses); moby: CAP_SYSLOG", unless_caps=("SYSLOG",)),
    _rule(
        ("quotactl", "quotactl_fd", "lookup_dcookie"),
        "host filesystems and profiling; moby: CAP_SYS_ADMIN",
        unless_caps=("SYS_ADMIN",),
    ),  # fmt: skip
    _rule(("iopl", "ioperm"), "raw I/O ports of the host; moby: CAP_SYS_RAWIO", unless_caps=("SYS_RAWIO",)),
    _rule(
        ("settimeofday", "clock_settime"),
        "CLOCK_REALTIME is not namespaced (time namespaces offset only monotonic and boottime); moby: CAP_SYS_TIME",
        unless_caps=("SYS_TIME",),
    ),
    _rule(("uselib", "ustat", "sysfs", "_sysctl"), "obsolete calls moby allows to no one"),
)


class SeccompError(OSError):
    pass


def arch_for(machine=None):
    machine = machine or platform.machine()
    try:
        return ARCHES[machine]
    except KeyError:
        raise SeccompError(
            _errno.ENOSYS,
            "no seccomp profile for the %s architecture (known: %s): start the container with seccomp: unconfined"
            % (machine, ", ".join(sorted(ARCHES))),
        )


def _cap_key(name):
    key = name.upper()
    return key[4:] if key.startswith("CAP_") else key


def active_rules(capabilities=(), release=None):
    """The rules that apply to a workload keeping `capabilities` on kernel `release` (default: this one)."""
    kept = {_cap_key(c) for c in capabilities}
    release = release or kernel.running_release()
    out = []
    for rule in RULES:
        if kept.intersection(rule.unless_caps):
            continue
        if rule.before and kernel.at_least(release, rule.before):
            continue
        out.append(rule)
    return out


def _insn(code, k, jt=0, jf=0):
    return (code, jt, jf, k)


def _deny_block(nr, rule):
    """The instructions of one denied call; every path of the block ends in a RET, so the accumulator that an
    argument check overwrites is never read again."""
    refuse = _insn(RET, SECCOMP_RET_ERRNO | (rule.err & SECCOMP_RET_DATA))
    if rule.arg_mask is None:
        return [_insn(JEQ, nr, 0, 1), refuse]
    return [
        _insn(JEQ, nr, 0, 4),
        _insn(LD_ABS, off_arg_low(0)),
        # Only the low word: clone() keeps lower_32_bits(flags) (kernel/fork.c), unshare() fails with EINVAL on any
        # bit it does not know, so a namespace bit in the high word does nothing.
        _insn(JSET, rule.arg_mask, 0, 1),
        refuse,
        _insn(RET, SECCOMP_RET_ALLOW),
    ]


def build(machine=None, capabilities=(), release=None):
    """The default profile as a list of (code, jt, jf, k) instructions for `machine` (default: this one)."""
    arch = arch_for(machine)
    prog = [
        _insn(LD_ABS, OFF_ARCH),
        _insn(JEQ, arch.audit, 1, 0),
        _insn(RET, SECCOMP_RET_KILL_PROCESS),
        _insn(LD_ABS, OFF_NR),
    ]
    if arch.x32:
        prog += [_insn(JGE, X32_SYSCALL_BIT, 0, 1), _insn(RET, SECCOMP_RET_KILL_PROCESS)]
    for rule in active_rules(capabilities, release):
        for name in rule.names:
            if name in arch.numbers:  # iopl, ustat, ... exist on x86_64 only
                prog += _deny_block(arch.numbers[name], rule)
    prog.append(_insn(RET, SECCOMP_RET_ALLOW))
    if len(prog) > BPF_MAXINSNS:
        raise SeccompError(_errno.EINVAL, "seccomp program of %d instructions is over BPF_MAXINSNS" % len(prog))
    return prog


def pack(prog):
    """struct sock_filter[] as bytes: __u16 code; __u8 jt; __u8 jf; __u32 k."""
    return b"".join(struct.pack("=HBBI", code, jt, jf, k) for code, jt, jf, k in prog)


def describe(machine=None, capabilities=(), release=None, profile=DEFAULT_PROFILE):
    """What the profile refuses, for the module's output and the checks' evidence."""
    if profile == "unconfined":
        return {"profile": "unconfined", "denied": {}}
    arch = arch_for(machine)
    denied = {}
    for rule in active_rules(capabilities, release):
        for name in rule.names:
            if name in arch.numbers:
                how = _errno.errorcode[rule.err]
                if rule.arg_mask is not None:
                    how += " with namespace flags"
                denied[name] = how
    return {
        "profile": profile,
        "arch": arch.name,
        "denied": denied,
        "foreign_arch": "killed" + (" (i386, x32)" if arch.x32 else " (arm32 compat)"),
        "instructions": len(build(machine, capabilities, release)),
    }


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp_set_mode_filter(filter_bytes, flags=0, libc=None):
    """seccomp(SECCOMP_SET_MODE_FILTER) (3.17+), else prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER) (3.5+).
    The caller must have no_new_privs set or CAP_SYS_ADMIN (seccomp(2))."""
    lib = libc or syscalls.libc()
    buf = ctypes.create_string_buffer(filter_bytes, len(filter_bytes))
    prog = SockFprog(len(filter_bytes) // 8, ctypes.cast(buf, ctypes.c_void_p))
    lib.syscall.restype = ctypes.c_long
    nr = arch_for().numbers["seccomp"]
    res = lib.syscall(
        ctypes.c_long(nr), ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(flags), ctypes.byref(prog)
    )
    if res == 0:
        return 0
    err = ctypes.get_errno()
    if err != _errno.ENOSYS:
        raise SeccompError(err, "seccomp(SECCOMP_SET_MODE_FILTER): %s" % os.strerror(err))
    res = lib.prctl(
        ctypes.c_int(PR_SET_SECCOMP),
        ctypes.c_ulong(SECCOMP_MODE_FILTER),
        ctypes.byref(prog),
        ctypes.c_ulong(0),
        ctypes.c_ulong(0),
    )
    if res != 0:
        err = ctypes.get_errno()
        raise SeccompError(err, "prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER): %s" % os.strerror(err))
    return 0


def install(profile=DEFAULT_PROFILE, capabilities=(), release=None, libc=None):
    """Apply `profile` to the calling thread and its future children, just before exec. Sets no_new_privs.
    'unconfined' does nothing. Irreversible: call it in the process that is about to exec the workload."""
    if profile not in PROFILES:
        raise SeccompError(_errno.EINVAL, "seccomp profile %r must be one of %s" % (profile, ", ".join(PROFILES)))
    if profile == "unconfined":
        return None
    prog = build(capabilities=capabilities, release=release)
    syscalls.set_no_new_privs(libc=libc)
    seccomp_set_mode_filter(pack(prog), libc=libc)
    return len(prog)


def read_status(pid="self", proc="/proc"):
    """{'mode': Seccomp (0 off, 1 strict, 2 filter), 'filters': Seccomp_filters, 'no_new_privs': NoNewPrivs}
    from /proc/<pid>/status; a field the kernel does not show is None (Seccomp_filters is 5.9+)."""
    with open(os.path.join(proc, str(pid), "status")) as fh:
        return parse_status(fh.read())


def parse_status(text):
    fields = {}
    for line in text.splitlines():
        key, _unused, value = line.partition(":")
        fields[key.strip()] = value.strip()

    def num(key):
        try:
            return int(fields[key])
        except (KeyError, ValueError):
            return None

    return {"mode": num("Seccomp"), "filters": num("Seccomp_filters"), "no_new_privs": num("NoNewPrivs")}


def profile_of(config):
    """The profile a container config asks for: config['seccomp'], stored only when it is not the default (so
    that the config hash of containers started before the option stays the same)."""
    return (config or {}).get("seccomp") or DEFAULT_PROFILE


def filter_for(config):
    """The packed program for a container config (None: unconfined). Built before the process joins the
    container's memory cgroup: building it touches pages that a 4 MiB limit cannot spare."""
    profile = profile_of(config)
    if profile not in PROFILES:
        raise SeccompError(_errno.EINVAL, "seccomp profile %r must be one of %s" % (profile, ", ".join(PROFILES)))
    if profile == "unconfined":
        return None
    return pack(build(capabilities=(config or {}).get("capabilities") or ()))


def install_filter(filter_bytes, libc=None):
    """Install a packed program from filter_for() (None: nothing), no_new_privs first."""
    if filter_bytes is None:
        return None
    syscalls.set_no_new_privs(libc=libc)
    return seccomp_set_mode_filter(filter_bytes, libc=libc)


def install_for(config):
    """Install the container config's profile for its kept capabilities, in the process about to exec."""
    return install_filter(filter_for(config))


def expected_mode(profile):
    """The Seccomp field of /proc/<pid>/status a process under `profile` shows: 2 (filter) or 0."""
    return 0 if profile == "unconfined" else SECCOMP_MODE_FILTER
