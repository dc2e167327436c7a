"""bench/run.py's coverage parsing on output captured from the peers on the development VM
(lxc-checkconfig from Debian lxc 5.0.2, check-config.sh from Debian docker.io 20.10.24, with
its colour codes). No timing is asserted anywhere: the benchmark is not part of the suite."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LXC_CHECKCONFIG = """
--- Namespaces ---
Namespaces: enabled
Utsname namespace: enabled
Ipc namespace: enabled
Pid namespace: enabled
User namespace: enabled
newuidmap is not installed
newgidmap is not installed
Network namespace: enabled

--- Control groups ---
Cgroups: enabled
Cgroup namespace: enabled
Cgroup v1 mount points:
 - /sys/fs/cgroup/cpu
"""

CHECK_CONFIG = (
    "\x1b[37minfo: reading kernel config from /proc/config.gz ...\x1b[m\n\nGenerally Necessary:\n"
    "- \x1b[37mcgroup hierarchy\x1b[m: \x1b[32mproperly mounted\x1b[m [/sys/fs/cgroup]\n"
    "- \x1b[37mCONFIG_NAMESPACES\x1b[m: \x1b[32menabled\x1b[m\n"
    "- \x1b[37mCONFIG_NET_NS\x1b[m: \x1b[32menabled\x1b[m\n"
    "- \x1b[37mCONFIG_PID_NS\x1b[m: \x1b[32menabled\x1b[m\n"
    "- \x1b[37mCONFIG_IPC_NS\x1b[m: \x1b[32menabled\x1b[m\n"
    "- \x1b[37mCONFIG_UTS_NS\x1b[m: \x1b[32menabled\x1b[m\n"
    "- \x1b[37mCONFIG_CGROUPS\x1b[m: \x1b[32menabled\x1b[m\n"
    "Optional Features:\n- \x1b[37mCONFIG_USER_NS\x1b[m: \x1b[32menabled\x1b[m\n"
)


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("nsv_bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "text,types",
    [
        (LXC_CHECKCONFIG, ["uts", "ipc", "pid", "net", "user", "cgroup"]),
        (CHECK_CONFIG, ["uts", "ipc", "pid", "net", "user"]),  # CONFIG_CGROUPS is cgroups, not the namespace
        ("user.max_time_namespaces = 0\nTime namespace: enabled\nmount namespace ok", ["mnt", "time"]),
    ],
    ids=["lxc-checkconfig", "check-config.sh", "made-up"],
)
def test_peer_coverage_from_captured_output(bench, text, types):
    cov = bench.peer_coverage(text)
    assert cov["types"] == types
    assert cov["limits"] == (["time"] if "max_time" in text else [])


def test_nsverify_coverage_reads_the_audit_json(bench):
    facts = json.loads((ROOT / "tests" / "unit" / "test_report_captured.json").read_text())["facts"]
    cov = bench.nsverify_coverage(json.dumps(facts))
    assert sorted(cov["types"]) == sorted(facts["types"])
    assert sorted(cov["limits"]) == sorted(t for t, v in facts["types"].items() if v["limit"] is not None)


def test_table_aligns_columns(bench):
    text = bench.table([["a", 1], ["bbb", 22]], ["x", "yy"])
    lines = text.splitlines()
    assert lines[0].startswith("x    yy") and lines[2].startswith("a    1") and lines[3].startswith("bbb  22")
