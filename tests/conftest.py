"""Shared test setup.

Makes module_utils/ importable as ansible.module_utils.* (as Ansible does for
modules) and library/ importable by module name, and checks that the whole
suite leaves the host as it found it.
"""

import contextlib
import io
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

import ansible.module_utils  # noqa: E402

if str(ROOT / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(ROOT / "module_utils"))
sys.path.insert(0, str(ROOT / "library"))

# Tests call ansible-playbook, ansible-doc, ansible-lint and molecule by name: the project's .venv first,
# and the project's ansible.cfg wherever pytest was started from.
if (ROOT / ".venv" / "bin").is_dir():
    os.environ["PATH"] = str(ROOT / ".venv" / "bin") + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))


def run_module_main(module, args, check=False, diff=False):
    """Run a library module's main() with `args` as Ansible would feed them; return its JSON result.

    The same code Ansible runs on a host, without the seconds a playbook costs per call.
    """
    from ansible.module_utils.testing import patch_module_args

    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(out.getvalue())


def _host_state():
    """What the suite must leave as it found it: mounts, links, named netns, hostname,
    nsv cgroups, /run/nsverify."""
    with open("/proc/self/mountinfo") as fh:
        mounts = sorted(" ".join((f[4], f[f.index("-") + 1])) for f in (l.split() for l in fh))
    links = sorted(
        line.split(": ")[1].split("@")[0]
        for line in subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout.splitlines()
    )
    netns = sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []
    cgroups = []
    for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
        for d in dirnames:
            if d.startswith("nsv"):
                cgroups.append(os.path.join(dirpath, d))
        if dirpath.count("/") >= 6:
            dirnames[:] = []
    run_dir = []
    if os.path.isdir("/run/nsverify"):
        for dirpath, dirnames, filenames in os.walk("/run/nsverify"):
            run_dir += [os.path.join(dirpath, n) for n in dirnames + filenames]
    return {
        "mounts": mounts,
        "links": links,
        "netns": netns,
        "hostname": os.uname().nodename,
        "cgroups": sorted(cgroups),
        "run_nsverify": sorted(run_dir),
    }


@pytest.fixture(scope="session", autouse=True)
def host_left_as_found():
    """Fails the session (error at teardown) if anything the tests made is left behind.

    NSV_CONCURRENT_DEV=1 turns it off for developers running several suites at once on one
    host, where one suite's live objects would show up in another's diff; CI never sets it.
    """
    if os.environ.get("NSV_CONCURRENT_DEV") or os.geteuid() != 0:
        yield
        return
    before = _host_state()
    yield
    after = _host_state()
    diff = {}
    for key in before:
        if before[key] != after[key]:
            if isinstance(before[key], list):
                diff[key] = {
                    "added": sorted(set(after[key]) - set(before[key])),
                    "removed": sorted(set(before[key]) - set(after[key])),
                }
            else:
                diff[key] = {"before": before[key], "after": after[key]}
    assert not diff, "the test suite changed the host: %r" % diff


def run_playbook(tmp, playbook, *extra, timeout=600, env=None):
    """Run playbooks/<playbook> with Ansible's writes redirected under `tmp`, plain output; the result.
    `env`: more environment variables (e.g. ANSIBLE_STRATEGY)."""
    env = dict(
        os.environ,
        ANSIBLE_HOME=str(tmp / "ansible"),
        ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        **(env or {}),
    )
    exe = ROOT / ".venv" / "bin" / "ansible-playbook"
    argv = [str(exe) if exe.exists() else "ansible-playbook", str(ROOT / "playbooks" / playbook)] + list(extra)
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def run_chromium(tmp, *args, timeout=180):
    """Headless Chromium with a profile under `tmp` (nothing in the caller's home); its stdout."""
    res = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, "--user-data-dir=%s" % (tmp / "profile"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


@pytest.fixture(scope="module")
def rootfs_path():
    """The BusyBox rootfs image the container tests start from (built once; the image is kept)."""
    from ansible.module_utils.nsverify import rootfs

    return rootfs.build()["path"]


def container_traces(name):
    """What of container `name` is on the host: leftovers (cgroups, run and data dirs) and its veth links."""
    from ansible.module_utils.nsverify import container

    traces = container.leftovers(name)
    links = [n for n in os.listdir("/sys/class/net") if n in container.veth_names(name)]
    if links:
        traces["links"] = links
    return traces


def container_name_fixture(prefix):
    """A fixture giving each test a fresh container name `<prefix><pid>-<n>`, removed after the test, which
    must leave no trace of it on the host."""
    counter = itertools.count(1)

    @pytest.fixture()
    def name():
        from ansible.module_utils.nsverify import container

        n = "%s%d-%d" % (prefix, os.getpid() % 100000, next(counter))
        yield n
        container.remove(n)
        assert container_traces(n) == {}

    return name


# What every worker script starts with: ansible and this checkout's module_utils importable, and `sibling`, another
# process of the worker's process group (like Ansible's forks) that a signal to the group would reach.
WORKER_PREAMBLE = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import ansible.module_utils
ansible.module_utils.__path__.append(sys.argv[2])
from ansible.module_utils.nsverify import container
sibling = os.fork()
if sibling == 0:
    time.sleep(60)
    os._exit(0)
"""


def run_worker(source, tmp_path, *args, timeout=60):
    """Run WORKER_PREAMBLE + `source` as a Python script in a session of its own (whatever it reaches with a
    signal to its process group is never pytest's) with argv [ansible's parent dir, this checkout's
    module_utils, *args]; return its JSON output. Fails the test, with its stderr, when the worker died."""
    import ansible

    script = tmp_path / "worker.py"
    script.write_text(WORKER_PREAMBLE + source)
    ansible_parent = str(Path(ansible.__file__).resolve().parents[1])
    proc = subprocess.run(
        [sys.executable, str(script), ansible_parent, str(ROOT / "module_utils")] + [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )
    assert proc.returncode == 0, "the worker died (%d): %s" % (proc.returncode, proc.stderr[-2000:])
    return json.loads(proc.stdout)


def closed_to_others(path=ROOT):
    """Why uid 65534 cannot run this checkout's Python (a directory above it without o+x, such as the
    0700 directory of `mktemp -d`), or None. Tests that drop to uid 65534 skip with this reason."""
    import stat

    for d in [Path(path)] + list(Path(path).parents):
        try:
            if not os.stat(d).st_mode & stat.S_IXOTH:
                return (
                    "%s is closed to other users (mode %o): uid 65534 cannot reach the checkout's venv; clone it "
                    "under a world-searchable directory to run this test" % (d, stat.S_IMODE(os.stat(d).st_mode))
                )
        except OSError:
            continue
    return None
