"""The scale row of the benchmark (issue 13): many named network namespaces.

  nsverify  one `ansible localhost -m namespace` call with `names:` (COUNT names, types [net]) to create
            them, one with state=absent to remove them
  peer      `ip netns add NAME` then `ip netns del NAME`, one process per namespace (what a shell loop does)
  before    (with `before=DIR`) the same module call from another checkout's library/ and module_utils/
            (`git archive main library module_utils | tar -x -C DIR`), through ANSIBLE_LIBRARY and
            ANSIBLE_MODULE_UTILS; the three run interleaved, `runs` times, and each figure is the median

Wall time per namespace (the whole call divided by COUNT: Ansible's start-up included for nsverify), and the
kernel memory each costs while they exist: the Slab and MemAvailable deltas of /proc/meminfo between before
and after creation, divided by COUNT. Other work on the host moves those counters too: read them as
approximate, and compare the two tools of the same run.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TAG = os.environ.get("NSV_BENCH_TAG", "bench")


def meminfo_kib():
    out = {}
    with open("/proc/meminfo") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            out[key] = int(rest.split()[0])
    return out


def _settle():
    """Let the kernel's deferred netns cleanup (a workqueue) run before the next reading."""
    time.sleep(2.0)


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _module(ansible, env, args):
    res = subprocess.run(
        [ansible, "localhost", "-m", "namespace", "-a", json.dumps(args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise RuntimeError("ansible -m namespace exited %d: %s" % (res.returncode, res.stdout[-400:]))


def _ip(ip, verb, names):
    for name in names:
        subprocess.run([ip, "netns", verb, name], check=True, capture_output=True)


def _measure(create, remove, count):
    _settle()
    before = meminfo_kib()
    created = _timed(create)
    _settle()
    after = meminfo_kib()
    removed = _timed(remove)
    return {
        "create_ms_per_ns": round(created * 1000 / count, 3),
        "remove_ms_per_ns": round(removed * 1000 / count, 3),
        "create_s": round(created, 3),
        "remove_s": round(removed, 3),
        "slab_kib_per_ns": round((after["Slab"] - before["Slab"]) / count, 2),
        "memavailable_kib_per_ns": round((before["MemAvailable"] - after["MemAvailable"]) / count, 2),
    }


MODULE = "namespace module (names, one call)"
BEFORE = "namespace module before (names, one call)"
PEER = "ip netns add/del (one process each)"


def _median(measures):
    return dict((k, round(statistics.median(m[k] for m in measures), 3)) for k in measures[0])


def bench_netns_many(count=1000, before=None, runs=1):
    ansible = os.path.join(os.path.dirname(os.sys.executable), "ansible")
    ip = shutil.which("ip")
    if not os.path.exists(ansible) or not ip:
        return {"skipped": "needs ansible next to %s and ip(8)" % os.sys.executable}
    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    envs = {MODULE: env}
    if before:
        before = os.path.abspath(before)
        paths = dict(ANSIBLE_LIBRARY=os.path.join(before, "library"))
        paths["ANSIBLE_MODULE_UTILS"] = os.path.join(before, "module_utils")
        envs[BEFORE] = dict(env, **paths)
    ours = ["nsv%ssc%d-%d" % (TAG, os.getpid() % 10000, i) for i in range(count)]
    theirs = ["nsv%sip%d-%d" % (TAG, os.getpid() % 10000, i) for i in range(count)]
    measured = dict((k, []) for k in list(envs) + [PEER])
    try:
        for _unused in range(runs):
            for label, e in sorted(envs.items()):  # "... before" first: the older code never runs warmer
                measured[label].append(
                    _measure(
                        lambda e=e: _module(ansible, e, {"names": ours, "types": ["net"]}),
                        lambda e=e: _module(ansible, e, {"names": ours, "state": "absent"}),
                        count,
                    )
                )
            measured[PEER].append(_measure(lambda: _ip(ip, "add", theirs), lambda: _ip(ip, "del", theirs), count))
        out = dict((k, _median(v)) for k, v in measured.items())
        out.update(count=count, runs=runs)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        out = {"skipped": "scale bench failed: %s" % exc}
    finally:
        for name in theirs:
            if os.path.exists(os.path.join("/run/netns", name)):
                subprocess.run([ip, "netns", "del", name], capture_output=True)
        leftover = [n for n in ours if os.path.lexists(os.path.join("/run/nsverify/ns", n))]
        if leftover:
            subprocess.run(
                [ansible, "localhost", "-m", "namespace", "-a", json.dumps({"names": leftover, "state": "absent"})],
                cwd=ROOT,
                env=env,
                capture_output=True,
            )
    return out


def rows(s):
    if "skipped" in s:
        return [["named net namespaces at scale", "left out: %s" % s["skipped"], "", ""]]
    b = s[PEER]
    variants = [(BEFORE, " before")] if BEFORE in s else []
    variants.append((MODULE, ""))
    out = []
    for key, label in (("create_ms_per_ns", "create"), ("remove_ms_per_ns", "remove")):
        for variant, tag in variants:
            a = s[variant]
            out.append(
                [
                    "%d named net namespaces, %s, per namespace (namespace module%s, one call)"
                    % (s["count"], label, tag),
                    "%.2f ms" % a[key],
                    "ip netns %s %.2f ms" % ("add" if label == "create" else "del", b[key]),
                    "%.2fx" % (a[key] / b[key]) if b[key] else "-",
                ]
            )
    for key, label in (("slab_kib_per_ns", "Slab"), ("memavailable_kib_per_ns", "MemAvailable drop")):
        for variant, tag in variants:
            a = s[variant]
            out.append(
                [
                    "kernel memory per named net namespace (%s%s)" % (label, tag),
                    "%.1f KiB" % a[key],
                    "ip netns %.1f KiB" % b[key],
                    "%.2fx" % (a[key] / b[key]) if b[key] else "-",
                ]
            )
    return out
