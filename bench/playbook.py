"""The playbook rows of the benchmark (issue 13): `playbooks/container.yml` cold and warm.

  cold  the container absent and a rootfs base of the bench's own (empty), so the run builds the
        rootfs, starts the container, runs NS-CTR-001..011 and the namespace proofs, prints the summary
  warm  the same command again with both in place: the `changed=0` rerun

Each run is the whole `ansible-playbook` process (start-up included: what a user waits for), on this
host through the project's inventory (ansible_connection=local). The task counts come from the run's
own recap (ok, changed, skipped) and its TASK banners. Between cold runs the bench removes its
container through the engine and its rootfs base; the shared rootfs under /var/lib/nsverify/rootfs
is never touched (other containers may use it as their lower layer).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# names on the host carry nsv + a tag (NSV_BENCH_TAG lets a developer's run carry theirs)
TAG = os.environ.get("NSV_BENCH_TAG", "bench")
NAME = "nsv%spl%d" % (TAG, os.getpid() % 100000)
RECAP = re.compile(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)")


def ansible_playbook():
    """ansible-playbook next to the running Python (the project's .venv, also when .venv is a
    symlink to another checkout's: the path is not resolved), else the one on PATH."""
    here = os.path.join(os.path.dirname(os.sys.executable), "ansible-playbook")
    return here if os.path.exists(here) else shutil.which("ansible-playbook")


def _children_cpu():
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def run_play(argv, env):
    """(seconds, recap dict, output) of one ansible-playbook run; RuntimeError when it failed.
    The recap carries cpu_s: user+system time of ansible-playbook and every process it reaped (its
    workers, the modules), which other load on the host disturbs far less than the wall time."""
    cpu0, t0 = _children_cpu(), time.perf_counter()
    res = subprocess.run(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    m = RECAP.search(res.stdout)
    if res.returncode != 0 or not m:
        raise RuntimeError("%s exited %d: %s" % (" ".join(argv[1:]), res.returncode, res.stdout[-600:]))
    ok, changed, _, failed, skipped = (int(x) for x in m.groups())
    recap = {
        "ok": ok,
        "changed": changed,
        "skipped": skipped,
        "failed": failed,
        "task_banners": res.stdout.count("\nTASK ["),
        "cpu_s": round(cpu, 3),
    }
    return wall, recap, res.stdout


def _remove(container, base):
    try:
        container.remove(NAME)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def bench_container_play(container, runs, stats):
    """container.yml cold then warm, `runs` times each (cold, warm, warm, cold, warm, warm, ...:
    two warm reruns per cold start, the second one being what a user rerunning sees)."""
    tool = ansible_playbook()
    if not tool:
        return {"skipped": "ansible-playbook not found next to %s or on PATH" % os.sys.executable}
    tmp = tempfile.mkdtemp(prefix="nsv-bench-play-")
    base = "/var/lib/nsverify/nsv-%s-rootfs-%d" % (TAG, os.getpid())
    env = dict(
        os.environ,
        LC_ALL="C.UTF-8",
        LANG="C.UTF-8",
        ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
        ANSIBLE_HOME=os.path.join(tmp, "home"),
        ANSIBLE_LOCAL_TEMP=os.path.join(tmp, "tmp"),
        ANSIBLE_NOCOLOR="1",
    )
    argv = [tool, "playbooks/container.yml", "-e", "busybox_container_name=%s" % NAME]
    argv += ["-e", "busybox_rootfs_base=%s" % base]
    samples = {"cold": [], "warm": []}
    cpu = {"cold": [], "warm": []}
    recaps = {}
    try:
        for _ in range(runs):
            _remove(container, base)
            for kind in ("cold", "warm", "warm"):
                wall, recap, _ = run_play(argv, env)
                if kind == "warm" and recap["changed"]:
                    raise RuntimeError("the warm rerun reported changed=%d" % recap["changed"])
                samples[kind].append(wall)
                cpu[kind].append(recap.pop("cpu_s"))
                recaps[kind] = recap
    except RuntimeError as exc:
        return {"skipped": "container.yml failed: %s" % exc}
    finally:
        _remove(container, base)
        shutil.rmtree(tmp, ignore_errors=True)
    return {"container.yml %s" % k: dict(stats(v), cpu=stats(cpu[k]), **recaps[k]) for k, v in samples.items()}


def rows(p, cell):
    """Markdown rows of the playbook part; `cell` formats a stats dict."""
    if "skipped" in p:
        return [["playbooks/container.yml", "left out: %s" % p["skipped"], "", ""]]
    out = []
    for key, target in (("container.yml cold", 8.0), ("container.yml warm", 4.0)):
        st = p[key]
        tasks = "%d tasks run (%d changed), %d skipped" % (st["ok"], st["changed"], st["skipped"])
        out.append(
            [
                "`playbooks/container.yml` %s (%s)" % (key.split()[-1], tasks),
                "%s; CPU %.0f ms" % (cell(st), st["cpu"]["median_ms"]),
                "target %.0f s" % target,
                "%.2fx target" % (st["median_ms"] / 1000.0 / target),
            ]
        )
    return out
