"""Named-namespace engine: validation, parsers, state files and the decision table.

Pure functions on data; the real creation is in tests/integration/test_namespace_module.py.
"""

import json
import os

import pytest

from ansible.module_utils.nsverify import namespaces, procfs, validate

ALL = ["mnt", "uts", "ipc", "pid", "net", "user", "cgroup", "time"]
CLOCKS = {"monotonic": 1000.5, "boottime": 1200.25}
NEW_KERNEL = "6.18.44-fc-v657"
OLD_KERNEL = "4.14.0-1-amd64"  # simulated: this host runs 6.18


# ------------------------------------------------------------------ names (validate.name: one grammar everywhere)


@pytest.mark.parametrize(
    "name",
    ["nsv", "a.b_c-1", "x" * 64, "a..b", "NSV.9"],
    ids=["plain", "punctuation", "64-chars", "dots-inside", "upper"],
)
def test_valid_names_pass(name):
    assert namespaces.validate_name(name) == name


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("", "non-empty"),
        (".", "starting with a letter or digit"),
        ("..", "no '..'"),
        ("..a", "starts with '.'"),
        ("-x", "starts with '-'"),
        ("a/b", "'/'"),
        ("../etc", "'/'"),
        ("x" * 65, "65 characters"),
        ("a b", "' '"),
        ("nsv\u00e9", "letters, digits"),
    ],
    ids=[
        "empty",
        "dot",
        "dotdot",
        "leading-dot",
        "leading-dash",
        "slash",
        "traversal",
        "65-chars",
        "space",
        "non-ascii",
    ],
)
def test_invalid_names_say_why(name, fragment):
    with pytest.raises(ValueError) as err:
        namespaces.validate_name(name)
    assert fragment in str(err.value)


# ------------------------------------------------------------------ id maps (validate.id_map, through build_config)


def _uid_map(entries, release=NEW_KERNEL):
    return namespaces.build_config(["user"], uid_map=entries, release=release)["uid_map"]


@pytest.mark.parametrize(
    "entries, expected",
    [
        ([{"inside": 0, "outside": 100000, "count": 65536}], [(0, 100000, 65536)]),
        ([(1000, 2000, 10), (0, 5000, 1000)], [(0, 5000, 1000), (1000, 2000, 10)]),
        ([{"inside": 4294967294, "outside": 4294967294, "count": 1}], [(4294967294, 4294967294, 1)]),
        ([(i * 10, i * 10, 10) for i in range(340)], [(i * 10, i * 10, 10) for i in range(340)]),
    ],
    ids=["default-like", "sorted-by-inside", "highest-valid-id", "340-lines"],
)
def test_valid_maps_normalize(entries, expected):
    got = _uid_map(entries)
    assert [(e["inside"], e["outside"], e["count"]) for e in got] == expected


@pytest.mark.parametrize(
    "entries, release, fragment",
    [
        ([(0, 100000, 100), (50, 200000, 10)], NEW_KERNEL, "inside ranges 0..99 and 50..59 overlap"),
        ([(0, 100000, 100), (500, 100050, 10)], NEW_KERNEL, "outside ranges"),
        ([(0, 100000, 0)], NEW_KERNEL, "count must be at least 1"),
        ([(0, 100000, -5)], NEW_KERNEL, "count must be at least 1"),
        ([(0, 4294967295, 1)], NEW_KERNEL, "out of range"),
        ([(4294967290, 0, 10)], NEW_KERNEL, "inside range 4294967290..4294967299"),
        ([(-1, 0, 1)], NEW_KERNEL, "below the minimum 0"),
        ([(i * 10, i * 10, 10) for i in range(341)], NEW_KERNEL, "at most 340"),
        ([(i * 10, i * 10, 10) for i in range(6)], OLD_KERNEL, "at most 5"),
        ([{"inside": 0, "count": 1}], NEW_KERNEL, "missing outside"),
        ([("a", 0, 1)], NEW_KERNEL, "must be an integer"),
    ],
    ids=[
        "overlap-inside",
        "overlap-outside",
        "count-zero",
        "count-negative",
        "outside-is-minus-1",
        "inside-overflows",
        "negative-id",
        "341-lines",
        "6-lines-simulated-kernel-4.14",
        "missing-key",
        "not-int",
    ],
)
def test_bad_maps_are_refused_with_the_rule(entries, release, fragment):
    with pytest.raises(ValueError) as err:
        _uid_map(entries, release)
    assert fragment in str(err.value)


def test_five_lines_pass_on_simulated_kernel_4_14():
    assert len(_uid_map([(i * 10, i * 10, 10) for i in range(5)], OLD_KERNEL)) == 5


# ------------------------------------------------------------------ offsets and config


