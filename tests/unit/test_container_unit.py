"""Container and rootfs engine: parsers and validation, data-driven."""

import os
import struct

import pytest

from ansible.module_utils.nsverify import container, rootfs
from ansible.module_utils.nsverify.container import checks as container_checks


@pytest.mark.parametrize(
    "text,expected",
    [
        ("BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary.", "1.35.0"),
        ("BusyBox v1.30.1 (Ubuntu 1:1.30.1-7ubuntu3) multi-call binary.", "1.30.1"),
        ("BusyBox v1.36.1 (2023-11-07 18:53:09 UTC) multi-call binary.", "1.36.1"),
    ],
    ids=["debian12", "ubuntu22", "alpine"],
)
def test_parse_version(text, expected):
    assert rootfs.parse_version(text) == expected


def test_parse_version_rejects_other_text():
    with pytest.raises(rootfs.RootfsError):
        rootfs.parse_version("ls (GNU coreutils) 9.1")


def test_parse_applet_list_sorts_dedups_and_drops_busybox():
    assert rootfs.parse_applet_list("usr/bin/[\nbin/sh\nbin/busybox\n\nbin/sh\n/sbin/ip\n") == [
        "bin/sh",
        "sbin/ip",
        "usr/bin/[",
    ]


@pytest.mark.parametrize("line", ["../etc/passwd", "bin/../../x", "bin//sh"], ids=["dotdot", "nested-dotdot", "empty"])
def test_parse_applet_list_rejects_unsafe_paths(line):
    with pytest.raises(rootfs.RootfsError):
        rootfs.parse_applet_list(line)


def _elf(interp=None):
    """A minimal 64-bit little-endian ELF header with one program header."""
    ehdr = bytearray(64)
    ehdr[0:4] = b"\x7fELF"
    ehdr[4], ehdr[5] = 2, 1
    struct.pack_into("<Q", ehdr, 0x20, 64)
    struct.pack_into("<HH", ehdr, 0x36, 56, 1)
    phdr = bytearray(56)
    path = (interp or "").encode() + b"\0"
    struct.pack_into("<I", phdr, 0, 3 if interp else 1)
    struct.pack_into("<Q", phdr, 8, 120)
    struct.pack_into("<Q", phdr, 32, len(path))
    return bytes(ehdr + phdr + path)


@pytest.mark.parametrize(
    "data,expected",
    [
        (_elf(), None),
        (_elf("/lib64/ld-linux-x86-64.so.2"), "/lib64/ld-linux-x86-64.so.2"),
    ],
    ids=["static", "dynamic"],
)
def test_elf_interpreter(data, expected):
    assert rootfs.elf_interpreter(data) == expected


@pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="busybox-static not installed")
def test_real_binaries_static_and_dynamic():
    rootfs.check_binary("/bin/busybox")
    with pytest.raises(rootfs.RootfsError, match="dynamically linked"):
        rootfs.check_binary("/bin/ls")


def test_desired_layout_links_relative_and_parents():
    layout = rootfs.desired_layout(["bin/sh", "usr/bin/awk", "usr/local/bin/x"])
    assert layout["links"] == {
        "bin/sh": "busybox",
        "usr/bin/awk": "../../bin/busybox",
        "usr/local/bin/x": "../../../bin/busybox",
    }
    assert layout["dirs"]["tmp"] == 0o1777 and layout["dirs"]["root"] == 0o700 and "usr/local" in layout["dirs"]
    assert "root:x:0:0:" in layout["files"]["etc/passwd"][0]


def test_plan_apply_plan_is_empty(tmp_path):
    fake_bb = tmp_path / "busybox"
    fake_bb.write_bytes(b"not really busybox")
    root = str(tmp_path / "root")
    layout = rootfs.desired_layout(["bin/sh", "sbin/ip"], hostname="unit-box")
    actions = rootfs.plan(root, layout, str(fake_bb))
    assert ("binary", "bin/busybox", str(fake_bb)) in actions
    rootfs.apply(root, actions)
    assert rootfs.plan(root, layout, str(fake_bb)) == []
    assert os.readlink(os.path.join(root, "sbin/ip")) == "../bin/busybox"
    os.chmod(os.path.join(root, "tmp"), 0o755)
    assert rootfs.plan(root, layout, str(fake_bb)) == [("chmod", "tmp", 0o1777)]


