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


FLOOR_LOCAL_TASKS = 9  # a warm container.yml: 2 argument-spec checks, 3 set_fact, 2 assert, 1 debug, 1 fail (skipped 3)


def floor_play(tmp, modules=2, local=FLOOR_LOCAL_TASKS, skipped=3):
    """Write Ansible's floor for a play of container.yml's warm shape and return its argv tail: `modules`
    distinct do-nothing modules (copies of ansible.builtin.ping under their own names, so each one is
    built into its own AnsiballZ payload as busybox_rootfs and busybox_container are), `local` tasks that
    run on the controller (set_fact) and `skipped` ones. What container.yml costs above it is nsverify's."""
    python = os.path.join(
        os.path.dirname(ansible_playbook()), "python"
    )  # the controller's (bench's ansible is stubbed)
    where = subprocess.run(
        [python, "-c", "import ansible.modules.ping as p; print(p.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    lib = os.path.join(tmp, "floor-library")
    os.makedirs(lib, exist_ok=True)
    with open(where) as fh:
        source = fh.read()
    tasks = []
    for i in range(modules):
        with open(os.path.join(lib, "nsv_floor_%d.py" % i), "w") as fh:
            fh.write(source)
        tasks.append("    - nsv_floor_%d:" % i)
    tasks += ["    - ansible.builtin.set_fact:\n        nsv_floor_%d: true" % i for i in range(local)]
    tasks += ["    - ansible.builtin.debug:\n        msg: skipped\n      when: false" for _ in range(skipped)]
    play = os.path.join(tmp, "floor.yml")
    with open(play, "w") as fh:
        fh.write("- hosts: all\n  gather_facts: false\n  tasks:\n%s\n" % "\n".join(tasks))
    return ["-M", lib, play]


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
    samples = {"cold": [], "warm": [], "floor": []}
    cpu = {"cold": [], "warm": [], "floor": []}
    recaps = {}
    try:
        floor = [tool] + floor_play(tmp)
        for _ in range(runs):
            _remove(container, base)
            for kind in ("cold", "warm", "floor", "warm", "floor"):
                wall, recap, _ = run_play(floor if kind == "floor" else argv, env)
                if kind == "warm" and recap["changed"]:
                    raise RuntimeError("the warm rerun reported changed=%d" % recap["changed"])
                samples[kind].append(wall)
                cpu[kind].append(recap.pop("cpu_s"))
                recaps[kind] = recap
    except RuntimeError as exc:
        return {"skipped": "container.yml failed: %s" % exc}
    except (subprocess.CalledProcessError, OSError) as exc:
        return {"skipped": "could not write Ansible's floor play: %s" % exc}
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
        if key not in p:
            continue
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
    fl = p.get("container.yml floor")
    if fl:
        warm = p["container.yml warm"]
        out.append(
            [
                "Ansible's floor for that shape (2 distinct no-op modules, %d local tasks, 3 skipped)"
                % FLOOR_LOCAL_TASKS,
                "%s; CPU %.0f ms" % (cell(fl), fl["cpu"]["median_ms"]),
                "warm - floor = %.2f s (nsverify's own work)" % ((warm["median_ms"] - fl["median_ms"]) / 1000.0),
                "warm %.2fx floor" % (warm["median_ms"] / fl["median_ms"]),
            ]
        )
    return out