@pytest.mark.parametrize(
    "value, ok",
    [
        (0, True),
        (86400, True),
        (-1000, True),
        (-1001, False),
        (True, False),
        ("soon", False),
        (validate.KTIME_SEC_MAX // 2, False),
    ],
    ids=["zero", "one-day", "down-to-zero", "below-zero", "bool", "word", "too-large"],
)
def test_monotonic_offset_range_follows_the_kernel(value, ok):
    def config():
        return namespaces.build_config(["time"], monotonic_offset=value, clocks=CLOCKS)

    if ok:
        assert config()["monotonic_offset"] == value
    else:
        with pytest.raises(ValueError):
            config()


def test_config_of_all_types_has_defaults():
    cfg = namespaces.build_config(list(reversed(ALL)), release=NEW_KERNEL, clocks=CLOCKS)
    assert cfg == {
        "types": ALL,
        "hostname": None,
        "uid_map": [{"inside": 0, "outside": 100000, "count": 65536}],
        "gid_map": [{"inside": 0, "outside": 100000, "count": 65536}],
        "monotonic_offset": 0,
        "boottime_offset": 0,
        "mount_propagation": "private",
    }


def test_gid_map_defaults_to_uid_map():
    cfg = namespaces.build_config(["user"], uid_map=[{"inside": 0, "outside": 300000, "count": 10}], release=NEW_KERNEL)
    assert cfg["gid_map"] == cfg["uid_map"] == [{"inside": 0, "outside": 300000, "count": 10}]


def test_net_only_config_carries_no_other_options():
    assert namespaces.build_config(["net"]) == {"types": ["net"]}


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(types=["net", "bogus"]), "unknown namespace type(s) 'bogus'"),
        (dict(types=[]), "types is empty"),
        (dict(types=["net"], monotonic_offset=5), "need 'time' in types"),
        (dict(types=["net"], boottime_offset=-5), "need 'time' in types"),
        (dict(types=["net"], uid_map=[(0, 1, 1)]), "need 'user' in types"),
        (dict(types=["net"], hostname="x"), "hostname needs 'uts'"),
        (dict(types=["net"], propagation="slave"), "mount_propagation needs 'mnt'"),
        (dict(types=["uts"], hostname="h" * 65), "1 to 64 characters"),
        (dict(types=["uts"], hostname="nsv_web"), "not a valid host name"),
        (dict(types=["uts"], hostname="-nsv"), "not a valid host name"),
        (dict(types=["time"], boottime_offset=-5000), "before zero"),
        (dict(types=["user"], uid_map=[(0, 1000, 10), (5, 2000, 10)]), "overlap"),
    ],
    ids=[
        "unknown-type",
        "empty",
        "offset-without-time",
        "boottime-without-time",
        "map-without-user",
        "hostname-without-uts",
        "propagation-without-mnt",
        "hostname-too-long",
        "hostname-underscore",
        "hostname-leading-dash",
        "offset-below-zero",
        "overlapping-map",
    ],
)
def test_config_refuses_options_that_do_not_fit(kwargs, fragment):
    with pytest.raises(ValueError) as err:
        namespaces.build_config(release=NEW_KERNEL, clocks=CLOCKS, **kwargs)
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    "release, types, warned",
    [
        (NEW_KERNEL, ALL, []),
        ("5.6.0-1-amd64", ["time", "net"], ["time"]),
        ("5.8.0", ["time"], []),
        ("3.2.0-4-amd64", ["pid", "mnt", "net"], ["mnt", "pid"]),
    ],
    ids=["6.18-none", "simulated-5.6-time", "5.8-time-ok", "simulated-3.2-pid-mnt"],
)
def test_join_warnings_follow_setns_since(release, types, warned):
    got = namespaces.join_warnings(types, release)
    assert [w.split(" a ")[1].split()[0] for w in got] == warned


# ------------------------------------------------------------------ parsers

# Lines captured on this host (kernel 6.18, everything private) and on a systemd host (shared peers).
MOUNTINFO = "\n".join(
    [
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard",
        "42 27 254:0 /run/nsverify/ns /run/nsverify/ns rw,relatime - ext4 /dev/vda rw,discard",
        "43 42 0:4 mnt:[4026532179] /run/nsverify/ns/nsvtry/mnt rw - nsfs nsfs rw",
        "29 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro",
        "583 29 0:4 net:[4026532410] /run/netns/nsv1 rw shared:295 master:7 - nsfs nsfs rw",
        "61 29 0:30 / /mnt/with\\040space rw,relatime master:3 - tmpfs tmpfs rw",
        "62 29 0:31 / /mnt/unbound rw,relatime unbindable - tmpfs tmpfs rw",
        "garbage line",
    ]
)