def _normalize(**options):
    return container.normalize("unit", "/nonexistent", require_rootfs=False, **options)


@pytest.mark.parametrize(
    "hostname",
    ["isolated-box", "a", "box-1.example.org", "x" * 63, "a." * 31 + "ab"],
    ids=["default", "one-char", "fqdn", "label-63", "total-64"],
)
def test_valid_hostnames(hostname):
    assert _normalize(hostname=hostname)["hostname"] == hostname


@pytest.mark.parametrize(
    "hostname",
    ["", "x" * 65, "bad_host", "-lead", "trail-", "a..b", "sp ace", "x" * 64 + ".y"],
    ids=["empty", "65", "underscore", "leading-dash", "trailing-dash", "empty-label", "space", "over-64-total"],
)
def test_invalid_hostnames(hostname):
    with pytest.raises(container.ContainerError):
        _normalize(hostname=hostname)


@pytest.mark.parametrize(
    "name,ok",
    [
        ("nsv0123456789ab", True),
        ("nsv0123456789abc", False),
        ("eth0", False),
        ("nsv-a", True),
        ("nsv a", False),
        ("", True),  # empty: the default name
    ],
    ids=["15", "16", "no-prefix", "dash", "space", "empty-is-default"],
)
def test_veth_name_validation(name, ok):
    if ok:
        assert _normalize(veth=True, veth_host=name)["veth"]["host"] == (name or container.veth_names("unit")[0])
    else:
        with pytest.raises(container.ContainerError):
            _normalize(veth=True, veth_host=name)


def test_default_veth_names_fit_and_differ():
    host, ctr = container.veth_names("a" * 32)
    assert len(host) <= 15 and len(ctr) <= 15 and host != ctr and host.startswith("nsv")
    assert container.veth_names("a") != container.veth_names("b")


@pytest.mark.parametrize(
    "network,expected",
    [
        ("10.213.0.0/30", ("10.213.0.1/30", "10.213.0.2/30")),
        ("192.168.7.4/30", ("192.168.7.5/30", "192.168.7.6/30")),
    ],
    ids=["default", "other-private"],
)
def test_network_addresses(network, expected):
    veth = _normalize(veth=True, network=network)["veth"]
    assert (veth["host_address"], veth["container_address"]) == expected


@pytest.mark.parametrize(
    "network",
    ["10.213.0.1/30", "10.213.0.0/24", "8.8.8.0/30", "fd00::/126", "nonsense"],
    ids=["host-bits", "not-30", "public", "ipv6", "garbage"],
)
def test_network_addresses_rejects(network):
    with pytest.raises(container.ContainerError):
        _normalize(veth=True, network=network)


@pytest.mark.parametrize(
    "name",
    ["../containers/x", "Box", "a/b", "-x", "", "x" * 33],
    ids=["dotdot-path", "upper-case", "slash", "leading-dash", "empty", "33-chars"],
)
def test_container_names_that_could_escape_the_state_dirs_are_refused(name):
    with pytest.raises(container.ContainerError, match="container name"):
        container.normalize(name, "/nonexistent", require_rootfs=False)


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "123 (sh) S 1 123 123 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5555 0 0",
            {"state": "S", "ppid": 1, "starttime": 5555},
        ),
        ("9 (a) b) c) Z 7 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0", {"state": "Z", "ppid": 7, "starttime": 42}),
    ],
    ids=["plain", "comm-with-parens-and-spaces"],
)
def test_parse_stat(text, expected):
    assert container.parse_stat(text) == expected


