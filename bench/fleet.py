#!/usr/bin/env python3
"""Fleet audit speed (issue 13): playbooks/audit.yml over 200 local aliases and over real SSH.

  sudo .venv/bin/python bench/fleet.py [--hosts 200] [--ssh-hosts 20] [--runs 3] [--forks 50]
                                       [--variant NAME ...] [--mitogen]
  sudo .venv/bin/python bench/run.py --fleet       # the same rows inside make bench's table (opt-in: minutes)

Local: an inventory of --hosts aliases of this machine (ansible_connection=local). SSH: --ssh-hosts network
namespaces nsv-fl00.. each running Debian's sshd (/usr/sbin/sshd, package openssh-server) on 10.214.N.2, the
controller (ansible-playbook) itself in the namespace nsv-flc holding the other ends of the veth pairs
(10.214.N.1/30): every address lives inside a namespace this script made. Keys (client and host) are generated
in a temporary directory. Every variant runs --runs times, variants interleaved; hosts per minute =
hosts * 60 / wall time of the whole ansible-playbook process (the median is reported). Everything made is
removed at the end (namespaces, links, sshd processes by PID, the temporary directory).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SSHD = "/usr/sbin/sshd"
CTL_NS = "nsv-flc"
# the settings a variant adds to the environment of ansible-playbook (docs/FLEET.md says which to use)
VARIANTS = {
    "default": {},
    "pipelining": {"ANSIBLE_PIPELINING": "True"},
    "free": {"ANSIBLE_PIPELINING": "True", "ANSIBLE_STRATEGY": "free"},
    # the floor: one `ansible all -m ping` over the same inventory (one module per host, nothing of ours)
    "ping": {"NSV_PING": "1"},
}


def ansible_playbook():
    exe = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
    return exe if os.path.exists(exe) else shutil.which("ansible-playbook")


def write_inventory(path, hosts, common):
    """hosts: {name: {var: value}}; common: vars for all."""
    data = {"all": {"vars": common, "hosts": hosts}}
    with open(path, "w") as fh:
        json.dump(data, fh, indent=1)  # JSON is YAML: the yaml inventory plugin reads it
    return path


def local_inventory(tmp, count):
    hosts = {"nsv-fl-%03d" % i: {} for i in range(count)}
    common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    return write_inventory(os.path.join(tmp, "local.yml"), hosts, common), count


def run_play(tmp, inventory, forks, env_extra, netns=None):
    """One ansible-playbook run of the audit: (wall seconds, the error or None). A variant may name another
    checkout (NSV_CHECKOUT: e.g. a worktree of an older commit, for before/after in one interleaved run)."""
    env_extra = dict(env_extra)
    checkout = env_extra.pop("NSV_CHECKOUT", ROOT)
    ping = env_extra.pop("NSV_PING", None)
    out = tempfile.mkdtemp(prefix="out-", dir=tmp)
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=os.path.join(checkout, "ansible.cfg"),
        ANSIBLE_HOME=os.path.join(tmp, "home"),
        ANSIBLE_LOCAL_TEMP=os.path.join(tmp, "ltmp"),
        ANSIBLE_SSH_CONTROL_PATH_DIR=os.path.join(tmp, "cp"),
        ANSIBLE_NOCOLOR="1",
        **env_extra,
    )
    playbook = os.path.join(checkout, "playbooks", "audit.yml")
    cmd = [ansible_playbook(), playbook, "-i", inventory, "--forks", str(forks), "-e", "nsverify_audit_dir=" + out]
    if ping:
        cmd = [ansible_playbook()[: -len("-playbook")], "all", "-i", inventory, "--forks", str(forks), "-m", "ping"]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    if proc.returncode != 0:  # the first failures say why; the recap says how many
        why = [line for line in proc.stdout.splitlines() if "UNREACHABLE!" in line or line.startswith("fatal:")]
        return wall, "\n".join(why[:3] + [proc.stdout[-600:], proc.stderr[-600:]]).strip()
    return wall, None


def measure(tmp, fleets, variants, runs, forks):
    """{fleet: {variant: {hosts, walls, hosts_per_min (median), error}}}, variants interleaved."""
    rows = {f: {v: {"walls": []} for v in variants} for f in fleets}
    for _ in range(runs):
        for fleet, (inventory, count, netns) in fleets.items():
            for name, env in variants.items():
                row = rows[fleet][name]
                if row.get("error"):
                    continue
                wall, error = run_play(tmp, inventory, forks, env, netns)
                row.update(hosts=count, forks=forks)
                if error:
                    row["error"] = error
                    continue
                row["walls"].append(round(wall, 2))
                row["hosts_per_min"] = round(count * 60 / statistics.median(row["walls"]), 1)
                print("  %-6s %-12s %6.1fs  %5.0f hosts/min" % (fleet, name, wall, count * 60 / wall), flush=True)
    return rows


# ---------------------------------------------------------------- the SSH fleet


def sh(*argv):
    subprocess.run(list(argv), check=True, capture_output=True, text=True)


def ssh_fleet_up(tmp, count, made):
    """Namespaces, veths, keys and one sshd per namespace; records what it made in `made` for ssh_fleet_down."""
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(tmp, "client"))
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(tmp, "hostkey"))
    shutil.copy(os.path.join(tmp, "client.pub"), os.path.join(tmp, "authorized_keys"))
    if not os.path.isdir("/run/sshd"):  # sshd's privilege separation directory
        os.makedirs("/run/sshd", mode=0o755)
        made["run_sshd"] = True
    sh("ip", "netns", "add", CTL_NS)
    made["netns"].append(CTL_NS)
    sh("ip", "-n", CTL_NS, "link", "set", "lo", "up")
    hosts = {}
    for i in range(count):
        ns, ctl, peer = "nsv-fl%02d" % i, "nsvflc%02d" % i, "nsvflh%02d" % i
        sh("ip", "netns", "add", ns)
        made["netns"].append(ns)
        sh("ip", "-n", CTL_NS, "link", "add", ctl, "type", "veth", "peer", "name", peer, "netns", ns)
        sh("ip", "-n", CTL_NS, "addr", "add", "10.214.%d.1/30" % i, "dev", ctl)
        sh("ip", "-n", CTL_NS, "link", "set", ctl, "up")
        sh("ip", "-n", ns, "addr", "add", "10.214.%d.2/30" % i, "dev", peer)
        sh("ip", "-n", ns, "link", "set", peer, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        made["sshd"].append(start_sshd(tmp, ns, "10.214.%d.2" % i))
        hosts[ns] = {"ansible_host": "10.214.%d.2" % i}
    common = {
        "ansible_user": "root",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_ssh_private_key_file": os.path.join(tmp, "client"),
        "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR",
    }
    wait_for_sshd(hosts, common)
    return write_inventory(os.path.join(tmp, "ssh.yml"), hosts, common), count


def start_sshd(tmp, ns, address):
    cfg = os.path.join(tmp, "sshd-%s.conf" % ns)
    with open(cfg, "w") as fh:
        fh.write(
            "ListenAddress %s\nHostKey %s\nPidFile none\nAuthorizedKeysFile %s\nPermitRootLogin prohibit-password\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\n"
            "MaxStartups 200\nMaxSessions 200\nSubsystem sftp internal-sftp\n"
            % (address, os.path.join(tmp, "hostkey"), os.path.join(tmp, "authorized_keys"))
        )
    return subprocess.Popen(["ip", "netns", "exec", ns, SSHD, "-D", "-e", "-f", cfg], stderr=subprocess.DEVNULL)


def wait_for_sshd(hosts, common, timeout=30):
    deadline = time.monotonic() + timeout
    for vars_ in hosts.values():
        argv = ["ip", "netns", "exec", CTL_NS, "ssh", "-i", common["ansible_ssh_private_key_file"]]
        argv += common["ansible_ssh_common_args"].split() + ["-o", "BatchMode=yes", "root@" + vars_["ansible_host"]]
        while subprocess.run(argv + ["true"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("sshd on %s did not answer within %ds" % (vars_["ansible_host"], timeout))
            time.sleep(0.1)


def ssh_fleet_down(tmp, made):
    cp = os.path.join(tmp, "cp")  # Ansible's ControlPersist masters (60 s) would keep sessions alive
    for sock in sorted(os.listdir(cp)) if os.path.isdir(cp) else []:
        subprocess.run(["ssh", "-o", "ControlPath=" + os.path.join(cp, sock), "-O", "exit", "nsv"], capture_output=True)
    for proc in made["sshd"]:  # `ip netns exec` execs sshd: this PID is the listener
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    for ns in reversed(made["netns"]):  # deleting a namespace deletes its veth ends
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    if made.get("run_sshd"):
        shutil.rmtree("/run/sshd", ignore_errors=True)


# ---------------------------------------------------------------- mitogen (optional, a temporary install)


def mitogen_variant(tmp):
    """pip install mitogen into a temporary directory (never .venv): the strategy env, or (None, why not)."""
    target = os.path.join(tmp, "mitogen")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--target", target, "mitogen"]
    proc = subprocess.run(pip, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, "pip install mitogen failed: %s" % proc.stderr.strip()[-300:]
    strategy = os.path.join(target, "ansible_mitogen", "plugins", "strategy")
    return {  # mitogen_linear: the strategy that replaces the connection layer; the play is unchanged
        "ANSIBLE_STRATEGY_PLUGINS": strategy,
        "ANSIBLE_STRATEGY": "mitogen_linear",
        "ANSIBLE_TIMEOUT": "60",  # its bootstrap of 20 interpreters at once took over the default 10 s here
        "PYTHONPATH": target,
    }, None


def bench_fleet(hosts=200, ssh_hosts=20, runs=3, forks=50, variants=None, mitogen=False, before=None):
    """The fleet rows for bench/run.py: {local: {...}, ssh: {...}, skipped...}; `before`: another checkout's
    audit.yml as the variant "before" (default settings) in the same interleaved loop."""
    chosen = {v: VARIANTS[v] for v in (variants or ["default", "pipelining"])}
    if before:
        chosen = dict({"before": {"NSV_CHECKOUT": os.path.abspath(before)}}, **chosen)
    tmp = tempfile.mkdtemp(prefix="nsv-fl-bench-")
    made = {"netns": [], "sshd": []}
    result = {"forks": forks, "runs": runs}
    try:
        if mitogen:
            env, why = mitogen_variant(tmp)
            if env:
                chosen["mitogen"] = env
            else:
                result["mitogen_skipped"] = why
        inventory, count = local_inventory(tmp, hosts)
        fleets = {"local": (inventory, count, None)}
        if ssh_hosts and os.path.exists(SSHD):
            inventory, count = ssh_fleet_up(tmp, ssh_hosts, made)
            fleets["ssh"] = (inventory, count, CTL_NS)
        elif ssh_hosts:
            result["ssh_skipped"] = "%s missing: apt-get install openssh-server (make bench-fleet does)" % SSHD
        result.update(measure(tmp, fleets, chosen, runs, forks))
    finally:
        ssh_fleet_down(tmp, made)
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def markdown(result):
    lines = ["| fleet | variant | hosts | forks | hosts/min (median) | walls (s) |", "|---|---|---|---|---|---|"]
    for fleet in ("local", "ssh"):
        for name, row in result.get(fleet, {}).items():
            figure = "failed: %s" % row["error"].splitlines()[-1][:120] if row.get("error") else row["hosts_per_min"]
            walls = ", ".join("%.1f" % w for w in row["walls"])
            cells = (fleet, name, row.get("hosts"), result["forks"], figure, walls)
            lines.append("| %s | %s | %s | %s | %s | %s |" % cells)
    lines += ["%s: %s" % (k, v) for k, v in result.items() if k.endswith("_skipped")]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=200, help="local aliases")
    ap.add_argument("--ssh-hosts", type=int, default=20, help="sshd namespaces (0: none)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--forks", type=int, default=50)
    ap.add_argument("--variant", action="append", choices=sorted(VARIANTS), help="default: default, pipelining")
    ap.add_argument("--mitogen", action="store_true", help="also mitogen_linear from a temporary pip install")
    ap.add_argument("--before", metavar="CHECKOUT", help="also this checkout's audit.yml (git worktree add DIR OLD)")
    ap.add_argument("--json", help="write the result here")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench/fleet.py needs root: the audit probes every type and the SSH fleet needs namespaces")
    result = bench_fleet(args.hosts, args.ssh_hosts, args.runs, args.forks, args.variant, args.mitogen, args.before)
    print(markdown(result))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