def test_mountinfo_parser_follows_the_grammar():
    got = procfs.parse_mountinfo(MOUNTINFO)
    assert [(m["mount_point"], m["fstype"], m["propagation"]) for m in got] == [
        ("/", "ext4", "private"),
        ("/run/nsverify/ns", "ext4", "private"),
        ("/run/nsverify/ns/nsvtry/mnt", "nsfs", "private"),
        ("/", "ext4", "shared"),
        ("/run/netns/nsv1", "nsfs", "shared"),
        ("/mnt/with space", "tmpfs", "slave"),
        ("/mnt/unbound", "tmpfs", "unbindable"),
    ]
    assert got[2]["root"] == "mnt:[4026532179]" and got[2]["parent_id"] == 42


@pytest.mark.parametrize(
    "text, start, state",
    [
        ("24469 (cat) R 24464 24464 5365 0 -1 4194304 126 0 0 0 0 0 0 0 20 0 1 0 62607 313", 62607, "R"),
        ("7 (a) b) (c) S 1 7 7 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 99 0", 99, "S"),
    ],
    ids=["captured-cat", "comm-with-parens-and-spaces"],
)
def test_stat_parser_counts_from_the_last_paren(text, start, state):
    stat = procfs.parse_stat(text)
    assert (stat["starttime"], stat["state"]) == (start, state)


# ------------------------------------------------------------------ holder identity (captured /proc tree)


