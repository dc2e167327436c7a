"""namespace_facts for real on this host: as root through ansible, inside a user namespace with lowered limits,
without capabilities, as nobody, and with bad input.

The runs as another identity execute the module's self-contained AnsiballZ payload (kept with
ANSIBLE_KEEP_REMOTE_FILES=1 from a real `ansible` run) with Debian's /usr/bin/python3, so that nothing depends on
the root-owned venv, from a world-readable directory that the test removes."""

import gzip
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from ansible.module_utils.nsverify import audit, catalog

ROOT = Path(__file__).resolve().parents[2]
ALL = list(catalog.TYPE_NAMES)
SYSTEM_PYTHON = "/usr/bin/python3"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (switches identity, writes sysctls in a userns)")


def _tool(name):
    local = ROOT / ".venv" / "bin" / name
    return str(local) if local.exists() else shutil.which(name)


def ansible_env(base, **extra):
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_HOME=str(base / "home"),
        ANSIBLE_LOCAL_TEMP=str(base / "ltmp"),
        ANSIBLE_REMOTE_TMP=str(base / "rtmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="0",
    )
    env.update(extra)
    return env


def adhoc(base, args, *options, **env):
    """`ansible localhost -m namespace_facts -a ARGS`; returns (parsed result, completed process)."""
    command = [_tool("ansible"), "localhost", "-m", "namespace_facts"]
    if args:  # an empty -a would be taken as raw parameters
        command += ["-a", json.dumps(args)]
    proc = subprocess.run(
        command + list(options), cwd=ROOT, env=ansible_env(base, **env), capture_output=True, text=True, timeout=120
    )
    out = proc.stdout
    assert "=>" in out, out + proc.stderr
    return json.loads(out[out.index("=>") + 2 :]), proc


@pytest.fixture(scope="module")
def payload(tmp_path_factory):
    """The AnsiballZ payload of a real default run, copied to a world-readable directory."""
    base = tmp_path_factory.mktemp("nsv-facts-build")
    result, _ = adhoc(base, {}, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_PIPELINING="0")
    kept = sorted((base / "rtmp").glob("ansible-tmp-*/AnsiballZ_namespace_facts.py"))
    assert kept, "ANSIBLE_KEEP_REMOTE_FILES kept no payload"
    shared = Path(tempfile.mkdtemp(prefix="nsv-audit-"))
    shared.chmod(0o755)
    target = shared / "AnsiballZ_namespace_facts.py"
    shutil.copy(kept[0], target)
    target.chmod(0o644)
    shutil.rmtree(base / "rtmp")
    yield {"path": str(target), "dir": str(shared), "root_result": result}
    shutil.rmtree(shared)