def test_cap_numbers():
    assert container.cap_numbers(["CAP_SYS_ADMIN", "chown", "NET_RAW"]) == [0, 13, 21]
    with pytest.raises(container.ContainerError):
        container.cap_numbers(["CAP_FLY"])


def test_default_caps_exclude_dangerous_ones():
    for cap in ("SYS_ADMIN", "MKNOD", "SYS_MODULE", "SYS_PTRACE", "NET_ADMIN", "SYS_RAWIO"):
        assert cap not in container.DEFAULT_CAPS


def test_config_hash_is_stable_and_sensitive():
    a = {"name": "x", "hostname": "h", "memory": 1}
    assert container.config_hash(a) == container.config_hash(dict(reversed(list(a.items()))))
    assert container.config_hash(a) != container.config_hash(dict(a, hostname="g"))


def test_init_alive_guards_against_pid_reuse(tmp_path):
    (tmp_path / "77").mkdir()
    (tmp_path / "77" / "stat").write_text("77 (python) S 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1000 0 0")
    assert container.init_alive({"init_pid": 77, "init_starttime": 1000}, proc=str(tmp_path))
    assert not container.init_alive({"init_pid": 77, "init_starttime": 999}, proc=str(tmp_path))
    assert not container.init_alive({"init_pid": 78, "init_starttime": 1000}, proc=str(tmp_path))


def test_parse_ps():
    text = "PID   PPID  COMMAND\n    1     0 python\n    2     1 sh\n   14     0 ps\n"
    assert container_checks.parse_ps(text) == [(1, 0, "python"), (2, 1, "sh"), (14, 0, "ps")]


def test_normalize_defaults(tmp_path):
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "busybox").write_text("")
    os.chmod(str(root / "bin" / "busybox"), 0o755)
    os.symlink("busybox", str(root / "bin" / "sh"))
    cfg = container.normalize("unit", str(root), memory="16M", veth=True)
    assert cfg["memory"] == 16 << 20 and cfg["veth"]["host_address"] == "10.213.0.1/30"
    assert cfg["command"] == container.DEFAULT_COMMAND and "SYS_ADMIN" not in cfg["capabilities"]
    assert container.namespace_types(cfg) == ["mnt", "uts", "ipc", "pid", "net", "cgroup"]
    assert "time" in container.namespace_types(dict(cfg, time_offsets={"monotonic": 5}))


@pytest.mark.parametrize(
    "entries,expected,deprecated",
    [
        (None, [[0, 100000, 65536]], False),
        ([{"inside": 0, "outside": 1000, "count": 1}], [[0, 1000, 1]], False),
        ([[0, 1000, 1]], [[0, 1000, 1]], True),
        ([["0", "200000", "10"], [10, 300000, 5]], [[0, 200000, 10], [10, 300000, 5]], True),
    ],
    ids=["default", "single-id-dict", "single-id-old-list", "two-lines-strings-old-list"],
)
def test_id_map_valid(entries, expected, deprecated):
    warnings = []
    cfg = _normalize(user_namespace=True, uid_map=entries, warnings=warnings)
    assert cfg["user"]["uid_map"] == expected
    assert bool(warnings) is deprecated and all("deprecated" in w for w in warnings)


@pytest.mark.parametrize(
    "entries,message",
    [
        ([[1, 1000, 1]], "must map id 0"),
        ([[0, 1000, 0]], "count"),
        ([[0, -1, 1]], "minimum"),
        ([[0, 1]], "must be {inside, outside, count}"),
        ([[i, 1000 + i, 1] for i in range(341)], "at most"),
        ([{"inside": 0, "outside": 1}], "missing count"),
    ],
    ids=["no-zero-inside", "zero-count", "negative", "two-fields", "341-lines", "dict-missing-count"],
)
def test_id_map_invalid(entries, message):
    with pytest.raises(container.ContainerError, match=message):
        _normalize(user_namespace=True, uid_map=entries)


def test_id_maps_without_user_namespace_are_refused():
    with pytest.raises(container.ContainerError, match="need user_namespace"):
        _normalize(uid_map=[{"inside": 0, "outside": 1000, "count": 1}])


