"""The scale row of the benchmark (issue 13): many named network namespaces.

  nsverify  one `ansible localhost -m namespace` call with `names:` (COUNT names, types [net]) to create
            them, one with state=absent to remove them
  peer      `ip netns add NAME` then `ip netns del NAME`, one process per namespace (what a shell loop does)

Wall time per namespace (the whole call divided by COUNT: Ansible's start-up included for nsverify), and the
kernel memory each costs while they exist: the Slab and MemAvailable deltas of /proc/meminfo between before
and after creation, divided by COUNT. Other work on the host moves those counters too: read them as
approximate, and compare the two tools of the same run.
"""

from __future__ import annotations

import json
import os
import shutil
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


def bench_netns_many(count=1000):
    ansible = os.path.join(os.path.dirname(os.sys.executable), "ansible")
    ip = shutil.which("ip")
    if not os.path.exists(ansible) or not ip:
        return {"skipped": "needs ansible next to %s and ip(8)" % os.sys.executable}
    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    ours = ["nsv%ssc%d-%d" % (TAG, os.getpid() % 10000, i) for i in range(count)]
    theirs = ["nsv%sip%d-%d" % (TAG, os.getpid() % 10000, i) for i in range(count)]
    try:
        out = {
            "count": count,
            "namespace module (names, one call)": _measure(
                lambda: _module(ansible, env, {"names": ours, "types": ["net"]}),
                lambda: _module(ansible, env, {"names": ours, "state": "absent"}),
                count,
            ),
            "ip netns add/del (one process each)": _measure(
                lambda: _ip(ip, "add", theirs), lambda: _ip(ip, "del", theirs), count
            ),
        }
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
    a, b = s["namespace module (names, one call)"], s["ip netns add/del (one process each)"]
    out = []
    for key, label in (("create_ms_per_ns", "create"), ("remove_ms_per_ns", "remove")):
        out.append(
            [
                "%d named net namespaces, %s, per namespace (namespace module, one call)" % (s["count"], label),
                "%.2f ms" % a[key],
                "ip netns %s %.2f ms" % ("add" if label == "create" else "del", b[key]),
                "%.2fx" % (a[key] / b[key]) if b[key] else "-",
            ]
        )
    for key, label in (("slab_kib_per_ns", "Slab"), ("memavailable_kib_per_ns", "MemAvailable drop")):
        out.append(
            [
                "kernel memory per named net namespace (%s)" % label,
                "%.1f KiB" % a[key],
                "ip netns %.1f KiB" % b[key],
                "%.2fx" % (a[key] / b[key]) if b[key] else "-",
            ]
        )
    return out
