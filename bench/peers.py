"""The container-side rows of the benchmark (issue 13's table), each against its peers, interleaved:

  container   nsverify start / start+remove (bench config; + cgroup limits; + veth; + both) vs
              bwrap --unshare-all, crun run of an OCI bundle (runc when crun refuses this host),
              unshare(1) and the C floor (bench/floor.c) on the same BusyBox rootfs; init's RSS
              against bwrap's peak RSS
  proofs      proofs.run() of all eight types in-process vs the C floor of 8 creations
  netns       one named network namespace created and removed by the engine vs ip netns add/del
  module      ansible localhost -m namespace_verify vs -m ping

Every sample list gives median, min, max and N; ratios are medians of the same run.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ENV = dict(os.environ, LC_ALL="C", LANG="C")
NAME = "nsvbench%d" % os.getpid()
NETWORK = "10.213.0.48/30"  # the bench's own /30 (addresses only inside the container it makes)


def stats(samples):
    ms = [s * 1000 for s in samples]
    if not ms:
        return None
    return {
        "median_ms": round(statistics.median(ms), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
        "spread_ms": round(max(ms) - min(ms), 3),
        "n": len(ms),
    }


def timed_run(argv, env=None):
    """(seconds, exit code, output) of one process run."""
    start = time.perf_counter()
    res = subprocess.run(argv, env=env or ENV, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    return time.perf_counter() - start, res.returncode, (res.stdout + res.stderr).strip()


EXEC_PYTHON_INIT = ["/usr/bin/python3", "-I", "-S", "-c", "import os, json, signal, ctypes, select, time"]


def peak_rss_kib(argv):
    """GNU time's %M of one run (the largest single process of the tree)."""
    with tempfile.NamedTemporaryFile(prefix="nsv-time-") as fh:
        subprocess.run(["/usr/bin/time", "-q", "-f", "%M", "-o", fh.name] + argv, env=ENV, capture_output=True)
        words = open(fh.name).read().split()
    return int(words[-1]) if words and words[-1].isdigit() else None