@pytest.mark.parametrize(
    "text,expected",
    [
        ("max 0\n", {"max": 0}),
        ("max 12\n", {"max": 12}),
        ("", {}),
        (None, {}),
        ("max 3\nmax.imposed 2\n", {"max": 3, "max.imposed": 2}),
    ],
    ids=["v1-zero", "v1-count", "empty", "unreadable", "v2-with-imposed"],
)
def test_parse_flat_keyed(text, expected):
    assert container_checks.parse_flat_keyed(text) == expected


_HELD = dict(
    eagain=True,
    rc=2,
    forked=13,
    attempted=32,
    events_max_before=0,
    events_max_after=1,
    peak=16,
    current_with_children=15,
)


@pytest.mark.parametrize(
    "change,expected",
    [
        ({}, True),
        ({"peak": None}, True),
        (
            {"eagain": False, "rc": 0, "forked": 32, "events_max_after": 0, "peak": 36, "current_with_children": 35},
            False,
        ),
        ({"eagain": False}, False),
        ({"events_max_after": 0}, False),
        ({"events_max_before": None, "events_max_after": None}, False),
        ({"peak": 12}, False),
        ({"current_with_children": 17}, False),
        ({"forked": 32}, False),
    ],
    ids=[
        "held",
        "held-no-peak-file",
        "no-limit",
        "no-eagain",
        "no-event-counted",
        "no-events-file",
        "never-reached",
        "above-limit",
        "all-forked",
    ],
)
def test_judge_fork_bomb_decides_on_the_kernel_s_word(change, expected):
    assert container_checks.judge_fork_bomb(dict(_HELD, **change), 16) is expected


@pytest.mark.parametrize(
    "n,text",
    [
        (64 << 20, "64M"),
        (1 << 30, "1G"),
        (512 << 10, "512K"),
        (3 << 30, "3G"),
        (1000, "1000 bytes"),
        ((64 << 20) + 1, "67108865 bytes"),
    ],
    ids=["64M", "1G", "512K", "3G", "odd-small", "odd-large"],
)
def test_human_bytes(n, text):
    assert container.human_bytes(n) == text


def _cg_tree(tmp_path, version):
    """A captured cgroup tree: the files limit_lines reads, as v1 or v2 writes them."""
    base = tmp_path / ("v%d" % version)
    paths = {}
    if version == 1:
        files = {
            "memory/nsv-box/payload": {"memory.limit_in_bytes": "67108864\n"},
            "cpu/nsv-box": {"cpu.cfs_quota_us": "50000\n", "cpu.cfs_period_us": "100000\n"},
            "pids/nsv-box": {"pids.max": "64\n"},
        }
    else:
        files = {"nsv-box": {"memory.max": "67108864\n", "cpu.max": "50000 100000\n", "pids.max": "64\n"}}
    for rel, content in files.items():
        (base / rel).mkdir(parents=True, exist_ok=True)
        for fname, value in content.items():
            (base / rel / fname).write_text(value)
    for ctrl in ("memory", "cpu", "pids"):
        rel = next(r for r in files if version == 2 or r.startswith(ctrl))
        paths[ctrl] = {"version": version, "path": str(base / rel)}
    return {"paths": paths}


@pytest.mark.parametrize(
    "version,expected",
    [
        (
            1,
            "cgroup limits: memory 64M (v1 memory nsv-box/payload), cpu 0.5 (cfs 50000/100000, v1 cpu nsv-box), "
            "pids 64 (v1 pids nsv-box)",
        ),
        (
            2,
            "cgroup limits: memory 64M (v2 memory nsv-box), cpu 0.5 (cfs 50000/100000, v2 cpu nsv-box), "
            "pids 64 (v2 pids nsv-box)",
        ),
    ],
    ids=["v1-hybrid", "v2"],
)
def test_limit_lines_read_the_kernel_files(tmp_path, version, expected):
    cfg = {"memory": 64 << 20, "cpus": 0.5, "pids": 64}
    assert container.limit_lines(_cg_tree(tmp_path, version), cfg) == [expected]


