"""The default seccomp profile as a program: decoded and run by a small classic-BPF interpreter, per architecture,
without installing anything. The real filter in a forked child: tests/integration/test_seccomp_installed.py."""

import errno
import re
import struct
from pathlib import Path

import pytest

from ansible.module_utils.nsverify import seccomp

AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_ARM = 0x40000028
SIGCHLD = 17
CLONE_FS = 0x200
CLONE_VM_THREAD = 0x00010000 | 0x00000100 | 0x00000800 | 0x00000200 | 0x00000400  # a pthread_create's flags
KNOWN = {seccomp.LD_ABS, seccomp.JEQ, seccomp.JGE, seccomp.JSET, seccomp.RET}


def seccomp_data(nr, arch, args=()):
    args = list(args) + [0] * (6 - len(args))
    return struct.pack("=iIQ6Q", nr, arch, 0, *args)


def run_bpf(prog, data):
    """Classic BPF as the kernel runs a seccomp filter: only the opcodes the profile may use, jumps forward only,
    word loads inside seccomp_data. Returns the RET value."""
    acc, pc = 0, 0
    while True:
        assert 0 <= pc < len(prog), "fell off the program at %d" % pc
        code, jt, jf, k = prog[pc]
        assert code in KNOWN, "unexpected opcode 0x%x at %d" % (code, pc)
        if code == seccomp.RET:
            return k
        if code == seccomp.LD_ABS:
            assert k % 4 == 0 and k + 4 <= len(data)
            acc = struct.unpack_from("=I", data, k)[0]
            pc += 1
            continue
        taken = {seccomp.JEQ: acc == k, seccomp.JGE: acc >= k, seccomp.JSET: bool(acc & k)}[code]
        pc += 1 + (jt if taken else jf)


def verdict(machine, name_or_nr, args=(), arch=None, capabilities=(), release="6.1.0"):
    prog = seccomp.build(machine, capabilities, release)
    a = seccomp.ARCHES[machine]
    nr = a.numbers[name_or_nr] if isinstance(name_or_nr, str) else name_or_nr
    ret = run_bpf(prog, seccomp_data(nr, arch or a.audit, args))
    action = ret & 0xFFFF0000
    if action == seccomp.SECCOMP_RET_ERRNO:
        return errno.errorcode[ret & seccomp.SECCOMP_RET_DATA]
    return {seccomp.SECCOMP_RET_ALLOW: "allow", seccomp.SECCOMP_RET_KILL_PROCESS: "kill"}[ret]


GETPID = {"x86_64": 39, "aarch64": 172}
CASES = [
    ("keyctl", (), "EPERM"),
    ("add_key", (), "EPERM"),
    ("request_key", (), "EPERM"),
    ("unshare", (seccomp.CLONE_NEWUSER,), "EPERM"),
    ("unshare", (0x00020000,), "EPERM"),  # CLONE_NEWNS
    ("unshare", (seccomp.CLONE_NEWTIME,), "EPERM"),
    ("unshare", (CLONE_FS,), "allow"),
    ("unshare", (1 << 32 | CLONE_FS,), "allow"),  # the kernel refuses unknown high bits with EINVAL itself
    ("clone", (SIGCHLD,), "allow"),  # fork()
    ("clone", (CLONE_VM_THREAD,), "allow"),
    ("clone", (seccomp.CLONE_NEWUSER | SIGCHLD,), "EPERM"),
    ("clone", (0x40000000 | SIGCHLD,), "EPERM"),  # CLONE_NEWNET
    ("clone3", (), "ENOSYS"),
    ("mount", (), "EPERM"),
    ("umount2", (), "EPERM"),
    ("pivot_root", (), "EPERM"),
    ("move_mount", (), "EPERM"),
    ("open_tree", (), "EPERM"),
    ("fsopen", (), "EPERM"),
    ("fsmount", (), "EPERM"),
    ("fsconfig", (), "EPERM"),
    ("fspick", (), "EPERM"),
    ("bpf", (), "EPERM"),
    ("perf_event_open", (), "EPERM"),
    ("init_module", (), "EPERM"),
    ("finit_module", (), "EPERM"),
    ("delete_module", (), "EPERM"),
    ("kexec_load", (), "EPERM"),
    ("kexec_file_load", (), "EPERM"),
    ("open_by_handle_at", (), "EPERM"),
    ("setns", (), "EPERM"),
    ("reboot", (), "EPERM"),
    ("swapon", (), "EPERM"),
    ("swapoff", (), "EPERM"),
    ("userfaultfd", (), "EPERM"),
    ("io_uring_setup", (), "EPERM"),
    ("ptrace", (), "allow"),  # 4.8+: like moby
    ("seccomp", (), "allow"),  # a workload may add its own, stricter filter
]


