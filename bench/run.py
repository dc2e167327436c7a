#!/usr/bin/env python3
"""nsverify against its peers, measured in the same run on the same host.

  sudo .venv/bin/python bench/run.py [--runs 9] [--ns-runs 40] [--no-fetch] [--skip-container]
                                    [--only container|engine|playbook|scale] [--playbook-runs 3]
                                    [--scale-count 1000] [--scale-before DIR] [--scale-runs 1]

Parts (bench/README.md explains method and how to read the ratios):
  audit      nsverify's audit engine (and the namespace_facts module through Ansible) vs
             lxc-checkconfig and docker's check-config.sh: median wall time, peak RSS, and
             coverage (which of the 8 types and which limits each reports, and whether it
             exercises the kernel, counted with strace).
  create     creating one namespace per type: nsverify's probe.run vs util-linux
             `unshare --<type> true`: median latency.
  container  BusyBox container start+stop (nsverify's container engine) vs bubblewrap
             running /bin/true in the same rootfs with --unshare-all.

Prints a table and writes bench/results/bench-<UTC time>.json and bench/results/latest.json.
Ratios are nsverify / peer: below 1.0 nsverify is faster or smaller.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import nsverify_audit_cli  # noqa: E402
import peers as bench_peers  # noqa: E402
import playbook as bench_playbook  # noqa: E402
import scale as bench_scale  # noqa: E402

nsverify_audit_cli.import_engine()

from ansible.module_utils.nsverify import catalog, probe  # noqa: E402

PEERS_DIR = os.path.join(HERE, ".peers")
RESULTS_DIR = os.path.join(HERE, "results")
ENV = dict(os.environ, LC_ALL="C", LANG="C")
TIME = "/usr/bin/time"  # GNU time (Debian package `time`)

# Where Debian installs the peers, and which package ships each (fetched with `apt-get download`
# and unpacked into bench/.peers when not installed: installing lxc or docker.io would start
# services and create bridges on the host, which a benchmark has no business doing).
PEERS = {
    "lxc-checkconfig": {"package": "lxc", "path": "/usr/bin/lxc-checkconfig", "shell": "sh"},
    "check-config.sh": {
        "package": "docker.io",
        "path": "/usr/share/docker.io/contrib/check-config.sh",
        "shell": "bash",
    },
}

# How each type shows up in a peer's output (ANSI colours stripped, case-insensitive).
TYPE_PATTERNS = {
    "mnt": r"\bmnt\b|mount namespace|CLONE_NEWNS",
    "uts": r"\butsname namespace|\buts namespace|UTS_NS",
    "ipc": r"\bipc namespace|IPC_NS",
    "pid": r"\bpid namespace|PID_NS",
    "net": r"\bnetwork namespace|\bnet namespace|NET_NS",
    "user": r"\buser namespace|USER_NS",
    "cgroup": r"\bcgroup namespace|CGROUP_NS",
    "time": r"\btime namespace|TIME_NS",
}
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ---------------------------------------------------------------- measuring


def measure(argv, env=None):
    """Run argv once: (wall seconds, peak RSS KiB, exit code, output).

    Peak RSS is the largest single process of the tool's tree, as GNU time reports it (its
    wait4 rusage: the kernel keeps the max, not a sum). The tool is started by /usr/bin/time
    rather than forked from this Python process, because a process's high-water RSS survives
    exec(2): a child forked from the benchmark would inherit the benchmark's own ~15 MiB.
    Wall time is taken here, around the whole thing, for every tool alike.
    """
    with tempfile.NamedTemporaryFile(prefix="nsv-time-") as rss_file, tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.run(
            [TIME, "-q", "-f", "%M", "-o", rss_file.name] + argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env or ENV,
        )
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode(errors="replace")
        rss_text = open(rss_file.name).read().split()
    peak = int(rss_text[-1]) if rss_text and rss_text[-1].isdigit() else None
    return wall, peak, proc.returncode, text


def repeat(tools, runs):
    """Run every tool `runs` times, interleaved (a, b, c, a, b, c, ...) so that load changes on
    the host hit all tools alike; return {name: stats}."""
    walls = {n: [] for n in tools}
    rss = {n: [] for n in tools}
    last = {}
    for _ in range(runs):
        for name, (argv, env) in tools.items():  # noqa: B007
            wall, peak, rc, text = measure(argv, env)
            walls[name].append(wall)
            if peak is not None:
                rss[name].append(peak)
            last[name] = (rc, text)
    out = {}
    for name, (argv, _env) in tools.items():
        out[name] = {
            "argv": argv,
            "runs": runs,
            "wall_median_s": round(statistics.median(walls[name]), 4),
            "wall_min_s": round(min(walls[name]), 4),
            "wall_max_s": round(max(walls[name]), 4),
            "peak_rss_kib": max(rss[name]) if rss[name] else None,
            "exit_code": last[name][0],
            "output": last[name][1],
        }
    return out


def ratio(a, b):
    return round(a / b, 3) if a and b else None


# ---------------------------------------------------------------- peers


def find_peer(name, fetch):
    info = PEERS[name]
    if os.path.exists(info["path"]):
        return info["path"], "installed"
    local = os.path.join(PEERS_DIR, info["path"].lstrip("/"))
    if os.path.exists(local):
        return local, "unpacked from %s" % info["package"]
    if not fetch:
        return None, "not installed (run without --no-fetch to unpack it from %s)" % info["package"]
    debs = os.path.join(PEERS_DIR, "debs")
    os.makedirs(debs, exist_ok=True)
    res = subprocess.run(["apt-get", "download", info["package"]], cwd=debs, env=ENV, capture_output=True, text=True)
    found = [f for f in os.listdir(debs) if f.startswith(info["package"] + "_") and f.endswith(".deb")]
    if not found:
        return None, "apt-get download %s failed: %s" % (info["package"], res.stderr.strip()[-300:])
    deb = os.path.join(debs, sorted(found)[-1])
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", PEERS_DIR, "." + info["path"]], stdin=tar.stdout, check=False)
    tar.wait()
    if os.path.exists(local):
        return local, "unpacked from %s" % os.path.basename(deb)
    return None, "%s not found in %s" % (info["path"], os.path.basename(deb))


def exercised_kernel(argv):
    """Count unshare/clone/clone3 calls with CLONE_NEW* flags (and setns calls) under strace."""
    strace = shutil.which("strace")
    if not strace:
        return {"measured": False, "reason": "strace not installed"}
    with tempfile.NamedTemporaryFile(prefix="nsv-strace-") as log:
        subprocess.run(
            [strace, "-f", "-qq", "-e", "trace=unshare,clone,clone3,setns", "-o", log.name] + argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=ENV,
        )
        lines = open(log.name, errors="replace").read().splitlines()
    creates = [line for line in lines if "CLONE_NEW" in line and re.search(r"\b(unshare|clone3?)\(", line)]
    kinds = sorted(set(re.findall(r"CLONE_NEW[A-Z]+", "\n".join(creates))))
    return {
        "measured": True,
        "namespace_creating_calls": len(creates),
        "setns_calls": sum(1 for line in lines if re.search(r"\bsetns\(", line)),
        "flags_seen": kinds,
        "exercises_kernel": bool(creates),
    }


def peer_coverage(text):
    clean = ANSI_RE.sub("", text)
    types = [t for t, pat in TYPE_PATTERNS.items() if re.search(pat, clean, re.I)]
    limits = [t for t in catalog.TYPE_NAMES if re.search(r"max_%s_namespaces" % t, clean)]
    return {"types": types, "limits": limits}


def nsverify_coverage(text):
    facts = json.loads(text)
    types = [t for t, v in facts["types"].items() if v.get("verdict") in catalog.VERDICTS]
    limits = [t for t, v in facts["types"].items() if v.get("limit") is not None]
    return {"types": types, "limits": limits, "verdicts": {t: v["verdict"] for t, v in facts["types"].items()}}


# ---------------------------------------------------------------- parts


def bench_audit(runs, fetch, with_module):
    engine = [sys.executable, os.path.join(HERE, "nsverify_audit_cli.py")]
    tools = {"nsverify engine": (engine, None)}
    notes = {}
    for name, info in PEERS.items():
        path, how = find_peer(name, fetch)
        notes[name] = how
        if path:
            tools[name] = ([info["shell"], path], None)
    home = None
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
    if with_module and os.path.exists(ansible):
        home = tempfile.mkdtemp(prefix="nsv-bench-ansible-")
        # Ansible refuses a non-UTF-8 locale; a private ANSIBLE_HOME keeps ~/.ansible untouched.
        env = dict(
            ENV,
            LC_ALL="C.UTF-8",
            LANG="C.UTF-8",
            ANSIBLE_HOME=home,
            ANSIBLE_LOCAL_TEMP=os.path.join(home, "tmp"),
            ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
        )
        tools["nsverify module via ansible"] = (
            [ansible, "localhost", "-i", os.path.join(ROOT, "inventory", "hosts.yml"), "-m", "namespace_facts"],
            env,
        )
    try:
        stats = repeat(tools, runs)
    finally:
        if home:
            shutil.rmtree(home, ignore_errors=True)
    out = {"tools": {}, "notes": notes}
    for name, res in stats.items():
        text = res.pop("output")
        argv = tools[name][0]
        if name == "nsverify engine":
            res["coverage"] = nsverify_coverage(text)
        elif name in PEERS:
            res["coverage"] = peer_coverage(text)
        else:
            res["note"] = (
                "the whole ad-hoc Ansible run: controller start-up, AnsiballZ packing, the module; "
                "peak RSS is the controller's"
            )
        if name != "nsverify module via ansible":
            res["kernel"] = exercised_kernel(argv)
        out["tools"][name] = res
    for res in out["tools"].values():
        res["ratio_to"] = {}
        for peer in PEERS:
            if peer in out["tools"]:
                p = out["tools"][peer]
                res["ratio_to"][peer] = {
                    "wall": ratio(res["wall_median_s"], p["wall_median_s"]),
                    "peak_rss": ratio(res["peak_rss_kib"], p["peak_rss_kib"]),
                }
    return out


def _noop():
    return True


def bench_create(runs):
    unshare = shutil.which("unshare")
    out = {}
    for name in catalog.TYPE_NAMES:
        t = catalog.get(name)
        # pid and time apply to children: both sides run the payload in a forked child inside
        # (probe.run forks the grandchild itself; unshare(1) needs --fork).
        argv = [unshare, "--%s" % t.unshare_option] + (["--fork"] if name in ("pid", "time") else []) + ["true"]
        ours, theirs = [], []
        failure = None
        for _ in range(runs):
            start = time.perf_counter()
            res = probe.run(_noop, unshare=t.flag, timeout=10)
            ours.append(time.perf_counter() - start)
            if not res["ok"]:
                failure = "probe.run: %s %s" % (res["stage"], res["errname"] or res["error"])
                break
            start = time.perf_counter()
            rc = subprocess.run(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
            theirs.append(time.perf_counter() - start)
            if rc != 0:
                failure = "%s exited %d" % (" ".join(argv), rc)
                break
        if failure:
            out[name] = {"error": failure}
            continue
        out[name] = {
            "runs": runs,
            "nsverify_probe_median_ms": round(statistics.median(ours) * 1000, 3),
            "unshare_median_ms": round(statistics.median(theirs) * 1000, 3),
            "ratio_nsverify_to_unshare": ratio(statistics.median(ours), statistics.median(theirs)),
            "unshare_argv": argv,
        }
    return out


def bench_container(runs):
    """The container rows (bench/peers.py): nsverify start and start+remove, plain and with
    cgroup limits and veth, against bwrap, crun (or runc), unshare(1) and the C floor."""
    try:
        from ansible.module_utils.nsverify import container, rootfs
    except ImportError as exc:
        return {"skipped": "container engine not available: %s" % exc}
    built = None
    try:
        info = rootfs.query_binary(rootfs.DEFAULT_BINARY)
        rootfs_path = rootfs.rootfs_path(info["version"])
        if not rootfs.looks_like_rootfs(rootfs_path):
            # a private rootfs for the bench, removed at the end (the shared one is the playbook's)
            built = "/var/lib/nsverify/nsv-bench-%d" % os.getpid()
            rootfs_path = rootfs.build(base=built)["path"]
    except Exception as exc:
        return {"skipped": "no BusyBox rootfs: %s" % exc}
    try:
        return bench_peers.bench_container(container, rootfs_path, runs)
    except Exception as exc:
        return {"skipped": "container bench failed: %s: %s" % (type(exc).__name__, exc)}
    finally:
        if built:
            shutil.rmtree(built, ignore_errors=True)


def bench_engine_rows(runs, with_module):
    """proofs.run vs the C floor of 8 creations; a named netns vs ip netns; the module via Ansible."""
    from ansible.module_utils.nsverify import namespaces, proofs

    workdir = tempfile.mkdtemp(prefix="nsv-bench-")
    try:
        floor, why = bench_peers.build_floor(workdir)
        out = {
            "proofs": bench_peers.bench_proofs(proofs, runs, floor),
            "netns": bench_peers.bench_netns(namespaces, runs * 3),
        }
        if why:
            out["proofs"]["floor_left_out"] = why
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out["module"] = bench_peers.bench_module(max(3, runs // 2)) if with_module else {"skipped": "--no-module"}
    return out


def bench_playbook_rows(runs):
    """playbooks/container.yml cold and warm through ansible-playbook (bench/playbook.py)."""
    try:
        from ansible.module_utils.nsverify import container
    except ImportError as exc:
        return {"skipped": "container engine not available: %s" % exc}
    return bench_playbook.bench_container_play(container, runs, bench_peers.stats)


# ---------------------------------------------------------------- output


def table(rows, headers):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = "  ".join("%-*s" % (w, h) for w, h in zip(widths, headers))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append("  ".join("%-*s" % (w, c) for w, c in zip(widths, r)))
    return "\n".join(out)


def _missing(cov):
    missing = [t for t in catalog.TYPE_NAMES if t not in cov.get("types", [])]
    return "%d/8%s" % (8 - len(missing), " (no %s)" % ",".join(missing) if missing else "")


def print_report(result):
    if "audit" in result:
        print_audit_create(result)
    print("\n== Issue 13's rows: nsverify against its peers, interleaved ==")
    print(bench_peers.markdown(result))


def print_audit_create(result):
    audit = result["audit"]
    peers = [p for p in PEERS if p in audit["tools"]]
    print(
        "\n== Audit: nsverify vs peers (median of %d interleaved runs; ratio = tool / peer, "
        "below 1 is faster or smaller) ==" % result["runs"]
    )
    rows = []
    for name, r in audit["tools"].items():
        cov = r.get("coverage")
        kern = r.get("kernel") or {}
        row = [name, "%.3f" % r["wall_median_s"], r["peak_rss_kib"]]
        for peer in peers:
            rat = r["ratio_to"].get(peer) or {}
            row.append("%s / %s" % (rat.get("wall"), rat.get("peak_rss")))
        row += [
            _missing(cov) if cov else "-",
            "%d/8" % len(cov.get("limits", [])) if cov else "-",
            ("yes (%d calls)" % kern["namespace_creating_calls"] if kern.get("exercises_kernel") else "no")
            if kern.get("measured")
            else "-",
        ]
        rows.append(row)
    print(
        table(
            rows,
            ["tool", "wall s", "peak RSS KiB"]
            + ["wall/RSS vs %s" % p for p in peers]
            + ["types reported", "limits", "creates namespaces"],
        )
    )
    for name, how in audit["notes"].items():
        print("  %s: %s" % (name, how))
    print("\n== Namespace creation: probe.run vs unshare(1) (median of %d) ==" % result["ns_runs"])
    rows = []
    for name, r in result["create"].items():
        if "error" in r:
            rows.append([name, "-", "-", r["error"]])
        else:
            rows.append([name, r["nsverify_probe_median_ms"], r["unshare_median_ms"], r["ratio_nsverify_to_unshare"]])
    print(table(rows, ["type", "nsverify ms", "unshare ms", "ratio"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=9, help="runs per audit tool (median)")
    ap.add_argument("--ns-runs", type=int, default=40, help="runs per namespace type (median)")
    ap.add_argument("--container-runs", type=int, default=9)
    ap.add_argument("--engine-runs", type=int, default=7, help="runs of proofs.run and the named netns (x3)")
    ap.add_argument("--scale-count", type=int, default=1000, help="named net namespaces in the scale row")
    ap.add_argument("--scale-before", metavar="DIR", help="also this checkout's namespace module in the scale row")
    ap.add_argument("--scale-runs", type=int, default=1, help="interleaved rounds of the scale row (median)")
    ap.add_argument("--playbook-runs", type=int, default=3, help="cold starts of container.yml (two warm reruns each)")
    ap.add_argument("--only", choices=("container", "engine", "playbook", "scale"), help="just these issue-13 rows")
    ap.add_argument("--no-fetch", action="store_true", help="do not apt-get download missing peers")
    ap.add_argument("--no-module", action="store_true", help="leave out the namespace_facts-through-Ansible run")
    ap.add_argument("--skip-container", action="store_true")
    ap.add_argument("--results", default=RESULTS_DIR)
    ap.add_argument("--fleet", action="store_true", help="also bench/fleet.py (minutes)")
    args = ap.parse_args(argv)
    if not os.path.exists(TIME):
        sys.exit("bench/run.py needs GNU time at %s (Debian package 'time') for peak RSS" % TIME)
    if os.geteuid() != 0:
        sys.exit("bench/run.py needs root: it creates namespaces of every type (as the audit does on a host)")
    started = time.perf_counter()
    uname = os.uname()
    result = {
        "schema": "nsverify-bench/1",
        "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": {
            "kernel": uname.release,
            "machine": uname.machine,
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "loadavg": " ".join(open("/proc/loadavg").read().split()[:3]),
        },
        "runs": args.runs,
        "ns_runs": args.ns_runs,
    }
    if not args.only:
        result["audit"] = bench_audit(args.runs, not args.no_fetch, not args.no_module)
        result["create"] = bench_create(args.ns_runs)
    if args.only in ("engine", "playbook", "scale"):
        result["container"] = {"skipped": "--only %s" % args.only}
    else:
        result["container"] = (
            {"skipped": "--skip-container"} if args.skip_container else bench_container(args.container_runs)
        )
    if args.only in (None, "engine"):
        result["engine"] = bench_engine_rows(args.engine_runs, not args.no_module)
    if args.only in (None, "playbook"):
        result["playbook"] = bench_playbook_rows(args.playbook_runs)
    if args.only in (None, "scale"):
        result["scale"] = bench_scale.bench_netns_many(args.scale_count, args.scale_before, args.scale_runs)
    if args.fleet:  # opt-in: several minutes of ansible-playbook runs (bench/fleet.py)
        import fleet as bench_fleet

        result["fleet"] = bench_fleet.bench_fleet(mitogen=True)
    result["duration_s"] = round(time.perf_counter() - started, 1)
    print_report(result)
    if args.fleet:
        print("\nFleet audit (issue 13), hosts per minute:\n" + bench_fleet.markdown(result["fleet"]))
    os.makedirs(args.results, exist_ok=True)
    stamp = result["when"].replace(":", "").replace("-", "")
    for path in (os.path.join(args.results, "bench-%s.json" % stamp), os.path.join(args.results, "latest.json")):
        with open(path, "w") as fh:
            json.dump(result, fh, indent=2, sort_keys=True)
            fh.write("\n")
    with open(os.path.join(args.results, "latest.md"), "w") as fh:
        fh.write(bench_peers.markdown(result))
    print("\nwrote %s (%.1fs)" % (os.path.join(args.results, "latest.json"), result["duration_s"]))


if __name__ == "__main__":
    main()