def test_limit_lines_say_unlimited_and_not_a_dict(tmp_path):
    assert container.limit_lines({"paths": {}}, {"memory": None, "cpus": None, "pids": None}) == [
        "cgroup limits: memory unlimited, cpu unlimited, pids unlimited"
    ]


def test_limit_lines_show_what_the_kernel_holds_not_the_config(tmp_path):
    tree = _cg_tree(tmp_path, 1)
    (tmp_path / "v1/pids/nsv-box/pids.max").write_text("max\n")  # limit lost after start
    line = container.limit_lines(tree, {"memory": 64 << 20, "cpus": 0.5, "pids": 64})[0]
    assert "pids max (v1 pids nsv-box)" in line


def test_namespace_lines_table_flags_a_shared_namespace():
    state = {"namespaces": {"uts": 11, "net": 12}, "host_namespaces": {"uts": 21, "net": 12}}
    assert container.namespace_lines(state) == [
        "namespaces (container vs host):",
        "  uts    11         vs host 21         isolated",
        "  net    12         vs host 12         SHARED",
    ] + ["  %-6s the host's, left out by request (namespaces)" % t for t in ("mnt", "ipc", "pid", "cgroup")]


@pytest.mark.parametrize(
    "given,expected",
    [
        (None, ["cgroup", "ipc", "mnt", "net", "pid", "uts"]),
        (["mnt", "uts", "ipc", "net", "pid"], ["ipc", "mnt", "net", "pid", "uts"]),
        (["mnt", "uts", "net", "pid", "pid"], ["mnt", "net", "pid", "uts"]),
    ],
    ids=["default-all-six", "without-cgroup", "without-ipc-and-cgroup-dedup"],
)
def test_validate_namespaces(given, expected):
    assert container.validate_namespaces(given) == expected


@pytest.mark.parametrize(
    "given,message",
    [
        (["uts", "ipc", "net", "pid", "cgroup"], "must include mnt"),
        (["mnt", "ipc", "net", "pid"], "must include uts"),
        (["mnt", "uts", "net", "pid", "user"], "not a base type"),
        (["mnt", "uts", "net", "pid", "bogus"], "unknown"),
    ],
    ids=["no-mnt", "no-uts", "user-is-an-option", "unknown"],
)
def test_validate_namespaces_refuses(given, message):
    with pytest.raises(container.ContainerError, match=message):
        container.validate_namespaces(given)


def test_default_namespaces_keep_the_config_hash_of_older_containers():
    # containers started before the option have no "namespaces" key: same request, same hash
    cfg = container.normalize("box", "/nonexistent", require_rootfs=False)
    assert "namespaces" not in cfg
    assert container.normalize(
        "box", "/nonexistent", require_rootfs=False, namespaces=["mnt", "uts", "ipc", "net", "pid"]
    )["namespaces"] == ["ipc", "mnt", "net", "pid", "uts"]
    assert container.namespace_types(dict(cfg, namespaces=["mnt", "uts", "net", "pid"])) == ["mnt", "uts", "pid", "net"]
    assert container.config_hash(cfg) == container.config_hash(
        container.normalize("box", "/nonexistent", require_rootfs=False, namespaces=list(container.BASE_TYPES))
    )