@pytest.mark.parametrize("machine", sorted(seccomp.ARCHES))
@pytest.mark.parametrize("name,args,expected", CASES, ids=["%s-%s" % (c[0], c[1]) for c in CASES])
def test_default_profile_decides_each_call(machine, name, args, expected):
    assert verdict(machine, name, args) == expected


@pytest.mark.parametrize("machine", sorted(seccomp.ARCHES))
def test_ordinary_calls_are_allowed(machine):
    assert verdict(machine, GETPID[machine]) == "allow"
    for nr in range(0, 460):
        if nr not in seccomp.ARCHES[machine].numbers.values():
            assert verdict(machine, nr) == "allow", nr


@pytest.mark.parametrize(
    "machine,arch,nr",
    [
        ("x86_64", AUDIT_ARCH_I386, 20),  # i386 getpid through int 0x80
        ("x86_64", seccomp.AUDIT_ARCH_X86_64, seccomp.X32_SYSCALL_BIT | 39),  # x32 getpid
        ("x86_64", seccomp.AUDIT_ARCH_X86_64, seccomp.X32_SYSCALL_BIT | 250),  # x32 keyctl
        ("aarch64", AUDIT_ARCH_ARM, 20),  # arm32 compat getpid
        ("aarch64", seccomp.AUDIT_ARCH_X86_64, 172),
    ],
    ids=["i386", "x32-getpid", "x32-keyctl", "arm32", "foreign"],
)
def test_foreign_abi_is_killed(machine, arch, nr):
    assert verdict(machine, nr, arch=arch) == "kill"


def test_x32_bit_is_not_checked_on_aarch64():
    # aarch64 has no x32; its numbers never reach bit 30, and a check would only cost an instruction
    prog = seccomp.build("aarch64", release="6.1.0")
    assert all(k != seccomp.X32_SYSCALL_BIT for _, _, _, k in prog)


@pytest.mark.parametrize(
    "caps,name,args,expected",
    [
        (["SYS_ADMIN"], "mount", (), "allow"),
        (["CAP_SYS_ADMIN"], "unshare", (seccomp.CLONE_NEWUSER,), "allow"),
        (["SYS_ADMIN"], "clone3", (), "allow"),
        (["SYS_ADMIN"], "keyctl", (), "EPERM"),  # no capability makes the keyring namespaced
        (["SYS_ADMIN"], "kexec_load", (), "EPERM"),
        (["SYS_ADMIN"], "pivot_root", (), "EPERM"),
        (["BPF"], "bpf", (), "allow"),
        (["PERFMON"], "perf_event_open", (), "allow"),
        (["SYS_MODULE"], "finit_module", (), "allow"),
        (["DAC_READ_SEARCH"], "open_by_handle_at", (), "allow"),
        (["SYS_BOOT"], "reboot", (), "allow"),
        (["NET_ADMIN"], "mount", (), "EPERM"),
    ],
)
def test_a_kept_capability_lifts_its_rules_like_moby(caps, name, args, expected):
    assert verdict("x86_64", name, args, capabilities=caps) == expected


@pytest.mark.parametrize(
    "release,caps,expected",
    [("4.4.0-210-generic", (), "EPERM"), ("4.8.0", (), "allow"), ("4.4.0", ("SYS_PTRACE",), "allow")],
)
def test_ptrace_is_refused_only_where_it_could_bypass_the_filter(release, caps, expected):
    assert verdict("x86_64", "ptrace", release=release, capabilities=caps) == expected
    assert verdict("x86_64", "process_vm_writev", release=release, capabilities=caps) == expected