# ---------------------------------------------------------------- peers that need building
def build_floor(workdir):
    """gcc -O2 bench/floor.c into workdir; (path, None) or (None, why not)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if not gcc:
        return None, "no C compiler (apt-get install gcc)"
    out = os.path.join(workdir, "floor")
    res = subprocess.run([gcc, "-O2", "-o", out, os.path.join(HERE, "floor.c")], capture_output=True, text=True)
    if res.returncode != 0:
        return None, "gcc failed: %s" % res.stderr.strip()[:300]
    return out, None


def oci_bundle(workdir, rootfs_path):
    """An OCI bundle (config.json of `crun spec` shape) on the same rootfs: read-only root,
    pid net ipc uts mount cgroup namespaces, /bin/true, no terminal."""
    bundle = os.path.join(workdir, "bundle")
    os.makedirs(bundle)
    tool = shutil.which("crun") or shutil.which("runc")
    subprocess.run([tool, "spec"], cwd=bundle, check=True, capture_output=True)
    with open(os.path.join(bundle, "config.json")) as fh:
        spec = json.load(fh)
    spec["root"] = {"path": rootfs_path, "readonly": True}
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    spec["hostname"] = "nsvbench"
    if not any(n["type"] == "cgroup" for n in spec["linux"]["namespaces"]):
        spec["linux"]["namespaces"].append({"type": "cgroup"})
    with open(os.path.join(bundle, "config.json"), "w") as fh:
        json.dump(spec, fh)
    return bundle


def oci_runtime(bundle):
    """The OCI runtime to compare against: crun when it runs here, else runc; with the exact
    reason crun was left out. (name, argv_for(i), note)."""
    notes = []
    for tool in ("crun", "runc"):
        path = shutil.which(tool)
        if not path:
            notes.append("%s not installed (apt-get install %s)" % (tool, tool))
            continue

        def argv_for(i, path=path):
            return [path, "run", "--bundle", bundle, "%s-%s-%d" % (NAME, os.path.basename(path), i)]

        _, rc, out = timed_run(argv_for(0))
        if rc == 0:
            return tool, argv_for, "; ".join(notes) or None
        notes.append("%s run exits %d here: %s" % (tool, rc, out.splitlines()[-1] if out else "no output"))
    return None, None, "; ".join(notes)


# ---------------------------------------------------------------- container
VARIANTS = {
    "nsverify": {},
    "nsverify + limits": {"memory": "64m", "cpus": 0.5, "pids": 64},
    "nsverify + veth": {"veth": True, "network": NETWORK},
    "nsverify + limits + veth": {"memory": "64m", "cpus": 0.5, "pids": 64, "veth": True, "network": NETWORK},
}


def init_rss_kib(pid):
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def _nsverify_once(container, rootfs_path, options):
    """(start s, start+remove s, init RSS KiB) of one container."""
    config = container.normalize(NAME, rootfs_path, **options)
    t0 = time.perf_counter()
    running = container.start(config)
    t1 = time.perf_counter()
    rss = init_rss_kib(running["init_pid"])
    container.remove(NAME)
    return t1 - t0, time.perf_counter() - t0, rss


def container_peers(rootfs_path, workdir):
    """{name: argv_for(i)} of the peers that run here, and {name: why not} of those that do not."""
    peers, missing = {}, {}
    bwrap = shutil.which("bwrap")
    if bwrap:
        argv = [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", rootfs_path, "/", "--proc", "/proc"]
        argv += ["--dev", "/dev", "--tmpfs", "/tmp", "--hostname", "nsvbench", "/bin/true"]
        peers["bwrap"] = lambda i, a=argv: a
    else:
        missing["bwrap"] = "not installed (apt-get install bubblewrap)"
    tool, argv_for, note = oci_runtime(oci_bundle(workdir, rootfs_path))
    if tool:
        peers["%s run" % tool] = argv_for
    if note:
        missing["crun run" if tool != "crun" else "runc run"] = note
    unshare = shutil.which("unshare")
    argv = [
        unshare,
        "-m",
        "-u",
        "-i",
        "-n",
        "-C",
        "-p",
        "--fork",
        "--mount-proc",
        "--root=%s" % rootfs_path,
        "/bin/true",
    ]
    peers["unshare(1)"] = lambda i, a=argv: a
    floor, why = build_floor(workdir)
    if floor:
        peers["C floor"] = lambda i, a=[floor, "container", rootfs_path]: a
        ov = os.path.join(workdir, "ov")

        def overlay(i):
            d = os.path.join(ov, str(i))
            for sub in ("upper", "work", "merged"):
                os.makedirs(os.path.join(d, sub))
            return [floor, "container", rootfs_path, d]

        peers["C floor + overlay"] = overlay
    else:
        missing["C floor"] = why
    return peers, missing


def bench_container(container, rootfs_path, runs):
    """All variants and peers, interleaved; medians, spreads, N, ratios."""
    workdir = tempfile.mkdtemp(prefix="nsv-bench-")
    try:
        peers, missing = container_peers(rootfs_path, workdir)
        samples = {n: {"start": [], "start_remove": []} for n in VARIANTS}
        samples.update({n: {"run": []} for n in peers})
        rss = {n: [] for n in VARIANTS}
        for i in range(runs):
            for name, options in VARIANTS.items():
                started, total, init_rss = _nsverify_once(container, rootfs_path, options)
                samples[name]["start"].append(started)
                samples[name]["start_remove"].append(total)
                rss[name].append(init_rss)
            for name, argv_for in peers.items():
                wall, rc, out = timed_run(argv_for(i + 1))
                if rc != 0:
                    raise RuntimeError("%s exited %d: %s" % (" ".join(argv_for(i + 1)), rc, out[-300:]))
                samples[name]["run"].append(wall)
        bwrap_argv = peers["bwrap"](0) if "bwrap" in peers else None
        return {
            "runs": runs,
            "rootfs": rootfs_path,
            "timings": {n: {k: stats(v) for k, v in s.items()} for n, s in samples.items()},
            "init_rss_kib": {n: max(v) for n, v in rss.items() if v},
            "bwrap_peak_rss_kib": peak_rss_kib(bwrap_argv) if bwrap_argv else None,
            # what an exec'd Python init would weigh (a fresh interpreter with the modules an init needs), and a
            # non-Python process of busybox's class: the two ways to bring init's memory down (bench/README)
            "exec_python_init_peak_rss_kib": peak_rss_kib(EXEC_PYTHON_INIT),
            "busybox_peak_rss_kib": peak_rss_kib([os.path.join(rootfs_path, "bin", "busybox"), "true"]),
            "peers_left_out": missing,
            "peer_argv": {n: argv_for(0) for n, argv_for in peers.items()},
        }
    finally:
        try:
            container.remove(NAME)
        except Exception as exc:  # a leftover must not go unnoticed
            print("WARNING: could not remove bench container %s: %s" % (NAME, exc))
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------- proofs, named netns, module
def bench_proofs(proofs, runs, floor):
    ours, theirs, slowest = [], [], {}
    for _ in range(runs):
        t0 = time.perf_counter()
        out = proofs.run()
        ours.append(time.perf_counter() - t0)
        for t, r in out["results"].items():
            if r.get("duration_s") is not None:
                slowest.setdefault(t, []).append(r["duration_s"] * 1000)
        if floor:
            theirs.append(timed_run([floor, "create8"])[0])
    return {
        "proofs.run (8 types)": stats(ours),
        "C floor, 8 creations": stats(theirs),
        "summary": out["summary"],
        "per_type_ms": {t: statistics.median(v) for t, v in slowest.items()},
    }


def bench_netns(namespaces, runs):
    name = "nsvb%d" % os.getpid()
    ip = shutil.which("ip")
    ours, theirs = [], []
    config = namespaces.build_config(["net"])
    for _ in range(runs):
        t0 = time.perf_counter()
        namespaces.create(name, config)
        namespaces.remove(name)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run([ip, "netns", "add", name], check=True)
        subprocess.run([ip, "netns", "del", name], check=True)
        theirs.append(time.perf_counter() - t0)
    return {"engine create+remove": stats(ours), "ip netns add+del": stats(theirs)}


def bench_module(runs):
    ansible = os.path.join(os.path.dirname(os.sys.executable), "ansible")
    if not os.path.exists(ansible):
        ansible = shutil.which("ansible")
    if not ansible:
        return {"skipped": "ansible not found next to %s" % os.sys.executable}
    env = dict(ENV, LC_ALL="C.UTF-8", LANG="C.UTF-8", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    tools = {
        "ansible -m namespace_verify": [ansible, "localhost", "-m", "namespace_verify"],
        "ansible -m ping": [ansible, "localhost", "-m", "ping"],
    }
    samples = {n: [] for n in tools}
    for _ in range(runs):
        for n, argv in tools.items():
            wall, rc, out = timed_run(argv, env)
            if rc != 0:
                return {"skipped": "%s exited %d: %s" % (" ".join(argv), rc, out[-300:])}
            samples[n].append(wall)
    return {n: stats(v) for n, v in samples.items()}


# ---------------------------------------------------------------- the table
def _m(st):
    return st["median_ms"] if st else None


def _cell(st):
    if not st:
        return "-"
    return "%.1f ms (%.1f-%.1f, N=%d)" % (st["median_ms"], st["min_ms"], st["max_ms"], st["n"])


def _ratio(a, b):
    return "%.2fx" % (a / b) if a and b else "-"


def _container_rows(c):
    t = c["timings"]
    peer_names = [n for n in t if not n.startswith("nsverify")]
    oci = next((n for n in peer_names if n.endswith(" run")), None)
    bwrap = t.get("bwrap", {}).get("run")
    oci_st = t.get(oci, {}).get("run") if oci else None
    rows = []
    for variant in VARIANTS:
        for part, label in (("start", "start to a running PID 1"), ("start_remove", "start + remove")):
            st = t[variant][part]
            rows.append(
                [
                    "%s: %s" % (variant, label),
                    _cell(st),
                    "bwrap %s" % _cell(bwrap),
                    "%s bwrap%s"
                    % (_ratio(_m(st), _m(bwrap)), "; %s %s" % (_ratio(_m(st), _m(oci_st)), oci) if oci else ""),
                ]
            )
    plain = _m(t["nsverify"]["start_remove"])
    for variant in list(VARIANTS)[1:]:
        extra = _m(t[variant]["start_remove"]) - plain
        rows.append(
            ["cost of %s (start+remove minus plain)" % variant[len("nsverify + ") :], "%+.1f ms" % extra, "", ""]
        )
    floor, floor_ov = t.get("C floor", {}).get("run"), t.get("C floor + overlay", {}).get("run")
    if floor and floor_ov:
        rows.append(
            ["cost of the overlay (C floor + overlay minus C floor)", "%+.1f ms" % (_m(floor_ov) - _m(floor)), "", ""]
        )
    for n in peer_names:
        rows.append(["peer: %s" % n, "", _cell(t[n]["run"]), "%s of bwrap" % _ratio(_m(t[n]["run"]), _m(bwrap))])
    rss = c["init_rss_kib"]
    rows.append(
        [
            "container init resident memory",
            "%.1f MB" % (rss["nsverify"] / 1024.0),
            "bwrap peak %.1f MB" % ((c["bwrap_peak_rss_kib"] or 0) / 1024.0),
            _ratio(rss["nsverify"], c["bwrap_peak_rss_kib"]),
        ]
    )
    for key, what in (
        ("exec_python_init_peak_rss_kib", "what an exec'd `python3 -I -S` init would weigh (its imports, peak)"),
        ("busybox_peak_rss_kib", "a non-Python process of busybox's class (`busybox true`, peak)"),
    ):
        if c.get(key):
            rows.append(
                ["  " + what, "%.1f MB" % (c[key] / 1024.0), "", _ratio(c[key], c["bwrap_peak_rss_kib"]) + " of bwrap"]
            )
    return rows


def _engine_rows(e):
    rows = []
    p = e["proofs"]
    ours, floor = p["proofs.run (8 types)"], p["C floor, 8 creations"]
    per = ", ".join("%s %.0f" % (k, v) for k, v in sorted(p["per_type_ms"].items(), key=lambda kv: -kv[1]))
    rows.append(
        [
            "eight proofs in-process (proofs.run; ms per type: %s)" % per,
            _cell(ours),
            "C floor %s" % _cell(floor),
            _ratio(_m(ours), _m(floor)),
        ]
    )
    n = e["netns"]
    rows.append(
        [
            "one named net namespace, create + remove (engine)",
            _cell(n["engine create+remove"]),
            "ip netns add+del %s" % _cell(n["ip netns add+del"]),
            _ratio(_m(n["engine create+remove"]), _m(n["ip netns add+del"])),
        ]
    )
    m = e["module"]
    if "skipped" in m:
        rows.append(["ansible localhost -m namespace_verify", "left out: %s" % m["skipped"], "", ""])
    else:
        a, b = m["ansible -m namespace_verify"], m["ansible -m ping"]
        rows.append(["ansible localhost -m namespace_verify", _cell(a), "-m ping %s" % _cell(b), _ratio(_m(a), _m(b))])
    return rows


def markdown(result):
    """The issue-13 table of this run, as Markdown."""
    lines = [
        "| what | nsverify | peer | ratio |",
        "|---|---|---|---|",
    ]
    c = result.get("container") or {}
    rows = []
    if "timings" in c:
        rows += _container_rows(c)
    elif not str(c.get("skipped")).startswith("--only"):
        rows.append(["container", "left out: %s" % c.get("skipped"), "", ""])
    if result.get("engine"):
        rows += _engine_rows(result["engine"])
    if result.get("playbook"):
        import playbook as bench_playbook  # bench/ is on sys.path when run.py runs

        rows += bench_playbook.rows(result["playbook"], _cell)
    if result.get("scale"):
        import scale as bench_scale

        rows += bench_scale.rows(result["scale"])
    lines += ["| %s |" % " | ".join(str(x) for x in r) for r in rows]
    notes = ["", "Medians (min-max, N) of interleaved runs; ratio = nsverify / peer (below 1 is faster)."]
    for name, why in (c.get("peers_left_out") or {}).items():
        notes.append("- %s left out: %s" % (name, why))
    h = result["host"]
    notes.append(
        "- host: kernel %s, %s CPUs, Python %s, load average %s"
        % (h["kernel"], h["cpus"], h["python"], h.get("loadavg"))
    )
    return "\n".join(lines + notes) + "\n"