def run_payload(payload, prefix, script=None):
    """Run the payload with the system python under `prefix` (a command list). `script`, when given, is a shell
    snippet run first inside the prefix (e.g. writing limits inside a new user namespace)."""
    if not os.path.exists(SYSTEM_PYTHON):
        pytest.skip("needs %s" % SYSTEM_PYTHON)
    inner = [SYSTEM_PYTHON, payload["path"]]
    if script:
        inner = ["sh", "-c", script + '; exec "$@"', "nsv-audit"] + inner
    proc = subprocess.run(prefix + inner, cwd=payload["dir"], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["changed"] is False and not result.get("failed")
    return result["ansible_facts"]["nsverify"]


def _verdicts(facts):
    return {t: facts["types"][t]["verdict"] for t in facts["types"]}


def _config_lines():
    try:
        with gzip.open("/proc/config.gz", "rt") as fh:
            return {line.split("=")[0]: line for line in fh.read().splitlines() if line.startswith("CONFIG_")}
    except OSError:
        return None


# ------------------------------------------------------------------ (a) root, through ansible-playbook

PLAYBOOK = """
- name: Audit this host into a file
  hosts: all
  gather_facts: false
  tasks:
    - name: Gather namespace facts
      namespace_facts:
    - name: Save them
      ansible.builtin.copy:
        content: "{{ ansible_facts.nsverify | to_json }}"
        dest: "%s"
        mode: "0600"
"""


@pytest.fixture(scope="module")
def root_facts(tmp_path_factory):
    base = tmp_path_factory.mktemp("nsv-facts-root")
    out = base / "facts.json"
    book = base / "audit-to-file.yml"
    book.write_text(PLAYBOOK % out)
    proc = subprocess.run(
        [_tool("ansible-playbook"), str(book)],
        cwd=ROOT,
        env=ansible_env(base),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return json.loads(out.read_text())


def test_root_all_eight_types_supported_on_this_kernel(root_facts):
    assert _verdicts(root_facts) == {t: "supported" for t in ALL}
    assert root_facts["summary"]["supported"] == ALL and root_facts["mode"] == "live"
    assert root_facts["kernel"]["release"] == os.uname().release
    assert root_facts["privilege"]["euid"] == 0 and root_facts["privilege"]["initial_user_ns"] is True


@pytest.mark.parametrize("name", ALL)
def test_root_evidence_matches_what_the_host_says(root_facts, name):
    entry = root_facts["types"][name]
    t = catalog.get(name)
    ev = entry["evidence"]
    assert ev["proc_entry"]["present"] is os.path.exists("/proc/self/ns/%s" % t.proc_entry) is True
    # the module ran in the same namespaces as this test: same inode
    assert ev["proc_entry"]["inode"] == os.stat("/proc/self/ns/%s" % t.proc_entry).st_ino
    assert ev["probe"]["ok"] is True and ev["probe"]["new_namespace"] is True
    assert ev["probe"]["via_user_namespace"] is False and entry["contradiction"] is None
    with open("/proc/sys/user/max_%s_namespaces" % name) as fh:
        assert entry["limit"] == ev["limit"]["value"] == int(fh.read())
    assert entry["count"] >= 1 and entry["control_id"] == "NS-KRN-00%d" % (ALL.index(name) + 1)
    lines = _config_lines()
    if lines is None:
        pytest.skip("no /proc/config.gz on this host")
    assert root_facts["config"]["source"] == "/proc/config.gz"
    assert ev["config"]["line"] == (lines.get(t.config_option) if t.config_option else None)


def test_root_user_namespace_probe_used_a_capability_inside(root_facts):
    cap = root_facts["types"]["user"]["evidence"]["probe"]["capability"]
    assert cap["ok"] is True and "sethostname" in cap["action"]
    assert root_facts["userns_policy"]["unprivileged_probe"]["as_uid"] == audit.NOBODY_UID


def test_root_cgroup_layout_matches_findmnt(root_facts):
    out = subprocess.run(
        ["findmnt", "-n", "-l", "-t", "cgroup,cgroup2", "-o", "FSTYPE,TARGET"], capture_output=True, text=True
    ).stdout.split("\n")
    seen = sorted(tuple(line.split(None, 1)) for line in out if line.strip())
    kinds = {fs for fs, _ in seen}
    expected = {
        frozenset(["cgroup", "cgroup2"]): "hybrid",
        frozenset(["cgroup2"]): "v2",
        frozenset(["cgroup"]): "v1",
    }.get(frozenset(kinds), "none")
    assert root_facts["cgroup"]["layout"] == expected
    assert sorted((m["fstype"], m["mount_point"]) for m in root_facts["cgroup"]["mounts"]) == seen


def test_check_mode_reports_the_same_and_unchanged(tmp_path):
    result, proc = adhoc(tmp_path, {"types": ["uts", "time"]}, "--check")
    assert result["changed"] is False and "SUCCESS" in proc.stdout
    assert _verdicts(result["ansible_facts"]["nsverify"]) == {"uts": "supported", "time": "supported"}


def test_headroom_counts_a_namespace_held_by_a_process_we_started():
    holder = subprocess.Popen(["unshare", "--net", "--uts", "sleep", "60"])
    try:
        for _ in range(100):  # wait until the child has exec'd sleep inside its new namespaces
            try:
                if os.readlink("/proc/%d/ns/net" % holder.pid) != os.readlink("/proc/self/ns/net"):
                    break
            except OSError:
                pass
            subprocess.run(["sleep", "0.05"])
        ino = os.stat("/proc/%d/ns/net" % holder.pid).st_ino
        counted = audit.count_namespaces(types=["net", "uts"])
        assert ino in counted["inodes"]["net"] and ino != os.stat("/proc/self/ns/net").st_ino
        assert counted["counts"]["net"] >= 2 and counted["counts"]["uts"] >= 2
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()


# ------------------------------------------------------------------ (b) inside a user namespace, lowered limits


def test_in_user_namespace_with_time_cgroup_and_uts_limits_zero(payload):
    with open("/proc/sys/user/max_time_namespaces") as fh:
        host_limit = fh.read()
    facts = run_payload(
        payload, ["unshare", "-Ur"], "for t in time cgroup uts; do echo 0 > /proc/sys/user/max_${t}_namespaces; done"
    )
    assert _verdicts(facts) == dict(
        {t: "supported" for t in ALL}, time="limit-zero", cgroup="limit-zero", uts="limit-zero"
    )
    # with no UTS namespace left, the user probe proves its capabilities with a tmpfs mount instead
    cap = facts["types"]["user"]["evidence"]["probe"]["capability"]
    assert cap["ok"] is True and "tmpfs" in cap["action"]
    for name in ("time", "cgroup", "uts"):
        entry = facts["types"][name]
        assert entry["limit"] == 0 and entry["evidence"]["probe"]["errname"] == "ENOSPC"
        assert entry["evidence"]["proc_entry"]["present"] is True  # a limit, not a missing feature
    assert facts["privilege"]["initial_user_ns"] is False and facts["headroom"]["lower_bound"] is True
    # the module ran in a user namespace of its own, and in the host's others
    inodes = {t: facts["types"][t]["evidence"]["proc_entry"]["inode"] for t in ALL}
    assert (
        inodes == {t: os.stat("/proc/self/ns/%s" % t).st_ino for t in ALL if t != "user"} | {"user": inodes["user"]}
        and inodes["user"] != os.stat("/proc/self/ns/user").st_ino
    )
    with open("/proc/sys/user/max_time_namespaces") as fh:
        assert fh.read() == host_limit  # the host's limit was never touched


def test_without_capabilities_and_no_user_namespaces_left_is_denied(payload):
    facts = run_payload(
        payload,
        ["unshare", "-Ur"],
        "echo 0 > /proc/sys/user/max_user_namespaces; "
        "exec setpriv --bounding-set=-all --inh-caps=-all --no-new-privs \"$@\"",
    )
    assert _verdicts(facts) == dict({t: "denied" for t in ALL}, user="limit-zero")
    net = facts["types"]["net"]
    assert net["evidence"]["probe"]["direct"]["errname"] == "EPERM"
    assert net["evidence"]["probe"]["via_user_namespace"] is True
    assert net["evidence"]["probe"]["stage"] == "unshare-user"
    assert net["evidence"]["policy"]["max_user_namespaces"] == 0
    assert facts["privilege"]["cap_sys_admin"] is False


# ------------------------------------------------------------------ (c) as nobody


def test_as_nobody_every_type_through_a_user_namespace(payload):
    facts = run_payload(payload, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
    assert facts["privilege"]["euid"] == 65534 and facts["privilege"]["cap_sys_admin"] is False
    assert _verdicts(facts) == {t: "supported" for t in ALL}
    for name in ALL:
        probe = facts["types"][name]["evidence"]["probe"]
        if name == "user":
            assert probe["via_user_namespace"] is False and probe["capability"]["ok"] is True
        else:
            assert probe["via_user_namespace"] is True and probe["direct"]["errname"] == "EPERM", name
    assert facts["headroom"]["lower_bound"] is True
    assert facts["userns_policy"]["unprivileged_can_create"] is True


# ------------------------------------------------------------------ (d) bad input and the offline release


@pytest.mark.parametrize(
    "args,message",
    [
        ({"types": ["netns"]}, "unknown namespace type(s) 'netns'"),
        ({"types": ["mnt", "container"]}, "choose from mnt, uts, ipc, pid, net, user, cgroup, time"),
        ({"types": []}, "give at least one"),
        ({"release": "6.x"}, "malformed kernel release '6.x'"),
        ({"release": "linux-6.1"}, "malformed kernel release"),
        ({"release": ""}, "non-empty string"),
        ({"probe": "sometimes"}, "probe"),
    ],
    ids=[
        "unknown-type",
        "one-unknown-of-two",
        "empty-types",
        "release-6.x",
        "release-linux-6.1",
        "release-empty",
        "probe-not-bool",
    ],
)
def test_bad_input_fails_with_a_clear_message(tmp_path, args, message):
    result, proc = adhoc(tmp_path, args)
    assert proc.returncode != 0 and "localhost | FAILED!" in proc.stdout
    assert message in result["msg"]
    assert "Traceback" not in proc.stdout + proc.stderr and "exception" not in result


def test_offline_release_audits_gate_and_boot_config_only(tmp_path):
    result, _ = adhoc(tmp_path, {"release": "5.4.0-150-generic", "types": ["net", "time"]})
    facts = result["ansible_facts"]["nsverify"]
    assert facts["mode"] == "offline" and facts["kernel"]["release"] == "5.4.0-150-generic"
    assert facts["types"]["time"]["verdict"] == "kernel-too-old"
    assert facts["types"]["net"]["verdict"] == "unknown" and "not exercised" in facts["types"]["net"]["reason"]
    assert facts["types"]["net"]["evidence"]["probe"] == {"attempted": False}


def test_running_release_given_explicitly_is_a_live_audit(tmp_path):
    result, _ = adhoc(tmp_path, {"release": os.uname().release, "types": ["time"]})
    assert result["ansible_facts"]["nsverify"]["mode"] == "live"
    assert result["ansible_facts"]["nsverify"]["types"]["time"]["verdict"] == "supported"


def test_probe_false_creates_nothing_and_says_not_exercised(tmp_path):
    result, _ = adhoc(tmp_path, {"probe": False})
    facts = result["ansible_facts"]["nsverify"]
    assert facts["mode"] == "static" and set(_verdicts(facts).values()) == {"unknown"}
    assert all("not exercised" in e["reason"] for e in facts["types"].values())


def test_ansible_doc_renders(tmp_path):
    proc = subprocess.run(
        [_tool("ansible-doc"), "-M", str(ROOT / "library"), "namespace_facts"],
        env=ansible_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "ansible_facts" in proc.stdout and "check_mode" in proc.stdout, proc.stderr
