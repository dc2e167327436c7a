"""Which /30 a container's veth gets, and what a start may not take from others.

  network: auto   the first /30 of POOL (10.213.0.0/24, 64 networks) that no other nsverify container
                  records (running or stopped: a stopped one gets its network back at its next start)
                  and no host link carries; a container that recorded one keeps it.
  network: <cidr> used as given, refused at start when it overlaps a running nsverify container's
                  network or an address on a host link.

The veth host name of a start is refused when that link already exists (another container's, or the
host's): a failed start then never deletes an interface it did not make.

Two starts at the same moment: the pick is made again by claim(), under an flock(2) on
/run/nsverify/addresses.lock that the start holds until its config.json records the /30 (the next claim reads
it), so two network=auto starts never take the same one.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import subprocess

from ansible.module_utils.nsverify import validate
from ansible.module_utils.nsverify.container import network, state
from ansible.module_utils.nsverify.container.config import ContainerError

AUTO = "auto"
POOL = "10.213.0.0/24"
LOCK_NAME = "addresses.lock"
# name -> the /30 allocate() picked for it in this process: claim() picks a network=auto start's again under
# the lock (kept out of the config, whose hash running containers recorded)
PICKED = {}


class Lock:
    """flock(2) on `path`, which its holder removes when done (so /run/nsverify stays prunable): a waiter that
    wakes holding a file no longer at `path` opens the new one and waits again."""

    def __init__(self, path):
        self.path = path
        self.fd = None

    def acquire(self):
        while True:
            os.makedirs(os.path.dirname(self.path), mode=0o755, exist_ok=True)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            except FileNotFoundError:  # another start's stop pruned the directory in between
                continue
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.path.samestat(os.fstat(fd), os.stat(self.path)):
                    self.fd = fd
                    return self
            except FileNotFoundError:
                pass
            os.close(fd)

    def release(self):
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None


def lock_path(run_dir=state.RUN_DIR):
    """/run/nsverify/addresses.lock: beside the containers' run dir."""
    return os.path.join(os.path.dirname(os.path.normpath(run_dir)), LOCK_NAME)


def host_addresses():
    """[(ifname, IPv4Interface), ...] of the host's links (ip -o -4 addr show); [] without ip(8)."""
    try:
        res = subprocess.run(
            ["ip", "-o", "-4", "addr", "show"],
            capture_output=True,
            text=True,
            env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    out = []
    for line in res.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "inet":
            try:
                out.append((fields[1].split("@")[0], ipaddress.ip_interface(fields[3])))
            except ValueError:
                continue
    return out


def network_of(veth):
    """The /30 of a recorded veth ({host_address: 'a.b.c.d/30', ...}), or None."""
    try:
        return ipaddress.ip_interface(veth["host_address"]).network
    except (KeyError, TypeError, ValueError):
        return None


def recorded(run_dir=state.RUN_DIR, data_dir=state.DATA_DIR):
    """{name: {'network', 'running', 'host'}} of every nsverify container that records a veth."""
    out = {}
    for name in state.list_names(run_dir, data_dir):
        st = state.status(name, run_dir, data_dir)
        config = (st["state"] or {}).get("config") if st["running"] else None
        config = config or (st["config"] or {}).get("config") or {}
        net = network_of(config.get("veth"))
        if net is not None:
            out[name] = {"network": net, "running": st["running"], "host": config["veth"].get("host")}
    return out


def conflicts(name, network, records, host_links, own_links=(), include_stopped=False):
    """Why `network` may not be container `name`'s: ['container x (10.213.0.0/30)', 'host link eth0 (...)']."""
    net = ipaddress.ip_network(network)
    out = []
    for other, rec in sorted(records.items()):
        if other != name and (rec["running"] or include_stopped) and rec["network"].overlaps(net):
            out.append("container %s (%s%s)" % (other, rec["network"], "" if rec["running"] else ", stopped"))
    for ifname, iface in host_links:
        if ifname not in own_links and iface.network.overlaps(net):
            out.append("host link %s (%s)" % (ifname, iface))
    return out


def allocate(name, own_host_link, run_dir=state.RUN_DIR, data_dir=state.DATA_DIR, pool=POOL):
    """network=auto: the /30 container `name` recorded when still free, else the first free one of `pool`."""
    records = recorded(run_dir, data_dir)
    links = host_addresses()
    own = records.get(name, {}).get("network")
    candidates = ([own] if own is not None else []) + list(ipaddress.ip_network(pool).subnets(new_prefix=30))
    for net in candidates:
        if not conflicts(name, net, records, links, own_links=(own_host_link,), include_stopped=True):
            PICKED[name] = str(net)
            return str(net)
    raise ContainerError(
        "network auto: no free /30 left in the pool %s (every one is recorded by an nsverify container or "
        "on a host link): remove containers you no longer need (state=absent) or pass network=<a free /30>" % pool
    )


def preflight(config, run_dir=state.RUN_DIR, data_dir=state.DATA_DIR):
    """Before a start makes anything: its veth host link must not exist and its /30 must not overlap a
    running container's or a host link's network. Raises ContainerError naming the other owner."""
    veth = config.get("veth")
    if not veth:
        return
    if network.link_exists(veth["host"]):
        raise ContainerError(
            "veth host name %s already exists on the host (another container's or the host's interface; "
            "this start will not touch it): choose another veth_host_name, or leave it out for the default"
            % veth["host"]
        )
    taken = conflicts(config["name"], network_of(veth), recorded(run_dir, data_dir), host_addresses())
    if taken:
        raise ContainerError(
            "network %s of container %s overlaps %s: choose another /30 (network=...) or network=auto, which "
            "picks a free one from %s" % (network_of(veth), config["name"], ", ".join(taken), POOL)
        )


def claim(config, run_dir=state.RUN_DIR, data_dir=state.DATA_DIR):
    """The start's network, under the lock: a network=auto pick made again now that every start before this one
    recorded its /30 (the config's veth addresses updated in place when it changed), then preflight(). Returns
    the held Lock: the caller releases it once config.json records the network."""
    lock = Lock(lock_path(run_dir)).acquire()
    try:
        veth = config.get("veth")
        if veth and PICKED.get(config["name"]) == str(network_of(veth)):
            net = allocate(config["name"], veth["host"], run_dir, data_dir)
            _unused, veth["host_address"], veth["container_address"] = validate.network30(net)
        preflight(config, run_dir, data_dir)
    except BaseException:
        lock.release()
        raise
    return lock