@pytest.mark.parametrize("machine", sorted(seccomp.ARCHES))
def test_program_is_well_formed(machine):
    prog = seccomp.build(machine, release="6.1.0")
    assert prog[:3] == [
        (seccomp.LD_ABS, 0, 0, seccomp.OFF_ARCH),
        (seccomp.JEQ, 1, 0, seccomp.ARCHES[machine].audit),
        (seccomp.RET, 0, 0, seccomp.SECCOMP_RET_KILL_PROCESS),
    ]
    assert prog[-1] == (seccomp.RET, 0, 0, seccomp.SECCOMP_RET_ALLOW)
    for pc, (code, jt, jf, _) in enumerate(prog):
        assert code in KNOWN
        if code in (seccomp.JEQ, seccomp.JGE, seccomp.JSET):
            assert pc + 1 + max(jt, jf) < len(prog)
    raw = seccomp.pack(prog)
    assert len(raw) == 8 * len(prog)
    assert struct.unpack_from("=HBBI", raw, 8) == prog[1]


@pytest.mark.parametrize("machine", sorted(seccomp.ARCHES))
def test_syscall_numbers_are_distinct(machine):
    numbers = seccomp.ARCHES[machine].numbers
    assert len(set(numbers.values())) == len(numbers)
    every_rule_name = {n for r in seccomp.RULES for n in r.names}
    assert every_rule_name - set(numbers) <= {"iopl", "ioperm", "uselib", "ustat", "sysfs", "_sysctl"}


HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/include/asm-generic/unistd.h"),
}


@pytest.mark.parametrize("machine", sorted(HEADERS))
def test_syscall_numbers_match_the_kernel_headers(machine):
    if not HEADERS[machine].exists():
        pytest.skip("no %s (linux-libc-dev)" % HEADERS[machine])
    text = HEADERS[machine].read_text()
    found = dict(re.findall(r"#define __NR(?:3264)?_(\w+)\s+(\d+)", text))
    checked = 0
    for name, nr in seccomp.ARCHES[machine].numbers.items():
        if name in found:  # headers older than the table lack the newest calls (open_tree_attr: 6.15)
            assert int(found[name]) == nr, name
            checked += 1
    assert checked >= 30


def test_describe_lists_what_is_refused():
    d = seccomp.describe("x86_64", release="6.1.0")
    assert d["profile"] == "default" and d["arch"] == "x86_64"
    assert d["denied"]["keyctl"] == "EPERM"
    assert d["denied"]["clone3"] == "ENOSYS"
    assert d["denied"]["unshare"] == "EPERM with namespace flags"
    assert "ptrace" not in d["denied"]
    assert d["instructions"] == len(seccomp.build("x86_64", release="6.1.0"))
    assert seccomp.describe(profile="unconfined") == {"profile": "unconfined", "denied": {}}


def test_every_rule_says_why():
    for rule in seccomp.RULES:
        assert len(rule.why) > 20, rule.names


def test_unknown_architecture_and_profile_are_refused_clearly():
    with pytest.raises(seccomp.SeccompError, match="no seccomp profile for the s390x architecture.*unconfined"):
        seccomp.build("s390x")
    with pytest.raises(seccomp.SeccompError, match="must be one of default, unconfined"):
        seccomp.install("strict")
    assert seccomp.install("unconfined") is None  # and nothing was installed


def test_parse_status():
    text = "Name:\tsh\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n"
    assert seccomp.parse_status(text) == {"mode": 2, "filters": 1, "no_new_privs": 1}
    assert seccomp.parse_status("Name:\tsh\nSeccomp:\t0\n") == {"mode": 0, "filters": None, "no_new_privs": None}


def test_profile_of_a_container_config():
    assert seccomp.profile_of({"name": "x"}) == "default"  # containers started before the option
    assert seccomp.profile_of({"seccomp": "unconfined"}) == "unconfined"
    assert seccomp.profile_of(None) == "default"
    assert seccomp.expected_mode("default") == 2 and seccomp.expected_mode("unconfined") == 0