def _fake_proc(tmp_path, pid, state="S", start=500, argv=("nsv-holder", "-I", "-S", "-c", "code", "web")):
    d = tmp_path / "proc" / str(pid)
    d.mkdir(parents=True)
    (d / "stat").write_text(
        "%d (nsv-holder) %s 1 %d %d 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 %d 0" % (pid, state, pid, pid, start)
    )
    (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    return str(tmp_path / "proc")


@pytest.mark.parametrize(
    "kwargs, holder, alive",
    [
        ({}, {"pid": 4242, "starttime": 500}, True),
        ({}, {"pid": 4242, "starttime": 501}, False),
        ({"state": "Z"}, {"pid": 4242, "starttime": 500}, False),
        ({"argv": ("sleep", "100")}, {"pid": 4242, "starttime": 500}, False),
        ({"argv": ("nsv-holder", "-c", "code", "other")}, {"pid": 4242, "starttime": 500}, False),
        ({}, {"pid": 4243, "starttime": 500}, False),
        ({}, None, False),
    ],
    ids=["ours", "pid-reused-other-starttime", "zombie", "other-program", "other-name", "gone", "no-record"],
)
def test_holder_identity_guards_against_pid_reuse(tmp_path, kwargs, holder, alive):
    proc = _fake_proc(tmp_path, 4242, **kwargs)
    assert namespaces.holder_alive(holder, "web", proc=proc) is alive


def test_stop_holder_never_signals_a_process_that_is_not_ours(tmp_path):
    proc = _fake_proc(tmp_path, os.getpid(), argv=("python",))
    assert namespaces.stop_holder({"pid": os.getpid(), "starttime": 500}, "web", proc=proc) is False


# ------------------------------------------------------------------ decision table

CFG = {"types": ["net", "pid"]}
STATE = {"status": "ready", "config": CFG}


def _exam(exists=True, state=STATE, missing=(), holder_alive=True, hostname_inside=None):
    return {
        "exists": exists,
        "state": state,
        "complete": bool(state) and state.get("status") == "ready",
        "missing": list(missing),
        "holder_alive": holder_alive,
        "hostname_inside": hostname_inside,
    }


HCFG = {"types": ["uts"], "hostname": "nsv-h"}
HSTATE = {"status": "ready", "config": HCFG}


@pytest.mark.parametrize(
    "inside, action",
    [("nsv-h", "none"), ("changed-by-hand", "repair"), (None, "none")],
    ids=["as-set", "changed-by-hand", "unreadable"],
)
def test_hostname_drift_inside_is_repaired(inside, action):
    exam = _exam(state=HSTATE, holder_alive=None, hostname_inside=inside)
    assert namespaces.decide(True, HCFG, exam)[0] == action


@pytest.mark.parametrize(
    "present, exam, force, action",
    [
        (True, _exam(exists=False, state=None), False, "create"),
        (True, _exam(), False, "none"),
        (True, _exam(missing=["net"]), False, "repair"),
        (True, _exam(missing=["net"], holder_alive=False), False, "recreate"),
        (True, _exam(holder_alive=False), False, "recreate"),
        (True, _exam(missing=["net"], holder_alive=None), False, "recreate"),
        (True, _exam(state=None), False, "recreate"),
        (True, _exam(state={"status": "creating", "config": CFG}), False, "recreate"),
        (True, _exam(state={"status": "ready", "config": {"types": ["net"]}}), True, "recreate"),
        (False, _exam(), False, "remove"),
        (False, _exam(state=None), False, "remove"),
        (False, _exam(exists=False, state=None), False, "none"),
    ],
    ids=[
        "absent-create",
        "in-place",
        "mount-gone-holder-alive",
        "mount-and-holder-gone",
        "holder-gone",
        "mount-gone-no-holder",
        "state-file-lost",
        "crashed-mid-creation",
        "other-config-forced",
        "remove",
        "remove-leftovers-without-state",
        "already-absent",
    ],
)
def test_decision_table(present, exam, force, action):
    assert namespaces.decide(present, CFG, exam, force=force)[0] == action


def test_other_config_without_force_is_a_conflict_naming_both():
    exam = _exam(state={"status": "ready", "config": {"types": ["net"]}})
    with pytest.raises(namespaces.ConfigConflict) as err:
        namespaces.decide(True, CFG, exam)
    assert "remove it first" in err.value.msg and err.value.evidence["current_config"] == {"types": ["net"]}


# ------------------------------------------------------------------ state access


def test_state_api_on_a_captured_tree(tmp_path):
    ns_dir = str(tmp_path / "ns")
    state = {
        "status": "ready",
        "config": {"types": ["pid", "net"]},
        "inodes": {"net": 11, "pid": 12},
        "holder": {"pid": 77, "starttime": 5},
    }
    os.makedirs(os.path.join(ns_dir, "web"))
    os.makedirs(os.path.join(ns_dir, "half"))  # no state file: not listed
    with open(os.path.join(ns_dir, "web", "state.json"), "w") as fh:
        json.dump(state, fh)
    assert namespaces.list_named(ns_dir) == ["web"]
    assert namespaces.load_state("web", ns_dir) == state
    assert namespaces.load_state("half", ns_dir) is None
    assert namespaces.paths("web", ns_dir) == {
        "pid": os.path.join(ns_dir, "web", "pid"),
        "net": os.path.join(ns_dir, "web", "net"),
    }
    assert namespaces.describe("web", state, ns_dir) == {
        "pid": {"path": os.path.join(ns_dir, "web", "pid"), "inode": 12, "holder_pid": 77},
        "net": {"path": os.path.join(ns_dir, "web", "net"), "inode": 11},
    }


def test_paths_refuse_a_bad_name():
    with pytest.raises(ValueError):
        namespaces.paths("../etc", types=["net"])


def test_mount_index_groups_the_mounts_under_each_name_as_mounts_under_does(tmp_path):
    lines = MOUNTINFO.splitlines() + [
        "44 42 0:4 net:[4026532180] /run/nsverify/ns/nsvtry/net rw - nsfs nsfs rw",
        "45 44 0:4 net:[4026532181] /run/nsverify/ns/nsvtry/net rw - nsfs nsfs rw",  # stacked: listed twice
        "46 42 0:4 net:[4026532182] /run/nsverify/ns/nsvother rw - nsfs nsfs rw",  # at the name, not under it
        "47 42 0:4 net:[4026532183] /run/nsverify/ns/nsvtry2/net rw - nsfs nsfs rw",
    ]
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "mountinfo").write_text("\n".join(lines) + "\n")
    mounts = procfs.parse_mountinfo("\n".join(lines))
    index = namespaces.MountIndex("/run/nsverify/ns/", proc=str(tmp_path))
    assert [m["mount_point"] for m in index.top] == ["/run/nsverify/ns"]
    for name in ("nsvtry", "nsvtry2", "nsvother", "absent"):
        assert index.under(name) == namespaces.state.mounts_under("/run/nsverify/ns/" + name, mounts), name
    assert [m["mount_point"] for m in index.under("nsvtry")].count("/run/nsverify/ns/nsvtry/net") == 2
    index.added("absent", "/run/nsverify/ns/absent/net")
    index.dropped("nsvtry")
    assert [m["mount_point"] for m in index.under("absent")] == ["/run/nsverify/ns/absent/net"]
    assert index.under("nsvtry") == []
    exam = namespaces.examine("nsvtry2", "/run/nsverify/ns", proc=str(tmp_path), mounts=index)
    assert exam["mounts"] == ["/run/nsverify/ns/nsvtry2/net"]  # examine() takes its name's mounts from the index


def test_batchable_types_are_those_one_process_can_make_again_and_again():
    assert namespaces.batchable({"types": ["net"]}) and namespaces.batchable({"types": ["net", "uts", "ipc", "cgroup"]})
    for t in ("mnt", "user", "pid", "time"):
        assert not namespaces.batchable({"types": ["net", t]}), t