@pytest.mark.parametrize(
    "refused,words",
    [
        (
            {"cgroup": {"errno": 28, "errname": "ENOSPC", "limit": 0}},
            [
                "refuses a new cgroup namespace (CLONE_NEWCGROUP) with ENOSPC",
                "user.max_cgroup_namespaces is 0",
                "sysctl -w user.max_cgroup_namespaces=N",
                "without cgroup",
            ],
        ),
        (
            {"net": {"errno": 1, "errname": "EPERM", "limit": 1000}},
            ["new net namespace (CLONE_NEWNET) with EPERM", "CAP_SYS_ADMIN", "AppArmor", "seccomp"],
        ),
        (
            {"ipc": {"errno": 22, "errname": "EINVAL", "limit": None}},
            ["with EINVAL", "built without it (CONFIG_IPC_NS)", "without ipc"],
        ),
        ({}, ["each type alone was allowed", "ENOSPC"]),
    ],
    ids=["enospc-limit-zero", "eperm-policy", "einval-not-built", "combination-only"],
)
def test_explain_refusal_names_type_errno_and_what_to_look_at(refused, words):
    text = container.explain_refusal(refused, 28)
    for w in words:
        assert w in text, text
    if "net" in refused:
        assert "start without" not in text  # net is required: no such advice


# ---------------------------------------------------------------- lifecycle: decide (no host needed)
def _exam(running=False, exists=False, config_hash=None, **left):
    state = {"config_hash": config_hash, "config": {"hostname": "x"}} if running else None
    st = {"name": "unit", "exists": exists or running, "running": running, "state": state, "config": None}
    return {"status": st, "word": container.state_word(st), "leftovers": left}


_CFG = {"name": "unit", "hostname": "h"}


@pytest.mark.parametrize(
    "want,exam,action,changed,after",
    [
        ("started", _exam(), "start", True, "running"),
        ("started", _exam(exists=True, data_dir="/d"), "start", True, "running"),
        ("started", _exam(running=True, config_hash=container.config_hash(_CFG)), "none", False, "running"),
        ("stopped", _exam(running=True, config_hash="x", run_dir="/r"), "stop", True, "stopped"),
        ("stopped", _exam(exists=True, data_dir="/d"), "none", False, "stopped"),
        ("stopped", _exam(exists=True, cgroups=["/sys/fs/cgroup/pids/nsv-unit"]), "stop", True, "stopped"),
        ("stopped", _exam(), "none", False, "absent"),
        ("absent", _exam(exists=True, data_dir="/d"), "remove", True, "absent"),
        ("absent", _exam(veth="nsv12345678h"), "remove", True, "absent"),
        ("absent", _exam(), "none", False, "absent"),
    ],
    ids=[
        "start-new",
        "start-stopped",
        "running-as-configured",
        "stop-running",
        "stopped-keeps-data",
        "stop-clears-leftover-cgroup",
        "stop-nothing",
        "remove-data",
        "remove-leftover-veth",
        "remove-nothing",
    ],
)
def test_decide(want, exam, action, changed, after):
    plan = container.decide(want, _CFG if want == "started" else None, exam)
    assert (plan["action"], plan["changed"], plan["after"]) == (action, changed, after)
    assert plan["before"] == exam["word"]


def test_decide_refuses_a_name_running_with_another_config():
    with pytest.raises(container.ConfigConflict, match="already running with another config") as info:
        container.decide("started", _CFG, _exam(running=True, config_hash="other"))
    assert info.value.evidence["requested_config"] == _CFG


def test_checks_emit_the_one_control_record():
    from ansible.module_utils.nsverify import controls

    rec = container_checks.check_pids_limit({"config": {"pids": None}})
    assert rec == controls.record(
        "NS-CTR-006", "skip", {"reason": "no pids limit configured"}, "no pids limit configured"
    )


def test_mount_points_of_captured_mountinfo():
    text = "22 1 0:21 / / rw - overlay overlay rw,lowerdir=/l,upperdir=/u\n23 22 0:5 / /proc rw - proc proc rw\n"
    assert container_checks.mount_points(text) == [
        ("/", "overlay", "rw,lowerdir=/l,upperdir=/u"),
        ("/proc", "proc", "rw"),
    ]


@pytest.mark.parametrize(
    "memory,expected",
    [("64M", 64 << 20), ("1.5G", 3 << 29), (67108864, 64 << 20), ("64MiB", 64 << 20)],
    ids=["M", "fraction", "bytes", "MiB"],
)
def test_memory_sizes(memory, expected):
    assert _normalize(memory=memory)["memory"] == expected
